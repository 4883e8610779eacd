"""The answers' schemas, made from the same declarations the routes run on: an inventory object
is its resource's ``id``, ``fields`` (typed as its create schema types them) and ``META``; a
list page holds such objects. Built once per resource, for the OpenAPI document and the client
generators that read it."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from litestar.openapi.datastructures import ResponseSpec
from pydantic import BaseModel, ConfigDict, Field, create_model

from fleet.inventory.declarations import Resource
from fleet.inventory.resources import BY_NAME

PARTIAL = "Absent only when `?fields=` leaves it out."
_MODELS: dict[str, type[BaseModel]] = {}
_PAGES: dict[str, type[BaseModel]] = {}


def _title(resource: Resource) -> str:
    return "".join(part.capitalize() for part in resource.name.split("_"))


def _field_type(resource: Resource, name: str) -> Any:
    given = resource.create_schema.model_fields.get(name)
    # A column labelled in the resource's select (a site's country code) is text.
    return given.annotation if given is not None else str


def representation(resource: Resource) -> type[BaseModel]:
    """One object as the API shows it (``?fields=`` may leave out all but ``id`` and
    ``version``; ``?embed=`` adds lists)."""
    if resource.name not in _MODELS:
        _MODELS[resource.name] = _representation(resource)
    return _MODELS[resource.name]


def _representation(resource: Resource) -> type[BaseModel]:
    fields: dict[str, Any] = {
        "id": (int, Field(description="The object's id")),
        "version": (int, Field(description="The version counter; the ETag is its quoted value")),
    }
    for name in resource.fields:
        if name != "id":
            fields[name] = (_field_type(resource, name), Field(default=None, description=PARTIAL))
    fields["created_at"] = (datetime, Field(default=None, description=PARTIAL))
    fields["updated_at"] = (datetime, Field(default=None, description=PARTIAL))
    for embed, (other, _filter) in resource.embeds.items():
        item = representation(BY_NAME[other])
        fields[embed] = (list[item], Field(default=None, description="With `?embed=`"))  # type: ignore[valid-type]
    model: type[BaseModel] = create_model(
        _title(resource),
        __config__=ConfigDict(title=_title(resource)),
        __doc__=resource.description or f"A {resource.name.replace('_', ' ')}.",
        **fields,
    )
    return model


def page(resource: Resource) -> type[BaseModel]:
    """One page of a resource's list."""
    if resource.name in _PAGES:
        return _PAGES[resource.name]
    item = representation(resource)
    model: type[BaseModel] = create_model(
        f"{_title(resource)}Page",
        __doc__=f"A page of {resource.plural}; follow `next_cursor` for the next one.",
        items=(list[item], ...),  # type: ignore[valid-type]
        next_cursor=(str | None, Field(description="null on the last page")),
        limit=(int, Field(description="The page size used")),
    )
    _PAGES[resource.name] = model
    return model


def typed(table: type[BaseModel], names: Iterable[str]) -> dict[str, Any]:
    """``table``'s ``names`` as fields of an answer, typed as the table types them (an id as an
    integer: an answer's object is stored)."""
    fields: dict[str, Any] = {}
    for name in names:
        declared = table.model_fields[name]
        annotation = int if name == "id" else declared.annotation
        fields[name] = (annotation, Field(description=declared.description))
    return fields


def columns(
    title: str,
    doc: str,
    table: type[BaseModel] | None = None,
    names: Iterable[str] = (),
    **given: Any,
) -> type[BaseModel]:
    """An answer made of ``table``'s ``names`` (see :func:`typed`) and the ``given`` fields
    (annotation or ``(annotation, Field)``), which stand in for columns of the same name."""
    fields: dict[str, Any] = {}
    if table is not None:
        fields = typed(table, [n for n in names if n not in given])
    fields |= {name: _given(spec) for name, spec in given.items()}
    model: type[BaseModel] = create_model(
        title, __config__=ConfigDict(title=title), __doc__=doc, **fields
    )
    return model


def _given(spec: Any) -> Any:
    return spec if isinstance(spec, tuple) else (spec, ...)


def items_of(title: str, doc: str, item: Any, *, paged: bool = True) -> type[BaseModel]:
    """A list answer of ``item``: a page (``items``, ``next_cursor``, ``limit``) or, unpaged,
    only ``items``."""
    fields: dict[str, Any] = {"items": (list[item], ...)}
    if paged:
        fields["next_cursor"] = (str | None, Field(description="null on the last page"))
        fields["limit"] = (int, Field(description="The page size used"))
    model: type[BaseModel] = create_model(title, __doc__=doc, **fields)
    return model


def answer(
    model: Any, description: str, status: int = 200, media_type: str = "application/json"
) -> dict[int, ResponseSpec]:
    """The success response of a route whose handler returns a plain dict shaped as ``model``."""
    return {
        status: ResponseSpec(
            data_container=model,
            description=description,
            media_type=media_type,
            generate_examples=False,
        )
    }
