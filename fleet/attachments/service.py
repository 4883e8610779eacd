"""Store, list, read and delete attachments. The functions take a session and leave the commit
to the caller; every create and delete leaves one change-log record with the current actor.

The owner (a site, a device or a work order) is resolved by the caller within the token's
country scope and handed in as an :class:`Owner`: this module knows no other domain's tables.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from fleet import changelog, context
from fleet.attachments.content import Checked
from fleet.attachments.models import Attachment, AttachmentContent
from fleet.changelog import ChangeAction
from fleet.errors import Conflict, NotFound
from fleet.models import fits_int32
from fleet.pagination import ListParams, ListSpec, Page, paginate

LIST = ListSpec(
    filters={},
    sorts={"id": col(Attachment.id), "created_at": col(Attachment.created_at)},
    default_sort="-id",
    id_column=col(Attachment.id),
)
#: An attachment as the API shows it (with ``content_url``).
FIELDS = (
    "id",
    "object_type",
    "object_key",
    "name",
    "content_type",
    "size",
    "sha256",
    "width",
    "height",
    "location_removed",
    "created_at",
    "created_by",
)


@dataclass(frozen=True)
class Owner:
    """The object files are attached to, as its domain resolved it: its type, the key the API
    names it by, its id, its site's id and its country (for the change log)."""

    object_type: str
    key: str
    object_id: int
    site_id: int
    country: str
    #: The path parameter that names the owner (an error about the owner names it).
    field: str

    def columns(self) -> tuple[int | None, int | None, int | None]:
        """The owner's foreign keys on an attachment row: site, device, work order."""
        if self.object_type == "site":
            return self.object_id, None, None
        if self.object_type == "device":
            return None, self.object_id, None
        return self.site_id, None, self.object_id

    def condition(self) -> Any:
        """The attachments of this owner."""
        column = {
            "site": col(Attachment.site_id),
            "device": col(Attachment.device_id),
            "work_order": col(Attachment.work_order_id),
        }[self.object_type]
        return sa.and_(col(Attachment.object_type) == self.object_type, column == self.object_id)


def content_url(attachment_id: int) -> str:
    return f"/api/v1/attachments/{attachment_id}/content"


def public(attachment: Attachment, owner: Owner | None = None) -> dict[str, Any]:
    """``attachment`` as the API shows it; ``owner`` gives the owner's key as it is now."""
    body = {name: getattr(attachment, name) for name in FIELDS}
    if owner is not None:
        body["object_key"] = owner.key
    assert attachment.id is not None
    return body | {"content_url": content_url(attachment.id)}


async def count(session: AsyncSession, owner: Owner) -> int:
    total = await session.scalar(
        sa.select(sa.func.count()).select_from(Attachment).where(owner.condition())
    )
    return int(total or 0)


async def create(
    session: AsyncSession,
    owner: Owner,
    name: str,
    content_type: str,
    checked: Checked,
    *,
    max_per_object: int,
) -> dict[str, Any]:
    """Store ``checked`` as a new attachment of ``owner`` (the caller holds the owner's lock)."""
    held = await count(session, owner)
    if held >= max_per_object:
        label = owner.object_type.replace("_", " ")
        raise Conflict(
            f"{label} {owner.key} already has {held} attachments, the most one object may "
            "have; delete one first",
            field=owner.field,
        )
    site_id, device_id, work_order_id = owner.columns()
    attachment = Attachment(
        object_type=owner.object_type,
        object_key=owner.key,
        site_id=site_id,
        device_id=device_id,
        work_order_id=work_order_id,
        name=name,
        content_type=content_type,
        size=len(checked.data),
        sha256=hashlib.sha256(checked.data).hexdigest(),
        width=checked.width,
        height=checked.height,
        location_removed=checked.location_removed,
        created_by=context.actor.get(),
    )
    session.add(attachment)
    await session.flush()
    assert attachment.id is not None
    session.add(AttachmentContent(attachment_id=attachment.id, data=checked.data))
    after = public(attachment, owner)
    _log(session, ChangeAction.create, attachment, owner, None, after)
    await session.flush()
    return after


def _log(
    session: AsyncSession,
    action: ChangeAction,
    attachment: Attachment,
    owner: Owner,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
) -> None:
    changelog.log(
        session,
        action,
        changelog.logged(attachment),
        before,
        after,
        site_id=owner.site_id,
        country_code=owner.country,
    )


async def get(session: AsyncSession, attachment_id: int, *, lock: bool = False) -> Attachment:
    """The attachment's metadata (never its bytes); not found when there is none."""
    if not fits_int32(attachment_id):
        raise NotFound(f"no attachment {attachment_id}")
    statement = sa.select(Attachment).where(col(Attachment.id) == attachment_id)
    if lock:
        statement = statement.with_for_update()
    attachment = await session.scalar(statement)
    if attachment is None:
        raise NotFound(f"no attachment {attachment_id}")
    return attachment


async def data(session: AsyncSession, attachment: Attachment) -> bytes:
    stored = await session.scalar(
        sa.select(col(AttachmentContent.data)).where(
            col(AttachmentContent.attachment_id) == attachment.id
        )
    )
    if stored is None:
        raise NotFound(f"no content of attachment {attachment.id}")
    return bytes(stored)


async def list_page(
    session: AsyncSession, owner: Owner, params: ListParams, *, max_limit: int
) -> Page:
    """A page of ``owner``'s attachments (metadata only)."""
    statement = sa.select(Attachment).where(owner.condition())
    return await paginate(
        session, statement, LIST, params, lambda row: public(row[0], owner), max_limit=max_limit
    )


async def delete(session: AsyncSession, attachment: Attachment, owner: Owner) -> None:
    """Delete ``attachment`` and its bytes (the caller checked the If-Match)."""
    before = public(attachment, owner)
    _log(session, ChangeAction.delete, attachment, owner, before, None)
    await session.execute(
        sa.delete(AttachmentContent).where(col(AttachmentContent.attachment_id) == attachment.id)
    )
    await session.delete(attachment)
    await session.flush()
