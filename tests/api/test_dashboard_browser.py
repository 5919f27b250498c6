"""The dashboard as a nurse uses it, on a real ``vigil demo`` process, in headless Chromium.

One demo process (default fleet: 50 patients, 60x time) serves every test in this module:

- within 3 minutes of starting, the nurse's ``GET /api/v1/alerts?category=clinical`` lists a
  clinical alert (the issue's acceptance; the time is measured from process start and printed);
- the nurse signs in, sees the patient wall, sees a new alert arrive live over SSE,
  acknowledges it, and the API records the acknowledgement by ``nurse``;
- the patient login sees only P0001, in the UI and in the API;
- signing out revokes the login on the server: the tab's refresh and access tokens are refused.

Chromium is Debian's (``make browser``); Playwright drives it through ``executable_path``
because Playwright's own browser download cannot work here. Screenshots go to ``artifacts/``.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(600)]

REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO_ROOT / "artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: Issue 8: a clinical alert within 3 minutes of `make demo`.
FIRST_CLINICAL_ALERT_BUDGET_S = 180.0
STARTUP_TIMEOUT_S = 90.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Demo:
    """A running ``vigil demo`` subprocess and what the watcher thread saw."""

    proc: subprocess.Popen[str]
    base: str
    started: float
    log: list[str] = field(default_factory=list)
    first_clinical_s: float | None = None
    first_clinical_seen: threading.Event = field(default_factory=threading.Event)

    def token(self, username: str, password: str) -> str:
        resp = httpx.post(
            f"{self.base}/api/v1/auth/token",
            data={"username": username, "password": password, "grant_type": "password"},
            timeout=10,
        )
        resp.raise_for_status()
        return str(resp.json()["access_token"])

    def get(self, path: str, token: str, **params: Any) -> httpx.Response:
        return httpx.get(
            f"{self.base}{path}",
            params=params,
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )


def _pump_output(demo: Demo) -> None:
    assert demo.proc.stdout is not None
    for line in demo.proc.stdout:
        demo.log.append(line.rstrip())


def _watch_for_clinical_alert(demo: Demo, stop: threading.Event) -> None:
    """Poll the nurse's clinical alert list from process start; note when one first appears."""
    token = None
    while not stop.is_set() and demo.proc.poll() is None:
        try:
            token = token or demo.token("nurse", "nurse-demo")
            resp = demo.get("/api/v1/alerts", token, category="clinical", limit=1)
            if resp.status_code == 401:
                token = None
            elif resp.status_code == 200 and resp.json()["items"]:
                demo.first_clinical_s = time.monotonic() - demo.started
                demo.first_clinical_seen.set()
                return
        except httpx.HTTPError:
            pass  # not serving yet
        stop.wait(1.0)


@pytest.fixture(scope="module")
def demo() -> Iterator[Demo]:
    port, mqtt_port = free_port(), free_port()
    started = time.monotonic()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "vigil.cli",
            "demo",
            "--port",
            str(port),
            "--mqtt-port",
            str(mqtt_port),
        ],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    d = Demo(proc, f"http://127.0.0.1:{port}", started)
    pump = threading.Thread(target=_pump_output, args=(d,), daemon=True)
    pump.start()
    stop = threading.Event()
    threading.Thread(target=_watch_for_clinical_alert, args=(d, stop), daemon=True).start()
    try:
        deadline = started + STARTUP_TIMEOUT_S
        while not any("Vigil demo is running" in line for line in d.log):
            assert proc.poll() is None, "vigil demo exited:\n" + "\n".join(d.log)
            assert time.monotonic() < deadline, "vigil demo did not start:\n" + "\n".join(d.log)
            time.sleep(0.2)
        yield d
    finally:
        stop.set()
        proc.send_signal(signal.SIGINT)
        try:
            code: int | None = proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            code = None
        pump.join(timeout=10)  # EOF once the process is gone
        assert proc.stdout is not None
        proc.stdout.close()
        assert code is not None, "vigil demo ignored Ctrl-C for 30 s:\n" + "\n".join(d.log[-30:])
        assert code == 0, "vigil demo did not stop cleanly:\n" + "\n".join(d.log[-30:])


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} missing: run `make browser` (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


def shot(page: Any, name: str, shots: list[Path], *, full_page: bool = False) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"dashboard-{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    shots.append(path)


def sign_in(page: Any, base: str, username: str, password: str) -> None:
    page.goto(base + "/")
    page.get_by_test_id("login-username").fill(username)
    page.get_by_test_id("login-password").fill(password)
    page.get_by_test_id("login-submit").click()


def test_a_clinical_alert_is_listed_for_the_nurse_within_3_minutes(
    demo: Demo, capsys: pytest.CaptureFixture[str]
) -> None:
    budget = FIRST_CLINICAL_ALERT_BUDGET_S - (time.monotonic() - demo.started)
    assert demo.first_clinical_seen.wait(max(budget, 0.0)), (
        "no clinical alert within 3 minutes:\n" + "\n".join(demo.log[-20:])
    )
    assert demo.first_clinical_s is not None
    with capsys.disabled():
        print(f"\nfirst clinical alert after {demo.first_clinical_s:.0f} s")  # noqa: T201 - asked for
    assert demo.first_clinical_s <= FIRST_CLINICAL_ALERT_BUDGET_S


def test_nurse_sees_the_wall_gets_a_live_alert_and_acknowledges_it(
    demo: Demo, browser: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    shots: list[Path] = []
    page = browser.new_page(viewport={"width": 1600, "height": 1000})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    sign_in(page, demo.base, "nurse", "nurse-demo")

    tiles = page.get_by_test_id("patient-tile")
    tiles.first.wait_for(timeout=30_000)
    assert tiles.count() == 50
    page.locator("[data-testid=live-indicator][data-state=live]").wait_for(timeout=30_000)
    # vitals reach the tiles once the fleet's first minutes are rolled up
    page.wait_for_function(
        "() => [...document.querySelectorAll('[data-testid=patient-tile] .vital b')]"
        ".some(b => /\\d/.test(b.textContent))",
        timeout=60_000,
    )
    shot(page, "wall", shots)

    # Cards are marked `fresh` only when the SSE stream brought an alert the page did not know;
    # wait for one that was not on the page when we looked.
    known = page.eval_on_selector_all(
        "[data-testid=alert-card]", "els => els.map(e => e.dataset.alertId)"
    )
    handle = page.wait_for_function(
        """known => {
            const card = [...document.querySelectorAll('[data-testid=alert-card].fresh')]
                .find(c => c.dataset.status === 'open' && !known.includes(c.dataset.alertId));
            return card ? card.dataset.alertId : null;
        }""",
        arg=known,
        timeout=240_000,
        polling=200,
    )
    alert_id = handle.json_value()
    assert alert_id and alert_id not in known
    shot(page, "live-alert", shots)

    card = page.locator(f"[data-testid=alert-card][data-alert-id='{alert_id}']")
    card.locator(".alert-head").click()  # expand: explanation, note, actions
    card.get_by_test_id("note-input").fill("Seen on the wall, calling the patient")
    shot(page, "alert-explained", shots)
    card.locator(".alert-details .btn-ack").click()
    page.locator(
        f"[data-testid=alert-card][data-alert-id='{alert_id}'][data-status=acknowledged]"
    ).wait_for(timeout=10_000)
    shot(page, "acknowledged", shots)

    token = demo.token("nurse", "nurse-demo")
    body = demo.get(f"/api/v1/alerts/{alert_id}", token).json()
    assert body["status"] == "acknowledged"
    assert body["acknowledged_by"] == "nurse"
    assert [n["text"] for n in body["notes"]] == ["Seen on the wall, calling the patient"]

    page.goto(f"{demo.base}/#/patients/{body['patient_id']}")
    page.get_by_test_id("vitals-charts").locator(".uplot").first.wait_for(timeout=30_000)
    page.get_by_test_id("alert-timeline").locator("li").first.wait_for(timeout=10_000)
    shot(page, "patient", shots, full_page=True)
    page.close()
    assert errors == []
    with capsys.disabled():
        print("\nscreenshots:\n" + "\n".join(f"  {p}" for p in shots))  # noqa: T201 - asked for


def test_the_patient_login_sees_only_p0001_in_ui_and_api(
    demo: Demo, browser: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    sign_in(page, demo.base, "patient1", "patient-demo")
    page.get_by_test_id("patient-title").wait_for(timeout=30_000)
    assert page.get_by_test_id("patient-title").inner_text().startswith("P0001")
    page.goto(f"{demo.base}/#/wall")
    page.get_by_test_id("patient-tile").first.wait_for(timeout=30_000)
    assert page.eval_on_selector_all(
        "[data-testid=patient-tile]", "els => els.map(e => e.dataset.patientId)"
    ) == ["P0001"]
    assert set(
        page.eval_on_selector_all(
            "[data-testid=alert-card]", "els => els.map(e => e.dataset.patientId)"
        )
    ) <= {"P0001"}
    shots: list[Path] = []
    shot(page, "patient-login", shots)
    page.close()

    token = demo.token("patient1", "patient-demo")
    assert [p["patient_id"] for p in demo.get("/api/v1/patients", token).json()["items"]] == [
        "P0001"
    ]
    assert demo.get("/api/v1/patients/P0001/vitals/latest", token).status_code == 200
    for path in (
        "/api/v1/patients/P0002",
        "/api/v1/patients/P0002/vitals/latest",
        "/api/v1/patients/P0002/news2",
    ):
        assert demo.get(path, token).status_code in (403, 404), path
    alerts = demo.get("/api/v1/alerts", token, limit=200).json()["items"]
    assert {a["patient_id"] for a in alerts} <= {"P0001"}
    with capsys.disabled():
        print(f"\nscreenshot: {shots[0]}")  # noqa: T201 - the issue asks for the paths


def test_signing_out_revokes_the_nurses_tokens_on_the_server(demo: Demo, browser: Any) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    sign_in(page, demo.base, "nurse", "nurse-demo")
    page.get_by_test_id("patient-tile").first.wait_for(timeout=30_000)
    session = page.evaluate("() => JSON.parse(sessionStorage.getItem('vigil.session'))")
    with page.expect_response(lambda r: r.url.endswith("/api/v1/auth/revoke")) as revoked:
        page.locator("#logout").click()
    assert revoked.value.status == 200
    page.get_by_test_id("login-form").wait_for(timeout=10_000)
    assert page.evaluate("() => sessionStorage.getItem('vigil.session')") is None
    page.close()
    assert errors == []

    refreshed = httpx.post(
        f"{demo.base}/api/v1/auth/token",
        data={"grant_type": "refresh_token", "refresh_token": session["refresh_token"]},
        timeout=10,
    )
    assert refreshed.status_code == 401 and refreshed.json()["error"] == "invalid_grant"
    assert demo.get("/api/v1/auth/me", session["token"]).status_code == 401
