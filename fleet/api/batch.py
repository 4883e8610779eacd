"""``POST /api/v1/batch``: a field engineer's queued changes, applied in order, each on its own.

A batch is deliberately not atomic: the changes were queued offline, one by one, and each stands
or falls by itself (a stale version on one device must not throw away the other forty-nine
edits). Every change is answered: ``applied`` (with its new ETag), ``conflict`` (with the version
and representation the server holds), ``invalid`` (with a problem detail) or ``forbidden``.
Each change's id is remembered per token, so sending the same batch again applies nothing twice:
the first answers are replayed, marked ``replayed``.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Annotated, Any, Literal

from litestar import Request, post
from pydantic import BaseModel, Field, ValidationError

from fleet import context
from fleet.access import idempotency
from fleet.access.roles import allowed
from fleet.api.deps import principal_of
from fleet.api.openapi import problem_responses
from fleet.api.problems import problem_body
from fleet.database import Database
from fleet.errors import FleetError, Forbidden, InvalidInput, PreconditionFailed
from fleet.inventory import service
from fleet.inventory.resources import BY_NAME
from fleet.inventory.schemas import Strict
from fleet.settings import Settings

ObjectType = Literal["country", "site", "device_model", "device", "link"]


class BatchChange(Strict):
    """One queued change."""

    id: Annotated[str, Field(min_length=1, max_length=100)] = Field(
        description="The client's id of this change, unique per token; a repeat is not re-applied"
    )
    op: Literal["create", "update", "delete"]
    object: ObjectType
    key: str | int | None = Field(
        default=None, description="The object's URL key (code, slug or id); for update/delete"
    )
    if_match: str | None = Field(
        default=None, description="The ETag the change was made against; for update/delete"
    )
    data: dict[str, Any] | None = Field(default=None, description="Fields, as in the single API")


class Batch(Strict):
    """Queued changes, applied in order, each on its own."""

    changes: Annotated[list[BatchChange], Field(min_length=1, max_length=500)]


class BatchResult(BaseModel):
    id: str
    status: Literal["applied", "conflict", "invalid", "forbidden"]
    etag: str | None = None
    object: dict[str, Any] | None = None
    current_etag: str | None = None
    current: dict[str, Any] | None = None
    problem: dict[str, Any] | None = None
    replayed: bool = False


def _problem(exc: Exception) -> dict[str, Any]:
    body, _ = problem_body(exc, None, context.request_id.get())
    return body


async def _apply(db: Database, change: BatchChange, principal: Any) -> BatchResult:
    resource = BY_NAME[change.object]
    scope = principal.scope
    if not allowed(principal.role, f"{change.object}:{change.op}", scoped=scope is not None):
        problem = _problem(
            Forbidden(f"the role {principal.role.value} may not {change.op} a {change.object}")
        )
        return BatchResult(id=change.id, status="forbidden", problem=problem)
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
        return BatchResult(
            id=change.id,
            status="conflict",
            current_etag=service.etag(current["version"]),
            current=current,
        )
    except Forbidden as exc:
        return BatchResult(id=change.id, status="forbidden", problem=_problem(exc))
    except ValidationError as exc:
        problem = _problem(InvalidInput("invalid data"))
        problem["errors"] = [
            {"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]} for e in exc.errors()
        ]
        return BatchResult(id=change.id, status="invalid", problem=problem)
    except FleetError as exc:
        return BatchResult(id=change.id, status="invalid", problem=_problem(exc))
    etag = service.etag(obj["version"]) if obj is not None else None
    return BatchResult(id=change.id, status="applied", etag=etag, object=obj)


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
) -> dict[str, Any]:
    principal = principal_of(request)
    ttl = timedelta(hours=settings.idempotency_ttl_hours)
    results: list[dict[str, Any]] = []
    for change in data.changes:
        key = f"batch-change:{change.id}"
        digest = idempotency.request_hash(change.model_dump_json().encode())
        try:
            stored = await idempotency.claim(db, principal.token_id, key, digest, ttl)
        except FleetError as exc:
            results.append(
                BatchResult(id=change.id, status="invalid", problem=_problem(exc)).model_dump(
                    mode="json"
                )
            )
            continue
        if stored is not None:
            results.append({**json.loads(stored.body), "replayed": True})
            continue
        try:
            result = (await _apply(db, change, principal)).model_dump(mode="json")
        except BaseException:
            await idempotency.release(db, principal.token_id, key)
            raise
        await idempotency.complete(
            db, principal.token_id, key, idempotency.Stored(200, [], json.dumps(result).encode())
        )
        results.append(result)
    counts = {
        s: sum(1 for r in results if r["status"] == s)
        for s in ("applied", "conflict", "invalid", "forbidden")
    }
    return {"results": results, **counts}
