"""Prometheus metrics of the probes kept by this process: results, durations and scheduler
lateness, in the process's one registry (``fleet.metrics.REGISTRY``).

Labels take their values from closed sets (probe kinds, probe statuses), never from raw input.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache

from prometheus_client import Counter, Histogram

from fleet.metrics import REGISTRY
from fleet.probes.types import ProbeStatus, Reading

PROBE_KINDS = frozenset({"snmp", "ssh", "http", "tcp"})
PROBE_STATUSES = frozenset(s.value for s in ProbeStatus)
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
LATENESS_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

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
    buckets=DURATION_BUCKETS,
    registry=REGISTRY,
)
SCHEDULER_LATENESS = Histogram(
    "fleet_scheduler_lateness_seconds",
    "How late a device's probe round started against its schedule.",
    buckets=LATENESS_BUCKETS,
    registry=REGISTRY,
)


# A labelled child looked up once per label set: ``labels()`` checks its arguments and takes a
# lock on every call, which doubled the cost of the probe metrics a poll (bench/README.md).
@cache
def _results(kind: str, status: str) -> Counter:
    return PROBE_RESULTS.labels(kind, status)


@cache
def _duration(kind: str) -> Histogram:
    return PROBE_DURATION.labels(kind)


def observe_readings(readings: Iterable[Reading]) -> None:
    """Count probe results and their durations."""
    for reading in readings:
        kind = reading.kind if reading.kind in PROBE_KINDS else "other"
        status = str(reading.status) if reading.status in PROBE_STATUSES else "other"
        _results(kind, status).inc()
        _duration(kind).observe(max(0.0, reading.duration_ms / 1000))


def observe_lateness(seconds: float) -> None:
    SCHEDULER_LATENESS.observe(max(0.0, seconds))
