"""Cursors and filters of the list machinery (no I/O)."""

from __future__ import annotations

import pytest

from fleet.errors import InvalidInput
from fleet.inventory.resources import SITE
from fleet.pagination import ListParams, apply, decode_cursor, encode_cursor


def test_cursor_round_trip() -> None:
    cursor = encode_cursor("-name", "Makalondi", 42)
    assert decode_cursor(cursor, "-name") == ("Makalondi", 42)
    assert "=" not in cursor


@pytest.mark.parametrize("garbage", ["", "x", "!!!!", "WyJhIl0", "bnVsbA", "WyJuYW1lIiwxLCJ4Il0"])
def test_garbage_cursor_is_invalid_input(garbage: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        decode_cursor(garbage, "name")
    assert caught.value.field == "cursor"


def test_cursor_of_other_sort() -> None:
    with pytest.raises(InvalidInput, match="another sort"):
        decode_cursor(encode_cursor("code", "A", 1), "name")


def test_unknown_filter_names_known_ones() -> None:
    with pytest.raises(InvalidInput) as caught:
        apply(SITE.select(), SITE.list_spec, ListParams(filters={"contry": "NE"}), max_limit=100)
    assert caught.value.field == "contry"
    assert "country" in caught.value.detail


def test_enum_filter_values_are_checked() -> None:
    with pytest.raises(InvalidInput, match="not one of"):
        apply(
            SITE.select(), SITE.list_spec, ListParams(filters={"kind": "hq,castle"}), max_limit=100
        )


def test_limit_bounds() -> None:
    for limit in (0, 11):
        with pytest.raises(InvalidInput) as caught:
            apply(SITE.select(), SITE.list_spec, ListParams(limit=limit), max_limit=10)
        assert caught.value.field == "limit"
