"""Alert rules and channels as code: ``site_configs/alerts.yaml``, checked like the rest of
``site_configs/`` (file, line, field, reason) and synchronised into the database by ``fleet
sync`` (and at the first start, with the sample). The API reads them; it does not edit them.

A webhook's signing secret is never in the file: the channel names an environment variable
(``secret_env``) whose value is stored encrypted with the credential keys, as credential
profiles' secrets are."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from pydantic import Field, model_validator
from sqlalchemy.ext.asyncio import AsyncSession

from fleet import changelog
from fleet.alerts.choices import ChannelKind, RuleKind
from fleet.alerts.models import AlertChannel, AlertRule
from fleet.changelog import ChangeAction
from fleet.inventory.choices import SiteKind
from fleet.inventory.configs import ConfigError, Loader, Problem
from fleet.inventory.credentials import Cipher
from fleet.inventory.files import Limits
from fleet.inventory.schemas import CountryCode, Strict
from fleet.models import utcnow

FILE = "alerts.yaml"
Name = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$", description="A name")]
Address = Annotated[
    str, Field(pattern=r"^[^@\s<>,;]{1,64}@[A-Za-z0-9.-]{1,190}$", description="An e-mail address")
]
EnvName = Annotated[str, Field(pattern=r"^[A-Z_][A-Z0-9_]{0,99}$")]
#: The longest duration a rule may name: ten years.
MAX_SECONDS = 10 * 366 * 86_400


class ChannelSpec(Strict):
    """A webhook (``url``, ``secret_env``) or e-mail recipients (``to``)."""

    name: Name
    kind: ChannelKind
    url: Annotated[str, Field(min_length=8, max_length=500)] | None = None
    secret_env: EnvName | None = Field(
        default=None, description="The environment variable holding the signing secret"
    )
    to: Annotated[list[Address], Field(max_length=50)] = Field(default_factory=list)
    timeout_s: Annotated[float, Field(gt=0, le=60)] = 10.0

    @model_validator(mode="after")
    def _complete(self) -> ChannelSpec:
        if self.kind == ChannelKind.webhook:
            if self.url is None:
                raise ValueError("a webhook needs a url")
            parts = urlsplit(self.url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError("url: an http:// or https:// URL with a host")
            if self.secret_env is None:
                raise ValueError("a webhook needs secret_env (its signing secret's variable)")
            if self.to:
                raise ValueError("to: only for e-mail channels")
        else:
            if not self.to:
                raise ValueError("an e-mail channel needs at least one address in to")
            if self.url is not None or self.secret_env is not None:
                raise ValueError("url and secret_env: only for webhooks")
        return self


class Scope(Strict):
    """Which sites a rule watches; empty lists watch all."""

    countries: Annotated[list[CountryCode], Field(max_length=300)] = Field(default_factory=list)
    site_kinds: Annotated[list[SiteKind], Field(max_length=10)] = Field(default_factory=list)
    criticality: Annotated[list[Annotated[int, Field(ge=1, le=5)]], Field(max_length=5)] = Field(
        default_factory=list
    )


Amount = Annotated[float, Field(ge=0, le=MAX_SECONDS)]


class RuleSpec(Strict):
    """A rule: its kind, one duration (seconds, minutes, hours or days), scope and channels."""

    name: Name
    kind: RuleKind
    seconds: Amount | None = None
    minutes: Amount | None = None
    hours: Amount | None = None
    days: Amount | None = None
    scope: Scope = Field(default_factory=Scope)
    channels: Annotated[list[Name], Field(max_length=20)] = Field(default_factory=list)
    description: Annotated[str, Field(max_length=500)] | None = None
    enabled: bool = True

    @model_validator(mode="after")
    def _one_duration(self) -> RuleSpec:
        given = [u for u in ("seconds", "minutes", "hours", "days") if getattr(self, u) is not None]
        if len(given) > 1:
            raise ValueError(f"give one duration, not {' and '.join(given)}")
        if self.threshold_s > MAX_SECONDS:
            raise ValueError("a duration of at most ten years")
        return self

    @property
    def threshold_s(self) -> float:
        for unit, factor in (("seconds", 1), ("minutes", 60), ("hours", 3600), ("days", 86_400)):
            value = getattr(self, unit)
            if value is not None:
                return float(value) * factor
        return 0.0


class AlertsFile(Strict):
    channels: Annotated[list[dict[str, Any]], Field(max_length=100)] = Field(default_factory=list)
    rules: Annotated[list[dict[str, Any]], Field(max_length=500)] = Field(default_factory=list)


@dataclass(frozen=True)
class Wanted:
    """What the file declares, secrets read from the environment."""

    channels: dict[str, ChannelSpec]
    rules: dict[str, RuleSpec]
    secrets: dict[str, str]

    @classmethod
    def none(cls) -> Wanted:
        return cls({}, {}, {})


def load(
    root: Path, limits: Limits | None = None, environ: Mapping[str, str] | None = None
) -> Wanted | None:
    """The rules and channels of ``root/alerts.yaml`` (None without the file); raises
    ``ConfigError`` naming file, line and field."""
    path = root / FILE
    if not path.exists():
        return None
    env = os.environ if environ is None else environ
    loader = Loader(root, limits)
    doc = loader._open(path)
    if doc is None:
        raise ConfigError(loader.problems)
    parsed = loader._validate(doc, AlertsFile, doc.data if doc.data is not None else {}, ())
    if parsed is None:
        raise ConfigError(loader.problems)
    channels: dict[str, ChannelSpec] = {}
    secrets: dict[str, str] = {}
    for i, data in enumerate(parsed.channels):
        channel = loader._validate(doc, ChannelSpec, data, ("channels", i))
        if channel is None:
            continue
        if channel.name in channels:
            loader.problem(doc, ("channels", i, "name"), f"duplicate channel {channel.name!r}")
            continue
        channels[channel.name] = channel
        if channel.secret_env is not None:
            secret = env.get(channel.secret_env, "")
            if len(secret) < 16:
                loader.problem(
                    doc,
                    ("channels", i, "secret_env"),
                    f"secret_env: {channel.secret_env} is not set to a secret of 16 or more "
                    "characters",
                )
                continue
            secrets[channel.name] = secret
    rules: dict[str, RuleSpec] = {}
    for i, data in enumerate(parsed.rules):
        rule = loader._validate(doc, RuleSpec, data, ("rules", i))
        if rule is None:
            continue
        if rule.name in rules:
            loader.problem(doc, ("rules", i, "name"), f"duplicate rule {rule.name!r}")
            continue
        for j, name in enumerate(rule.channels):
            if name not in channels and not _declared(parsed.channels, name):
                loader.problem(doc, ("rules", i, "channels", j), f"channels: no channel {name!r}")
        rules[rule.name] = rule
    if loader.problems:
        raise ConfigError(loader.problems)
    return Wanted(channels, rules, secrets)


def _declared(channels: list[dict[str, Any]], name: str) -> bool:
    """A channel of that name is in the file (even one with problems of its own)."""
    return any(isinstance(c, dict) and c.get("name") == name for c in channels)


def check_keys(wanted: Wanted, cipher: Cipher) -> None:
    """A webhook's secret is stored encrypted: the credential keys must be set."""
    if wanted.secrets and not cipher.ready:
        raise ConfigError(
            [Problem(FILE, 1, "webhook secrets need FLEET_CREDENTIAL_KEYS to be stored")]
        )


def _rule_form(rule: RuleSpec) -> dict[str, Any]:
    return {
        "kind": rule.kind.value,
        "threshold_s": rule.threshold_s,
        "countries": list(rule.scope.countries),
        "site_kinds": [k.value for k in rule.scope.site_kinds],
        "criticality": list(rule.scope.criticality),
        "channels": list(rule.channels),
        "description": rule.description,
        "enabled": rule.enabled,
    }


def _channel_form(channel: ChannelSpec) -> dict[str, Any]:
    return {
        "kind": channel.kind.value,
        "url": channel.url,
        "email_to": [str(a) for a in channel.to],
        "timeout_s": channel.timeout_s,
    }


RULE_FIELDS = tuple(_rule_form(RuleSpec(name="x", kind=RuleKind.device_down)))
CHANNEL_FIELDS = ("kind", "url", "email_to", "timeout_s")


def _current(row: AlertRule | AlertChannel, names: tuple[str, ...]) -> dict[str, Any]:
    return {name: getattr(row, name) for name in names}


@dataclass
class Change:
    action: str  # create, update, delete, keep
    what: str  # alert rule, alert channel
    name: str
    fields: tuple[str, ...] = ()

    def __str__(self) -> str:
        sign = {"create": "+", "update": "~", "delete": "-", "keep": "?"}[self.action]
        text = f"{sign} {self.what} {self.name}"
        if self.action == "keep":
            return f"{text} (absent from the files; kept, --prune deletes it)"
        return f"{text}: {', '.join(self.fields)} changed" if self.fields else text


async def plan(
    session: AsyncSession, wanted: Wanted, cipher: Cipher, *, prune: bool
) -> list[Change]:
    """What applying ``wanted`` changes; rules and channels absent from it are deleted with
    ``prune`` (the alerts they raised stay, with their history), else kept."""
    gone = "delete" if prune else "keep"
    changes: list[Change] = []
    have_channels = {c.name: c for c in await session.scalars(sa.select(AlertChannel))}
    for name, spec in wanted.channels.items():
        row = have_channels.get(name)
        if row is None:
            changes.append(Change("create", "alert channel", name))
            continue
        new, old = _channel_form(spec), _current(row, CHANNEL_FIELDS)
        differing = tuple(k for k in new if new[k] != old[k])
        if name in wanted.secrets and not _same_secret(row, wanted.secrets[name], cipher):
            differing += ("secret",)
        if differing:
            changes.append(Change("update", "alert channel", name, differing))
    changes += [Change(gone, "alert channel", n) for n in have_channels if n not in wanted.channels]
    have_rules = {r.name: r for r in await session.scalars(sa.select(AlertRule))}
    for name, rule in wanted.rules.items():
        if name not in have_rules:
            changes.append(Change("create", "alert rule", name))
            continue
        new, old = _rule_form(rule), _current(have_rules[name], RULE_FIELDS)
        differing = tuple(k for k in new if new[k] != old[k])
        if differing:
            changes.append(Change("update", "alert rule", name, differing))
    changes += [Change(gone, "alert rule", n) for n in have_rules if n not in wanted.rules]
    return changes


def _same_secret(row: AlertChannel, secret: str, cipher: Cipher) -> bool:
    if row.secret is None or not cipher.ready:
        return False
    return cipher.decrypt(row.secret).get("secret") == secret


async def apply(
    session: AsyncSession, wanted: Wanted, changes: list[Change], cipher: Cipher
) -> None:
    """Make the database hold what ``changes`` (from :func:`plan`) say, each change logged."""
    channels = {c.name: c for c in await session.scalars(sa.select(AlertChannel))}
    rules = {r.name: r for r in await session.scalars(sa.select(AlertRule))}
    for change in changes:
        if change.action == "keep":
            continue
        if change.what == "alert channel":
            await _apply_channel(session, wanted, change, channels.get(change.name), cipher)
        else:
            await _apply_rule(session, wanted, change, rules.get(change.name))
    await session.flush()


async def _apply_channel(
    session: AsyncSession,
    wanted: Wanted,
    change: Change,
    row: AlertChannel | None,
    cipher: Cipher,
) -> None:
    if change.action == "delete":
        assert row is not None
        changelog.log(session, ChangeAction.delete, row, _current(row, CHANNEL_FIELDS), None)
        await session.delete(row)
        return
    spec = wanted.channels[change.name]
    before = None if row is None else _current(row, CHANNEL_FIELDS)
    if row is None:
        row = AlertChannel(name=change.name, **_channel_form(spec))
        session.add(row)
    else:
        for key, value in _channel_form(spec).items():
            setattr(row, key, value)
        row.version += 1
        row.updated_at = utcnow()
    secret = wanted.secrets.get(change.name)
    replaced = secret is not None and (before is None or "secret" in change.fields)
    if secret is not None and replaced:
        row.secret = cipher.encrypt({"secret": secret})
    elif secret is None:
        row.secret = None
    await session.flush()
    extra = {"secret": {"before": "***", "after": "(replaced)"}} if replaced and before else None
    action = ChangeAction.create if before is None else ChangeAction.update
    changelog.log(session, action, row, before, _current(row, CHANNEL_FIELDS), extra=extra)


async def _apply_rule(
    session: AsyncSession, wanted: Wanted, change: Change, row: AlertRule | None
) -> None:
    if change.action == "delete":
        assert row is not None
        changelog.log(session, ChangeAction.delete, row, _current(row, RULE_FIELDS), None)
        await session.delete(row)
        return
    form = _rule_form(wanted.rules[change.name])
    if row is None:
        row = AlertRule(name=change.name, **form)
        session.add(row)
        await session.flush()
        changelog.log(session, ChangeAction.create, row, None, _current(row, RULE_FIELDS))
        return
    before = _current(row, RULE_FIELDS)
    for key, value in form.items():
        setattr(row, key, value)
    row.version += 1
    row.updated_at = utcnow()
    await session.flush()
    changelog.log(session, ChangeAction.update, row, before, _current(row, RULE_FIELDS))


async def sync(
    session: AsyncSession, wanted: Wanted, cipher: Cipher, *, prune: bool = False
) -> list[Change]:
    """Plan and apply in the caller's transaction; the changes made."""
    check_keys(wanted, cipher)
    changes = await plan(session, wanted, cipher, prune=prune)
    await apply(session, wanted, changes, cipher)
    return changes
