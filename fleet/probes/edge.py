"""The central side of the edge pollers: which sites an edge serves, the targets it reads, the
rounds it sends back and its heartbeats.

A site is *edge-served* while an enabled, unexpired token of role ``edge`` names it
(``api_token.sites``): the central schedulers neither probe its devices nor evaluate its
states (:func:`served_sites`); its edge poller probes them and sends the rounds.

Rounds are stored once: each carries the edge's sequence number for its device, and an
``edge_receipt`` row (primary key: token, device, sequence) is written in the same
transaction as its results, so a batch sent twice, or sent again after half of it was
stored, adds nothing twice. A round newer than the device's last one goes through a status
engine at its own time (states, events and availability as if it had been probed
centrally then); an older one is kept in the results only and changes no state.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from fleet.access.models import ApiToken
from fleet.access.roles import Role
from fleet.database import Database
from fleet.errors import Conflict, Forbidden, InvalidInput
from fleet.inventory.credentials import Cipher
from fleet.inventory.models import Device, Site
from fleet.logging import get_logger
from fleet.models import utcnow
from fleet.probes import targets
from fleet.probes.models import EdgeNode, EdgeReceipt, ObjectStatus
from fleet.probes.status import StatusEngine
from fleet.probes.targets import DeviceProbes
from fleet.probes.types import Reading

log = get_logger("fleet.edge")
#: The most rounds one batch may carry.
MAX_ROUNDS = 500


@dataclass(frozen=True)
class Edge:
    """An edge poller as a request names it: its token and the sites (by id) it serves."""

    token_id: int
    site_ids: frozenset[int]


@dataclass(frozen=True)
class Round:
    """One round of one device's probes, as an edge sends it."""

    device_id: int
    seq: int
    at: datetime
    readings: list[Reading]


@dataclass(frozen=True)
class Stored:
    """What a batch did: rounds stored, and rounds already stored before (sent again)."""

    accepted: int
    duplicates: int


async def edge_of(
    session: AsyncSession, token_id: int, codes: frozenset[str], wanted: Sequence[str] = ()
) -> Edge:
    """The edge of a token serving the sites ``codes``, or only the ``wanted`` of them
    (``Forbidden``, field ``site``, for a wanted site the token does not serve)."""
    if outside := sorted(set(wanted) - codes):
        raise Forbidden(f"this edge token does not serve site {outside[0]}", field="site")
    chosen = list(wanted) or list(codes)
    ids = await session.scalars(sa.select(col(Site.id)).where(col(Site.code).in_(chosen)))
    return Edge(token_id, frozenset(i for i in ids if i is not None))


async def served_sites(session: AsyncSession) -> dict[int, int]:
    """Each edge-served site's id, with the id of the token serving it."""
    now = utcnow()
    rows = await session.execute(
        sa.select(col(ApiToken.id), col(ApiToken.sites)).where(
            col(ApiToken.role) == Role.edge.value,
            col(ApiToken.enabled).is_(True),
            sa.or_(col(ApiToken.expires_at).is_(None), col(ApiToken.expires_at) > now),
        )
    )
    by_code = {code: token_id for token_id, codes in rows if token_id for code in codes or ()}
    if not by_code:
        return {}
    sites = await session.execute(
        sa.select(col(Site.code), col(Site.id)).where(col(Site.code).in_(list(by_code)))
    )
    return {site_id: by_code[code] for code, site_id in sites if site_id}


async def fingerprint(db: Database) -> tuple[Any, ...]:
    """The inventory's fingerprint with the edge-served sites: a scheduler reconciles when
    either moves."""
    inventory = await targets.inventory_fingerprint(db)
    async with db.session() as session:
        served = await served_sites(session)
    return (inventory, tuple(sorted(served.items())))


async def central_specs(
    session: AsyncSession, cipher: Cipher, engine: StatusEngine
) -> dict[int, DeviceProbes]:
    """What a central scheduler probes, by device: every probe-able device but those of the
    sites edges serve, which its status engine leaves to them from now on."""
    engine.elsewhere = set(await served_sites(session))
    return {
        spec.device_id: spec
        for spec in await targets.load(session, cipher)
        if spec.site_id not in engine.elsewhere
    }


async def edge_targets(session: AsyncSession, cipher: Cipher, edge: Edge) -> list[DeviceProbes]:
    """The probe-able devices of the edge's sites, with their decrypted credentials."""
    ids = [
        i
        for i in await session.scalars(
            sa.select(col(Device.id))
            .where(col(Device.site_id).in_(list(edge.site_ids)))
            .order_by(col(Device.id))
        )
        if i is not None
    ]
    specs = await targets.load(session, cipher, ids) if ids else []
    return [spec for spec in specs if spec.kinds]


async def _check(
    session: AsyncSession, edge: Edge, rounds: Sequence[Round]
) -> set[tuple[int, int]]:
    """Refuse a round of a device outside the edge's sites, or sent twice in one batch; the
    (device, sequence) pairs of the batch already stored."""
    sites = dict(
        (
            await session.execute(
                sa.select(col(Device.id), col(Device.site_id)).where(
                    col(Device.id).in_({r.device_id for r in rounds})
                )
            )
        ).all()
    )
    seen: set[tuple[int, int]] = set()
    for index, item in enumerate(rounds):
        if sites.get(item.device_id) not in edge.site_ids:
            raise Forbidden(
                f"device {item.device_id} is not at a site this edge serves",
                field=f"rounds[{index}].device_id",
            )
        if (item.device_id, item.seq) in seen:
            raise InvalidInput(
                f"device {item.device_id}'s round {item.seq} is twice in the batch",
                field=f"rounds[{index}].seq",
            )
        seen.add((item.device_id, item.seq))
    stored = await session.execute(
        sa.select(col(EdgeReceipt.device_id), col(EdgeReceipt.seq)).where(
            col(EdgeReceipt.token_id) == edge.token_id,
            sa.tuple_(col(EdgeReceipt.device_id), col(EdgeReceipt.seq)).in_(list(seen)),
        )
    )
    return {(device_id, seq) for device_id, seq in stored}


async def _last_results(session: AsyncSession, device_ids: set[int]) -> dict[int, datetime]:
    rows = await session.execute(
        sa.select(col(ObjectStatus.object_id), col(ObjectStatus.last_result_at)).where(
            col(ObjectStatus.object_type) == "device",
            col(ObjectStatus.object_id).in_(device_ids),
            col(ObjectStatus.last_result_at).is_not(None),
        )
    )
    return {device_id: at for device_id, at in rows if at is not None}


async def ingest(db: Database, edge: Edge, rounds: Sequence[Round], confirmations: int) -> Stored:
    """Store a batch of an edge's rounds, each once (see the module's docstring); a refused
    batch stores nothing."""
    async with db.session() as session:
        stored = await _check(session, edge, rounds)
        new = [r for r in rounds if (r.device_id, r.seq) not in stored]
        last = await _last_results(session, {r.device_id for r in new})
    if not new:
        log.info("edge_rounds_stored", accepted=0, duplicates=len(rounds))
        return Stored(0, len(rounds))
    engine = StatusEngine(db, confirmations=confirmations)
    engine.sites = set(edge.site_ids)
    await engine.load()
    for device_id, at in last.items():
        if (health := engine.health.get(device_id)) is not None:
            health.at = at
    for item in sorted(new, key=lambda r: (r.at, r.device_id, r.seq)):
        newest = last.get(item.device_id)
        if newest is None or item.at > newest:
            engine.observe(item.device_id, item.readings, at=item.at)
            last[item.device_id] = item.at
        else:
            engine.keep_results(item.readings)
    receipts = [
        {"token_id": edge.token_id, "device_id": r.device_id, "seq": r.seq, "at": r.at} for r in new
    ]

    async def write_receipts(session: AsyncSession) -> None:
        await session.execute(sa.insert(EdgeReceipt), receipts)

    try:
        await engine.flush(write_receipts)
    except IntegrityError:
        raise Conflict("another request is storing these rounds: send the batch again") from None
    log.info("edge_rounds_stored", accepted=len(new), duplicates=len(rounds) - len(new))
    return Stored(len(new), len(rounds) - len(new))


@dataclass(frozen=True)
class Heartbeat:
    """What an edge says of itself."""

    version: str
    buffered: int
    oldest_buffered_at: datetime | None
    dropped: int
    buffer_max_age_s: int


async def beat(db: Database, edge: Edge, heartbeat: Heartbeat) -> datetime:
    """Record an edge's heartbeat; when it was heard."""
    now = utcnow()
    async with db.session(write=True) as session:
        node = await session.get(EdgeNode, edge.token_id)
        if node is None:
            node = EdgeNode(
                token_id=edge.token_id,
                heartbeat_at=now,
                version=heartbeat.version,
                buffer_max_age_s=heartbeat.buffer_max_age_s,
            )
            session.add(node)
        node.heartbeat_at, node.version = now, heartbeat.version
        node.buffered, node.oldest_buffered_at = heartbeat.buffered, heartbeat.oldest_buffered_at
        node.dropped, node.buffer_max_age_s = heartbeat.dropped, heartbeat.buffer_max_age_s
        await session.commit()
    return now


async def site_edges(session: AsyncSession, site_ids: Sequence[int]) -> dict[int, EdgeNode | None]:
    """The edge serving each of these sites that one serves, with its last heartbeat (None:
    never heard)."""
    served = {s: t for s, t in (await served_sites(session)).items() if s in set(site_ids)}
    if not served:
        return {}
    nodes = {
        node.token_id: node
        for node in await session.scalars(
            sa.select(EdgeNode).where(col(EdgeNode.token_id).in_(set(served.values())))
        )
    }
    return {site_id: nodes.get(token_id) for site_id, token_id in served.items()}


#: An edge heard from within this long is in touch (three of its default heartbeats).
IN_TOUCH_S = 90.0


def reach(node: EdgeNode | None, now: datetime) -> dict[str, Any]:
    """What the status shows of a site's edge: ``in_touch`` (heard within IN_TOUCH_S),
    ``buffering`` (silent longer, but within its buffer's age limit: what happens at the site
    is kept and will come), ``dark`` (silent beyond it, or never heard: it may be lost)."""
    if node is None:
        return {
            "reach": "dark",
            "heartbeat_at": None,
            "heard_s_ago": None,
            "buffered": None,
            "oldest_buffered_at": None,
            "dropped": None,
            "version": None,
        }
    ago = max(0.0, (now - node.heartbeat_at).total_seconds())
    state = "in_touch" if ago <= IN_TOUCH_S else "buffering"
    if ago > node.buffer_max_age_s:
        state = "dark"
    return {
        "reach": state,
        "heartbeat_at": node.heartbeat_at,
        "heard_s_ago": round(ago, 1),
        "buffered": node.buffered,
        "oldest_buffered_at": node.oldest_buffered_at,
        "dropped": node.dropped,
        "version": node.version,
    }


async def site_reach(session: AsyncSession, site_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    """:func:`reach` of the edge of each of these sites an edge serves."""
    now = utcnow()
    return {site: reach(node, now) for site, node in (await site_edges(session, site_ids)).items()}
