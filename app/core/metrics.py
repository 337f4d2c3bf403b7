"""Prometheus metrics: request latency by route template, jobs by status (read at scrape)."""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from starlette.types import ASGIApp, Receive, Scope, Send


class Metrics:
    """One registry per application (tests create several apps in one process)."""

    def __init__(self):
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "designer_http_requests", "HTTP requests", ["method", "route", "status"], registry=self.registry
        )
        self.latency = Histogram(
            "designer_http_request_duration_seconds", "HTTP request latency", ["method", "route"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
        self.replays = Counter(
            "designer_idempotent_replays_answered", "Retried submissions answered from the replay cache "
            "(a fresh read of the job, without the route)", registry=self.registry,
        )

    def register_job_gauges(self, read_counts) -> None:
        """``read_counts()`` returns {status: count}; called at each scrape."""

        class _Jobs:
            def collect(self):
                family = GaugeMetricFamily("designer_jobs", "Jobs by status", labels=["status"])
                for status, count in sorted(read_counts().items()):
                    family.add_metric([status], count)
                yield family

        self.registry.register(_Jobs())


class MetricsMiddleware:
    """Times every HTTP request; labels by the matched route template, not the raw path."""

    def __init__(self, app: ASGIApp, metrics: Metrics):
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status_holder = {"status": 500}

        async def _send(message):
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, _send)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            method = scope["method"]
            self.metrics.requests.labels(method, template, str(status_holder["status"])).inc()
            self.metrics.latency.labels(method, template).observe(time.perf_counter() - start)
