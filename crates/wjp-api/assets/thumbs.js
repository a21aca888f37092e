// Small previews in the job list. A preview is a file of the store, which
// needs the API key, so it comes through api() and is shown as an <img> of
// a blob URL (an image cannot run scripts). Each is fetched once, when its
// row comes near the screen, and the blob URLs are kept for the rows that
// are redrawn on every update; past MAX the oldest is let go.

import { api } from './api.js';
import { el } from './dom.js';

const MAX = 200;
// Preview key -> promise of its blob URL, oldest first.
const urls = new Map();
let observer = null;

function blobUrl(key) {
  let url = urls.get(key);
  if (url) return url;
  url = api(`/files/${key.split('/').map(encodeURIComponent).join('/')}`, { raw: true })
    .then((response) => response.blob())
    .then((blob) => URL.createObjectURL(blob));
  urls.set(key, url);
  if (urls.size > MAX) {
    const [oldest, gone] = urls.entries().next().value;
    urls.delete(oldest);
    gone.then((u) => URL.revokeObjectURL(u), () => {});
  }
  return url;
}

function load(img) {
  const key = img.dataset.preview;
  blobUrl(key).then(
    (url) => { img.src = url; },
    // No preview (expired, or the store is away): the row reads as well
    // without it, and a later redraw tries again.
    () => { urls.delete(key); img.remove(); },
  );
}

// The thumbnail of a completed job's preview, or null when it has none.
// Decorative: the drawing's name is in the same cell.
export function thumbnail(job) {
  const r = job.status === 'completed' ? job.result : null;
  const key = r && r.artifacts && r.artifacts.preview_svg;
  if (typeof key !== 'string' || !key) return null;
  const img = el('img', { class: 'thumb', alt: '', width: '48', height: '36', dataset: { preview: key } });
  if (!('IntersectionObserver' in window)) {
    load(img);
    return img;
  }
  if (!observer) {
    observer = new IntersectionObserver((entries) => {
      for (const entry of entries) {
        if (entry.isIntersecting) {
          observer.unobserve(entry.target);
          load(entry.target);
        }
      }
    }, { rootMargin: '200px' });
  }
  observer.observe(img);
  return img;
}
