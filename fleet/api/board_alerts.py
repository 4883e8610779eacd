"""The open alerts on the board, and their acknowledgement from it.

The board lists the open alerts within the token's countries (site, rule, since when, who
acknowledged). A signed-in user whose role may acknowledge (``alert:ack``) gets a button: a
form posted with the session cookie to ``/board/alerts/{id}/ack``, which carries the page's
anti-forgery field and is refused from another origin, as the planner's forms are
(:mod:`fleet.api.plan_forms`). The acknowledgement is the API's (:func:`fleet.alerts.service.
acknowledge`: who and when, in the change log with the user as actor); a second one changes
nothing and says who was first.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import sqlalchemy as sa
from litestar import Request, Response, post
from litestar.response import Redirect
from sqlmodel import col

from fleet.access import tokens
from fleet.access.roles import allowed
from fleet.alerts import service
from fleet.alerts.choices import AlertState
from fleet.alerts.models import Alert
from fleet.api.deps import principal_of
from fleet.api.pages import local_target
from fleet.api.plan_forms import read_form
from fleet.database import Database
from fleet.errors import Conflict

#: Most open alerts the board lists (newest first); the API has them all.
MAX_SHOWN = 50
ACK = "alert:ack"


def may_ack(user: tokens.Principal | None) -> bool:
    """Whether the signed-in token may acknowledge an alert (the board shows the button)."""
    return user is not None and allowed(user.role, ACK, scoped=user.scope is not None)


async def open_alerts(request: Request[Any, Any, Any], db: Database) -> list[dict[str, Any]]:
    """The open alerts of the token's countries, newest first."""
    statement = (
        service.scoped(sa.select(Alert), principal_of(request).scope)
        .where(col(Alert.state) == AlertState.open.value)
        .order_by(col(Alert.id).desc())
        .limit(MAX_SHOWN)
    )
    async with db.session() as session:
        rows = list(await session.scalars(statement))
    return [
        {
            "id": a.id,
            "site": a.site_code,
            "rule": a.rule_name,
            "summary": a.summary,
            "since": a.since,
            "acked_at": a.acked_at,
            "acked_by": a.acked_by,
        }
        for a in rows
    ]


def _back(target: str, **notice: str) -> str:
    joiner = "&" if "?" in target else "?"
    return f"{target}{joiner}{urlencode(notice)}#alerts"


@post(
    "/board/alerts/{alert_id:int}/ack",
    name="board-ack",
    opt={"permission": ACK},
    include_in_schema=False,
    status_code=303,
)
async def acknowledge_from_board(
    request: Request[Any, Any, Any], db: Database, alert_id: int
) -> Response[Any]:
    """Acknowledge one alert as the signed-in user, then back to the board."""
    form = await read_form(request)
    back = local_target(form.one("back", limit=1000) or "/").partition("#")[0]
    principal = principal_of(request)
    async with db.session(write=True) as session:
        alert = await service.load(session, alert_id, principal.scope, lock=True)
        try:
            await service.acknowledge(session, alert, principal.name)
        except Conflict:
            return Redirect(_back(back, acked=str(alert_id), already="1"), status_code=303)
        await session.commit()
    return Redirect(_back(back, acked=str(alert_id)), status_code=303)
