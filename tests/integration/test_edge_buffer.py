"""The edge poller's buffer in its SQLite file: bounded in rows and in age (the oldest dropped
first, and counted), in order, encrypted targets, and all of it kept across a restart."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from fleet.edge.buffer import EdgeStore, Targets, sequence_of
from fleet.inventory.credentials import Cipher, NoKey
from fleet.models import utcnow

READING = [{"kind": "tcp", "status": "ok"}]


def _store(path: Path, key: str, rows: int = 5, age_s: int = 3600) -> EdgeStore:
    return EdgeStore(path, Cipher(key), rows, age_s)


def test_the_oldest_rounds_beyond_the_row_bound_are_dropped_and_counted(tmp_path: Path) -> None:
    key = Fernet.generate_key().decode()
    store = _store(tmp_path / "edge.db", key, rows=5)
    start = utcnow() - timedelta(minutes=10)
    dropped = [store.add(1, start + timedelta(seconds=n), READING) for n in range(8)]
    assert dropped == [0, 0, 0, 0, 0, 1, 1, 1]
    batch = store.batch(10)
    assert [round_["seq"] for _, round_ in batch] == [
        sequence_of(start + timedelta(seconds=n)) for n in range(3, 8)
    ]
    depth = store.depth()
    assert (depth.rounds, depth.dropped) == (5, 3)
    assert depth.oldest == start + timedelta(seconds=3)
    store.close()


def test_rounds_older_than_the_age_bound_are_dropped_and_counted(tmp_path: Path) -> None:
    key = Fernet.generate_key().decode()
    store = _store(tmp_path / "edge.db", key, rows=100, age_s=120)
    now = utcnow()
    assert store.add(1, now - timedelta(seconds=90), READING) == 0
    assert store.add(2, now - timedelta(seconds=70), READING) == 0
    assert store.add(3, now - timedelta(seconds=200), READING) == 1  # too old already
    store.max_age = timedelta(seconds=60)  # as if a minute had passed with the bound at 120 s
    assert store.add(1, now - timedelta(seconds=10), READING) == 2
    assert store.depth().rounds == 1
    assert store.depth().dropped == 3


def test_the_buffer_and_the_targets_survive_a_restart_and_stay_encrypted(tmp_path: Path) -> None:
    key = Fernet.generate_key().decode()
    path = tmp_path / "edge.db"
    store = _store(path, key)
    now = utcnow()
    store.add(7, now - timedelta(seconds=2), READING)
    store.add(8, now - timedelta(seconds=1), READING)
    device = {"device_id": 7, "target": {"snmp": {"credentials": {"community": "s3cret-c0mm"}}}}
    store.save_targets(Targets([device], '"abc"', 60))
    first = store.batch(1)
    store.remove([first[0][0]])
    store.close()
    assert b"s3cret-c0mm" not in path.read_bytes()
    again = _store(path, key)
    assert again.targets() == Targets([device], '"abc"', 60)
    assert [round_["device_id"] for _, round_ in again.batch(10)] == [8]
    again.close()
    with pytest.raises(NoKey):
        _store(path, Fernet.generate_key().decode()).targets()
