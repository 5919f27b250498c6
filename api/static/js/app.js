// Entry point: sign-in, the hash router (#/wall, #/alerts, #/patients/ID) and the live stream.

import * as api from "./api.js";
import * as store from "./store.js";
import { h } from "./format.js";
import { mountWall } from "./wall.js";
import { mountQueue } from "./alerts.js";
import { mountPatient } from "./patient.js";
import { toast } from "./ui.js";

const view = document.getElementById("view");
let unmount = () => {};

function showLogin(message = "") {
  unmount();
  unmount = () => {};
  store.stopLive();
  document.getElementById("topbar").hidden = true;
  const user = h("input", { name: "username", autocomplete: "username", required: true, autofocus: true, "data-testid": "login-username" });
  const pass = h("input", { name: "password", type: "password", autocomplete: "current-password", required: true, "data-testid": "login-password" });
  const err = h("p", { class: "error", role: "alert", "data-testid": "login-error" }, message);
  const form = h("form", { class: "login", "data-testid": "login-form" },
    h("h1", {}, h("span", { class: "brand-dot" }), "Vigil"),
    h("p", { class: "muted" }, "Remote patient monitoring — care-team sign in"),
    h("label", {}, "Username", user),
    h("label", {}, "Password", pass),
    h("button", { type: "submit", class: "btn btn-ack", "data-testid": "login-submit" }, "Sign in"),
    err);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    err.textContent = "";
    try {
      await api.login(user.value.trim(), pass.value);
      start();
    } catch (ex) {
      err.textContent = ex.status === 401 || ex.status === 400 ? "Wrong username or password." : `Sign-in failed: ${ex.message}`;
    }
  });
  view.replaceChildren(h("div", { class: "login-wrap" }, form));
}

function start() {
  const s = api.currentSession();
  document.getElementById("topbar").hidden = false;
  document.getElementById("who").textContent = `${s.username}${s.role ? ` · ${s.role}` : ""}`;
  document.body.dataset.role = s.role || "";
  store.loadAlerts().catch((e) => toast(`Could not load alerts: ${e.message}`, true));
  store.startLive();
  if (s.role === "patient" && s.patient_id) location.hash = `#/patients/${encodeURIComponent(s.patient_id)}`;
  else if (!location.hash || location.hash === "#/" || location.hash === "#/login") location.hash = "#/wall";
  route();
}

function route() {
  if (!api.currentSession()) return showLogin();
  unmount();
  const hash = location.hash || "#/wall";
  for (const a of document.querySelectorAll("[data-nav]")) a.classList.toggle("active", hash.startsWith(`#/${a.dataset.nav}`));
  const m = hash.match(/^#\/patients\/([^/]+)/);
  if (m) unmount = mountPatient(view, decodeURIComponent(m[1]));
  else if (hash.startsWith("#/alerts")) {
    const box = h("div", { class: "page-queue" });
    view.replaceChildren(box);
    unmount = mountQueue(box);
  } else unmount = mountWall(view);
}

function updateBadges(change) {
  if (change.type === "live") {
    const el = document.getElementById("live");
    el.dataset.state = change.state;
    el.textContent = change.state === "live" ? "live" : change.state;
  }
  const count = store.unacknowledgedCount();
  const badge = document.getElementById("nav-alert-count");
  badge.textContent = String(count);
  badge.classList.toggle("hot", count > 0);
  if (change.type === "alert" && change.isNew && change.live && change.alert.category !== "technical") {
    toast(`New ${change.alert.severity} alert: ${change.alert.patient_id} — ${change.alert.message || change.alert.kind}`);
  }
}

document.getElementById("logout").addEventListener("click", () => {
  api.logout();
  location.hash = "#/login";
  showLogin();
});
api.setUnauthorizedHandler(() => showLogin("Your session ended; please sign in again."));
store.subscribe(updateBadges);
window.addEventListener("hashchange", route);

if (api.currentSession()) start();
else showLogin();
