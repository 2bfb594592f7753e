// The screens before the account is open: create, restore, unlock, and the
// recovery phrase shown once.

import { post } from './api.js';
import { $, el, fill } from './dom.js';

function field(id, label, input) {
  return el('div', { class: 'field' }, el('label', { for: id }, label), input);
}

function errorLine() {
  return el('p', { class: 'form-error', role: 'alert', hidden: true });
}

function showError(line, err) {
  fill(line, err.message || String(err));
  line.hidden = false;
}

/** The first-start screen; `done` runs once the account is open. */
export function showSetup(phase, done) {
  $('app').hidden = true;
  $('setup').hidden = false;
  if (phase === 'locked') {
    unlockForm(done);
  } else {
    chooseForm(done);
  }
}

function chooseForm(done) {
  const name = el('input', { id: 'setup-name', type: 'text', maxlength: 64, autocomplete: 'nickname' });
  const pass = el('input', { id: 'setup-passphrase', type: 'password', autocomplete: 'new-password' });
  const err = errorLine();
  const create = el('button', { id: 'setup-create', type: 'submit', class: 'primary' }, 'Create account');
  const form = el('form', { class: 'stack' },
    el('p', {}, 'Create a new account. Your display name is what contacts see; it is optional.'),
    field('setup-name', 'Display name', name),
    field('setup-passphrase', 'Passphrase to encrypt this device’s data (optional)', pass),
    err, create,
    el('p', { class: 'alt' }, 'Already have an account? ',
      el('button', { type: 'button', id: 'setup-to-restore', class: 'link', onclick: () => restoreForm(done) },
        'Restore it from your 12 words')));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    create.disabled = true;
    try {
      const r = await post('account/create', { name: name.value, passphrase: pass.value });
      phraseScreen(r.phrase, done);
    } catch (ex) {
      showError(err, ex);
      create.disabled = false;
    }
  });
  fill($('setup-body'), form);
  name.focus();
}

function restoreForm(done) {
  const phrase = el('textarea', { id: 'restore-phrase', rows: 3, autocomplete: 'off', spellcheck: 'false' });
  const name = el('input', { id: 'restore-name', type: 'text', maxlength: 64 });
  const pass = el('input', { id: 'restore-passphrase', type: 'password', autocomplete: 'new-password' });
  const err = errorLine();
  const go = el('button', { id: 'restore-go', type: 'submit', class: 'primary' }, 'Restore account');
  const form = el('form', { class: 'stack' },
    field('restore-phrase', 'Your 12-word recovery phrase', phrase),
    field('restore-name', 'Display name (optional)', name),
    field('restore-passphrase', 'Passphrase to encrypt this device’s data (optional)', pass),
    err, go,
    el('p', { class: 'alt' },
      el('button', { type: 'button', class: 'link', onclick: () => chooseForm(done) }, 'Create a new account instead')));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    go.disabled = true;
    try {
      await post('account/restore', { phrase: phrase.value, name: name.value, passphrase: pass.value });
      done();
    } catch (ex) {
      showError(err, ex);
      go.disabled = false;
    }
  });
  fill($('setup-body'), form);
  phrase.focus();
}

function unlockForm(done) {
  const pass = el('input', { id: 'unlock-passphrase', type: 'password', autocomplete: 'current-password' });
  const err = errorLine();
  const go = el('button', { id: 'unlock-go', type: 'submit', class: 'primary' }, 'Unlock');
  const form = el('form', { class: 'stack' },
    el('p', {}, 'This device’s data is encrypted. Enter your passphrase.'),
    field('unlock-passphrase', 'Passphrase', pass), err, go);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    go.disabled = true;
    try {
      await post('account/unlock', { passphrase: pass.value });
      done();
    } catch (ex) {
      showError(err, ex);
      go.disabled = false;
    }
  });
  fill($('setup-body'), form);
  pass.focus();
}

function phraseScreen(phrase, done) {
  const words = phrase.split(' ');
  const ack = el('input', { id: 'phrase-ack', type: 'checkbox' });
  const next = el('button', { id: 'phrase-done', type: 'button', class: 'primary', disabled: true }, 'Continue');
  ack.addEventListener('change', () => { next.disabled = !ack.checked; });
  next.addEventListener('click', () => {
    // The phrase is shown only this once: take it off the page.
    fill($('setup-body'));
    done();
  });
  fill($('setup-body'), el('div', { class: 'stack' },
    el('h2', {}, 'Your recovery phrase'),
    el('p', {}, 'Write these 12 words down and keep them safe. They are shown only this once. ' +
      'Anyone with them can read your messages and speak as you; without them a lost device is a lost account.'),
    el('ol', { id: 'phrase', class: 'phrase', 'aria-label': 'Recovery phrase' },
      words.map((w) => el('li', {}, w))),
    el('label', { class: 'check' }, ack, ' I wrote it down'),
    next));
  ack.focus();
}
