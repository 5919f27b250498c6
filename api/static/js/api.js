// The dashboard's only door to the server: the versioned JSON API of issue 7.
// Every request carries the bearer token; a 401 sends the user back to the login screen.
// Response shapes are normalised here so views never guess (list vs. {items}, etc.).

const BASE = "/api/v1";
const TOKEN_KEY = "vigil.session";

/**
 * What to tell the user about a problem+json body (RFC 9457): a validation problem's detail is
 * only "the request did not validate"; the reasons are its `errors`.
 */
export function problemMessage(status, problem) {
  const reasons = problem && Array.isArray(problem.errors)
    ? problem.errors.map((e) => e && typeof e.msg === "string" && e.msg.replace(/^Value error, /, "")).filter(Boolean)
    : [];
  if (reasons.length) return reasons.join("; ");
  return (problem && (problem.detail || problem.title)) || `HTTP ${status}`;
}

export class ApiError extends Error {
  constructor(status, problem) {
    super(problemMessage(status, problem));
    this.status = status;
    this.problem = problem;
  }
}

let session = loadSession();
let onUnauthorized = () => {};

function loadSession() {
  try {
    return JSON.parse(sessionStorage.getItem(TOKEN_KEY) || "null");
  } catch {
    return null;
  }
}

function saveSession(value) {
  session = value;
  if (value) sessionStorage.setItem(TOKEN_KEY, JSON.stringify(value));
  else sessionStorage.removeItem(TOKEN_KEY);
}

export function currentSession() {
  return session;
}

export function setUnauthorizedHandler(fn) {
  onUnauthorized = fn;
}

async function readProblem(resp) {
  try {
    return await resp.json();
  } catch {
    return { title: resp.statusText };
  }
}

let refreshing = null;

/**
 * A usable access token after `stale` (the one a request was sent with) got a 401.
 *
 * Refresh tokens are single-use: the server revokes the whole session if one is presented
 * twice. So the tab never runs two exchanges at once (concurrent callers share the one in
 * flight, which always sends the newest refresh token), and a 401 that arrives after another
 * caller already refreshed just retries with the newer token instead of refreshing again.
 * Tabs do not coordinate: a duplicated tab (same session) that spends the token another tab
 * just spent gets the same new one back, within the server's reuse grace (30 s by default).
 */
function refresh(stale) {
  if (refreshing) return refreshing;
  if (session && session.token && session.token !== stale) return Promise.resolve(true);
  refreshing = exchangeRefreshToken().finally(() => { refreshing = null; });
  return refreshing;
}

async function exchangeRefreshToken() {
  if (!session || !session.refresh_token) return false;
  // The OAuth 2.0 refresh grant of the one token endpoint (RFC 6749 section 6).
  const form = new URLSearchParams({ grant_type: "refresh_token", refresh_token: session.refresh_token });
  const resp = await fetch(`${BASE}/auth/token`, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: form,
  });
  if (!resp.ok) return false;
  const body = await resp.json();
  saveSession({ ...session, token: body.access_token, refresh_token: body.refresh_token || session.refresh_token });
  return true;
}

export async function request(method, path, body, { retry = true, extraHeaders = {}, withEtag = false } = {}) {
  const headers = { Accept: "application/json", ...extraHeaders };
  const sent = session ? session.token : null;
  if (session) headers.Authorization = `Bearer ${sent}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const resp = await fetch(path.startsWith(BASE) ? path : `${BASE}${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (resp.status === 401 && retry && (await refresh(sent))) {
    return request(method, path, body, { retry: false, extraHeaders, withEtag });
  }
  if (resp.status === 401) endSession();
  if (!resp.ok) throw new ApiError(resp.status, await readProblem(resp));
  const data = resp.status === 204 ? null : await resp.json();
  return withEtag ? { body: data, etag: resp.headers.get("ETag") } : data;
}

function endSession() {
  saveSession(null);
  onUnauthorized();
}

/**
 * After a 401 outside `request` (the live stream) for access token `stale`: refresh the token,
 * or end the session and send the user to sign in. True when the caller may retry with
 * `currentSession()`.
 */
export async function renewSession(stale) {
  if (await refresh(stale)) return true;
  if (session) endSession();
  return false;
}

const get = (path) => request("GET", path);

/** The items of a list response, whichever envelope the server used. */
export function items(body) {
  if (Array.isArray(body)) return body;
  if (!body) return [];
  for (const key of ["items", "data", "results", "alerts", "patients", "points", "samples"]) {
    if (Array.isArray(body[key])) return body[key];
  }
  return [];
}

export async function login(username, password) {
  const form = new URLSearchParams({ username, password, grant_type: "password" });
  const resp = await fetch(`${BASE}/auth/token`, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: form,
  });
  if (!resp.ok) throw new ApiError(resp.status, await readProblem(resp));
  const body = await resp.json();
  saveSession({ token: body.access_token, refresh_token: body.refresh_token || null, username, role: null, patient_id: null });
  // Prefer the server's own account of who we are when it offers one.
  const me = await get("/auth/me");
  saveSession({ ...session, role: me.role, patient_id: me.patient_id || null, username: me.subject || username });
  return session;
}

/**
 * Sign out here and on the server: revoking the refresh token ends the whole login (its
 * access tokens too), so a copy of either token left in this browser is worthless.
 */
export async function logout() {
  const refreshToken = session && session.refresh_token;
  saveSession(null);
  if (!refreshToken) return;
  try {
    // OAuth 2.0 token revocation (RFC 7009); best effort, the local session is gone either way.
    await fetch(`${BASE}/auth/revoke`, {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ token: refreshToken, token_type_hint: "refresh_token" }),
    });
  } catch {
    // Offline: the login still ends when its refresh token expires.
  }
}

export const isClinician = () => !!session && ["admin", "clinician"].includes(session.role);

// ---- resources ----

export async function listPatients() {
  const out = [];
  let cursor = null;
  do {
    const q = new URLSearchParams({ limit: "200" });
    if (cursor) q.set("cursor", cursor);
    const body = await get(`/patients?${q}`);
    out.push(...items(body));
    cursor = body && !Array.isArray(body) ? body.next_cursor || null : null;
  } while (cursor);
  return out.map(normalisePatient);
}

export function normalisePatient(p) {
  const id = p.patient_id || p.id;
  return { ...p, patient_id: id, name: p.display_name || p.name || id };
}

export const getPatient = (id) => get(`/patients/${encodeURIComponent(id)}`).then(normalisePatient);

/** Latest vitals flattened to {ts, hr, spo2, ...}: the mean of each vital's newest minute. */
export async function latestVitals(id) {
  let body;
  try {
    body = await get(`/patients/${encodeURIComponent(id)}/vitals/latest`);
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) return null;
    throw err;
  }
  const out = { ts: null };
  let newest = -Infinity;
  for (const [vital, point] of Object.entries((body && body.vitals) || {})) {
    out[vital] = point.mean;
    newest = Math.max(newest, toEpoch(point.ts));
  }
  if (!Number.isFinite(newest)) return null;
  out.ts = newest;
  return out;
}

/** Vitals history as [{ts (seconds), hr, spo2, ...}] ascending, one row per bucket. */
export async function vitalsHistory(id, fromIso, toIso, resolution = "5m") {
  const q = new URLSearchParams({ resolution });
  if (fromIso) q.set("from", fromIso);
  if (toIso) q.set("to", toIso);
  const body = await get(`/patients/${encodeURIComponent(id)}/vitals?${q}`);
  const rows = new Map();
  for (const [vital, points] of Object.entries((body && body.series) || {})) {
    for (const p of points) {
      const t = toEpoch(p.ts);
      if (!rows.has(t)) rows.set(t, { ts: t });
      rows.get(t)[vital] = p.mean;
    }
  }
  return [...rows.values()].sort((x, y) => x.ts - y.ts);
}

export async function news2(id) {
  try {
    return await get(`/patients/${encodeURIComponent(id)}/news2`);
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) return null;
    throw err;
  }
}

/** Alerts matching `params` (an object, or [name, value] pairs to repeat a filter). */
export async function listAlerts(params = {}) {
  const out = [];
  let cursor = null;
  let pages = 0;
  const pairs = Array.isArray(params) ? params : Object.entries(params);
  do {
    const q = new URLSearchParams([["limit", "200"], ...pairs]);
    if (cursor) q.set("cursor", cursor);
    const body = await get(`/alerts?${q}`);
    out.push(...items(body));
    cursor = body && !Array.isArray(body) ? body.next_cursor || null : null;
    pages += 1;
  } while (cursor && pages < 10);
  out.truncated = !!cursor; // more matched than the pages read
  return out;
}

export const getAlert = (id) => get(`/alerts/${encodeURIComponent(id)}`);

/**
 * Lifecycle actions: ack | resolve | snooze ({minutes}) | note | assign ({assignee}).
 * A note travels with ack/resolve/snooze as `note`; the note action itself takes `text`.
 */
export function alertAction(id, action, { note = "", ...extra } = {}) {
  const body = action === "note" ? { text: note } : { ...extra, ...(note ? { note } : {}) };
  return request("POST", `/alerts/${encodeURIComponent(id)}/${action}`, body);
}

/** {body, etag}: the ETag guards the PUT against overwriting a colleague's change. */
export const getThresholds = (id) =>
  request("GET", `/patients/${encodeURIComponent(id)}/thresholds`, undefined, { withEtag: true });
export const putThresholds = (id, body, etag) =>
  request("PUT", `/patients/${encodeURIComponent(id)}/thresholds`, body, {
    withEtag: true,
    extraHeaders: etag ? { "If-Match": etag } : {},
  });

export function toEpoch(value) {
  if (value === null || value === undefined) return NaN;
  if (typeof value === "number") return value > 1e12 ? value / 1000 : value;
  return Date.parse(value) / 1000;
}

export function streamUrl() {
  return `${BASE}/alerts/stream`;
}
