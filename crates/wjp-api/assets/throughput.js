// Throughput of the last minutes: jobs that ended, counted once each from
// the live stream (and from the list when the page opens), drawn as bars
// per minute, failures on top, and each queue's failure rate.

import { $ } from './dom.js';
import { api } from './api.js';

export const WINDOW_MIN = 15;
const TERMINAL = new Set(['completed', 'failed', 'cancelled']);

const stats = {
  counted: new Set(), // job ids already counted as finished
  finished: [], // {at: ms, queue, ok: bool}
};

export function countFinished(id, queue, status, at) {
  if (!TERMINAL.has(status) || status === 'cancelled' || stats.counted.has(id)) return;
  const t = new Date(at).getTime();
  if (!Number.isFinite(t) || t < Date.now() - WINDOW_MIN * 60000) return;
  stats.counted.add(id);
  stats.finished.push({ id, at: t, queue, ok: status === 'completed' });
}

export async function seedThroughput() {
  for (const status of ['completed', 'failed']) {
    const page = await api(`/jobs?status=${status}&limit=500`);
    for (const j of page.jobs) countFinished(j.job_id, j.queue, j.status, j.completed_at);
  }
  drawChart();
}

export function windowStats(queue) {
  const since = Date.now() - WINDOW_MIN * 60000;
  let ok = 0;
  let bad = 0;
  for (const f of stats.finished) {
    if (f.at < since || (queue && f.queue !== queue)) continue;
    if (f.ok) ok += 1; else bad += 1;
  }
  return { ok, bad, rate: ok + bad ? bad / (ok + bad) : null };
}

export function drawChart() {
  const now = Date.now();
  const since = now - WINDOW_MIN * 60000;
  stats.finished = stats.finished.filter((f) => f.at >= since);
  if (stats.counted.size > 20000) stats.counted = new Set(stats.finished.map((f) => f.id));
  const buckets = Array.from({ length: WINDOW_MIN }, () => ({ ok: 0, bad: 0 }));
  for (const f of stats.finished) {
    const i = Math.min(WINDOW_MIN - 1, Math.floor((f.at - since) / 60000));
    if (f.ok) buckets[i].ok += 1; else buckets[i].bad += 1;
  }
  const max = Math.max(1, ...buckets.map((b) => b.ok + b.bad));
  const W = 300; const H = 90; const top = 10; const bottom = 14; const bw = W / WINDOW_MIN;
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', `0 0 ${W} ${H}`);
  svg.setAttribute('role', 'img');
  const add = (tag, attrs, text) => {
    const n = document.createElementNS(ns, tag);
    for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, v);
    if (text) n.textContent = text;
    svg.append(n);
    return n;
  };
  const scale = (H - top - bottom) / max;
  buckets.forEach((b, i) => {
    const x = i * bw + 1.5;
    const hOk = b.ok * scale;
    const hBad = b.bad * scale;
    const base = H - bottom;
    if (b.ok) add('rect', { class: 'ok', x, y: base - hOk, width: bw - 3, height: hOk });
    // Failures sit on top, hatched by a gap so they differ by shape too.
    if (b.bad) add('rect', { class: 'bad', x: x + 2, y: base - hOk - hBad - 1, width: bw - 7, height: hBad });
  });
  add('line', { class: 'axis', x1: 0, x2: W, y1: H - bottom + 0.5, y2: H - bottom + 0.5 });
  add('text', { x: 0, y: H - 2 }, `−${WINDOW_MIN} min`);
  add('text', { x: W, y: H - 2, 'text-anchor': 'end' }, 'now');
  add('text', { x: 0, y: 8 }, `max ${max}/min`);
  $('chart').replaceChildren(svg);
  const all = windowStats(null);
  const rate = all.rate === null ? 'no failures measured' : `${(all.rate * 100).toFixed(0)} % failure rate`;
  $('chart-caption').textContent = `Last ${WINDOW_MIN} minutes: ${all.ok} completed (solid bars), `
    + `${all.bad} failed (narrow bars on top), ${rate}; ${(all.ok / WINDOW_MIN).toFixed(1)} jobs/min.`;
}
