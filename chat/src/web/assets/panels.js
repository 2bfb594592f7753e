// The dialogs: new conversation, message requests (and group invitations
// from strangers), contact details and verification, onion paths, your own
// ID, settings. The group dialogs are in groups.js.

import { get, post } from './api.js';
import { $, closeDialog, el, fill, notice, openDialog, shortTime } from './dom.js';
import { initial, loadConversation, loadConversations, openConversation, openGroup, state } from './chat.js';

/** UI preferences kept in this browser: theme and notification previews. */
export const prefs = {
  get theme() { return localStorage.getItem('sotto.theme') || 'light'; },
  set theme(v) { localStorage.setItem('sotto.theme', v); },
  get previews() { return localStorage.getItem('sotto.previews') === 'yes'; },
  set previews(v) { localStorage.setItem('sotto.previews', v ? 'yes' : 'no'); },
};

/** Applies the theme to the page. */
export function applyTheme() {
  document.documentElement.dataset.theme = prefs.theme;
}

function errorLine() {
  return el('p', { class: 'form-error', role: 'alert', hidden: true });
}

function fail(line, e) {
  fill(line, e.message || String(e));
  line.hidden = false;
}

/** "New conversation": by account ID, with an optional name. */
export function newConversation() {
  const id = el('input', { id: 'new-chat-id', type: 'text', required: true, spellcheck: 'false', autocomplete: 'off', placeholder: 'sotto1…' });
  const name = el('input', { id: 'new-chat-name', type: 'text', maxlength: 64 });
  const err = errorLine();
  const form = el('form', { class: 'stack' },
    el('label', { for: 'new-chat-id' }, 'Their account ID'), id,
    el('label', { for: 'new-chat-name' }, 'Your name for them (optional)'), name,
    el('p', { class: 'hint' }, 'Ask them for the ID their app shows under their name (sotto1…). Reading a QR image is not supported yet: paste the ID.'),
    err,
    el('button', { id: 'new-chat-go', type: 'submit', class: 'primary' }, 'Start conversation'));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    try {
      const r = await post('contacts', { id: id.value, name: name.value });
      closeDialog();
      await loadConversations();
      await openConversation(r.peer);
    } catch (ex) {
      fail(err, ex);
    }
  });
  openDialog('New conversation', form);
  id.focus();
}

/** Reloads the requests, the group invitations and their count. */
export async function loadRequests() {
  const [requests, invites] = await Promise.all([get('requests'), get('groups/invites')]);
  state.requests = requests;
  state.invites = invites;
  const n = requests.length + invites.length;
  const badge = $('requests-count');
  fill(badge, String(n));
  badge.hidden = n === 0;
  $('requests-button').setAttribute('aria-label', `Message requests: ${n === 0 ? 'none' : n}`);
  if ($('dialog').open && $('requests-list')) renderRequests();
}

function renderRequests() {
  const list = $('requests-list');
  fill(list);
  if (state.requests.length === 0 && state.invites.length === 0) {
    list.append(el('li', { class: 'empty' }, 'No message requests.'));
  }
  for (const r of state.requests) {
    const name = r.display_name || r.short;
    const answer = (what) => async () => {
      try {
        await post(`requests/${r.from}/${what}`);
        notice(what === 'accept' ? `${name} is now a contact.` : what === 'block' ? 'Blocked.' : 'Request declined.');
        await loadRequests();
        await loadConversations();
        if (what === 'accept') {
          closeDialog();
          await openConversation(r.from);
        }
      } catch (e) {
        notice(e.message, true);
      }
    };
    list.append(el('li', { class: 'request', dataset: { peer: r.from } },
      el('div', { class: 'request-who' },
        el('span', { class: 'avatar', 'aria-hidden': 'true' }, initial(name)),
        el('span', {},
          el('strong', { class: 'request-name' }, name),
          el('span', { class: 'sub request-id' }, r.from))),
      el('p', { class: 'request-text' }, r.first_text),
      el('p', { class: 'sub' }, `${r.messages} message${r.messages === 1 ? '' : 's'} · ${shortTime(r.received_at)}`),
      el('div', { class: 'row' },
        el('button', { type: 'button', class: 'primary accept', onclick: answer('accept'), 'aria-label': `Accept ${name}` }, 'Accept'),
        el('button', { type: 'button', class: 'decline', onclick: answer('decline'), 'aria-label': `Decline ${name}` }, 'Decline'),
        el('button', { type: 'button', class: 'danger block', onclick: answer('block'), 'aria-label': `Block ${name}` }, 'Block'),
        el('button', {
          type: 'button',
          class: 'link view',
          'aria-label': `Read every message from ${name}`,
          onclick: async () => {
            closeDialog();
            await openConversation(r.from);
          },
        }, 'Read all'))));
  }
  for (const i of state.invites) list.append(inviteItem(i));
}

/** A group invitation from someone who is not a contact. */
function inviteItem(i) {
  const answer = (what) => async () => {
    try {
      const r = await post(`groups/invites/${i.id}/${what}`);
      notice(what === 'accept' ? 'You joined the group.' : 'Invitation declined.');
      await loadRequests();
      await loadConversations();
      if (what === 'accept') {
        closeDialog();
        await openGroup(r.group);
      }
    } catch (e) {
      notice(e.message, true);
    }
  };
  return el('li', { class: 'request invite', dataset: { invite: i.id } },
    el('div', { class: 'request-who' },
      el('span', { class: 'avatar group-avatar', 'aria-hidden': 'true' }, '#'),
      el('span', {},
        el('strong', { class: 'request-name' }, `${i.title} invited you to a group`),
        el('span', { class: 'sub request-id' }, i.from))),
    el('p', { class: 'sub' }, `They are not in your contacts. ${shortTime(i.received_at)}`),
    el('div', { class: 'row' },
      el('button', { type: 'button', class: 'primary accept', onclick: answer('accept') }, 'Join'),
      el('button', { type: 'button', class: 'decline', onclick: answer('decline') }, 'Decline')));
}

/** "Requests": messages from people who are not contacts, and their group invitations. */
export async function showRequests() {
  openDialog('Message requests', el('ul', { id: 'requests-list', class: 'requests' }));
  await loadRequests();
  renderRequests();
}

/** Contact details: ID, verification code as digits and QR, mark verified. */
export async function showDetails(peer) {
  const v = await get(`contacts/${peer}/verification`);
  const status = {
    unverified: 'Not verified yet.',
    verified: 'Verified: you compared this code with them.',
    changed: 'Warning: the code changed since you verified it. Compare again.',
  }[v.trust];
  const mark = el('button', { id: 'mark-verified', type: 'button', class: 'primary' }, 'Mark verified');
  mark.hidden = v.trust === 'verified';
  mark.addEventListener('click', async () => {
    try {
      await post(`contacts/${peer}/verified`);
      notice('Marked verified.');
      await loadConversations();
      await loadConversation(false);
      await showDetails(peer);
    } catch (e) {
      notice(e.message, true);
    }
  });
  openDialog(v.title,
    el('p', { class: 'sub' }, 'Account ID'),
    el('code', { class: 'id', id: 'details-id' }, v.peer),
    el('h3', {}, 'Verification code'),
    el('p', {}, 'Compare these digits (or scan the QR code) with theirs, in person or over a channel you trust.'),
    el('div', { class: 'code', id: 'verification-code', 'aria-label': 'Verification code' },
      v.lines.map((l) => el('div', {}, l))),
    el('img', { class: 'qr', src: `/api/contacts/${peer}/code.svg`, alt: 'Verification code as a QR code', width: 180, height: 180 }),
    el('p', { class: v.trust === 'changed' ? 'warning' : 'sub', id: 'trust-status' }, status),
    mark);
}

/** The onion paths and their hops. */
export function showPaths(path) {
  const paths = path.paths || [];
  const body = [];
  if (path.status !== 'ready') {
    body.push(el('p', {}, path.status === 'building' ? 'Building onion paths…' : 'Offline: no path can be built now.'));
  }
  if (path.offline) body.push(el('p', { class: 'warning' }, path.offline));
  body.push(el('p', { class: 'sub' }, 'Your messages travel through three relays; none of them sees both you and the destination.'));
  body.push(el('ol', { id: 'path-list', class: 'paths' }, paths.map((hops, i) =>
    el('li', { class: 'path-item' },
      el('span', { class: 'sub' }, `Path ${i + 1}`),
      el('ol', { class: 'hops' },
        el('li', { class: 'you' }, 'You'),
        hops.map((h, j) => el('li', { class: 'hop', title: h.node }, `${['Guard', 'Middle', 'Exit'][j] || 'Relay'}: ${h.addr || h.node}`)),
        el('li', { class: 'you' }, 'Network'))))));
  openDialog('Onion paths', ...body);
}

/** Your account ID with a copy button and QR code. */
export function showMe() {
  const copy = el('button', { id: 'copy-id', type: 'button', class: 'primary' }, 'Copy ID');
  copy.addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText(state.me.id);
      notice('Your account ID is copied.');
    } catch (_) {
      const range = document.createRange();
      range.selectNodeContents($('my-id'));
      window.getSelection().removeAllRanges();
      window.getSelection().addRange(range);
      notice('Copying was refused: the ID is selected, press Ctrl+C.');
    }
  });
  openDialog('Your account',
    el('p', {}, 'Share this ID (or let them scan the QR code) with the people you want to talk to.'),
    el('code', { class: 'id', id: 'my-id' }, state.me.id), copy,
    el('img', { class: 'qr', src: '/api/me/qr.svg', alt: 'Your account ID as a QR code', width: 220, height: 220 }));
}

/** Settings: display name, receipts, typing, theme, notifications. */
export function showSettings(onSaved) {
  const me = state.me;
  const name = el('input', { id: 'settings-name', type: 'text', maxlength: 64, value: me.name || '' });
  const receipts = el('input', { id: 'settings-receipts', type: 'checkbox', checked: me.read_receipts });
  const typing = el('input', { id: 'settings-typing', type: 'checkbox', checked: me.typing_indicators });
  const previews = el('input', { id: 'settings-previews', type: 'checkbox', checked: prefs.previews });
  const theme = el('select', { id: 'settings-theme' },
    el('option', { value: 'light' }, 'Light'), el('option', { value: 'dark' }, 'Dark'));
  theme.value = prefs.theme;
  const perm = typeof Notification === 'undefined' ? 'unsupported' : Notification.permission;
  const allow = el('button', { type: 'button', id: 'settings-notify' }, 'Allow desktop notifications');
  allow.hidden = perm !== 'default';
  allow.addEventListener('click', async () => {
    const p = await Notification.requestPermission();
    allow.hidden = p !== 'default';
    notice(p === 'granted' ? 'Notifications are on.' : 'Notifications are off.');
  });
  const err = errorLine();
  const form = el('form', { class: 'stack' },
    el('label', { for: 'settings-name' }, 'Display name'), name,
    el('label', { class: 'check' }, receipts, ' Send read receipts'),
    el('label', { class: 'check' }, typing, ' Send typing indicators'),
    el('label', { for: 'settings-theme' }, 'Theme'), theme,
    el('label', { class: 'check' }, previews, ' Show the sender’s name in notifications'),
    allow,
    perm === 'denied' ? el('p', { class: 'sub' }, 'Notifications are blocked in this browser’s settings.') : null,
    err,
    el('button', { id: 'settings-save', type: 'submit', class: 'primary' }, 'Save'));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    try {
      await post('settings', { display_name: name.value, read_receipts: receipts.checked, typing_indicators: typing.checked });
      prefs.theme = theme.value;
      prefs.previews = previews.checked;
      applyTheme();
      closeDialog();
      notice('Settings saved.');
      await onSaved();
    } catch (ex) {
      fail(err, ex);
    }
  });
  openDialog('Settings', form);
}
