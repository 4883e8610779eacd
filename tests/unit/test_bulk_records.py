"""Rows as the driver takes them: tuples in the statement's order, converted where needed; and
the garbage collector held off during a bulk pass."""

from __future__ import annotations

import gc

import pytest

from fleet.bulk import _memoised, _records, collector_held


def test_records_in_order_with_conversions() -> None:
    calls: list[object] = []

    def stamp(value: object) -> object:
        calls.append(value)
        return f"<{value}>"

    rows = [{"a": 1, "b": "x", "c": 7}, {"a": 2, "b": "y", "c": 7}]
    assert _records(rows, ["c", "a"], [None, None]) == [(7, 1), (7, 2)]
    assert _records(rows, ["b"], [None]) == [("x",), ("y",)]
    assert _records(rows, ["b", "c"], [None, _memoised(stamp)]) == [("x", "<7>"), ("y", "<7>")]
    assert calls == [7]  # the same value is converted once
    assert _records(rows, ["c"], [_memoised(stamp)]) == [("<7>",), ("<7>",)]
    unhashable = _memoised(lambda value: len(value))  # type: ignore[arg-type]
    assert unhashable([1, 2]) == 2


def test_the_collector_is_held_for_the_outermost_hold_only() -> None:
    assert gc.isenabled()
    with collector_held():
        assert not gc.isenabled()
        with collector_held():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the outer hold still stands
    assert gc.isenabled()
    gc.disable()  # held by someone else: left as it was
    try:
        with collector_held():
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        gc.enable()
    with pytest.raises(RuntimeError), collector_held():
        raise RuntimeError("a failed pass")
    assert gc.isenabled()
