"""The request bodies of the OpenAPI document, as pydantic validates them: each body's component
is replaced by the model's own JSON schema (patterns, lengths, ``additionalProperties: false``,
mappings), so that what the document allows is what the server accepts."""

from __future__ import annotations

from typing import Any

from litestar.openapi.spec import OpenAPI, OpenAPIType, Reference, Schema
from pydantic import BaseModel

from fleet.inventory.schemas import Strict

REF = "#/components/schemas/{model}"
ANY_TEXT = r"^[^\u0000]*$"
NOT_EMPTY = r"^[^\u0000]*[^\s\u0000][^\u0000]*$"
_ALIASES = Schema().field_aliases()
_ONE = {"items", "additionalProperties", "propertyNames", "not", "contains", "if", "then", "else"}
_MANY = {"anyOf", "allOf", "oneOf", "prefixItems"}
_MAPPING = {"properties", "patternProperties", "dependentSchemas"}


def declare_bodies(openapi: OpenAPI) -> None:
    """Replace the component of every request body that is a :class:`Strict` model by the
    model's validation schema, with the components it refers to (in place)."""
    components = openapi.components.schemas if openapi.components else None
    if components is None:
        return
    models = _strict_models()
    for name in [n for n in _bodies(openapi) if n in models]:
        document = models[name].model_json_schema(ref_template=REF, mode="validation")
        for other, schema in document.pop("$defs", {}).items():
            components[other] = _component(schema)
        components[name] = _component(document)


def _strict_models() -> dict[str, type[BaseModel]]:
    found: dict[str, type[BaseModel]] = {}
    todo: list[type[BaseModel]] = [Strict]
    while todo:
        model = todo.pop()
        found[model.__name__] = model
        todo.extend(model.__subclasses__())
    return found


def _bodies(openapi: OpenAPI) -> set[str]:
    """The component names that request bodies refer to."""
    names: set[str] = set()
    for item in (openapi.paths or {}).values():
        for method in ("post", "put", "patch", "delete"):
            op = getattr(item, method, None)
            body = getattr(op, "request_body", None)
            for media in (getattr(body, "content", None) or {}).values():
                ref = getattr(media, "schema", None)
                if isinstance(ref, Reference):
                    names.add(ref.ref.rsplit("/", 1)[-1])
    return names


def _component(document: dict[str, Any]) -> Schema:
    schema = _schema(document)
    if not isinstance(schema, Schema):
        raise ValueError("a component is a schema, not a reference")
    return schema


def _schema(document: dict[str, Any]) -> Schema | Reference:
    """A JSON schema as Litestar's ``Schema`` objects; an unknown keyword is an error."""
    if "$ref" in document:
        return Reference(ref=document["$ref"], description=document.get("description"))
    document = _stripped(_keys_as_validated(document))
    given: dict[str, Any] = {}
    for key, value in document.items():
        name = _ALIASES.get(key, key)
        if name not in Schema.__dataclass_fields__:
            raise ValueError(f"JSON schema keyword {key!r} has no OpenAPI field")
        if key in _ONE and isinstance(value, dict):
            value = _schema(value)
        elif key in _MANY:
            value = [_schema(v) for v in value]
        elif key in _MAPPING:
            value = {k: _schema(v) for k, v in value.items()}
        elif key == "type":
            many = isinstance(value, list)
            value = [OpenAPIType(v) for v in value] if many else OpenAPIType(value)
        given[name] = value
    return Schema(**given)


def _keys_as_validated(document: dict[str, Any]) -> dict[str, Any]:
    """pydantic writes a mapping with constrained keys as ``patternProperties``, which lets
    other keys through; it refuses them, as ``propertyNames`` says."""
    patterns = document.get("patternProperties")
    if not patterns or len(patterns) != 1 or "additionalProperties" in document:
        return document
    ((pattern, values),) = patterns.items()
    rest = {k: v for k, v in document.items() if k != "patternProperties"}
    return {**rest, "propertyNames": {"pattern": pattern}, "additionalProperties": values}


def _stripped(document: dict[str, Any]) -> dict[str, Any]:
    """Free text as the bodies take it: never a NUL (refused in every body), and, since text is
    stripped of surrounding white space before its length is checked, more than white space
    where it must not be empty."""
    if document.get("type") != "string" or {"pattern", "format", "enum"} & set(document):
        return document
    text = NOT_EMPTY if document.get("minLength") else ANY_TEXT
    return {**document, "pattern": text}
