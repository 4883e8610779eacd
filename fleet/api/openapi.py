"""OpenAPI pieces shared by the routes: the problem-details schema, the error responses each
route can give, and the bearer-token security scheme."""

from __future__ import annotations

from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import Components, SecurityScheme
from pydantic import BaseModel, Field

from fleet.api.problems import PROBLEM_JSON


class FieldError(BaseModel):
    field: str | None = Field(description="The input at fault (body field or query parameter)")
    message: str | None = None
    source: str | None = None


class Problem(BaseModel):
    """An RFC 9457 problem detail."""

    type: str = Field(description="urn:fleet:problem:<slug>")
    title: str
    status: int
    detail: str | None = None
    instance: str | None = Field(default=None, description="The request path")
    request_id: str | None = Field(default=None, description="As in X-Request-ID")
    errors: list[FieldError] | None = None
    current_etag: str | None = Field(default=None, description="On 412: the version held now")


DESCRIPTIONS = {
    304: "Not modified: the If-None-Match ETag is current",
    400: "Malformed request (e.g. the body is not JSON, or nested too deeply)",
    401: "No token, or an unknown, disabled or expired one",
    403: "The token's role or countries do not allow this",
    404: "Not found (or outside the token's countries)",
    409: "Conflicts with existing data, or still in use",
    412: "Stale If-Match: someone changed the object first",
    408: "The request body did not arrive whole in time",
    413: "Request body too large",
    415: "The body is not of a type the operation takes (JSON, or the file types it names)",
    422: "Invalid input; `errors` names the fields",
    428: "If-Match is required",
    429: "Rate limit reached; see Retry-After",
    503: "The database is busy with another write; see Retry-After",
}
#: Every route can answer these: a malformed request, and the rate limit.
ALWAYS = (400, 429)
#: A route that takes a body (it names 400) can also answer these.
WITH_BODY = (413, 415, 503)


def problem_responses(*codes: int) -> dict[int, ResponseSpec]:
    responses: dict[int, ResponseSpec] = {}
    extra = WITH_BODY if 400 in codes else ()
    for code in sorted({*codes, *ALWAYS, *extra}):
        if code == 304:
            responses[code] = ResponseSpec(
                data_container=None, description=DESCRIPTIONS[code], generate_examples=False
            )
        else:
            responses[code] = ResponseSpec(
                data_container=Problem,
                description=DESCRIPTIONS[code],
                media_type=PROBLEM_JSON,
                generate_examples=False,
            )
    return responses


SECURITY_COMPONENTS = Components(
    security_schemes={
        "BearerToken": SecurityScheme(
            type="http",
            scheme="bearer",
            description="An API token: `Authorization: Bearer fleet_...` "
            "(made with `fleet token create` or printed once by the first `fleet serve`).",
        )
    }
)
SECURITY: list[dict[str, list[str]]] = [{"BearerToken": []}]
