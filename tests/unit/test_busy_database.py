"""SQLite's write lock held past the busy timeout is a 503 with Retry-After, never a 500."""

from __future__ import annotations

import sqlite3

from sqlalchemy.exc import OperationalError

from fleet.api.problems import problem_body, problem_type


def test_database_is_locked_is_503_with_retry_after() -> None:
    exc = OperationalError(
        "INSERT INTO site ...", {}, sqlite3.OperationalError("database is locked")
    )
    assert problem_type(exc).status == 503
    body, headers = problem_body(exc, "/api/v1/sites", "rid")
    assert body["status"] == 503
    assert body["type"] == "urn:fleet:problem:busy"
    assert "retry" in body["detail"]
    assert int(headers["Retry-After"]) > 0


def test_other_operational_errors_stay_internal() -> None:
    exc = OperationalError("SELECT 1", {}, sqlite3.OperationalError("disk I/O error"))
    assert problem_type(exc).status == 500
