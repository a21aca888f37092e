// The forms that submit work: a DXF drawing to analyse, a picture to
// convert, any job as JSON. Files are checked here by name and first bytes
// (a picture chosen for a drawing is refused before it is uploaded, not by
// a job that fails later); what a form sends is checked again by the API.
// The status line under them reports on every action of the page.
import { $, shortId } from './dom.js';
import { api, postJson } from './api.js';

// What the forms need of the page: opening a job's details, and the
// downloads a conversion announces.
let hooks = null;

export function setStatus(text, isError) {
  const p = $('submit-status');
  p.textContent = text;
  p.classList.toggle('error', Boolean(isError));
}

export function showError(e) {
  setStatus(`⚠ ${e.message || e}`, true);
}

async function submitted(body, what) {
  if (body.job_id) {
    setStatus(`${what}: job ${shortId(body.job_id)} queued. Following it below.`);
    await hooks.openDetail(body.job_id, false);
  } else {
    setStatus(`${what}: done at once (the queue was unreachable).`);
  }
}

function busy(form, on) {
  for (const b of form.querySelectorAll('button')) b.disabled = on;
}

// Whether a file looks like a DXF drawing: its name, and its first bytes
// (a text DXF starts with group code 0 or 999, a binary one with its
// sentinel). A picture chosen by mistake is refused here, not by a job
// that fails later.
async function looksLikeDxf(file) {
  if (!/\.dxf$/i.test(file.name)) return false;
  const head = await file.slice(0, 32).text();
  return head.startsWith('AutoCAD Binary DXF') || /^\s*(0|999)\s*[\r\n]/.test(head.replace(/^\uFEFF/, ''));
}

async function submitDxf(event) {
  event.preventDefault();
  const form = event.target;
  const file = $('dxf-file').files[0];
  if (!file) return;
  if (!(await looksLikeDxf(file))) {
    setStatus(`${file.name} is not a DXF drawing: choose a .dxf file (pictures go to "Convert an image to DXF").`, true);
    return;
  }
  busy(form, true);
  try {
    setStatus(`Uploading ${file.name}…`);
    const data = new FormData();
    data.append('file', file, file.name);
    const up = await api('/upload', { method: 'POST', body: data });
    const request = {
      dxf_path: up.relative_path,
      material: $('dxf-material').value,
      thickness: Number($('dxf-thickness').value),
      quality: Number($('dxf-quality').value),
    };
    // Only when chosen: otherwise the drawing's own units stand.
    if ($('dxf-units').value) request.units = $('dxf-units').value;
    const reference = $('dxf-reference').value.trim();
    if (reference) request.reference = reference;
    const body = await postJson('/analyze-dxf?async_mode=true', request);
    await submitted(body, `Analysis of ${file.name}`);
  } catch (e) {
    showError(e);
  } finally {
    busy(form, false);
  }
}

// Whether a file is a picture the conversion reads, by its first bytes:
// PNG, JPEG or BMP.
async function looksLikeImage(file) {
  const b = new Uint8Array(await file.slice(0, 4).arrayBuffer());
  const png = b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47;
  const jpeg = b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff;
  const bmp = b[0] === 0x42 && b[1] === 0x4d;
  return png || jpeg || bmp;
}

async function submitImage(event) {
  event.preventDefault();
  const form = event.target;
  const file = $('image-file').files[0];
  if (!file) return;
  if (!(await looksLikeImage(file))) {
    setStatus(`${file.name} is not a PNG, JPEG or BMP picture.`, true);
    return;
  }
  busy(form, true);
  try {
    setStatus(`Uploading ${file.name}…`);
    const data = new FormData();
    data.append('image_file', file, file.name);
    const response = await api('/convert-image?async_mode=true', { method: 'POST', body: data, raw: true });
    const type = response.headers.get('content-type') || '';
    if (type.startsWith('application/json')) {
      const body = await response.json();
      if (body.job_id && body.download_url) hooks.downloads.set(body.job_id, body.download_url);
      await submitted(body, `Conversion of ${file.name}`);
    }
    else setStatus(`Conversion of ${file.name}: done at once (the queue was unreachable).`);
  } catch (e) {
    showError(e);
  } finally {
    busy(form, false);
  }
}

async function submitJob(event) {
  event.preventDefault();
  const form = event.target;
  let payload;
  try {
    const text = $('job-payload').value.trim();
    payload = text ? JSON.parse(text) : {};
  } catch (e) {
    setStatus(`⚠ The payload is not JSON: ${e.message}`, true);
    $('job-payload').focus();
    return;
  }
  const request = { kind: $('job-kind').value.trim(), payload };
  const queue = $('job-queue').value.trim();
  if (queue) request.queue = queue;
  busy(form, true);
  try {
    await submitted(await postJson('/jobs', request), `Job ${request.kind}`);
  } catch (e) {
    showError(e);
  } finally {
    busy(form, false);
  }
}

export function setupForms(given) {
  hooks = given;
  $('dxf-form').addEventListener('submit', submitDxf);
  $('image-form').addEventListener('submit', submitImage);
  $('job-form').addEventListener('submit', submitJob);
}
