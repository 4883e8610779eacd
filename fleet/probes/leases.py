"""Site leases on PostgreSQL: how several probe schedulers share one fleet.

Each site has a lease row (``probe_lease``): the worker probing its devices, until when, and a
fencing token that grows by one at every take. A worker beats every few seconds, in one
transaction: it says it is alive (``probe_worker``), renews what it holds, and takes free or
expired sites (``FOR UPDATE SKIP LOCKED``: two workers never take the same one) up to its fair
share, the sites divided by the live workers, rounded up; a worker holding more than its share
names the surplus, which it hands back once it has stored what it saw there. A worker that dies
stops renewing: its leases expire and the others take them. A worker's results are stored only
for sites whose lease it still holds with the token it took (:meth:`Leases.fence`, in the
storing transaction), so one that lost a site, stalled or cut off, cannot write late results
over its successor's.

Times are the database's (``now()``), so the workers' clocks need not agree.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from fleet.database import Database
from fleet.models import UTCDateTime

#: site id -> the fencing token this worker took it with
Tokens = dict[int, int]

_REGISTER = sa.text(
    "INSERT INTO probe_worker (name, host, pid, started_at, heartbeat_at, sites_held,"
    " devices_held) VALUES (:name, :host, :pid, now(), now(), 0, 0)"
    " ON CONFLICT (name) DO UPDATE SET host = :host, pid = :pid, started_at = now(),"
    " heartbeat_at = now(), stopped_at = NULL, sites_held = 0, devices_held = 0, lag_s = NULL"
)
_BEAT = sa.text(
    "UPDATE probe_worker SET heartbeat_at = now(), stopped_at = NULL, sites_held = :sites,"
    " devices_held = :devices, lag_s = :lag WHERE name = :name"
)
_FORGET = sa.text("DELETE FROM probe_worker WHERE heartbeat_at < now() - interval '1 day'")
_NEW_SITES = sa.text(
    "INSERT INTO probe_lease (site_id, token) SELECT id, 0 FROM site"
    " ON CONFLICT (site_id) DO NOTHING"
)
_RENEW = sa.text(
    "UPDATE probe_lease SET expires_at = now() + make_interval(secs => :lease_s)"
    " WHERE worker = :name AND site_id = ANY(:sites) RETURNING site_id, token"
)
_LIVE = sa.text(
    "SELECT count(*) FROM probe_worker WHERE stopped_at IS NULL"
    " AND heartbeat_at > now() - make_interval(secs => :lease_s)"
)
_SITES = sa.text("SELECT count(*) FROM probe_lease")
_TAKE = sa.text(
    "UPDATE probe_lease SET worker = :name, token = token + 1,"
    " expires_at = now() + make_interval(secs => :lease_s)"
    " WHERE site_id IN (SELECT site_id FROM probe_lease"
    "  WHERE worker IS NULL OR expires_at IS NULL OR expires_at < now()"
    "  ORDER BY site_id LIMIT :n FOR UPDATE SKIP LOCKED)"
    " RETURNING site_id, token"
)
_HELD = sa.text(
    "SELECT site_id, token FROM probe_lease WHERE worker = :name AND site_id = ANY(:sites)"
    " AND expires_at > now() FOR SHARE"
)
_RELEASE = sa.text(
    "UPDATE probe_lease SET worker = NULL, expires_at = NULL"
    " WHERE worker = :name AND site_id = :site_id AND token = :token"
)
_STOPPED = sa.text(
    "UPDATE probe_worker SET stopped_at = now(), sites_held = 0, devices_held = 0"
    " WHERE name = :name"
)


@dataclass
class Beat:
    """What one beat found: the sites still held, those just taken, those to hand back."""

    held: Tokens
    lost: set[int]  # held before the beat, no more: taken by another after an expiry
    live: int
    share: int
    taken: Tokens = field(default_factory=dict)
    surplus: list[int] = field(default_factory=list)


class Leases:
    """One worker's side of the leases."""

    def __init__(self, db: Database, name: str, host: str, pid: int, lease_s: float) -> None:
        self.db = db
        self.name = name
        self.host = host
        self.pid = pid
        self.lease_s = lease_s

    async def register(self) -> None:
        async with self.db.session(write=True) as session:
            await session.execute(_REGISTER, self._me({"host": self.host, "pid": self.pid}))
            await session.commit()

    async def beat(self, held: Tokens, devices: int, lag_s: float | None) -> Beat:
        """Say this worker is alive, renew ``held`` and take or name sites toward its share."""
        async with self.db.session(write=True) as session:
            await session.execute(
                _BEAT, self._me({"sites": len(held), "devices": devices, "lag": lag_s})
            )
            await session.execute(_FORGET)
            await session.execute(_NEW_SITES)
            renewed = await session.execute(
                _RENEW, self._me({"lease_s": self.lease_s, "sites": list(held)})
            )
            # a site taken again (by another since) under a new token is not this worker's
            still = {s: t for s, t in renewed if held.get(s) == t}
            live = max(1, int((await session.scalar(_LIVE, {"lease_s": self.lease_s})) or 0))
            share = math.ceil(int((await session.scalar(_SITES)) or 0) / live)
            beat = Beat(held=still, lost=set(held) - set(still), live=live, share=share)
            if len(still) < share:
                taken = await session.execute(
                    _TAKE, self._me({"lease_s": self.lease_s, "n": share - len(still)})
                )
                beat.taken = {row[0]: row[1] for row in taken}  # (dict() reads a result's keys)
            elif len(still) > share:
                beat.surplus = sorted(still)[share:]
            await session.commit()
        return beat

    async def fence(self, session: AsyncSession, held: Tokens) -> set[int]:
        """In a storing transaction: the sites of ``held`` this worker still holds with the
        same token, their lease rows locked until it ends (a take waits for it)."""
        rows = await session.execute(_HELD, self._me({"sites": list(held)}))
        return {site for site, token in rows if held.get(site) == token}

    async def release(self, sites: Tokens) -> None:
        """Hand sites back (for another worker to take at its next beat)."""
        if not sites:
            return
        async with self.db.session(write=True) as session:
            await session.execute(
                _RELEASE, [self._me({"site_id": s, "token": t}) for s, t in sites.items()]
            )
            await session.commit()

    async def stop(self, held: Tokens) -> None:
        """Hand everything back and say this worker stopped (the others need not wait for
        its leases to expire)."""
        await self.release(held)
        async with self.db.session(write=True) as session:
            await session.execute(_STOPPED, self._me({}))
            await session.commit()

    def _me(self, values: dict[str, object]) -> dict[str, object]:
        return {"name": self.name, **values}


async def last_rounds(db: Database, sites: set[int]) -> dict[int, datetime]:
    """When each device of ``sites`` last had a result stored (in the last day)."""
    query = sa.text(
        "SELECT r.device_id, max(r.at) FROM probe_result r JOIN device d ON d.id = r.device_id"
        " WHERE d.site_id = ANY(:sites) AND r.at > now() - interval '1 day' GROUP BY r.device_id"
    ).columns(sa.column("device_id", sa.Integer), sa.column("at", UTCDateTime))
    async with db.session() as session:
        rows = await session.execute(query, {"sites": list(sites)})
        return {row[0]: row[1] for row in rows}
