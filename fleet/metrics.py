"""The process's Prometheus registry, with the core's own metrics: API requests and the status
stream. Probe metrics live with the probes (``fleet.probes.metrics``), in this registry. The live
view (sites, devices and links by state) is read from the database when ``/metrics`` is scraped
(see ``fleet.api.metrics``), so it is right whichever process runs the probes.

Every label takes its values from a closed set (HTTP methods, route templates, status codes),
never from raw input, so the number of series is bounded.
"""

from __future__ import annotations

from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
)

REGISTRY = CollectorRegistry(auto_describe=True)
for _collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
    REGISTRY.register(_collector)

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


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    """One API request; ``route`` must be a route template, never the raw path."""
    method = method if method in HTTP_METHODS else "other"
    HTTP_REQUESTS.labels(method, route, str(status)).inc()
    HTTP_DURATION.labels(method, route).observe(seconds)
