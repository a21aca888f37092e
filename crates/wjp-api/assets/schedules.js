// The schedules (GET /schedules): jobs made on a timetable, each with its
// timing in words, its next run and the last job it made.
import { $, el, fmtTime, fmtSeconds } from './dom.js';
import { api } from './api.js';

function timingText(t) {
  if (!t) return '–';
  if (t.type === 'cron') return `cron ${t.expr} (${t.timezone})`;
  if (t.type === 'every') return `every ${fmtSeconds(t.ms / 1000)}`;
  return JSON.stringify(t);
}

export async function loadSchedules() {
  const body = await api('/schedules');
  const rows = (body.schedules || []).map((s) => el('tr', { dataset: { schedule: s.name } },
    el('th', { scope: 'row', text: s.name }),
    el('td', { text: `${s.kind} on ${s.queue}` }),
    el('td', { text: timingText(s.timing) + (s.skip_missed ? ', missed ticks skipped' : '') }),
    el('td', { text: fmtTime(s.next_run) }),
    el('td', { class: 'mono', text: s.last_job || '–' })));
  $('schedule-body').replaceChildren(...(rows.length ? rows
    : [el('tr', {}, el('td', { colspan: '5', text: 'No schedules. wjp schedule add, or PUT /schedules/{name}, makes one.' }))]));
}
