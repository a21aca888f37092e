// The history: the audit log (GET /history), which keeps each job's life
// (who submitted it, with what options, and each attempt's worker and
// outcome) long after the job's record expired. Filters go to the server;
// pages go on from the last one's `next_until`.
import { $, el, fmtTime, shortId } from './dom.js';
import { api } from './api.js';

const PAGE = 50;
const OUTCOME_WORDS = {
  submitted: 'Submitted',
  completed: 'Completed',
  failed: 'Failed',
  retrying: 'Failed, retrying',
  stalled: 'Stalled',
  handed_back: 'Handed back',
  cancelled: 'Cancelled',
  retried: 'Retried by hand',
};

const view = { params: null, next: null };

// The query of the form, as the API takes it: a date's `until` is the
// whole of that day.
function formParams() {
  const q = new URLSearchParams({ limit: String(PAGE) });
  for (const [id, name] of [['h-since', 'since'], ['h-until', 'until'], ['h-reference', 'reference'],
    ['h-kind', 'kind'], ['h-outcome', 'outcome'], ['h-job', 'job']]) {
    const value = $(id).value.trim();
    if (value) q.set(name, value);
  }
  return q;
}

function who(e) {
  if (e.outcome === 'submitted') return e.origin ? `by ${e.origin}` : '';
  return e.worker ? `on ${e.worker}` : '';
}

function what(e) {
  if (e.outcome === 'submitted' && e.options) {
    return Object.entries(e.options).map(([k, v]) => `${k}: ${v}`).join(', ');
  }
  return e.message ? `${e.error_kind || 'error'}: ${e.message}` : '';
}

function row(e) {
  const show = el('button', {
    type: 'button', class: 'link', title: `Every step of job ${e.job_id}`,
    onclick: () => { $('h-job').value = e.job_id; search(); },
  }, shortId(e.job_id));
  return el('tr', { dataset: { outcome: e.outcome, job: e.job_id } },
    el('td', { text: fmtTime(e.at) }),
    el('td', {}, el('span', { class: `outcome o-${e.outcome}`, text: OUTCOME_WORDS[e.outcome] || e.outcome })),
    el('td', {}, show),
    el('td', { text: e.kind }),
    el('td', { class: 'ref', text: e.reference || '–' }),
    el('td', { text: e.attempt ? String(e.attempt) : '–' }),
    el('td', { text: who(e) || '–' }),
    el('td', { class: 'msg', text: what(e) || '–' }));
}

async function load(append) {
  const q = new URLSearchParams(view.params);
  if (append && view.next) q.set('until', view.next);
  const body = await api(`/history?${q}`);
  const rows = body.entries.map(row);
  if (append) $('history-body').append(...rows);
  else $('history-body').replaceChildren(...rows);
  if (!append && rows.length === 0) {
    $('history-body').replaceChildren(el('tr', {}, el('td', { colspan: '8', text: 'Nothing in the history matches.' })));
  }
  view.next = body.next_until;
  $('h-older').disabled = !view.next;
  $('history-status').textContent = `${$('history-body').querySelectorAll('tr[data-outcome]').length} entries shown`
    + (view.next ? '; older ones on the next page.' : '.');
}

function search() {
  view.params = formParams();
  view.next = null;
  load(false).catch(showError);
}

function showError(e) {
  $('history-status').textContent = `History: ${e.message}`;
}

// The CSV of the whole filtered range, fetched with the key and saved.
async function downloadCsv() {
  const q = formParams();
  q.delete('limit');
  q.set('format', 'csv');
  const response = await api(`/history?${q}`, { raw: true });
  const url = URL.createObjectURL(await response.blob());
  const a = el('a', { href: url, download: 'wjp-history.csv' });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

export function setupHistory() {
  $('history-form').addEventListener('submit', (e) => { e.preventDefault(); search(); });
  $('h-older').addEventListener('click', () => load(true).catch(showError));
  $('h-csv').addEventListener('click', () => downloadCsv().catch(showError));
  search();
}

// A job's steps, oldest first, for its details view: its attempts with
// their workers and errors, from the audit log.
export async function showJobHistory(container, job) {
  const q = new URLSearchParams({ job: job.job_id, limit: '200' });
  if (job.created_at) q.set('since', job.created_at);
  const body = await api(`/history?${q}`);
  const items = body.entries.slice().reverse().map((e) => el('li', { dataset: { outcome: e.outcome } },
    `${fmtTime(e.at)} · ${OUTCOME_WORDS[e.outcome] || e.outcome}`
    + `${e.attempt ? ` · attempt ${e.attempt}` : ''}${who(e) ? ` · ${who(e)}` : ''}`
    + `${e.message ? ` · ${e.error_kind || 'error'}: ${e.message}` : ''}`));
  container.replaceChildren(...(items.length ? items : [el('li', { text: 'No steps recorded.' })]));
}
