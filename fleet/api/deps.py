"""Dependencies every handler can ask for: the database and the settings."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.datastructures import State
from litestar.di import Provide

from fleet.access.tokens import Principal
from fleet.database import Database
from fleet.errors import InvalidInput
from fleet.pagination import ListParams
from fleet.settings import Settings

RESERVED_QUERY = ("q", "sort", "limit", "cursor", "fields")


def _db(state: State) -> Database:
    db: Database = state.db
    return db


def _settings(state: State) -> Settings:
    settings: Settings = state.settings
    return settings


DEPENDENCIES = {
    "db": Provide(_db, sync_to_thread=False),
    "settings": Provide(_settings, sync_to_thread=False),
}


def list_params(
    request: Request[Any, Any, Any], settings: Settings, *, ignore: tuple[str, ...] = ()
) -> ListParams:
    """Read filters, ``q``, ``sort``, ``limit`` and ``cursor`` from the query string.

    Every other parameter is taken as a filter, so a misspelt one is refused, not ignored.
    """
    query = request.query_params
    filters = {
        name: ",".join(query.getall(name))
        for name in query
        if name not in RESERVED_QUERY and name not in ignore
    }
    raw_limit = query.get("limit")
    limit = settings.page_size_default
    if raw_limit is not None:
        try:
            limit = int(raw_limit)
        except ValueError:
            raise InvalidInput("limit must be a whole number", field="limit") from None
    return ListParams(
        filters=filters,
        q=query.get("q"),
        sort=query.get("sort"),
        limit=limit,
        cursor=query.get("cursor"),
    )


def principal_of(request: Request[Any, Any, Any]) -> Principal:
    user: Principal = request.user
    return user


def wanted_fields(request: Request[Any, Any, Any], known: tuple[str, ...]) -> list[str] | None:
    """The fields asked for with ``?fields=a,b`` (always with ``id`` and ``version``)."""
    raw = request.query_params.get("fields")
    if raw is None:
        return None
    names = [n.strip() for n in raw.split(",") if n.strip()]
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        raise InvalidInput(
            f"unknown field {unknown[0]!r} (choose from: {', '.join(known)})"
            if unknown
            else "fields needs at least one field name",
            field="fields",
        )
    return ["id", *[n for n in names if n not in ("id", "version")], "version"]


def only(obj: dict[str, Any], fields: list[str] | None) -> dict[str, Any]:
    return obj if fields is None else {k: obj[k] for k in fields if k in obj}
