"""The probe metrics are exposed in the process's one registry under their dashboard names."""

from __future__ import annotations

from prometheus_client import generate_latest

from fleet.metrics import REGISTRY
from fleet.probes import metrics
from fleet.probes.types import ProbeStatus, Reading, utcnow


def _value(text: str, sample: str) -> float:
    found = [line for line in text.splitlines() if line.startswith(sample + " ")]
    return float(found[0].rsplit(" ", 1)[1]) if found else 0.0


def test_probe_metrics_are_exposed() -> None:
    before = generate_latest(REGISTRY).decode()
    metrics.observe_readings([Reading("tcp", 1, ProbeStatus.REFUSED, utcnow(), duration_ms=30.0)])
    metrics.observe_lateness(0.2)
    after = generate_latest(REGISTRY).decode()

    refused = 'fleet_probe_results_total{kind="tcp",status="refused"}'
    assert _value(after, refused) == _value(before, refused) + 1
    bucket = 'fleet_probe_duration_seconds_bucket{kind="tcp",le="0.05"}'
    assert _value(after, bucket) == _value(before, bucket) + 1
    late = 'fleet_scheduler_lateness_seconds_bucket{le="0.25"}'
    assert _value(after, late) == _value(before, late) + 1
    assert "# TYPE fleet_scheduler_lateness_seconds histogram" in after


def test_unknown_kinds_and_statuses_count_as_other() -> None:
    before = generate_latest(REGISTRY).decode()
    metrics.observe_readings([Reading("telnet", 1, ProbeStatus.OK, utcnow(), duration_ms=1.0)])
    after = generate_latest(REGISTRY).decode()
    other = 'fleet_probe_results_total{kind="other",status="ok"}'
    assert _value(after, other) == _value(before, other) + 1
