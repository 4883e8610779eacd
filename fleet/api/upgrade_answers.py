"""The upgrades' answers as the OpenAPI document declares them, made from the tables, the field
lists and the typed dicts the upgrades build their answers from."""

from __future__ import annotations

import typing
from typing import Any

from pydantic import Field

from fleet.api.representations import columns, items_of
from fleet.upgrades import profiles, workorders
from fleet.upgrades.assess import Summary
from fleet.upgrades.choices import WorkOrderState
from fleet.upgrades.evaluation import BeforeAfter
from fleet.upgrades.models import Gap, JournalEntry, SiteProfile, WorkOrder
from fleet.upgrades.rules import Rule
from fleet.upgrades.service import GAP_FIELDS, PLAN_GROUPS, PlanRow, PlanTotal

SITE = (str, Field(description="The site's code"))
COUNTRY = (str, Field(description="The site's country code"))

GapAnswer = columns(
    "Gap",
    "A rule a site does not meet (resolved: met again since `resolved_at`).",
    Gap,
    ("id", "site", "country", *GAP_FIELDS),
    site=SITE,
    country=COUNTRY,
)
GapPage = items_of("GapPage", "A page of gaps; follow `next_cursor` for the next one.", GapAnswer)
WorkOrderGap = columns("WorkOrderGap", "The gap a work order closes.", Gap, workorders.GAP_FIELDS)
WorkOrderAnswer = columns(
    "WorkOrder",
    "One piece of upgrade work for one gap.",
    WorkOrder,
    ("id", "site", "country", *workorders.FIELDS),
    site=SITE,
    country=COUNTRY,
    state=WorkOrderState,
    gap=(WorkOrderGap | None, Field(default=None, description="On one work order, not in lists")),
)
WorkOrderPage = items_of(
    "WorkOrderPage",
    "A page of work orders; follow `next_cursor` for the next one.",
    WorkOrderAnswer,
)
JournalEntryAnswer = columns(
    "JournalEntry",
    "A transition (from and to a state) or a note.",
    JournalEntry,
    workorders.JOURNAL_FIELDS,
)
Journal = items_of(
    "Journal", "A work order's journal, oldest first.", JournalEntryAnswer, paged=False
)
ProfileAnswer = columns(
    "SiteProfile",
    "What a kind of site must have.",
    SiteProfile,
    profiles.FIELDS,
    rules=(list[Rule], Field(description="Its rules, each by its `type`")),
)
ProfilePage = items_of("SiteProfilePage", "Every site profile (one page).", ProfileAnswer)
AssessmentSummary = columns(
    "AssessmentSummary",
    "What an assessment found and did.",
    **typing.get_type_hints(Summary),
)
_groups: dict[str, Any] = {name: list[PlanRow] for name, _column in PLAN_GROUPS}
Plan = columns(
    "Plan",
    "Open work by country, site kind and programme; `next`: what to do first.",
    **_groups,
    next=list[WorkOrderAnswer],  # type: ignore[valid-type]
    total=PlanTotal,
)
Evaluation = columns(
    "Evaluation",
    "The site's availability in the `days` before each verified work order started and after "
    "it was verified.",
    days=int,
    items=list[BeforeAfter],
)
