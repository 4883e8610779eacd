"""Domain errors. They know nothing of HTTP; ``fleet.api.problems`` maps them to responses."""

from __future__ import annotations

from typing import Any


class FleetError(Exception):
    """Base of every expected error. ``field`` names the offending input when there is one."""

    code = "error"

    def __init__(self, detail: str, *, field: str | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field
        self.extra = extra


class NotFound(FleetError):
    code = "not-found"


class Conflict(FleetError):
    """The request clashes with existing data: a duplicate key, or an object still in use."""

    code = "conflict"


class Forbidden(FleetError):
    """The caller may not do this (outside its role or its countries)."""

    code = "forbidden"


class InvalidInput(FleetError):
    """Input that is well-formed but breaks a rule (a reference elsewhere, a bad value)."""

    code = "invalid"


class PreconditionRequired(FleetError):
    code = "precondition-required"


class PreconditionFailed(FleetError):
    """A stale ``If-Match``. ``current_etag`` is the version the server holds now."""

    code = "precondition-failed"

    def __init__(self, detail: str, *, current_etag: str) -> None:
        super().__init__(detail)
        self.current_etag = current_etag


class UnsupportedMediaType(FleetError):
    """A body of a type the route does not take, or whose content is not what it declares."""

    code = "unsupported-media-type"


class TooLarge(FleetError):
    """A body over its size limit, or a collection over its count limit."""

    code = "too-large"
