"""JSON columns' serializer: msgspec's output where it can, the standard library's where msgspec
refuses, so that no document fails to be stored."""

from __future__ import annotations

import json

from fleet.database import json_text


def test_documents_read_back_as_they_were() -> None:
    document = {"a": [1, 2.5, None, True], "b": {"c": "é"}, "big": 2**70, "n": -(2**63) - 1}
    assert json.loads(json_text(document)) == document


def test_what_msgspec_refuses_is_still_written() -> None:
    for document in ({True: 1, None: 2}, {"s": "\ud800"}):
        text = json_text(document)
        assert text == json.dumps(document)
        text.encode("utf-8")  # ASCII escapes: storable anywhere


def test_dataclasses_are_written_as_objects_either_way() -> None:
    """A probe result's interfaces go to the encoder as dataclasses: the same object in both
    encoders (the standard library's when a lone surrogate sends the document there)."""
    from fleet.probes.types import InterfaceReading

    rows = [InterfaceReading(1, "up", 10, 20), InterfaceReading(2, "down")]
    expected = [
        {"index": 1, "oper_status": "up", "in_octets": 10, "out_octets": 20},
        {"index": 2, "oper_status": "down", "in_octets": None, "out_octets": None},
    ]
    assert json.loads(json_text({"interfaces": rows})) == {"interfaces": expected}
    fallback = json.loads(json_text({"interfaces": rows, "s": "\ud800"}))
    assert fallback["interfaces"] == expected
