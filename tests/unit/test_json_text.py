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
