"""Enumerations of the alerts domain: rule kinds, alert and delivery states, channel kinds."""

from __future__ import annotations

from enum import StrEnum


class RuleKind(StrEnum):
    """What a rule watches (``fleet.alerts.conditions`` says how)."""

    site_disconnected = "site_disconnected"
    site_degraded = "site_degraded"
    device_down = "device_down"
    link_backup = "link_backup"
    end_of_support = "end_of_support"
    work_order_overdue = "work_order_overdue"


#: Kinds whose duration is how long the condition must hold before the alert opens; for
#: end_of_support it is how far ahead to warn, for work_order_overdue how late an order may be.
HELD_KINDS = frozenset(
    {RuleKind.site_disconnected, RuleKind.site_degraded, RuleKind.device_down, RuleKind.link_backup}
)


class AlertState(StrEnum):
    open = "open"
    resolved = "resolved"


class ChannelKind(StrEnum):
    webhook = "webhook"
    email = "email"


class DeliveryEvent(StrEnum):
    opened = "opened"
    resolved = "resolved"


class DeliveryState(StrEnum):
    pending = "pending"
    sent = "sent"
    failed = "failed"
