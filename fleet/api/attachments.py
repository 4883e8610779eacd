"""Photos and documents over HTTP: upload to a site, a device or a work order (the body is the
file's bytes, its type in Content-Type), list an object's files, read one's metadata and its
bytes, delete one. Handlers are thin: the owner is found within the token's countries
(:mod:`fleet.api.attachment_owners`), the file checked (:mod:`fleet.attachments.content`) and
stored (:mod:`fleet.attachments.service`)."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any
from urllib.parse import quote

from litestar import Request, Response, delete, get, post
from litestar.params import Parameter
from litestar.status_codes import HTTP_201_CREATED, HTTP_204_NO_CONTENT
from pydantic import Field

from fleet.api import attachment_owners as owners
from fleet.api import query
from fleet.api.conditional import IfMatch, IfNoneMatch, not_modified
from fleet.api.deps import list_params, principal_of
from fleet.api.openapi import problem_responses
from fleet.api.representations import answer, columns, items_of
from fleet.attachments import content, service
from fleet.attachments.models import Attachment
from fleet.database import Database
from fleet.inventory.service import check_if_match, etag
from fleet.settings import Settings

AttachmentAnswer = columns(
    "Attachment",
    "A photo or document attached to a site, a device or a work order.",
    Attachment,
    service.FIELDS,
    object_type=(str, Field(description="site, device or work_order")),
    object_key=(str, Field(description="The owner's key: a site's code, a device's or order's id")),
    content_url=(str, Field(description="Where the bytes are read")),
)
AttachmentPage = items_of(
    "AttachmentPage",
    "A page of attachments; follow `next_cursor` for the next one.",
    AttachmentAnswer,
)
Name = Annotated[
    str,
    Parameter(
        query="name",
        min_length=1,
        max_length=content.NAME_MAX,
        description="The file name to show: 1 to 200 characters, no path separator (/ or \\) "
        "and no control character",
    ),
]
KeepLocation = Annotated[
    bool,
    Parameter(
        query="keep_location",
        required=False,
        description="Keep the photo's EXIF location (GPS); by default it is removed",
    ),
]
Sort = Annotated[
    str | None,
    Parameter(
        query="sort",
        required=False,
        pattern=r"^-?(id|created_at)$",
        description="id or created_at, '-' first for descending (default -id)",
    ),
]
UPLOAD_OPS = ("upload_site_attachment", "upload_device_attachment", "upload_work_order_attachment")
UPLOAD_DESCRIPTION = (
    "The body is the file's bytes (not multipart), its type in Content-Type: image/jpeg, "
    "image/png, image/webp or application/pdf, and it must be what its first bytes say (415 "
    "otherwise). An image must decode (422 if truncated, corrupt or over the pixel bound); a PDF "
    "must start with `%PDF-` and end with `%%EOF`. The photo's EXIF location is removed without "
    "re-encoding unless `keep_location=true`; `location_removed` says whether one was. 413 as "
    "soon as the body is over the size limit; 409 when the object holds the most files it may. "
    "Send an `Idempotency-Key` to retry safely."
)


def _one(body: dict[str, Any], version: int, status: int = 200) -> Response[dict[str, Any]]:
    return Response(body, status_code=status, headers={"ETag": etag(version)})


async def _upload(
    request: Request[Any, Any, Any],
    db: Database,
    settings: Settings,
    object_type: str,
    key: str | int,
    name: str,
    keep_location: bool,
) -> Response[dict[str, Any]]:
    scope = principal_of(request).scope
    async with db.session() as session:
        await owners.by_key(session, object_type, key, scope)  # 404 before the body is read
    content_type = content.media_type(request.headers.get("content-type"))
    name = content.check_name(name)
    data = await request.body()
    checked = await asyncio.to_thread(
        content.check,
        content_type,
        data,
        max_pixels=settings.attachment_max_pixels,
        keep_location=keep_location,
    )
    async with db.session(write=True) as session:
        owner = await owners.by_key(session, object_type, key, scope, lock=True)
        made = await service.create(
            session,
            owner,
            name,
            content_type,
            checked,
            max_per_object=settings.attachment_max_per_object,
        )
        await session.commit()
    response = _one(made, 1, HTTP_201_CREATED)
    response.headers["Location"] = f"/api/v1/attachments/{made['id']}"
    return response


def _upload_route(path: str, object_type: str) -> post:
    label = object_type.replace("_", " ")
    return post(
        path,
        summary=f"Attach a photo or document to a {label}",
        description=UPLOAD_DESCRIPTION,
        operation_id=f"upload_{object_type}_attachment",
        tags=["attachments"],
        status_code=HTTP_201_CREATED,
        opt={"permission": "attachment:create", "raw_body": True, "skip_compression": True},
        request_max_body_size=None,  # counted by the input guard against attachment_max_bytes
        responses=answer(AttachmentAnswer, "The attachment stored, with its ETag and Location", 201)
        | problem_responses(400, 401, 403, 404, 408, 409, 413, 415, 422),
    )


@_upload_route("/sites/{code:str}/attachments", "site")
async def upload_site_attachment(
    request: Request[Any, Any, Any],
    db: Database,
    settings: Settings,
    code: str,
    name: Name,
    keep_location: KeepLocation = False,
) -> Response[dict[str, Any]]:
    return await _upload(request, db, settings, "site", code, name, keep_location)


@_upload_route("/devices/{device_id:int}/attachments", "device")
async def upload_device_attachment(
    request: Request[Any, Any, Any],
    db: Database,
    settings: Settings,
    device_id: int,
    name: Name,
    keep_location: KeepLocation = False,
) -> Response[dict[str, Any]]:
    return await _upload(request, db, settings, "device", device_id, name, keep_location)


@_upload_route("/work-orders/{order_id:int}/attachments", "work_order")
async def upload_work_order_attachment(
    request: Request[Any, Any, Any],
    db: Database,
    settings: Settings,
    order_id: int,
    name: Name,
    keep_location: KeepLocation = False,
) -> Response[dict[str, Any]]:
    return await _upload(request, db, settings, "work_order", order_id, name, keep_location)


async def _list(
    request: Request[Any, Any, Any],
    db: Database,
    settings: Settings,
    object_type: str,
    key: str | int,
) -> dict[str, Any]:
    params = list_params(request, settings)
    async with db.session() as session:
        owner = await owners.by_key(session, object_type, key, principal_of(request).scope)
        page = await service.list_page(session, owner, params, max_limit=settings.page_size_max)
    return page.as_dict()


def _list_route(path: str, object_type: str) -> get:
    label = object_type.replace("_", " ")
    return get(
        path,
        summary=f"A {label}'s photos and documents",
        description="Their metadata (never the bytes: follow `content_url`), newest first; "
        "pages follow `next_cursor`.",
        operation_id=f"list_{object_type}_attachments",
        tags=["attachments"],
        opt={"permission": "attachment:read"},
        responses=answer(AttachmentPage, "A page of attachments")
        | problem_responses(401, 403, 404, 422),
    )


@_list_route("/sites/{code:str}/attachments", "site")
async def list_site_attachments(
    request: Request[Any, Any, Any],
    db: Database,
    settings: Settings,
    code: str,
    sort: Sort = None,
    limit: query.Limit = None,
    cursor: query.Cursor = None,
) -> dict[str, Any]:
    return await _list(request, db, settings, "site", code)


@_list_route("/devices/{device_id:int}/attachments", "device")
async def list_device_attachments(
    request: Request[Any, Any, Any],
    db: Database,
    settings: Settings,
    device_id: int,
    sort: Sort = None,
    limit: query.Limit = None,
    cursor: query.Cursor = None,
) -> dict[str, Any]:
    return await _list(request, db, settings, "device", device_id)


@_list_route("/work-orders/{order_id:int}/attachments", "work_order")
async def list_work_order_attachments(
    request: Request[Any, Any, Any],
    db: Database,
    settings: Settings,
    order_id: int,
    sort: Sort = None,
    limit: query.Limit = None,
    cursor: query.Cursor = None,
) -> dict[str, Any]:
    return await _list(request, db, settings, "work_order", order_id)


@get(
    "/attachments/{attachment_id:int}",
    summary="Read one attachment's metadata",
    description="With its `ETag` (send it back as `If-Match` to delete it; `If-None-Match` "
    "answers 304 when unchanged).",
    operation_id="read_attachment",
    tags=["attachments"],
    opt={"permission": "attachment:read"},
    responses=answer(AttachmentAnswer, "The attachment's metadata")
    | problem_responses(304, 401, 403, 404, 422),
)
async def read_attachment(
    request: Request[Any, Any, Any],
    db: Database,
    attachment_id: int,
    if_none_match: IfNoneMatch = None,
) -> Response[Any]:
    async with db.session() as session:
        attachment = await service.get(session, attachment_id)
        owner = await owners.of(session, attachment, principal_of(request).scope)
    tag = etag(attachment.version)
    if (unchanged := not_modified(if_none_match, tag)) is not None:
        return unchanged
    return _one(service.public(attachment, owner), attachment.version)


def disposition(attachment: Attachment) -> str:
    """``inline`` for an image, ``attachment`` for a PDF, with the name as a safe ASCII
    ``filename`` and the exact one as ``filename*`` (RFC 6266)."""
    kind = "attachment" if attachment.content_type == content.PDF else "inline"
    fallback = "".join(
        c if c.isascii() and c.isprintable() and c not in '"\\;%' else "_" for c in attachment.name
    )
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quote(attachment.name, safe='')}"


@get(
    "/attachments/{attachment_id:int}/content",
    summary="Read one attachment's bytes",
    description="The file with its content type; `ETag` is its SHA-256 (`If-None-Match` answers "
    "304). Images are shown inline, PDFs downloaded (`Content-Disposition`); `X-Content-Type-"
    "Options: nosniff`.",
    operation_id="read_attachment_content",
    tags=["attachments"],
    opt={"permission": "attachment:read", "skip_compression": True},
    responses=problem_responses(304, 401, 403, 404, 422),
)
async def read_attachment_content(
    request: Request[Any, Any, Any],
    db: Database,
    attachment_id: int,
    if_none_match: IfNoneMatch = None,
) -> Response[Any]:
    async with db.session() as session:
        attachment = await service.get(session, attachment_id)
        await owners.of(session, attachment, principal_of(request).scope)
        tag = f'"{attachment.sha256}"'
        if (unchanged := not_modified(if_none_match, tag)) is not None:
            return unchanged
        data = await service.data(session, attachment)
    headers = {
        "ETag": tag,
        "Content-Disposition": disposition(attachment),
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox",
        "Cache-Control": "private, no-cache",
    }
    return Response(data, media_type=attachment.content_type, headers=headers)


@delete(
    "/attachments/{attachment_id:int}",
    summary="Delete an attachment",
    description="Needs `If-Match` with the metadata's current ETag (428 without it, 412 when "
    "stale).",
    operation_id="delete_attachment",
    tags=["attachments"],
    status_code=HTTP_204_NO_CONTENT,
    opt={"permission": "attachment:delete"},
    responses=problem_responses(401, 403, 404, 412, 422, 428),
)
async def delete_attachment(
    request: Request[Any, Any, Any], db: Database, attachment_id: int, if_match: IfMatch = None
) -> None:
    async with db.session(write=True) as session:
        attachment = await service.get(session, attachment_id, lock=True)
        owner = await owners.of(session, attachment, principal_of(request).scope)
        check_if_match(if_match, attachment.version)
        await service.delete(session, attachment, owner)
        await session.commit()


ROUTES = (
    upload_site_attachment,
    upload_device_attachment,
    upload_work_order_attachment,
    list_site_attachments,
    list_device_attachments,
    list_work_order_attachments,
    read_attachment,
    read_attachment_content,
    delete_attachment,
)
