// Calls to the app's own server. The session cookie goes along by itself
// (same origin); every answer is JSON.

/** Calls the API; resolves to the parsed answer or throws with the server's reason. */
export async function api(method, path, body) {
  const init = { method, headers: {}, credentials: 'same-origin', cache: 'no-store' };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const resp = await fetch(`/api/${path}`, init);
  let data = null;
  try {
    data = await resp.json();
  } catch (_) {
    data = null;
  }
  if (!resp.ok) {
    const why = data && data.error ? data.error : `${resp.status} ${resp.statusText}`;
    throw new Error(why);
  }
  return data;
}

/** GET shorthand. */
export const get = (path) => api('GET', path);
/** POST shorthand. */
export const post = (path, body) => api('POST', path, body === undefined ? {} : body);
