// Building the page: elements from data (never from HTML text), the
// status words and icons, and how times and numbers read.
// Each status has a word and an icon drawn here (no emoji font needed): a
// clock, three waiting dots, a play mark, a tick, a cross, a struck circle,
// and a fork of lines for a job that waits for its parents.
export const STATUS = {
  waiting: ['M2.5 4.5H7c3 0 3 7 6.5 7M2.5 11.5h11', 'Waiting'],
  scheduled: ['M8 1.8a6.2 6.2 0 1 0 0 12.4A6.2 6.2 0 0 0 8 1.8zM8 4.5V8l2.6 1.6', 'Scheduled'],
  queued: ['M3.2 8h.1M8 8h.1M12.8 8h.1', 'Queued'],
  running: ['M5 3.2l7.5 4.8L5 12.8z', 'Running'],
  completed: ['M2.8 8.6l3.4 3.3 7-7.4', 'Completed'],
  failed: ['M4 4l8 8M12 4l-8 8', 'Failed'],
  cancelled: ['M8 1.8a6.2 6.2 0 1 0 0 12.4A6.2 6.2 0 0 0 8 1.8zM3.6 12.4l8.8-8.8', 'Cancelled'],
};

export const SVG_NS = 'http://www.w3.org/2000/svg';

export function statusIcon(status) {
  const svg = document.createElementNS(SVG_NS, 'svg');
  svg.setAttribute('viewBox', '0 0 16 16');
  svg.setAttribute('class', 'icon');
  svg.setAttribute('aria-hidden', 'true');
  const path = document.createElementNS(SVG_NS, 'path');
  path.setAttribute('d', (STATUS[status] || ['M8 8h.1'])[0]);
  svg.append(path);
  return svg;
}

export const $ = (id) => document.getElementById(id);

// ---------------------------------------------------------------- helpers

export function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'class') node.className = v;
    else if (k === 'text') node.textContent = v;
    else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(node.dataset, v);
    else node.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

export function statusBadge(status) {
  const word = (STATUS[status] || [null, status || 'unknown'])[1];
  return el('span', { class: `status s-${status}` }, statusIcon(status), word);
}

export function fmtTime(iso) {
  if (!iso) return '–';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const sameDay = d.toDateString() === new Date().toDateString();
  return sameDay ? d.toLocaleTimeString() : d.toLocaleString();
}

export function fmtSeconds(s) {
  if (s === null || s === undefined || !Number.isFinite(s)) return '–';
  if (s < 1) return `${Math.round(s * 1000)} ms`;
  if (s < 90) return `${s.toFixed(1)} s`;
  if (s < 5400) return `${(s / 60).toFixed(1)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}

export function between(a, b) {
  if (!a || !b) return null;
  return (new Date(b) - new Date(a)) / 1000;
}

export function num(v, digits = 1) {
  return typeof v === 'number' && Number.isFinite(v)
    ? v.toLocaleString(undefined, { maximumFractionDigits: digits }) : '–';
}

export function shortId(id) {
  return String(id).length > 12 ? `${String(id).slice(0, 8)}…` : String(id);
}

export function announce(text) {
  const region = $('announce');
  region.textContent = '';
  // A fresh text node is what screen readers notice.
  setTimeout(() => { region.textContent = text; }, 30);
}

// One named figure of a definition list: a name and its value.
export function fact(name, value) {
  return el('div', {}, el('dt', { text: name }), el('dd', { text: value }));
}
