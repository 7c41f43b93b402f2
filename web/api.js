// The HTTP API as the app uses it: every call carries the API key as a Bearer token, from
// sessionStorage (never a URL or a cookie), and every error becomes an ApiError with the API's
// code, message and, when one field is at fault, that field.

const KEY = 'shortener.api-key';
const SELF = 'shortener.me';

export const session = {
  get key() { return sessionStorage.getItem(KEY); },
  signIn(key) { sessionStorage.setItem(KEY, key); },
  signOut() {
    sessionStorage.removeItem(KEY);
    sessionStorage.removeItem(SELF);
  },
  /** The key as `GET /api/me` described it (its role and rights), or null before it did. */
  get me() { return JSON.parse(sessionStorage.getItem(SELF) ?? 'null'); },
  remember(me) { sessionStorage.setItem(SELF, JSON.stringify(me)); },
};

/**
 * Whether the signed-in key holds `right` (`links:edit`, `keys:manage`, …): the app offers only
 * what the API would accept. The API checks every request all the same.
 */
export function can(right) {
  return session.me?.rights?.includes(right) ?? false;
}

export class ApiError extends Error {
  constructor(status, code, message, field, retryAfter) {
    super(message);
    this.status = status;
    this.code = code;
    this.field = field;
    /** Seconds to wait before trying again, from a 429's or 503's `Retry-After`. */
    this.retryAfter = retryAfter;
  }
}

/**
 * Calls the API; resolves to the JSON answer, a Blob for images and CSV, or null for 204. A 401
 * signs out and tells the app (`shortener:signed-out`), unless `checkingKey` (the sign-in form's
 * own check). `headers` are sent besides the key (If-Match, Idempotency-Key).
 */
export async function api(method, path, body, { checkingKey = false, headers: extra = {} } = {}) {
  const headers = { ...extra, Authorization: `Bearer ${session.key ?? ''}` };
  const init = { method, headers, cache: 'no-store' };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch {
    throw new ApiError(0, 'unreachable', 'The server cannot be reached; try again.');
  }
  if (response.status === 204) return null;
  const type = response.headers.get('Content-Type') ?? '';
  if (!response.ok) {
    let error = {};
    if (type.includes('json')) error = (await response.json().catch(() => ({}))).error ?? {};
    if (response.status === 401 && !checkingKey) {
      session.signOut();
      window.dispatchEvent(new Event('shortener:signed-out'));
    }
    throw new ApiError(response.status, error.code ?? `http_${response.status}`,
      error.message ?? `The server answered ${response.status}.`, error.field,
      Number(response.headers.get('Retry-After')) || undefined);
  }
  return type.includes('json') ? response.json() : response.blob();
}

/** The API path of a link, and the query that names its domain (none for the default one). */
export function linkPath(code, domain) {
  return { path: `/api/links/${encodeURIComponent(code)}`, domain: domain || undefined };
}

/** The app's route to a link's page. */
export function linkRoute(link) {
  return `#/links/${encodeURIComponent(link.domain)}/${encodeURIComponent(link.code)}`;
}

/** The short domains, the default one first. */
export async function domains() {
  return (await api('GET', '/api/domains')).domains;
}

/** A query string of the parameters that are set. */
export function query(parameters) {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(parameters)) {
    if (value !== undefined && value !== null && value !== '') search.set(name, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : '';
}
