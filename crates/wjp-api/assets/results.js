// The result of a job, by kind: an analysis's figures, cost table and
// preview; a nesting's sheets with their files; a G-code program's figures;
// conversions and CSV analyses (details.js); and the job's files, fetched
// through api() (they need the key) and saved or shown from blob URLs.

import { el, fact, num } from './dom.js';
import { api } from './api.js';
import {
  isConversion, renderConversion, isCsvAnalysis, renderCsv,
} from './details.js';

// Output files of jobs submitted from this page: job id -> /files/... URL.
export const downloads = new Map();

// The blob URL of the open job's preview, made once per job.
let previewUrl = null;

// Lets the open job's preview go (another job is opened).
export function forgetPreview() {
  if (previewUrl) URL.revokeObjectURL(previewUrl);
  previewUrl = null;
}

export function renderResult(job) {
  const r = job.result;
  const box = el('section', { id: 'result', 'aria-label': 'Result' }, el('h3', { text: 'Result' }));
  const links = artifactLinks(r);
  const url = downloads.get(job.job_id);
  if (url && job.status === 'completed') {
    links.unshift(el('button', {
      type: 'button', class: 'link', id: 'download-output', text: `output (${url.split('/').pop()})`,
      onclick: () => download(url.replace(/^\/files\//, '')),
    }));
  }
  const preview = r && r.artifacts && r.artifacts.preview_svg;
  if (r && r.metrics && r.time && r.cost) {
    box.append(renderReport(r));
  } else if (r && Array.isArray(r.sheets) && typeof r.final_utilization === 'number') {
    box.append(renderNest(r));
  } else if (r && r.summary && typeof r.summary.pierces === 'number' && r.dialect) {
    box.append(renderGcode(r));
  } else if (isConversion(r)) {
    box.append(renderConversion(r, showPreview));
  } else if (isCsvAnalysis(r)) {
    box.append(renderCsv(r));
  } else if (preview) {
    // A conversion: its drawing, and its report for the curious.
    const figure = el('figure', { class: 'preview', id: 'preview' }, el('figcaption', { class: 'msg', text: 'Preview of the result' }));
    showPreview(figure, preview);
    box.append(figure, el('details', {}, el('summary', { text: 'Full result' }), el('pre', { text: JSON.stringify(r, null, 2) })));
  } else {
    box.append(el('pre', { text: JSON.stringify(r, null, 2) }));
  }
  if (links.length) {
    box.append(el('p', {}, 'Files: ', links.flatMap((l, i) => (i ? [' · ', l] : [l]))));
  }
  return box;
}

// A nesting: its figures, a row per sheet with its drawings, the layout.
function renderNest(r) {
  const files = new Map(((r.artifacts && r.artifacts.sheets) || []).map((s) => [s.sheet, s]));
  const link = (path, text) => (path ? el('button', {
    type: 'button', class: 'link', text, onclick: () => download(path),
  }) : '–');
  const rows = r.sheets.map((s) => el('tr', { dataset: { sheet: String(s.sheet) } },
    el('th', { scope: 'row', text: `Sheet ${s.sheet}` }),
    el('td', { class: 'num', text: `${num(s.width)} × ${num(s.height)} mm` }),
    el('td', { class: 'num', text: String(s.parts) }),
    el('td', { class: 'num', text: `${s.utilization.toFixed(1)} %` }),
    el('td', {}, link((files.get(s.sheet) || {}).dxf, 'DXF'), ' · ', link((files.get(s.sheet) || {}).svg, 'SVG'))));
  const placed = (r.positioned_objects || []).length;
  const failed = (r.failed_objects || []).length;
  const parts = [
    el('dl', { class: 'facts' },
      fact('Parts placed', String(placed)),
      fact('Did not fit', String(failed)),
      fact('Sheets', String(r.sheets_required)),
      fact('Utilisation', `${r.final_utilization.toFixed(1)} %`)),
    el('table', { class: 'sheets' },
      el('caption', { class: 'visually-hidden', text: 'Sheets of the layout' }),
      el('thead', {}, el('tr', {}, ['Sheet', 'Size', 'Parts', 'Used', 'Files'].map((h) => el('th', { scope: 'col', text: h })))),
      el('tbody', {}, rows)),
  ];
  if (r.stopped_by === 'stopped') {
    parts.unshift(el('p', { class: 'msg', role: 'status', text: 'Cancelled: the best layout found before the stop.' }));
  }
  const used = r.remnants_used || [];
  if (used.length) {
    parts.push(el('p', { class: 'msg', text: `Remnants used first: ${used.map((u) => `sheet ${u.sheet} is remnant ${u.id} (${num(u.width)} × ${num(u.height)} mm)`).join('; ')}.` }));
  }
  if (r.remnant) {
    const kept = r.remnant.id ? `, kept in the inventory as ${r.remnant.id}` : '';
    parts.push(el('p', { class: 'msg', text: `Offcut of sheet ${r.remnant.sheet}: ${num(r.remnant.width)} × ${num(r.remnant.height)} mm${kept}.` }));
  }
  for (const f of r.failed_objects || []) parts.push(el('p', { class: 'error-text', text: `${f.part}: ${f.reason}` }));
  const overview = r.artifacts && r.artifacts.preview_svg;
  if (overview) {
    const figure = el('figure', { class: 'preview', id: 'preview' }, el('figcaption', { class: 'msg', text: 'The sheets side by side' }));
    showPreview(figure, overview);
    parts.push(figure);
  }
  return el('div', { class: 'nest' }, parts);
}

// A G-code program: what the machine will do, and the toolpath.
function renderGcode(r) {
  const s = r.summary;
  const parts = [el('dl', { class: 'facts' },
    fact('Dialect', String(s.dialect)),
    fact('Pierces', String(s.pierces)),
    fact('Cut length', `${num(s.cut_length_mm / 1000, 2)} m`),
    fact('Rapid travel', `${num(s.rapid_length_mm / 1000, 2)} m`),
    fact('Program lines', String(s.program_lines)),
    s.estimated_time_min !== undefined ? fact('Machine time', `${num(s.estimated_time_min)} min`) : null)];
  const toolpath = r.artifacts && r.artifacts.preview_svg;
  if (toolpath) {
    const figure = el('figure', { class: 'preview', id: 'preview' }, el('figcaption', { class: 'msg', text: 'Toolpath' }));
    showPreview(figure, toolpath);
    parts.push(figure);
  }
  return el('div', { class: 'gcode' }, parts);
}

function artifactLinks(result) {
  const links = [];
  const artifacts = (result && result.artifacts) || {};
  for (const [name, path] of Object.entries(artifacts)) {
    if (typeof path !== 'string') continue;
    links.push(el('button', {
      type: 'button', class: 'link', text: `${name} (${path.split('/').pop()})`,
      onclick: () => download(path),
    }));
  }
  return links;
}

async function download(path) {
  const response = await api(`/files/${path.split('/').map(encodeURIComponent).join('/')}`, { raw: true });
  const url = URL.createObjectURL(await response.blob());
  const a = el('a', { href: url, download: path.split('/').pop() });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

function renderReport(r) {
  const m = r.metrics;
  const t = r.time;
  const c = r.cost;
  const mode = c[c.mode] || c.physical || { lines: [] };
  const lines = el('table', { class: 'cost' },
    el('caption', { class: 'visually-hidden', text: 'Cost breakdown' }),
    el('thead', {}, el('tr', {}, el('th', { scope: 'col', text: 'Cost line' }), el('th', { scope: 'col', class: 'num', text: c.currency }))),
    el('tbody', {}, (mode.lines || []).map((l) => el('tr', { title: l.formula || '' },
      el('td', { text: l.name }), el('td', { class: 'num', text: num(l.amount, 2) })))),
    el('tfoot', {}, el('tr', {}, el('th', { scope: 'row', text: 'Total' }), el('td', { class: 'num', text: num(c.total, 2) }))));
  const warnings = r.warnings || [];
  const left = el('div', {},
    el('dl', { class: 'facts', id: 'report-facts' },
      fact('Cut length', `${num(m.cut_length_mm / 1000, 3)} m`),
      fact('Pierces', String(m.pierce_count)),
      fact('Parts', String(m.part_count)),
      fact('Holes', String(m.hole_count)),
      fact('Size', `${num(m.width_mm)} × ${num(m.height_mm)} mm`),
      fact('Cutting time', `${num(t.total_min, 2)} min`),
      fact('Material', `${t.material}, ${num(t.thickness_mm)} mm, quality ${t.quality}`),
      fact('Cost', `${num(c.total, 2)} ${c.currency}`)),
    el('p', { class: 'msg', text: `Time: cut ${num(t.cut_min, 2)} min, pierce ${num(t.pierce_min, 2)} min, rapid ${num(t.rapid_min, 2)} min, corners ${num(t.corner_min, 2)} min.` }),
    lines,
    el('h4', { text: warnings.length ? `Warnings (${warnings.length})` : 'Warnings: none' }),
    warnings.length ? el('ul', { class: 'warnings' }, warnings.map((w) => el('li', {},
      el('span', { 'aria-hidden': 'true', text: '⚠ ' }), el('code', { text: w.code }), ` ${w.message}`))) : null);
  const preview = el('figure', { class: 'preview', id: 'preview' }, el('figcaption', { class: 'msg', text: 'Preview of the drawing' }));
  const path = r.artifacts && r.artifacts.preview_svg;
  if (path) showPreview(preview, path);
  else preview.append(el('p', { text: 'No preview.' }));
  return el('div', { class: 'report', id: 'report' }, left, preview);
}

// The preview comes through api() (it needs the key) and is shown as an
// <img> of a blob URL: an image cannot run scripts.
async function showPreview(figure, path) {
  try {
    if (!previewUrl) {
      const response = await api(`/files/${path.split('/').map(encodeURIComponent).join('/')}`, { raw: true });
      previewUrl = URL.createObjectURL(await response.blob());
    }
    figure.prepend(el('img', { id: 'preview-img', src: previewUrl, alt: 'Preview of the analysed drawing: contours to cut' }));
  } catch (e) {
    figure.append(el('p', { class: 'error', text: `The preview cannot be shown: ${e.message}` }));
  }
}
