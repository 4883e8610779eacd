"""The change log: one record per create, update or delete of one object."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from fleet import context
from fleet.inventory.choices import ChangeAction
from fleet.inventory.models import ChangeRecord
from fleet.inventory.resources import META, plain


def diff(before: dict[str, Any] | None, after: dict[str, Any] | None) -> dict[str, Any]:
    """``{field: {"before": x, "after": y}}`` for every field that differs (ids and META aside)."""
    names = [n for n in (after or before or {}) if n != "id" and n not in META]
    changes: dict[str, Any] = {}
    for name in names:
        old = plain((before or {}).get(name))
        new = plain((after or {}).get(name))
        if old != new:
            changes[name] = {"before": old, "after": new}
    return changes


def record(
    session: AsyncSession,
    *,
    action: ChangeAction,
    object_type: str,
    object_id: int,
    object_key: str,
    site_id: int | None,
    country_code: str | None,
    changes: dict[str, Any],
) -> ChangeRecord:
    entry = ChangeRecord(
        actor=context.actor.get(),
        actor_role=context.actor_role.get(),
        request_id=context.request_id.get(),
        action=action.value,
        object_type=object_type,
        object_id=object_id,
        object_key=object_key,
        site_id=site_id,
        country_code=country_code,
        changes=changes,
    )
    session.add(entry)
    return entry


def public_change(entry: ChangeRecord) -> dict[str, Any]:
    return {
        "id": entry.id,
        "at": entry.at,
        "actor": entry.actor,
        "actor_role": entry.actor_role,
        "request_id": entry.request_id,
        "action": entry.action,
        "object_type": entry.object_type,
        "object_id": entry.object_id,
        "object_key": entry.object_key,
        "site_id": entry.site_id,
        "country": entry.country_code,
        "changes": entry.changes,
    }
