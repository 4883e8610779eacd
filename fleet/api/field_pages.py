"""The field app's shell: ``/field`` (the page), its service worker and its web app manifest.

The shell holds no data, so it needs no token: the app reads and writes through the API with
the sign-in cookie, keeps what it primed in IndexedDB and works offline. The service worker
(served from ``/field/`` so that it controls the app) caches the shell under a name made of a
hash of the app's files and catalogues: a new release gets a new cache, and the old one is
dropped. The page carries the app's words in its language (``js_strings("field")``); the
service worker asks the network for the page first (briefly) and keeps the copy it got, so
the app opens offline in the language last chosen, and a language picked online shows at once.
"""

from __future__ import annotations

import hashlib
import json
from functools import cache
from typing import Any

from litestar import Request, Response, Router, get
from litestar.response import Template

from fleet.api import formats
from fleet.api.field_strings import FIELD_JS_STRINGS
from fleet.api.locales import LOCALE_DIR
from fleet.api.pages import STATIC, TEMPLATES, page

FIELD_STATIC = STATIC / "field"
#: How long the service worker waits for the page from the network before it opens the copy.
SHELL_NETWORK_MS = 3000
formats.register_js_strings("field", FIELD_JS_STRINGS)
OPT = {"exclude_from_auth": True}
FIELD_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "media-src 'self' blob:; connect-src 'self'; worker-src 'self'; manifest-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


def shell_files() -> list[str]:
    """The app's static files as URLs, in a stable order."""
    return sorted(
        f"/static/field/{p.relative_to(FIELD_STATIC).as_posix()}"
        for p in FIELD_STATIC.rglob("*")
        if p.is_file() and not p.name.endswith(".template.js")
    )


@cache
def shell_version() -> str:
    """A hash of the app's files, its page's template and the catalogues: the service worker's
    cache name."""
    digest = hashlib.sha256()
    catalogues = LOCALE_DIR.glob("*/LC_MESSAGES/*.po")
    for path in sorted([*FIELD_STATIC.rglob("*"), TEMPLATES / "field.html", *catalogues]):
        if path.is_file():
            digest.update(path.name.encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


@get("/field", name="field", opt=OPT, include_in_schema=False)
async def field_app(request: Request[Any, Any, Any]) -> Template:
    template = page("field.html", request, version=shell_version())
    template.headers = {**(template.headers or {}), "Content-Security-Policy": FIELD_CSP}
    return template


@get("/field/sw.js", opt=OPT, include_in_schema=False)
async def service_worker() -> Response[str]:
    script = (FIELD_STATIC / "sw.template.js").read_text()
    shell = ["/field", "/field/manifest.webmanifest", *shell_files()]
    script = (
        script.replace("__VERSION__", json.dumps(shell_version()))
        .replace("__SHELL__", json.dumps(shell))
        .replace("__NETWORK_MS__", str(SHELL_NETWORK_MS))
    )
    return Response(
        script,
        media_type="text/javascript",
        headers={"Cache-Control": "no-cache", "Service-Worker-Allowed": "/field"},
    )


@get("/field/manifest.webmanifest", opt=OPT, include_in_schema=False)
async def manifest() -> Response[str]:
    body = {
        "name": "fleet field",
        "short_name": "fleet field",
        "description": "Install and repair at the sites, online or not",
        "start_url": "/field",
        "scope": "/field",
        "display": "standalone",
        "background_color": "#000000",
        "theme_color": "#000000",
        "icons": [
            {"src": "/static/field/icon.svg", "sizes": "any", "type": "image/svg+xml"},
            {"src": "/static/field/icon-192.png", "sizes": "192x192", "type": "image/png"},
            {"src": "/static/field/icon-512.png", "sizes": "512x512", "type": "image/png"},
        ],
    }
    return Response(
        json.dumps(body),
        media_type="application/manifest+json",
        headers={"Cache-Control": "no-cache"},
    )


def field_router() -> Router:
    return Router(
        path="/",
        route_handlers=[field_app, service_worker, manifest],
        include_in_schema=False,
    )
