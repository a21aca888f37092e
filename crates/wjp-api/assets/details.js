// Details per kind that the generic result view does not cover: an image
// conversion (what was traced and kept, the size, the preview) and a
// components CSV analysis (its statistics and layers as tables, its
// advice), instead of raw JSON.
import { el, fact, num } from './dom.js';

// The result of an image conversion: `{report, artifacts}`.
export function isConversion(r) {
  return !!(r && r.report && typeof r.report.contours_kept === 'number');
}

export function renderConversion(r, showPreview) {
  const c = r.report;
  const dropped = c.dropped || {};
  const why = [];
  if (dropped.below_min_area) why.push(`${dropped.below_min_area} too small`);
  if (dropped.inside_dropped) why.push(`${dropped.inside_dropped} inside a dropped one`);
  const size = Array.isArray(c.size_mm) ? `${num(c.size_mm[0])} × ${num(c.size_mm[1])} mm` : '–';
  const facts = el('dl', { class: 'facts', id: 'conversion-facts' },
    fact('Outlines kept', `${c.contours_kept} of ${c.contours_found}`),
    fact('Dropped', c.contours_dropped ? `${c.contours_dropped} (${why.join(', ') || 'filtered'})` : 'none'),
    fact('Outer and holes', `${c.outer_count} outer, ${c.hole_count} holes`),
    fact('Size', size),
    fact('Cut length', `${num((c.cut_length_mm || 0) / 1000, 3)} m`),
    fact('Arcs and points', `${c.arc_count} arcs, ${c.vertex_count} points`),
    fact('Picture', c.image ? `${c.image.width_px} × ${c.image.height_px} px ${c.image.format}` : '–'),
    fact('Threshold', `${c.threshold} (${c.threshold_method}${c.inverted ? ', inverted' : ''})`));
  const parts = [el('div', { class: 'result-grid' }, facts)];
  const preview = r.artifacts && r.artifacts.preview_svg;
  if (preview) {
    const figure = el('figure', { class: 'preview', id: 'preview' },
      el('figcaption', { class: 'msg', text: 'The traced drawing' }));
    showPreview(figure, preview);
    parts[0].append(figure);
  }
  return el('div', { id: 'conversion' }, ...parts);
}

// The result of a components CSV analysis.
export function isCsvAnalysis(r) {
  return !!(r && r.statistics && r.layer_statistics && r.summary);
}

function table(id, caption, head, rows) {
  return el('div', { class: 'scroll' }, el('table', { id },
    el('caption', { text: caption }),
    el('thead', {}, el('tr', {}, head.map((h) => el('th', { scope: 'col', text: h })))),
    el('tbody', {}, rows.map((cells) => el('tr', {}, cells.map((c, i) => el(i ? 'td' : 'th', i ? { class: 'num', text: c } : { scope: 'row', text: c })))))));
}

export function renderCsv(r) {
  const s = r.statistics;
  const stats = table('csv-stats', 'The export at a glance', ['Figure', 'Value'], [
    ['Objects', num(s.total_objects, 0)],
    ['Selected', num(s.selected_count, 0)],
    ['Cuttable', num(s.operable_objects, 0)],
    ['Total perimeter', `${num((s.total_perimeter_mm || 0) / 1000, 2)} m`],
    ['Cut length', `${num(r.summary.cutting_length_m, 2)} m`],
    ['Pierces (estimate)', num(r.summary.pierces_estimate, 0)],
  ]);
  const layers = table('csv-layers', 'Per layer', ['Layer', 'Objects', 'Total area (mm²)', 'Total perimeter (mm)', 'Zero area'],
    Object.entries(r.layer_statistics).map(([name, l]) => [
      name, num(l.count, 0), num(l.total_area, 1), num(l.total_perimeter, 1), num(l.zero_area, 0)]));
  const advice = [...((r.recommendations || {}).warnings || []), ...((r.recommendations || {}).info || [])];
  return el('div', { id: 'csv-analysis' }, stats, layers,
    advice.length ? el('ul', { class: 'warnings' }, advice.map((a) => el('li', { text: a.message }))) : null);
}

// A job's result at a glance, for its row in the list: cut length,
// pierces and cost of an analysis; sheets and utilisation of a nesting;
// pierces and cut length of a program; outlines kept of a conversion.
export function figuresOf(job) {
  const r = job.status === 'completed' ? job.result : null;
  if (!r || typeof r !== 'object') return '';
  if (r.metrics && r.cost) {
    return `${num(r.metrics.cut_length_mm / 1000, 2)} m · ${r.metrics.pierce_count} pierces · ${num(r.cost.total, 2)} ${r.cost.currency}`;
  }
  if (Array.isArray(r.sheets) && typeof r.final_utilization === 'number') {
    return `${r.sheets.length} sheet${r.sheets.length === 1 ? '' : 's'} · ${num(r.final_utilization, 1)} % used`;
  }
  if (r.summary && typeof r.summary.pierces === 'number' && r.dialect) {
    return `${num(r.summary.cut_length_mm / 1000, 2)} m · ${r.summary.pierces} pierces`;
  }
  if (isConversion(r)) return `${r.report.contours_kept} outlines · ${num(r.report.size_mm[0])} × ${num(r.report.size_mm[1])} mm`;
  if (isCsvAnalysis(r)) return `${num(r.summary.cutting_length_m, 2)} m · ${r.summary.pierces_estimate} pierces`;
  return '';
}
