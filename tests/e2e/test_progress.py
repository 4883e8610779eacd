"""Long CLI work shows progress on a terminal and nothing more when piped: ``fleet sync``,
``fleet export`` and ``fleet assess`` run as real processes on a fleet of a few hundred site
files, once with stderr on a pseudo-terminal and once on pipes."""

from __future__ import annotations

import os
import select
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT

pytestmark = pytest.mark.e2e

SITES = 300


def _fleet(root: Path) -> Path:
    """The sample's countries, models and profiles, with ``SITES`` generated site files."""
    folder = root / "site_configs"
    shutil.copytree(ROOT / "site_configs", folder, ignore=shutil.ignore_patterns("sites"))
    (folder / "sites").mkdir()
    for n in range(SITES):
        code = f"NE-BCL-{n + 10:03d}"
        site = {
            "code": code,
            "name": f"Generated border post {n}",
            "kind": "border_crossing_land",
            "country": "NE",
            "latitude": 13.5 + n / 1000,
            "longitude": 2.1,
            "devices": [
                {"serial": f"GEN-{n:05d}-R", "model": "mikrotik-rb4011", "lifecycle": "active"},
                {"serial": f"GEN-{n:05d}-U", "model": "apc-smt1500rmi2uc"},
            ],
        }
        (folder / "sites" / f"{code}.yaml").write_text(yaml.safe_dump(site))
    return folder


def _env(root: Path, name: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLEET_")}
    env["FLEET_DATABASE_URL"] = f"sqlite+aiosqlite:///{root / name}"
    env["FLEET_SITE_CONFIGS"] = str(root / "site_configs")
    env["COLUMNS"] = "100"
    return env


def _run_on_terminal(args: list[str], env: dict[str, str]) -> tuple[int, str, str]:
    """``args`` with stderr on a pseudo-terminal and stdout on a pipe: (status, stdout,
    what the terminal showed)."""
    leader, follower = os.openpty()
    process = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=follower)
    os.close(follower)
    shown = bytearray()
    while True:
        ready, _, _ = select.select([leader], [], [], 60)
        if not ready:
            break
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the terminal is gone once the process has ended
            break
        if not chunk:
            break
        shown += chunk
    os.close(leader)
    assert process.stdout is not None
    out = process.stdout.read().decode()
    return process.wait(timeout=60), out, shown.decode(errors="replace")


def _run_on_pipes(args: list[str], env: dict[str, str]) -> tuple[int, str, str]:
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300)
    return done.returncode, done.stdout, done.stderr


def _commands(root: Path) -> list[tuple[str, list[str]]]:
    fleet = [sys.executable, "-m", "fleet.cli"]
    folder = str(root / "site_configs")
    return [
        ("Reading site files", [*fleet, "sync", folder, "--plan"]),
        ("Applying changes", [*fleet, "sync", folder, "--apply"]),
        ("Writing site files", [*fleet, "export", str(root / "exported")]),
        ("Assessing", [*fleet, "assess"]),
    ]


def test_long_commands_show_progress_on_a_terminal_and_nothing_on_pipes(tmp_path: Path) -> None:
    _fleet(tmp_path)
    on_terminal = _commands(tmp_path)
    piped = _commands(tmp_path)
    terminal_env, pipe_env = _env(tmp_path, "terminal.db"), _env(tmp_path, "pipes.db")
    for (label, args), (_, same) in zip(on_terminal, piped, strict=True):
        status, out, shown = _run_on_terminal(args, terminal_env)
        assert status == 0, out + shown
        assert label in shown, shown
        assert "100%" in shown, shown
        assert "Traceback" not in shown
        piped_status, piped_out, piped_err = _run_on_pipes(same, pipe_env)
        assert piped_status == 0, piped_out + piped_err
        assert label not in piped_err, piped_err
        assert "%" not in piped_err, piped_err
        assert out == piped_out  # the bars never reach stdout
    assert len(list((tmp_path / "exported" / "sites").glob("*.yaml"))) == SITES
