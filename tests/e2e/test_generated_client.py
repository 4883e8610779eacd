"""A client generated from the served OpenAPI document (openapi-python-client, as an integrator
would) works first time against a real fleet process, on SQLite and on PostgreSQL: it generates
without a warning, and its typed models page, create, retry, patch, fail and batch as the
server really answers."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Served

pytestmark = pytest.mark.e2e
PACKAGE = "fleet_client"
#: The generator takes no image or PDF media type as a body or an answer: as its documentation
#: says, an integrator maps them to application/octet-stream (the uploads' and the content's).
CONFIG = """content_type_overrides:
  image/jpeg: application/octet-stream
  image/png: application/octet-stream
  image/webp: application/octet-stream
  application/pdf: application/octet-stream
"""
SITE = "BF-BCL-01"
MODEL = "mikrotik-rb4011"


@pytest.fixture
def served_env(db_url: str) -> dict[str, str]:
    """The served process on each backend (an empty, migrated database: the sample loads)."""
    return {"FLEET_DATABASE_URL": db_url, "FLEET_SCHEDULER": "false"}


@pytest.fixture
def generated(served: Served, tmp_path: Path) -> Iterator[ModuleType]:
    """The package generated from the live document, importable from a temporary folder."""
    document = tmp_path / "openapi.json"
    document.write_bytes(httpx.get(f"{served.base}/schema/openapi.json", timeout=10).content)
    folder = tmp_path / "generated"
    config = tmp_path / "generator.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    bin_dir = Path(sys.executable).parent
    result = subprocess.run(
        [
            str(bin_dir / "openapi-python-client"),
            "generate",
            "--path",
            str(document),
            "--meta",
            "none",
            "--config",
            str(config),
            "--output-path",
            str(folder / PACKAGE),
        ],
        # the generator formats its output with ruff, found on PATH
        env={**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "warning" not in output.lower(), output
    assert "cannot parse" not in output.lower(), output
    sys.path.insert(0, str(folder))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(folder))
        for name in [m for m in sys.modules if m == PACKAGE or m.startswith(f"{PACKAGE}.")]:
            del sys.modules[name]


def _module(name: str) -> Any:
    return importlib.import_module(f"{PACKAGE}.{name}")


def _page_through(client: Any, limit: int) -> tuple[list[int], int]:
    list_device = _module("api.devices.list_device")
    models = _module("models")
    ids: list[int] = []
    cursor: Any = _module("types").UNSET
    pages = 0
    while True:
        page = list_device.sync(client=client, limit=limit, cursor=cursor)
        assert isinstance(page, models.DevicePage), page
        assert all(isinstance(item, models.Device) for item in page.items)
        assert len(page.items) <= limit
        ids += [item.id for item in page.items]
        pages += 1
        if page.next_cursor is None:
            return ids, pages
        cursor = page.next_cursor


@pytest.mark.timeout(120)
def test_generated_client_round_trips(generated: ModuleType, served: Served) -> None:
    models = _module("models")
    client = generated.AuthenticatedClient(base_url=served.base, token=served.token)

    ids, pages = _page_through(client, limit=40)
    assert pages > 1
    assert len(ids) == len(set(ids))
    everything = httpx.get(
        f"{served.base}/api/v1/devices",
        params={"limit": 500},
        headers={"Authorization": f"Bearer {served.token}"},
    ).json()
    assert sorted(ids) == sorted(d["id"] for d in everything["items"])

    device = _create_twice(client, models)
    etag = _patch_with_etag(client, models, device)
    _stale_and_invalid(client, models, device, etag)
    _batch(client, models, device, etag)


def _create_twice(client: Any, models: Any) -> Any:
    create_device = _module("api.devices.create_device")
    list_device = _module("api.devices.list_device")
    body = models.DeviceCreate(model=MODEL, serial="CLIENT-0001", site=SITE)
    first = create_device.sync_detailed(client=client, body=body, idempotency_key="client-k-1")
    again = create_device.sync_detailed(client=client, body=body, idempotency_key="client-k-1")
    assert first.status_code == again.status_code == 201
    assert isinstance(first.parsed, models.Device)
    assert isinstance(again.parsed, models.Device)
    assert again.parsed.id == first.parsed.id
    assert "idempotent-replayed" not in first.headers
    assert again.headers["idempotent-replayed"] == "true"
    assert first.headers["etag"] == f'"{first.parsed.version}"'
    found = list_device.sync(client=client, serial="CLIENT-0001")
    assert isinstance(found, models.DevicePage)
    assert [d.id for d in found.items] == [first.parsed.id]
    return first.parsed


def _patch_with_etag(client: Any, models: Any, device: Any) -> str:
    update_device = _module("api.devices.update_device")
    changed = update_device.sync_detailed(
        key=device.id,
        client=client,
        body=models.DeviceUpdate(notes="checked by the client"),
        if_match=f'"{device.version}"',
    )
    assert changed.status_code == 200
    assert isinstance(changed.parsed, models.Device)
    assert changed.parsed.notes == "checked by the client"
    assert changed.parsed.version == device.version + 1
    etag: str = changed.headers["etag"]
    assert etag == f'"{changed.parsed.version}"'
    return etag


def _stale_and_invalid(client: Any, models: Any, device: Any, etag: str) -> None:
    update_device = _module("api.devices.update_device")
    create_device = _module("api.devices.create_device")
    stale = update_device.sync_detailed(
        key=device.id,
        client=client,
        body=models.DeviceUpdate(notes="too late"),
        if_match=f'"{device.version}"',
    )
    assert stale.status_code == 412
    assert isinstance(stale.parsed, models.Problem)
    assert stale.parsed.status == 412
    assert stale.parsed.current_etag == etag
    assert stale.parsed.request_id == stale.headers["x-request-id"]
    invalid = create_device.sync_detailed(
        client=client,
        body=models.DeviceCreate(model=MODEL, serial="CLIENT-0002", site=SITE, probe_port=70_000),
    )
    assert invalid.status_code == 422
    assert isinstance(invalid.parsed, models.Problem)
    assert isinstance(invalid.parsed.errors, list)
    assert all(isinstance(e, models.FieldError) for e in invalid.parsed.errors)
    assert "probe_port" in [e.field for e in invalid.parsed.errors]


def _batch(client: Any, models: Any, device: Any, etag: str) -> None:
    apply_batch = _module("api.batch.apply_batch")

    def change(change_id: str, if_match: str, notes: str) -> Any:
        return models.BatchChange(
            id=change_id,
            op=models.BatchChangeOp.UPDATE,
            object_=models.BatchChangeObject.DEVICE,
            key=device.id,
            if_match=if_match,
            data=models.BatchChangeDataType0.from_dict({"notes": notes}),
        )

    invalid = models.BatchChange(
        id="client-c3",
        op=models.BatchChangeOp.CREATE,
        object_=models.BatchChangeObject.DEVICE,
        data=models.BatchChangeDataType0.from_dict({"serial": "CLIENT-0003"}),
    )
    body = models.Batch(
        changes=[change("client-c1", etag, "batched"), change("client-c2", etag, "stale"), invalid]
    )
    answer = apply_batch.sync(client=client, body=body)
    assert isinstance(answer, models.BatchAnswer), answer
    applied, conflict, refused = answer.results
    assert isinstance(applied, models.Applied)
    assert applied.etag == f'"{device.version + 2}"'
    assert isinstance(applied.object_, models.BatchDevice)  # typed by its object_type
    assert (applied.object_.serial, applied.object_.notes) == (device.serial, "batched")
    assert isinstance(conflict, models.Conflict)
    assert conflict.current_etag == applied.etag
    assert isinstance(conflict.current, models.BatchDevice)
    assert conflict.current.notes == "batched"
    assert isinstance(refused, models.Invalid)
    assert isinstance(refused.problem, models.Problem)
    assert refused.problem.status == 422
    assert (answer.applied, answer.conflict, answer.invalid, answer.forbidden) == (1, 1, 1, 0)
    replay = apply_batch.sync(client=client, body=body)
    assert isinstance(replay, models.BatchAnswer)
    assert [r.replayed for r in replay.results] == [True, True, True]
    assert [type(r) for r in replay.results] == [type(r) for r in answer.results]
