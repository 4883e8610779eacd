"""The app factory: ``create_app(settings)`` builds the Litestar app; nothing reads settings at
import time."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Literal

import sqlalchemy as sa
from litestar import Litestar, Router, get
from litestar._openapi.plugin import OpenAPIPlugin
from litestar.config.compression import CompressionConfig
from litestar.datastructures import State
from litestar.middleware import DefineMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import ScalarRenderPlugin, SwaggerRenderPlugin
from litestar.openapi.spec import OpenAPI
from litestar.routes import HTTPRoute
from litestar.static_files import create_static_files_router
from pydantic import BaseModel
from swagger_ui_bundle import swagger_ui_path

from fleet import __version__
from fleet.access import idempotency
from fleet.alerts.runner import AlertRunner
from fleet.api import routers
from fleet.api.attachment_docs import declare_attachments
from fleet.api.auth import (
    PUBLIC_PATHS,
    TokenAuthMiddleware,
    permission_guard,
    rate_limit_middleware,
)
from fleet.api.batch import declare_results
from fleet.api.board import board_router
from fleet.api.bodies import SchemaStrictPydanticPlugin
from fleet.api.body_schemas import declare_bodies
from fleet.api.deps import DEPENDENCIES
from fleet.api.field_pages import field_router
from fleet.api.guard import input_guard_middleware
from fleet.api.head import allow_as_routed, head_as_get
from fleet.api.headers_doc import declare_headers
from fleet.api.idempotency import idempotency_middleware
from fleet.api.locales import Catalogues
from fleet.api.metrics import metrics, metrics_middleware
from fleet.api.middleware import request_id_middleware
from fleet.api.openapi import SECURITY, SECURITY_COMPONENTS, problem_responses
from fleet.api.pages import static_files_router, template_config
from fleet.api.plan import plan_router
from fleet.api.problems import EXCEPTION_HANDLERS
from fleet.api.upgrades import declare_csv
from fleet.database import Database
from fleet.inventory.credentials import Cipher
from fleet.logging import configure
from fleet.probes.events import StreamHub
from fleet.probes.scheduler import ProbeScheduler
from fleet.settings import Settings
from fleet.startup import check_keys

API_DESCRIPTION = """
fleet is the inventory of a police network's sites, devices and connectivity links.

* Errors are RFC 9457 problem details (`application/problem+json`) naming the offending field.
* Lists filter (`?country=NE&kind=border_crossing_land`, comma-separated values match any),
  search (`q`), sort (`sort=name`, `sort=-name`) and page with `limit` and `next_cursor`.
* Single objects carry an `ETag`; `PATCH` and `DELETE` need it back as `If-Match`
  (428 without it, 412 with a stale one).
* Every change is logged with actor, time, request id (`X-Request-ID`) and before/after.
* Every route but `/api/v1/health` needs `Authorization: Bearer <token>`; the token's role
  (viewer, field_engineer, planner, admin) and countries decide what it sees and may change.
* `Idempotency-Key` on a POST makes retries safe: the first answer is replayed.
"""


class Health(BaseModel):
    status: Literal["ok"]
    version: str


#: Swagger UI's scripts and style, served from the installed package (under /schema..., which
#: needs no token, like the documentation page itself).
DOCS_ASSETS = "/schema-assets/swagger-ui"
#: How often each API process deletes the expired idempotency records.
PURGE_EVERY_S = 3600.0


def docs_assets_router() -> Router:
    return create_static_files_router(
        path=DOCS_ASSETS,
        directories=[Path(str(swagger_ui_path))],
        opt={"exclude_from_auth": True},
        include_in_schema=False,
    )


@get(
    "/health",
    summary="Health check",
    description="Answers without a token: the service runs and reaches its database.",
    operation_id="health",
    tags=["service"],
    opt={"exclude_from_auth": True},
    security=[],
    responses=problem_responses(),
)
async def health(state: State) -> Health:
    db: Database = state.db
    async with db.session() as session:
        await session.execute(sa.text("SELECT 1"))
    return Health(status="ok", version=__version__)


def _openapi_config() -> OpenAPIConfig:
    """The OpenAPI document at /schema, with Swagger UI from this service's own files."""
    return OpenAPIConfig(
        title="fleet",
        version=__version__,
        description=API_DESCRIPTION,
        path="/schema",
        # Swagger UI from this service's own files (the default page: a site's network
        # may not reach the internet); Scalar, at /schema/scalar, loads from its CDN.
        render_plugins=[
            SwaggerRenderPlugin(
                js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
                css_url=f"{DOCS_ASSETS}/swagger-ui.css",
                standalone_preset_js_url=f"{DOCS_ASSETS}/swagger-ui-standalone-preset.js",
                favicon=f"<link rel='icon' type='image/png' "
                f"href='{DOCS_ASSETS}/favicon-32x32.png'>",
            ),
            ScalarRenderPlugin(),
        ],
        components=SECURITY_COMPONENTS,
    )


def _lifespan(
    db: Database, settings: Settings, cipher: Cipher, *, owns_db: bool
) -> Callable[[Litestar], AbstractAsyncContextManager[None]]:
    """Start-up and shut-down: the key check, the scheduler and the alerts (when they run
    here), the stream, the purge of expired idempotency records."""

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        await check_keys(db, cipher)
        scheduler = ProbeScheduler(db, settings, cipher) if settings.scheduler else None
        if scheduler is not None:
            await scheduler.start()
            app.state.probes = scheduler
        # The alerts run where the probes run (one place per database on SQLite; on
        # PostgreSQL the evaluation's advisory lock keeps several such processes single).
        alerts = AlertRunner(db, settings, cipher) if scheduler and settings.alerts else None
        if alerts is not None:
            alerts.start()
            app.state.alerts = alerts
        app.state.stream = StreamHub.from_settings(db, settings)
        purging = asyncio.create_task(idempotency.keep_purging(db, PURGE_EVERY_S))
        try:
            yield
        finally:
            purging.cancel()
            if alerts is not None:
                await alerts.stop()
            await app.state.stream.close()
            if scheduler is not None:
                await scheduler.stop()
            if owns_db:
                await db.dispose()

    return lifespan


def _api_router() -> Router:
    """Every domain's routes under ``/api/v1``, each behind its permission."""
    return Router(
        path="/api/v1",
        route_handlers=routers.api(),
        guards=[permission_guard],
        security=SECURITY,
    )


def create_app(settings: Settings, *, database: Database | None = None) -> Litestar:
    """Build the API for ``settings``; pass ``database`` to share an engine (tests, CLI)."""
    configure(settings.log_format, settings.log_level)
    db = database or Database.of(settings.database_url, settings.sqlite_busy_timeout_s)
    keys = settings.credential_keys.get_secret_value() if settings.credential_keys else None
    cipher = Cipher(keys)

    lifespan = _lifespan(db, settings, cipher, owns_db=database is None)

    api = _api_router()
    app = Litestar(
        # The health check is open: outside the router that asks for a token.
        route_handlers=[
            api,
            Router(path="/api/v1", route_handlers=[health]),
            board_router(),
            plan_router(),
            field_router(),
            static_files_router(),
            docs_assets_router(),
            metrics,
        ],
        dependencies=DEPENDENCIES,
        exception_handlers=EXCEPTION_HANDLERS,
        middleware=[
            metrics_middleware,
            request_id_middleware,
            DefineMiddleware(TokenAuthMiddleware, exclude=PUBLIC_PATHS),
            rate_limit_middleware,
            input_guard_middleware,
            idempotency_middleware,
        ],
        plugins=[SchemaStrictPydanticPlugin()],
        state=State(
            {"db": db, "settings": settings, "cipher": cipher, "probes": None, "stream": None}
            | {"catalogues": Catalogues.load(*filter(None, [settings.locale_dir]))}
        ),
        lifespan=[lifespan],
        compression_config=CompressionConfig(
            backend="gzip", minimum_size=1000, exclude_opt_key="skip_compression"
        ),
        template_config=template_config(),
        request_max_body_size=settings.max_body_bytes,
        openapi_config=_openapi_config(),
        debug=False,
    )
    routed = {r.path: {str(m) for m in r.methods} for r in app.routes if isinstance(r, HTTPRoute)}
    app.asgi_handler = allow_as_routed(head_as_get(app.asgi_handler), routed)
    _declare(app.plugins.get(OpenAPIPlugin).provide_openapi())
    return app


def _declare(openapi: OpenAPI) -> None:
    """Complete the document with what Litestar does not declare by itself (in place): the
    request bodies' schemas, the headers, the batch's tagged results, the CSV lists and the
    attachments' files."""
    declarations = (declare_bodies, declare_headers, declare_results, declare_csv)
    for declare in (*declarations, declare_attachments):
        declare(openapi)
