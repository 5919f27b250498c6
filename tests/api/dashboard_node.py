"""Run the dashboard's ES modules in Node, against the real app, with a small fake DOM.

No browser: Node imports the modules under ``api/static/js/`` with ``sessionStorage`` and
``document`` stubbed and ``fetch`` sent to a live test server (relative URLs resolve against
it), so every request the dashboard makes meets the real routes and schemas. A script may set
``globalThis.intercept = async (url, init) => Response | undefined`` to answer a request
itself (a 401, a dropped stream); every request is recorded in ``calls``.

The charting library is replaced by a stub (it draws on a canvas, and ``make assets`` may not
have installed it). Scripts print their result with ``done(value)``, which also exits (the
views keep timers running).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

STATIC_JS = Path(__file__).parents[2] / "api" / "static" / "js"

#: Resolves the vendored uPlot to a stub that records what it was given.
_HOOKS = """
export async function resolve(specifier, context, next) {
  if (specifier.endsWith("vendor/uPlot.esm.js")) {
    return { url: "data:text/javascript," + encodeURIComponent(
      "export default class uPlot { constructor(o, d) { this.opts = o; this.data = d; " +
      "this.width = o.width; this.height = o.height; (globalThis.plots ||= []).push(this); } " +
      "setData(d) { this.data = d; } setSize() {} destroy() {} }"), shortCircuit: true };
  }
  return next(specifier, context);
}
"""

_PRELUDE = r"""
import { register } from "node:module";
register("data:text/javascript," + encodeURIComponent(HOOKS));

const [STATIC, BASE_URL] = process.argv.slice(1, 3);
globalThis.ARGS = process.argv.slice(3);
globalThis.js = (name) => import(new URL(name, STATIC).href);

const storage = new Map();
globalThis.sessionStorage = {
  getItem: (k) => (storage.has(k) ? storage.get(k) : null),
  setItem: (k, v) => storage.set(k, String(v)),
  removeItem: (k) => storage.delete(k),
};
globalThis.signIn = (session) => storage.set("vigil.session", JSON.stringify(session));

globalThis.calls = [];
globalThis.intercept = null;
const realFetch = globalThis.fetch;
globalThis.fetch = async (url, init = {}) => {
  const call = { url: String(url), method: init.method || "GET",
    headers: { ...(init.headers || {}) }, body: init.body == null ? null : String(init.body) };
  calls.push(call);
  const mine = intercept && (await intercept(call.url, init));
  if (mine) return mine;
  return realFetch(new URL(url, BASE_URL), init);
};
globalThis.json = (status, body, headers = {}) =>
  new Response(body === null ? null : JSON.stringify(body),
    { status, headers: { "Content-Type": "application/json", ...headers } });
/** A colleague's POST with their own token, straight to the app. */
globalThis.post = (path, token, body = {}) => fetch(path, { method: "POST",
  headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
  body: JSON.stringify(body) });
globalThis.sleep = (ms) => new Promise((r) => setTimeout(r, ms));
globalThis.until = async (cond, ms = 5000) => {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error("timed out waiting");
    await sleep(10);
  }
};
globalThis.done = (value) => {
  process.stdout.write(JSON.stringify(value === undefined ? null : value));
  process.exit(0);
};

// ---- a fake DOM: just what the views use ----
class FakeNode {
  constructor() { this.parentNode = null; }
}
class FakeText extends FakeNode {
  constructor(text) { super(); this.data = String(text); }
  get textContent() { return this.data; }
  set textContent(v) { this.data = String(v); }
}
class FakeElement extends FakeNode {
  constructor(tag) {
    super();
    this.tagName = tag.toUpperCase();
    this.childNodes = [];
    this.attributes = {};
    this.dataset = {};
    this.listeners = {};
    this.className = "";
    this._value = null;
    this.checked = false;
    this.selected = false;
    this.hidden = false;
    this.style = {};
    const el = this;
    this.classList = {
      contains: (c) => el.className.split(/\s+/).includes(c),
      add: (c) => {
        if (!el.classList.contains(c)) el.className = `${el.className} ${c}`.trim();
      },
      remove: (c) => {
        el.className = el.className.split(/\s+/).filter((x) => x && x !== c).join(" ");
      },
      toggle: (c, force) => {
        const on = force === undefined ? !el.classList.contains(c) : !!force;
        if (on) el.classList.add(c); else el.classList.remove(c);
        return on;
      },
    };
  }
  get children() { return this.childNodes.filter((n) => n instanceof FakeElement); }
  get value() {
    if (this._value !== null || this.tagName !== "SELECT") return this._value ?? "";
    const options = findAll(this, (n) => n.tagName === "OPTION");
    const chosen = options.find((o) => o.selected) || options[0];
    return chosen ? chosen.value : "";
  }
  set value(v) { this._value = String(v); }
  append(...nodes) {
    for (const n of nodes) {
      const node = n instanceof FakeNode ? n : new FakeText(n);
      if (node.parentNode) node.parentNode.removeChild(node);
      node.parentNode = this;
      this.childNodes.push(node);
    }
  }
  removeChild(node) {
    const i = this.childNodes.indexOf(node);
    if (i >= 0) this.childNodes.splice(i, 1);
    node.parentNode = null;
  }
  replaceChildren(...nodes) {
    for (const c of [...this.childNodes]) this.removeChild(c);
    this.append(...nodes);
  }
  remove() { if (this.parentNode) this.parentNode.removeChild(this); }
  get textContent() { return this.childNodes.map((c) => c.textContent).join(""); }
  set textContent(v) { this.replaceChildren(); if (String(v) !== "") this.append(String(v)); }
  get innerHTML() { throw new Error("innerHTML is not supported by the fake DOM"); }
  setAttribute(k, v) {
    this.attributes[k] = String(v);
    if (k === "value") this.value = String(v);
    if (k === "checked") this.checked = true;
    if (k === "selected") this.selected = true;
  }
  getAttribute(k) { return k in this.attributes ? this.attributes[k] : null; }
  addEventListener(type, fn) { (this.listeners[type] ||= []).push(fn); }
  dispatch(type, extra = {}) {
    const e = { type, target: this, preventDefault() {}, stopPropagation() {}, ...extra };
    for (const fn of this.listeners[type] || []) fn(e);
  }
  click() { this.dispatch("click"); }
  getBoundingClientRect() { return { width: 600, height: 200 }; }
  get clientWidth() { return 600; }
  querySelectorAll() { return []; }
}
globalThis.Node = FakeNode;
globalThis.ResizeObserver = class { observe() {} disconnect() {} };
const byId = new Map();
globalThis.document = {
  createElement: (tag) => new FakeElement(tag),
  createTextNode: (text) => new FakeText(text),
  getElementById: (id) => {
    if (!byId.has(id)) byId.set(id, new FakeElement("div"));
    return byId.get(id);
  },
  querySelectorAll: () => [],
  body: new FakeElement("body"),
};
/** Every element under `root` (itself included) that `pred` accepts. */
globalThis.findAll = (root, pred) => {
  const out = [];
  const walk = (n) => {
    if (!(n instanceof FakeElement)) return;
    if (pred(n)) out.push(n);
    n.childNodes.forEach(walk);
  };
  walk(root);
  return out;
};
globalThis.byTestId = (root, id) => findAll(root, (n) => n.getAttribute("data-testid") === id);
globalThis.byText = (root, tag, text) =>
  findAll(root, (n) => n.tagName === tag.toUpperCase() && n.textContent === text);
globalThis.mountPoint = () => new FakeElement("div");
"""


def run_dashboard(script: str, base_url: str, *args: str, timeout: float = 30) -> Any:
    """Run ``script`` (an ES module body) after the prelude; return what it ``done()``."""
    node = shutil.which("node")
    assert node is not None, "Node.js is needed (make assets installs the dashboard with npm)"
    prelude = f"const HOOKS = {json.dumps(_HOOKS)};\n" + _PRELUDE
    out = subprocess.run(  # noqa: S603 - our own script and modules
        [
            node,
            "--no-warnings",
            "--input-type=module",
            "-e",
            prelude + script,
            STATIC_JS.as_uri() + "/",
            base_url,
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)
