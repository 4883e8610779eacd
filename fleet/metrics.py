"""Prometheus metrics kept by this process: probe results and durations, scheduler lateness, API
requests and the status stream. The live view (sites, devices and links by state) is read from
the database when ``/metrics`` is scraped (see ``fleet.api.metrics``), so it is right whichever
process runs the probes.

Every label takes its values from a closed set (probe kinds, probe statuses, HTTP methods, route
templates, status codes), never from raw input, so the number of series is bounded.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Iterable, Iterator, Sequence

from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
)
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from fleet.probes.types import ProbeStatus, Reading

REGISTRY = CollectorRegistry(auto_describe=True)
for _collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
    REGISTRY.register(_collector)

PROBE_KINDS = frozenset({"snmp", "ssh", "http", "tcp"})
PROBE_STATUSES = frozenset(s.value for s in ProbeStatus)
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

HTTP_REQUESTS = Counter(
    "fleet_http_requests",
    "API requests by method, route template and status code.",
    ["method", "route", "status"],
    registry=REGISTRY,
)
HTTP_DURATION = Histogram(
    "fleet_http_request_duration_seconds",
    "Time to the start of the response, by method and route template.",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
    registry=REGISTRY,
)
STREAM_CLIENTS = Gauge(
    "fleet_stream_clients",
    "Status stream clients connected to this process.",
    registry=REGISTRY,
)
STREAM_DROPPED = Counter(
    "fleet_stream_clients_dropped",
    "Status stream clients disconnected because they did not keep up.",
    registry=REGISTRY,
)
STREAM_EVENTS = Counter(
    "fleet_stream_events",
    "State events read from the database by this process's stream poller.",
    registry=REGISTRY,
)


class LoopHistogram:
    """A histogram updated by the event loop alone, without the lock prometheus_client's
    takes on every update (a probe round makes three updates). Rendered by
    :class:`ProbeCollector` at scrape time, from a copy, so counts and sum agree."""

    __slots__ = ("bounds", "counts", "total")

    def __init__(self, bounds: Sequence[float]) -> None:
        self.bounds = list(bounds)
        self.counts = [0] * (len(self.bounds) + 1)  # the last counts what is above every bound
        self.total = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.total += value

    def buckets(self) -> tuple[list[tuple[str, float]], float]:
        """Cumulative ``(le, count)`` pairs, ``+Inf`` last, and the sum."""
        counts, total = list(self.counts), self.total
        running, out = 0, []
        for bound, count in zip([*self.bounds, math.inf], counts, strict=True):
            running += count
            out.append(("+Inf" if math.isinf(bound) else str(bound), float(running)))
        return out, total


DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
LATENESS_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
_RESULTS: dict[tuple[str, str], int] = {}  # (kind, status) -> probe results
_DURATIONS: dict[str, LoopHistogram] = {}  # kind -> probe durations
_LATENESS = LoopHistogram(LATENESS_BUCKETS)


class ProbeCollector(Collector):
    """The probe metrics this process keeps: results, durations and scheduler lateness."""

    def collect(self) -> Iterator[Metric]:
        results = CounterMetricFamily(
            "fleet_probe_results",
            "Probe results by probe kind and status (ok, timeout, refused, auth_failed, ...).",
            labels=["kind", "status"],
        )
        for (kind, status), count in sorted(_RESULTS.items()):
            results.add_metric([kind, status], count)
        yield results
        durations = HistogramMetricFamily(
            "fleet_probe_duration_seconds",
            "Time one probe took, retries included, by probe kind.",
            labels=["kind"],
        )
        for kind, histogram in sorted(_DURATIONS.items()):
            buckets, total = histogram.buckets()
            durations.add_metric([kind], buckets, total)
        yield durations
        lateness = HistogramMetricFamily(
            "fleet_scheduler_lateness_seconds",
            "How late a device's probe round started against its schedule.",
        )
        buckets, total = _LATENESS.buckets()
        lateness.add_metric([], buckets, total)
        yield lateness


REGISTRY.register(ProbeCollector())


def observe_readings(readings: Iterable[Reading]) -> None:
    """Count probe results and their durations."""
    for reading in readings:
        kind = reading.kind if reading.kind in PROBE_KINDS else "other"
        status = str(reading.status) if reading.status in PROBE_STATUSES else "other"
        _RESULTS[kind, status] = _RESULTS.get((kind, status), 0) + 1
        duration = _DURATIONS.get(kind)
        if duration is None:
            duration = _DURATIONS[kind] = LoopHistogram(DURATION_BUCKETS)
        duration.observe(max(0.0, reading.duration_ms / 1000))


def observe_lateness(seconds: float) -> None:
    _LATENESS.observe(max(0.0, seconds))


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    """One API request; ``route`` must be a route template, never the raw path."""
    method = method if method in HTTP_METHODS else "other"
    HTTP_REQUESTS.labels(method, route, str(status)).inc()
    HTTP_DURATION.labels(method, route).observe(seconds)
