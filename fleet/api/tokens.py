"""Token administration (admins only): list, create (the secret is shown once), change
(disable, re-role, re-scope, expire) and delete; and the audit events."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import sqlalchemy as sa
from litestar import Request, Response, Router, delete, get, patch, post
from litestar.params import Parameter
from litestar.status_codes import HTTP_201_CREATED, HTTP_204_NO_CONTENT
from pydantic import Field
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from fleet.access import audit, tokens
from fleet.access.models import ApiToken, AuditEvent
from fleet.access.roles import Role
from fleet.api import record_answers as answers
from fleet.api.deps import list_params
from fleet.api.openapi import problem_responses
from fleet.api.representations import answer
from fleet.database import Database
from fleet.errors import NotFound
from fleet.inventory import schemas, service
from fleet.inventory.schemas import CountryCode, Strict
from fleet.models import fits_int32
from fleet.pagination import Filter, ListSpec, paginate
from fleet.settings import Settings

TokenName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,79}$")]
IfMatch = Annotated[str | None, Parameter(header="If-Match", required=False)]


class TokenCreate(Strict):
    """A new API token."""

    name: TokenName
    role: Role
    countries: list[CountryCode] | None = Field(
        default=None, description="Limit the token to these countries (none: all)"
    )
    expires_at: datetime | None = Field(default=None, description="When the token stops working")
    rate_limit_per_minute: Annotated[int, Field(ge=0, le=1_000_000), schemas.WHOLE] | None = Field(
        default=None, description="Requests a minute (none: the service default; 0: no limit)"
    )
    sites: Annotated[list[schemas.SiteCode], Field(min_length=1, max_length=100)] | None = Field(
        default=None,
        description="The site codes an edge token serves (required with role `edge`, refused "
        "with any other); central schedulers leave them to its edge poller",
    )


class TokenUpdate(Strict):
    """Fields to change; absent fields stay as they are. ``countries`` null means every country,
    ``expires_at`` null never; ``role`` and ``enabled`` cannot be null."""

    role: Role = None  # type: ignore[assignment]  # absent keeps it; null is refused
    countries: list[CountryCode] | None = None
    expires_at: datetime | None = None
    enabled: bool = None  # type: ignore[assignment]  # absent keeps it; null is refused
    rate_limit_per_minute: Annotated[int, Field(ge=0, le=1_000_000), schemas.WHOLE] | None = None


TOKENS = ListSpec(
    filters={
        "role": Filter(col(ApiToken.role), "Role(s)", Role),
        "name": Filter(col(ApiToken.name), "Token name(s)"),
    },
    sorts={"id": col(ApiToken.id), "name": col(ApiToken.name)},
    default_sort="id",
    search=(col(ApiToken.name),),
    id_column=col(ApiToken.id),
)
AUDIT = ListSpec(
    filters={"kind": Filter(col(AuditEvent.kind), "auth_failed, credential_read")},
    sorts={"id": col(AuditEvent.id)},
    default_sort="-id",
    id_column=col(AuditEvent.id),
)


async def _token(session: AsyncSession, token_id: int) -> ApiToken:
    token = await session.get(ApiToken, token_id) if fits_int32(token_id) else None
    if token is None:
        raise NotFound(f"no token {token_id}")
    return token


@get(
    "/",
    summary="List tokens",
    operation_id="list_tokens",
    opt={"permission": "token:read"},
    responses=answer(answers.TokenPage, "A page of tokens") | problem_responses(401, 403, 422),
)
async def list_tokens(
    request: Request[Any, Any, Any], db: Database, settings: Settings
) -> Response[dict[str, Any]]:
    async with db.session() as session:
        page = await paginate(
            session,
            sa.select(ApiToken),
            TOKENS,
            list_params(request, settings),
            lambda row: tokens.public(row[0]),
            max_limit=settings.page_size_max,
        )
    return Response(page.as_dict())


@post(
    "/",
    summary="Create a token",
    description="Answers the token with its `secret`, shown this once and stored only as a hash.",
    operation_id="create_token",
    status_code=HTTP_201_CREATED,
    opt={"permission": "token:create"},
    responses=answer(answers.NewToken, "The token, with its secret shown this once", 201)
    | problem_responses(400, 401, 403, 409, 422),
)
async def create_token(db: Database, data: TokenCreate) -> Response[dict[str, Any]]:
    async with db.session(write=True) as session:
        token, secret = await tokens.create(
            session,
            name=data.name,
            role=data.role,
            countries=data.countries,
            expires_at=data.expires_at,
            rate_limit_per_minute=data.rate_limit_per_minute,
            sites=data.sites,
        )
        await session.commit()
    body = {**tokens.public(token), "secret": secret}
    return Response(
        body, status_code=HTTP_201_CREATED, headers={"ETag": service.etag(token.version)}
    )


@get(
    "/{token_id:int}",
    summary="Read a token",
    operation_id="read_token",
    opt={"permission": "token:read"},
    responses=answer(answers.Token, "The token and its ETag") | problem_responses(401, 403, 404),
)
async def read_token(db: Database, token_id: int) -> Response[dict[str, Any]]:
    async with db.session() as session:
        token = await _token(session, token_id)
    return Response(tokens.public(token), headers={"ETag": service.etag(token.version)})


@patch(
    "/{token_id:int}",
    summary="Change a token",
    description="Disable (`enabled: false`), re-role, re-scope or expire a token. Needs If-Match.",
    operation_id="update_token",
    opt={"permission": "token:update"},
    responses=answer(answers.Token, "The token as changed, with its new ETag")
    | problem_responses(400, 401, 403, 404, 412, 422, 428),
)
async def update_token(
    db: Database, token_id: int, data: TokenUpdate, if_match: IfMatch = None
) -> Response[dict[str, Any]]:
    async with db.session(write=True) as session:
        token = await _token(session, token_id)
        service.check_if_match(if_match, token.version)
        token = await tokens.update(session, token, data.model_dump(exclude_unset=True))
        await session.commit()
    return Response(tokens.public(token), headers={"ETag": service.etag(token.version)})


@delete(
    "/{token_id:int}",
    summary="Delete a token",
    operation_id="delete_token",
    status_code=HTTP_204_NO_CONTENT,
    opt={"permission": "token:delete"},
    responses=problem_responses(401, 403, 404, 412, 428),
)
async def delete_token(db: Database, token_id: int, if_match: IfMatch = None) -> None:
    async with db.session(write=True) as session:
        token = await _token(session, token_id)
        service.check_if_match(if_match, token.version)
        await tokens.delete(session, token)
        await session.commit()


@get(
    "/audit-events",
    summary="List audit events",
    description="Refused authentications and reads of credential metadata, newest first.",
    operation_id="list_audit_events",
    tags=["access"],
    opt={"permission": "audit:read"},
    responses=answer(answers.AuditEventPage, "A page of audit events")
    | problem_responses(401, 403, 422),
)
async def list_audit_events(
    request: Request[Any, Any, Any], db: Database, settings: Settings
) -> Response[dict[str, Any]]:
    async with db.session() as session:
        page = await paginate(
            session,
            sa.select(AuditEvent),
            AUDIT,
            list_params(request, settings),
            lambda row: audit.public(row[0]),
            max_limit=settings.page_size_max,
        )
    return Response(page.as_dict())


token_router = Router(
    path="/tokens",
    route_handlers=[list_tokens, create_token, read_token, update_token, delete_token],
    tags=["access"],
)
