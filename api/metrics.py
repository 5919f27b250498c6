"""Prometheus metrics of the API: requests by route template, latency, live-stream clients.

Each app gets its own :class:`~prometheus_client.CollectorRegistry`, so several apps in one
process (tests, the embedded demo) do not collide. Routes are labelled by their template
(``/api/v1/patients/{patient_id}``), never by the concrete path: patient ids stay out of the
metrics and the label set stays bounded.

Examples
--------
>>> m = ApiMetrics()
>>> m.observe("GET", "/api/v1/alerts", 200, 0.012)
>>> b"vigil_api_requests_total" in m.render()
True
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from fastapi.routing import iter_route_contexts
from prometheus_client import CONTENT_TYPE_LATEST as PROMETHEUS_CONTENT_TYPE
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

__all__ = ["PROMETHEUS_CONTENT_TYPE", "ApiMetrics", "MetricsMiddleware"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class ApiMetrics:
    """The API's metric families on a private registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "vigil_api_requests",
            "HTTP requests handled, by method, route template and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "vigil_api_request_seconds",
            "Time to the response's first byte, by method and route template.",
            ["method", "route"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
            registry=self.registry,
        )
        self.sse_clients = Gauge(
            "vigil_api_sse_clients", "Connected live-stream clients.", registry=self.registry
        )
        self.sse_events = Counter(
            "vigil_api_sse_events", "Events published to the live stream.", registry=self.registry
        )
        self.alerts_received = Counter(
            "vigil_api_bus_alerts",
            "Alert records received from the alert bus.",
            registry=self.registry,
        )

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one request."""
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)

    def render(self) -> bytes:
        """The text exposition format."""
        return generate_latest(self.registry)


class MetricsMiddleware:
    """ASGI middleware timing each HTTP request to its response start."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics
        # Built on the first request: routes are fixed once the app serves.
        self._table: list[tuple[Any, str]] | None = None

    def _route(self, scope: Scope) -> str:
        """The template of the route ``scope`` matches (``unmatched`` if none)."""
        if self._table is None:
            self._table = _route_table(scope.get("app"))
        path = scope.get("path", "")
        for regex, template in self._table:
            if regex.match(path):
                return template
        return "unmatched"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                self.metrics.observe(
                    scope["method"], self._route(scope), status, time.perf_counter() - start
                )
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except Exception:
            self.metrics.observe(
                scope["method"], self._route(scope), 500, time.perf_counter() - start
            )
            raise


def _route_table(app: object) -> list[tuple[Any, str]]:
    routes = getattr(getattr(app, "router", None), "routes", [])
    return [
        (rc.path_regex, str(rc.path_format))
        for rc in iter_route_contexts(routes)
        if getattr(rc, "path_regex", None) is not None
    ]
