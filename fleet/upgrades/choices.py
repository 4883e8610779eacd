"""Enumerations of the upgrades domain: work-order states, kinds of work, gap severities."""

from __future__ import annotations

from enum import StrEnum


class WorkOrderState(StrEnum):
    proposed = "proposed"
    approved = "approved"
    scheduled = "scheduled"
    in_progress = "in_progress"
    completed = "completed"
    verified = "verified"
    rejected = "rejected"
    cancelled = "cancelled"


class WorkKind(StrEnum):
    install = "install"
    replacement = "replace"  # named apart from str.replace, which a member called replace hides
    firmware_upgrade = "firmware_upgrade"
    link_upgrade = "link_upgrade"
    repair = "repair"


class Severity(StrEnum):
    low = "low"
    medium = "medium"
    high = "high"
    critical = "critical"
