// Small helpers for building the page. Every string goes in as text
// (textContent or attribute values): nothing a peer sends is parsed as markup.

/** Makes an element: el('button', {class: 'x', 'aria-label': 'y', onclick: f}, 'text', child). */
export function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on') && typeof value === 'function') {
      node.addEventListener(key.slice(2), value);
    } else if (key === 'class') {
      node.className = value;
    } else if (key === 'dataset') {
      Object.assign(node.dataset, value);
    } else if (value === true) {
      node.setAttribute(key, '');
    } else {
      node.setAttribute(key, String(value));
    }
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** Removes every child of a node. */
export function clear(node) {
  while (node.firstChild) node.removeChild(node.firstChild);
  return node;
}

/** Replaces a node's children. */
export function fill(node, ...children) {
  clear(node);
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** The element with this id. */
export function $(id) {
  return document.getElementById(id);
}

/** A time of day in the local zone ("14:05"). */
export function timeOfDay(ms) {
  return new Date(ms).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

/** A short local time for lists: the time today, else the date. */
export function shortTime(ms) {
  const d = new Date(ms);
  const now = new Date();
  if (d.toDateString() === now.toDateString()) return timeOfDay(ms);
  return d.toLocaleDateString([], { month: 'short', day: 'numeric' });
}

/** A full local date and time, for tooltips. */
export function fullTime(ms) {
  return new Date(ms).toLocaleString();
}

/** A duration in words: 300 -> "5 minutes". */
export function duration(seconds) {
  const units = [[604800, 'week'], [86400, 'day'], [3600, 'hour'], [60, 'minute'], [1, 'second']];
  for (const [size, name] of units) {
    if (seconds >= size && seconds % size === 0) {
      const n = seconds / size;
      return `${n} ${name}${n === 1 ? '' : 's'}`;
    }
  }
  return `${seconds} seconds`;
}

/** Shows a short notice at the bottom of the window. */
export function notice(text, isError) {
  const box = $('notice');
  fill(box, text);
  box.classList.toggle('error', Boolean(isError));
  box.hidden = false;
  clearTimeout(notice.timer);
  notice.timer = setTimeout(() => { box.hidden = true; }, 6000);
}

/** Opens the one dialog with a title and content; returns it. */
export function openDialog(title, ...content) {
  const dialog = $('dialog');
  fill($('dialog-title'), title);
  fill($('dialog-body'), ...content);
  if (!dialog.open) dialog.showModal();
  return dialog;
}

/** Closes the dialog. */
export function closeDialog() {
  const dialog = $('dialog');
  if (dialog.open) dialog.close();
}
