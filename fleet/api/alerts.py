"""Alerts over HTTP: the alerts (within the token's countries), their acknowledgement, their
messages with every attempt and a re-send, and the rules and channels loaded from
``site_configs/alerts.yaml`` (read-only here: ``fleet sync`` changes them)."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, post
from sqlmodel import col

from fleet.alerts import service
from fleet.alerts.choices import AlertState, RuleKind
from fleet.alerts.evaluate import public
from fleet.alerts.models import Alert
from fleet.api import alert_answers as answers
from fleet.api.deps import list_params, principal_of
from fleet.api.openapi import problem_responses
from fleet.api.representations import answer
from fleet.database import Database
from fleet.inventory.service import etag
from fleet.pagination import Filter, ListSpec, paginate
from fleet.settings import Settings

ALERTS = ListSpec(
    filters={
        "state": Filter(col(Alert.state), "open or resolved", choices=AlertState),
        "rule": Filter(col(Alert.rule_name), "Rule name(s)"),
        "rule_kind": Filter(col(Alert.rule_kind), "Rule kind(s)", choices=RuleKind),
        "site": Filter(col(Alert.site_code), "Site code(s)"),
        "country": Filter(col(Alert.country_code), "Country code(s)"),
        "object_type": Filter(col(Alert.object_type), "site, device or work_order"),
    },
    sorts={"id": col(Alert.id), "opened_at": col(Alert.opened_at)},
    default_sort="-id",
    search=(col(Alert.summary),),
    search_description="Text in the summary",
    id_column=col(Alert.id),
)


def _one(alert: Alert) -> Response[dict[str, Any]]:
    return Response(public(alert), headers={"ETag": etag(alert.version)})


@get(
    "/alerts",
    summary="Alerts",
    operation_id="list_alerts",
    tags=["alerts"],
    description="Newest first; `state=open` for what is happening now.",
    opt={"permission": "alert:read"},
    responses=answer(answers.AlertPage, "A page of alerts") | problem_responses(401, 403, 422),
)
async def list_alerts(
    request: Request[Any, Any, Any], db: Database, settings: Settings
) -> dict[str, Any]:
    statement = service.scoped(service.alerts_select(), principal_of(request).scope)
    async with db.session() as session:
        page = await paginate(
            session,
            statement,
            ALERTS,
            list_params(request, settings),
            service.public_row,
            max_limit=settings.page_size_max,
        )
    return page.as_dict()


@get(
    "/alerts/{alert_id:int}",
    summary="One alert",
    operation_id="read_alert",
    tags=["alerts"],
    opt={"permission": "alert:read"},
    responses=answer(answers.AlertAnswer, "The alert, with its ETag")
    | problem_responses(401, 403, 404),
)
async def read_alert(
    request: Request[Any, Any, Any], db: Database, alert_id: int
) -> Response[dict[str, Any]]:
    async with db.session() as session:
        return _one(await service.load(session, alert_id, principal_of(request).scope))


@post(
    "/alerts/{alert_id:int}/ack",
    summary="Acknowledge an alert",
    description="Says that someone is on it: records who and when, in the change log too. "
    "409 when it was acknowledged already.",
    operation_id="acknowledge_alert",
    tags=["alerts"],
    status_code=200,
    opt={"permission": "alert:ack"},
    responses=answer(answers.AlertAnswer, "The alert acknowledged, with its new ETag")
    | problem_responses(401, 403, 404, 409, 422),
)
async def acknowledge_alert(
    request: Request[Any, Any, Any], db: Database, alert_id: int
) -> Response[dict[str, Any]]:
    principal = principal_of(request)
    async with db.session(write=True) as session:
        alert = await service.load(session, alert_id, principal.scope, lock=True)
        alert = await service.acknowledge(session, alert, principal.name)
        await session.commit()
        return _one(alert)


@get(
    "/alerts/{alert_id:int}/deliveries",
    summary="An alert's messages",
    description="Each message (opened, resolved) to each channel, with every attempt: status "
    "code, error and duration.",
    operation_id="alert_deliveries",
    tags=["alerts"],
    opt={"permission": "alert_delivery:read"},
    responses=answer(answers.DeliveryList, "The messages") | problem_responses(401, 403, 404),
)
async def alert_deliveries(
    request: Request[Any, Any, Any], db: Database, alert_id: int
) -> dict[str, Any]:
    async with db.session() as session:
        alert = await service.load(session, alert_id, principal_of(request).scope)
        return {"items": await service.deliveries(session, alert)}


@post(
    "/alert-deliveries/{delivery_id:int}/resend",
    summary="Send a message again",
    description="Puts a sent or failed message back in the outbox, due now, with a new "
    "deadline. 409 while it is still being tried.",
    operation_id="resend_alert_delivery",
    tags=["alerts"],
    status_code=200,
    opt={"permission": "alert_delivery:resend"},
    responses=answer(answers.DeliveryAnswer, "The message, due again")
    | problem_responses(401, 403, 404, 409, 422),
)
async def resend_alert_delivery(
    request: Request[Any, Any, Any], db: Database, settings: Settings, delivery_id: int
) -> dict[str, Any]:
    async with db.session(write=True) as session:
        delivery = await service.load_delivery(
            session, delivery_id, principal_of(request).scope, lock=True
        )
        await service.resend(session, delivery, settings.alert_delivery_max_s)
        attempts = await service.attempts_of(session, delivery)
        await session.commit()
        return service.public_delivery(delivery, attempts)


@get(
    "/alert-rules",
    summary="Alert rules",
    description="As loaded from site_configs/alerts.yaml by `fleet sync` (change them there).",
    operation_id="list_alert_rules",
    tags=["alerts"],
    opt={"permission": "alert_rule:read"},
    responses=answer(answers.RuleList, "Every rule") | problem_responses(401, 403),
)
async def list_alert_rules(db: Database) -> dict[str, Any]:
    async with db.session() as session:
        return {"items": await service.rules(session)}


@get(
    "/alert-channels",
    summary="Alert channels",
    description="Webhooks and e-mail recipients, as loaded from site_configs/alerts.yaml; a "
    "webhook's secret is never shown.",
    operation_id="list_alert_channels",
    tags=["alerts"],
    opt={"permission": "alert_channel:read"},
    responses=answer(answers.ChannelList, "Every channel") | problem_responses(401, 403),
)
async def list_alert_channels(db: Database) -> dict[str, Any]:
    async with db.session() as session:
        return {"items": await service.channels(session)}


ROUTES = (
    list_alerts,
    read_alert,
    acknowledge_alert,
    alert_deliveries,
    resend_alert_delivery,
    list_alert_rules,
    list_alert_channels,
)
