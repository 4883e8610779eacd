"""The needs assessment: every site against its profile, in one pass over the fleet.

It reads everything in a handful of bulk queries (no query per site), evaluates the rules in
memory, then records the difference: new gaps are opened (each with one work order, proposed),
gaps still there are seen again, gaps that no longer hold are resolved. Completed work orders
of the assessed sites are verified when their gap is closed, or sent back with the reason.
Running it twice changes nothing but the time the sites were last assessed (which is the
``last_seen`` of their open gaps).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlmodel import col

from fleet import bulk, context
from fleet.inventory.models import Country, Site
from fleet.models import utcnow
from fleet.progress import SILENT, Progress
from fleet.upgrades import profiles as profiles_module
from fleet.upgrades.choices import WorkOrderState
from fleet.upgrades.facts import Scope, fill, sites_of
from fleet.upgrades.models import Gap, JournalEntry, SiteAssessment, SiteProfile, WorkOrder
from fleet.upgrades.profiles import PriceList
from fleet.upgrades.rules import (
    Context,
    Finding,
    Profile,
    SiteFacts,
    evaluate,
)
from fleet.upgrades.titles import Place, places, title_of
from fleet.upgrades.workorders import priority

ACTOR = "assessment"
#: The work whose priority still matters: not yet completed (nor closed).
UNFINISHED = (
    WorkOrderState.proposed,
    WorkOrderState.approved,
    WorkOrderState.scheduled,
    WorkOrderState.in_progress,
)
GAP: sa.Table = Gap.__table__  # type: ignore[attr-defined]
WORK_ORDER: sa.Table = WorkOrder.__table__  # type: ignore[attr-defined]
JOURNAL: sa.Table = JournalEntry.__table__  # type: ignore[attr-defined]
#: The steps of a pass, as ``progress`` counts them: read the facts, evaluate, record the gaps,
#: open the new ones, verify finished work, reprioritise.
STEPS = 6
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


async def run(
    session: AsyncSession,
    prices: PriceList | None,
    *,
    country: str | None = None,
    site: str | None = None,
    now: datetime | None = None,
    progress: Progress = SILENT,
) -> Summary:
    """Assess all sites (or a country's, or one) and record the result; the caller commits.

    ``progress`` advances once for each of the ``STEPS`` of the pass."""
    with bulk.collector_held():
        return await _assess(session, prices, country, site, now or utcnow(), progress)


Failing = dict[tuple[int, str, str], tuple[Finding, str, int]]
"""The failing findings by (site id, rule id, subject), with the profile's name and version."""
ByKind = dict[str, tuple[SiteProfile, Profile]]


async def _assess(
    session: AsyncSession,
    prices: PriceList | None,
    country: str | None,
    site: str | None,
    now: datetime,
    progress: Progress,
) -> Summary:
    progress.start("Assessing", STEPS)
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
    facts = await sites_of(connection, site_filter)
    scope = Scope(connection.dialect, sorted(facts))
    if facts:
        await fill(connection, facts, scope, days, now)
    summary.sites = len(facts)
    progress.advance()
    failing = _evaluate(facts, by_kind, now, summary)
    progress.advance()
    open_gaps = await _record_gaps(session, scope, failing, now, summary)
    progress.advance()
    new = [(key, value) for key, value in failing.items() if key not in open_gaps]
    await _open_gaps(session, new, by_kind, facts, prices, now, summary)
    progress.advance()
    with context.acting_as(ACTOR):
        await _verify(session, scope, failing, now, summary)
    await session.flush()  # what was verified or sent back, before the priorities are read
    progress.advance()
    await _reprioritise(connection, scope, facts, now)
    progress.advance()
    return summary


def _evaluate(
    facts: dict[int, SiteFacts], by_kind: ByKind, now: datetime, summary: Summary
) -> Failing:
    """Every rule of a site's profile against the site: the findings that fail."""
    ctx = Context(today=now.date(), now=now)
    failing: Failing = {}
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
    return failing


async def _record_gaps(
    session: AsyncSession, scope: Scope, failing: Failing, now: datetime, summary: Summary
) -> dict[tuple[int, str, str], Any]:
    """Gaps that no longer hold are resolved; those still there are seen again (in bulk: a fleet
    has hundreds of thousands of them). Returns the gaps that were open."""
    connection = await session.connection()
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
    await _resolve(connection, resolved, now)
    await _mark_assessed(session, scope, now)
    if changed:
        await connection.execute(
            sa.update(GAP)
            .where(GAP.c.id == sa.bindparam("gap"))
            .values(actual=sa.bindparam("actual"), quantity=sa.bindparam("quantity")),
            changed,
        )
    summary.still_open, summary.resolved = len(seen), len(resolved)
    return open_gaps


async def _resolve(connection: AsyncConnection, resolved: list[int], now: datetime) -> None:
    """Resolve gaps, last seen failing at their site's previous assessment."""
    if not resolved:
        return
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


async def _mark_assessed(session: AsyncSession, scope: Scope, now: datetime) -> None:
    """The gaps still open were seen now: that is the sites' assessment time, one row a site."""
    connection = await session.connection()
    await connection.execute(
        sa.delete(SITE_ASSESSMENT).where(scope.condition(SITE_ASSESSMENT.c.site_id))
    )
    await bulk.insert_many(
        session, SITE_ASSESSMENT, [{"site_id": i, "assessed_at": now} for i in scope.ids]
    )


async def _open_gaps(
    session: AsyncSession,
    new: list[tuple[tuple[int, str, str], tuple[Finding, str, int]]],
    by_kind: ByKind,
    facts: dict[int, SiteFacts],
    prices: PriceList | None,
    now: datetime,
    summary: Summary,
) -> None:
    """New gaps, each with one proposed work order and its first journal entry."""
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
    order_ids = await bulk.new_ids(session, WORK_ORDER, len(new))
    named = await places(await session.connection(), (key[0] for key, _ in new))
    programmes = {row.name: row.programme for row, _ in by_kind.values()}
    order_rows = [
        _order_row(order_id, gap_id, key, finding, named[key[0]], programmes.get(profile), now)
        | _estimate(finding, prices)
        | {"priority": priority(facts[key[0]].criticality, finding.severity, 0, finding)}
        for order_id, gap_id, (key, (finding, profile, _)) in zip(
            order_ids, gap_ids, new, strict=True
        )
    ]
    await bulk.insert_many(session, WORK_ORDER, order_rows)
    await _journal_opened(session, order_ids, gap_rows, now)
    summary.work_orders_created = len(order_ids)


def _order_row(
    order_id: int,
    gap_id: int,
    key: tuple[int, str, str],
    finding: Finding,
    place: Place,
    programme: str | None,
    now: datetime,
) -> dict[str, Any]:
    """A new gap's work order, proposed (its estimate and priority added by the caller)."""
    return {
        "id": order_id,
        "gap_id": gap_id,
        "site_id": key[0],
        "kind": finding.work,
        "state": WorkOrderState.proposed,
        "title": title_of(finding, place),
        "programme": programme,
        "version": 1,
        "created_at": now,
        "updated_at": now,
    }


def _estimate(finding: Finding, prices: PriceList | None) -> dict[str, Any]:
    """What a finding's work costs by the price list (nothing without one)."""
    if prices is None:
        return {"estimated_cost": 0.0, "currency": "EUR"}
    cost = prices.cost(finding.work, finding.detail, finding.quantity)
    return {"estimated_cost": round(cost, 2), "currency": prices.currency}


async def _journal_opened(
    session: AsyncSession, order_ids: list[int], gap_rows: list[dict[str, Any]], now: datetime
) -> None:
    """Each new work order's first journal entry: the gap it was opened for."""
    await bulk.insert_many(
        session,
        JOURNAL,
        [
            {
                "work_order_id": order_id,
                "at": now,
                "actor": ACTOR,
                "from_state": None,
                "to_state": WorkOrderState.proposed,
                "note": f"gap opened: {row['required']} required, {row['actual']} found",
            }
            for order_id, row in zip(order_ids, gap_rows, strict=True)
        ],
    )


async def _verify(
    session: AsyncSession,
    scope: Scope,
    failing: Failing,
    now: datetime,
    summary: Summary,
) -> None:
    """Completed work is verified when the evidence shows its gap closed, else sent back."""
    completed = (
        await session.execute(
            scope.only(
                sa.select(WorkOrder, Gap)
                .join(Gap, col(WorkOrder.gap_id) == col(Gap.id))
                .where(col(WorkOrder.state) == WorkOrderState.completed),
                col(WorkOrder.site_id),
            )
        )
    ).all()
    for order, gap in completed:
        key = (gap.site_id, gap.rule_id, gap.subject)
        if key in failing:
            finding = failing[key][0]
            order.state, order.completed_at = WorkOrderState.in_progress, None
            note = f"not verified: {finding.required} required, still {finding.actual}"
            summary.reopened += 1
            session.add(
                JournalEntry(
                    work_order_id=order.id or 0,
                    actor=ACTOR,
                    from_state=WorkOrderState.completed,
                    to_state=WorkOrderState.in_progress,
                    note=note,
                )
            )
        else:
            order.state, order.verified_at = WorkOrderState.verified, now
            summary.verified += 1
            session.add(
                JournalEntry(
                    work_order_id=order.id or 0,
                    actor=ACTOR,
                    from_state=WorkOrderState.completed,
                    to_state=WorkOrderState.verified,
                    note=f"gap closed: {gap.required} now met",
                )
            )
        order.version += 1
        order.updated_at = now


async def _reprioritise(
    connection: AsyncConnection, scope: Scope, facts: dict[int, SiteFacts], now: datetime
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
                .where(col(WorkOrder.state).in_(UNFINISHED))
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
