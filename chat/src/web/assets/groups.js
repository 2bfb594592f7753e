// The group dialogs: "New group" (a name and contacts to invite) and a
// group's members (add, remove, make admin, rename, leave). A change takes
// effect once the group's members agree on it, a few seconds later; the
// event stream says when (group_changed), and the dialog follows.

import { get, post } from './api.js';
import { $, closeDialog, el, fill, notice, openDialog } from './dom.js';
import {
  closeConversation, initial, loadConversation, loadConversations, memberCount, openGroup, state,
} from './chat.js';

/** Longest group name, in UTF-8 bytes (the server checks it too). */
const MAX_NAME_BYTES = 128;

function errorLine() {
  return el('p', { class: 'form-error', role: 'alert', hidden: true });
}

function fail(line, e) {
  fill(line, e.message || String(e));
  line.hidden = false;
}

/** Account IDs typed or pasted: separated by spaces, commas or lines. */
function typedIds(text) {
  return text.split(/[\s,]+/).map((s) => s.trim()).filter((s) => s.length > 0);
}

/** A checkbox per contact; `skip` holds IDs not to offer. */
function contactPicker(id, contacts, skip) {
  const offered = contacts.filter((c) => !skip.has(c.id));
  if (offered.length === 0) {
    const why = contacts.length === 0 ? 'No contacts yet' : 'Every contact is in already';
    return el('p', { id, class: 'sub' }, `${why}: add people by account ID below.`);
  }
  return el('ul', { id, class: 'pick', 'aria-label': 'Contacts' },
    offered.map((c) => el('li', {},
      el('label', { class: 'check' },
        el('input', { type: 'checkbox', value: c.id }),
        el('span', { class: 'avatar small', 'aria-hidden': 'true' }, initial(c.title)),
        el('span', { class: 'pick-name' }, c.title)))));
}

/** The IDs checked in a picker plus the ones typed in `extra`. */
function picked(picker, extra) {
  const ids = Array.from(picker.querySelectorAll('input[type="checkbox"]:checked')).map((x) => x.value);
  return [...new Set([...ids, ...typedIds(extra.value)])];
}

/** Runs a slow call with its button disabled and saying what it does. */
async function busy(button, words, work) {
  const before = button.textContent;
  button.disabled = true;
  fill(button, words);
  try {
    return await work();
  } finally {
    button.disabled = false;
    fill(button, before);
  }
}

/** "New group": a name and the contacts to invite. */
export async function newGroup() {
  const contacts = await get('contacts');
  const name = el('input', { id: 'group-name', type: 'text', maxlength: MAX_NAME_BYTES, required: true, autocomplete: 'off' });
  const picker = contactPicker('group-pick', contacts, new Set());
  const extra = el('textarea', { id: 'group-ids', rows: 2, spellcheck: 'false', placeholder: 'sotto1…' });
  const err = errorLine();
  const go = el('button', { id: 'group-create', type: 'submit', class: 'primary' }, 'Create group');
  const form = el('form', { class: 'stack' },
    el('label', { for: 'group-name' }, 'Group name'), name,
    el('span', { class: 'sub' }, 'Members'), picker,
    el('label', { for: 'group-ids' }, 'Others by account ID (optional)'), extra,
    el('p', { class: 'hint sub' }, 'Contacts who have you as a contact join at once; others get an invitation to accept.'),
    err, go);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    err.hidden = true;
    const members = picked(picker, extra);
    if (members.length === 0) {
      fail(err, new Error('Pick at least one member.'));
      return;
    }
    try {
      // Each member's key is fetched over the network: seconds, not instant.
      const r = await busy(go, 'Creating…', () => post('groups', { name: name.value, members }));
      closeDialog();
      await loadConversations();
      await openGroup(r.id);
    } catch (ex) {
      fail(err, ex);
    }
  });
  openDialog('New group', form);
  name.focus();
}

/** Reloads the members dialog if it shows group `id`. */
export async function refreshMembers(id) {
  const list = $('members-list');
  if ($('dialog').open && list && list.dataset.group === id) await showMembers(id);
}

/** Counts members dialogs asked for: only the latest one is shown. */
let membersAsked = 0;

/** A group's members; an admin can add, remove and promote, anyone can leave. */
export async function showMembers(id) {
  membersAsked += 1;
  const asked = membersAsked;
  const [g, contacts] = await Promise.all([get(`groups/${id}`), get('contacts')]);
  // Two changes in a row: an answer that comes late is older, not newer.
  if (asked !== membersAsked) return;
  const err = errorLine();
  const act = (path, body, done) => async (e) => {
    err.hidden = true;
    try {
      await busy(e.currentTarget, 'Sending…', () => post(`groups/${id}/${path}`, body));
      notice(done);
    } catch (ex) {
      fail(err, ex);
    }
  };
  const rows = g.members.map((m) => el('li', { class: 'member', dataset: { id: m.id } },
    el('span', { class: 'avatar small', 'aria-hidden': 'true' }, initial(m.title)),
    el('span', { class: 'member-name' }, m.title),
    m.admin ? el('span', { class: 'tag' }, 'Admin') : null,
    g.admin && !m.me && !m.admin
      ? el('button', { type: 'button', class: 'link promote', onclick: act('promote', { member: m.id }, `${m.title} becomes an admin in a few seconds.`) }, 'Make admin')
      : null,
    g.admin && !m.me
      ? el('button', { type: 'button', class: 'link danger remove', onclick: act('remove', { members: [m.id] }, `${m.title} is removed in a few seconds.`) }, 'Remove')
      : null));
  const body = [
    el('p', { class: 'sub' }, `${memberCount(g.members.length)}${g.admin ? ' · you are an admin' : ''}`),
    el('ul', { id: 'members-list', class: 'members', dataset: { group: id } }, rows),
  ];
  if (g.admin) body.push(...adminPart(g, contacts, err));
  const leave = el('button', { id: 'group-leave', type: 'button', class: 'danger dialog-end' }, 'Leave group');
  leave.addEventListener('click', async () => {
    if (!window.confirm(`Leave ${g.name || 'this group'}? You stop getting its messages.`)) return;
    try {
      await post(`groups/${id}/leave`);
      closeDialog();
      closeConversation();
      await loadConversations();
      notice('You left the group.');
    } catch (ex) {
      fail(err, ex);
    }
  });
  body.push(err, leave);
  openDialog(g.name || 'Unnamed group', ...body);
}

/** Adding members and renaming: an admin's part of the members dialog. */
function adminPart(g, contacts, err) {
  const id = g.id;
  const picker = contactPicker('add-pick', contacts, new Set(g.members.map((m) => m.id)));
  const extra = el('textarea', { id: 'add-ids', rows: 1, spellcheck: 'false', placeholder: 'Or account IDs: sotto1…' });
  const add = el('button', { id: 'group-add', type: 'button', class: 'primary' }, 'Add');
  add.addEventListener('click', async () => {
    err.hidden = true;
    const members = picked(picker, extra);
    if (members.length === 0) {
      fail(err, new Error('Pick someone to add.'));
      return;
    }
    try {
      await busy(add, 'Adding…', () => post(`groups/${id}/add`, { members }));
      notice('The invitations go out once the group agrees, in a few seconds.');
    } catch (ex) {
      fail(err, ex);
    }
  });
  const name = el('input', { id: 'group-rename', type: 'text', maxlength: MAX_NAME_BYTES, value: g.name });
  const rename = el('button', { id: 'group-rename-go', type: 'button' }, 'Rename');
  rename.addEventListener('click', async () => {
    err.hidden = true;
    try {
      await busy(rename, 'Renaming…', () => post(`groups/${id}/rename`, { name: name.value }));
      notice('The new name shows once the group agrees, in a few seconds.');
    } catch (ex) {
      fail(err, ex);
    }
  });
  return [
    el('h3', {}, 'Add members'), picker, extra, add,
    el('h3', {}, 'Name'), el('div', { class: 'row' }, name, rename),
  ];
}

/** After a group changed: the list, the open group and the dialog follow. */
export async function groupChanged(id) {
  await loadConversations();
  if (state.group === id) await loadConversation(false);
  await refreshMembers(id);
}
