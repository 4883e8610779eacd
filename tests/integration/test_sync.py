"""Configuration as code: plan, apply, idempotence, prune, export, and broken files."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml

from fleet.changelog import ChangeRecord
from fleet.database import Database
from fleet.inventory import configs, sync
from fleet.inventory.models import Country, Device, DeviceModel, Link, Site
from tests.conftest import SAMPLE

TABLES = {
    "country": Country,
    "device_model": DeviceModel,
    "site": Site,
    "device": Device,
    "link": Link,
}


async def _plan(url: str, folder: Path, *, apply: bool = False, prune: bool = False) -> sync.Plan:
    db = Database(url)
    try:
        async with db.session(write=apply) as session:
            plan = await sync.make_plan(session, configs.load(folder), prune=prune)
            if apply:
                await sync.apply_plan(session, plan)
                await session.commit()
            return plan
    finally:
        await db.dispose()


async def _counts(url: str) -> dict[str, int]:
    db = Database(url)
    try:
        async with db.session() as session:
            return {
                name: int(await session.scalar(sa.select(sa.func.count()).select_from(table)) or 0)
                for name, table in {**TABLES, "change": ChangeRecord}.items()
            }
    finally:
        await db.dispose()


def plan(url: str, folder: Path, **kwargs: Any) -> sync.Plan:
    result: sync.Plan = asyncio.run(_plan(url, folder, **kwargs))
    return result


def counts(url: str) -> dict[str, int]:
    result: dict[str, int] = asyncio.run(_counts(url))
    return result


def test_sample_plan_lists_every_object_then_applies_idempotently(db_url: str) -> None:
    desired = configs.load(SAMPLE)
    expected = {
        "country": len(desired.countries),
        "device_model": len(desired.device_models),
        "site": len(desired.sites),
        "device": len(desired.devices),
        "link": len(desired.links),
    }
    assert expected["site"] >= 12
    assert expected["device"] >= 60
    assert expected["link"] >= 15
    first = plan(db_url, SAMPLE)
    assert first.count("update") == first.count("delete") == 0
    created: dict[str, int] = {}
    for change in first.changes:
        created[change.object_type] = created.get(change.object_type, 0) + 1
    assert created == expected
    assert counts(db_url)["site"] == 0  # a plan writes nothing

    plan(db_url, SAMPLE, apply=True)
    after = counts(db_url)
    assert {k: after[k] for k in expected} == expected
    # Exactly one change record per object created.
    assert after["change"] == sum(expected.values())

    second = plan(db_url, SAMPLE)
    assert second.empty
    assert list(sync.iter_lines(second)) == ["Plan: 0 to create, 0 to change, 0 to delete."]
    plan(db_url, SAMPLE, apply=True)
    assert counts(db_url) == after


def test_sample_covers_every_kind() -> None:
    desired = configs.load(SAMPLE)
    site_kinds = {getattr(s.value, "kind").value for s in desired.sites.values()}
    assert site_kinds == {
        "hq",
        "national_bureau",
        "regional_bureau",
        "border_crossing_land",
        "border_crossing_air",
        "border_crossing_sea",
    }
    model_kinds = {getattr(m.value, "kind") for m in desired.device_models.values()}
    used = {
        getattr(desired.device_models[getattr(d.value, "model")].value, "kind")
        for d in desired.devices.values()
    }
    assert len(model_kinds) == 12
    assert used == model_kinds
    media = {getattr(link.value, "medium").value for link in desired.links.values()}
    assert {"fibre", "satellite", "lte", "microwave"} <= media
    assert len(desired.countries) >= 3


def _copy(tmp_path: Path) -> Path:
    folder = tmp_path / "configs"
    shutil.copytree(SAMPLE, folder)
    return folder


def _edit(path: Path, change: Any) -> None:
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def test_updates_and_prune(db_url: str, tmp_path: Path) -> None:
    folder = _copy(tmp_path)
    plan(db_url, folder, apply=True)
    site_file = sorted((folder / "sites").glob("*.yaml"))[-1]
    code = site_file.stem
    removed = yaml.safe_load(site_file.read_text())["devices"][-1]["serial"]

    def change(data: dict[str, Any]) -> None:
        data["name"] = "Renamed post"
        data["devices"] = [d for d in data["devices"] if d["serial"] != removed]

    _edit(site_file, change)
    before = counts(db_url)
    kept = plan(db_url, folder)
    lines = [str(c) for c in kept.changes]
    assert f"~ site {code}: name: " in "\n".join(lines)
    assert f"? device {removed} (absent from the files; kept, --prune deletes it)" in lines
    plan(db_url, folder, apply=True)
    middle = counts(db_url)
    assert middle["device"] == before["device"]  # not pruned
    assert middle["change"] == before["change"] + 1  # one update record

    pruned = plan(db_url, folder, apply=True, prune=True)
    assert [str(c) for c in pruned.changes if c.action == "delete"] == [f"- device {removed}"]
    after = counts(db_url)
    assert after["device"] == before["device"] - 1
    assert after["change"] == middle["change"] + 1
    assert plan(db_url, folder, prune=True).empty


def test_export_reads_back_as_no_changes(db_url: str, tmp_path: Path) -> None:
    plan(db_url, SAMPLE, apply=True)

    async def export() -> dict[str, int]:
        db = Database(db_url)
        try:
            async with db.session() as session:
                return await sync.export(session, tmp_path / "exported")
        finally:
            await db.dispose()

    exported = asyncio.run(export())
    assert exported["device"] == len(configs.load(SAMPLE).devices)
    assert plan(db_url, tmp_path / "exported", prune=True).empty


BROKEN = [
    # (file relative to the folder, editor, expected line or None, text in the reason)
    ("countries.yaml", lambda t: t + "- code: NE\n  name: [unclosed\n", 3, "bad YAML"),
    ("countries.yaml", lambda t: t.replace("region:", "regoin:", 1), None, "unknown key 'regoin'"),
    ("countries.yaml", lambda t: t + "- code: XX\n  name: Nowhere\n  region: 12\n", 3, "region"),
]


@pytest.mark.parametrize(("name", "editor", "line", "reason"), BROKEN)
def test_broken_files_name_file_and_line(
    db_url: str, tmp_path: Path, name: str, editor: Any, line: int | None, reason: str
) -> None:
    folder = _copy(tmp_path)
    path = folder / name
    original_lines = path.read_text().count("\n")
    path.write_text(editor(path.read_text()))
    with pytest.raises(configs.ConfigError) as caught:
        configs.load(folder)
    problem = next(p for p in caught.value.problems if reason in p.reason)
    assert problem.file == f"configs/{name}"
    # ``line`` counts from the end of the original file; None: the first "region:" line.
    if line is None:
        expected = next(
            i for i, text in enumerate(path.read_text().splitlines(), 1) if "regoin" in text
        )
    else:
        expected = original_lines + line
    assert problem.line == expected, str(caught.value)


def _site_with(tmp_path: Path, text: str) -> configs.ConfigError:
    folder = _copy(tmp_path / str(len(list(tmp_path.iterdir()))))
    (folder / "sites" / "NE-TEST-01.yaml").write_text(text)
    with pytest.raises(configs.ConfigError) as caught:
        configs.load(folder)
    return caught.value


SITE_HEAD = (
    "code: NE-TEST-01\nname: Test post\nkind: border_crossing_land\ncountry: NE\n"
    "latitude: 13.1\nlongitude: 2.2\n"
)


def test_wrong_type_names_line(tmp_path: Path) -> None:
    error = _site_with(tmp_path, SITE_HEAD.replace("latitude: 13.1", "latitude: north"))
    assert [(p.file, p.line) for p in error.problems] == [("configs/sites/NE-TEST-01.yaml", 5)]
    assert "latitude" in error.problems[0].reason


def test_unknown_model_and_duplicate_serial(tmp_path: Path) -> None:
    desired = configs.load(SAMPLE)
    taken = next(iter(desired.devices))
    model = next(iter(desired.device_models))
    text = SITE_HEAD + (
        "devices:\n"
        f"  - serial: NEW-0001\n    model: no-such-model\n"
        f"  - serial: {taken}\n    model: {model}\n"
    )
    error = _site_with(tmp_path, text)
    reasons = {p.reason.split(" (first in")[0]: p for p in error.problems}
    assert f"duplicate serial {taken!r}" in reasons
    assert reasons[f"duplicate serial {taken!r}"].line == 10


def test_reference_to_missing_site_and_model(tmp_path: Path) -> None:
    model = next(iter(configs.load(SAMPLE).device_models))
    text = SITE_HEAD + (
        "devices:\n"
        "  - serial: NEW-0001\n    model: no-such-model\n"
        f"  - serial: NEW-0002\n    model: {model}\n    parent: NOT-THERE\n"
        "links:\n"
        "  - circuit_id: NEW-CIR\n    medium: lte\n    provider: P\n    bandwidth_kbps: 1000\n"
        "    far_end_site: NO-SUCH-SITE\n"
    )
    error = _site_with(tmp_path, text)
    found = {(p.line, p.reason) for p in error.problems}
    assert (8, "device NEW-0001: unknown model 'no-such-model'") in found
    assert (10, "device NEW-0002: unknown parent 'NOT-THERE'") in found
    assert (14, "link NEW-CIR: unknown far end site 'NO-SUCH-SITE'") in found


def test_duplicate_key_and_file_name_mismatch(tmp_path: Path) -> None:
    error = _site_with(tmp_path, SITE_HEAD + "name: Again\n")
    assert (error.problems[0].line, error.problems[0].reason) == (7, "key 'name' appears twice")
    error = _site_with(tmp_path, SITE_HEAD.replace("NE-TEST-01", "NE-TEST-02"))
    assert "differs from the file name" in error.problems[0].reason


def test_broken_config_writes_nothing(db_url: str, tmp_path: Path) -> None:
    folder = _copy(tmp_path)
    (folder / "sites" / "NE-TEST-01.yaml").write_text(SITE_HEAD + "colour: red\n")
    with pytest.raises(configs.ConfigError):
        plan(db_url, folder, apply=True)
    assert counts(db_url)["change"] == 0


def test_http_probe_options_in_site_configs(db_url: str, tmp_path: Path) -> None:
    """A model's and a device's HTTP options come in from the files, and come back unchanged."""
    folder = _copy(tmp_path)
    models = folder / "device_models.yaml"

    def plain_http(data: list[dict[str, Any]]) -> None:
        data[0].update(http_scheme="http", http_port=8080, http_expected_status=204)

    _edit(models, plain_http)
    slug = yaml.safe_load(models.read_text())[0]["slug"]
    site_file = sorted((folder / "sites").glob("*.yaml"))[0]
    serial = yaml.safe_load(site_file.read_text())["devices"][0]["serial"]

    def override(data: dict[str, Any]) -> None:
        data["devices"][0].update(http_scheme="https", http_path="/api/health", http_port=8443)

    _edit(site_file, override)
    plan(db_url, folder, apply=True)
    assert plan(db_url, folder).empty  # applied as written: nothing left to change

    async def stored() -> tuple[Any, ...]:
        db = Database(db_url)
        try:
            async with db.session() as session:
                model = await session.scalar(sa.select(DeviceModel).where(DeviceModel.slug == slug))
                device = await session.scalar(sa.select(Device).where(Device.serial == serial))
                assert model is not None
                assert device is not None
                return (
                    model.http_scheme,
                    model.http_port,
                    model.http_expected_status,
                    device.http_scheme,
                    device.http_path,
                    device.http_port,
                )
        finally:
            await db.dispose()

    assert asyncio.run(stored()) == ("http", 8080, 204, "https", "/api/health", 8443)


@pytest.mark.parametrize(
    ("field", "value"), [("http_scheme", "gopher"), ("http_port", 70000), ("http_path", "x")]
)
def test_bad_http_option_in_site_configs_names_the_field(
    tmp_path: Path, field: str, value: Any
) -> None:
    folder = _copy(tmp_path)
    _edit(folder / "device_models.yaml", lambda data: data[0].update({field: value}))
    with pytest.raises(configs.ConfigError) as caught:
        configs.load(folder)
    assert any(field in p.reason for p in caught.value.problems), str(caught.value)
