"""The change log, one for every domain: one record per create, update or delete of one object,
with who, when, from which request (``fleet.context``) and the fields before and after.

A table opts in by declaration, as ``__changelog__ = Logged("api_token")``; its domain code then
calls :func:`log` with the object and its representation before and after the change.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any, ClassVar, Protocol, cast

import msgspec
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import Field, SQLModel

from fleet import context
from fleet.models import META, UTCDateTime, utcnow


class ChangeAction(StrEnum):
    create = "create"
    update = "update"
    delete = "delete"


class ChangeRecord(SQLModel, table=True):
    """One create, update or delete of one object, with who, when, from which request, and the
    fields before and after (``{"field": {"before": x, "after": y}}``)."""

    __tablename__ = "change_record"
    __table_args__ = (sa.Index("ix_change_record_object", "object_type", "object_id"),)

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False, index=True)
    actor: str = Field(max_length=120, nullable=False)
    actor_role: str | None = Field(default=None, max_length=20)
    request_id: str | None = Field(default=None, max_length=64, index=True)
    action: str = Field(max_length=8, nullable=False)
    object_type: str = Field(max_length=32, nullable=False)
    object_id: int = Field(nullable=False)
    object_key: str = Field(max_length=120, nullable=False)
    site_id: int | None = Field(default=None, index=True)
    country_code: str | None = Field(default=None, max_length=2, index=True)
    changes: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON, nullable=False)


@dataclass(frozen=True)
class Logged:
    """How a table's objects appear in the change log: their ``object_type``, the attribute
    that names one (``object_key``), and fields left out of the before/after."""

    object_type: str
    key: str = "name"
    ignore: tuple[str, ...] = ()


class ChangeLogged(Protocol):
    """A table that opted in to the change log."""

    __changelog__: ClassVar[Logged]
    id: int | None


def logged(obj: object) -> ChangeLogged:
    """``obj`` as a table that opted in; a table that did not is a programming error."""
    if not isinstance(getattr(type(obj), "__changelog__", None), Logged):
        raise TypeError(f"{type(obj).__name__} has no __changelog__ declaration")
    return cast(ChangeLogged, obj)


def plain(value: Any) -> Any:
    """A JSON-ready form of a field value (for the change log and exports), times written as
    the API writes them (``2026-12-01T08:00:00Z``)."""
    if isinstance(value, datetime | date):
        return msgspec.to_builtins(value)
    return value


def diff(
    before: dict[str, Any] | None, after: dict[str, Any] | None, ignore: tuple[str, ...] = ()
) -> dict[str, Any]:
    """``{field: {"before": x, "after": y}}`` for every field that differs (ids, META and
    ``ignore`` aside)."""
    names = [n for n in (after or before or {}) if n != "id" and n not in META and n not in ignore]
    changes: dict[str, Any] = {}
    for name in names:
        old = plain((before or {}).get(name))
        new = plain((after or {}).get(name))
        if old != new:
            changes[name] = {"before": old, "after": new}
    return changes


def log(
    session: AsyncSession,
    action: ChangeAction,
    obj: ChangeLogged,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    *,
    site_id: int | None = None,
    country_code: str | None = None,
    extra: dict[str, Any] | None = None,
) -> ChangeRecord:
    """Record one change of ``obj``: the diff of ``before`` and ``after`` plus ``extra``
    (changes the representation does not show, such as a replaced secret)."""
    spec = type(obj).__changelog__
    assert obj.id is not None
    entry = ChangeRecord(
        actor=context.actor.get(),
        actor_role=context.actor_role.get(),
        request_id=context.request_id.get(),
        action=action.value,
        object_type=spec.object_type,
        object_id=obj.id,
        object_key=str(getattr(obj, spec.key)),
        site_id=site_id,
        country_code=country_code,
        changes={**diff(before, after, spec.ignore), **(extra or {})},
    )
    session.add(entry)
    return entry


#: A change record's columns as the API shows them (and ``country``, its country code).
FIELDS = (
    "id",
    "at",
    "actor",
    "actor_role",
    "request_id",
    "action",
    "object_type",
    "object_id",
    "object_key",
    "site_id",
)


def public_change(entry: ChangeRecord) -> dict[str, Any]:
    body = {name: getattr(entry, name) for name in FIELDS}
    return body | {"country": entry.country_code, "changes": entry.changes}
