// The API client: every call goes through api(), which adds the API key
// (asked once, kept in sessionStorage) as X-API-Key, asks again on 401,
// and turns error bodies into ApiErrors.
import { $ } from './dom.js';

export const KEY_STORE = 'wjp.apiKey';


let keyPrompt = null;

export function apiKey() {
  return sessionStorage.getItem(KEY_STORE) || '';
}

export function askKey(message) {
  if (keyPrompt) return keyPrompt;
  keyPrompt = new Promise((resolve) => {
    const dialog = $('key-dialog');
    $('key-error').textContent = message || '';
    $('api-key').value = '';
    const done = (event) => {
      event.preventDefault();
      const key = $('api-key').value.trim();
      if (!key) return;
      sessionStorage.setItem(KEY_STORE, key);
      $('key-form').removeEventListener('submit', done);
      dialog.close();
      $('forget-key').hidden = false;
      keyPrompt = null;
      resolve(key);
    };
    $('key-form').addEventListener('submit', done);
    if (!dialog.open) dialog.showModal();
    $('api-key').focus();
  });
  return keyPrompt;
}

export function headers(extra) {
  const h = Object.assign({}, extra || {});
  const key = apiKey();
  if (key) h['X-API-Key'] = key;
  return h;
}

export class ApiError extends Error {
  constructor(status, body) {
    super((body && (body.error || body.message || body.detail)) || `HTTP ${status}`);
    this.status = status;
    this.code = body && body.code;
  }
}

// Calls the API; on 401 asks for the key and tries again.
export async function api(path, options = {}) {
  for (;;) {
    const response = await fetch(path, Object.assign({}, options, {
      headers: headers(options.headers),
      cache: 'no-store',
    }));
    if (response.status === 401) {
      const body = await response.json().catch(() => ({}));
      sessionStorage.removeItem(KEY_STORE);
      await askKey(body.code === 'invalid_api_key' ? 'That key was refused; try again.' : '');
      continue;
    }
    if (options.raw) {
      if (!response.ok) throw new ApiError(response.status, await response.json().catch(() => null));
      return response;
    }
    const body = await response.json().catch(() => null);
    if (!response.ok || (body && body.success === false)) throw new ApiError(response.status, body);
    return body;
  }
}

export function postJson(path, value) {
  return api(path, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(value),
  });
}
