"""What a resource declaration says: how a resource is selected, shown, listed and checked.
The five inventory resources are declared with these in :mod:`fleet.inventory.resources`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from fleet.inventory import schemas
from fleet.models import META, Versioned
from fleet.pagination import AnySelect, ListSpec


@dataclass(frozen=True)
class Ref:
    """An input field that names another object: ``field`` holds the other object's ``key``;
    the table stores its id in ``column``."""

    field: str
    column: str
    target: type[Versioned]
    key: str
    label: str


@dataclass(frozen=True)
class Dependent:
    """Objects that point at this one and so forbid deleting it."""

    label: str
    table: type[Versioned]
    column: str


Rule = Callable[[AsyncSession, Any], Awaitable[None]]


@dataclass(frozen=True)
class Resource:
    name: str  # the object type, as in the change log ("site")
    plural: str  # the URL segment ("sites")
    table: type[Versioned]
    key: str  # the column that names an object in its URL
    natural_key: str  # the field people and config files name it by (code, serial...)
    fields: tuple[str, ...]  # the representation, in order (without id and META)
    create_schema: type[schemas.Strict]
    update_schema: type[schemas.Strict]
    select: Callable[[], AnySelect]
    list_spec: ListSpec
    # The country an object belongs to, in ``select()``: what country scopes filter on.
    country_column: Any = None
    refs: tuple[Ref, ...] = ()
    unique: tuple[str, ...] = ()  # unique fields, checked before writing for a clear error
    dependents: tuple[Dependent, ...] = ()
    rules: tuple[Rule, ...] = ()
    description: str = ""
    # Lists a detail can embed with ``?embed=``: name -> (resource name, filter on that list).
    embeds: Mapping[str, tuple[str, str]] = field(default_factory=dict)

    @property
    def key_column(self) -> Any:
        return getattr(self.table, self.key)

    def public(self, row: Any) -> dict[str, Any]:
        """The API representation of one selected row (the object plus its labelled columns)."""
        obj = row[0]
        mapping = row._mapping
        out: dict[str, Any] = {"id": obj.id}
        for name in self.fields:
            out[name] = mapping[name] if name in mapping else getattr(obj, name)
        for name in META:
            out[name] = getattr(obj, name)
        return out
