"""Create, read, update, delete and list for every inventory resource.

The functions take a session and leave the commit to the caller, so an API request commits one
change and ``fleet sync --apply`` commits a whole plan in one transaction. Every write leaves one
change-log record; a write that changes nothing leaves none and keeps the version.

``scope`` is a set of country codes (None: every country). Objects outside it are not found;
creating an object in, or moving one into, a country outside it is forbidden.
"""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from fleet import changelog
from fleet.changelog import ChangeAction, logged
from fleet.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    PreconditionFailed,
    PreconditionRequired,
)
from fleet.inventory.declarations import Resource
from fleet.inventory.models import Country, Device, Site
from fleet.models import Versioned, fits_int32, utcnow
from fleet.pagination import ListParams, Page, paginate


def etag(version: int) -> str:
    """The strong entity tag of an object at ``version``."""
    return f'"{version}"'


#: A strong entity tag as :func:`etag` writes it.
ETAG_RE = re.compile(r'"[0-9]{1,19}"')
IF_MATCH_PATTERN = r'^"[0-9]{1,19}"(, ?"[0-9]{1,19}")*$'


def check_if_match(header: str | None, version: int) -> None:
    """Refuse a write unless ``If-Match`` names the version the server holds."""
    if header is None or not header.strip():
        raise PreconditionRequired(
            "this change needs an If-Match header with the ETag you last read"
        )
    tags = [t.strip() for t in header.split(",")]
    if tags == ["*"]:
        raise PreconditionRequired("If-Match: * is not accepted; send the ETag you last read")
    if not all(ETAG_RE.fullmatch(tag) for tag in tags):
        raise InvalidInput('If-Match takes the ETag you last read, e.g. "3"', field="If-Match")
    if etag(version) not in tags:
        raise PreconditionFailed(
            "the object changed since you read it; read it again and reapply your change",
            current_etag=etag(version),
        )


def _key_value(resource: Resource, raw: str | int) -> Any:
    if resource.key == "id":
        try:
            value = int(raw)
        except ValueError:
            raise NotFound(f"no {resource.name} with id {raw!r}") from None
        if not fits_int32(value):
            raise NotFound(f"no {resource.name} with id {raw!r}")
        return value
    return raw


Scope = frozenset[str] | None
# ``session.info[BULK]``: a bulk load (the sync) in this session; references looked up once are
# remembered for the rest of the transaction.
BULK = "fleet_bulk"


def _in_scope(statement: Any, resource: Resource, scope: Scope) -> Any:
    if scope is None or resource.country_column is None:
        return statement
    return statement.where(resource.country_column.in_(sorted(scope)))


async def get_row(
    session: AsyncSession, resource: Resource, key: str | int, scope: Scope = None
) -> Any:
    statement = resource.select().where(resource.key_column == _key_value(resource, key))
    row = (await session.execute(_in_scope(statement, resource, scope))).first()
    if row is None:
        raise NotFound(f"no {resource.name.replace('_', ' ')} {key}")
    return row


async def read(
    session: AsyncSession, resource: Resource, key: str | int, scope: Scope = None
) -> dict[str, Any]:
    return resource.public(await get_row(session, resource, key, scope))


async def list_page(
    session: AsyncSession,
    resource: Resource,
    params: ListParams,
    *,
    max_limit: int,
    scope: Scope = None,
) -> Page:
    statement = _in_scope(resource.select(), resource, scope)
    return await paginate(
        session, statement, resource.list_spec, params, resource.public, max_limit=max_limit
    )


async def _lock(session: AsyncSession, resource: Resource, key: str | int) -> Versioned:
    statement = (
        sa.select(resource.table)
        .where(resource.key_column == _key_value(resource, key))
        .with_for_update()
    )
    obj = await session.scalar(statement)
    if obj is None:
        raise NotFound(f"no {resource.name.replace('_', ' ')} {key}")
    return obj


def _reference_query(ref: Any, given: Any, scope: Scope) -> Any:
    """The id of the object ``ref`` names; a scoped lookup of parents, terminating devices and
    far ends sees only the scope's countries. The object's own site and country are looked up
    unscoped, so that placing an object outside the scope is refused as such (403)."""
    target = ref.target
    statement = sa.select(col(target.id)).where(getattr(target, ref.key) == given)
    if scope is None or ref.field in ("site", "country"):
        return statement
    if target is Site:
        return statement.join(Country, col(Site.country_id) == col(Country.id)).where(
            col(Country.code).in_(sorted(scope))
        )
    if target is Device:
        return (
            statement.join(Site, col(Device.site_id) == col(Site.id))
            .join(Country, col(Site.country_id) == col(Country.id))
            .where(col(Country.code).in_(sorted(scope)))
        )
    return statement


async def _resolve(
    session: AsyncSession, resource: Resource, values: dict[str, Any], scope: Scope = None
) -> dict[str, Any]:
    """Turn input field values into column values, looking up every reference."""
    columns = dict(values)
    for ref in resource.refs:
        if ref.field not in values:
            continue
        given = columns.pop(ref.field)
        if given is None:
            columns[ref.column] = None
            continue
        cache: dict[Any, Any] | None = session.info.get(BULK)
        cache_key = (ref.target.__name__, ref.key, given, ref.field, scope)
        target_id = cache.get(cache_key) if cache is not None else None
        if target_id is None:
            target_id = await session.scalar(_reference_query(ref, given, scope))
            if cache is not None and target_id is not None:
                cache[cache_key] = target_id
        if target_id is None:
            raise InvalidInput(f"no {ref.label} {given!r}", field=ref.field)
        columns[ref.column] = target_id
    return {k: (v.value if hasattr(v, "value") else v) for k, v in columns.items()}


async def _check_unique(
    session: AsyncSession, resource: Resource, columns: dict[str, Any], own_id: int | None
) -> None:
    if own_id is None and BULK in session.info:
        return  # a planned bulk load: its keys were checked against the database and the files
    for name in resource.unique:
        value = columns.get(name)
        if value is None:
            continue
        statement = sa.select(col(resource.table.id)).where(getattr(resource.table, name) == value)
        if own_id is not None:
            statement = statement.where(col(resource.table.id) != own_id)
        if await session.scalar(statement) is not None:
            raise Conflict(
                f"a {resource.name.replace('_', ' ')} with {name} {value!r} already exists",
                field=name,
            )


def _scope(
    resource: Resource, obj: Versioned, shown: dict[str, Any]
) -> tuple[int | None, str | None]:
    site_id = obj.id if isinstance(obj, Site) else getattr(obj, "site_id", None)
    country = shown.get("country") if "country" in shown else None
    if resource.name == "country":
        country = shown["code"]
    return site_id, country


async def _flush(session: AsyncSession, resource: Resource) -> None:
    try:
        await session.flush()
    except IntegrityError as exc:
        raise Conflict(
            f"the {resource.name.replace('_', ' ')} clashes with existing data "
            f"(a duplicate or a missing reference): {exc.orig}"
        ) from None


def _log(
    session: AsyncSession,
    resource: Resource,
    action: ChangeAction,
    obj: Versioned,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
) -> None:
    site_id, country = _scope(resource, obj, after or before or {})
    changelog.log(
        session, action, logged(obj), before, after, site_id=site_id, country_code=country
    )


def _check_placed_in_scope(resource: Resource, shown: dict[str, Any], scope: Scope) -> None:
    if scope is None or resource.country_column is None:
        return
    country = shown["code"] if resource.name == "country" else shown.get("country")
    if country not in scope:
        field = "code" if resource.name == "country" else "country"
        if "site" in resource.fields and resource.name != "site":
            field = "site"
        raise Forbidden(f"country {country} is outside this token's countries", field=field)


async def create(
    session: AsyncSession, resource: Resource, data: BaseModel, scope: Scope = None
) -> dict[str, Any]:
    columns = await _resolve(session, resource, data.model_dump(), scope)
    await _check_unique(session, resource, columns, None)
    obj = resource.table(**columns)
    for rule in resource.rules:
        await rule(session, obj)
    session.add(obj)
    await _flush(session, resource)
    assert obj.id is not None
    after = await read(session, resource, obj.id if resource.key == "id" else columns[resource.key])
    _check_placed_in_scope(resource, after, scope)
    _log(session, resource, ChangeAction.create, obj, None, after)
    return after


async def update(
    session: AsyncSession,
    resource: Resource,
    key: str | int,
    data: BaseModel | dict[str, Any],
    if_match: str | None,
    scope: Scope = None,
) -> dict[str, Any]:
    """Apply the fields present in ``data`` if ``if_match`` names the current version."""
    await read(session, resource, key, scope)  # not found outside the scope
    obj = await _lock(session, resource, key)
    check_if_match(if_match, obj.version)
    before = await read(session, resource, key)
    values = data.model_dump(exclude_unset=True) if isinstance(data, BaseModel) else data
    columns = await _resolve(session, resource, values, scope)
    await _check_unique(session, resource, columns, obj.id)
    for name, value in columns.items():
        setattr(obj, name, value)
    for rule in resource.rules:
        await rule(session, obj)
    await _flush(session, resource)
    after = await read(session, resource, key)
    _check_placed_in_scope(resource, after, scope)
    if not changelog.diff(before, after):
        return before
    obj.version += 1
    obj.updated_at = utcnow()
    await _flush(session, resource)
    after = await read(session, resource, key)
    _log(session, resource, ChangeAction.update, obj, before, after)
    return after


async def delete(
    session: AsyncSession,
    resource: Resource,
    key: str | int,
    if_match: str | None,
    scope: Scope = None,
) -> None:
    """Delete an object that nothing points at; otherwise say what still uses it."""
    await read(session, resource, key, scope)  # not found outside the scope
    obj = await _lock(session, resource, key)
    check_if_match(if_match, obj.version)
    in_use = []
    for dependent in resource.dependents:
        count = await session.scalar(
            sa.select(sa.func.count())
            .select_from(dependent.table)
            .where(getattr(dependent.table, dependent.column) == obj.id)
        )
        if count:
            in_use.append(f"{count} {dependent.label}")
    if in_use:
        raise Conflict(
            f"{resource.name.replace('_', ' ')} {key} is still used by {' and '.join(in_use)}; "
            "move, retire or delete those first"
        )
    before = await read(session, resource, key)
    _log(session, resource, ChangeAction.delete, obj, before, None)
    await session.delete(obj)
    await _flush(session, resource)
