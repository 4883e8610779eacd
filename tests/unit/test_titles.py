"""Work-order titles read as sentences: what to do, to what, where."""

from __future__ import annotations

import pytest

from fleet.upgrades.rules import Finding
from fleet.upgrades.titles import Place, title_of

KANTCHARI = Place("BF-BCL-03", "Kantchari border post", {"4884775EED1A": "bf-bcl-03-cam01"})


def finding(work: str, subject: str, required: str, actual: str, **extra: object) -> Finding:
    fields: dict[str, object] = {"rule_type": "r", **extra}
    return Finding(
        "rule",
        str(fields.pop("rule_type")),
        subject,
        "high",
        work,
        required,
        actual,
        False,
        **fields,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    ("made", "title"),
    [
        (
            finding(
                "install", "kind:fingerprint_scanner", ">= 1", "0", detail="fingerprint_scanner"
            ),
            "Install a fingerprint scanner at Kantchari border post (BF-BCL-03)",
        ),
        (
            finding("install", "kind:camera", ">= 3", "1", quantity=2, detail="camera"),
            "Install 2 cameras at Kantchari border post (BF-BCL-03)",
        ),
        (
            finding(
                "firmware_upgrade", "device:4884775EED1A", ">= 11.11.120", "11.11.109 (observed)"
            ),
            "Upgrade firmware of bf-bcl-03-cam01 from 11.11.109 to 11.11.120",
        ),
        (
            finding("replace", "device:19KPX36", "supported", "support ended 2025-12-31"),
            "Replace 19KPX36 at Kantchari border post (BF-BCL-03): its support ended 2025-12-31",
        ),
        (
            finding("repair", "device:4884775EED1A", "answered within 24 h", "never answered"),
            "Repair bf-bcl-03-cam01 at Kantchari border post (BF-BCL-03): not answering probes "
            "(never answered)",
        ),
        (
            finding("link_upgrade", "site", ">= 2 links", "1 (satellite)", detail="dsl"),
            "Add a DSL link at Kantchari border post (BF-BCL-03)",
        ),
        (
            finding("link_upgrade", "link:SAT-1:bandwidth", ">= 10000 kbit/s", "4096 kbit/s"),
            "Raise link SAT-1 at Kantchari border post (BF-BCL-03) from 4096 kbit/s to "
            "10000 kbit/s",
        ),
        (
            finding("link_upgrade", "link:SAT-1:encryption", "encrypted", "not encrypted"),
            "Encrypt link SAT-1 at Kantchari border post (BF-BCL-03)",
        ),
    ],
)
def test_titles_are_sentences(made: Finding, title: str) -> None:
    assert title_of(made, KANTCHARI) == title
