// Shared vocabulary of the views: vitals, severities, NEWS2 risk bands, time formatting.

export const VITALS = [
  { key: "hr", label: "HR", unit: "bpm", digits: 0, color: "#e0565b" },
  { key: "spo2", label: "SpO₂", unit: "%", digits: 0, color: "#4aa3df" },
  { key: "rr", label: "RR", unit: "/min", digits: 0, color: "#9b7be0" },
  { key: "temp", label: "Temp", unit: "°C", digits: 1, color: "#e39b3b" },
  { key: "sbp", label: "SBP", unit: "mmHg", digits: 0, color: "#3fb68b" },
  { key: "dbp", label: "DBP", unit: "mmHg", digits: 0, color: "#2b8a66" },
];

export const SEVERITIES = ["critical", "high", "medium", "low", "info"];
export const severityRank = (s) => {
  const i = SEVERITIES.indexOf(s);
  return i < 0 ? SEVERITIES.length : i;
};

/** Open means someone still has to act: not resolved (acknowledged alerts stay on the queue). */
export const isOpen = (alert) => alertStatus(alert) !== "resolved";
export const isUnacknowledged = (alert) => alertStatus(alert) === "open";
/** The lifecycle status people set: open | acknowledged | resolved. */
export const alertStatus = (alert) => alert.status || "open";
/** Whether the condition is still going on (the detector has not declared it cleared). */
export const isActive = (alert) => isOpen(alert) && alert.episode_status !== "resolved";

/** Queue order: severity (critical first), then most recently detected first. */
export function compareAlerts(a, b) {
  const bySeverity = severityRank(a.severity) - severityRank(b.severity);
  if (bySeverity) return bySeverity;
  return String(b.detected_at || "").localeCompare(String(a.detected_at || ""));
}

export function fmtVital(key, value) {
  if (value === null || value === undefined || Number.isNaN(value)) return "–";
  const meta = VITALS.find((v) => v.key === key);
  return Number(value).toFixed(meta ? meta.digits : 1);
}

export function fmtTime(value) {
  const ms = typeof value === "number" ? (value > 1e12 ? value : value * 1000) : Date.parse(value);
  if (!Number.isFinite(ms)) return "–";
  const d = new Date(ms);
  return d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

/** Hours and minutes only (tiles: when the last reading was taken). */
export function fmtClock(value) {
  const ms = typeof value === "number" ? (value > 1e12 ? value : value * 1000) : Date.parse(value);
  if (!Number.isFinite(ms)) return "–";
  return new Date(ms).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

export function fmtDateTime(value) {
  const ms = typeof value === "number" ? (value > 1e12 ? value : value * 1000) : Date.parse(value);
  if (!Number.isFinite(ms)) return "–";
  return new Date(ms).toLocaleString([], {
    month: "short", day: "numeric", hour: "2-digit", minute: "2-digit",
  });
}

export function fmtAge(seconds) {
  if (!Number.isFinite(seconds)) return "";
  const s = Math.max(0, Math.round(seconds));
  if (s < 90) return `${s}s`;
  if (s < 90 * 60) return `${Math.round(s / 60)} min`;
  if (s < 36 * 3600) return `${Math.round(s / 3600)} h`;
  return `${Math.round(s / 86400)} d`;
}

export function humanKind(kind) {
  return String(kind || "alert").replace(/[_.-]+/g, " ");
}

/** Build an element: h("div", {class: "x", onclick: fn}, child, "text"). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (v === true) el.setAttribute(k, "");
    else el.setAttribute(k, String(v));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}
