"""Inventory endpoints: list, read, create, update and delete for each resource, built from the
resource declarations in ``fleet.inventory.resources``. Handlers are thin: read the request, call
the service in one transaction, shape the response."""

import inspect
from typing import Annotated, Any

from litestar import Request, Response, Router, delete, get, patch, post
from litestar.params import Parameter
from litestar.status_codes import HTTP_201_CREATED, HTTP_204_NO_CONTENT

from fleet.api.deps import list_params
from fleet.database import Database
from fleet.errors import InvalidInput
from fleet.inventory import service
from fleet.inventory.resources import BY_NAME, RESOURCES, Resource
from fleet.pagination import ListParams
from fleet.settings import Settings

IfMatch = Annotated[
    str | None,
    Parameter(
        header="If-Match",
        required=False,
        description="The ETag last read. Required: 428 without it, 412 when it is stale.",
    ),
]


def _signature(fn: Any, params: list[inspect.Parameter], returns: Any = Response) -> Any:
    """Give a handler built at run time the signature Litestar reads (for docs and parsing)."""
    fn.__signature__ = inspect.Signature(params, return_annotation=returns)
    fn.__annotations__ = {p.name: p.annotation for p in params} | {"return": returns}
    return fn


def _kw(name: str, annotation: Any, default: Any = inspect.Parameter.empty) -> inspect.Parameter:
    return inspect.Parameter(
        name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation, default=default
    )


def _query(name: str, description: str) -> inspect.Parameter:
    return _kw(
        name,
        Annotated[str | None, Parameter(query=name, required=False, description=description)],
        None,
    )


def _common() -> list[inspect.Parameter]:
    return [_kw("request", Request), _kw("db", Database), _kw("settings", Settings)]


def _path_key(resource: Resource) -> tuple[str, Any]:
    kind = "int" if resource.key == "id" else "str"
    return f"/{{key:{kind}}}", int if resource.key == "id" else str


def _single(obj: dict[str, Any], status: int = 200) -> Response[dict[str, Any]]:
    return Response(obj, status_code=status, headers={"ETag": service.etag(obj["version"])})


def _list_handler(resource: Resource) -> Any:
    spec = resource.list_spec

    async def handler(
        request: Request[Any, Any, Any], db: Database, settings: Settings, **_: Any
    ) -> Response[dict[str, Any]]:
        params = list_params(request, settings)
        async with db.session() as session:
            page = await service.list_page(
                session, resource, params, max_limit=settings.page_size_max
            )
        return Response(page.as_dict())

    params = _common()
    params += [_query(name, flt.description) for name, flt in spec.filters.items()]
    params += [
        _query("q", spec.search_description),
        _query("sort", f"Sort field, '-' first for descending: {', '.join(spec.sorts)}"),
        _kw(
            "limit",
            Annotated[
                int | None,
                Parameter(
                    query="limit",
                    required=False,
                    description="Page size (default 50, at most the configured maximum)",
                ),
            ],
            None,
        ),
        _query("cursor", "The next_cursor of the previous page"),
    ]
    handler.__name__ = f"list_{resource.name}"
    return get(
        "/",
        summary=f"List {resource.plural}",
        description=f"{resource.description} Filters combine with AND; a filter given a "
        "comma-separated list matches any of its values. Pages follow `next_cursor`.",
        operation_id=f"list_{resource.name}",
        tags=[resource.plural],
    )(_signature(handler, params))


def _read_handler(resource: Resource) -> Any:
    path, key_type = _path_key(resource)

    async def handler(
        request: Request[Any, Any, Any], db: Database, key: Any, **_: Any
    ) -> Response[dict[str, Any]]:
        wanted = [e for e in (request.query_params.get("embed") or "").split(",") if e]
        for name in wanted:
            if name not in resource.embeds:
                choices = ", ".join(resource.embeds) or "nothing"
                raise InvalidInput(f"cannot embed {name!r} (choose from: {choices})", field="embed")
        async with db.session() as session:
            obj = await service.read(session, resource, key)
            for name in wanted:
                other_name, filter_name = resource.embeds[name]
                other = BY_NAME[other_name]
                page = await service.list_page(
                    session,
                    other,
                    ListParams(filters={filter_name: obj[resource.key]}, limit=10_000),
                    max_limit=10_000,
                )
                obj[name] = page.items
        return _single(obj)

    params = [*_common()[:2], _kw("key", key_type)]
    if resource.embeds:
        params.append(
            _query("embed", f"Comma-separated lists to include: {', '.join(resource.embeds)}")
        )
    handler.__name__ = f"read_{resource.name}"
    return get(
        path,
        summary=f"Read one {resource.name.replace('_', ' ')}",
        description="Answers with the object and its `ETag` "
        "(send it back as `If-Match` to change it).",
        operation_id=f"read_{resource.name}",
        tags=[resource.plural],
    )(_signature(handler, params))


def _create_handler(resource: Resource) -> Any:
    async def handler(
        request: Request[Any, Any, Any], db: Database, data: Any, **_: Any
    ) -> Response[dict[str, Any]]:
        async with db.session(write=True) as session:
            obj = await service.create(session, resource, data)
            await session.commit()
        response = _single(obj, HTTP_201_CREATED)
        response.headers["Location"] = f"{request.url.path.rstrip('/')}/{obj[resource.key]}"
        return response

    params = [*_common()[:2], _kw("data", resource.create_schema)]
    handler.__name__ = f"create_{resource.name}"
    return post(
        "/",
        summary=f"Create a {resource.name.replace('_', ' ')}",
        description="Unknown fields are refused. "
        "Answers 201 with the object, its ETag and Location.",
        operation_id=f"create_{resource.name}",
        tags=[resource.plural],
        status_code=HTTP_201_CREATED,
    )(_signature(handler, params))


def _update_handler(resource: Resource) -> Any:
    path, key_type = _path_key(resource)

    async def handler(
        db: Database, key: Any, data: Any, if_match: str | None, **_: Any
    ) -> Response[dict[str, Any]]:
        async with db.session(write=True) as session:
            obj = await service.update(session, resource, key, data, if_match)
            await session.commit()
        return _single(obj)

    params = [
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
    )(_signature(handler, params))


def _delete_handler(resource: Resource) -> Any:
    path, key_type = _path_key(resource)

    async def handler(db: Database, key: Any, if_match: str | None, **_: Any) -> None:
        async with db.session(write=True) as session:
            await service.delete(session, resource, key, if_match)
            await session.commit()

    params = [_kw("db", Database), _kw("key", key_type), _kw("if_match", IfMatch, None)]
    handler.__name__ = f"delete_{resource.name}"
    return delete(
        path,
        summary=f"Delete a {resource.name.replace('_', ' ')}",
        description="Refused (409) while other objects point at it. Needs `If-Match`.",
        operation_id=f"delete_{resource.name}",
        tags=[resource.plural],
        status_code=HTTP_204_NO_CONTENT,
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
