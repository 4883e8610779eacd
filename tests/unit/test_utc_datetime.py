"""UTCDateTime's SQLite bind processor writes exactly what SQLAlchemy's own SQLite DATETIME
would, and reads back the same instant."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone

import sqlalchemy as sa
from sqlalchemy.dialects import sqlite
from sqlalchemy.sql import sqltypes

from fleet.models import UTCDateTime


def _samples(count: int) -> list[datetime]:
    rng = random.Random(7)
    found: list[datetime] = [datetime(1, 1, 1), datetime(9999, 12, 31, 23, 59, 59, 999999)]
    while len(found) < count:
        value = datetime(
            rng.randint(2, 9998),
            rng.randint(1, 12),
            rng.randint(1, 28),
            rng.randint(0, 23),
            rng.randint(0, 59),
            rng.randint(0, 59),
            rng.choice([0, rng.randint(0, 999_999)]),
        )
        zone = rng.choice([None, UTC, timezone(timedelta(minutes=rng.randint(-720, 720)))])
        found.append(value if zone is None else value.replace(tzinfo=zone))
    return found


def test_sqlite_text_is_sqlalchemys() -> None:
    dialect = sqlite.dialect()
    column = UTCDateTime()
    ours = column.dialect_impl(dialect).bind_processor(dialect)
    theirs = sqltypes.DateTime(timezone=True).dialect_impl(dialect).bind_processor(dialect)
    assert ours is not None
    assert theirs is not None
    for value in _samples(5000):
        assert ours(value) == theirs(column.process_bind_param(value, dialect)), value
    assert ours(None) is None


def test_round_trip_on_sqlite() -> None:
    table = sa.Table("t", sa.MetaData(), sa.Column("at", UTCDateTime()))
    engine = sa.create_engine("sqlite://")
    table.create(engine)
    values = _samples(200)
    with engine.begin() as connection:
        connection.execute(table.insert(), [{"at": v} for v in values])
        back = connection.scalars(sa.select(table.c.at)).all()
    for value, read in zip(values, back, strict=True):
        expected = value.replace(tzinfo=UTC) if value.tzinfo is None else value
        assert read == expected
        assert read.tzinfo is UTC
