"""Prometheus metrics kept by this process: probe results and durations, scheduler lateness, API
requests and the status stream. The live view (sites, devices and links by state) is read from
the database when ``/metrics`` is scraped (see ``fleet.api.metrics``), so it is right whichever
process runs the probes.

Every label takes its values from a closed set (probe kinds, probe statuses, HTTP methods, route
templates, status codes), never from raw input, so the number of series is bounded.
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
)

from fleet.probes.types import ProbeStatus, Reading

REGISTRY = CollectorRegistry(auto_describe=True)
for _collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
    REGISTRY.register(_collector)

PROBE_KINDS = frozenset({"snmp", "ssh", "http", "tcp"})
PROBE_STATUSES = frozenset(s.value for s in ProbeStatus)
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

PROBE_RESULTS = Counter(
    "fleet_probe_results",
    "Probe results by probe kind and status (ok, timeout, refused, auth_failed, ...).",
    ["kind", "status"],
    registry=REGISTRY,
)
PROBE_DURATION = Histogram(
    "fleet_probe_duration_seconds",
    "Time one probe took, retries included, by probe kind.",
    ["kind"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
    registry=REGISTRY,
)
SCHEDULER_LATENESS = Histogram(
    "fleet_scheduler_lateness_seconds",
    "How late a device's probe round started against its schedule.",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0),
    registry=REGISTRY,
)
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


# The labelled series of every probe round, looked up once each (``labels()`` costs more than
# the update itself, and every round makes one).
_RESULT_SERIES: dict[tuple[str, str], Counter] = {}
_DURATION_SERIES: dict[str, Histogram] = {}


def observe_readings(readings: Iterable[Reading]) -> None:
    """Count probe results and their durations."""
    for reading in readings:
        kind = reading.kind if reading.kind in PROBE_KINDS else "other"
        status = reading.status.value if reading.status.value in PROBE_STATUSES else "other"
        results = _RESULT_SERIES.get((kind, status))
        if results is None:
            results = _RESULT_SERIES[(kind, status)] = PROBE_RESULTS.labels(kind, status)
        duration = _DURATION_SERIES.get(kind)
        if duration is None:
            duration = _DURATION_SERIES[kind] = PROBE_DURATION.labels(kind)
        results.inc()
        duration.observe(max(0.0, reading.duration_ms / 1000))


def observe_lateness(seconds: float) -> None:
    SCHEDULER_LATENESS.observe(max(0.0, seconds))


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    """One API request; ``route`` must be a route template, never the raw path."""
    method = method if method in HTTP_METHODS else "other"
    HTTP_REQUESTS.labels(method, route, str(status)).inc()
    HTTP_DURATION.labels(method, route).observe(seconds)
