"""The alerts' answers as the OpenAPI document declares them, made from the tables and the
field lists the alerts build their answers from."""

from __future__ import annotations

from pydantic import Field

from fleet.alerts import service
from fleet.alerts.choices import AlertState, ChannelKind, DeliveryEvent, DeliveryState, RuleKind
from fleet.alerts.evaluate import FIELDS
from fleet.alerts.models import Alert, AlertChannel, AlertDelivery, AlertRule, DeliveryAttempt
from fleet.api.representations import columns, items_of

AlertAnswer = columns(
    "Alert",
    "One incident: a rule's condition held on one object (open until it no longer holds).",
    Alert,
    FIELDS,
    state=AlertState,
    rule_kind=RuleKind,
)
AlertPage = items_of(
    "AlertPage", "A page of alerts; follow `next_cursor` for the next one.", AlertAnswer
)
AttemptAnswer = columns(
    "AlertDeliveryAttempt",
    "One try of one message: the status code or error, and how long it took.",
    DeliveryAttempt,
    service.ATTEMPT_FIELDS,
)
DeliveryAnswer = columns(
    "AlertDelivery",
    "One message of an alert (opened or resolved) to one channel, with its attempts.",
    AlertDelivery,
    service.DELIVERY_FIELDS,
    event=DeliveryEvent,
    state=DeliveryState,
    attempt_log=(
        list[AttemptAnswer],  # type: ignore[valid-type]
        Field(description="The attempts, oldest first (the last 100)"),
    ),
)
DeliveryList = items_of(
    "AlertDeliveryList", "An alert's messages, oldest first.", DeliveryAnswer, paged=False
)
RuleAnswer = columns(
    "AlertRule",
    "A rule, as loaded from site_configs/alerts.yaml.",
    AlertRule,
    service.RULE_FIELDS,
    kind=RuleKind,
)
RuleList = items_of("AlertRuleList", "Every alert rule.", RuleAnswer, paged=False)
ChannelAnswer = columns(
    "AlertChannel",
    "Where alerts go (a webhook's secret never leaves the service).",
    AlertChannel,
    service.CHANNEL_FIELDS,
    kind=ChannelKind,
    has_secret=(bool, Field(description="Whether a signing secret is stored")),
)
ChannelList = items_of("AlertChannelList", "Every alert channel.", ChannelAnswer, paged=False)
