"""Every shell block of the README runs as written on a fresh clone, or says why it does not.

A fenced block names its language; each ``sh``/``bash``/``console``/``shell`` block either runs
here or follows an HTML comment ``<!-- not-run: why -->``, so a new block cannot be skipped
silently. Blocks run in the order of the README in the clone's folder, each with ``bash -e``.
Long-running commands (``make run``, ``fleet serve``, ``fleet demo``) start as processes on a
free port (in the README's own ``PORT=``/``--port`` forms); once one answers, the blocks that
talk to ``127.0.0.1:8000`` run against it, with the ``FLEET_TOKEN`` it printed. ``make test``
is this very suite, so it is checked with ``make -n test`` (the target and its recipe) instead.
"""

from __future__ import annotations

import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from subprocess import Popen

import httpx
import pytest

from tests.conftest import ROOT
from tests.e2e.processes import free_port, newcomer_env, start, stop, token_of

pytestmark = pytest.mark.e2e

SHELL = {"sh", "bash", "console", "shell"}
NOT_RUN = re.compile(r"<!--\s*not-run:\s*(?P<why>.+?)\s*-->")
SERVICE = re.compile(r"^(?:make run\b|(?:\.venv/bin/)?fleet (?:serve|demo)\b)")
SERVED_AT = "127.0.0.1:8000"


@dataclass
class Block:
    line: int
    language: str
    text: str
    not_run: str | None

    def commands(self) -> list[str]:
        """The block's commands: continued lines joined, comments and prompts dropped."""
        joined = re.sub(r"\\\n\s*", "", self.text)
        commands = []
        for raw in joined.splitlines():
            line = raw.removeprefix("$ ").strip()
            if line and not line.startswith("#"):
                commands.append(line)
        return commands


def blocks(readme: Path = ROOT / "README.md") -> list[Block]:
    found: list[Block] = []
    lines = readme.read_text().splitlines()
    i = 0
    while i < len(lines):
        fence = re.match(r"^```(\S*)\s*$", lines[i])
        if not fence:
            i += 1
            continue
        end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
        before = next((lines[j] for j in range(i - 1, -1, -1) if lines[j].strip()), "")
        marked = NOT_RUN.search(before)
        text = "\n".join(lines[i + 1 : end])
        found.append(Block(i + 1, fence.group(1), text, marked.group("why") if marked else None))
        i = end + 1
    return found


def test_every_block_names_its_language_and_every_shell_block_is_run_or_marked() -> None:
    found = blocks()
    assert [b.line for b in found if not b.language] == [], "fenced blocks without a language"
    shell = [b for b in found if b.language in SHELL]
    assert shell, "the README has no shell block"
    assert [b.line for b in found if b.not_run and b.language not in SHELL] == []
    assert all(b.commands() for b in shell if not b.not_run)


def _run(command: str, clone: Path, env: dict[str, str]) -> str:
    if command.split("#")[0].split() == ["make", "test"]:
        command = "make -n test"
    if command.startswith("curl "):
        command = command.replace("curl ", "curl --fail --silent --show-error ", 1)
    done = subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", command],
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, (
        f"{command!r} exited {done.returncode}:\n{done.stdout}{done.stderr}"
    )
    assert "Traceback" not in done.stdout + done.stderr
    return done.stdout


def _serve(command: str, clone: Path, env: dict[str, str]) -> tuple[Popen[str], str, str]:
    """``command`` started on a free port and answering: its process, base URL and token."""
    port = free_port()
    command = command.split("#")[0].strip()
    if command.startswith("make run"):
        command = re.sub(r"\bPORT=\S+", "", command) + f" PORT={port}"
    else:
        command = re.sub(r"--port\s+\S+", "", command) + f" --port {port}"
        if " demo" in command:
            command += f" --snmp-port {free_port()} --ssh-port {free_port()}"
    process, output = start(["bash", "-c", command], clone, env)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            assert process.poll() is None, f"{command} stopped:\n" + "".join(output)
            try:
                if httpx.get(f"{base}/api/v1/health", timeout=2).is_success:
                    return process, base, token_of(output, deadline)
            except httpx.HTTPError:
                pass
            time.sleep(1)
        raise AssertionError(f"{command} did not answer within 120 s:\n" + "".join(output))
    except BaseException:
        stop(process)
        raise


def test_the_readme_shell_blocks_run_on_a_fresh_clone(installed_clone: Path) -> None:
    env = newcomer_env()
    services: list[str] = []
    served: list[str] = []
    for block in blocks():
        if block.language not in SHELL or block.not_run:
            continue
        for command in block.commands():
            if SERVICE.match(command):
                services.append(command)
            elif SERVED_AT in command:
                served.append(command)
            else:
                _run(command, installed_clone, env)
    assert services, "no block of the README starts the service"
    assert served, "no block of the README asks the running service"
    for n, command in enumerate(services):
        process, base, token = _serve(command, installed_clone, env)
        try:
            for asking in served if n == 0 else []:
                answer = _run(
                    asking.replace(f"http://{SERVED_AT}", base),
                    installed_clone,
                    {**env, "FLEET_TOKEN": token},
                )
                assert answer.strip(), asking
        finally:
            stop(process)
