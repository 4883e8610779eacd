"""Declared filters, sorting and keyset (cursor) pagination for every list endpoint.

A cursor is an opaque, URL-safe token holding the sort in force and the last row's sort value
and id; the next page starts strictly after that pair, so pages are stable while rows are added.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import Enum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped
from sqlalchemy.sql import ColumnElement, Select

from fleet.errors import InvalidInput
from fleet.models import fits_int32

# A column to filter or sort on: a mapped attribute or any SQL expression.
Column = Mapped[Any] | ColumnElement[Any]
# A select of any row shape.
AnySelect = Select[*tuple[Any, ...]]

SORT_KEY = "_sort_key"


@dataclass(frozen=True)
class Filter:
    """A query parameter that narrows a list: ``name=value`` or ``name=a,b`` (any of)."""

    column: Column
    description: str
    choices: type[Enum] | None = None
    integer: bool = False


@dataclass(frozen=True)
class ListSpec:
    """What a list endpoint can filter, search and sort by."""

    filters: Mapping[str, Filter]
    sorts: Mapping[str, Column]
    default_sort: str
    search: Sequence[Column] = ()
    search_description: str = "Text search"
    id_column: Column | None = None


@dataclass
class ListParams:
    filters: dict[str, str] = field(default_factory=dict)
    q: str | None = None
    sort: str | None = None
    limit: int = 50
    cursor: str | None = None


@dataclass
class Page:
    items: list[dict[str, Any]]
    next_cursor: str | None
    limit: int

    def as_dict(self) -> dict[str, Any]:
        return {"items": self.items, "next_cursor": self.next_cursor, "limit": self.limit}


def _values(name: str, raw: str, spec: Filter) -> list[Any]:
    values = [v.strip() for v in raw.split(",") if v.strip()]
    if not values:
        raise InvalidInput(f"filter {name!r} needs a value", field=name)
    if spec.choices is not None:
        allowed = {c.value for c in spec.choices}
        bad = [v for v in values if v not in allowed]
        if bad:
            raise InvalidInput(
                f"{name}={bad[0]!r} is not one of: {', '.join(sorted(allowed))}", field=name
            )
    if spec.integer:
        try:
            numbers = [int(v) for v in values]
        except ValueError:
            raise InvalidInput(f"{name} takes whole numbers", field=name) from None
        if not all(fits_int32(n) for n in numbers):
            raise InvalidInput(f"{name} is out of range", field=name)
        return numbers
    return values


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def encode_cursor(sort: str, value: Any, last_id: int) -> str:
    if isinstance(value, datetime | date):
        value = value.isoformat()
    raw = json.dumps([sort, value, last_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, sort: str) -> tuple[Any, int]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        decoded = json.loads(base64.urlsafe_b64decode(padded.encode()).decode())
        cursor_sort, value, last_id = decoded
        if not isinstance(last_id, int) or isinstance(last_id, bool) or not fits_int32(last_id):
            raise ValueError("id")
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise InvalidInput("cursor is not one this API issued", field="cursor") from None
    if cursor_sort != sort:
        raise InvalidInput("cursor belongs to another sort order", field="cursor")
    return value, last_id


def apply(
    statement: AnySelect, spec: ListSpec, params: ListParams, *, max_limit: int
) -> tuple[AnySelect, str, bool]:
    """Add the filters, search, order and page window to ``statement``.

    Returns the statement (fetching one row more than the page, to know whether another page
    follows), the sort name in force, and whether it is descending.
    """
    if params.limit < 1 or params.limit > max_limit:
        raise InvalidInput(f"limit must be between 1 and {max_limit}", field="limit")
    for name, raw in params.filters.items():
        if name not in spec.filters:
            known = ", ".join(sorted([*spec.filters, "q", "sort", "limit", "cursor"]))
            raise InvalidInput(f"unknown query parameter {name!r} (known: {known})", field=name)
        flt = spec.filters[name]
        statement = statement.where(flt.column.in_(_values(name, raw, flt)))
    if params.q:
        if len(params.q) > 200:
            raise InvalidInput("q is longer than 200 characters", field="q")
        pattern = f"%{_escape_like(params.q.lower())}%"
        statement = statement.where(
            sa.or_(*(sa.func.lower(col).like(pattern, escape="\\") for col in spec.search))
        )
    sort = params.sort or spec.default_sort
    descending = sort.startswith("-")
    sort_name = sort.removeprefix("-")
    if sort_name not in spec.sorts:
        raise InvalidInput(
            f"cannot sort by {sort_name!r} (choose from: {', '.join(sorted(spec.sorts))})",
            field="sort",
        )
    column = spec.sorts[sort_name]
    id_column = spec.id_column
    assert id_column is not None
    if params.cursor:
        value, last_id = decode_cursor(params.cursor, sort)
        value = _coerce(column, value)
        if descending:
            statement = statement.where(
                sa.or_(column < value, sa.and_(column == value, id_column < last_id))
            )
        else:
            statement = statement.where(
                sa.or_(column > value, sa.and_(column == value, id_column > last_id))
            )
    order = (column.desc(), id_column.desc()) if descending else (column.asc(), id_column.asc())
    statement = statement.add_columns(column.label(SORT_KEY))
    statement = statement.order_by(*order).limit(params.limit + 1)
    return statement, sort, descending


def _coerce(column: Column, value: Any) -> Any:
    python_type: type[Any] | None
    try:
        python_type = column.type.python_type  # type: ignore[union-attr]
    except NotImplementedError:
        python_type = None
    try:
        if python_type is datetime and isinstance(value, str):
            return datetime.fromisoformat(value)
        if python_type is date and isinstance(value, str):
            return date.fromisoformat(value)
        if python_type in (int, float) and isinstance(value, int | float):
            return value
        if python_type in (str, object, None) and isinstance(value, str | int | float):
            return value
    except ValueError:
        pass
    raise InvalidInput("cursor is not one this API issued", field="cursor")


async def paginate(
    session: AsyncSession,
    statement: AnySelect,
    spec: ListSpec,
    params: ListParams,
    public: Callable[[Any], dict[str, Any]],
    *,
    max_limit: int,
) -> Page:
    """Run ``statement`` narrowed by ``params`` and return one page with the next cursor."""
    statement, sort, _ = apply(statement, spec, params, max_limit=max_limit)
    rows = (await session.execute(statement)).all()
    more = len(rows) > params.limit
    rows = rows[: params.limit]
    items = [public(row) for row in rows]
    next_cursor = None
    if more:
        next_cursor = encode_cursor(sort, rows[-1]._mapping[SORT_KEY], items[-1]["id"])
    return Page(items=items, next_cursor=next_cursor, limit=params.limit)
