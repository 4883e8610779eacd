"""What a real client does that a schema cannot say, applied to schemathesis' generated requests
(loaded through ``SCHEMATHESIS_HOOKS`` by tests/e2e/test_schemathesis.py):

* every request with a well-formed ``Idempotency-Key`` gets its own: a key names one request,
  and the server answers 422 to a key reused for another body (tested in tests/integration);
* a well-formed ``cursor`` the API did not issue is left out: a cursor is opaque, only the
  API's own are valid (422 for any other, tested in tests/unit/test_pagination.py).
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import schemathesis

from fleet.access.idempotency import MAX_KEY_LENGTH
from fleet.api.query import CURSOR


@schemathesis.hook
def before_call(ctx: Any, case: Any, **kwargs: Any) -> None:
    headers = case.headers or {}
    for name, value in list(headers.items()):
        # A key outside the declared 1 to 255 characters is a mistake made on purpose: kept.
        if name.lower() == "idempotency-key" and 1 <= len(str(value)) <= MAX_KEY_LENGTH:
            headers[name] = uuid.uuid4().hex
    query = case.query or {}
    cursor = query.get("cursor")
    if isinstance(cursor, str) and re.fullmatch(CURSOR, cursor):
        del query["cursor"]
