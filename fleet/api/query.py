"""The query parameters many routes share, declared once with the constraints the server
enforces, so that the OpenAPI document says what is accepted."""

from __future__ import annotations

import re
from datetime import datetime
from enum import Enum
from typing import Annotated, Any

from litestar.params import Parameter

from fleet.errors import InvalidInput

#: The largest page the document promises; ``FLEET_PAGE_SIZE_MAX`` may lower it.
MAX_LIMIT = 500
TEXT = r"^[^\x00]+$"
INTEGERS = r"^[0-9]{1,9}(,[0-9]{1,9})*$"
COUNTRIES = r"^[A-Z]{2}(,[A-Z]{2})*$"
NAMES = r"^[a-z_]{1,40}(,[a-z_]{1,40})*$"
CURSOR = r"^[A-Za-z0-9_-]{1,1000}$"

Limit = Annotated[
    int | None,
    Parameter(
        query="limit",
        required=False,
        ge=1,
        le=MAX_LIMIT,
        description=f"Page size (default 50, at most {MAX_LIMIT} or the configured maximum)",
    ),
]
Cursor = Annotated[
    str | None,
    Parameter(
        query="cursor",
        required=False,
        pattern=CURSOR,
        description="The next_cursor of the previous page (only cursors this API issued)",
    ),
]
Countries = Annotated[
    str | None,
    Parameter(
        query="country",
        required=False,
        pattern=COUNTRIES,
        description="Only these country codes, comma-separated",
    ),
]


def text(name: str, description: str, *, max_length: int = 200) -> Any:
    """An optional free-text query parameter (no NUL, not empty)."""
    return Annotated[
        str | None,
        Parameter(
            query=name,
            required=False,
            pattern=TEXT,
            max_length=max_length,
            description=description,
        ),
    ]


def listed(
    name: str, description: str, *, choices: type[Enum] | None = None, integer: bool = False
) -> Any:
    """An optional filter that takes one value or a comma-separated list of them."""
    if choices is not None:
        values = "|".join(str(member.value) for member in choices)
        pattern = rf"^({values})(,({values}))*$"
    else:
        pattern = INTEGERS if integer else TEXT
    return Annotated[
        str | None,
        Parameter(query=name, required=False, pattern=pattern, description=description),
    ]


#: RFC 3339: a date, a time with seconds, and an offset (``Z`` for UTC).
RFC3339 = re.compile(r"(\d{4}-\d{2}-\d{2})[Tt](\d{2}:\d{2}:\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})")
_TIME = {"format": "date-time"}
Since = Annotated[
    str | None,
    Parameter(
        query="since",
        required=False,
        schema_extra=_TIME,
        description="From this time (RFC 3339, e.g. 2026-11-01T00:00:00Z)",
    ),
]
Until = Annotated[
    str | None,
    Parameter(
        query="until",
        required=False,
        schema_extra=_TIME,
        description="Before this time (RFC 3339, e.g. 2026-11-02T00:00:00Z)",
    ),
]


def moment(value: str | None, field: str) -> datetime | None:
    """A ``since`` or ``until`` as a time with its offset; anything else (a number, a date
    alone, a time without offset) is refused naming ``field``."""
    if value is None:
        return None
    found = RFC3339.fullmatch(value)
    try:
        if found is None:
            raise ValueError(value)
        day, clock, fraction, offset = found.groups()
        offset = "+00:00" if offset in ("Z", "z") else offset
        return datetime.fromisoformat(f"{day}T{clock}{(fraction or '')[:7]}{offset}")
    except ValueError:
        raise InvalidInput(
            f"{field} takes an RFC 3339 time with its offset, e.g. 2026-11-01T00:00:00Z",
            field=field,
        ) from None
