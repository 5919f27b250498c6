// The patient wall: one tile per patient with a status colour, NEWS2, last vitals, a heart-rate
// sparkline, open alerts and whether the device is online. Alerts update live from the store;
// vitals and NEWS2 are polled (they change every sample, alerts are the events).

import * as api from "./api.js";
import * as store from "./store.js";
import { sparkline } from "./charts.js";
import { compareAlerts, fmtAge, fmtClock, fmtVital, h, humanKind, isActive, severityRank } from "./format.js";
import { mountQueue } from "./alerts.js";
import { mapLimit } from "./ui.js";

const POLL_MS = 5000;
const SPARK_MS = 60000;
const SPARK_WINDOW_S = 6 * 3600;
/** A device is shown offline when its newest sample is this much older than the data clock. */
const OFFLINE_AFTER_S = 15 * 60;

export function mountWall(root) {
  const grid = h("div", { class: "wall-grid", "data-testid": "patient-wall" });
  const side = h("aside", { class: "wall-side" });
  const summary = h("div", { class: "wall-summary", "data-testid": "wall-summary" });
  root.replaceChildren(h("div", { class: "wall" }, h("section", { class: "wall-main" }, summary, grid), side));
  const unmountQueue = mountQueue(side, { compact: true });

  const tiles = new Map(); // patient_id -> {el, parts, data}
  let patients = [];
  let stopped = false;

  async function loadPatients() {
    patients = await api.listPatients();
    patients.sort((a, b) => a.patient_id.localeCompare(b.patient_id, undefined, { numeric: true }));
    grid.replaceChildren(...patients.map((p) => tileFor(p).el));
    if (!patients.length) grid.replaceChildren(h("p", { class: "empty" }, "No patients assigned to you."));
  }

  function tileFor(p) {
    if (tiles.has(p.patient_id)) return tiles.get(p.patient_id);
    const parts = {
      news: h("span", { class: "news2", title: "NEWS2" }, "–"),
      status: h("span", { class: "device" }, ""),
      seen: h("span", { class: "seen" }, ""),
      vitals: h("div", { class: "tile-vitals" }),
      spark: h("div", { class: "spark" }),
      alerts: h("ul", { class: "tile-alerts" }),
    };
    const el = h("a", { class: "tile status-unknown", href: `#/patients/${encodeURIComponent(p.patient_id)}`,
      "data-testid": "patient-tile", dataset: { patientId: p.patient_id } },
      h("div", { class: "tile-head" },
        h("span", { class: "tile-name", title: p.name }, h("strong", {}, p.patient_id)),
        parts.news),
      parts.vitals, parts.spark,
      h("div", { class: "tile-foot" }, parts.alerts, h("span", { class: "tile-meta" }, parts.seen, parts.status)));
    const tile = { el, parts, data: { patient: p, vitals: null, news2: null }, plot: null };
    tiles.set(p.patient_id, tile);
    return tile;
  }

  async function pollVitals() {
    await mapLimit(patients, 6, async (p) => {
      const [vitals, news] = await Promise.all([
        p.latest_vitals ? Promise.resolve(p.latest_vitals) : api.latestVitals(p.patient_id),
        api.news2(p.patient_id).catch(() => null),
      ]);
      const tile = tiles.get(p.patient_id);
      if (!tile) return;
      tile.data.vitals = vitals;
      tile.data.news2 = news;
      if (vitals) store.seeTime(vitals.ts);
    });
    for (const tile of tiles.values()) paint(tile);
  }

  async function pollSparks() {
    const to = store.now();
    await mapLimit(patients, 4, async (p) => {
      const rows = await api.vitalsHistory(p.patient_id, iso(to - SPARK_WINDOW_S), iso(to + 60), "5m");
      const tile = tiles.get(p.patient_id);
      if (!tile || stopped) return;
      const pts = rows.filter((r) => Number.isFinite(r.hr));
      const times = pts.map((r) => r.ts);
      const values = pts.map((r) => r.hr);
      if (tile.plot) tile.plot.setData([times, values]);
      else if (times.length > 1) tile.plot = sparkline(tile.parts.spark, times, values, "#e0565b");
    });
  }

  function paint(tile) {
    const { patient, vitals, news2 } = tile.data;
    // The tile shows conditions still going on; cleared-but-unhandled ones stay on the queue.
    const open = store.openAlerts({ patientId: patient.patient_id }).filter(isActive).sort(compareAlerts);
    const score = news2 ? news2.score : null;
    const band = news2 ? news2.risk : "unknown";
    const online = deviceOnline(patient, vitals, open);
    tile.el.className = `tile status-${tileStatus(open, band)}${online ? "" : " offline"}`;
    tile.el.dataset.openAlerts = String(open.length);
    tile.parts.news.textContent = score === null ? "NEWS2 –" : `NEWS2 ${score}`;
    tile.parts.news.className = `news2 band-${band}`;
    tile.parts.vitals.replaceChildren(...vitalCells(vitals));
    tile.parts.status.textContent = online ? "● online" : "○ offline";
    // The time of the last reading, not an age: in the time-accelerated demo ages mislead.
    tile.parts.seen.textContent = vitals && vitals.ts ? fmtClock(vitals.ts) : "";
    tile.parts.seen.title = vitals && vitals.ts ? `last reading ${fmtAge(store.now() - api.toEpoch(vitals.ts))} before the newest data` : "";
    tile.parts.status.className = `device ${online ? "on" : "off"}`;
    tile.parts.alerts.replaceChildren(...open.slice(0, 3).map((a) =>
      h("li", { class: `sev-${a.severity}` }, h("span", { class: "dot" }), humanKind(a.kind))),
    open.length > 3 ? h("li", { class: "more" }, `+${open.length - 3} more`) : "");
  }

  function paintAll() {
    for (const tile of tiles.values()) paint(tile);
    const open = store.openAlerts().filter(isActive);
    const clinical = open.filter((a) => a.category !== "technical").length;
    summary.replaceChildren(
      h("span", {}, h("strong", {}, String(patients.length)), patients.length === 1 ? " patient" : " patients"),
      h("span", {}, h("strong", {}, String(clinical)), clinical === 1 ? " open clinical alert" : " open clinical alerts"),
      h("span", {}, h("strong", {}, String(open.length - clinical)), " technical"),
      store.state.dataClock ? h("span", { class: "clock" }, `data as of ${new Date(store.state.dataClock * 1000).toLocaleString()}`) : "",
    );
  }

  const unsubscribe = store.subscribe(() => paintAll());
  const timers = [];
  (async () => {
    await loadPatients();
    paintAll();
    // Vitals first: they set the data clock the sparklines' window ends at (in the demo,
    // event time runs ahead of the wall clock; before any data is seen, now() is the latter).
    await pollVitals();
    paintAll();
    await pollSparks();
    if (stopped) return;
    timers.push(setInterval(() => pollVitals().then(paintAll), POLL_MS));
    timers.push(setInterval(pollSparks, SPARK_MS));
  })().catch((err) => grid.replaceChildren(h("p", { class: "error" }, `Could not load patients: ${err.message}`)));

  return () => {
    stopped = true;
    unsubscribe();
    unmountQueue();
    timers.forEach(clearInterval);
    for (const t of tiles.values()) if (t.plot) t.plot.destroy();
  };
}

function vitalCells(v) {
  const get = (k) => (v ? (v[k] ?? (v.values && v.values[k])) : null);
  const cell = (label, text, unit) => h("span", { class: "vital", title: unit }, h("small", {}, label), h("b", {}, text));
  const bp = get("sbp") != null ? `${fmtVital("sbp", get("sbp"))}/${fmtVital("dbp", get("dbp"))}` : "–";
  return [
    cell("HR", fmtVital("hr", get("hr")), "bpm"),
    cell("SpO₂", fmtVital("spo2", get("spo2")), "%"),
    cell("RR", fmtVital("rr", get("rr")), "/min"),
    cell("T", fmtVital("temp", get("temp")), "°C"),
    cell("BP", bp, "mmHg"),
  ];
}

function tileStatus(open, band) {
  const clinical = open.filter((a) => a.category !== "technical");
  const worst = clinical.length ? Math.min(...clinical.map((a) => severityRank(a.severity))) : 99;
  if (worst <= 1 || band === "high") return "red"; // critical / high
  if (worst === 2 || band === "medium") return "orange";
  if (worst <= 4 || band === "low-medium") return "amber";
  return band === "unknown" ? "unknown" : "green";
}

function deviceOnline(patient, vitals, open) {
  if (typeof patient.device_online === "boolean") return patient.device_online;
  if (open.some((a) => a.category === "technical" && /offline|gap|no_data/.test(a.kind || ""))) return false;
  if (!vitals || !vitals.ts) return false;
  return store.now() - api.toEpoch(vitals.ts) < OFFLINE_AFTER_S;
}

function iso(epochSeconds) {
  return new Date(epochSeconds * 1000).toISOString();
}
