"""The planner's exports as spreadsheets (XLSX, with openpyxl): the same columns as the CSV
(:func:`fleet.api.upgrades.csv_response`: the first row's fields, less those holding objects),
numbers as numbers, dates and times as dates and times (times in UTC, as in the CSV), and
every text as text, never a formula. The rows are bounded as the CSV's are; the workbook is
written in openpyxl's write-only mode, row by row.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any, cast

from litestar import Response
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
DATE_FORMAT = "yyyy-mm-dd"
DATETIME_FORMAT = "yyyy-mm-dd hh:mm:ss"
#: A sheet's name holds at most 31 characters (Excel's limit).
MAX_SHEET_NAME = 31


def columns(items: list[dict[str, Any]]) -> list[str]:
    """The CSV's columns: the first row's fields that do not hold an object."""
    return [k for k in items[0] if not isinstance(items[0][k], dict)] if items else []


def _cell(sheet: WriteOnlyWorksheet, value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, Enum):
        value = value.value
    if isinstance(value, int | float):
        return value
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime):
        naive = value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value
        cell = WriteOnlyCell(sheet, value=naive)
        cell.number_format = DATETIME_FORMAT
        return cell
    if isinstance(value, date):
        cell = WriteOnlyCell(sheet, value=cast(Any, value))  # the stubs forget dates
        cell.number_format = DATE_FORMAT
        return cell
    cell = WriteOnlyCell(sheet, value=ILLEGAL_CHARACTERS_RE.sub("", str(value)))
    cell.data_type = "s"  # text, even when it begins with "=": never a formula
    return cell


def workbook(items: Iterable[dict[str, Any]], sheet_name: str) -> bytes:
    """A workbook of one sheet: a header row, then one row per item."""
    rows = list(items)
    book = Workbook(write_only=True)
    sheet = book.create_sheet(sheet_name[:MAX_SHEET_NAME])
    names = columns(rows)
    if names:
        sheet.append(names)
    for row in rows:
        sheet.append([_cell(sheet, row.get(name)) for name in names])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def xlsx_response(items: list[dict[str, Any]], name: str) -> Response[bytes]:
    """``items`` as the attachment ``name`` (the sheet is named after the file)."""
    return Response(
        workbook(items, name.removesuffix(".xlsx")),
        media_type=XLSX,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
