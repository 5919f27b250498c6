// Client-side state shared by the views: the alerts the user may see (kept live by the SSE
// stream) and a "data clock" — the newest event time seen — so ages read right in the
// time-accelerated demo as well as in production.

import * as api from "./api.js";
import { LiveStream } from "./sse.js";
import { isOpen, isUnacknowledged } from "./format.js";

const listeners = new Set();
export const state = {
  alerts: new Map(), // alert_id -> alert
  dataClock: 0, // epoch seconds of the newest event time seen
  live: "connecting",
  lastArrival: null, // alert_id of the newest alert pushed by the stream
};

let stream = null;

export function subscribe(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

function emit(change) {
  for (const fn of listeners) fn(change);
}

export function seeTime(ts) {
  const t = api.toEpoch(ts);
  if (Number.isFinite(t) && t > state.dataClock) state.dataClock = t;
}

export function now() {
  return state.dataClock || Date.now() / 1000;
}

export function upsertAlert(alert, { live = false } = {}) {
  if (!alert || !alert.alert_id) return;
  const known = state.alerts.has(alert.alert_id);
  const merged = { ...(state.alerts.get(alert.alert_id) || {}), ...alert, _seenAt: Date.now() };
  if (live && !known) merged._arrivedLive = Date.now();
  state.alerts.set(alert.alert_id, merged);
  seeTime(alert.detected_at);
  if (live && !known) state.lastArrival = alert.alert_id;
  emit({ type: "alert", alert: merged, isNew: !known, live });
}

/** Re-read one alert (after a refused action: a colleague got there first, or it is gone). */
export async function refreshAlert(id) {
  try {
    upsertAlert(await api.getAlert(id));
  } catch (err) {
    if (err.status !== 404) throw err;
    state.alerts.delete(id);
    emit({ type: "reload" });
  }
}

export async function loadAlerts() {
  // Unresolved alerts (open or acknowledged) for the queue; the patient page asks for history.
  // The stream runs meanwhile: what it delivered after this request began is newer than the
  // list, so merge instead of replacing.
  const began = Date.now();
  const rows = await api.listAlerts([["status", "open"], ["status", "acknowledged"]]);
  const listed = new Set();
  for (const a of rows) {
    listed.add(a.alert_id);
    const mine = state.alerts.get(a.alert_id);
    if (mine && mine._seenAt >= began) continue;
    state.alerts.set(a.alert_id, { ...a, _seenAt: began });
    seeTime(a.detected_at);
  }
  if (!rows.truncated) {
    // Known but no longer listed: resolved (or moved off our care team) while we were not
    // listening, e.g. before a `reset`. Keeping them would show them open for ever.
    for (const [id, mine] of state.alerts) {
      if (!listed.has(id) && mine._seenAt < began) state.alerts.delete(id);
    }
  }
  emit({ type: "reload" });
}

export function openAlerts({ patientId = null, category = null } = {}) {
  return [...state.alerts.values()].filter(
    (a) => isOpen(a) && (!patientId || a.patient_id === patientId) && (!category || a.category === category),
  );
}

export function unacknowledgedCount() {
  return [...state.alerts.values()].filter((a) => isOpen(a) && isUnacknowledged(a)).length;
}

function onStreamEvent(evt) {
  if (evt.event === "ping" || evt.event === "heartbeat") return;
  if (evt.event === "reset") {
    // The server could not resume from our Last-Event-ID: refetch rather than miss events.
    loadAlerts().catch(() => {});
    return;
  }
  let body;
  try {
    body = JSON.parse(evt.data);
  } catch {
    return;
  }
  const alert = body && body.alert_id ? body : body && body.alert ? body.alert : null;
  if (alert) upsertAlert(alert, { live: true });
}

export function startLive() {
  if (stream) return;
  let dropped = false;
  const live = new LiveStream(
    api.streamUrl(),
    onStreamEvent,
    (s) => {
      // Back after a drop with no event id to resume from: the server cannot replay what
      // changed meanwhile, so refetch (as for `reset`).
      if (s === "live" && dropped && !live.lastEventId) loadAlerts().catch(() => {});
      if (s === "offline") dropped = true;
      if (s === "live") dropped = false;
      state.live = s;
      emit({ type: "live", state: s });
    },
  );
  stream = live;
  stream.start();
}

export function stopLive() {
  if (stream) stream.stop();
  stream = null;
  state.alerts.clear();
  state.dataClock = 0;
}
