"""The edge pollers' routes: their sites' targets, the rounds they buffered, their heartbeats.
Only an edge token may use them, and only for the sites it names (see fleet.probes.edge)."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Annotated, Any, Literal

from litestar import Request, Response, get, post
from litestar.datastructures import State
from litestar.params import Parameter
from pydantic import BaseModel, Field

from fleet.api.body_schemas import ANY_TEXT
from fleet.api.conditional import IfNoneMatch, not_modified
from fleet.api.deps import principal_of
from fleet.api.openapi import problem_responses
from fleet.api.representations import answer
from fleet.database import Database
from fleet.inventory.schemas import Strict
from fleet.probes import edge
from fleet.probes.edge_wire import reading_of, spec_document
from fleet.probes.types import ProbeStatus
from fleet.settings import Settings

Whole = Annotated[int, Field(ge=0, le=2**53)]
#: A reading's value or its name: text without a NUL (every body refuses one)
ValueText = Annotated[str, Field(pattern=ANY_TEXT)]


class EdgeInterface(Strict):
    index: Annotated[int, Field(ge=0, le=2**31)]
    oper_status: Annotated[str, Field(max_length=20)]
    in_octets: Whole | None = None
    out_octets: Whole | None = None


class EdgeReading(Strict):
    """One probe's reading, as ``probe_once`` made it at the edge."""

    kind: Literal["snmp", "ssh", "http", "tcp"]
    status: ProbeStatus
    started_at: datetime = Field(description="When the probe started (with a time zone)")
    duration_ms: Annotated[float, Field(ge=0, le=86_400_000)] = 0.0
    reason: Annotated[str, Field(max_length=200)] = ""
    uptime_seconds: Annotated[float, Field(ge=0)] | None = None
    sys_descr: Annotated[str, Field(max_length=200)] | None = None
    firmware_version: Annotated[str, Field(max_length=64)] | None = None
    interfaces: Annotated[list[EdgeInterface], Field(max_length=64)] = []
    values: Annotated[dict[ValueText, ValueText | int | float], Field(max_length=32)] = {}
    host_key: Annotated[str, Field(max_length=4000)] | None = None
    http_status: Annotated[int, Field(ge=100, le=599)] | None = None


class EdgeRound(Strict):
    """One round of one device's probes."""

    device_id: Annotated[int, Field(ge=1)]
    seq: Whole = Field(description="The edge's sequence number of this device's rounds")
    at: datetime = Field(description="When the round started (with a time zone)")
    readings: Annotated[list[EdgeReading], Field(min_length=1, max_length=8)]


class EdgeResults(Strict):
    """Rounds an edge probed, oldest first per device; a round sent again is stored once."""

    rounds: Annotated[list[EdgeRound], Field(min_length=1, max_length=edge.MAX_ROUNDS)]


class EdgeStored(BaseModel):
    accepted: int = Field(description="Rounds stored now")
    duplicates: int = Field(description="Rounds stored by an earlier send, not again")


class EdgeHeartbeat(Strict):
    """What the edge says of itself and of its buffer."""

    version: Annotated[str, Field(min_length=1, max_length=40)]
    buffered: Whole = Field(description="Rounds waiting in its buffer")
    oldest_buffered_at: datetime | None = Field(default=None, description="Its oldest round's")
    dropped: Whole = Field(description="Rounds its buffer's bounds dropped since it began")
    buffer_max_age_s: Annotated[int, Field(ge=1, le=365 * 86_400)] = Field(
        description="How old a round its buffer keeps"
    )


class EdgeHeard(BaseModel):
    heard_at: datetime = Field(description="When the heartbeat was recorded")


class EdgeTargets(BaseModel):
    """The devices an edge probes, with what a probe needs."""

    sites: list[str] = Field(description="The site codes served")
    probe_interval_s: float = Field(description="A device's interval when it sets none")
    devices: list[dict[str, Any]] = Field(
        description="Each device's probes: `device_id`, `site_id`, `serial`, `kinds`, "
        "`interval_s` and the `target` (address, ports, SNMP, SSH and HTTP options with their "
        "credentials in clear: keep them encrypted at rest)"
    )


Sites = Annotated[
    list[str] | None,
    Parameter(query="site", required=False, description="Site code(s) (default: every one)"),
]


async def _edge_of(request: Request[Any, Any, Any], db: Database, wanted: list[str]) -> edge.Edge:
    principal = principal_of(request)
    async with db.session() as session:
        return await edge.edge_of(session, principal.token_id, principal.sites, wanted)


@get(
    "/edge/targets",
    summary="An edge's targets",
    description="The probe-able devices of the sites the edge token serves (or of the `site`s "
    "asked, among them), with their credentials; 304 with `If-None-Match` when unchanged.",
    operation_id="edge_targets",
    tags=["edge"],
    opt={"permission": "edge:read"},
    responses=answer(EdgeTargets, "The devices to probe") | problem_responses(304, 401, 403),
)
async def edge_targets(
    request: Request[Any, Any, Any],
    db: Database,
    settings: Settings,
    state: State,
    if_none_match: IfNoneMatch = None,
    site: Sites = None,
) -> Response[Any]:
    served = await _edge_of(request, db, site or [])
    async with db.session() as session:
        specs = await edge.edge_targets(session, state.cipher, served)
    codes = sorted(site or principal_of(request).sites)
    body = {
        "sites": codes,
        "probe_interval_s": settings.probe_interval_s,
        "devices": [spec_document(spec) for spec in specs],
    }
    text = json.dumps(body, sort_keys=True, default=str).encode()
    tag = f'"{hashlib.sha256(text).hexdigest()[:32]}"'
    return not_modified(if_none_match, tag) or Response(body, headers={"ETag": tag})


@post(
    "/edge/results",
    summary="An edge's rounds",
    description=f"Store rounds an edge probed, at most {edge.MAX_ROUNDS} a batch. Each is "
    "stored once (by device and sequence number), so a batch may be sent again; a round "
    "newer than its device's last one moves the live state at its own time, an older one "
    "goes to the history only. A device outside the token's sites: 403, nothing stored.",
    operation_id="edge_results",
    tags=["edge"],
    opt={"permission": "edge:report"},
    status_code=200,
    responses=answer(EdgeStored, "What the batch stored")
    | problem_responses(400, 401, 403, 409, 422),
)
async def edge_results(
    request: Request[Any, Any, Any], db: Database, settings: Settings, data: EdgeResults
) -> dict[str, Any]:
    served = await _edge_of(request, db, [])
    rounds = [
        edge.Round(
            item.device_id,
            item.seq,
            item.at,
            [reading_of(r.model_dump(), item.device_id) for r in item.readings],
        )
        for item in data.rounds
    ]
    stored = await edge.ingest(db, served, rounds, settings.state_confirmations)
    return {"accepted": stored.accepted, "duplicates": stored.duplicates}


@post(
    "/edge/heartbeat",
    summary="An edge's heartbeat",
    description="The edge is alive; its buffer's depth, oldest round and dropped count (the "
    "status of its sites shows them).",
    operation_id="edge_heartbeat",
    tags=["edge"],
    opt={"permission": "edge:report"},
    status_code=200,
    responses=answer(EdgeHeard, "Recorded") | problem_responses(400, 401, 403, 422),
)
async def edge_heartbeat(
    request: Request[Any, Any, Any], db: Database, data: EdgeHeartbeat
) -> dict[str, Any]:
    served = await _edge_of(request, db, [])
    heard = await edge.beat(db, served, edge.Heartbeat(**data.model_dump()))
    return {"heard_at": heard}


ROUTES = (edge_targets, edge_results, edge_heartbeat)
