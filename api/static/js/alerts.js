// The alert queue: open alerts by severity then time, live over SSE, with acknowledge,
// snooze, resolve and a note. Used full-page (#/alerts) and as the wall's side panel.

import * as api from "./api.js";
import * as store from "./store.js";
import {
  alertStatus, compareAlerts, fmtAge, fmtTime, h, humanKind, isActive, isUnacknowledged, SEVERITIES,
} from "./format.js";
import { toast } from "./ui.js";

const SNOOZE_CHOICES = [15, 30, 60, 240];

/** Mount a queue into `root`; returns an unmount function. */
export function mountQueue(root, { compact = false, patientId = null } = {}) {
  const filters = { severity: "", category: "", showAcked: true };
  const expanded = new Set();
  const list = h("ol", { class: "queue", "data-testid": "alert-queue" });
  const header = h("div", { class: "queue-head" },
    h("h2", {}, patientId ? "Open alerts" : "Alert queue"),
    compact ? null : filterBar(),
  );
  root.replaceChildren(header, list);

  function filterBar() {
    const sev = h("select", { "aria-label": "Severity", onchange: (e) => { filters.severity = e.target.value; render(); } },
      h("option", { value: "" }, "All severities"), ...SEVERITIES.map((s) => h("option", { value: s }, s)));
    const cat = h("select", { "aria-label": "Category", onchange: (e) => { filters.category = e.target.value; render(); } },
      h("option", { value: "" }, "Clinical + technical"), h("option", { value: "clinical" }, "Clinical"),
      h("option", { value: "technical" }, "Technical"));
    const acked = h("label", { class: "check" },
      h("input", { type: "checkbox", checked: true, onchange: (e) => { filters.showAcked = e.target.checked; render(); } }),
      " show acknowledged");
    return h("div", { class: "filters" }, sev, cat, acked);
  }

  function visible() {
    return store.openAlerts({ patientId })
      // The wall's side panel shows what needs a look now: ongoing conditions, and clinical
      // alerts nobody has acknowledged; cleared technical ones wait on the full queue.
      .filter((a) => !compact || isActive(a) || (a.category === "clinical" && isUnacknowledged(a)))
      .filter((a) => !filters.severity || a.severity === filters.severity)
      .filter((a) => !filters.category || a.category === filters.category)
      .filter((a) => filters.showAcked || isUnacknowledged(a))
      .sort(compareAlerts);
  }

  // Cards are rebuilt only when what they show changes, and the list is re-ordered only when
  // its order changes: a nurse typing a note must not lose it (or focus) when another alert
  // arrives. Drafts survive a rebuild as well.
  const cards = new Map(); // alert_id -> {sig, el, time}
  const drafts = new Map(); // alert_id -> note text

  function render() {
    const rows = visible();
    if (!rows.length) {
      list.replaceChildren(h("li", { class: "empty" }, "No open alerts."));
      return;
    }
    const els = rows.map((a) => {
      const sig = signature(a);
      let c = cards.get(a.alert_id);
      if (!c || c.sig !== sig) {
        c = { sig, ...card(a) };
        cards.set(a.alert_id, c);
      }
      c.el.classList.toggle("fresh", !!a._arrivedLive && Date.now() - a._arrivedLive < 10000);
      c.time.textContent = `${fmtTime(a.detected_at)} · ${fmtAge(store.now() - api.toEpoch(a.detected_at))} ago`;
      return c.el;
    });
    const same = els.length === list.children.length && els.every((el, i) => list.children[i] === el);
    if (!same) list.replaceChildren(...els);
    for (const id of cards.keys()) if (!rows.some((a) => a.alert_id === id)) cards.delete(id);
  }

  function signature(a) {
    return [alertStatus(a), a.severity, a.seq, a.message, a.episode_status, a.snoozed_until,
      a.acknowledged_by, a.resolved_by, (a.notes || []).length, expanded.has(a.alert_id)].join("|");
  }

  function card(a) {
    const status = alertStatus(a);
    const open = expanded.has(a.alert_id);
    const li = h("li", {
      class: `alert sev-${a.severity} status-${status}${open ? " expanded" : ""}`,
      "data-testid": "alert-card",
      dataset: { alertId: a.alert_id, patientId: a.patient_id, status, category: a.category || "" },
    });
    const time = h("span", { class: "alert-time", title: a.detected_at });
    const head = h("div", { class: "alert-head", role: "button", tabindex: "0",
      onclick: () => toggle(a.alert_id), onkeydown: (e) => { if (e.key === "Enter") toggle(a.alert_id); } },
      h("span", { class: "sev-pill" }, a.severity),
      h("a", { class: "alert-patient", href: `#/patients/${encodeURIComponent(a.patient_id)}`,
        onclick: (e) => e.stopPropagation() }, a.patient_id),
      h("span", { class: "alert-kind" }, humanKind(a.kind)),
      time,
      status !== "open" ? h("span", { class: `status-pill status-${status}`, title: a.acknowledged_by ? `by ${a.acknowledged_by}` : "" },
        status === "acknowledged" && a.acknowledged_by ? `ack ${a.acknowledged_by}` : status) : null,
      isSnoozed(a) ? h("span", { class: "status-pill" }, `snoozed to ${fmtTime(a.snoozed_until)}`) : null,
      a.episode_status === "resolved" ? h("span", { class: "status-pill", title: "The condition has cleared" }, "cleared") : null,
    );
    li.append(head, h("p", { class: "alert-msg" }, a.message || ""));
    if (isUnacknowledged(a) && api.isClinician()) {
      li.append(h("div", { class: "alert-quick" },
        h("button", { type: "button", class: "btn btn-ack", "data-testid": "ack-button",
          onclick: () => act(a, "ack") }, "Acknowledge")));
    }
    if (open) li.append(details(a));
    return { el: li, time };
  }

  function details(a) {
    const note = h("input", { type: "text", class: "note-input", placeholder: "Note (optional)",
      "aria-label": "Note", maxlength: "500", "data-testid": "note-input",
      oninput: (e) => drafts.set(a.alert_id, e.target.value) });
    note.value = drafts.get(a.alert_id) || "";
    const snooze = h("select", { "aria-label": "Snooze for" },
      ...SNOOZE_CHOICES.map((m) => h("option", { value: String(m) }, m < 60 ? `${m} min` : `${m / 60} h`)));
    const buttons = h("div", { class: "alert-actions" },
      isUnacknowledged(a) ? h("button", { type: "button", class: "btn btn-ack", onclick: () => act(a, "ack", note.value) }, "Acknowledge") : null,
      h("span", { class: "snooze" },
        h("button", { type: "button", class: "btn", "data-testid": "snooze-button",
          onclick: () => act(a, "snooze", note.value, { minutes: Number(snooze.value) }) }, "Snooze"), snooze),
      h("button", { type: "button", class: "btn btn-resolve", "data-testid": "resolve-button",
        onclick: () => act(a, "resolve", note.value) }, "Resolve"),
      h("button", { type: "button", class: "btn btn-quiet", onclick: () => act(a, "note", note.value) }, "Add note"),
    );
    // Patients read their alerts; acting on them is the care team's (alerts:write).
    if (!api.isClinician()) return h("div", { class: "alert-details" }, explanation(a), lifecycle(a));
    return h("div", { class: "alert-details" }, explanation(a), lifecycle(a), note, buttons);
  }

  function toggle(id) {
    if (expanded.has(id)) expanded.delete(id);
    else expanded.add(id);
    render();
  }

  async function act(a, action, note = "", extra = {}) {
    if (action === "note" && !note.trim()) {
      toast("Write a note first.");
      return;
    }
    const payload = { ...extra };
    if (note && note.trim()) payload.note = note.trim();
    try {
      const updated = await api.alertAction(a.alert_id, action, payload);
      drafts.delete(a.alert_id);
      cards.delete(a.alert_id); // rebuild: the note field empties, the buttons follow the status
      store.upsertAlert(updated && updated.alert_id ? updated : { ...a, status: optimisticStatus(action, a) });
      toast(`${humanKind(a.kind)} for ${a.patient_id}: ${action === "ack" ? "acknowledged" : action === "note" ? "note added" : `${action}d`}.`);
    } catch (err) {
      toast(`Could not ${action}: ${err.message}`, true);
      // 409: someone else acknowledged or resolved it first; 404: no longer ours. Either way
      // the card is out of date: show what is true now instead of the same stale buttons.
      if (err.status === 409 || err.status === 404) store.refreshAlert(a.alert_id).catch(() => {});
    }
  }

  const unsubscribe = store.subscribe(() => render());
  const timer = setInterval(render, 15000); // refresh ages and the "new" highlight
  render();
  return () => {
    unsubscribe();
    clearInterval(timer);
  };
}

function optimisticStatus(action, a) {
  return { ack: "acknowledged", resolve: "resolved", snooze: "snoozed" }[action] || alertStatus(a);
}

// Plain words for the detector's evidence keys; unknown keys are shown as they come.
const EVIDENCE_LABELS = {
  value: "observed", expected: "personal baseline", scale: "baseline spread", z: "deviation (SD)",
  settled: "baseline settled", context: "activity", duration_min: "sustained (min)",
  news2: "NEWS2", baseline_mean: "baseline mean", baseline_sd: "baseline SD", vital: "vital",
};

/** The why of an alert: message plus the evidence numbers, as a definition list. */
export function explanation(a) {
  const ev = a.evidence && typeof a.evidence === "object" ? a.evidence : {};
  const rows = Object.entries(ev).slice(0, 16).map(([k, v]) =>
    h("div", { class: "ev-row" }, h("dt", {}, EVIDENCE_LABELS[k] || k.replace(/_/g, " ")), h("dd", {}, evidenceValue(v))));
  return h("div", { class: "explanation" },
    h("div", { class: "ev-meta" },
      h("span", {}, `${a.category || "clinical"} · ${(a.vitals || []).join(", ") || "–"}`),
      a.started_at ? h("span", {}, ` · started ${fmtTime(a.started_at)}`) : null,
      Number.isFinite(a.score) ? h("span", {}, ` · score ${Number(a.score).toFixed(2)}`) : null),
    rows.length ? h("dl", { class: "evidence" }, rows) : null);
}

function evidenceValue(v) {
  if (typeof v === "boolean") return v ? "yes" : "no";
  if (typeof v === "number") return Number.isInteger(v) ? String(v) : v.toFixed(2);
  if (Array.isArray(v)) return v.map(evidenceValue).join(", ");
  if (v && typeof v === "object") return Object.entries(v).map(([k, x]) => `${k}: ${evidenceValue(x)}`).join("; ");
  return String(v);
}

/**
 * Who did what: acknowledgement, resolution, assignment and the notes left on the alert.
 * People act on the wall clock (the demo's patient data runs on a faster one), so these read
 * as "how long ago" rather than as a time next to the data's.
 */
export function lifecycle(a) {
  const ago = (iso) => `${fmtAge(Date.now() / 1000 - api.toEpoch(iso))} ago`;
  const rows = [];
  if (a.acknowledged_by) rows.push(`acknowledged by ${a.acknowledged_by}, ${ago(a.acknowledged_at)}`);
  if (a.assigned_to) rows.push(`assigned to ${a.assigned_to}`);
  if (a.resolved_by) rows.push(`resolved by ${a.resolved_by}, ${ago(a.resolved_at)}`);
  for (const n of a.notes || []) rows.push(`${n.actor}, ${ago(n.at)}: “${n.text}”`);
  if (!rows.length) return null;
  return h("ul", { class: "lifecycle" }, rows.map((r) => h("li", {}, r)));
}

function isSnoozed(a) {
  return !!a.snoozed_until && Date.parse(a.snoozed_until) > Date.now();
}
