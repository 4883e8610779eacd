"""The query parameters many routes share, declared once with the constraints the server
enforces, so that the OpenAPI document says what is accepted."""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Any

from litestar.params import Parameter

#: The largest page the document promises; ``FLEET_PAGE_SIZE_MAX`` may lower it.
MAX_LIMIT = 500
TEXT = r"^[^\x00]+$"
INTEGERS = r"^[0-9]{1,10}(,[0-9]{1,10})*$"
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
