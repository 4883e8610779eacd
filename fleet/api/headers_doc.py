"""The headers of the OpenAPI document: what the middleware and the handlers send and read
around every operation (request id, rate limit, ETag, Idempotency-Key), declared once here over
the document Litestar builds from the routes."""

from __future__ import annotations

from litestar.enums import ParamType
from litestar.openapi.spec import (
    OpenAPI,
    OpenAPIHeader,
    OpenAPIResponse,
    OpenAPIType,
    Operation,
    Parameter,
    PathItem,
    Reference,
    Schema,
)

from fleet.access.idempotency import MAX_KEY_LENGTH
from fleet.inventory.service import IF_MATCH_PATTERN

TEXT = Schema(type=OpenAPIType.STRING)
NUMBER = Schema(type=OpenAPIType.INTEGER, minimum=0)
EVERY = {
    "X-Request-ID": (TEXT, "The request's id (the one sent, when sane), as in the change log"),
}
RATE_LIMITED = {
    "RateLimit-Limit": (NUMBER, "Requests allowed a minute for this token"),
    "RateLimit-Remaining": (NUMBER, "Requests left in this minute"),
    "RateLimit-Reset": (NUMBER, "Seconds until the minute starts again"),
    "RateLimit-Policy": (TEXT, "The limit and its window, e.g. `120;w=60`"),
}
RETRY = {"Retry-After": (NUMBER, "Seconds to wait before trying again")}
ETAG = {"ETag": (TEXT, "The object's version; send it back as If-Match")}
REPLAYED = {"Idempotent-Replayed": (TEXT, "`true` when this is the stored first answer")}
IDEMPOTENCY_KEY = Parameter(
    name="Idempotency-Key",
    param_in=ParamType.HEADER,
    required=False,
    schema=Schema(type=OpenAPIType.STRING, min_length=1, max_length=MAX_KEY_LENGTH),
    description="Makes a retry safe: the first answer to a key is stored for a day and "
    "replayed to the retries (with `Idempotent-Replayed: true`).",
)


def _add(response: OpenAPIResponse, headers: dict[str, tuple[Schema, str]]) -> None:
    response.headers = dict(response.headers or {})
    for name, (schema, description) in headers.items():
        response.headers[name] = OpenAPIHeader(schema=schema, description=description)


def _operations(item: PathItem) -> dict[str, Operation]:
    found = {m: getattr(item, m) for m in ("get", "post", "put", "patch", "delete")}
    return {m: op for m, op in found.items() if op is not None}


def _declare_operation(method: str, op: Operation, versioned: bool, public: bool) -> None:
    _malformed_if_match(op)
    for code, response in (op.responses or {}).items():
        if not isinstance(response, OpenAPIResponse):
            continue
        _add(response, EVERY)
        if not public:
            _add(response, RATE_LIMITED)
        if code in ("429", "503"):
            _add(response, RETRY)
        if versioned and code in ("200", "201", "304", "412"):
            _add(response, ETAG)
        if method == "post" and code.startswith("2"):
            _add(response, REPLAYED)
    for parameter in op.parameters or []:
        if isinstance(parameter, Parameter) and parameter.param_in == ParamType.HEADER:
            parameter.schema = _never_null(parameter.schema)
        if isinstance(parameter, Parameter) and parameter.name == "If-Match":
            parameter.required = True
            parameter.schema = Schema(type=OpenAPIType.STRING, pattern=IF_MATCH_PATTERN)
    if method == "post":
        op.parameters = [*(op.parameters or []), IDEMPOTENCY_KEY]


def _never_null(schema: Schema | Reference | None) -> Schema | Reference | None:
    """An absent header is absent, never ``null`` (the text ``null`` is a value): the other
    branch of ``X | None``, with the constraints declared beside it."""
    if not isinstance(schema, Schema) or not schema.one_of:
        return schema
    texts = [s for s in schema.one_of if isinstance(s, Schema) and s.type != OpenAPIType.NULL]
    if len(texts) != 1:
        return schema
    kept = texts[0]
    return Schema(
        type=kept.type,
        format=schema.format or kept.format,
        enum=kept.enum,
        min_length=schema.min_length if schema.min_length is not None else kept.min_length,
        pattern=schema.pattern or kept.pattern,
        max_length=schema.max_length if schema.max_length is not None else kept.max_length,
        minimum=schema.minimum if schema.minimum is not None else kept.minimum,
        maximum=schema.maximum if schema.maximum is not None else kept.maximum,
        description=schema.description,
    )


def _malformed_if_match(op: Operation) -> None:
    """An operation that reads If-Match answers 422 to one that is not a list of ETags."""
    names = {p.name for p in op.parameters or [] if isinstance(p, Parameter)}
    responses = op.responses or {}
    stale = responses.get("412")
    if "If-Match" in names and "422" not in responses and isinstance(stale, OpenAPIResponse):
        responses["422"] = OpenAPIResponse(
            description="Invalid input: an If-Match that is not a list of ETags",
            content=stale.content,
        )


def declare_headers(openapi: OpenAPI) -> None:
    """Add the headers to every operation of ``openapi`` (in place)."""
    paths = openapi.paths or {}
    versioned_paths = {p for p, item in paths.items() if isinstance(item, PathItem) and item.patch}
    for path, item in paths.items():
        if not isinstance(item, PathItem):
            continue
        for method, op in _operations(item).items():
            versioned = path in versioned_paths or (
                method == "post" and any(v.rsplit("/", 1)[0] == path for v in versioned_paths)
            )
            public = not op.security
            _declare_operation(method, op, versioned, public)
