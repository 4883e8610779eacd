"""Rows as the driver takes them: tuples in the statement's order, converted where needed."""

from __future__ import annotations

from fleet.bulk import _memoised, _records


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
