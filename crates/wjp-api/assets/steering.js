// Steering: jobs picked in the list and cancelled or run again together,
// a queue's waiting jobs cancelled at once, and a job run again with other
// options from its details (POST /jobs/{id}/rerun, a new job checked as
// any other).
import { $, el } from './dom.js';
import { api, postJson } from './api.js';

// The options a shop changes when it runs a job again, by payload field,
// with how each is asked for. Only those the job's payload holds are shown
// (and material and thickness for the kinds that price a cut).
const OPTIONS = [
  ['material', 'Material', { type: 'text', list: 'materials-list' }],
  ['thickness', 'Thickness (mm)', { type: 'number', min: '0.1', max: '500', step: '0.1' }],
  ['thickness_mm', 'Thickness (mm)', { type: 'number', min: '0.1', max: '500', step: '0.1' }],
  ['quality', 'Quality', { type: 'number', min: '1', max: '5', step: '1' }],
  ['units', 'Units', { type: 'text', list: 'units-list' }],
  ['kerf', 'Kerf (mm)', { type: 'number', min: '0', max: '10', step: '0.01' }],
  ['kerf_mm', 'Kerf (mm)', { type: 'number', min: '0', max: '10', step: '0.01' }],
  ['sheet_width_mm', 'Sheet width (mm)', { type: 'number', min: '1', step: '1' }],
  ['sheet_height_mm', 'Sheet height (mm)', { type: 'number', min: '1', step: '1' }],
];
const PRICED = new Set(['analyze_dxf', 'gcode']);

let hooks = null;

// The ids of the rows picked in the list.
function picked() {
  return [...document.querySelectorAll('#jobs-body input.pick:checked')]
    .map((box) => box.closest('tr').dataset.jobId);
}

function updateCount() {
  const n = picked().length;
  $('bulk-count').textContent = n ? `${n} picked` : '';
  $('bulk-cancel').disabled = n === 0;
  $('bulk-retry').disabled = n === 0;
}

// The check box of a row, keeping its state when the row is drawn again.
export function pickCell(job, wasPicked) {
  const box = el('input', {
    type: 'checkbox', class: 'pick', 'aria-label': `Pick job ${job.job_id}`,
    onchange: updateCount,
  });
  box.checked = !!wasPicked;
  return el('td', { class: 'pick-cell' }, box);
}

async function bulk(path, what) {
  const ids = picked();
  if (!ids.length) return;
  try {
    const r = await postJson(path, { ids });
    hooks.setStatus(what(r));
  } catch (e) {
    hooks.showError(e);
  }
  for (const box of document.querySelectorAll('#jobs-body input.pick:checked')) box.checked = false;
  updateCount();
  hooks.reloadJobs();
  hooks.loadQueues().catch(() => {});
}

// A queue row's button that cancels its waiting jobs.
export function cancelWaitingButton(q) {
  const waiting = (q.queued || 0) + (q.scheduled || 0);
  if (!waiting) return null;
  return el('button', {
    type: 'button', class: 'link cancel-waiting', text: 'Cancel waiting',
    'aria-label': `Cancel the ${waiting} waiting jobs of queue ${q.name}`,
    onclick: async () => {
      try {
        const r = await postJson('/bulk/cancel', { queue: q.name });
        hooks.setStatus(`Cancelled ${r.cancelled} waiting job${r.cancelled === 1 ? '' : 's'} of ${q.name}.`);
      } catch (e) {
        hooks.showError(e);
      }
      hooks.reloadJobs();
      hooks.loadQueues().catch(() => {});
    },
  });
}

// The details' form that runs the job again with other options.
export function rerunForm(job) {
  const payload = job.payload && typeof job.payload === 'object' ? job.payload : {};
  const fields = OPTIONS.filter(([name]) => name in payload
    || (PRICED.has(job.kind) && (name === 'material' || name === 'thickness')));
  const inputs = fields.map(([name, label, attrs]) => {
    const id = `rerun-${name}`;
    const input = el('input', Object.assign({ id, name }, attrs));
    if (payload[name] !== undefined && payload[name] !== null) input.value = String(payload[name]);
    return el('div', {}, el('label', { for: id, text: label }), input);
  });
  const reference = el('input', { id: 'rerun-reference', type: 'text', maxlength: '200', autocomplete: 'off' });
  reference.value = job.reference || '';
  const form = el('form', { id: 'rerun-form', class: 'card rerun' },
    el('h3', { text: 'Run again with other options' }),
    el('div', { class: 'grid' }, ...inputs,
      el('div', {}, el('label', { for: 'rerun-reference', text: 'Reference' }), reference)),
    el('button', { type: 'submit', id: 'rerun-submit' }, 'Run again'));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const changed = {};
    for (const [name, , attrs] of fields) {
      const value = form.elements[name].value.trim();
      if (value === '') continue;
      const typed = attrs.type === 'number' ? Number(value) : value;
      if (typed !== payload[name]) changed[name] = typed;
    }
    const body = { payload: changed };
    if (reference.value.trim() && reference.value.trim() !== (job.reference || '')) body.reference = reference.value.trim();
    try {
      const created = await postJson(`/jobs/${encodeURIComponent(job.job_id)}/rerun`, body);
      hooks.setStatus(`Job ${created.job_id} runs ${job.job_id} again.`);
      hooks.reloadJobs();
      hooks.openDetail(created.job_id, true);
    } catch (e) {
      hooks.showError(e);
    }
  });
  return form;
}

export function setupSteering(given) {
  hooks = given;
  $('bulk-cancel').addEventListener('click', () => bulk('/bulk/cancel',
    (r) => `Cancelled ${r.cancelled}, asked ${r.requested} running to stop; ${r.already_ended} had ended.`));
  $('bulk-retry').addEventListener('click', () => bulk('/bulk/retry',
    (r) => `Queued ${r.retried} job${r.retried === 1 ? '' : 's'} again`
      + (r.refused.length ? `; ${r.refused.length} could not run again (not failed or cancelled).` : '.')));
  $('pick-all').addEventListener('change', (e) => {
    for (const box of document.querySelectorAll('#jobs-body input.pick')) box.checked = e.target.checked;
    updateCount();
  });
  updateCount();
}
