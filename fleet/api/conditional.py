"""Conditional reads and writes shared by the routes: the If-None-Match and If-Match headers as
the OpenAPI document declares them, and the 304 answer to an ETag still current."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Response
from litestar.params import Parameter
from litestar.status_codes import HTTP_304_NOT_MODIFIED

IfNoneMatch = Annotated[
    str | None,
    Parameter(
        header="If-None-Match",
        required=False,
        description="An ETag you hold: 304 Not Modified when it is still current.",
    ),
]
IfMatch = Annotated[
    str | None,
    Parameter(
        header="If-Match",
        required=False,
        description="The ETag last read. Required: 428 without it, 412 when it is stale.",
    ),
]


def not_modified(if_none_match: str | None, tag: str) -> Response[Any] | None:
    """The 304 answer when ``tag`` is among the ETags of ``If-None-Match``, else None."""
    if if_none_match and tag in [t.strip() for t in if_none_match.split(",")]:
        return Response(None, status_code=HTTP_304_NOT_MODIFIED, headers={"ETag": tag})
    return None
