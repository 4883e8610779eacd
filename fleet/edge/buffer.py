"""The edge poller's SQLite file: its targets (the credentials in them encrypted with the edge
key) and a bounded buffer of the rounds not yet sent, which survives a restart.

The buffer holds at most ``max_rows`` rounds, none older than ``max_age_s``: adding a round
drops the oldest beyond either bound, and counts them (the count goes to central with the
heartbeat). Rounds leave in order, oldest first (by time, then as added), and only once
central has stored them."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from fleet.inventory.credentials import Cipher
from fleet.models import utcnow

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB NOT NULL)",
    "CREATE TABLE IF NOT EXISTS buffered (id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " device_id INTEGER NOT NULL, seq INTEGER NOT NULL, at TEXT NOT NULL, body TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS buffered_at ON buffered (at, id)",
)


@dataclass(frozen=True)
class Targets:
    """What the edge last read of its targets: the devices' documents, their ETag, and the
    interval of a device that sets none."""

    devices: list[dict[str, Any]]
    etag: str | None
    probe_interval_s: float


@dataclass(frozen=True)
class Depth:
    """The buffer: rounds waiting, the oldest one's time, rounds dropped since it began."""

    rounds: int
    oldest: datetime | None
    dropped: int


def sequence_of(at: datetime) -> int:
    """A round's sequence number: its start in microseconds since the epoch. It grows with
    every round of a device (one runs at a time) and needs no counter, so a lost or replaced
    edge file never numbers a new round as an old one."""
    return int(at.timestamp() * 1_000_000)


class EdgeStore:
    """The edge's file. Calls are short and local; the poller makes them from its loop."""

    def __init__(self, path: Path, cipher: Cipher, max_rows: int, max_age_s: int) -> None:
        self.cipher, self.max_rows, self.max_age = cipher, max_rows, timedelta(seconds=max_age_s)
        self.db = sqlite3.connect(path, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        for statement in _SCHEMA:
            self.db.execute(statement)

    def close(self) -> None:
        self.db.close()

    # --- targets ----------------------------------------------------------------------

    def save_targets(self, targets: Targets) -> None:
        document = {
            "devices": targets.devices,
            "etag": targets.etag,
            "probe_interval_s": targets.probe_interval_s,
        }
        self._set("targets", self.cipher.encrypt_document(document))

    def targets(self) -> Targets | None:
        """The targets last saved, or None (never read from central yet)."""
        blob = self._get("targets")
        if blob is None:
            return None
        document = self.cipher.decrypt_document(bytes(blob))
        return Targets(document["devices"], document["etag"], document["probe_interval_s"])

    # --- the buffer -------------------------------------------------------------------

    def add(self, device_id: int, at: datetime, readings: list[dict[str, Any]]) -> int:
        """Buffer a round, then keep the bounds; how many rounds they dropped."""
        body = json.dumps(readings, separators=(",", ":"))
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.execute(
                "INSERT INTO buffered (device_id, seq, at, body) VALUES (?, ?, ?, ?)",
                (device_id, sequence_of(at), _text(at), body),
            )
            return self._bound()

    def _bound(self) -> int:
        too_old = _text(utcnow() - self.max_age)
        dropped = self.db.execute("DELETE FROM buffered WHERE at < ?", (too_old,)).rowcount
        over = self._count() - self.max_rows
        if over > 0:
            dropped += self.db.execute(
                "DELETE FROM buffered WHERE id IN"
                " (SELECT id FROM buffered ORDER BY at, id LIMIT ?)",
                (over,),
            ).rowcount
        if dropped:
            self._set("dropped", str(self.dropped() + dropped).encode())
        return dropped

    def batch(self, size: int) -> list[tuple[int, dict[str, Any]]]:
        """The oldest ``size`` rounds, as central takes them, with their buffer ids."""
        rows = self.db.execute(
            "SELECT id, device_id, seq, at, body FROM buffered ORDER BY at, id LIMIT ?", (size,)
        ).fetchall()
        return [
            (row_id, {"device_id": device_id, "seq": seq, "at": at, "readings": json.loads(body)})
            for row_id, device_id, seq, at, body in rows
        ]

    def remove(self, ids: list[int]) -> None:
        """Forget rounds central stored."""
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.executemany("DELETE FROM buffered WHERE id = ?", [(i,) for i in ids])

    def depth(self) -> Depth:
        count, oldest = self.db.execute("SELECT count(*), min(at) FROM buffered").fetchone()
        return Depth(int(count), datetime.fromisoformat(oldest) if oldest else None, self.dropped())

    def dropped(self) -> int:
        value = self._get("dropped")
        return int(bytes(value).decode()) if value is not None else 0

    def count_dropped(self, rounds: int) -> None:
        """Count rounds dropped otherwise (a batch central refused for good)."""
        self._set("dropped", str(self.dropped() + rounds).encode())

    def _count(self) -> int:
        return int(self.db.execute("SELECT count(*) FROM buffered").fetchone()[0])

    def _get(self, key: str) -> Any:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def _set(self, key: str, value: bytes) -> None:
        self.db.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )


def _text(at: datetime) -> str:
    """A time as sortable text: UTC, ISO 8601, always with microseconds."""
    return at.astimezone(utcnow().tzinfo).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")
