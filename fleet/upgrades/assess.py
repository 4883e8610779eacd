"""The needs assessment: every site against its profile, in one pass over the fleet.

It reads everything in a handful of bulk queries (no query per site), evaluates the rules in
memory, then records the difference: new gaps are opened (each with one work order, proposed),
gaps still there are seen again, gaps that no longer hold are resolved. Completed work orders
of the assessed sites are verified when their gap is closed, or sent back with the reason.
Running it twice changes nothing but the time the sites were last assessed (which is the
``last_seen`` of their open gaps).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlmodel import col

from fleet import bulk, context
from fleet.inventory.models import Country, Device, DeviceModel, Link, Site
from fleet.models import utcnow
from fleet.probes.models import ObjectStatus, StateEvent, status_of
from fleet.upgrades import profiles as profiles_module
from fleet.upgrades.models import Gap, JournalEntry, SiteAssessment, WorkOrder
from fleet.upgrades.profiles import PriceList
from fleet.upgrades.rules import (
    AVAILABLE_STATES,
    Context,
    DeviceFacts,
    Finding,
    LinkFacts,
    SiteFacts,
    evaluate,
)
from fleet.upgrades.titles import places, title_of
from fleet.upgrades.workorders import priority

ACTOR = "assessment"
GAP: sa.Table = Gap.__table__  # type: ignore[attr-defined]
WORK_ORDER: sa.Table = WorkOrder.__table__  # type: ignore[attr-defined]
JOURNAL: sa.Table = JournalEntry.__table__  # type: ignore[attr-defined]
SITE_ASSESSMENT: sa.Table = SiteAssessment.__table__  # type: ignore[attr-defined]


@dataclass
class Summary:
    sites: int = 0
    findings: int = 0
    opened: int = 0
    still_open: int = 0
    resolved: int = 0
    work_orders_created: int = 0
    verified: int = 0
    reopened: int = 0
    by_rule_type: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class _Scope:
    """The sites an assessment covers, by id: the other tables are read for them only, the ids
    passed as one parameter."""

    dialect: sa.Dialect
    ids: list[int]

    def condition(self, site_id: Any) -> Any:
        return bulk.among(self.dialect, site_id, self.ids)

    def only(self, statement: Any, site_id: Any) -> Any:
        return statement.where(self.condition(site_id))


async def _sites(connection: AsyncConnection, site_filter: Any) -> dict[int, SiteFacts]:
    """The active sites an assessment covers (all, a country's or one)."""
    sites: dict[int, SiteFacts] = {}
    rows: Any = await connection.execute(
        sa.select(
            col(Site.id), col(Site.code), col(Site.kind), col(Site.criticality), col(Country.code)
        )
        .join(Country, col(Site.country_id) == col(Country.id))
        .where(col(Site.lifecycle) == "active")
        .where(site_filter)
    )
    for site_id, code, kind, criticality, country in rows:
        sites[site_id] = SiteFacts(site_id, code, kind, criticality, country)
    return sites


async def _facts(
    connection: AsyncConnection,
    sites: dict[int, SiteFacts],
    scope: _Scope,
    days: set[int],
    now: datetime,
) -> None:
    """Fill in the sites' devices (with what their probes observed), links and availability."""
    devices: Any = await connection.execute(
        scope.only(
            sa.select(
                col(Device.site_id),
                col(Device.serial),
                col(Device.lifecycle),
                col(Device.firmware_version),
                col(Device.probes),
                col(DeviceModel.kind),
                col(DeviceModel.slug),
                col(DeviceModel.minimum_firmware),
                col(DeviceModel.end_of_support),
                col(ObjectStatus.firmware_observed),
                col(ObjectStatus.last_ok_at),
            )
            .join(DeviceModel, col(Device.model_id) == col(DeviceModel.id))
            .outerjoin(
                ObjectStatus,
                status_of("device", col(Device.id)),
            ),
            col(Device.site_id),
        )
    )
    for (
        site_id,
        serial,
        lifecycle,
        firmware,
        probes,
        kind,
        slug,
        minimum,
        eos,
        observed,
        last_ok,
    ) in devices.all():
        sites[site_id].devices.append(
            DeviceFacts(  # serial, kind, lifecycle, model, firmware, observed firmware, minimum,
                # end of support, probed, last ok
                serial,
                kind,
                lifecycle,
                slug,
                firmware,
                observed,
                minimum,
                eos,
                bool(probes),
                last_ok,
            )
        )
    links = await connection.execute(
        scope.only(
            sa.select(
                col(Link.site_id),
                col(Link.circuit_id),
                col(Link.medium),
                col(Link.role),
                col(Link.bandwidth_kbps),
                col(Link.encrypted),
            ).where(col(Link.lifecycle) == "active"),
            col(Link.site_id),
        )
    )
    for site_id, circuit, medium, role, bandwidth, encrypted in links:
        sites[site_id].links.append(LinkFacts(circuit, medium, role, bandwidth, encrypted))
    for window in days:
        for site_id, value in (
            await _availability(connection, scope, now - timedelta(days=window), now)
        ).items():
            sites[site_id].availability[window] = value


async def _availability(
    connection: AsyncConnection, scope: _Scope, since: datetime, until: datetime
) -> dict[int, float | None]:
    """Every site's connectivity availability over a period, in two queries."""
    before = (
        scope.only(
            sa.select(
                col(StateEvent.object_id), sa.func.max(col(StateEvent.id)).label("last")
            ).where(col(StateEvent.object_type) == "site", col(StateEvent.at) < since),
            col(StateEvent.object_id),
        )
        .group_by(col(StateEvent.object_id))
        .subquery()
    )
    starts = await connection.execute(
        sa.select(col(StateEvent.object_id), col(StateEvent.new_state)).join(
            before, col(StateEvent.id) == before.c.last
        )
    )
    start_state = {row[0]: row[1] for row in starts}
    events: dict[int, list[tuple[datetime, str]]] = defaultdict(list)
    for object_id, at, state in await connection.execute(
        scope.only(
            sa.select(col(StateEvent.object_id), col(StateEvent.at), col(StateEvent.new_state))
            .where(col(StateEvent.object_type) == "site")
            .where(col(StateEvent.at) >= since, col(StateEvent.at) < until),
            col(StateEvent.object_id),
        ).order_by(col(StateEvent.object_id), col(StateEvent.at), col(StateEvent.id))
    ):
        events[object_id].append((at, state))
    result: dict[int, float | None] = {}
    for site_id in scope.ids:
        state, start = start_state.get(site_id, "unknown"), since
        counted = available = 0.0
        for at, new_state in [*events.get(site_id, []), (until, "")]:
            seconds = max(0.0, (at - start).total_seconds())
            if state not in ("unknown", "maintenance"):
                counted += seconds
                if state in AVAILABLE_STATES:
                    available += seconds
            state, start = new_state, at
        result[site_id] = available / counted if counted else None
    return result


async def run(
    session: AsyncSession,
    prices: PriceList | None,
    *,
    country: str | None = None,
    site: str | None = None,
    now: datetime | None = None,
) -> Summary:
    """Assess all sites (or a country's, or one) and record the result; the caller commits."""
    with bulk.collector_held():
        return await _assess(session, prices, country, site, now or utcnow())


async def _assess(
    session: AsyncSession,
    prices: PriceList | None,
    country: str | None,
    site: str | None,
    now: datetime,
) -> Summary:
    summary = Summary()
    by_kind = await profiles_module.active(session)
    site_filter: Any = sa.true()
    if country is not None:
        site_filter = col(Country.code) == country
    if site is not None:
        site_filter = col(Site.code) == site
    days = {
        rule.days
        for _, parsed in by_kind.values()
        for rule in parsed.rules
        if rule.type == "availability"
    }
    connection = await session.connection()
    facts = await _sites(connection, site_filter)
    scope = _Scope(connection.dialect, sorted(facts))
    if facts:
        await _facts(connection, facts, scope, days, now)
    summary.sites = len(facts)
    ctx = Context(today=now.date(), now=now)
    failing: dict[tuple[int, str, str], tuple[Finding, str, int]] = {}
    for site_id, site_facts in facts.items():
        if site_facts.kind not in by_kind:
            continue
        row, parsed = by_kind[site_facts.kind]
        for rule in parsed.rules:
            for finding in evaluate(rule, site_facts, ctx):
                summary.findings += 1
                if not finding.compliant:
                    failing[(site_id, finding.rule_id, finding.subject)] = (
                        finding,
                        row.name,
                        parsed.version,
                    )
    open_gaps = {
        (row.site_id, row.rule_id, row.subject): row
        for row in await connection.execute(
            scope.only(
                sa.select(
                    col(Gap.id),
                    col(Gap.site_id),
                    col(Gap.rule_id),
                    col(Gap.subject),
                    col(Gap.actual),
                    col(Gap.quantity),
                ).where(col(Gap.resolved_at).is_(None)),
                col(Gap.site_id),
            )
        )
    }
    # Gaps that no longer hold are resolved; those still there are seen again (in bulk: a fleet
    # has hundreds of thousands of them).
    seen: list[int] = []
    changed: list[dict[str, Any]] = []
    resolved: list[int] = []
    for key, gap in open_gaps.items():
        if key in failing:
            finding = failing[key][0]
            seen.append(gap.id)
            actual, quantity = finding.actual[:200], max(1, finding.quantity)
            if (actual, quantity) != (gap.actual, gap.quantity):
                changed.append({"gap": gap.id, "actual": actual, "quantity": quantity})
        else:
            resolved.append(gap.id)
    if resolved:  # last seen failing at the site's previous assessment
        previous = (
            sa.select(SITE_ASSESSMENT.c.assessed_at)
            .where(SITE_ASSESSMENT.c.site_id == GAP.c.site_id)
            .scalar_subquery()
        )
        await connection.execute(
            sa.update(GAP)
            .where(bulk.among(connection.dialect, GAP.c.id, resolved))
            .values(resolved_at=now, last_seen=sa.func.coalesce(previous, GAP.c.last_seen))
        )
    # The gaps still open were seen now: that is the sites' assessment time, one row a site.
    await connection.execute(
        sa.delete(SITE_ASSESSMENT).where(scope.condition(SITE_ASSESSMENT.c.site_id))
    )
    await bulk.insert_many(
        session, SITE_ASSESSMENT, [{"site_id": i, "assessed_at": now} for i in scope.ids]
    )
    if changed:
        await connection.execute(
            sa.update(GAP)
            .where(GAP.c.id == sa.bindparam("gap"))
            .values(actual=sa.bindparam("actual"), quantity=sa.bindparam("quantity")),
            changed,
        )
    summary.still_open, summary.resolved = len(seen), len(resolved)
    # New gaps, each with one proposed work order and its first journal entry.
    new = [(key, value) for key, value in failing.items() if key not in open_gaps]
    gap_rows = [
        {
            "site_id": key[0],
            "profile": profile,
            "profile_version": version,
            "rule_id": finding.rule_id,
            "rule_type": finding.rule_type,
            "subject": finding.subject,
            "severity": finding.severity,
            "work": finding.work,
            "required": finding.required[:200],
            "actual": finding.actual[:200],
            "quantity": max(1, finding.quantity),
            "first_seen": now,
            "last_seen": now,
        }
        for key, (finding, profile, version) in new
    ]
    gap_ids = await bulk.new_ids(session, GAP, len(gap_rows))
    for gap_id, gap_row in zip(gap_ids, gap_rows, strict=True):
        gap_row["id"] = gap_id
    await bulk.insert_many(session, GAP, gap_rows)
    for _, (finding, _, _) in new:
        summary.by_rule_type[finding.rule_type] = summary.by_rule_type.get(finding.rule_type, 0) + 1
    summary.opened = len(gap_rows)
    programmes = {row.name: row.programme for row, _ in by_kind.values()}
    order_ids = await bulk.new_ids(session, WORK_ORDER, len(new))
    named = await places(connection, (key[0] for key, _ in new))
    order_rows = [
        {
            "id": order_id,
            "gap_id": gap_id,
            "site_id": key[0],
            "kind": finding.work,
            "state": "proposed",
            "title": title_of(finding, named[key[0]]),
            "estimated_cost": round(prices.cost(finding.work, finding.detail, finding.quantity), 2)
            if prices
            else 0.0,
            "currency": prices.currency if prices else "EUR",
            "programme": programmes.get(profile),
            "priority": priority(facts[key[0]].criticality, finding.severity, 0, finding),
            "version": 1,
            "created_at": now,
            "updated_at": now,
        }
        for order_id, gap_id, (key, (finding, profile, _)) in zip(
            order_ids, gap_ids, new, strict=True
        )
    ]
    await bulk.insert_many(session, WORK_ORDER, order_rows)
    await bulk.insert_many(
        session,
        JOURNAL,
        [
            {
                "work_order_id": order_id,
                "at": now,
                "actor": ACTOR,
                "from_state": None,
                "to_state": "proposed",
                "note": f"gap opened: {row['required']} required, {row['actual']} found",
            }
            for order_id, row in zip(order_ids, gap_rows, strict=True)
        ],
    )
    summary.work_orders_created = len(order_ids)
    with context.acting_as(ACTOR):
        await _verify(session, scope, failing, now, summary)
    await session.flush()  # what was verified or sent back, before the priorities are read
    await _reprioritise(connection, scope, facts, now)
    return summary


async def _verify(
    session: AsyncSession,
    scope: _Scope,
    failing: dict[tuple[int, str, str], tuple[Finding, str, int]],
    now: datetime,
    summary: Summary,
) -> None:
    """Completed work is verified when the evidence shows its gap closed, else sent back."""
    completed = (
        await session.execute(
            scope.only(
                sa.select(WorkOrder, Gap)
                .join(Gap, col(WorkOrder.gap_id) == col(Gap.id))
                .where(col(WorkOrder.state) == "completed"),
                col(WorkOrder.site_id),
            )
        )
    ).all()
    for order, gap in completed:
        key = (gap.site_id, gap.rule_id, gap.subject)
        if key in failing:
            finding = failing[key][0]
            order.state, order.completed_at = "in_progress", None
            note = f"not verified: {finding.required} required, still {finding.actual}"
            summary.reopened += 1
            session.add(
                JournalEntry(
                    work_order_id=order.id or 0,
                    actor=ACTOR,
                    from_state="completed",
                    to_state="in_progress",
                    note=note,
                )
            )
        else:
            order.state, order.verified_at = "verified", now
            summary.verified += 1
            session.add(
                JournalEntry(
                    work_order_id=order.id or 0,
                    actor=ACTOR,
                    from_state="completed",
                    to_state="verified",
                    note=f"gap closed: {gap.required} now met",
                )
            )
        order.version += 1
        order.updated_at = now


async def _reprioritise(
    connection: AsyncConnection, scope: _Scope, facts: dict[int, SiteFacts], now: datetime
) -> None:
    """Priorities grow with a gap's age: refresh those of open work in the assessed sites."""
    rows = (
        await connection.execute(
            scope.only(
                sa.select(
                    col(WorkOrder.id),
                    col(WorkOrder.priority),
                    col(Gap.site_id),
                    col(Gap.severity),
                    col(Gap.rule_type),
                    col(Gap.first_seen),
                )
                .join(Gap, col(WorkOrder.gap_id) == col(Gap.id))
                .where(
                    col(WorkOrder.state).in_(("proposed", "approved", "scheduled", "in_progress"))
                )
                .where(col(WorkOrder.created_at) != now),  # those just proposed are up to date
                col(WorkOrder.site_id),
            )
        )
    ).all()
    updates = []
    for order_id, current, site_id, severity, rule_type, first_seen in rows:
        age = max(0, (now - first_seen).days)
        value = priority(facts[site_id].criticality, severity, age, None, rule_type)
        if abs(current - value) > 1e-9:
            updates.append({"order": order_id, "priority": value})
    if updates:
        await connection.execute(
            sa.update(WORK_ORDER)
            .where(WORK_ORDER.c.id == sa.bindparam("order"))
            .values(priority=sa.bindparam("priority")),
            updates,
        )
