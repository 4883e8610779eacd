"""The planner's forms: the anti-forgery field every form of ``/plan`` carries, and the bounded
reading of a posted form.

The session cookie authenticates a POST under ``/plan/`` (``fleet.api.auth.takes_cookie``). A
page elsewhere could make a signed-in browser send such a POST, so each form holds a field only
this server's pages know: an HMAC of the token's secret, which a page of another origin can
neither read (the cookie is http-only) nor compute. A POST without the right field, or from
another origin (``Origin`` / ``Sec-Fetch-Site``), is refused before anything is read or changed.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any
from urllib.parse import urlsplit

from litestar import Request

from fleet.api.auth import SESSION_COOKIE
from fleet.api.guard import check_text
from fleet.errors import Forbidden, InvalidInput

CSRF_FIELD = "csrf"
#: Longest value of any field of the planner's forms (a note is the longest thing they hold).
MAX_FIELD = 2000
#: Most work orders one bulk form acts on, and most fields a form may hold.
MAX_ROWS = 200
MAX_FIELDS = MAX_ROWS + 20


def _secret(request: Request[Any, Any, Any]) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, secret = header.partition(" ")
    if header and scheme.lower() == "bearer":
        return secret.strip()
    return request.cookies.get(SESSION_COOKIE, "").strip()


def csrf_token(request: Request[Any, Any, Any]) -> str:
    """The anti-forgery value of the signed-in token (the same on every page it sees)."""
    return hmac.new(_secret(request).encode(), b"fleet plan form", hashlib.sha256).hexdigest()


def _same_origin(request: Request[Any, Any, Any]) -> bool:
    if request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
        return False
    origin = request.headers.get("origin")
    if origin is None:
        return True
    return urlsplit(origin).netloc == request.headers.get("host", "")


class Form:
    """A posted form, read once: single values and repeated ones, each bounded."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self._pairs = pairs

    def one(self, name: str, *, limit: int = MAX_FIELD) -> str:
        """The field ``name`` stripped ('' when absent); longer than ``limit`` is refused."""
        values = [v for k, v in self._pairs if k == name]
        value = values[0].strip() if values else ""
        if len(value) > limit:
            raise InvalidInput(f"{name} is longer than {limit} characters", field=name)
        return value

    def many(self, name: str) -> list[str]:
        values = [v.strip() for k, v in self._pairs if k == name and v.strip()]
        if len(values) > MAX_ROWS:
            raise InvalidInput(f"at most {MAX_ROWS} work orders at once", field=name)
        return values


async def read_form(request: Request[Any, Any, Any]) -> Form:
    """The posted form, once its origin and anti-forgery field are checked."""
    if not _same_origin(request):
        raise Forbidden("this form was sent from another site; open the page here and send it")
    data = await request.form()
    pairs: list[tuple[str, str]] = []
    for key, value in data.multi_items():
        if not isinstance(value, str):
            raise InvalidInput("the planner's forms take no files", field=str(key))
        if len(value) > MAX_FIELD * 2:
            raise InvalidInput(f"{key} is longer than {MAX_FIELD * 2} characters", field=str(key))
        check_text(value, str(key))
        pairs.append((str(key), value))
        if len(pairs) > MAX_FIELDS:
            raise InvalidInput(f"the form holds more than {MAX_FIELDS} fields", field=str(key))
    form = Form(pairs)
    sent = form.one(CSRF_FIELD, limit=128)
    if not sent or not hmac.compare_digest(sent, csrf_token(request)):
        raise Forbidden("this form is out of date or was not made by this page; reload the page")
    return form
