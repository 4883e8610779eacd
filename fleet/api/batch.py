"""``POST /api/v1/batch``: a field engineer's queued changes, applied in order, each on its own.

A batch is deliberately not atomic: the changes were queued offline, one by one, and each stands
or falls by itself (a stale version on one device must not throw away the other forty-nine
edits). Every change is answered: ``applied`` (with its new ETag), ``conflict`` (with the version
and representation the server holds), ``invalid`` (with a problem detail) or ``forbidden``.
Each change's id is remembered per token, so sending the same batch again applies nothing twice:
the first answers are replayed, marked ``replayed``.
"""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Annotated, Any, Literal, get_args

from litestar import Request, post
from litestar.openapi.spec import Discriminator, OpenAPI, Reference, Schema
from litestar.openapi.spec.enums import OpenAPIType
from pydantic import BaseModel, Field, StrictStr, TypeAdapter, ValidationError

from fleet import context
from fleet.access import idempotency
from fleet.access.roles import allowed
from fleet.api.deps import principal_of
from fleet.api.openapi import FieldError, Problem, problem_responses
from fleet.api.problems import problem_body
from fleet.api.representations import representation
from fleet.database import Database
from fleet.errors import FleetError, Forbidden, InvalidInput, PreconditionFailed
from fleet.inventory import service
from fleet.inventory.resources import BY_NAME
from fleet.inventory.schemas import WHOLE, Strict
from fleet.settings import Settings

ObjectType = Literal["country", "site", "device_model", "device", "link"]
BATCH_OBJECT = "BatchObject"


class BatchChange(Strict):
    """One queued change."""

    id: Annotated[str, Field(min_length=1, max_length=100)] = Field(
        description="The client's id of this change, unique per token; a repeat is not re-applied"
    )
    op: Literal["create", "update", "delete"]
    object: ObjectType
    key: StrictStr | Annotated[int, WHOLE] | None = Field(
        default=None, description="The object's URL key (code, slug or id); for update/delete"
    )
    if_match: str | None = Field(
        default=None, description="The ETag the change was made against; for update/delete"
    )
    data: dict[str, Any] | None = Field(default=None, description="Fields, as in the single API")


class Batch(Strict):
    """Queued changes, applied in order, each on its own."""

    changes: Annotated[list[BatchChange], Field(min_length=1, max_length=500)]


class _Result(BaseModel):
    id: str = Field(description="The change's id")
    replayed: bool = Field(default=False, description="The stored answer of an earlier send")


OBJECT_DOC = "The object as the single API shows it, and its `object_type`"


class Applied(_Result):
    """The change is made."""

    status: Literal["applied"]
    etag: str | None = Field(default=None, description="The object's new ETag (null: deleted)")
    object: dict[str, Any] | None = Field(default=None, description=f"{OBJECT_DOC} (null: deleted)")


class Conflict(_Result):
    """The object changed since `if_match`: nothing done; here is what the server holds."""

    status: Literal["conflict"]
    current_etag: str
    current: dict[str, Any] = Field(description=OBJECT_DOC)


def _tagged(obj: dict[str, Any], object_type: str) -> dict[str, Any]:
    """An object as a batch answers it: tagged with its type, so that a client knows which
    of the objects it holds."""
    return {"object_type": object_type} | obj


class Invalid(_Result):
    """The change is refused as it is (bad data, unknown object, a reused change id)."""

    status: Literal["invalid"]
    problem: Problem


class Refused(_Result):
    """The token may not make this change."""

    status: Literal["forbidden"]
    problem: Problem


RESULTS = (Applied, Conflict, Invalid, Refused)
BatchResult = Annotated[Applied | Conflict | Invalid | Refused, Field(discriminator="status")]
RESULT: TypeAdapter[Applied | Conflict | Invalid | Refused] = TypeAdapter(BatchResult)
STATUSES = ("applied", "conflict", "invalid", "forbidden")


class BatchAnswer(BaseModel):
    """Every change's result, in the order sent, and how many ended each way."""

    results: list[BatchResult]
    applied: int
    conflict: int
    invalid: int
    forbidden: int


def _problem(exc: Exception) -> Problem:
    body, _ = problem_body(exc, None, context.request_id.get())
    return Problem.model_validate(body)


async def _apply(
    db: Database, change: BatchChange, principal: Any
) -> Applied | Conflict | Invalid | Refused:
    resource = BY_NAME[change.object]
    scope = principal.scope
    if not allowed(principal.role, f"{change.object}:{change.op}", scoped=scope is not None):
        problem = _problem(
            Forbidden(f"the role {principal.role.value} may not {change.op} a {change.object}")
        )
        return Refused(id=change.id, status="forbidden", problem=problem)
    try:
        if change.op != "create" and (change.key is None or change.if_match is None):
            raise InvalidInput(f"{change.op} needs key and if_match", field="key")
        async with db.session(write=True) as session:
            if change.op == "create":
                data = resource.create_schema.model_validate(change.data or {})
                obj = await service.create(session, resource, data, scope)
            elif change.op == "update":
                assert change.key is not None
                data = resource.update_schema.model_validate(change.data or {})
                obj = await service.update(
                    session, resource, change.key, data, change.if_match, scope
                )
            else:
                assert change.key is not None
                await service.delete(session, resource, change.key, change.if_match, scope)
                obj = None
            await session.commit()
    except PreconditionFailed:
        async with db.session() as session:
            assert change.key is not None
            current = await service.read(session, resource, change.key, scope)
        return Conflict(
            id=change.id,
            status="conflict",
            current_etag=service.etag(current["version"]),
            current=_tagged(current, change.object),
        )
    except Forbidden as exc:
        return Refused(id=change.id, status="forbidden", problem=_problem(exc))
    except ValidationError as exc:
        problem = _problem(InvalidInput("invalid data"))
        problem.errors = [
            FieldError(field=".".join(str(p) for p in e["loc"]), message=e["msg"])
            for e in exc.errors()
        ]
        return Invalid(id=change.id, status="invalid", problem=problem)
    except FleetError as exc:
        return Invalid(id=change.id, status="invalid", problem=_problem(exc))
    if obj is None:
        return Applied(id=change.id, status="applied")
    etag = service.etag(obj["version"])
    return Applied(id=change.id, status="applied", etag=etag, object=_tagged(obj, change.object))


@post(
    "/batch",
    summary="Apply queued changes",
    description=__doc__,
    operation_id="apply_batch",
    tags=["batch"],
    status_code=200,
    opt={"permission": "batch:apply"},
    responses=problem_responses(400, 401, 403, 422),
)
async def apply_batch(
    request: Request[Any, Any, Any], db: Database, settings: Settings, data: Batch
) -> BatchAnswer:
    principal = principal_of(request)
    ttl = timedelta(hours=settings.idempotency_ttl_hours)
    results: list[Applied | Conflict | Invalid | Refused] = []
    for change in data.changes:
        key = f"batch-change:{change.id}"
        digest = idempotency.request_hash(change.model_dump_json().encode())
        try:
            stored = await idempotency.claim(db, principal.token_id, key, digest, ttl)
        except FleetError as exc:
            results.append(Invalid(id=change.id, status="invalid", problem=_problem(exc)))
            continue
        if stored is not None:
            results.append(RESULT.validate_json(stored.body).model_copy(update={"replayed": True}))
            continue
        try:
            with idempotency.running(principal.token_id, key):
                result = await _apply(db, change, principal)
        except BaseException:
            await idempotency.release(db, principal.token_id, key)
            raise
        await idempotency.complete(
            db,
            principal.token_id,
            key,
            idempotency.Stored(200, [], result.model_dump_json().encode()),
        )
        results.append(result)
    counts = {s: sum(1 for r in results if r.status == s) for s in STATUSES}
    return BatchAnswer(results=results, **counts)


def declare_results(openapi: OpenAPI) -> None:
    """Name ``status`` as the tag of a batch result in ``openapi`` (in place): Litestar writes
    the union as a plain ``oneOf``; and type the objects the results carry (see
    :func:`_declare_objects`)."""
    schemas = openapi.components.schemas if openapi.components else None
    answer = (schemas or {}).get(BatchAnswer.__name__)
    if schemas is None or not isinstance(answer, Schema) or not answer.properties:
        return
    _declare_objects(schemas)
    results = answer.properties["results"]
    if isinstance(results, Schema) and isinstance(results.items, Schema):
        results.items.discriminator = Discriminator(
            property_name="status",
            mapping={
                get_args(model.model_fields["status"].annotation)[0]: (
                    f"#/components/schemas/{model.__name__}"
                )
                for model in RESULTS
            },
        )


def _declare_objects(schemas: dict[str, Any]) -> None:
    """Declare a batch's objects as what they are: each object type's representation (the
    component its own routes answer) and its ``object_type``, one of them by that tag."""
    mapping: dict[str, str] = {}
    for object_type in get_args(ObjectType):
        shown = representation(BY_NAME[object_type]).__name__
        name = f"Batch{shown}"
        shown_schema = schemas[shown]
        # a copy, not an allOf of the representation: generators name the models of its
        # inline parts after the schema that holds them, and would meet each name twice
        schemas[name] = dataclasses.replace(
            shown_schema,
            title=name,
            description=f"{shown} as a batch answers it.",
            properties={
                "object_type": Schema(type=OpenAPIType.STRING, const=object_type),
                **(shown_schema.properties or {}),
            },
            required=["object_type", *(shown_schema.required or [])],
        )
        mapping[object_type] = f"#/components/schemas/{name}"
    schemas[BATCH_OBJECT] = Schema(
        description="An object of a batch's answer, by its `object_type`.",
        one_of=[Reference(ref=ref) for ref in mapping.values()],
        discriminator=Discriminator(property_name="object_type", mapping=mapping),
    )
    tagged = Reference(ref=f"#/components/schemas/{BATCH_OBJECT}")
    applied, conflict = schemas[Applied.__name__], schemas[Conflict.__name__]
    applied.properties["object"] = Schema(
        one_of=[tagged, Schema(type=OpenAPIType.NULL)],
        description=Applied.model_fields["object"].description,
    )
    conflict.properties["current"] = Schema(
        all_of=[tagged], description=Conflict.model_fields["current"].description
    )
