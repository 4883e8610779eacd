"""``fleet assess``, ``fleet plan`` and ``fleet evaluate``: upgrade planning."""

from __future__ import annotations

import asyncio
import csv
import sys
from typing import Any

import click
import sqlalchemy as sa
from sqlmodel import col

from fleet.cli.common import database, settings_of
from fleet.cli.progress import progress_on_terminal
from fleet.inventory import configs
from fleet.inventory.models import Country, Site
from fleet.logging import configure
from fleet.progress import Progress
from fleet.settings import Settings
from fleet.upgrades import assess, evaluation, profiles, workorders
from fleet.upgrades.models import WorkOrder


@click.command(name="assess")
@click.option("--country", default=None, metavar="CODE", help="Only this country's sites.")
@click.option("--site", default=None, metavar="CODE", help="Only this site.")
@click.pass_context
def assess_command(ctx: click.Context, country: str | None, site: str | None) -> None:
    """Assess sites against their profiles: record gaps, propose work, verify finished work."""
    settings = settings_of(ctx)
    configure(settings.log_format, "WARNING")
    try:
        _, prices = (
            profiles.load(settings.site_configs) if settings.site_configs.is_dir() else ({}, None)
        )
    except configs.ConfigError as exc:
        raise click.ClickException(f"broken price list: {exc.problems[0]}") from None

    async def run(progress: Progress) -> assess.Summary:
        async with database(settings) as db, db.session(write=True) as session:
            summary = await assess.run(
                session, prices, country=country, site=site, progress=progress
            )
            await session.commit()
            return summary

    with progress_on_terminal() as progress:
        summary = asyncio.run(run(progress))
    click.echo(
        f"Assessed {summary.sites} site(s): {summary.opened} gap(s) opened, "
        f"{summary.still_open} still open, {summary.resolved} resolved; "
        f"{summary.work_orders_created} work order(s) proposed, {summary.verified} verified, "
        f"{summary.reopened} sent back."
    )
    for rule_type, count in sorted(summary.by_rule_type.items()):
        click.echo(f"  new gaps of {rule_type}: {count}")


@click.command(name="plan")
@click.option("--csv", "as_csv", is_flag=True, help="Write the open work orders as CSV.")
@click.option("--top", default=20, show_default=True, help="How many to list first.")
@click.pass_context
def plan_command(ctx: click.Context, as_csv: bool, top: int) -> None:
    """Open upgrade work: totals by country and programme, and what to do first (or CSV)."""
    settings = settings_of(ctx)
    configure(settings.log_format, "WARNING")
    orders = asyncio.run(_open_orders(settings))
    if as_csv:
        writer = csv.DictWriter(sys.stdout, fieldnames=list(orders[0]) if orders else ["id"])
        writer.writeheader()
        writer.writerows(orders)
        return
    totals: dict[tuple[str, str], list[float]] = {}
    for order in orders:
        key = (order["country"], order["programme"] or "-")
        totals.setdefault(key, [0, 0.0])
        totals[key][0] += 1
        totals[key][1] += order["estimated_cost"]
    click.echo(f"{'country':8} {'programme':24} {'orders':>7} {'estimated cost':>16}")
    for (country_code, programme), (count, cost) in sorted(totals.items()):
        click.echo(f"{country_code:8} {programme:24} {int(count):7d} {cost:16,.2f}")
    click.echo(f"\nFirst {min(top, len(orders))} of {len(orders)} by priority:")
    for order in orders[:top]:
        click.echo(
            f"{order['priority']:7.1f}  #{order['id']:<5} {order['state']:11} {order['title']}"
        )


async def _open_orders(settings: Settings) -> list[dict[str, Any]]:
    async with database(settings) as db, db.session() as session:
        rows = await session.execute(
            sa.select(WorkOrder, col(Site.code), col(Country.code))
            .join(Site, col(WorkOrder.site_id) == col(Site.id))
            .join(Country, col(Site.country_id) == col(Country.id))
            .where(col(WorkOrder.state).in_(workorders.OPEN_STATES))
            .order_by(col(WorkOrder.priority).desc(), col(WorkOrder.id))
        )
        return [workorders.public(o, s, c) for o, s, c in rows]


@click.command(name="evaluate")
@click.option("--days", default=30, show_default=True, help="Days before and after the work.")
@click.pass_context
def evaluate_command(ctx: click.Context, days: int) -> None:
    """Site availability before and after each verified work order."""
    settings = settings_of(ctx)
    configure(settings.log_format, "WARNING")

    async def run() -> list[evaluation.BeforeAfter]:
        async with database(settings) as db, db.session() as session:
            return await evaluation.before_and_after(session, evaluation.verified_orders(), days)

    def pct(value: float | None) -> str:
        return "   n/a" if value is None else f"{value:6.1%}"

    items = asyncio.run(run())
    if not any(item["availability_before"] is not None for item in items):
        click.echo(_nothing_to_evaluate(len(items), days))
        return
    click.echo(f"{'order':>6} {'site':14} {'before':>7} {'after':>7}  title")
    for item in items:
        before, after = pct(item["availability_before"]), pct(item["availability_after"])
        click.echo(
            f"{item['work_order']:6d} {item['site']:14} {before:>7} {after:>7}  {item['title']}"
        )


def _nothing_to_evaluate(verified: int, days: int) -> str:
    why = (
        "no work order is verified yet"
        if not verified
        else f"none of the {verified} verified work order(s) has probe history in the {days} "
        "days before its work"
    )
    return (
        f"Nothing to evaluate: {why}. An order is compared over --days {days} before its work "
        "started and after it was verified; it is verified by `fleet assess` once the probes "
        "show its gap closed. Probe a fleet first (`fleet serve`, or the simulated one: "
        "`make run` / `fleet demo`), or compare over fewer days (--days 1)."
    )
