"""``/metrics`` for Prometheus, and the middleware that counts API requests by route template.

The live view (sites, devices and links by state, :mod:`fleet.probes.live`) is read from the
database at each scrape, so it is the same in every API process and whichever process runs the
probes; probe, scheduler and request metrics are this process's own.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Iterator
from typing import Any

from litestar import Request, Response, get
from litestar.enums import ScopeType
from litestar.exceptions import NotAuthorizedException
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from fleet.alerts.metrics import alert_view
from fleet.api.problems import problem_type
from fleet.database import Database
from fleet.metrics import REGISTRY, observe_request
from fleet.probes.live import live_view
from fleet.settings import Settings

# The text format that generate_latest writes; Litestar adds "; charset=utf-8" to text types
# itself (prometheus_client's CONTENT_TYPE_LATEST carries one already: it came out twice).
MEDIA_TYPE = "text/plain; version=0.0.4"


def metrics_middleware(app: ASGIApp) -> ASGIApp:
    """Count each request and time it to the start of its response, labelled with the route's
    path template (``/api/v1/sites/{key}``), never the raw path."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        started = time.perf_counter()
        seen: dict[str, Any] = {}

        async def timed_send(message: Message) -> None:
            if message["type"] == "http.response.start" and "status" not in seen:
                seen["status"] = message["status"]
                seen["seconds"] = time.perf_counter() - started
            await send(message)

        try:
            await app(scope, receive, timed_send)
        except Exception as exc:
            seen.setdefault("status", problem_type(exc).status)
            raise
        finally:
            observe_request(
                str(scope.get("method", "")),
                scope.get("path_template") or "unmatched",
                int(seen.get("status", 500)),
                seen.get("seconds", time.perf_counter() - started),
            )

    return middleware


class _Snapshot(Collector):
    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterator[Metric]:
        return iter(self.families)


def _check_token(request: Request[Any, Any, Any], settings: Settings) -> None:
    if settings.metrics_token is None:
        return
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    expected = settings.metrics_token.get_secret_value()
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        given.strip().encode(), expected.encode()
    ):
        raise NotAuthorizedException(
            "/metrics needs 'Authorization: Bearer <FLEET_METRICS_TOKEN>'",
            headers={"WWW-Authenticate": 'Bearer realm="fleet-metrics"'},
        )


@get(
    "/metrics",
    summary="Prometheus metrics",
    description="Sites, devices and links by state, probe results and durations, scheduler "
    "lateness, open alerts and alert messages by state, and API requests, in the Prometheus "
    "text format. Needs "
    "`Authorization: Bearer <FLEET_METRICS_TOKEN>` when that setting is given.",
    operation_id="metrics",
    tags=["service"],
    media_type=MEDIA_TYPE,
    opt={"exclude_from_auth": True},
    security=[],
    include_in_schema=False,
)
async def metrics(
    request: Request[Any, Any, Any], db: Database, settings: Settings
) -> Response[bytes]:
    _check_token(request, settings)
    snapshot = CollectorRegistry(auto_describe=False)
    live = await live_view(db, settings.probe_lease_s)
    snapshot.register(_Snapshot(live + await alert_view(db)))
    body = generate_latest(snapshot) + generate_latest(REGISTRY)
    return Response(body, media_type=MEDIA_TYPE, headers={"Cache-Control": "no-store"})
