"""Sites as GeoJSON (RFC 7946) for map tools: Grafana's Geomap, Leaflet, QGIS.

Properties are flat (no nested objects) so that every tool can show and style them; the state
is also given as a number (``state_code``) for colour thresholds.
"""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any, Literal

from litestar import Request, Response, get
from pydantic import BaseModel, Field, create_model

from fleet.api.deps import list_params
from fleet.api.openapi import problem_responses
from fleet.api.representations import answer
from fleet.api.status import SITES, _scoped_sites, _site_headline
from fleet.database import Database
from fleet.errors import InvalidInput
from fleet.pagination import ListParams, apply
from fleet.probes.choices import DEVICE_STATES
from fleet.probes.live import STATE_CODES
from fleet.settings import Settings

GEOJSON = "application/geo+json"
MAX_FEATURES = 10_000
# Also the value of fleet_site_connectivity in /metrics.


class Point(BaseModel):
    type: Literal["Point"]
    coordinates: list[float] = Field(
        min_length=2, max_length=2, description="[longitude, latitude]"
    )


class _Properties(BaseModel):
    code: str
    name: str
    kind: str
    country: str
    criticality: int
    state: str
    state_code: int = Field(
        description="2 connected, 1 degraded, 0 disconnected, -1 maintenance, -2 unknown"
    )
    since: datetime | None
    reason: str | None
    link_in_use: str | None = Field(description="role medium (circuit id)")
    link_role: str | None
    link_medium: str | None
    link_circuit: str | None


_COUNTS: dict[str, Any] = {f"devices_{state}": (int, ...) for state in DEVICE_STATES}
SiteProperties = create_model(
    "SiteProperties",
    __base__=_Properties,
    __doc__="A site's flat properties; `devices_<state>`: its devices in that state.",
    **_COUNTS,
    url=(str, Field(description="The site's page on the board")),
)


class SiteFeature(BaseModel):
    """A site as a GeoJSON Point feature."""

    type: Literal["Feature"]
    id: str = Field(description="The site's code")
    geometry: Point
    properties: SiteProperties


class SiteFeatureCollection(BaseModel):
    """Every matching site as GeoJSON (RFC 7946)."""

    type: Literal["FeatureCollection"]
    features: list[SiteFeature]


def feature(site: dict[str, Any]) -> dict[str, Any]:
    """One site headline (as /status/sites gives it) as a GeoJSON Point feature."""
    link = site.get("link_in_use") or {}
    devices = site.get("devices") or {}
    since = site.get("since")
    return {
        "type": "Feature",
        "id": site["code"],
        "geometry": {
            "type": "Point",
            "coordinates": [round(site["longitude"], 6), round(site["latitude"], 6)],
        },
        "properties": {
            "code": site["code"],
            "name": site["name"],
            "kind": site["kind"],
            "country": site["country"],
            "criticality": site["criticality"],
            "state": site["state"],
            "state_code": STATE_CODES.get(site["state"], -2),
            "since": since.isoformat() if since is not None else None,
            "reason": site.get("reason"),
            "link_in_use": (
                f"{link['role']} {link['medium']} ({link['circuit_id']})" if link else None
            ),
            "link_role": link.get("role"),
            "link_medium": link.get("medium"),
            "link_circuit": link.get("circuit_id"),
            **{f"devices_{state}": int(devices.get(state, 0)) for state in DEVICE_STATES},
            "url": f"/sites/{site['code']}",
        },
    }


@get(
    "/status/sites.geojson",
    summary="Site connectivity as GeoJSON",
    description="A FeatureCollection of the sites (Point geometry `[longitude, latitude]`) with "
    "their code, name, kind, country, state (and `state_code`: 2 connected, 1 degraded, "
    "0 disconnected, -1 maintenance, -2 unknown), since when, the link in use and device counts "
    "by state. Filters as for `/status/sites` (`country`, `kind`, `state`, `q`); not paged: "
    f"every matching site, at most {MAX_FEATURES}.",
    operation_id="status_sites_geojson",
    tags=["status"],
    media_type=GEOJSON,
    opt={"permission": "status:read"},
    responses=answer(SiteFeatureCollection, "The sites as a FeatureCollection", media_type=GEOJSON)
    | problem_responses(401, 403, 422),
)
async def status_sites_geojson(
    request: Request[Any, Any, Any], db: Database, settings: Settings
) -> Response[dict[str, Any]]:
    params = list_params(request, settings)
    if params.cursor is not None:
        raise InvalidInput("the GeoJSON is not paged: drop the cursor", field="cursor")
    statement, _, _ = apply(
        _scoped_sites(request),
        SITES,
        ListParams(
            filters=params.filters,
            q=params.q,
            sort=params.sort,
            limit=params.limit if "limit" in request.query_params else MAX_FEATURES,
        ),
        max_limit=MAX_FEATURES,
    )
    async with db.session() as session:
        rows = (await session.execute(statement)).all()
    features = [feature(_site_headline(row)) for row in rows[:MAX_FEATURES]]
    return Response(
        {"type": "FeatureCollection", "features": features},
        media_type=GEOJSON,
    )


# --- the offline map ------------------------------------------------------------------

OUTLINES = Path(__file__).resolve().parents[1] / "static" / "geo" / "countries.geojson"
Ring = list[tuple[float, float]]


@dataclass(frozen=True)
class Outline:
    code: str
    name: str
    rings: list[Ring]

    def bounds(self) -> tuple[float, float, float, float]:
        lons = [p[0] for ring in self.rings for p in ring]
        lats = [p[1] for ring in self.rings for p in ring]
        return min(lons), min(lats), max(lons), max(lats)

    def centroid(self) -> tuple[float, float]:
        """The area centroid of the largest ring (where the country's name goes)."""

        def area_and_centre(ring: Ring) -> tuple[float, float, float]:
            a = cx = cy = 0.0
            for (x0, y0), (x1, y1) in itertools.pairwise([*ring, ring[0]]):
                cross = x0 * y1 - x1 * y0
                a += cross
                cx += (x0 + x1) * cross
                cy += (y0 + y1) * cross
            return abs(a / 2), cx / (3 * a) if a else ring[0][0], cy / (3 * a) if a else ring[0][1]

        _, x, y = max((area_and_centre(r) for r in self.rings), key=lambda t: t[0])
        return x, y


@cache
def outlines() -> tuple[Outline, ...]:
    """Country outlines shipped with fleet: Natural Earth 1:110m admin-0 (public domain) for
    West Africa, the Sahel and their neighbours (see scripts/extract_outlines.py)."""
    data = json.loads(OUTLINES.read_text(encoding="utf-8"))
    found = []
    for item in data["features"]:
        rings = [
            [(float(x), float(y)) for x, y in ring]
            for polygon in item["geometry"]["coordinates"]
            for ring in polygon
        ]
        found.append(Outline(item["properties"]["iso_a2"], item["properties"]["name"], rings))
    return tuple(found)


def _degrees(value: float, positive: str, negative: str) -> str:
    number = f"{abs(value):g}"
    return f"{number}°{positive if value > 0 else negative if value < 0 else ''}"


@dataclass(frozen=True)
class MapView:
    """An equirectangular projection of a box of longitudes and latitudes onto an SVG
    ``width`` units wide (longitudes shrunk by the cosine of the middle latitude, so that
    shapes near the box's middle keep their proportions)."""

    west: float
    south: float
    east: float
    north: float
    width: float = 1000.0

    @classmethod
    def around(
        cls, points: list[tuple[float, float]], pad: float = 1.5, min_span: float = 8.0
    ) -> MapView:
        if not points:
            return cls(-18.0, 2.0, 25.0, 26.0)
        lons = [p[0] for p in points]
        lats = [p[1] for p in points]
        west, east = min(lons) - pad, max(lons) + pad
        south, north = min(lats) - pad, max(lats) + pad
        if east - west < min_span:
            middle = (east + west) / 2
            west, east = middle - min_span / 2, middle + min_span / 2
        if north - south < min_span * 0.6:
            middle = (north + south) / 2
            south, north = middle - min_span * 0.3, middle + min_span * 0.3
        return cls(max(-180.0, west), max(-85.0, south), min(180.0, east), min(85.0, north))

    @property
    def shrink(self) -> float:
        return math.cos(math.radians((self.south + self.north) / 2))

    @property
    def scale(self) -> float:
        return self.width / ((self.east - self.west) * self.shrink)

    @property
    def height(self) -> float:
        return round((self.north - self.south) * self.scale, 1)

    def xy(self, lon: float, lat: float) -> tuple[float, float]:
        return (
            round((lon - self.west) * self.shrink * self.scale, 1),
            round((self.north - lat) * self.scale, 1),
        )

    def _path(self, rings: list[Ring]) -> str:
        parts = []
        for ring in rings:
            points = [self.xy(lon, lat) for lon, lat in ring]
            parts.append("M" + "L".join(f"{x:g},{y:g}" for x, y in points) + "Z")
        return "".join(parts)

    def _visible(self, bounds: tuple[float, float, float, float]) -> bool:
        west, south, east, north = bounds
        return west < self.east and east > self.west and south < self.north and north > self.south

    def outlines(self) -> list[dict[str, str]]:
        return [
            {"code": o.code, "name": o.name, "d": self._path(o.rings)}
            for o in outlines()
            if self._visible(o.bounds())
        ]

    def labels(self, codes: set[str], margin: float = 1.5) -> list[dict[str, Any]]:
        """Names of the given countries, at their centroids, moved into the view when the
        centroid is outside it but part of the country is in it."""
        found = []
        for outline in outlines():
            if outline.code not in codes or not self._visible(outline.bounds()):
                continue
            west, south, east, north = outline.bounds()
            lon, lat = outline.centroid()
            lon = min(max(lon, self.west + margin, west), self.east - margin, east)
            lat = min(max(lat, self.south + margin / 2, south), self.north - margin / 2, north)
            x, y = self.xy(lon, lat)
            found.append({"code": outline.code, "name": outline.name, "x": x, "y": y})
        return found

    def graticule(self) -> list[dict[str, Any]]:
        """Meridians and parallels every 1, 2, 5 or 10 degrees, with their labels."""
        span = max(self.east - self.west, self.north - self.south)
        step = next(s for s in (1, 2, 5, 10, 20, 30) if span / s <= 10)
        lines = []
        lon = math.ceil(self.west / step) * step
        while lon < self.east:
            (x, top), (_, bottom) = self.xy(lon, self.north), self.xy(lon, self.south)
            lines.append(
                {
                    "d": f"M{x:g},{top:g}V{bottom:g}",
                    "label": _degrees(lon, "E", "W"),
                    "degrees": lon,
                    "x": x,
                    "y": bottom,
                    "axis": "lon",
                }
            )
            lon += step
        lat = math.ceil(self.south / step) * step
        while lat < self.north:
            (left, y), (right, _) = self.xy(self.west, lat), self.xy(self.east, lat)
            lines.append(
                {
                    "d": f"M{left:g},{y:g}H{right:g}",
                    "label": _degrees(lat, "N", "S"),
                    "degrees": lat,
                    "x": left,
                    "y": y,
                    "axis": "lat",
                }
            )
            lat += step
        return lines
