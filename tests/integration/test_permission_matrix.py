"""The permission matrix, generated from the role table: every route x role x scope.

Scopes: ``in`` (a token limited to NE acting on an NE object), ``out`` (the same token acting on
an ML object) and ``all`` (an unlimited token acting on an NE object). The expected status comes
from ``fleet.access.roles`` alone; every refused request must leave the database unchanged.
"""

from __future__ import annotations

import asyncio
import itertools
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from litestar import Litestar
from litestar.routes import HTTPRoute
from litestar.testing import TestClient

from fleet.access.roles import PERMISSIONS, Role, allowed
from fleet.alerts.models import Alert, AlertDelivery
from fleet.api.app import create_app
from fleet.database import Database
from fleet.models import utcnow
from fleet.settings import Settings
from fleet.upgrades.models import Gap, WorkOrder
from tests import factories
from tests.conftest import auth, make_token

IN_SCOPE = ["NE", *(f"X{c}" for c in "ABCDEFGHIJKLMNOPQRSTU")]
SPARE_IN = iter(IN_SCOPE[1:])
SPARE_OUT = iter(f"Y{c}" for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ")


def _edge_round(world: World) -> dict[str, Any]:
    """A batch of one new round of NE-D1, as its site's edge poller sends it."""
    at = utcnow().isoformat()
    reading = {"kind": "tcp", "status": "ok", "started_at": at}
    device_id = int(world.ids["NE-D1"])
    return {
        "rounds": [{"device_id": device_id, "seq": next(UNIQUE), "at": at, "readings": [reading]}]
    }


def _fresh_pools() -> None:
    """Spare country codes, in the limited tokens' countries and outside them (each backend's
    run starts from an empty database)."""
    global SPARE_IN, SPARE_OUT
    SPARE_IN = iter(IN_SCOPE[1:])
    SPARE_OUT = iter(f"Y{c}" for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ")


UNIQUE = itertools.count(1)
SUCCESS = {"GET": 200, "POST": 201, "PATCH": 200, "DELETE": 204}
TABLES = (
    "country",
    "site",
    "device_model",
    "device",
    "link",
    "api_token",
    "credential_profile",
    "work_order",
    "maintenance_window",
    "alert",
    "attachment",
)


@dataclass
class Call:
    method: str
    url: str
    json: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    content: bytes | None = None  # a raw body (an uploaded file) instead of JSON
    success: int | None = None  # when it differs from SUCCESS[method]
    out_of_scope: int | None = None  # the answer when the target is outside the token's countries


@dataclass
class World:
    admin: TestClient[Any]
    ids: dict[str, Any]
    db_url: str = ""
    caller: str = ""

    def etag(self, url: str) -> str:
        response = self.admin.get(url)
        assert response.status_code == 200, response.text
        return response.headers["etag"]


Builder = Callable[[World, bool], Call]


def _site(world: World, inside: bool) -> str:
    return "NE-S1" if inside else "ML-S1"


def _fresh_country(world: World, inside: bool) -> str:
    code = next(SPARE_IN if inside else SPARE_OUT)
    factories.country(world.admin, code=code, name=f"Country {code}")
    return code


def _fresh_site(world: World, inside: bool) -> str:
    site = factories.site(world.admin, code=f"P-{next(UNIQUE)}", country="NE" if inside else "ML")
    return str(site["code"])


def _fresh_device(world: World, inside: bool) -> int:
    device = factories.device(world.admin, site=_site(world, inside), model="m-router")
    return int(device["id"])


def _fresh_link(world: World, inside: bool) -> int:
    link = factories.link(world.admin, site=_site(world, inside))
    return int(link["id"])


def _device(world: World, inside: bool) -> int:
    return int(world.ids["NE-D1" if inside else "ML-D1"])


def _link(world: World, inside: bool) -> int:
    return int(world.ids["NE-L1" if inside else "ML-L1"])


def _update(url: str, body: dict[str, Any]) -> Builder:
    def build(world: World, inside: bool) -> Call:
        return Call("PATCH", url, body, {"If-Match": world.etag(url)})

    return build


def _delete(make_url: Callable[[World, bool], str]) -> Builder:
    def build(world: World, inside: bool) -> Call:
        url = make_url(world, inside)
        return Call("DELETE", url, headers={"If-Match": world.etag(url)})

    return build


def _keyed(template: str, key: Callable[[World, bool], Any]) -> Callable[[World, bool], str]:
    return lambda world, inside: template.format(key(world, inside))


BUILDERS: dict[tuple[str, str], Builder] = {
    # countries
    ("GET", "/api/v1/countries"): lambda w, i: Call("GET", "/api/v1/countries"),
    ("GET", "/api/v1/countries/{key:str}"): lambda w, i: Call(
        "GET", f"/api/v1/countries/{'NE' if i else 'ML'}", out_of_scope=404
    ),
    ("POST", "/api/v1/countries"): lambda w, i: Call(
        "POST",
        "/api/v1/countries",
        {"code": next(SPARE_IN if i else SPARE_OUT), "name": "New", "region": "Sahel"},
        out_of_scope=403,
    ),
    ("PATCH", "/api/v1/countries/{key:str}"): lambda w, i: Call(
        **{
            **_update(f"/api/v1/countries/{'NE' if i else 'ML'}", {"name": f"N{next(UNIQUE)}"})(
                w, i
            ).__dict__,
            "out_of_scope": 404,
        }
    ),
    ("DELETE", "/api/v1/countries/{key:str}"): lambda w, i: Call(
        **{
            **_delete(_keyed("/api/v1/countries/{}", _fresh_country))(w, i).__dict__,
            "out_of_scope": 404,
        }
    ),
    # sites
    ("GET", "/api/v1/sites"): lambda w, i: Call("GET", "/api/v1/sites"),
    ("GET", "/api/v1/sites/{key:str}"): lambda w, i: Call(
        "GET", f"/api/v1/sites/{_site(w, i)}", out_of_scope=404
    ),
    ("POST", "/api/v1/sites"): lambda w, i: Call(
        "POST",
        "/api/v1/sites",
        {
            "code": f"NEW-{next(UNIQUE)}",
            "name": "New",
            "kind": "border_crossing_land",
            "country": "NE" if i else "ML",
            "latitude": 1.0,
            "longitude": 1.0,
        },
        out_of_scope=403,
    ),
    ("PATCH", "/api/v1/sites/{key:str}"): lambda w, i: Call(
        **{
            **_update(f"/api/v1/sites/{_site(w, i)}", {"notes": f"n{next(UNIQUE)}"})(w, i).__dict__,
            "out_of_scope": 404,
        }
    ),
    ("DELETE", "/api/v1/sites/{key:str}"): lambda w, i: Call(
        **{**_delete(_keyed("/api/v1/sites/{}", _fresh_site))(w, i).__dict__, "out_of_scope": 404}
    ),
    ("GET", "/api/v1/sites/{code:str}/history"): lambda w, i: Call(
        "GET", f"/api/v1/sites/{_site(w, i)}/history", out_of_scope=404
    ),
    # device models (the catalogue belongs to no country)
    ("GET", "/api/v1/device-models"): lambda w, i: Call("GET", "/api/v1/device-models"),
    ("GET", "/api/v1/device-models/{key:str}"): lambda w, i: Call(
        "GET", "/api/v1/device-models/m-camera"
    ),
    ("POST", "/api/v1/device-models"): lambda w, i: Call(
        "POST",
        "/api/v1/device-models",
        {
            "slug": f"new-{next(UNIQUE)}",
            "manufacturer": "Axis",
            "model": f"N{next(UNIQUE)}",
            "kind": "camera",
        },
    ),
    ("PATCH", "/api/v1/device-models/{key:str}"): lambda w, i: _update(
        "/api/v1/device-models/m-camera", {"recommended_firmware": f"1.{next(UNIQUE)}"}
    )(w, i),
    ("DELETE", "/api/v1/device-models/{key:str}"): _delete(
        lambda w, i: f"/api/v1/device-models/{factories.device_model(w.admin)['slug']}"
    ),
    # devices
    ("GET", "/api/v1/devices"): lambda w, i: Call("GET", "/api/v1/devices"),
    ("GET", "/api/v1/devices/{key:int}"): lambda w, i: Call(
        "GET", f"/api/v1/devices/{_device(w, i)}", out_of_scope=404
    ),
    ("POST", "/api/v1/devices"): lambda w, i: Call(
        "POST",
        "/api/v1/devices",
        {"serial": f"NEW{next(UNIQUE)}", "site": _site(w, i), "model": "m-camera"},
        out_of_scope=403,
    ),
    ("PATCH", "/api/v1/devices/{key:int}"): lambda w, i: Call(
        **{
            **_update(f"/api/v1/devices/{_device(w, i)}", {"hostname": f"h{next(UNIQUE)}"})(
                w, i
            ).__dict__,
            "out_of_scope": 404,
        }
    ),
    ("DELETE", "/api/v1/devices/{key:int}"): lambda w, i: Call(
        **{
            **_delete(_keyed("/api/v1/devices/{}", _fresh_device))(w, i).__dict__,
            "out_of_scope": 404,
        }
    ),
    # links
    ("GET", "/api/v1/links"): lambda w, i: Call("GET", "/api/v1/links"),
    ("GET", "/api/v1/links/{key:int}"): lambda w, i: Call(
        "GET", f"/api/v1/links/{_link(w, i)}", out_of_scope=404
    ),
    ("POST", "/api/v1/links"): lambda w, i: Call(
        "POST",
        "/api/v1/links",
        {
            "circuit_id": f"C{next(UNIQUE)}",
            "site": _site(w, i),
            "medium": "lte",
            "provider": "P",
            "bandwidth_kbps": 10,
        },
        out_of_scope=403,
    ),
    ("PATCH", "/api/v1/links/{key:int}"): lambda w, i: Call(
        **{
            **_update(f"/api/v1/links/{_link(w, i)}", {"bandwidth_kbps": 100 + next(UNIQUE)})(
                w, i
            ).__dict__,
            "out_of_scope": 404,
        }
    ),
    ("DELETE", "/api/v1/links/{key:int}"): lambda w, i: Call(
        **{**_delete(_keyed("/api/v1/links/{}", _fresh_link))(w, i).__dict__, "out_of_scope": 404}
    ),
    # the change log
    ("GET", "/api/v1/changes"): lambda w, i: Call("GET", "/api/v1/changes"),
    # offline batches: 200 with a result per change (an out-of-scope change is answered inside)
    ("POST", "/api/v1/batch"): lambda w, i: Call(
        "POST",
        "/api/v1/batch",
        {
            "changes": [
                {
                    "id": f"c{next(UNIQUE)}",
                    "op": "update",
                    "object": "device",
                    "key": _device(w, i),
                    "if_match": w.etag(f"/api/v1/devices/{_device(w, i)}"),
                    "data": {"hostname": f"b{next(UNIQUE)}"},
                }
            ]
        },
        success=200,
    ),
    # access control
    ("GET", "/api/v1/tokens"): lambda w, i: Call("GET", "/api/v1/tokens"),
    ("POST", "/api/v1/tokens"): lambda w, i: Call(
        "POST", "/api/v1/tokens", {"name": f"t{next(UNIQUE)}", "role": "viewer"}
    ),
    ("GET", "/api/v1/tokens/{token_id:int}"): lambda w, i: Call(
        "GET", f"/api/v1/tokens/{w.ids['spare-token']}"
    ),
    ("PATCH", "/api/v1/tokens/{token_id:int}"): lambda w, i: _update(
        f"/api/v1/tokens/{w.ids['spare-token']}", {"rate_limit_per_minute": next(UNIQUE)}
    )(w, i),
    ("DELETE", "/api/v1/tokens/{token_id:int}"): _delete(
        lambda w, i: (
            "/api/v1/tokens/"
            + str(
                w.admin.post(
                    "/api/v1/tokens", json={"name": f"d{next(UNIQUE)}", "role": "viewer"}
                ).json()["id"]
            )
        )
    ),
    ("GET", "/api/v1/audit-events"): lambda w, i: Call("GET", "/api/v1/audit-events"),
    # the live view and probes
    ("GET", "/api/v1/status/sites"): lambda w, i: Call("GET", "/api/v1/status/sites"),
    ("GET", "/api/v1/status/events"): lambda w, i: Call("GET", "/api/v1/status/events"),
    ("GET", "/api/v1/status/sites.geojson"): lambda w, i: Call(
        "GET", "/api/v1/status/sites.geojson"
    ),
    # timeout=0: what was missed, then the stream ends (a test client reads whole bodies)
    ("GET", "/api/v1/status/stream"): lambda w, i: Call(
        "GET", "/api/v1/status/stream?after=0&timeout=0"
    ),
    # the field app: a site's whole record (404 outside the token's countries), my work
    ("GET", "/api/v1/field/sites/{code:str}"): lambda w, i: Call(
        "GET", f"/api/v1/field/sites/{_site(w, i)}", out_of_scope=404
    ),
    ("GET", "/api/v1/field/work-orders"): lambda w, i: Call("GET", "/api/v1/field/work-orders"),
    ("GET", "/api/v1/sites/{code:str}/status"): lambda w, i: Call(
        "GET", f"/api/v1/sites/{_site(w, i)}/status", out_of_scope=404
    ),
    ("GET", "/api/v1/devices/{device_id:int}/results"): lambda w, i: Call(
        "GET", f"/api/v1/devices/{_device(w, i)}/results", out_of_scope=404
    ),
    ("GET", "/api/v1/availability"): lambda w, i: Call(
        "GET", f"/api/v1/availability?object_type=site&key={_site(w, i)}", out_of_scope=404
    ),
    ("GET", "/api/v1/workers"): lambda w, i: Call("GET", "/api/v1/workers"),
    # the edge pollers (an edge token serves NE-S1)
    ("GET", "/api/v1/edge/targets"): lambda w, i: Call("GET", "/api/v1/edge/targets"),
    ("POST", "/api/v1/edge/results"): lambda w, i: Call(
        "POST", "/api/v1/edge/results", json=_edge_round(w), success=200
    ),
    ("POST", "/api/v1/edge/heartbeat"): lambda w, i: Call(
        "POST",
        "/api/v1/edge/heartbeat",
        json={"version": "1", "buffered": 0, "dropped": 0, "buffer_max_age_s": 3600},
        success=200,
    ),
    ("POST", "/api/v1/devices/{device_id:int}/probe"): lambda w, i: Call(
        "POST", f"/api/v1/devices/{_device(w, i)}/probe", success=200, out_of_scope=404
    ),
    # maintenance windows
    ("GET", "/api/v1/maintenance-windows"): lambda w, i: Call("GET", "/api/v1/maintenance-windows"),
    ("GET", "/api/v1/maintenance-windows/{key:int}"): lambda w, i: Call(
        "GET", f"/api/v1/maintenance-windows/{_window(w, i)}", out_of_scope=404
    ),
    ("POST", "/api/v1/maintenance-windows"): lambda w, i: Call(
        "POST", "/api/v1/maintenance-windows", _window_body(_site(w, i)), out_of_scope=403
    ),
    ("PATCH", "/api/v1/maintenance-windows/{key:int}"): lambda w, i: Call(
        **{
            **_update(
                f"/api/v1/maintenance-windows/{_window(w, i)}", {"reason": f"r{next(UNIQUE)}"}
            )(w, i).__dict__,
            "out_of_scope": 404,
        }
    ),
    ("DELETE", "/api/v1/maintenance-windows/{key:int}"): lambda w, i: Call(
        **{
            **_delete(_keyed("/api/v1/maintenance-windows/{}", _fresh_window))(w, i).__dict__,
            "out_of_scope": 404,
        }
    ),
    # upgrades
    ("GET", "/api/v1/profiles"): lambda w, i: Call("GET", "/api/v1/profiles"),
    ("POST", "/api/v1/assessments"): lambda w, i: Call(
        "POST",
        "/api/v1/assessments",
        {"country": "NE" if i else "ML"},
        success=200,
        out_of_scope=404,
    ),
    ("GET", "/api/v1/gaps"): lambda w, i: Call("GET", "/api/v1/gaps"),
    ("GET", "/api/v1/work-orders"): lambda w, i: Call("GET", "/api/v1/work-orders"),
    ("GET", "/api/v1/work-orders/{order_id:int}"): lambda w, i: Call(
        "GET", f"/api/v1/work-orders/{_order(w, i)}", out_of_scope=404
    ),
    ("PATCH", "/api/v1/work-orders/{order_id:int}"): lambda w, i: Call(
        **{
            **_update(f"/api/v1/work-orders/{_order(w, i)}", {"programme": f"P{next(UNIQUE)}"})(
                w, i
            ).__dict__,
            "out_of_scope": 404,
        }
    ),
    ("POST", "/api/v1/work-orders/{order_id:int}/transitions"): lambda w, i: Call(
        **{
            **_transition(w, i).__dict__,
            "out_of_scope": 404,
        }
    ),
    ("GET", "/api/v1/work-orders/{order_id:int}/journal"): lambda w, i: Call(
        "GET", f"/api/v1/work-orders/{_order(w, i)}/journal", out_of_scope=404
    ),
    ("POST", "/api/v1/work-orders/{order_id:int}/journal"): lambda w, i: Call(
        "POST", f"/api/v1/work-orders/{_order(w, i)}/journal", {"note": "on site"}, out_of_scope=404
    ),
    ("GET", "/api/v1/plans"): lambda w, i: Call("GET", "/api/v1/plans"),
    ("GET", "/api/v1/evaluation"): lambda w, i: Call("GET", "/api/v1/evaluation"),
    # alerts (an acknowledgement or a re-send each on an alert or message of its own)
    ("GET", "/api/v1/alerts"): lambda w, i: Call("GET", "/api/v1/alerts"),
    ("GET", "/api/v1/alerts/{alert_id:int}"): lambda w, i: Call(
        "GET", f"/api/v1/alerts/{_alert(w, i)}", out_of_scope=404
    ),
    ("POST", "/api/v1/alerts/{alert_id:int}/ack"): lambda w, i: Call(
        "POST", f"/api/v1/alerts/{_fresh_alert(w, i)[0]}/ack", success=200, out_of_scope=404
    ),
    ("GET", "/api/v1/alerts/{alert_id:int}/deliveries"): lambda w, i: Call(
        "GET", f"/api/v1/alerts/{_alert(w, i)}/deliveries", out_of_scope=404
    ),
    ("POST", "/api/v1/alert-deliveries/{delivery_id:int}/resend"): lambda w, i: Call(
        "POST",
        f"/api/v1/alert-deliveries/{_fresh_alert(w, i)[1]}/resend",
        success=200,
        out_of_scope=404,
    ),
    ("GET", "/api/v1/alert-rules"): lambda w, i: Call("GET", "/api/v1/alert-rules"),
    ("GET", "/api/v1/alert-channels"): lambda w, i: Call("GET", "/api/v1/alert-channels"),
    # attachments (scoped as the object they belong to)
    ("POST", "/api/v1/sites/{code:str}/attachments"): lambda w, i: _upload(
        f"/api/v1/sites/{_site(w, i)}/attachments"
    ),
    ("POST", "/api/v1/devices/{device_id:int}/attachments"): lambda w, i: _upload(
        f"/api/v1/devices/{_device(w, i)}/attachments"
    ),
    ("POST", "/api/v1/work-orders/{order_id:int}/attachments"): lambda w, i: _upload(
        f"/api/v1/work-orders/{_order(w, i)}/attachments"
    ),
    ("GET", "/api/v1/sites/{code:str}/attachments"): lambda w, i: Call(
        "GET", f"/api/v1/sites/{_site(w, i)}/attachments", out_of_scope=404
    ),
    ("GET", "/api/v1/devices/{device_id:int}/attachments"): lambda w, i: Call(
        "GET", f"/api/v1/devices/{_device(w, i)}/attachments", out_of_scope=404
    ),
    ("GET", "/api/v1/work-orders/{order_id:int}/attachments"): lambda w, i: Call(
        "GET", f"/api/v1/work-orders/{_order(w, i)}/attachments", out_of_scope=404
    ),
    ("GET", "/api/v1/attachments/{attachment_id:int}"): lambda w, i: Call(
        "GET", f"/api/v1/attachments/{_attachment(w, i)}", out_of_scope=404
    ),
    ("GET", "/api/v1/attachments/{attachment_id:int}/content"): lambda w, i: Call(
        "GET", f"/api/v1/attachments/{_attachment(w, i)}/content", out_of_scope=404
    ),
    ("DELETE", "/api/v1/attachments/{attachment_id:int}"): lambda w, i: Call(
        **{
            **_delete(_keyed("/api/v1/attachments/{}", _fresh_attachment))(w, i).__dict__,
            "out_of_scope": 404,
        }
    ),
    # credential profiles
    ("GET", "/api/v1/credential-profiles"): lambda w, i: Call("GET", "/api/v1/credential-profiles"),
    ("GET", "/api/v1/credential-profiles/{name:str}"): lambda w, i: Call(
        "GET", "/api/v1/credential-profiles/spare-profile"
    ),
    ("POST", "/api/v1/credential-profiles"): lambda w, i: Call(
        "POST", "/api/v1/credential-profiles", _profile(f"p{next(UNIQUE)}")
    ),
    ("PATCH", "/api/v1/credential-profiles/{name:str}"): lambda w, i: _update(
        "/api/v1/credential-profiles/spare-profile", {"username": f"u{next(UNIQUE)}"}
    )(w, i),
    ("DELETE", "/api/v1/credential-profiles/{name:str}"): _delete(
        lambda w, i: (
            "/api/v1/credential-profiles/"
            + w.admin.post("/api/v1/credential-profiles", json=_profile(f"d{next(UNIQUE)}")).json()[
                "name"
            ]
        )
    ),
}


PDF = b"%PDF-1.4\ntrailer<<>>\n%%EOF\n"


def _upload(url: str) -> Call:
    return Call(
        "POST",
        f"{url}?name=matrix.pdf",
        headers={"Content-Type": "application/pdf"},
        content=PDF,
        out_of_scope=404,
    )


def _fresh_attachment(world: World, inside: bool) -> int:
    response = world.admin.post(
        f"/api/v1/sites/{_site(world, inside)}/attachments",
        content=PDF,
        params={"name": "matrix.pdf"},
        headers={"Content-Type": "application/pdf"},
    )
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def _attachment(world: World, inside: bool) -> int:
    return int(world.ids["NE-AT" if inside else "ML-AT"])


def _order(world: World, inside: bool) -> int:
    return int(world.ids["NE-WO" if inside else "ML-WO"])


def _transition(world: World, inside: bool) -> Call:
    """A move every role allowed by the table can make: starting a scheduled order assigned to
    the caller (field engineers move only their own orders)."""
    order_id = _fresh_order(world, inside, assignee=world.caller)
    url = f"/api/v1/work-orders/{order_id}"
    return Call(
        "POST",
        f"{url}/transitions",
        {"to": "in_progress", "note": "matrix"},
        {"If-Match": world.etag(url)},
        success=200,
    )


def _fresh_order(world: World, inside: bool, assignee: str | None = None) -> int:
    async def insert() -> int:
        db = Database(world.db_url)
        try:
            async with db.session(write=True) as session:
                site_id = await session.scalar(
                    sa.text("SELECT id FROM site WHERE code = :c"), {"c": _site(world, inside)}
                )
                now = utcnow()
                gap = Gap(
                    site_id=site_id,
                    profile="p",
                    profile_version=1,
                    rule_id=f"r{next(UNIQUE)}",
                    rule_type="min_devices",
                    subject="kind:camera",
                    severity="high",
                    work="install",
                    required=">= 2",
                    actual="1",
                    first_seen=now,
                    last_seen=now,
                )
                session.add(gap)
                await session.flush()
                order = WorkOrder(
                    gap_id=gap.id,
                    site_id=site_id,
                    kind="install",
                    state="scheduled",
                    title="matrix",
                    assignee=assignee,
                )
                session.add(order)
                await session.commit()
                assert order.id is not None
                return order.id
        finally:
            await db.dispose()

    return asyncio.run(insert())


def _alert(world: World, inside: bool) -> int:
    return int(world.ids["NE-AL" if inside else "ML-AL"])


def _fresh_alert(world: World, inside: bool) -> tuple[int, int]:
    """An open alert of the site, and a failed message of it (to send again)."""

    async def insert() -> tuple[int, int]:
        db = Database(world.db_url)
        try:
            async with db.session(write=True) as session:
                code = _site(world, inside)
                site_id = await session.scalar(
                    sa.text("SELECT id FROM site WHERE code = :c"), {"c": code}
                )
                now = utcnow()
                alert = Alert(
                    rule_name="matrix",
                    rule_kind="site_disconnected",
                    object_type="site",
                    object_id=next(UNIQUE),
                    object_key=code,
                    site_id=site_id,
                    site_code=code,
                    country_code=code[:2],
                    state="open",
                    summary="matrix",
                    since=now,
                )
                session.add(alert)
                await session.flush()
                assert alert.id is not None
                delivery = AlertDelivery(
                    alert_id=alert.id,
                    channel="hook",
                    event="opened",
                    state="failed",
                    next_at=now,
                    deadline=now,
                )
                session.add(delivery)
                await session.commit()
                assert delivery.id is not None
                return alert.id, delivery.id
        finally:
            await db.dispose()

    return asyncio.run(insert())


def _window_body(site: str) -> dict[str, Any]:
    return {
        "site": site,
        "starts_at": "2030-01-01T00:00:00Z",
        "ends_at": "2030-01-01T04:00:00Z",
        "reason": "matrix",
    }


def _fresh_window(world: World, inside: bool) -> int:
    response = world.admin.post(
        "/api/v1/maintenance-windows", json=_window_body(_site(world, inside))
    )
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def _window(world: World, inside: bool) -> int:
    return int(world.ids["NE-W1" if inside else "ML-W1"])


def _profile(name: str) -> dict[str, Any]:
    return {"name": name, "kind": "snmp_v2c", "secret": {"community": "c0mmunity"}}


def guarded_routes(app: Litestar) -> dict[tuple[str, str], str]:
    """(method, path) -> permission for every route under /api/v1 that needs a token."""
    found: dict[tuple[str, str], str] = {}
    for route in app.routes:
        if not isinstance(route, HTTPRoute) or not route.path.startswith("/api/v1"):
            continue
        for handler in route.route_handlers:
            if handler.opt.get("exclude_from_auth"):
                continue
            for method in handler.http_methods:
                if method in ("HEAD", "OPTIONS"):
                    continue
                permission = handler.opt.get("permission")
                assert permission in PERMISSIONS, f"{method} {route.path} has no known permission"
                found[(method, route.path)] = permission
    return found


async def _fingerprint(url: str) -> tuple[Any, ...]:
    parts = [
        f"(SELECT count(*) FROM {t}), (SELECT coalesce(sum(version), 0) FROM {t})" for t in TABLES
    ]
    parts.append("(SELECT count(*) FROM change_record)")
    # a message sent again is pending again (the outbox has no version counter)
    parts.append("(SELECT count(*) FROM alert_delivery WHERE state = 'pending')")
    db = Database(url)
    try:
        async with db.session() as session:
            row = (await session.execute(sa.text("SELECT " + ", ".join(parts)))).one()
            return tuple(row)
    finally:
        await db.dispose()


def test_permission_matrix(settings: Settings, client: TestClient[Any], db_url: str) -> None:
    _fresh_pools()
    for code, name in (("NE", "Niger"), ("ML", "Mali")):
        factories.country(client, code=code, name=name)
    factories.device_model(client, slug="m-router", kind="router")
    factories.device_model(client, slug="m-camera", kind="camera")
    ids: dict[str, Any] = {}
    listener = socket.create_server(("127.0.0.1", 0))  # what the devices' TCP probe reaches
    port = listener.getsockname()[1]
    for country in ("NE", "ML"):
        factories.site(client, code=f"{country}-S1", country=country)
        device = factories.device(
            client,
            site=f"{country}-S1",
            model="m-router",
            probes=["tcp"],
            management_address="127.0.0.1",
            probe_port=port,
        )
        ids[f"{country}-W1"] = _fresh_window(World(client, ids), country == "NE")
        ids[f"{country}-D1"] = device["id"]
        ids[f"{country}-L1"] = factories.link(
            client, site=f"{country}-S1", terminating_device_id=device["id"]
        )["id"]
    assert (
        client.post("/api/v1/credential-profiles", json=_profile("spare-profile")).status_code
        == 201
    )
    ids["spare-token"] = client.post(
        "/api/v1/tokens", json={"name": "spare", "role": "viewer"}
    ).json()["id"]
    world = World(client, ids, db_url)
    ids["NE-WO"] = _fresh_order(world, True)
    ids["ML-WO"] = _fresh_order(world, False)
    ids["NE-AT"] = _fresh_attachment(world, True)
    ids["ML-AT"] = _fresh_attachment(world, False)
    ids["NE-AL"] = _fresh_alert(world, True)[0]
    ids["ML-AL"] = _fresh_alert(world, False)[0]

    app = create_app(settings)
    routes = guarded_routes(app)
    assert set(routes) == set(BUILDERS), (
        f"routes without a matrix entry: {set(routes) ^ set(BUILDERS)}"
    )

    secrets = {
        (role, scope): make_token(
            db_url,
            f"m-{role.value}-{scope}",
            role.value,
            IN_SCOPE if scope != "all" else None,
            rate_limit_per_minute=0,
            sites=["NE-S1"] if role is Role.edge else None,
        )
        for role in Role
        for scope in ("limited", "all")
    }
    mismatches: list[str] = []
    cells = 0
    with TestClient(app) as caller:
        for (method, path), permission in sorted(routes.items()):
            for role in Role:
                for scope in ("in", "out", "all"):
                    cells += 1
                    world.caller = f"m-{role.value}-{'all' if scope == 'all' else 'limited'}"
                    call = BUILDERS[(method, path)](world, scope != "out")
                    limited = scope != "all"
                    if not allowed(role, permission, scoped=limited):
                        expected = 403
                    elif scope == "out" and call.out_of_scope is not None:
                        expected = call.out_of_scope
                    else:
                        expected = call.success or SUCCESS[method]
                    before = asyncio.run(_fingerprint(db_url)) if expected >= 400 else None
                    token = secrets[(role, "all" if scope == "all" else "limited")]
                    response = caller.request(
                        call.method,
                        call.url,
                        json=call.json,
                        content=call.content,
                        headers={**call.headers, **auth(token)},
                    )
                    if response.status_code != expected:
                        mismatches.append(
                            f"{method} {path} as {role.value}/{scope}: {response.status_code} "
                            f"(expected {expected}) {response.text[:200]}"
                        )
                    elif before is not None and asyncio.run(_fingerprint(db_url)) != before:
                        mismatches.append(
                            f"{method} {path} as {role.value}/{scope}: refused but changed data"
                        )
    listener.close()
    print(f"permission matrix: {len(routes)} routes x {len(Role)} roles x 3 scopes = {cells} cells")
    assert not mismatches, "\n".join(mismatches)
    assert cells == len(routes) * len(Role) * 3
