// The conversation list (conversations and groups), the open
// conversation or group, and the composer.

import { get, post } from './api.js';
import { $, clear, el, fill, fullTime, notice, shortTime, timeOfDay } from './dom.js';

/** What the page knows; filled from the API and the event stream. */
export const state = {
  me: null,
  /** The open conversation's peer (null when a group or nothing is open). */
  current: null,
  /** The open group's id (null when a conversation or nothing is open). */
  group: null,
  conversations: [],
  groups: [],
  requests: [],
  invites: [],
  conv: null,
  /** Counts openings, to tell a stale list from a current one. */
  opened: 0,
  typingSent: false,
  typingTimer: null,
  peerTypingTimer: null,
};

const TICKS = {
  queued: ['◷', 'Queued: waiting for the network'],
  sent: ['✓', 'Sent'],
  delivered: ['✓✓', 'Delivered'],
  read: ['✓✓', 'Read'],
};

/** Reloads the conversation list: conversations and groups. */
export async function loadConversations() {
  const opened = state.opened;
  const [conversations, groups] = await Promise.all([get('conversations'), get('groups')]);
  state.conversations = conversations;
  state.groups = groups;
  renderConversations();
  // Left, or removed by an admin: the group is gone from the list (a list
  // asked for before the group was opened may not have it yet).
  if (state.group && state.opened === opened && !groups.some((g) => g.id === state.group)) {
    closeConversation();
    notice('You are no longer in that group.');
  }
}

function renderConversations() {
  const list = $('conversations');
  clear(list);
  const at = (x) => (x.last ? x.last.sent_at : 0);
  const rows = [
    ...state.conversations.map((c) => ({ at: at(c), node: conversationRow(c) })),
    ...state.groups.map((g) => ({ at: at(g), node: groupRow(g) })),
  ].sort((a, b) => b.at - a.at);
  for (const row of rows) list.append(el('li', {}, row.node));
  $('no-conversations').hidden = rows.length > 0;
}

/** "1 member", "3 members". */
export function memberCount(n) {
  return `${n} member${n === 1 ? '' : 's'}`;
}

function unreadBadge(n) {
  return n > 0 ? el('span', { class: 'badge conv-unread', 'aria-label': `${n} unread` }, String(n)) : null;
}

function groupRow(g) {
  const title = g.name || 'Unnamed group';
  const last = g.last ? `${g.last.outgoing ? 'You' : g.last.name}: ${g.last.text}` : memberCount(g.members.length);
  return el('button', {
    type: 'button',
    class: 'conv group',
    dataset: { group: g.id },
    'aria-current': state.group === g.id ? 'true' : null,
    onclick: () => openGroup(g.id),
  },
  el('span', { class: 'avatar group-avatar', 'aria-hidden': 'true' }, initial(title)),
  el('span', { class: 'conv-main' },
    el('span', { class: 'conv-top' },
      el('span', { class: 'conv-title' }, title),
      el('span', { class: 'tag', title: 'Group' }, 'Group'),
      el('span', { class: 'conv-time' }, g.last ? shortTime(g.last.sent_at) : '')),
    el('span', { class: 'conv-bottom' },
      el('span', { class: 'conv-last' }, last.slice(0, 80)),
      unreadBadge(g.unread))));
}

function conversationRow(c) {
  const last = c.last ? (c.last.outgoing ? `You: ${c.last.text}` : c.last.text) : 'No messages yet';
  const unread = unreadBadge(c.unread);
  return el('button', {
    type: 'button',
    class: 'conv',
    dataset: { peer: c.peer },
    'aria-current': state.current === c.peer ? 'true' : null,
    onclick: () => openConversation(c.peer),
  },
  el('span', { class: 'avatar', 'aria-hidden': 'true' }, initial(c.title)),
  el('span', { class: 'conv-main' },
    el('span', { class: 'conv-top' },
      el('span', { class: 'conv-title' }, c.title),
      c.trust === 'verified' ? el('span', { class: 'verified', title: 'Verified', 'aria-label': 'verified' }, '✔') : null,
      c.trust === 'changed' ? el('span', { class: 'changed', title: 'Code changed', 'aria-label': 'verification code changed' }, '⚠') : null,
      el('span', { class: 'conv-time' }, c.last ? shortTime(c.last.sent_at) : '')),
    el('span', { class: 'conv-bottom' },
      el('span', { class: 'conv-last' }, last.slice(0, 80)),
      unread)));
}

/** The first letter of a name, for an avatar. */
export function initial(name) {
  const ch = Array.from((name || '?').trim())[0] || '?';
  return ch.toUpperCase();
}

/** Opens a conversation: loads it, marks it read, focuses the composer. */
export async function openConversation(peer) {
  switchTo(peer, null);
  await loadConversation(true);
  renderConversations();
  $('composer').focus();
}

/** Opens a group: loads it, marks it read, focuses the composer. */
export async function openGroup(id) {
  switchTo(null, id);
  await loadConversation(true);
  renderConversations();
  $('composer').focus();
}

function switchTo(peer, group) {
  if (state.current !== peer || state.group !== group) {
    stopTyping();
    $('composer').value = '';
    $('typing').hidden = true;
  }
  state.current = peer;
  state.group = group;
  state.opened += 1;
  document.body.classList.add('in-conversation');
}

/** Reloads the open conversation or group; marks it read if the page is seen. */
export async function loadConversation(scroll) {
  if (state.group) {
    await loadGroup(scroll);
    return;
  }
  const peer = state.current;
  if (!peer) return;
  const conv = await get(`conversations/${peer}`);
  if (state.current !== peer) return;
  state.conv = conv;
  renderConversation(scroll);
  const unread = conv.messages.some((m) => !m.outgoing && m.state !== 'read');
  if (unread && !document.hidden && !conv.request) {
    await post(`conversations/${peer}/read`);
    await loadConversations();
  }
}

async function loadGroup(scroll) {
  const id = state.group;
  const g = await get(`groups/${id}`);
  if (state.group !== id) return;
  state.conv = g;
  renderGroup(scroll);
  if (g.unread > 0 && !document.hidden) {
    await post(`groups/${id}/read`);
    await loadConversations();
  }
}

function renderGroup(scroll) {
  const g = state.conv;
  showPane();
  fill($('conv-title'), g.name || 'Unnamed group');
  const others = g.members.filter((x) => !x.me).map((x) => x.title);
  fill($('conv-sub'), `Group · ${memberCount(g.members.length)}: ${['you', ...others].join(', ')}`.slice(0, 160));
  $('key-warning').hidden = true;
  $('request-bar').hidden = true;
  $('composer-form').hidden = false;
  $('timer').closest('label').hidden = true;
  fill($('details-button'), 'Members');
  renderMessages(g.messages, scroll, true);
}

function showPane() {
  $('conv-empty').hidden = true;
  $('conv-open').hidden = false;
}

function renderConversation(scroll) {
  const c = state.conv;
  showPane();
  fill($('details-button'), 'Details');
  fill($('conv-title'), c.title);
  fill($('conv-sub'), c.contact ? (c.trust === 'verified' ? 'Verified contact' : 'Contact') : 'Not a contact');
  $('key-warning').hidden = c.trust !== 'changed';
  $('request-bar').hidden = !c.request;
  // Writing back to a request would make them a contact: accept first.
  $('composer-form').hidden = c.request;
  $('timer').closest('label').hidden = c.request;
  const timer = $('timer');
  const value = `${c.disappearing.mode}:${c.disappearing.seconds}`;
  if (!Array.from(timer.options).some((o) => o.value === value)) {
    timer.append(el('option', { value }, `Disappear after ${c.disappearing.seconds} s (${c.disappearing.mode})`));
  }
  timer.value = value;
  renderMessages(c.messages, scroll, false);
}

function renderMessages(messages, scroll, inGroup) {
  const list = $('messages');
  const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
  clear(list);
  for (const m of messages) list.append(bubble(m, inGroup));
  if (scroll || atBottom) list.scrollTop = list.scrollHeight;
}

function bubble(m, inGroup) {
  const meta = el('span', { class: 'msg-meta' },
    el('time', { class: 'msg-time', datetime: new Date(m.sent_at).toISOString(), title: fullTime(m.sent_at) }, timeOfDay(m.sent_at)),
    m.expires_at ? el('span', { class: 'msg-timer', title: `Disappears ${fullTime(m.expires_at)}`, 'aria-label': 'disappearing' }, '⏱') : null);
  if (m.outgoing) {
    const [glyph, label] = TICKS[m.state] || ['', m.state];
    meta.append(el('span', { class: `tick tick-${m.state}`, title: label, 'aria-label': label }, glyph));
  }
  // Group messages cannot be taken back yet.
  if (m.outgoing && !inGroup) {
    meta.append(el('button', {
      type: 'button',
      class: 'msg-delete link',
      'aria-label': 'Delete for everyone',
      title: 'Delete for everyone',
      onclick: () => deleteMessage(m.id),
    }, 'Delete'));
  }
  // In a group, each of the others' messages says who wrote it.
  const from = inGroup && !m.outgoing ? el('span', { class: 'msg-from' }, m.name) : null;
  return el('li', {
    class: `msg ${m.outgoing ? 'mine' : 'theirs'}`,
    dataset: { id: m.id, state: m.state },
  }, from, el('p', { class: 'msg-text' }, m.text), meta);
}

async function deleteMessage(id) {
  if (!window.confirm('Delete this message for everyone?')) return;
  try {
    await post(`messages/${id}/delete`);
    await loadConversation(false);
    await loadConversations();
  } catch (e) {
    notice(e.message, true);
  }
}

/** An outgoing message moved on: update its tick in place. */
export function setTick(id, stateName) {
  const row = document.querySelector(`#messages li[data-id="${CSS.escape(id)}"]`);
  if (!row || !state.conv) return false;
  const m = state.conv.messages.find((x) => x.id === id);
  if (!m) return false;
  m.state = stateName;
  row.replaceWith(bubble(m, Boolean(state.group)));
  return true;
}

/** Shows or hides "… is typing". */
export function peerTyping(peer, typing) {
  if (!peer || peer !== state.current || !state.conv) return;
  const line = $('typing');
  fill(line, `${state.conv.title} is typing…`);
  line.hidden = !typing;
  clearTimeout(state.peerTypingTimer);
  // A lost "stopped" notice must not leave it shown for ever.
  if (typing) state.peerTypingTimer = setTimeout(() => { line.hidden = true; }, 20000);
}

function stopTyping() {
  clearTimeout(state.typingTimer);
  if (state.typingSent && state.current) {
    state.typingSent = false;
    post(`conversations/${state.current}/typing`, { typing: false }).catch(() => {});
  }
}

async function send() {
  const box = $('composer');
  const text = box.value;
  if (!text.trim() || !(state.current || state.group)) return;
  box.value = '';
  state.typingSent = false;
  clearTimeout(state.typingTimer);
  try {
    // Groups get no typing notices (ARCHITECTURE, Groups).
    const to = state.group ? `groups/${state.group}` : `conversations/${state.current}`;
    await post(`${to}/send`, { text });
  } catch (e) {
    // Not queued: the text goes back rather than being lost.
    if (!box.value) box.value = text;
    notice(`Not sent: ${e.message}`, true);
  }
  await loadConversation(true);
  await loadConversations();
}

/** Wires the composer, the timer and the back button. */
export function wireConversation() {
  const box = $('composer');
  box.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      send();
    }
  });
  box.addEventListener('input', () => {
    if (!state.current) return;
    if (!state.typingSent && box.value) {
      state.typingSent = true;
      post(`conversations/${state.current}/typing`, { typing: true }).catch(() => {});
    }
    clearTimeout(state.typingTimer);
    state.typingTimer = setTimeout(stopTyping, 4000);
  });
  $('composer-form').addEventListener('submit', (e) => {
    e.preventDefault();
    send();
  });
  $('timer').addEventListener('change', async (e) => {
    const [mode, seconds] = e.target.value.split(':');
    try {
      await post(`conversations/${state.current}/disappearing`, { mode, seconds: Number(seconds) });
      notice(mode === 'off' ? 'Messages are kept.' : 'Disappearing messages set.');
    } catch (ex) {
      notice(ex.message, true);
    }
  });
  $('back').addEventListener('click', closeConversation);
}

/** Closes the open conversation or group: back to the list. */
export function closeConversation() {
  stopTyping();
  state.current = null;
  state.group = null;
  state.conv = null;
  document.body.classList.remove('in-conversation');
  $('conv-open').hidden = true;
  $('conv-empty').hidden = false;
  renderConversations();
}
