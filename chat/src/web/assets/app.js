// The desktop app's page: starts on the right screen, then keeps every
// part up to date from the server's event stream (no polling).

import { get, post } from './api.js';
import { $, closeDialog, el, fill, notice } from './dom.js';
import { showSetup } from './setup.js';
import {
  initial, loadConversation, loadConversations, openConversation, openGroup, peerTyping, setTick, state, wireConversation,
} from './chat.js';
import { groupChanged, newGroup, showMembers } from './groups.js';
import {
  applyTheme, loadRequests, newConversation, prefs, showDetails, showMe, showPaths, showRequests, showSettings,
} from './panels.js';

let path = { status: 'building', paths: [], offline: null };
let events = null;

async function loadMe() {
  state.me = await get('me');
  const name = state.me.name || 'You';
  fill($('me-name'), name);
  fill($('me-avatar'), initial(name));
}

function renderPath() {
  const button = $('path-indicator');
  const n = (path.paths || []).length;
  const words = { ready: `Connected (${n} path${n === 1 ? '' : 's'})`, building: 'Building paths', offline: 'Offline' };
  button.dataset.status = path.status;
  fill($('path-label'), path.status === 'ready' ? 'Connected' : path.status === 'building' ? 'Connecting' : 'Offline');
  button.setAttribute('aria-label', `Onion paths: ${words[path.status] || path.status}. Show the hops.`);
  if ($('dialog').open && $('path-list')) showPaths(path);
}

async function refreshAll() {
  await Promise.all([loadConversations(), loadRequests(), loadMe()]);
  if (state.current || state.group) await loadConversation(false);
}

function notify(ev) {
  if (!document.hidden || typeof Notification === 'undefined' || Notification.permission !== 'granted') return;
  // Names only if the user allowed previews; never the text.
  let body = 'New message';
  if (prefs.previews) body = ev.group ? `New message from ${ev.name} in ${ev.group_name || 'a group'}` : `New message from ${ev.name}`;
  const n = new Notification('Sotto', { body, tag: 'sotto-message' });
  n.addEventListener('click', () => {
    window.focus();
    if (prefs.previews) (ev.group ? openGroup(ev.group) : openConversation(ev.peer)).catch(() => {});
    n.close();
  });
}

async function onEvent(ev) {
  switch (ev.type) {
    case 'path':
      path = ev.path;
      renderPath();
      break;
    case 'message':
      if (!ev.message.outgoing) notify(ev);
      if (ev.message.request) await loadRequests();
      await loadConversations();
      if (ev.peer === state.current) {
        peerTyping(ev.peer, false);
        await loadConversation(false);
      }
      break;
    case 'state':
      if (ev.peer === state.current && !setTick(ev.id, ev.state)) await loadConversation(false);
      await loadConversations();
      break;
    case 'typing':
      peerTyping(ev.peer, ev.typing);
      break;
    case 'send_failed':
      notice(`Not sent yet (${ev.reason}); it stays queued.`, true);
      break;
    case 'request':
    case 'request_answered':
      await loadRequests();
      await loadConversations();
      if (ev.peer === state.current) await loadConversation(false);
      break;
    case 'wrong_network':
      notice(ev.text, true);
      break;
    case 'group_message':
      notify(ev);
      await loadConversations();
      if (ev.group === state.group) await loadConversation(false);
      break;
    case 'group_state':
      if (ev.group === state.group && !setTick(ev.id, ev.state)) await loadConversation(false);
      await loadConversations();
      break;
    case 'group_changed':
      await groupChanged(ev.group);
      break;
    case 'group_invite':
      await loadRequests();
      break;
    default:
      // deleted, disappearing, profile, resync: read it all again.
      await refreshAll();
  }
}

function listen() {
  if (events) events.close();
  events = new EventSource('/api/events');
  events.addEventListener('message', (e) => {
    let ev;
    try {
      ev = JSON.parse(e.data);
    } catch (_) {
      return;
    }
    onEvent(ev).catch((err) => notice(err.message, true));
  });
  events.addEventListener('open', () => {
    // Connected again after a drop: what happened meanwhile is in the store.
    refreshAll().catch((err) => notice(err.message, true));
  });
}

async function startApp() {
  $('setup').hidden = true;
  $('app').hidden = false;
  await refreshAll();
  listen();
}

function wire() {
  $('dialog-close').addEventListener('click', closeDialog);
  $('new-chat').addEventListener('click', newConversation);
  $('new-group').addEventListener('click', () => newGroup().catch((e) => notice(e.message, true)));
  $('requests-button').addEventListener('click', () => showRequests().catch((e) => notice(e.message, true)));
  $('settings-button').addEventListener('click', () => showSettings(loadMe));
  $('me-button').addEventListener('click', showMe);
  $('path-indicator').addEventListener('click', () => showPaths(path));
  $('details-button').addEventListener('click', () => {
    const shown = state.group ? showMembers(state.group) : showDetails(state.current);
    shown.catch((e) => notice(e.message, true));
  });
  const answer = (what) => async () => {
    const peer = state.current;
    try {
      await post(`requests/${peer}/${what}`);
      await Promise.all([loadRequests(), loadConversations()]);
      if (what === 'accept') await loadConversation(true);
      else $('back').click();
    } catch (e) {
      notice(e.message, true);
    }
  };
  $('request-accept').addEventListener('click', answer('accept'));
  $('request-decline').addEventListener('click', answer('decline'));
  $('request-block').addEventListener('click', answer('block'));
  document.addEventListener('visibilitychange', () => {
    if (!document.hidden && (state.current || state.group)) loadConversation(false).catch(() => {});
  });
  wireConversation();
}

async function boot() {
  applyTheme();
  // The one-time token is spent; keep it out of history and bookmarks.
  if (window.location.search) window.history.replaceState(null, '', '/');
  wire();
  try {
    const status = await get('status');
    if (status.phase === 'ready') {
      await startApp();
    } else {
      showSetup(status.phase, () => startApp().catch((e) => notice(e.message, true)));
    }
  } catch (e) {
    document.body.append(el('p', { class: 'form-error', role: 'alert' }, `Cannot reach sotto app: ${e.message}`));
  }
}

boot();
