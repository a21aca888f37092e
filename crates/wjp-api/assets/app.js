// wjp dashboard: a client of the public HTTP API, in plain JavaScript ES
// modules served as they are (no build step): dom.js builds elements and
// formats, api.js calls the API, forms.js submits work, history.js shows
// the audit log, steering.js re-runs and bulk actions, details.js the
// details of conversions and CSV analyses, schedules.js the schedules,
// thumbs.js the list's small previews, throughput.js the chart of the last
// minutes, results.js a job's result by kind and its files, and this file
// the queues, workers, job list, live stream and a job's details around
// its result.
//
// - Every call goes through api() (api.js), which adds the API key (asked
//   once, kept in sessionStorage) as X-API-Key and turns error bodies into
//   Errors.
// - Live updates come from GET /events, read with fetch() as a stream (so
//   the key travels as a header) and resumed with Last-Event-ID.
// - Everything on screen is built with DOM calls and textContent: nothing
//   from the server is ever parsed as HTML.

import {
  $, el, fact, STATUS, statusBadge, fmtTime, fmtSeconds, between, num, shortId, announce,
} from './dom.js';
import { KEY_STORE, apiKey, askKey, headers, api } from './api.js';
import { setupHistory, showJobHistory } from './history.js';
import { pickCell, cancelWaitingButton, rerunForm, setupSteering } from './steering.js';
import { figuresOf } from './details.js';
import { loadSchedules } from './schedules.js';
import { thumbnail } from './thumbs.js';
import { countFinished, seedThroughput, windowStats, drawChart } from './throughput.js';
import { renderResult, forgetPreview, downloads } from './results.js';
import { setStatus, showError, setupForms } from './forms.js';

const PAGE = 50;
const TERMINAL = new Set(['completed', 'failed', 'cancelled']);

// What a shop calls a job: its drawing (or picture, or export) and, for
// the kinds that take them, its material and thickness. From the payload.
function drawingOf(job) {
  const p = job.payload || {};
  const path = p.dxf_path || p.image_path || p.csv_path
    || (Array.isArray(p.files) && p.files[0] && p.files[0].dxf_path)
    || (p.report && p.report.dxf_path) || '';
  // Uploads are stored under a unique name (`plate_<32 hex>.dxf`): the
  // name the shop gave is the part before.
  const name = String(path).split('/').pop().replace(/_[0-9a-f]{32}(\.[^.]*)?$/, '$1');
  const more = Array.isArray(p.files) && p.files.length > 1 ? ` +${p.files.length - 1}` : '';
  const shown = name ? `${name}${more}` : '–';
  return job.reference ? `${shown} · ${job.reference}` : shown;
}

function materialOf(job) {
  const p = job.payload || {};
  if (!p.material) return '–';
  const name = String(p.material).replace(/_/g, ' ');
  return p.thickness ? `${name}, ${p.thickness} mm` : name;
}

function progressCell(progress, message, status) {
  // A job that has not started has no progress: words, not an empty bar
  // that reads as some per cent done.
  if (status === 'queued' || status === 'scheduled' || status === 'waiting') {
    const words = { queued: 'waiting for a worker', scheduled: 'waiting for its time', waiting: 'waiting for its parents' };
    return el('span', { class: 'msg', text: words[status] });
  }
  const p = typeof progress === 'number' ? Math.max(0, Math.min(1, progress))
    : status === 'completed' ? 1 : null;
  const pct = p === null ? '–' : `${Math.round(p * 100)} %`;
  const bar = el('progress', { max: '1', 'aria-label': `Progress ${pct}` });
  if (p !== null) bar.value = p;
  return el('div', {},
    el('div', { class: 'prog' }, bar, el('span', { class: 'pct', text: pct })),
    message ? el('div', { class: 'msg', text: message }) : null);
}

// ---------------------------------------------------------------- jobs table

const jobs = {
  rows: new Map(), // job id -> <tr>
  views: new Map(), // job id -> the job as last read or heard of
  cursors: [], // cursors of the pages before the current one
  cursor: null, // cursor of the current page (null: newest)
  next: null,
  loading: 0,
  // Events heard while a page is being read: a job that started after the
  // server read the page would be wiped by it, so its events are played
  // again once the page is shown.
  inflight: 0,
  heard: [],
};

function filters() {
  return {
    queue: $('f-queue').value,
    status: $('f-status').value,
    kind: $('f-kind').value.trim(),
    q: $('f-search').value.trim(),
    since: $('f-since').value,
    until: $('f-until').value,
  };
}

// Whether a job heard of live belongs in the list as filtered; the server
// decides for the pages it sends (GET /jobs with the same filters).
function matches(job, f) {
  const text = f.q.toLowerCase();
  const found = !text || String(job.job_id).toLowerCase().startsWith(text)
    || (job.reference || '').toLowerCase().includes(text)
    || drawingOf(job).toLowerCase().includes(text);
  return found && !f.since && !f.until
    && (!f.queue || job.queue === f.queue)
    && (!f.status || job.status === f.status)
    && (!f.kind || job.kind === f.kind);
}

function jobRow(job) {
  const tr = el('tr', { dataset: { jobId: job.job_id, kind: job.kind, queue: job.queue } });
  fillRow(tr, job);
  return tr;
}

function fillRow(tr, job) {
  tr.dataset.status = job.status;
  const open = el('button', {
    type: 'button', class: 'link mono', text: shortId(job.job_id),
    title: String(job.job_id), 'aria-label': `Open job ${job.job_id}`,
    onclick: () => openDetail(job.job_id, true),
  });
  // A failed row says why, without opening it.
  const why = job.status === 'failed' && job.error
    ? el('div', { class: 'msg error-text', text: job.error }) : null;
  const wasPicked = tr.querySelector('input.pick')?.checked;
  tr.replaceChildren(
    pickCell(job, wasPicked),
    el('td', {}, statusBadge(job.status), why),
    el('td', {}, open),
    el('td', { class: 'wrap drawing' }, thumbnail(job), drawingOf(job)),
    el('td', { class: 'material', text: materialOf(job) }),
    el('td', { class: 'figures', text: figuresOf(job) || '–' }),
    el('td', { text: job.kind }),
    el('td', { text: job.queue }),
    el('td', {}, progressCell(job.progress, job.progress_message, job.status)),
    el('td', { text: fmtTime(job.created_at) }),
  );
  tr.classList.toggle('selected', detail.id === job.job_id);
}

// Loads one page of the history; the API applies every filter.
async function loadJobs() {
  const f = filters();
  const ticket = ++jobs.loading;
  const q = new URLSearchParams({ limit: String(PAGE) });
  if (f.queue) q.set('queue', f.queue);
  if (f.status) q.set('status', f.status);
  if (f.kind) q.set('kind', f.kind);
  if (f.q) q.set('q', f.q);
  if (f.since) q.set('since', f.since);
  if (f.until) q.set('until', f.until);
  if (jobs.cursor) q.set('cursor', jobs.cursor);
  jobs.inflight += 1;
  let page;
  try {
    page = await api(`/jobs?${q}`);
  } finally {
    jobs.inflight -= 1;
  }
  const heard = jobs.inflight ? jobs.heard.slice() : jobs.heard.splice(0);
  if (ticket !== jobs.loading) return;
  const found = page.jobs;
  const next = page.next_cursor || null;
  jobs.next = next;
  jobs.rows.clear();
  jobs.views.clear();
  const body = $('jobs-body');
  body.replaceChildren();
  for (const j of found) {
    jobs.views.set(j.job_id, j);
    const tr = jobRow(j);
    jobs.rows.set(j.job_id, tr);
    body.append(tr);
  }
  if (!found.length) body.append(el('tr', { class: 'empty' }, el('td', { colspan: '10', text: 'No jobs match.' })));
  // Jobs the page missed because they came after it was read.
  const missed = new Set(heard.map((e) => e.job_id).filter((id) => !jobs.rows.has(id)));
  for (const e of heard) if (missed.has(e.job_id)) jobEvent(Object.assign(e, { replayed: true }));
  $('page-older').disabled = !next;
  $('page-newest').disabled = !jobs.cursor;
  pageInfo();
}

function pageInfo() {
  const where = jobs.cursor ? `older page ${jobs.cursors.length + 1}` : 'newest, live';
  $('page-info').textContent = `${jobs.rows.size} jobs · ${where}`;
}

function reloadJobs() {
  jobs.cursor = null;
  jobs.cursors = [];
  loadJobs().catch(showError);
}

// A live event: move the row, or add a new job at the top of the newest page.
// An event carries the status and progress; what the row shows besides
// (drawing, material, error) comes from the job as last read, or is read
// once for a job first heard of here.
function jobEvent(e) {
  if (jobs.inflight && !e.replayed) jobs.heard.push(e);
  const known = jobs.views.get(e.job_id) || { created_at: e.at };
  const view = {
    ...known,
    job_id: e.job_id, status: e.status, kind: e.kind, queue: e.queue,
    progress: e.progress, progress_message: e.message,
  };
  if (e.status === 'failed' && e.error_kind && !view.error) view.error = e.error_kind;
  jobs.views.set(e.job_id, view);
  const tr = jobs.rows.get(e.job_id);
  if (tr) {
    fillRow(tr, view);
    if (e.status === 'failed' && !known.error) refreshRow(e.job_id);
    // Its figures come with its result, which events do not carry.
    if (e.status === 'completed' && !known.result) refreshRow(e.job_id);
  } else if (!jobs.cursor && matches(view, filters())) {
    const body = $('jobs-body');
    const empty = body.querySelector('tr.empty');
    if (empty) empty.remove();
    const row = jobRow(view);
    row.classList.add('fresh');
    jobs.rows.set(e.job_id, row);
    body.prepend(row);
    while (jobs.rows.size > PAGE * 2) {
      const last = body.lastElementChild;
      jobs.rows.delete(last.dataset.jobId);
      jobs.views.delete(last.dataset.jobId);
      last.remove();
    }
    pageInfo();
    if (!known.payload) refreshRow(e.job_id);
  }
}

// Reads a job once to fill its row (payload, error), unless a newer event
// came meanwhile: then that event's status stands.
function refreshRow(id) {
  api(`/jobs/${encodeURIComponent(id)}`).then((job) => {
    const tr = jobs.rows.get(id);
    if (!tr) return;
    const latest = jobs.views.get(id) || {};
    const view = { ...job, status: latest.status || job.status, progress: latest.progress ?? job.progress };
    jobs.views.set(id, view);
    fillRow(tr, view);
  }).catch(() => {});
}

// ---------------------------------------------------------------- queues, throughput

// The queues as last read.
let queueList = [];

async function loadQueues() {
  const body = await api('/queues');
  queueList = body.queues || [];
  renderQueues();
}

function renderQueues() {
  const tbody = $('queue-body');
  tbody.replaceChildren();
  const fq = $('f-queue');
  const known = new Set([...fq.options].map((o) => o.value));
  const list = $('queues');
  for (const q of queueList) {
    const w = windowStats(q.name);
    const rate = w.rate === null ? '–' : `${(w.rate * 100).toFixed(0)} %`;
    const cell = (n) => el('td', { class: 'num', text: String(n ?? 0) });
    // Paused is said in words and by the button's label, not by colour alone.
    const toggle = el('button', {
      type: 'button', class: 'link',
      text: q.paused ? 'Resume' : 'Pause',
      'aria-label': `${q.paused ? 'Resume' : 'Pause'} queue ${q.name}`,
      onclick: () => setPaused(q.name, !q.paused),
    });
    const retry = q.failed > 0 ? el('button', {
      type: 'button', class: 'link retry-failed',
      text: 'Retry failed',
      'aria-label': `Run the ${q.failed} failed jobs of queue ${q.name} again`,
      onclick: () => retryFailed(q.name),
    }) : null;
    tbody.append(el('tr', { dataset: { queue: q.name, paused: String(!!q.paused) } },
      el('th', { scope: 'row' }, q.name, q.paused ? el('span', { class: 'paused', text: ' (paused)' }) : '',
        limitsText(q.limits) ? el('div', { class: 'msg limits', text: limitsText(q.limits) }) : null),
      cell(q.queued), cell(q.running), cell(q.scheduled), cell(q.completed), cell(q.failed), cell(q.cancelled),
      cell(w.ok + w.bad), el('td', { class: 'num', text: rate }),
      el('td', { class: 'actions-cell' }, toggle, retry, cancelWaitingButton(q))));
    if (!known.has(q.name)) {
      fq.append(el('option', { value: q.name, text: q.name }));
      list.append(el('option', { value: q.name }));
    }
  }
  if (!queueList.length) tbody.append(el('tr', {}, el('td', { colspan: '10', text: 'No queues.' })));
}

// A queue's limits in words (`max 2 running, 30/m`), or '' for none.
function limitsText(limits) {
  if (!limits) return '';
  const parts = [];
  if (limits.max_running) parts.push(`max ${limits.max_running} running`);
  if (limits.rate) parts.push(limits.rate);
  return parts.join(', ');
}

async function retryFailed(name) {
  try {
    const r = await api(`/queues/${encodeURIComponent(name)}/retry-failed`, { method: 'POST' });
    setStatus(`Queued ${r.retried} failed job${r.retried === 1 ? '' : 's'} of ${name} again.`);
  } catch (e) {
    showError(e);
  }
  loadQueues().catch(() => {});
  reloadJobs();
}

async function setPaused(name, paused) {
  try {
    await api(`/queues/${encodeURIComponent(name)}/${paused ? 'pause' : 'resume'}`, { method: 'POST' });
    setStatus(paused ? `Queue ${name} paused: its jobs wait until it is resumed.` : `Queue ${name} resumed.`);
  } catch (e) {
    showError(e);
  }
  loadQueues().catch(() => {});
}

// Counts and workers are read again shortly after the last of a burst of
// events (and at least once a second while events keep coming).
let countsTimer = null;
let countsDue = 0;
function refreshQueuesSoon() {
  const now = Date.now();
  if (!countsTimer) countsDue = now + 1000;
  clearTimeout(countsTimer);
  countsTimer = setTimeout(() => {
    countsTimer = null;
    loadQueues().catch(() => {});
    loadWorkers().catch(() => {});
  }, Math.max(0, Math.min(300, countsDue - now)));
}

// ---------------------------------------------------------------- workers

let workerList = [];

async function loadWorkers() {
  const body = await api('/workers');
  workerList = body.workers || [];
  renderWorkers();
}

function renderWorkers() {
  const tbody = $('worker-body');
  tbody.replaceChildren();
  for (const w of workerList) {
    const age = (Date.now() - new Date(w.heartbeat_at).getTime()) / 1000;
    const current = (w.current_jobs || []).map((id) => el('button', {
      type: 'button', class: 'link mono', text: shortId(id), title: id,
      'aria-label': `Open job ${id}`, onclick: () => openDetail(id, true),
    }));
    tbody.append(el('tr', { dataset: { worker: w.name } },
      el('td', {}, el('div', { class: 'mono', text: w.name }),
        el('div', { class: 'msg', text: `${w.host}, pid ${w.pid}` })),
      el('td', { class: 'wrap', text: `${(w.queues || []).join(', ')} (×${w.concurrency})` }),
      el('td', {}, current.length ? current : 'idle'),
      el('td', { text: `${fmtSeconds(Math.max(0, age))} ago${age > 60 ? ' ⚠ late' : ''}` })));
  }
  if (!workerList.length) tbody.append(el('tr', {}, el('td', { colspan: '4', text: 'No live workers.' })));
}

// ---------------------------------------------------------------- job detail

const detail = { id: null, job: null, timer: null };

// What this page saw of each job, from the live stream: job id -> [{status, at, message}].
const timeline = new Map();

function remember(id, status, at, message) {
  if (!timeline.has(id)) {
    if (timeline.size > 500) timeline.delete(timeline.keys().next().value);
    timeline.set(id, []);
  }
  const list = timeline.get(id);
  const last = list[list.length - 1];
  if (!last || last.status !== status || (message && last.message !== message)) {
    list.push({ status, at, message: message || '' });
    if (list.length > 50) list.splice(1, 1);
  }
}

async function openDetail(id, focus) {
  if (detail.id !== id) forgetPreview();
  detail.id = id;
  for (const tr of jobs.rows.values()) tr.classList.toggle('selected', tr.dataset.jobId === id);
  const section = $('detail');
  section.hidden = false;
  await refreshDetail();
  if (focus) section.focus();
}

function refreshDetailSoon() {
  if (detail.timer) return;
  detail.timer = setTimeout(() => {
    detail.timer = null;
    refreshDetail().catch(showError);
  }, 250);
}

async function refreshDetail() {
  const id = detail.id;
  if (!id) return;
  const job = await api(`/jobs/${encodeURIComponent(id)}`);
  if (detail.id !== id) return;
  const before = detail.job && detail.job.job_id === id ? detail.job.status : null;
  detail.job = job;
  if (!timeline.has(id)) remember(id, job.status, new Date().toISOString(), '');
  renderDetail(job);
  if (before && before !== job.status) announce(`Job ${shortId(id)} (${job.kind}) is ${job.status}.`);
}

function renderDetail(job) {
  const section = $('detail');
  section.dataset.jobId = job.job_id;
  section.dataset.status = job.status;
  $('detail-h').replaceChildren(`Job ${shortId(job.job_id)} · ${job.kind} `, statusBadge(job.status));
  const cancel = el('button', {
    type: 'button', id: 'cancel-btn', class: 'danger',
    disabled: TERMINAL.has(job.status) || job.cancel_requested,
    onclick: () => cancelJob(job.job_id),
  }, job.cancel_requested && !TERMINAL.has(job.status) ? 'Cancel requested…' : 'Cancel job');
  const retry = el('button', {
    type: 'button', id: 'retry-btn', class: 'secondary',
    disabled: !(job.status === 'failed' || job.status === 'cancelled'),
    onclick: () => retryJob(job.job_id),
  }, 'Retry job');
  const parts = [
    el('div', { class: 'actions' }, cancel, retry),
    el('div', { class: 'prog-big', 'aria-live': 'polite' }, progressCell(job.progress, job.progress_message, job.status)),
    el('dl', { class: 'facts' },
      fact('Job id', String(job.job_id)),
      fact('Queue', job.queue),
      fact('Attempt', `${job.attempt} of ${job.max_attempts}`),
      fact('Stalls', job.stalls ? `${job.stalls} of ${job.max_stalls} (its worker died)` : 'none'),
      fact('Priority', String(job.priority)),
      fact('Worker', job.worker || '–'),
      fact('Created', fmtTime(job.created_at)),
      fact('Started', fmtTime(job.started_at)),
      fact('Ended', fmtTime(job.completed_at)),
      fact('Waited', fmtSeconds(between(job.created_at, job.started_at))),
      fact('Ran', fmtSeconds(between(job.started_at, job.completed_at))),
      fact('Timeout', fmtSeconds(job.timeout))),
  ];
  if (job.waiting) {
    parts.push(el('p', { class: 'waiting', role: 'status' },
      el('strong', { text: 'Why it waits: ' }), job.waiting.message));
  }
  if (job.error) {
    parts.push(el('div', { class: 'error', role: 'alert' },
      el('strong', { text: `Error (${job.error_kind || 'unknown'}): ` }), job.error));
  }
  if (job.result !== null && job.result !== undefined) parts.push(renderResult(job));
  parts.push(el('h3', { text: 'Payload' }), el('pre', { text: JSON.stringify(job.payload, null, 2) }));
  parts.push(rerunForm(job));
  // Its attempts, workers and errors, as the audit log keeps them.
  const steps = el('ol', { class: 'history', id: 'detail-steps' }, el('li', { text: 'Loading…' }));
  parts.push(el('h3', { text: 'History' }), steps);
  showJobHistory(steps, job).catch((e) => steps.replaceChildren(el('li', { text: e.message })));
  parts.push(el('h3', { text: 'Seen on this page' }),
    el('ol', { class: 'history', id: 'detail-history' },
      (timeline.get(job.job_id) || []).map((h) => el('li', { dataset: { status: h.status } },
        `${fmtTime(h.at)} · ${(STATUS[h.status] || ['', h.status])[1]}${h.message ? ` · ${h.message}` : ''}`))));
  $('detail-body').replaceChildren(...parts);
}

async function cancelJob(id) {
  try {
    const r = await api(`/jobs/${encodeURIComponent(id)}/cancel`, { method: 'POST' });
    setStatus(r.message || `Cancel: ${r.outcome}`);
  } catch (e) {
    showError(e);
  }
  refreshDetailSoon();
}

async function retryJob(id) {
  try {
    await api(`/jobs/${encodeURIComponent(id)}/retry`, { method: 'POST' });
    setStatus(`Job ${shortId(id)} queued again.`);
  } catch (e) {
    showError(e);
  }
  refreshDetailSoon();
}

// ---------------------------------------------------------------- live stream

const live = { lastId: null, backoff: 1000 };

function setLive(state, text) {
  const p = $('live');
  p.dataset.state = state;
  p.querySelector('.dot').textContent = state === 'open' ? '●' : state === 'closed' ? '○' : '…';
  p.querySelector('.text').textContent = text;
}

function onEvent(e) {
  jobEvent(e);
  if (TERMINAL.has(e.status)) {
    countFinished(e.job_id, e.queue, e.status, e.at);
    drawChart();
  }
  refreshQueuesSoon();
  remember(e.job_id, e.status, e.at, e.message);
  if (e.job_id === detail.id) refreshDetailSoon();
}

function parseBlock(block) {
  let data = '';
  let id = null;
  let type = 'message';
  for (const line of block.split('\n')) {
    if (!line || line.startsWith(':')) continue;
    const i = line.indexOf(':');
    const field = i < 0 ? line : line.slice(0, i);
    let value = i < 0 ? '' : line.slice(i + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') data += (data ? '\n' : '') + value;
    else if (field === 'id') id = value;
    else if (field === 'event') type = value;
  }
  if (id) live.lastId = id;
  if (!data) return;
  if (type === 'error') {
    // The server does not know our resume point: start from now.
    live.lastId = null;
    return;
  }
  try {
    onEvent(JSON.parse(data));
  } catch (err) {
    console.warn('bad event', err);
  }
}

async function follow() {
  for (;;) {
    try {
      const h = headers({ Accept: 'text/event-stream' });
      if (live.lastId) h['Last-Event-ID'] = live.lastId;
      const response = await fetch('/events', { headers: h, cache: 'no-store' });
      if (response.status === 401) {
        sessionStorage.removeItem(KEY_STORE);
        await askKey();
        continue;
      }
      if (!response.ok || !response.body) throw new Error(`HTTP ${response.status}`);
      setLive('open', 'Live: updates as they happen');
      live.backoff = 1000;
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value.replace(/\r\n?/g, '\n');
        let cut;
        while ((cut = buffer.indexOf('\n\n')) >= 0) {
          parseBlock(buffer.slice(0, cut));
          buffer = buffer.slice(cut + 2);
        }
      }
      throw new Error('the stream ended');
    } catch (e) {
      setLive('closed', `Live updates lost (${e.message}); reconnecting…`);
      await new Promise((r) => { setTimeout(r, live.backoff); });
      live.backoff = Math.min(live.backoff * 2, 15000);
      // Catch up on what the stream may have missed.
      loadQueues().catch(() => {});
    }
  }
}

// ---------------------------------------------------------------- start

// The shop's materials (its wjp.toml may add or rename some), in place of
// the built-in list the page starts with.
async function loadMaterials() {
  const body = await api('/materials');
  const materials = body.materials || [];
  if (!materials.length) return;
  const select = $('dxf-material');
  const chosen = select.value;
  const label = (name) => name.replace(/_/g, ' ').replace(/^./, (c) => c.toUpperCase());
  select.replaceChildren(...materials.map((m) => el('option', {
    value: m.name,
    text: m.thickness_range_mm
      ? `${label(m.name)} (${m.thickness_range_mm[0]}-${m.thickness_range_mm[1]} mm)`
      : label(m.name),
  })));
  if (materials.some((m) => m.name === chosen)) select.value = chosen;
  // The names a re-run may choose from.
  $('materials-list').replaceChildren(...materials.map((m) => el('option', { value: m.name })));
}

function start() {
  setupForms({ openDetail, downloads });
  $('filters').addEventListener('submit', (e) => { e.preventDefault(); reloadJobs(); });
  $('f-queue').addEventListener('change', reloadJobs);
  $('f-status').addEventListener('change', reloadJobs);
  $('f-kind').addEventListener('change', reloadJobs);
  $('f-search').addEventListener('change', reloadJobs);
  $('f-since').addEventListener('change', reloadJobs);
  $('f-until').addEventListener('change', reloadJobs);
  $('page-older').addEventListener('click', () => {
    if (!jobs.next) return;
    jobs.cursors.push(jobs.cursor);
    jobs.cursor = jobs.next;
    loadJobs().catch(showError);
  });
  $('page-newest').addEventListener('click', reloadJobs);
  $('detail-close').addEventListener('click', () => {
    detail.id = null;
    $('detail').hidden = true;
    for (const tr of jobs.rows.values()) tr.classList.remove('selected');
  });
  $('forget-key').hidden = !apiKey();
  $('forget-key').addEventListener('click', () => {
    sessionStorage.removeItem(KEY_STORE);
    $('forget-key').hidden = true;
    askKey();
  });
  // The key is asked for once, by the first call, before the others start.
  loadQueues()
    .then(() => {
      follow();
      reloadJobs();
      loadWorkers().catch(() => {});
      loadMaterials().catch(() => {});
      seedThroughput().then(renderQueues).catch(() => {});
      setupHistory();
      loadSchedules().catch(() => {});
      setupSteering({ reloadJobs, loadQueues, openDetail, setStatus, showError });
    })
    .catch((e) => showError(e));
  setInterval(() => { loadWorkers().catch(() => {}); }, 5000);
  setInterval(() => { loadQueues().catch(() => {}); }, 15000);
  setInterval(() => { loadSchedules().catch(() => {}); }, 30000);
  setInterval(() => { drawChart(); renderWorkers(); }, 5000);
  drawChart();
}

document.addEventListener('DOMContentLoaded', start);
