"""``fleet sync``: compare ``site_configs/`` with the database, print the plan, apply it in one
transaction; ``fleet export``: write the database back in the same layout.

Both sides are brought to one "config form" per object (the YAML keys, references by code and
serial), so the plan is a plain field-by-field comparison, and an export read back plans nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from enum import Enum
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import yaml
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from fleet import context
from fleet.inventory import service
from fleet.inventory.configs import ConfigError, Desired, Located, Problem
from fleet.inventory.declarations import Resource
from fleet.inventory.models import CredentialProfile, Device
from fleet.inventory.resources import COUNTRY, DEVICE, DEVICE_MODEL, LINK, SITE
from fleet.progress import SILENT, Progress

# Resources in the order they are created; deletes go the other way.
ORDER: tuple[Resource, ...] = (COUNTRY, DEVICE_MODEL, SITE, DEVICE, LINK)
KEYS = {r.name: r.natural_key for r in ORDER}
ACTOR = "sync"

Form = dict[str, Any]


def _plain(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _desired_forms(located: dict[str, Located]) -> dict[str, Form]:
    forms = {}
    for key, item in located.items():
        form = {k: _plain(v) for k, v in item.value.model_dump().items()}
        form.update(item.extra)
        forms[key] = form
    return forms


def desired_state(desired: Desired) -> dict[str, dict[str, Form]]:
    return {
        "country": _desired_forms(desired.countries),
        "device_model": _desired_forms(desired.device_models),
        "site": _desired_forms(desired.sites),
        "device": _desired_forms(desired.devices),
        "link": _desired_forms(desired.links),
    }


FORM_FIELDS: dict[str, tuple[str, ...]] = {
    "country": ("code", "name", "region"),
    "device_model": DEVICE_MODEL.fields,
    "site": SITE.fields,
    "device": (
        "serial",
        "site",
        "model",
        "asset_tag",
        "hostname",
        "management_address",
        "firmware_version",
        "installed_on",
        "warranty_until",
        "lifecycle",
        "parent",
        "notes",
        "probes",
        "snmp_profile",
        "ssh_profile",
        "http_profile",
        "probe_port",
        "ssh_port",
        "probe_interval_s",
        "http_scheme",
        "http_port",
        "http_path",
        "http_expected_status",
    ),
    "link": (
        "circuit_id",
        "site",
        "medium",
        "provider",
        "bandwidth_kbps",
        "terminating_device",
        "far_end_site",
        "encrypted",
        "role",
        "lifecycle",
        "notes",
    ),
}


async def current_state(
    session: AsyncSession,
) -> tuple[dict[str, dict[str, Form]], dict[str, dict[str, int]]]:
    """The database in config form, and each object's version by key."""
    serials = {
        row.id: row.serial
        for row in await session.execute(sa.select(col(Device.id), col(Device.serial)))
    }
    state: dict[str, dict[str, Form]] = {}
    versions: dict[str, dict[str, int]] = {}
    for resource in ORDER:
        rows = (await session.execute(resource.select())).all()
        forms: dict[str, Form] = {}
        versions[resource.name] = {}
        for row in rows:
            shown = resource.public(row)
            if resource is DEVICE:
                shown["parent"] = serials.get(shown["parent_id"]) if shown["parent_id"] else None
            if resource is LINK:
                tid = shown["terminating_device_id"]
                shown["terminating_device"] = serials.get(tid) if tid else None
            key = shown[KEYS[resource.name]]
            forms[key] = {name: shown.get(name) for name in FORM_FIELDS[resource.name]}
            versions[resource.name][key] = shown["version"]
        state[resource.name] = forms
    return state, versions


@dataclass
class Change:
    action: str  # create, update, delete, keep (absent from the files, not pruned)
    object_type: str
    key: str
    fields: dict[str, tuple[Any, Any]] = field(default_factory=dict)

    def __str__(self) -> str:
        sign = {"create": "+", "update": "~", "delete": "-", "keep": "?"}[self.action]
        what = f"{sign} {self.object_type.replace('_', ' ')} {self.key}"
        if self.action == "update":
            parts = [f"{n}: {_show(a)} -> {_show(b)}" for n, (a, b) in self.fields.items()]
            return f"{what}: " + "; ".join(parts)
        if self.action == "keep":
            return f"{what} (absent from the files; kept, --prune deletes it)"
        return what


def _show(value: Any) -> str:
    return repr(value.isoformat() if isinstance(value, date) else value)


@dataclass
class Plan:
    changes: list[Change]
    versions: dict[str, dict[str, int]]
    desired: dict[str, dict[str, Form]]

    def count(self, action: str) -> int:
        return sum(1 for c in self.changes if c.action == action)

    @property
    def empty(self) -> bool:
        return not any(c.action in ("create", "update", "delete") for c in self.changes)

    def summary(self) -> str:
        text = (
            f"Plan: {self.count('create')} to create, {self.count('update')} to change, "
            f"{self.count('delete')} to delete."
        )
        if self.count("keep"):
            text += f" {self.count('keep')} absent from the files are kept (--prune deletes them)."
        return text


def _device_order(forms: dict[str, Form], keys: list[str]) -> list[str]:
    """Devices with their parents first, so that every parent exists when a child is made."""
    ordered: list[str] = []
    placed: set[str] = set()
    wanted = set(keys)

    def place(serial: str) -> None:
        if serial in placed:
            return
        placed.add(serial)
        parent = forms[serial].get("parent")
        if parent in wanted:
            place(parent)
        ordered.append(serial)

    for serial in keys:
        place(serial)
    return ordered


async def _check_profiles(session: AsyncSession, desired: Desired) -> None:
    """Credential profiles live in the database (their secrets do not belong in files): every
    one a device names must exist there."""
    known = set((await session.scalars(sa.select(col(CredentialProfile.name)))).all())
    problems = [
        Problem(item.file, item.line, f"device {serial}: unknown {field} {name!r}")
        for serial, item in desired.devices.items()
        for field in ("snmp_profile", "ssh_profile", "http_profile")
        if (name := getattr(item.value, field)) is not None and name not in known
    ]
    if problems:
        raise ConfigError(problems)


async def make_plan(session: AsyncSession, desired: Desired, *, prune: bool) -> Plan:
    await _check_profiles(session, desired)
    want = desired_state(desired)
    have, versions = await current_state(session)
    changes: list[Change] = []
    for resource in ORDER:
        name = resource.name
        creates = [k for k in want[name] if k not in have[name]]
        if resource is DEVICE:
            creates = _device_order(want[name], creates)
        changes += [Change("create", name, k) for k in creates]
        for key, form in want[name].items():
            if key in have[name]:
                diff = {
                    f: (have[name][key].get(f), form.get(f))
                    for f in FORM_FIELDS[name]
                    if have[name][key].get(f) != form.get(f)
                }
                if diff:
                    changes.append(Change("update", name, key, diff))
    for resource in reversed(ORDER):
        name = resource.name
        gone = [k for k in have[name] if k not in want[name]]
        if resource is DEVICE:
            gone = list(reversed(_device_order(have[name], gone)))
        changes += [Change("delete" if prune else "keep", name, k) for k in gone]
    return Plan(changes, versions, want)


async def _to_api(session: AsyncSession, object_type: str, form: Form) -> dict[str, Any]:
    """A config form (or part of one) in the API's terms: serials become device ids."""
    data = dict(form)
    for ref, column in (("parent", "parent_id"), ("terminating_device", "terminating_device_id")):
        if ref in data:
            serial = data.pop(ref)
            data[column] = (
                None
                if serial is None
                else await session.scalar(
                    sa.select(col(Device.id)).where(col(Device.serial) == serial)
                )
            )
    if object_type == "device":
        data.pop("kind", None)
    return data


async def apply_plan(session: AsyncSession, plan: Plan, progress: Progress = SILENT) -> None:
    """Carry out ``plan`` through the inventory service (same rules, one change record each),
    under the caller's request id or, without one, a run id of its own; the caller commits."""
    by_name = {r.name: r for r in ORDER}
    session.info[service.BULK] = {}
    try:
        await _apply(session, plan, by_name, progress)
    finally:
        session.info.pop(service.BULK, None)


async def _apply(
    session: AsyncSession, plan: Plan, by_name: dict[str, Resource], progress: Progress
) -> None:
    progress.start("Applying changes", len(plan.changes))
    with context.acting_as(ACTOR):
        for change in plan.changes:
            progress.advance()
            resource = by_name[change.object_type]
            key: Any = change.key
            if change.action == "create":
                data = await _to_api(
                    session, change.object_type, plan.desired[change.object_type][key]
                )
                await service.create(session, resource, resource.create_schema.model_validate(data))
            elif change.action in ("update", "delete"):
                url_key = key
                if resource.key == "id":
                    url_key = await session.scalar(
                        sa.select(col(resource.table.id)).where(
                            getattr(resource.table, KEYS[change.object_type]) == key
                        )
                    )
                version = service.etag(plan.versions[change.object_type][key])
                if change.action == "update":
                    values = {f: new for f, (_old, new) in change.fields.items()}
                    data = await _to_api(session, change.object_type, values)
                    await service.update(session, resource, url_key, data, version)
                else:
                    await service.delete(session, resource, url_key, version)


def _clean(form: Form, drop: tuple[str, ...] = ()) -> Form:
    return {k: v for k, v in form.items() if k not in drop and v is not None and v != []}


async def export(session: AsyncSession, root: Path, progress: Progress = SILENT) -> dict[str, int]:
    """Write the database to ``root`` in the ``site_configs/`` layout; returns counts."""
    have, _ = await current_state(session)
    (root / "sites").mkdir(parents=True, exist_ok=True)
    _dump(root / "countries.yaml", [_clean(f) for f in have["country"].values()])
    _dump(root / "device_models.yaml", [_clean(f) for f in have["device_model"].values()])
    for old in (root / "sites").glob("*.yaml"):
        old.unlink()
    progress.start("Writing site files", len(have["site"]))
    for code, site in have["site"].items():
        progress.advance()
        document = _clean(site)
        devices = [d for d in have["device"].values() if d["site"] == code]
        serials = _device_order({d["serial"]: d for d in devices}, [d["serial"] for d in devices])
        by_serial = {d["serial"]: d for d in devices}
        document["devices"] = [_clean(by_serial[s], ("site",)) for s in serials]
        document["links"] = [
            _clean(link, ("site",)) for link in have["link"].values() if link["site"] == code
        ]
        _dump(root / "sites" / f"{code}.yaml", _clean(document))
    return {name: len(forms) for name, forms in have.items()}


def _dump(path: Path, data: Any) -> None:
    path.write_text(
        yaml.safe_dump(data, sort_keys=False, allow_unicode=True, default_flow_style=False),
        encoding="utf-8",
    )


def iter_lines(plan: Plan) -> Iterator[str]:
    for change in plan.changes:
        yield str(change)
    yield plan.summary()
