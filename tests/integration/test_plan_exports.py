"""The planner's exports as spreadsheets, on SQLite and PostgreSQL: the XLSX opened with
openpyxl has the CSV's columns and rows, numbers as numbers, dates and times as dates and
times, a text that looks like a formula kept as text, and the same filters and country scope
as the CSV."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Any

from litestar.testing import TestClient
from openpyxl import load_workbook

from fleet.api.spreadsheets import XLSX
from tests.integration.test_plan import _orders, app_settings, assessed, planner

__all__ = ["app_settings", "assessed", "planner"]  # the fixtures, shared with the plan's test


def _sheet(client: TestClient[Any], url: str) -> list[tuple[Any, ...]]:
    answer = client.get(url)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == XLSX
    assert answer.headers["content-disposition"].startswith("attachment; filename=")
    book = load_workbook(io.BytesIO(answer.content))
    assert len(book.sheetnames) == 1
    return list(book.active.iter_rows(values_only=True))  # type: ignore[union-attr]


def _csv(client: TestClient[Any], url: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(client.get(url).text)))


def test_the_work_orders_as_a_spreadsheet(
    planner: TestClient[Any], assessed: TestClient[Any]
) -> None:
    order = _orders(assessed)[0]
    formula = '=HYPERLINK("https://elsewhere.example","x")'
    changed = assessed.patch(
        f"/api/v1/work-orders/{order['id']}",
        json={"assignee": formula},
        headers={"If-Match": f'"{order["version"]}"'},
    )
    assert changed.status_code == 200, changed.text
    rows = _sheet(planner, "/plan/work-orders.xlsx")
    table = _csv(planner, "/plan/work-orders.csv")
    header, body = list(rows[0]), rows[1:]
    assert header == list(table[0])
    assert len(body) == len(table) == len(_orders(assessed))
    by_id = {row[header.index("id")]: dict(zip(header, row, strict=True)) for row in body}
    shown = by_id[order["id"]]
    assert isinstance(order["id"], int)
    assert shown["estimated_cost"] == order["estimated_cost"]
    assert isinstance(shown["estimated_cost"], int | float)
    assert isinstance(shown["priority"], int | float)
    assert shown["priority"] == order["priority"]
    assert isinstance(shown["created_at"], datetime)
    assert shown["created_at"].isoformat()[:19] == order["created_at"][:19]  # UTC, to the second
    assert shown["assignee"] == formula  # text, not a formula the sheet would run
    load = load_workbook(io.BytesIO(planner.get("/plan/work-orders.xlsx").content))
    cells = {c.value: c.data_type for row in load.active.iter_rows() for c in row}  # type: ignore[union-attr]
    assert cells[formula] == "s"
    # The filters are the page's, as for the CSV.
    ne = _sheet(planner, "/plan/work-orders.xlsx?country=NE")
    assert {r[header.index("country")] for r in ne[1:]} == {"NE"}
    assert len(ne) - 1 == len(_csv(planner, "/plan/work-orders.csv?country=NE"))


def test_the_gaps_and_rollups_as_spreadsheets(
    planner: TestClient[Any], assessed: TestClient[Any]
) -> None:
    rows = _sheet(planner, "/plan/gaps.xlsx?country=NE")
    table = _csv(planner, "/plan/gaps.csv?country=NE")
    header = list(rows[0])
    assert header == list(table[0])
    assert len(rows) - 1 == len(table) > 0
    first = dict(zip(header, rows[1], strict=True))
    assert isinstance(first["first_seen"], datetime)
    assert isinstance(first["id"], int)
    assert str(first["id"]) == table[0]["id"]
    rollups = _sheet(planner, "/plan/rollups.xlsx")
    plan = assessed.get("/api/v1/plans").json()
    header = list(rollups[0])
    countries = {
        r[header.index("key")]: r[header.index("estimated_cost")]
        for r in rollups[1:]
        if r[header.index("group")] == "country"
    }
    assert countries == {r["key"]: r["estimated_cost"] for r in plan["by_country"]}
    assert all(isinstance(v, int | float) for v in countries.values())
