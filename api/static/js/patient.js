// The patient page: NEWS2 and latest vitals, 24-hour vitals charts with alert markers, the
// alert timeline with explanations, and (for clinicians) the thresholds editor.

import * as api from "./api.js";
import * as store from "./store.js";
import { autoResize, vitalsChart } from "./charts.js";
import {
  fmtDateTime, fmtVital, h, humanKind, VITALS, alertStatus,
} from "./format.js";
import { explanation, mountQueue } from "./alerts.js";
import { toast } from "./ui.js";

const HOUR_S = 3600;
/** Chart windows a nurse can switch between: hours shown and the rollup resolution used. */
const WINDOWS = [
  { hours: 24, resolution: "5m" },
  { hours: 6, resolution: "1m" },
  { hours: 1, resolution: "1m" },
];
const SEV_COLOR = { critical: "#ff3b47", high: "#ff7a2f", medium: "#f2b233", low: "#7fb2e5", info: "#8892a0" };

// `band`: the range NEWS2 scores 0 (RCP 2017, chart 1), shaded; `range`: least y range shown.
const CHARTS = [
  { title: "Heart rate (bpm)", keys: ["hr"], band: [51, 90], range: [40, 140] },
  { title: "SpO₂ (%)", keys: ["spo2"], band: [96, 100], range: [85, 100] },
  { title: "Respiratory rate (/min)", keys: ["rr"], band: [12, 20], range: [6, 30] },
  { title: "Temperature (°C)", keys: ["temp"], band: [36.1, 38.0], range: [35, 40] },
  { title: "Blood pressure (mmHg)", keys: ["sbp", "dbp"], band: [111, 219], range: [40, 200], sparse: true },
];

export function mountPatient(root, patientId) {
  const cleanups = [];
  const head = h("header", { class: "patient-head" });
  const charts = h("section", { class: "charts", "data-testid": "vitals-charts" });
  const queue = h("section", { class: "panel" });
  const timeline = h("section", { class: "panel timeline", "data-testid": "alert-timeline" });
  const editor = h("section", { class: "panel thresholds" });
  root.replaceChildren(h("div", { class: "patient" }, head,
    h("div", { class: "patient-body" }, h("div", { class: "patient-main" }, charts, timeline),
      h("div", { class: "patient-side" }, queue, editor))));
  cleanups.push(mountQueue(queue, { compact: true, patientId }));
  // The timeline follows the alerts' lifecycle (acknowledged here, or by a colleague).
  let history = null;
  cleanups.push(store.subscribe((change) => {
    if (!history || change.type !== "alert" || change.alert.patient_id !== patientId) return;
    const i = history.findIndex((a) => a.alert_id === change.alert.alert_id);
    if (i >= 0) history[i] = change.alert;
    else history.push(change.alert);
    renderTimeline(timeline, history);
  }));

  (async () => {
    const [patient, vitals, news] = await Promise.all([
      api.getPatient(patientId).catch(() => ({ patient_id: patientId, name: patientId })),
      api.latestVitals(patientId),
      api.news2(patientId).catch(() => null),
    ]);
    if (vitals) store.seeTime(vitals.ts);
    renderHead(head, patient, vitals, news);
    history = await api.listAlerts({ patient_id: patientId });
    renderTimeline(timeline, history);
    const to = vitals && vitals.ts ? api.toEpoch(vitals.ts) : store.now();
    let chartCleanups = [];
    const show = async (win) => {
      const from = to - win.hours * HOUR_S;
      const rows = await api.vitalsHistory(patientId, iso(from), iso(to + 60), win.resolution);
      chartCleanups.forEach((fn) => fn());
      chartCleanups = renderCharts(chartBox, rows, history, [from, to]);
      for (const b of picker.children) b.classList.toggle("active", b.dataset.hours === String(win.hours));
    };
    const chartBox = h("div", { class: "charts-body" });
    const picker = h("div", { class: "window-picker", role: "group", "aria-label": "Chart window" },
      WINDOWS.map((w) => h("button", { type: "button", class: "btn btn-quiet", dataset: { hours: String(w.hours) },
        onclick: () => show(w).catch((e) => toast(`Could not load vitals: ${e.message}`, true)) }, `${w.hours} h`)));
    charts.replaceChildren(h("div", { class: "charts-head" }, h("h2", {}, "Vitals"), picker), chartBox);
    await show(WINDOWS[0]);
    cleanups.push(() => chartCleanups.forEach((fn) => fn()));
    if (api.isClinician()) await renderEditor(editor, patientId);
    else editor.remove();
  })().catch((err) => {
    if (err.status === 403 || err.status === 404) {
      root.replaceChildren(h("p", { class: "error" }, "This patient is not available to you."));
    } else {
      toast(`Could not load patient: ${err.message}`, true);
    }
  });
  return () => cleanups.forEach((fn) => fn());
}

function renderHead(head, patient, vitals, news) {
  const score = news ? news.score : null;
  const band = news ? news.risk : "unknown";
  const sub = news && news.subscores;
  head.replaceChildren(
    h("div", {}, h("a", { href: "#/wall", class: "back" }, "← Patients"),
      h("h1", { "data-testid": "patient-title" }, patient.patient_id, patient.name !== patient.patient_id ? ` · ${patient.name}` : "")),
    h("div", { class: `news2-big band-${band}`, "data-testid": "patient-news2" },
      h("small", {}, "NEWS2"), h("b", {}, score === null ? "–" : String(score)), h("small", {}, band)),
    sub ? h("ul", { class: "subscores" }, Object.entries(sub).map(([k, v]) =>
      h("li", { class: Number(v) >= 3 ? "hot" : Number(v) > 0 ? "warm" : "" }, `${k} ${typeof v === "object" ? JSON.stringify(v) : v}`))) : "",
    h("div", { class: "latest" }, VITALS.map((m) => h("span", { class: "vital" },
      h("small", {}, m.label), h("b", {}, fmtVital(m.key, vitals ? vitals[m.key] : null)), h("small", {}, m.unit))),
    vitals && vitals.ts ? h("span", { class: "muted" }, ` at ${fmtDateTime(vitals.ts)}`) : ""),
  );
}

function renderCharts(root, rows, alerts, window) {
  if (!rows.length) {
    root.replaceChildren(h("p", { class: "empty" }, "No vitals in this window."));
    return [];
  }
  const times = rows.map((r) => r.ts);
  const markers = alerts.filter((a) => a.category !== "technical").map((a) => ({
    ts: api.toEpoch(a.detected_at), color: SEV_COLOR[a.severity] || "#aaa",
  }));
  root.replaceChildren();
  const cleanups = [];
  for (const spec of CHARTS) {
    const series = spec.keys.map((k) => VITALS.find((v) => v.key === k));
    const columns = spec.keys.map((k) => rows.map((r) => (Number.isFinite(r[k]) ? r[k] : null)));
    if (columns.every((c) => c.every((v) => v === null))) continue;
    const box = h("div", { class: "chart" });
    root.append(box);
    const plot = vitalsChart(box, { ...spec, series, markers, window }, times, columns);
    cleanups.push(autoResize(box, plot), () => plot.destroy());
  }
  return cleanups;
}

function renderTimeline(root, alerts) {
  const rows = [...alerts].sort((a, b) => String(b.detected_at).localeCompare(String(a.detected_at)));
  root.replaceChildren(h("h2", {}, "Alert timeline"),
    rows.length ? h("ol", { class: "tl" }, rows.map((a) => h("li", { class: `sev-${a.severity} status-${alertStatus(a)}`, dataset: { alertId: a.alert_id } },
      h("div", { class: "tl-head" }, h("span", { class: "sev-pill" }, a.severity),
        h("b", {}, humanKind(a.kind)), h("span", { class: "muted" }, ` ${fmtDateTime(a.detected_at)} · ${alertStatus(a)}`)),
      h("p", {}, a.message || ""), explanation(a)))) : h("p", { class: "empty" }, "No alerts for this patient."));
}

// ---- thresholds editor (clinicians) ----
// Edits the patient's PatientConfig (stream/detect/config.py): per-vital [low, high] limits,
// NEWS2 SpO2 scale, supplemental oxygen and the latest ACVPU assessment.

const LIMITS = VITALS.filter((v) => v.key !== "dbp").concat(VITALS.filter((v) => v.key === "dbp"));

async function renderEditor(root, patientId) {
  let loaded;
  try {
    loaded = await api.getThresholds(patientId);
  } catch (err) {
    root.replaceChildren(h("h2", {}, "Thresholds"), h("p", { class: "error" }, err.message));
    return;
  }
  let config = loaded.body;
  const limits = config.thresholds || {};
  const inputs = {};
  const rows = LIMITS.map((m) => {
    const cur = limits[m.key] || {};
    const [lo, hi] = Array.isArray(cur) ? cur : [cur.low, cur.high];
    inputs[m.key] = {
      low: h("input", { type: "number", step: "any", value: lo ?? "", placeholder: "default", "aria-label": `${m.label} low` }),
      high: h("input", { type: "number", step: "any", value: hi ?? "", placeholder: "default", "aria-label": `${m.label} high` }),
    };
    return h("tr", {}, h("th", {}, `${m.label} (${m.unit})`), h("td", {}, inputs[m.key].low), h("td", {}, inputs[m.key].high));
  });
  const scale2 = h("input", { type: "checkbox", checked: config.spo2_scale === 2 });
  const oxygen = h("input", { type: "checkbox", checked: !!config.on_oxygen });
  const acvpu = h("select", { "aria-label": "Consciousness (ACVPU)" },
    ...["A", "C", "V", "P", "U"].map((l) => h("option", { value: l, selected: (config.consciousness || "A") === l }, l)));
  const version = h("span", { class: "muted" }, loaded.body.version ? `version ${loaded.body.version}` : "population defaults");
  const form = h("form", { class: "thr-form", "data-testid": "thresholds-editor" },
    h("p", { class: "muted" }, "Alert limits for this patient; empty keeps the default."),
    h("table", {}, h("thead", {}, h("tr", {}, h("th", {}, ""), h("th", {}, "low"), h("th", {}, "high"))), h("tbody", {}, rows)),
    h("label", { class: "check" }, scale2, " SpO₂ scale 2 (prescribed target 88–92 %)"),
    h("label", { class: "check" }, oxygen, " on supplemental oxygen"),
    h("label", { class: "check" }, "Consciousness (ACVPU) ", acvpu),
    h("div", { class: "alert-actions" }, h("button", { type: "submit", class: "btn btn-ack" }, "Save"), version));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    // The PUT replaces them all: limits of vitals this form does not show (glucose) stay.
    const thresholds = Object.fromEntries(
      Object.entries(config.thresholds || {}).filter(([k]) => !(k in inputs)));
    for (const [k, { low, high }] of Object.entries(inputs)) {
      const lo = low.value === "" ? null : Number(low.value);
      const hi = high.value === "" ? null : Number(high.value);
      if (lo !== null && hi !== null && lo >= hi) {
        toast(`${k}: low must be below high.`, true);
        return;
      }
      if (lo !== null || hi !== null) thresholds[k] = { low: lo, high: hi };
    }
    // Only the settable fields (the API refuses unknown ones); snooze and channels kept as they were.
    const body = {
      spo2_scale: scale2.checked ? 2 : 1,
      on_oxygen: oxygen.checked,
      consciousness: acvpu.value,
      thresholds,
      snooze_until: config.snooze_until ?? null,
      snooze_kinds: config.snooze_kinds || [],
      alert_channels: config.alert_channels || [],
    };
    try {
      loaded = await api.putThresholds(patientId, body, loaded.etag);
      config = loaded.body;
      version.textContent = loaded.body.version ? `version ${loaded.body.version}` : "";
      toast("Thresholds saved.");
    } catch (err) {
      toast(err.status === 412 ? "Someone else changed these thresholds; reload the page." : `Not saved: ${err.message}`, true);
    }
  });
  root.replaceChildren(h("h2", {}, "Thresholds"), form);
}

function iso(epochSeconds) {
  return new Date(epochSeconds * 1000).toISOString();
}
