"""The spreadsheet writer: the CSV's columns, each value in its own type (a time in UTC, a date
as a date, a decimal as a number), text never a formula, characters a sheet cannot hold left
out."""

from __future__ import annotations

import io
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

from openpyxl import load_workbook

from fleet.api import spreadsheets
from fleet.upgrades.choices import Severity


def test_values_keep_their_types_and_text_stays_text() -> None:
    niamey = timezone(timedelta(hours=1))
    rows = [
        {
            "id": 7,
            "cost": Decimal("1234.50"),
            "share": 0.995,
            "due_on": date(2027, 3, 31),
            "at": datetime(2026, 12, 7, 17, 30, tzinfo=niamey),
            "severity": Severity.high,
            "done": True,
            "note": "=1+1",
            "bell": "a\x07b",
            "empty": None,
            "detail": {"left": "out"},
        },
        {"id": 8, "note": "@SUM(A1)", "cost": 3, "due_on": None},
    ]
    book = load_workbook(io.BytesIO(spreadsheets.workbook(rows, "work-orders")))
    sheet = book["work-orders"]
    got = list(sheet.iter_rows(values_only=True))
    assert got[0] == (
        "id", "cost", "share", "due_on", "at", "severity", "done", "note", "bell", "empty",
    )  # fmt: skip
    assert got[1] == (
        7, 1234.5, 0.995, datetime(2027, 3, 31), datetime(2026, 12, 7, 16, 30), "high", True,
        "=1+1", "ab", None,
    )  # fmt: skip
    assert got[2][:4] == (8, 3, None, None)
    assert got[2][7] == "@SUM(A1)"
    assert sheet["D2"].is_date
    assert sheet["D2"].number_format == spreadsheets.DATE_FORMAT
    assert sheet["E2"].number_format == spreadsheets.DATETIME_FORMAT
    assert sheet["H2"].data_type == "s"  # not "f": the sheet shows it, never runs it


def test_no_rows_is_an_empty_sheet_and_a_long_name_is_cut() -> None:
    name = "x" * 40
    book = load_workbook(io.BytesIO(spreadsheets.workbook([], name)))
    assert book.sheetnames == ["x" * spreadsheets.MAX_SHEET_NAME]
    assert list(book.active.iter_rows(values_only=True)) == []  # type: ignore[union-attr]
