"""Health and metrics, opt-in (``[ops] listen``): ``/healthz`` and ``/metrics`` on a
loopback address.

``/healthz`` answers 200 when the database takes a write, every adapter is connected and
the scheduler runs, else 503 naming the parts that failed. ``/metrics`` is Prometheus'
text format from ``prometheus-client``. No label or value carries anything about a
person, a room, a letter or a text: labels are event kinds (the neutral event types),
platform names and outcomes, all from fixed sets.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from bot.observe import Observer, stats_of

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric

    from bot.app import App

log = logging.getLogger("undersign.ops")

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
LATENESS_BUCKETS = (0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0)


class _AdapterCollector(Collector):
    """Each adapter's own counts, read when scraped."""

    def __init__(self, adapters: Mapping[str, object]) -> None:
        self._adapters = adapters

    def collect(self) -> Iterable[Metric]:
        connected = GaugeMetricFamily("undersign_adapter_connected",
                                      "1 when the platform connection is up", labels=["platform"])
        reconnects = CounterMetricFamily("undersign_reconnects",
                                         "Connections made again after a failure",
                                         labels=["platform"])
        waits = CounterMetricFamily("undersign_rate_limit_waits",
                                    "Waits the platform's rate limit imposed",
                                    labels=["platform"])
        for platform, adapter in self._adapters.items():
            stats = stats_of(adapter)
            connected.add_metric([platform], 1.0 if stats.connected else 0.0)
            reconnects.add_metric([platform], stats.reconnects)
            waits.add_metric([platform], stats.rate_limit_waits)
        return iter((connected, reconnects, waits))


class Metrics(Observer):
    """The Observer that counts, in a registry of its own."""

    def __init__(self, adapters: Mapping[str, object]) -> None:
        self.registry = CollectorRegistry()
        self._events = Counter("undersign_events", "Events handled, by kind and platform",
                               ["kind", "platform", "result"], registry=self.registry)
        self._latency = Histogram("undersign_event_seconds",
                                  "Time from an event's arrival to its committed answer",
                                  ["kind"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self._replies = Counter("undersign_replies", "Replies handed to a platform",
                                ["platform", "result"], registry=self.registry)
        self._lateness = Histogram("undersign_timer_lateness_seconds",
                                   "How late a review, reminder or deadline fired",
                                   buckets=LATENESS_BUCKETS, registry=self.registry)
        self.registry.register(_AdapterCollector(adapters))

    def event(self, kind: str, platform: str, seconds: float, ok: bool) -> None:
        self._events.labels(kind, platform, "ok" if ok else "failed").inc()
        self._latency.labels(kind).observe(seconds)

    def reply(self, platform: str, sent: bool) -> None:
        self._replies.labels(platform, "sent" if sent else "failed").inc()

    def timer(self, lateness: float) -> None:
        self._lateness.observe(max(0.0, lateness))

    def text(self) -> bytes:
        return generate_latest(self.registry)


class Ops:
    """The ``[ops]`` HTTP server of one App."""

    def __init__(self, app: App, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics
        self._runner: web.AppRunner | None = None
        self.port = 0

    async def problems(self) -> list[str]:
        """What is wrong, in words that name no person, room or letter; empty when healthy."""
        found = []
        if not await self.app.store.writable():
            found.append("database: not writable")
        for platform, adapter in self.app.adapters.items():
            if not stats_of(adapter).connected:
                found.append(f"{platform}: not connected")
        if not self.app.scheduler.running:
            found.append("scheduler: not running")
        return found

    async def _healthz(self, _: web.Request) -> web.Response:
        found = await self.problems()
        body = "\n".join(found) + "\n" if found else "ok\n"
        return web.Response(text=body, status=503 if found else 200)

    async def _metrics(self, _: web.Request) -> web.Response:
        return web.Response(body=self.metrics.text(),
                            headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"})

    async def start(self, host: str, port: int) -> None:
        web_app = web.Application()
        web_app.router.add_get("/healthz", self._healthz)
        web_app.router.add_get("/metrics", self._metrics)
        self._runner = web.AppRunner(web_app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, host, port).start()
        address = self._runner.addresses[0] if self._runner.addresses else None
        self.port = int(address[1]) if address else port
        log.info("health and metrics on %s:%d", host, self.port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


__all__ = ["Metrics", "Ops"]
