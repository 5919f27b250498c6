"""The care-team dashboard: static files (HTML, JS modules, CSS) served by the API at ``/``.

The sources live in ``api/static/``; the charting library (uPlot) is installed from npm by
``make assets`` into the git-ignored ``api/static/vendor/`` (no CDN: the dashboard works with
no internet). Mount it after the API routers so ``/api/v1``, ``/fhir/r4`` and the ops routes
keep precedence.

Examples
--------
>>> from fastapi import FastAPI
>>> app = FastAPI()
>>> mount_dashboard(app)
>>> [r.name for r in app.routes][-1]
'dashboard'
"""

from __future__ import annotations

import logging
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

__all__ = ["STATIC_DIR", "VENDOR_DIR", "mount_dashboard"]

logger = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent / "static"
VENDOR_DIR = STATIC_DIR / "vendor"
#: Files the dashboard imports from the vendor directory.
VENDOR_FILES = ("uPlot.esm.js", "uPlot.min.css")


def mount_dashboard(app: FastAPI) -> None:
    """Serve the dashboard at ``/`` (``index.html`` for the root)."""
    missing = [f for f in VENDOR_FILES if not (VENDOR_DIR / f).is_file()]
    if missing:
        logger.warning("dashboard charts missing (%s): run `make assets`", ", ".join(missing))
    app.mount("/", StaticFiles(directory=STATIC_DIR, html=True), name="dashboard")
