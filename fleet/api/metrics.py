"""``/metrics`` for Prometheus, and the middleware that counts API requests by route template.

The live view (sites, devices and links by state) is read from the database at each scrape, so
it is the same in every API process and whichever process runs the probes; probe, scheduler and
request metrics are this process's own (``fleet.metrics``).
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from litestar import Request, Response, get
from litestar.enums import ScopeType
from litestar.exceptions import NotAuthorizedException
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlmodel import col

from fleet.api.geo import STATE_CODES
from fleet.api.problems import problem_type
from fleet.database import Database
from fleet.inventory.models import Country, Device, DeviceModel, Link, Site
from fleet.metrics import REGISTRY, observe_request
from fleet.probes.models import ObjectStatus, status_of
from fleet.probes.status import CONNECTED, DEGRADED, DISCONNECTED, MAINTENANCE, UNKNOWN
from fleet.settings import Settings

SITE_STATES = (CONNECTED, DEGRADED, DISCONNECTED, MAINTENANCE, UNKNOWN)
PROBED_LIFECYCLES = ("installed", "active", "faulty")

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


async def live_view(db: Database) -> list[Metric]:
    """Sites, devices and links by state, as read from the database now."""
    info = GaugeMetricFamily(
        "fleet_site_info",
        "A site of the inventory (always 1), with its name and coordinates for map panels.",
        labels=["site", "country", "kind", "name", "latitude", "longitude"],
    )
    connectivity = GaugeMetricFamily(
        "fleet_site_connectivity",
        "A site's connectivity: 2 connected, 1 degraded (backup link or devices down), "
        "0 disconnected, -1 maintenance, -2 unknown.",
        labels=["site", "country", "kind"],
    )
    site_state = GaugeMetricFamily(
        "fleet_site_state",
        "1 for the state a site is in, 0 for the others.",
        labels=["site", "country", "kind", "state"],
    )
    since = GaugeMetricFamily(
        "fleet_site_state_since_seconds",
        "When a site entered its current state (Unix time); absent while unknown.",
        labels=["site", "country", "kind"],
    )
    sites = GaugeMetricFamily(
        "fleet_sites", "Sites by country, kind and state.", labels=["country", "kind", "state"]
    )
    devices = GaugeMetricFamily(
        "fleet_devices",
        "Installed, active and faulty devices by kind and state.",
        labels=["kind", "state"],
    )
    links = GaugeMetricFamily(
        "fleet_links", "Active links by medium, role and state.", labels=["medium", "role", "state"]
    )
    site_counts: dict[tuple[str, str, str], int] = {}
    async with db.session() as session:
        rows: Any = await session.execute(
            sa.select(
                col(Site.code),
                col(Country.code),
                col(Site.kind),
                col(Site.name),
                col(Site.latitude),
                col(Site.longitude),
                col(ObjectStatus.state),
                col(ObjectStatus.since),
            )
            .join(Country, col(Site.country_id) == col(Country.id))
            .outerjoin(
                ObjectStatus,
                status_of("site", col(Site.id)),
            )
            .where(col(Site.lifecycle) != "decommissioned")
            .order_by(col(Site.code))
        )
        for code, country, kind, name, latitude, longitude, state, entered in rows:
            state = state or UNKNOWN
            labels = [code, country, kind]
            info.add_metric([*labels, name, f"{latitude:.6f}", f"{longitude:.6f}"], 1)
            connectivity.add_metric(labels, STATE_CODES.get(state, -2))
            for candidate in SITE_STATES:
                site_state.add_metric([*labels, candidate], 1 if state == candidate else 0)
            if entered is not None and state != UNKNOWN:
                since.add_metric(labels, entered.timestamp())
            key = (country, kind, state)
            site_counts[key] = site_counts.get(key, 0) + 1
        for (country, kind, state), count in sorted(site_counts.items()):
            sites.add_metric([country, kind, state], count)

        state_col = sa.func.coalesce(col(ObjectStatus.state), UNKNOWN).label("state")
        rows = await session.execute(
            sa.select(col(DeviceModel.kind), state_col, sa.func.count())
            .select_from(Device)
            .join(DeviceModel, col(Device.model_id) == col(DeviceModel.id))
            .outerjoin(
                ObjectStatus,
                status_of("device", col(Device.id)),
            )
            .where(col(Device.lifecycle).in_(PROBED_LIFECYCLES))
            .group_by(col(DeviceModel.kind), state_col)
            .order_by(col(DeviceModel.kind), state_col)
        )
        for kind, state, count in rows:
            devices.add_metric([kind, state], count)

        rows = await session.execute(
            sa.select(col(Link.medium), col(Link.role), state_col, sa.func.count())
            .select_from(Link)
            .outerjoin(
                ObjectStatus,
                status_of("link", col(Link.id)),
            )
            .where(col(Link.lifecycle) == "active")
            .group_by(col(Link.medium), col(Link.role), state_col)
            .order_by(col(Link.medium), col(Link.role), state_col)
        )
        for medium, role, state, count in rows:
            links.add_metric([medium, role, state], count)
    return [info, connectivity, site_state, since, sites, devices, links]


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
    "lateness and API requests, in the Prometheus text format. Needs "
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
    snapshot.register(_Snapshot(await live_view(db)))
    body = generate_latest(snapshot) + generate_latest(REGISTRY)
    return Response(body, media_type=MEDIA_TYPE, headers={"Cache-Control": "no-store"})
