"""The probe metrics kept without locks render as prometheus_client's own histogram would."""

from __future__ import annotations

import random

from prometheus_client import CollectorRegistry, Histogram, generate_latest

from fleet import metrics
from fleet.metrics import LATENESS_BUCKETS, LoopHistogram
from fleet.probes.types import ProbeStatus, Reading, utcnow


def _samples(text: str, name: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith(name) and "_created" not in line]


def test_a_loop_histogram_counts_as_prometheus_client_does() -> None:
    rng = random.Random(3)
    values = [rng.choice([0.0, 0.01, 0.1, 60.0, 61.0]) or rng.expovariate(2) for _ in range(500)]
    reference = CollectorRegistry()
    theirs = Histogram("x_seconds", "x", buckets=LATENESS_BUCKETS, registry=reference)
    ours = LoopHistogram(LATENESS_BUCKETS)
    for value in values:
        theirs.observe(value)
        ours.observe(value)
    expected = {
        line.split(" ")[0].split("{")[-1]: float(line.split(" ")[1])
        for line in _samples(generate_latest(reference).decode(), "x_seconds_bucket")
    }
    buckets, total = ours.buckets()
    assert {f'le="{le}"}}': count for le, count in buckets} == expected  # bounds included
    assert buckets[-1] == ("+Inf", 500.0)
    assert abs(total - sum(values)) < 1e-6


def test_probe_metrics_are_exposed() -> None:
    before = generate_latest(metrics.REGISTRY).decode()
    metrics.observe_readings([Reading("tcp", 1, ProbeStatus.REFUSED, utcnow(), duration_ms=30.0)])
    metrics.observe_lateness(0.2)
    after = generate_latest(metrics.REGISTRY).decode()

    def value(text: str, sample: str) -> float:
        found = [line for line in text.splitlines() if line.startswith(sample + " ")]
        return float(found[0].rsplit(" ", 1)[1]) if found else 0.0

    refused = 'fleet_probe_results_total{kind="tcp",status="refused"}'
    assert value(after, refused) == value(before, refused) + 1
    bucket = 'fleet_probe_duration_seconds_bucket{kind="tcp",le="0.05"}'
    assert value(after, bucket) == value(before, bucket) + 1
    late = 'fleet_scheduler_lateness_seconds_bucket{le="0.25"}'
    assert value(after, late) == value(before, late) + 1
    assert "# TYPE fleet_scheduler_lateness_seconds histogram" in after
