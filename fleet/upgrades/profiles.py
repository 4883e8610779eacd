"""Profiles and the price list as code: ``site_configs/profiles/*.yaml`` and
``site_configs/prices.yaml``, checked like the rest of ``site_configs/`` (file, line, reason),
and synchronised into the database with the inventory."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import sqlalchemy as sa
import yaml
from pydantic import Field
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from fleet import changelog
from fleet.changelog import ChangeAction
from fleet.inventory.choices import DeviceKind, LinkMedium
from fleet.inventory.configs import ConfigError, Loader, Problem
from fleet.inventory.files import Limits
from fleet.inventory.schemas import Slug, Strict
from fleet.models import utcnow
from fleet.upgrades.choices import WorkKind
from fleet.upgrades.models import SiteProfile
from fleet.upgrades.rules import Profile

Money = Annotated[float, Field(ge=0, le=100_000_000)]


class PriceList(Strict):
    """Unit costs: one device of a kind or model, a link upgrade by medium, labour."""

    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")] = "EUR"
    device_kinds: dict[DeviceKind, Money]
    device_models: dict[Slug, Money] = Field(default_factory=dict)
    link_upgrade: dict[LinkMedium, Money]
    firmware_upgrade: Money
    repair: Money

    def cost(self, work: str, detail: str, quantity: int) -> float:
        count = max(1, quantity)
        if work == WorkKind.install:
            return count * self.device_kinds.get(DeviceKind(detail), 0.0)
        if work == WorkKind.replacement:
            if detail in self.device_models:
                return count * self.device_models[detail]
            return (
                count * self.device_kinds.get(DeviceKind(detail), 0.0)
                if detail in DeviceKind.__members__
                else 0.0
            )
        if work == WorkKind.firmware_upgrade:
            return self.firmware_upgrade
        if work == WorkKind.link_upgrade:
            return (
                count * self.link_upgrade.get(LinkMedium(detail), 0.0)
                if detail in LinkMedium.__members__
                else 0.0
            )
        return self.repair


@dataclass(frozen=True)
class LocatedProfile:
    profile: Profile
    file: str
    line: int


def load(
    root: Path, limits: Limits | None = None
) -> tuple[dict[str, LocatedProfile], PriceList | None]:
    """Read the profiles and the price list of ``root``; raises ``ConfigError``."""
    loader = Loader(root, limits)
    profiles: dict[str, LocatedProfile] = {}
    folder = root / "profiles"
    for path in sorted(folder.glob("*.yaml")) if folder.is_dir() else []:
        doc = loader._open(path)
        if doc is None:
            continue
        profile = loader._validate(doc, Profile, doc.data, ())
        if profile is None:
            continue
        if profile.name in profiles:
            first = profiles[profile.name]
            loader.problem(
                doc, ("name",), f"duplicate profile {profile.name!r} (first in {first.file})"
            )
            continue
        ids = [rule.id for rule in profile.rules]
        for i, rule_id in enumerate(ids):
            if rule_id in ids[:i]:
                loader.problem(doc, ("rules", i, "id"), f"duplicate rule id {rule_id!r}")
        profiles[profile.name] = LocatedProfile(profile, doc.name, 1)
    kinds: dict[str, str] = {}
    for located in profiles.values():
        for kind in located.profile.site_kinds:
            if kind.value in kinds:
                loader.problems.append(
                    Problem(
                        located.file,
                        1,
                        f"site kind {kind.value} is already in profile {kinds[kind.value]}",
                    )
                )
            kinds[kind.value] = located.profile.name
    prices = None
    if (root / "prices.yaml").exists():
        doc = loader._open(root / "prices.yaml")
        if doc is not None:
            prices = loader._validate(doc, PriceList, doc.data, ())
    if loader.problems:
        raise ConfigError(loader.problems)
    return profiles, prices


def _form(profile: Profile) -> dict[str, Any]:
    return {
        "profile_version": profile.version,
        "site_kinds": [k.value for k in profile.site_kinds],
        "programme": profile.programme,
        "description": profile.description,
        "rules": [rule.model_dump(mode="json", exclude_none=True) for rule in profile.rules],
    }


def _current(row: SiteProfile) -> dict[str, Any]:
    return {
        "profile_version": row.profile_version,
        "site_kinds": list(row.site_kinds),
        "programme": row.programme,
        "description": row.description,
        "rules": list(row.rules),
    }


@dataclass
class ProfileChange:
    action: str  # create, update, delete, keep
    name: str
    fields: tuple[str, ...] = ()

    def __str__(self) -> str:
        sign = {"create": "+", "update": "~", "delete": "-", "keep": "?"}[self.action]
        text = f"{sign} profile {self.name}"
        if self.action == "update":
            return f"{text}: {', '.join(self.fields)} changed"
        if self.action == "keep":
            return f"{text} (absent from the files; kept, --prune deletes it)"
        return text


async def plan(
    session: AsyncSession, wanted: dict[str, LocatedProfile], *, prune: bool
) -> list[ProfileChange]:
    have = {row.name: row for row in await session.scalars(sa.select(SiteProfile))}
    changes: list[ProfileChange] = []
    for name, located in wanted.items():
        if name not in have:
            changes.append(ProfileChange("create", name))
            continue
        new, old = _form(located.profile), _current(have[name])
        differing = tuple(k for k in new if new[k] != old[k])
        if differing:
            changes.append(ProfileChange("update", name, differing))
    for name in have:
        if name not in wanted:
            changes.append(ProfileChange("delete" if prune else "keep", name))
    return changes


async def apply(
    session: AsyncSession, wanted: dict[str, LocatedProfile], changes: list[ProfileChange]
) -> None:
    have = {row.name: row for row in await session.scalars(sa.select(SiteProfile))}
    for change in changes:
        if change.action == "create":
            row = SiteProfile(name=change.name, **_form(wanted[change.name].profile))
            session.add(row)
            await session.flush()
            changelog.log(session, ChangeAction.create, row, None, _current(row))
        elif change.action == "update":
            row = have[change.name]
            before = _current(row)
            for key, value in _form(wanted[change.name].profile).items():
                setattr(row, key, value)
            row.version += 1
            row.updated_at = utcnow()
            await session.flush()
            changelog.log(session, ChangeAction.update, row, before, _current(row))
        elif change.action == "delete":
            row = have[change.name]
            changelog.log(session, ChangeAction.delete, row, _current(row), None)
            await session.delete(row)
    await session.flush()


async def export(session: AsyncSession, root: Path) -> int:
    """Write every stored profile to ``root/profiles`` (a sync of it plans nothing)."""
    folder = root / "profiles"
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.yaml"):
        old.unlink()
    rows = (await session.scalars(sa.select(SiteProfile).order_by(col(SiteProfile.name)))).all()
    for row in rows:
        document = {
            "name": row.name,
            "version": row.profile_version,
            "site_kinds": list(row.site_kinds),
            "programme": row.programme,
            "description": row.description,
            "rules": list(row.rules),
        }
        text = yaml.safe_dump(
            {k: v for k, v in document.items() if v is not None},
            sort_keys=False,
            allow_unicode=True,
        )
        (folder / f"{row.name}.yaml").write_text(text, encoding="utf-8")
    return len(rows)


#: A stored profile's columns as the API shows them.
FIELDS = (
    "id",
    "name",
    "profile_version",
    "site_kinds",
    "programme",
    "description",
    "rules",
    "version",
    "updated_at",
)


def public(row: SiteProfile) -> dict[str, Any]:
    return {name: getattr(row, name) for name in FIELDS}


async def active(session: AsyncSession) -> dict[str, tuple[SiteProfile, Profile]]:
    """Every stored profile by site kind, with its rules parsed."""
    found: dict[str, tuple[SiteProfile, Profile]] = {}
    for row in await session.scalars(sa.select(SiteProfile).order_by(col(SiteProfile.name))):
        parsed = Profile.model_validate(
            {
                "name": row.name,
                "version": row.profile_version,
                "site_kinds": row.site_kinds,
                "programme": row.programme,
                "description": row.description,
                "rules": row.rules,
            }
        )
        for kind in row.site_kinds:
            found[kind] = (row, parsed)
    return found
