"""site_configs that would exhaust the machine are refused: one line naming the file, quickly,
nothing written; by the loader, by `fleet sync` and at `fleet serve` start-up."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from fleet.inventory import configs
from fleet.inventory.files import Limits
from tests.conftest import ROOT, SAMPLE

SITE_HEAD = (
    "code: NE-TEST-01\nname: Test post\nkind: border_crossing_land\ncountry: NE\n"
    "latitude: 13.1\nlongitude: 2.2\n"
)
LAUGHS = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"{chr(ord('b') + i)}: &{chr(ord('b') + i)} [{', '.join(['*' + chr(ord('a') + i)] * 9)}]\n"
    for i in range(8)
)
SITE = "sites/NE-TEST-01.yaml"


def _folder(tmp_path: Path) -> Path:
    folder = tmp_path / "configs"
    shutil.copytree(SAMPLE, folder)
    return folder


def _laughs(site: Path) -> None:
    site.write_text(SITE_HEAD + "notes: x\n" + LAUGHS.replace("a: &a", "laughs: &a", 1))


def _dev_zero(site: Path) -> None:
    site.symlink_to("/dev/zero")


def _fifo(site: Path) -> None:
    os.mkfifo(site)


def _outside(site: Path) -> None:
    outside = site.parents[2] / "elsewhere.yaml"
    outside.write_text(SITE_HEAD)
    site.symlink_to(outside)


def _too_big(site: Path) -> None:
    site.write_text(SITE_HEAD + "notes: " + "x" * 2_000_000 + "\n")


def _map_tag(site: Path) -> None:
    site.write_text(SITE_HEAD + "devices: !!set {a, b}\n")


def _seq_tag(site: Path) -> None:
    site.write_text(SITE_HEAD + "links: !custom [1, 2]\n")


def _latin1(site: Path) -> None:
    site.write_bytes((SITE_HEAD + "notes: caf\xe9\n").encode("latin-1"))


def _nul(site: Path) -> None:
    site.write_text(SITE_HEAD + 'notes: "a\\0b"\n')


def _deep(site: Path) -> None:
    site.write_text(SITE_HEAD + "notes: " + "[" * 20_000 + "]" * 20_000 + "\n")


HOSTILE: list[tuple[Callable[[Path], None], int, str]] = [
    (_laughs, 8, "values once aliases are expanded"),
    (_dev_zero, 1, "outside the configuration folder"),
    (_fifo, 1, "not a regular file"),
    (_outside, 1, "outside the configuration folder"),
    (_too_big, 1, "FLEET_SITE_CONFIG_MAX_BYTES"),
    (_map_tag, 7, "unknown tag 'tag:yaml.org,2002:set'"),
    (_seq_tag, 7, "unknown tag '!custom'"),
    (_latin1, 7, "not UTF-8"),
    (_nul, 7, "NUL"),
    (_deep, 7, "nested too deeply"),
]


@pytest.mark.parametrize(("make", "line", "reason"), HOSTILE, ids=[h[0].__name__ for h in HOSTILE])
def test_loader_refuses_hostile_files_quickly(
    tmp_path: Path, make: Callable[[Path], None], line: int, reason: str
) -> None:
    folder = _folder(tmp_path)
    make(folder / SITE)
    started = time.perf_counter()
    with pytest.raises(configs.ConfigError) as caught:
        configs.load(folder)
    # refused in tens of ms alone; a file read whole would take minutes or all memory, so the
    # bound leaves room for a loaded CI machine (1.08 s was seen there with 1 s)
    assert time.perf_counter() - started < 3.0
    problem = next(p for p in caught.value.problems if p.file == f"configs/{SITE}")
    assert reason in problem.reason, str(caught.value)
    assert problem.line == line, str(caught.value)
    assert "\n" not in str(problem)


def test_limits_are_settable(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    (folder / SITE).write_text(SITE_HEAD + "notes: " + "x" * 5000 + "\n")
    configs.load(folder)  # within the default limits
    with pytest.raises(configs.ConfigError, match="more than 4096"):
        configs.load(folder, Limits(max_bytes=4096))
    with pytest.raises(configs.ConfigError, match="more than 10 values"):
        configs.load(folder, Limits(max_values=10))


def _fleet(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fleet.cli", *args],
        env={
            **os.environ,
            "FLEET_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'fleet.db'}",
            "FLEET_LOG_FORMAT": "json",
            **env,
        },
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_sync_command_refuses_billion_laughs_and_dev_zero(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    _laughs(folder / SITE)
    _dev_zero(folder / "sites" / "NE-TEST-02.yaml")
    result = _fleet(tmp_path, "sync", str(folder), "--apply")
    assert result.returncode == 1, result.stderr
    assert f"error: configs/{SITE}:8: more than" in result.stderr
    assert "error: configs/sites/NE-TEST-02.yaml:1: refused" in result.stderr
    assert "Traceback" not in result.stderr
    assert "nothing was written" in result.stderr
    settable = _fleet(tmp_path, "sync", str(SAMPLE), "--plan", FLEET_SITE_CONFIG_MAX_BYTES="1024")
    assert settable.returncode == 1
    assert "more than 1024 (FLEET_SITE_CONFIG_MAX_BYTES)" in settable.stderr


def test_serve_start_up_uses_the_same_limits(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    _laughs(folder / SITE)
    result = _fleet(
        tmp_path,
        "serve",
        "--port",
        "9",
        FLEET_SITE_CONFIGS=str(folder),
        FLEET_SCHEDULER="false",
    )
    assert result.returncode != 0
    assert f"configs/{SITE}:8: more than" in result.stderr + result.stdout
    assert "Traceback" not in result.stderr
