"""Credential profiles over HTTP (admins only). Secrets go in and never come out; every read of
a profile's metadata is an audit event."""

from __future__ import annotations

from typing import Annotated, Any

import sqlalchemy as sa
from litestar import Request, Response, Router, delete, get, patch, post
from litestar.datastructures import State
from litestar.params import Parameter
from litestar.status_codes import HTTP_201_CREATED, HTTP_204_NO_CONTENT
from sqlmodel import col

from fleet.access import audit
from fleet.api import record_answers as answers
from fleet.api.deps import list_params
from fleet.api.openapi import problem_responses
from fleet.api.representations import answer
from fleet.database import Database
from fleet.inventory import credentials, service
from fleet.inventory.credentials import (
    Cipher,
    CredentialProfileCreate,
    CredentialProfileUpdate,
)
from fleet.inventory.models import CredentialProfile
from fleet.pagination import Filter, ListSpec, paginate
from fleet.settings import Settings

IfMatch = Annotated[str | None, Parameter(header="If-Match", required=False)]
PROFILES = ListSpec(
    filters={"kind": Filter(col(CredentialProfile.kind), "snmp_v2c, snmp_v3, ssh, http")},
    sorts={"id": col(CredentialProfile.id), "name": col(CredentialProfile.name)},
    default_sort="name",
    search=(col(CredentialProfile.name),),
    id_column=col(CredentialProfile.id),
)


def _cipher(state: State) -> Cipher:
    cipher: Cipher = state.cipher
    return cipher


def _one(profile: CredentialProfile, status: int = 200) -> Response[dict[str, Any]]:
    return Response(
        credentials.public(profile),
        status_code=status,
        headers={"ETag": service.etag(profile.version)},
    )


@get(
    "/",
    summary="List credential profiles",
    operation_id="list_credential_profiles",
    opt={"permission": "credential:read"},
    responses=answer(answers.CredentialProfilePage, "A page of credential profiles")
    | problem_responses(401, 403, 422),
)
async def list_profiles(
    request: Request[Any, Any, Any], db: Database, settings: Settings
) -> Response[dict[str, Any]]:
    async with db.session(write=True) as session:
        page = await paginate(
            session,
            sa.select(CredentialProfile),
            PROFILES,
            list_params(request, settings),
            lambda row: credentials.public(row[0]),
            max_limit=settings.page_size_max,
        )
        audit.add(
            session,
            "credential_read",
            path=request.url.path,
            profiles=[item["name"] for item in page.items],
        )
        await session.commit()
    return Response(page.as_dict())


@get(
    "/{name:str}",
    summary="Read a credential profile",
    operation_id="read_credential_profile",
    description="The profile's metadata; `has_secret` says whether a secret is stored.",
    opt={"permission": "credential:read"},
    responses=answer(answers.CredentialProfileAnswer, "The profile and its ETag")
    | problem_responses(401, 403, 404),
)
async def read_profile(
    request: Request[Any, Any, Any], db: Database, name: str
) -> Response[dict[str, Any]]:
    async with db.session(write=True) as session:
        profile = await credentials.get(session, name)
        audit.add(session, "credential_read", path=request.url.path, profiles=[name])
        await session.commit()
    return _one(profile)


@post(
    "/",
    summary="Create a credential profile",
    operation_id="create_credential_profile",
    status_code=HTTP_201_CREATED,
    opt={"permission": "credential:create"},
    responses=answer(answers.CredentialProfileAnswer, "The profile made, with its ETag", 201)
    | problem_responses(400, 401, 403, 409, 422),
)
async def create_profile(
    db: Database, state: State, data: CredentialProfileCreate
) -> Response[dict[str, Any]]:
    async with db.session(write=True) as session:
        profile = await credentials.create(session, _cipher(state), data)
        await session.commit()
    return _one(profile, HTTP_201_CREATED)


@patch(
    "/{name:str}",
    summary="Change a credential profile",
    operation_id="update_credential_profile",
    description="A new `secret` replaces the stored one whole. Needs If-Match.",
    opt={"permission": "credential:update"},
    responses=answer(answers.CredentialProfileAnswer, "The profile as changed, with its new ETag")
    | problem_responses(400, 401, 403, 404, 412, 422, 428),
)
async def update_profile(
    db: Database, state: State, name: str, data: CredentialProfileUpdate, if_match: IfMatch = None
) -> Response[dict[str, Any]]:
    async with db.session(write=True) as session:
        profile = await credentials.get(session, name)
        service.check_if_match(if_match, profile.version)
        profile = await credentials.update(session, _cipher(state), profile, data)
        await session.commit()
    return _one(profile)


@delete(
    "/{name:str}",
    summary="Delete a credential profile",
    operation_id="delete_credential_profile",
    status_code=HTTP_204_NO_CONTENT,
    opt={"permission": "credential:delete"},
    responses=problem_responses(401, 403, 404, 409, 412, 428),
)
async def delete_profile(db: Database, name: str, if_match: IfMatch = None) -> None:
    async with db.session(write=True) as session:
        profile = await credentials.get(session, name)
        service.check_if_match(if_match, profile.version)
        await credentials.delete(session, profile)
        await session.commit()


credential_router = Router(
    path="/credential-profiles",
    route_handlers=[list_profiles, read_profile, create_profile, update_profile, delete_profile],
    tags=["credentials"],
)
