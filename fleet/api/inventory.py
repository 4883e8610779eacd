"""Inventory endpoints: list, read, create, update and delete for each resource, built from the
resource declarations in ``fleet.inventory.resources``. Handlers are thin: read the request, call
the service in one transaction with the token's country scope, shape the response."""

import inspect
from collections.abc import Iterable
from typing import Annotated, Any

from litestar import Request, Response, Router, delete, get, patch, post
from litestar.params import Parameter
from litestar.status_codes import HTTP_201_CREATED, HTTP_204_NO_CONTENT

from fleet.api import query
from fleet.api.conditional import IfMatch, IfNoneMatch, not_modified
from fleet.api.deps import list_params, only, principal_of, wanted_fields
from fleet.api.openapi import problem_responses
from fleet.api.representations import page, representation
from fleet.database import Database
from fleet.errors import InvalidInput
from fleet.inventory import service
from fleet.inventory.declarations import Resource
from fleet.inventory.resources import BY_NAME, RESOURCES
from fleet.models import META
from fleet.pagination import ListParams
from fleet.settings import Settings


def _signature(fn: Any, params: list[inspect.Parameter], returns: Any = Response) -> Any:
    """Give a handler built at run time the signature Litestar reads (for docs and parsing)."""
    fn.__signature__ = inspect.Signature(params, return_annotation=returns)
    fn.__annotations__ = {p.name: p.annotation for p in params} | {"return": returns}
    return fn


def _kw(name: str, annotation: Any, default: Any = inspect.Parameter.empty) -> inspect.Parameter:
    return inspect.Parameter(
        name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation, default=default
    )


def _query(name: str, annotation: Any) -> inspect.Parameter:
    return _kw(name, annotation, None)


def _names(name: str, known: Iterable[str], description: str) -> inspect.Parameter:
    """A comma-separated list of some of ``known`` (fields, embeds)."""
    choices = "|".join(known)
    pattern = rf"^({choices})(,({choices}))*$"
    annotation = Annotated[
        str | None,
        Parameter(query=name, required=False, pattern=pattern, description=description),
    ]
    return _query(name, annotation)


def _fields_param(resource: Resource) -> inspect.Parameter:
    known = _known(resource)
    return _names("fields", known, f"Only these fields (comma-separated): {', '.join(known)}")


def _sort_param(resource: Resource) -> inspect.Parameter:
    sorts = "|".join(resource.list_spec.sorts)
    annotation = Annotated[
        str | None,
        Parameter(
            query="sort",
            required=False,
            pattern=rf"^-?({sorts})$",
            description="Sort field, '-' first for descending: "
            + ", ".join(resource.list_spec.sorts),
        ),
    ]
    return _query("sort", annotation)


def _known(resource: Resource) -> tuple[str, ...]:
    return ("id", *resource.fields, *META)


def _path_key(resource: Resource) -> tuple[str, Any]:
    kind = "int" if resource.key == "id" else "str"
    return f"/{{key:{kind}}}", int if resource.key == "id" else str


def _single(obj: dict[str, Any], status: int = 200) -> Response[dict[str, Any]]:
    return Response(obj, status_code=status, headers={"ETag": service.etag(obj["version"])})


def _opt(resource: Resource, action: str) -> dict[str, Any]:
    return {"permission": f"{resource.name}:{action}"}


def _list_handler(resource: Resource) -> Any:
    spec = resource.list_spec

    async def handler(
        request: Request[Any, Any, Any], db: Database, settings: Settings, **_: Any
    ) -> Response[dict[str, Any]]:
        params = list_params(request, settings)
        fields = wanted_fields(request, _known(resource))
        async with db.session() as session:
            page = await service.list_page(
                session,
                resource,
                params,
                max_limit=settings.page_size_max,
                scope=principal_of(request).scope,
            )
        page.items = [only(item, fields) for item in page.items]
        return Response(page.as_dict())

    params = [_kw("request", Request), _kw("db", Database), _kw("settings", Settings)]
    params += [
        _query(name, query.listed(name, flt.description, choices=flt.choices, integer=flt.integer))
        for name, flt in spec.filters.items()
    ]
    params += [
        _query("q", query.text("q", spec.search_description)),
        _sort_param(resource),
        _query("limit", query.Limit),
        _query("cursor", query.Cursor),
        _fields_param(resource),
    ]
    handler.__name__ = f"list_{resource.name}"
    return get(
        "/",
        summary=f"List {resource.plural}",
        description=f"{resource.description} Filters combine with AND; a filter given a "
        "comma-separated list matches any of its values. Pages follow `next_cursor`. "
        "A token limited to some countries sees only theirs.",
        operation_id=f"list_{resource.name}",
        tags=[resource.plural],
        opt=_opt(resource, "read"),
        responses=problem_responses(401, 403, 422),
    )(_signature(handler, params, Response[page(resource)]))  # type: ignore[misc]


def _read_handler(resource: Resource) -> Any:
    path, key_type = _path_key(resource)

    async def handler(
        request: Request[Any, Any, Any],
        db: Database,
        key: Any,
        if_none_match: str | None,
        **_: Any,
    ) -> Response[Any]:
        scope = principal_of(request).scope
        wanted = [e for e in (request.query_params.get("embed") or "").split(",") if e]
        fields = wanted_fields(request, _known(resource))
        for name in wanted:
            if name not in resource.embeds:
                choices = ", ".join(resource.embeds) or "nothing"
                raise InvalidInput(f"cannot embed {name!r} (choose from: {choices})", field="embed")
        async with db.session() as session:
            obj = await service.read(session, resource, key, scope)
            tag = service.etag(obj["version"])
            if (unchanged := not_modified(if_none_match, tag)) is not None:
                return unchanged
            obj = only(obj, fields)
            for name in wanted:
                other_name, filter_name = resource.embeds[name]
                page = await service.list_page(
                    session,
                    BY_NAME[other_name],
                    ListParams(filters={filter_name: key}, limit=10_000),
                    max_limit=10_000,
                    scope=scope,
                )
                obj[name] = page.items
        return _single(obj)

    params = [
        _kw("request", Request),
        _kw("db", Database),
        _kw("key", key_type),
        _kw("if_none_match", IfNoneMatch, None),
        _fields_param(resource),
    ]
    if resource.embeds:
        embeds = ", ".join(resource.embeds)
        params.append(_names("embed", resource.embeds, f"Lists to include: {embeds}"))
    handler.__name__ = f"read_{resource.name}"
    return get(
        path,
        summary=f"Read one {resource.name.replace('_', ' ')}",
        description="Answers with the object and its `ETag` "
        "(send it back as `If-Match` to change it; `If-None-Match` answers 304 when unchanged).",
        operation_id=f"read_{resource.name}",
        tags=[resource.plural],
        opt=_opt(resource, "read"),
        responses=problem_responses(304, 401, 403, 404, 422),
    )(_signature(handler, params, Response[representation(resource)]))  # type: ignore[misc]


def _create_handler(resource: Resource) -> Any:
    async def handler(
        request: Request[Any, Any, Any], db: Database, data: Any, **_: Any
    ) -> Response[dict[str, Any]]:
        async with db.session(write=True) as session:
            obj = await service.create(session, resource, data, principal_of(request).scope)
            await session.commit()
        response = _single(obj, HTTP_201_CREATED)
        response.headers["Location"] = f"{request.url.path.rstrip('/')}/{obj[resource.key]}"
        return response

    params = [_kw("request", Request), _kw("db", Database), _kw("data", resource.create_schema)]
    handler.__name__ = f"create_{resource.name}"
    return post(
        "/",
        summary=f"Create a {resource.name.replace('_', ' ')}",
        description="Unknown fields are refused. "
        "Answers 201 with the object, its ETag and Location. "
        "Send an `Idempotency-Key` to retry safely.",
        operation_id=f"create_{resource.name}",
        tags=[resource.plural],
        status_code=HTTP_201_CREATED,
        opt=_opt(resource, "create"),
        responses=problem_responses(400, 401, 403, 409, 422),
    )(_signature(handler, params, Response[representation(resource)]))  # type: ignore[misc]


def _update_handler(resource: Resource) -> Any:
    path, key_type = _path_key(resource)

    async def handler(
        request: Request[Any, Any, Any],
        db: Database,
        key: Any,
        data: Any,
        if_match: str | None,
        **_: Any,
    ) -> Response[dict[str, Any]]:
        async with db.session(write=True) as session:
            obj = await service.update(
                session, resource, key, data, if_match, principal_of(request).scope
            )
            await session.commit()
        return _single(obj)

    params = [
        _kw("request", Request),
        _kw("db", Database),
        _kw("key", key_type),
        _kw("data", resource.update_schema),
        _kw("if_match", IfMatch, None),
    ]
    handler.__name__ = f"update_{resource.name}"
    return patch(
        path,
        summary=f"Change a {resource.name.replace('_', ' ')}",
        description="Sends only the fields to change. Needs `If-Match` with the current ETag: "
        "428 without it, 412 (with the current ETag) when someone else changed it first.",
        operation_id=f"update_{resource.name}",
        tags=[resource.plural],
        opt=_opt(resource, "update"),
        responses=problem_responses(400, 401, 403, 404, 409, 412, 422, 428),
    )(_signature(handler, params, Response[representation(resource)]))  # type: ignore[misc]


def _delete_handler(resource: Resource) -> Any:
    path, key_type = _path_key(resource)

    async def handler(
        request: Request[Any, Any, Any], db: Database, key: Any, if_match: str | None, **_: Any
    ) -> None:
        async with db.session(write=True) as session:
            await service.delete(session, resource, key, if_match, principal_of(request).scope)
            await session.commit()

    params = [
        _kw("request", Request),
        _kw("db", Database),
        _kw("key", key_type),
        _kw("if_match", IfMatch, None),
    ]
    handler.__name__ = f"delete_{resource.name}"
    return delete(
        path,
        summary=f"Delete a {resource.name.replace('_', ' ')}",
        description="Refused (409) while other objects point at it. Needs `If-Match`.",
        operation_id=f"delete_{resource.name}",
        tags=[resource.plural],
        status_code=HTTP_204_NO_CONTENT,
        opt=_opt(resource, "delete"),
        responses=problem_responses(401, 403, 404, 409, 412, 428),
    )(_signature(handler, params, None))


def resource_router(resource: Resource) -> Router:
    return Router(
        path=f"/{resource.plural}",
        route_handlers=[
            _list_handler(resource),
            _read_handler(resource),
            _create_handler(resource),
            _update_handler(resource),
            _delete_handler(resource),
        ],
    )


def inventory_routers() -> list[Router]:
    return [resource_router(r) for r in RESOURCES]
