// The conversation list, the open conversation and the composer.

import { get, post } from './api.js';
import { $, clear, el, fill, fullTime, notice, shortTime, timeOfDay } from './dom.js';

/** What the page knows; filled from the API and the event stream. */
export const state = {
  me: null,
  current: null,
  conversations: [],
  requests: [],
  conv: null,
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

/** Reloads the conversation list. */
export async function loadConversations() {
  state.conversations = await get('conversations');
  renderConversations();
}

function renderConversations() {
  const list = $('conversations');
  clear(list);
  const rows = state.conversations.slice().sort((a, b) => (b.last ? b.last.sent_at : 0) - (a.last ? a.last.sent_at : 0));
  for (const c of rows) {
    const last = c.last ? (c.last.outgoing ? `You: ${c.last.text}` : c.last.text) : 'No messages yet';
    const unread = c.unread > 0
      ? el('span', { class: 'badge conv-unread', 'aria-label': `${c.unread} unread` }, String(c.unread))
      : null;
    const button = el('button', {
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
    list.append(el('li', {}, button));
  }
  $('no-conversations').hidden = rows.length > 0;
}

/** The first letter of a name, for an avatar. */
export function initial(name) {
  const ch = Array.from((name || '?').trim())[0] || '?';
  return ch.toUpperCase();
}

/** Opens a conversation: loads it, marks it read, focuses the composer. */
export async function openConversation(peer) {
  if (state.current !== peer) {
    stopTyping();
    fill($('composer'));
    $('composer').value = '';
    $('typing').hidden = true;
  }
  state.current = peer;
  document.body.classList.add('in-conversation');
  await loadConversation(true);
  renderConversations();
  $('composer').focus();
}

/** Reloads the open conversation; marks it read if the page is seen. */
export async function loadConversation(scroll) {
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

function renderConversation(scroll) {
  const c = state.conv;
  $('conv-empty').hidden = true;
  $('conv-open').hidden = false;
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
  const list = $('messages');
  const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
  clear(list);
  for (const m of c.messages) list.append(bubble(m));
  if (scroll || atBottom) list.scrollTop = list.scrollHeight;
}

function bubble(m) {
  const meta = el('span', { class: 'msg-meta' },
    el('time', { class: 'msg-time', datetime: new Date(m.sent_at).toISOString(), title: fullTime(m.sent_at) }, timeOfDay(m.sent_at)),
    m.expires_at ? el('span', { class: 'msg-timer', title: `Disappears ${fullTime(m.expires_at)}`, 'aria-label': 'disappearing' }, '⏱') : null);
  if (m.outgoing) {
    const [glyph, label] = TICKS[m.state] || ['', m.state];
    meta.append(el('span', { class: `tick tick-${m.state}`, title: label, 'aria-label': label }, glyph));
    meta.append(el('button', {
      type: 'button',
      class: 'msg-delete link',
      'aria-label': 'Delete for everyone',
      title: 'Delete for everyone',
      onclick: () => deleteMessage(m.id),
    }, 'Delete'));
  }
  return el('li', {
    class: `msg ${m.outgoing ? 'mine' : 'theirs'}`,
    dataset: { id: m.id, state: m.state },
  }, el('p', { class: 'msg-text' }, m.text), meta);
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
  row.replaceWith(bubble(m));
  return true;
}

/** Shows or hides "… is typing". */
export function peerTyping(peer, typing) {
  if (peer !== state.current || !state.conv) return;
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
  if (!text.trim() || !state.current) return;
  box.value = '';
  state.typingSent = false;
  clearTimeout(state.typingTimer);
  try {
    await post(`conversations/${state.current}/send`, { text });
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
  $('back').addEventListener('click', () => {
    stopTyping();
    state.current = null;
    document.body.classList.remove('in-conversation');
    $('conv-open').hidden = true;
    $('conv-empty').hidden = false;
    renderConversations();
  });
}
