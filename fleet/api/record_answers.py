"""The answers of the change log, the tokens, the audit events and the credential profiles as the
OpenAPI document declares them, made from the tables and the field lists their routes show."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from fleet import changelog
from fleet.access import audit, tokens
from fleet.access.models import ApiToken, AuditEvent
from fleet.api.representations import columns, items_of
from fleet.changelog import ChangeRecord
from fleet.inventory import credentials
from fleet.inventory.models import CredentialProfile


class FieldChange(BaseModel):
    """One field of an object, before and after a change (null: not there)."""

    before: Any = Field(description="The value before (any JSON value)")
    after: Any = Field(description="The value after (any JSON value)")


Change = columns(
    "Change",
    "One create, update or delete of one object: who, when, from which request, and the fields "
    'before and after (`{"field": {"before": x, "after": y}}`).',
    ChangeRecord,
    (*changelog.FIELDS, "changes"),
    country=(str | None, Field(description="The object's country code")),
    changes=(dict[str, FieldChange], Field(description="The fields that moved, by name")),
)
ChangePage = items_of("ChangePage", "A page of changes, newest first.", Change)
Token = columns("Token", "An API token (never its secret nor its hash).", ApiToken, tokens.FIELDS)
TokenPage = items_of("TokenPage", "A page of tokens.", Token)
NewToken = columns(
    "NewToken",
    "A token just made, with its secret (shown this once).",
    ApiToken,
    tokens.FIELDS,
    secret=(str, Field(description="`fleet_...`: send it as `Authorization: Bearer`")),
)
AuditEventAnswer = columns(
    "AuditEvent", "A security-relevant event that is not a change.", AuditEvent, audit.FIELDS
)
AuditEventPage = items_of("AuditEventPage", "A page of audit events.", AuditEventAnswer)
CredentialProfileAnswer = columns(
    "CredentialProfile",
    "How to log into devices (never the secret).",
    CredentialProfile,
    credentials.FIELDS,
    has_secret=(bool, Field(description="Whether a secret is stored")),
)
CredentialProfilePage = items_of(
    "CredentialProfilePage", "A page of credential profiles.", CredentialProfileAnswer
)
