"""The attachments' bodies in the OpenAPI document: an upload's request body is the file itself
in one of the four media types, and the content route answers with those bytes. Litestar
declares neither (the handlers read and send raw bytes), so they are declared here over the
document it builds."""

from __future__ import annotations

from litestar.openapi.spec import (
    OpenAPI,
    OpenAPIHeader,
    OpenAPIMediaType,
    OpenAPIResponse,
    OpenAPIType,
    Operation,
    PathItem,
    RequestBody,
    Schema,
)

from fleet.attachments.content import CONTENT_TYPES

BINARY = Schema(type=OpenAPIType.STRING, format="binary")  # type: ignore[arg-type]
TEXT = Schema(type=OpenAPIType.STRING)
UPLOADS = ("upload_site_attachment", "upload_device_attachment", "upload_work_order_attachment")
CONTENT = "read_attachment_content"
#: Operations whose answer carries the attachment's ETag.
VERSIONED = (*UPLOADS, "read_attachment")


def _binary() -> dict[str, OpenAPIMediaType]:
    return {media: OpenAPIMediaType(schema=BINARY) for media in CONTENT_TYPES}


def _etag(response: OpenAPIResponse, description: str) -> None:
    response.headers = dict(response.headers or {})
    response.headers["ETag"] = OpenAPIHeader(schema=TEXT, description=description)


def _declare(op: Operation) -> None:
    responses = op.responses or {}
    if op.operation_id in UPLOADS:
        op.request_body = RequestBody(
            content=_binary(),
            required=True,
            description="The file's bytes, in the type Content-Type names",
        )
    if op.operation_id in VERSIONED:
        for code in ("200", "201", "304"):
            found = responses.get(code)
            if isinstance(found, OpenAPIResponse):
                _etag(found, "The attachment's version; send it back as If-Match to delete it")
    if op.operation_id == CONTENT:
        ok = OpenAPIResponse(description="The file's bytes, in its content type", content=_binary())
        ok.headers = {
            "Content-Disposition": OpenAPIHeader(
                schema=TEXT, description="inline for an image, attachment for a PDF; its name"
            ),
            "X-Content-Type-Options": OpenAPIHeader(schema=TEXT, description="nosniff"),
        }
        _etag(ok, "The file's SHA-256, quoted")
        not_modified = responses.get("304")
        if isinstance(not_modified, OpenAPIResponse):
            _etag(not_modified, "The file's SHA-256, quoted")
        op.responses = {**responses, "200": ok}


def declare_attachments(openapi: OpenAPI) -> None:
    """Declare the attachments' request and response bodies in ``openapi`` (in place)."""
    for item in (openapi.paths or {}).values():
        if not isinstance(item, PathItem):
            continue
        for op in (item.get, item.post):
            if op is not None and op.operation_id and op.operation_id in (*VERSIONED, CONTENT):
                _declare(op)
