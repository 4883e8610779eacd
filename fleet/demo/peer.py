"""One simulator process: snmpsim agents, fakenos SSH servers, or both.

Run as ``python -m fleet.demo CONFIG.json`` (see :class:`PeerConfig`); the parent side is
:class:`PeerProcess`. Keeping the peers in their own process means that:

* pausing the process (``SIGSTOP``) silences every device it serves at once, SNMP and SSH
  alike: UDP requests and TCP handshakes are queued by the kernel and never answered, so
  probes time out, as they do on a cut link; ``SIGCONT`` brings the devices back;
* fakenos' non-daemon threads can never keep the caller's process alive;
* the process ends by itself, within :data:`WATCH_INTERVAL` seconds, when its parent is gone
  (crash, ``SIGKILL``), so no agent outlives the simulator. A paused process cannot notice
  until it is resumed: :meth:`PeerProcess.stop` resumes it before terminating it, but one
  paused when its parent was killed stays paused until sent ``SIGCONT`` (then it exits).

snmpsim runs in the main thread exactly as its ``snmpsim-command-responder`` script runs it
(the script is ``sys.exit(main())``); fakenos servers start in a second thread meanwhile.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import signal
import subprocess
import sys
import threading
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import fleet

WATCH_INTERVAL = 0.5
ENV = {"SNMPSIM_ALLOW_ROOT": "true"}  # snmpsim refuses to run as root without it


@dataclass(frozen=True, slots=True)
class SshHost:
    """One fakenos server. ``nos`` names a registered NOS (``cisco_ios`` or one of
    :attr:`PeerConfig.nos_plugins`); ``commands`` override that NOS's commands."""

    name: str
    address: str
    port: int
    nos: str
    commands: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PeerConfig:
    """What one simulator process serves; ``snmpsim_args`` is snmpsim's command line (none:
    SSH servers only)."""

    snmpsim_args: list[str]
    ssh_hosts: list[SshHost] = field(default_factory=list)
    ssh_username: str = ""
    ssh_password: str = ""
    #: extra fakenos NOS plugins, as dicts (``name``, ``initial_prompt``, ``commands``)
    nos_plugins: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> PeerConfig:
        data = json.loads(text)
        data["ssh_hosts"] = [SshHost(**host) for host in data["ssh_hosts"]]
        return cls(**data)


def variation_modules_dir(target: Path, modules: tuple[str, ...] = ("numeric",)) -> Path:
    """A directory holding only the snmpsim variation modules the data needs (links to
    snmpsim's own), for ``--variation-modules-dir``: snmpsim otherwise loads every bundled
    module, and logs an error for each one that is not configured (redis, sql)."""
    spec = importlib.util.find_spec("snmpsim")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("snmpsim is not installed")
    bundled = Path(next(iter(spec.submodule_search_locations))) / "variation"
    target.mkdir(parents=True, exist_ok=True)
    for name in modules:
        (target / f"{name}.py").symlink_to(bundled / f"{name}.py")
    return target


# --- the parent side --------------------------------------------------------------------------


class PeerProcess:
    """A simulator process seen from its parent: start, pause, resume, stop, read its log."""

    def __init__(self, name: str, config: PeerConfig, workdir: Path) -> None:
        self.name = name
        self.config = config
        self.workdir = workdir
        self.log_path = workdir / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def start(self) -> None:
        config_path = self.workdir / f"{self.name}.json"
        config_path.write_text(self.config.to_json())
        source_root = str(Path(fleet.__file__).resolve().parents[1])
        path = os.pathsep.join(p for p in (source_root, os.environ.get("PYTHONPATH")) if p)
        env = {**os.environ, **ENV, "PYTHONPATH": path}
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(  # noqa: S603 (this interpreter, our own module)
                [sys.executable, "-m", "fleet.demo", str(config_path)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
            )

    def returncode(self) -> int | None:
        """None while the process runs (or is paused), else its exit code."""
        return None if self.proc is None else self.proc.poll()

    def signal(self, signum: int) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signum)

    def pause(self) -> None:
        self.signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.signal(signal.SIGCONT)

    def stop(self, timeout: float = 5.0) -> None:
        """Terminate and reap the process (idempotent); a paused process is resumed first so
        that it sees the ``SIGTERM``."""
        proc = self.proc
        if proc is not None:
            if proc.poll() is None:
                self.signal(signal.SIGCONT)
                self.signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=timeout)
            self.proc = None

    def log_tail(self, lines: int = 12) -> str:
        """The last lines of the process's output (snmpsim logs errors only)."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.strip().splitlines()[-lines:])


# --- the child side ---------------------------------------------------------------------------


def _watch_parent(parent: int) -> None:
    """End this process when the parent is gone (this process is then re-parented)."""
    while True:
        time.sleep(WATCH_INTERVAL)
        if os.getppid() != parent:
            os._exit(0)


def _bundled_nos(name: str) -> Any:
    """One of fakenos' bundled NOS, as ``Nos(filename=...)`` loads it but with the YAML read
    by libyaml when present (cisco_ios' 4,600 lines: 0.45 s in pure Python, 0.01 s so)."""
    import yaml
    from fakenos.core.nos import Nos
    from fakenos.plugins.nos import nos_plugins

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    nos = Nos()
    for filename in nos_plugins[name]:
        if filename.endswith((".yaml", ".yml")):
            nos.from_dict(yaml.load(Path(filename).read_text(), Loader=loader))  # noqa: S506
        else:
            nos.from_file(filename)
    nos.validate()
    return nos


def _start_ssh(config: PeerConfig) -> list[Any]:
    """Start one fakenos instance per host (fakenos refuses the same port twice in one
    instance, and every device listens on the same port at its own address)."""
    from fakenos import FakeNOS
    from fakenos.core.nos import Nos

    loaded: dict[str, Any] = {}
    for plugin in config.nos_plugins:
        nos = Nos()
        nos.from_dict(plugin)
        loaded[nos.name] = nos
    for name in {host.nos for host in config.ssh_hosts} - set(loaded):
        loaded[name] = _bundled_nos(name)
    started: list[Any] = []
    for host in config.ssh_hosts:
        inventory = {
            "hosts": {
                host.name: {
                    "username": config.ssh_username,
                    "password": config.ssh_password,
                    "port": host.port,
                    "server": {
                        "plugin": "ParamikoSshServer",
                        "configuration": {"address": host.address, "timeout": 1},
                    },
                    "nos": {"plugin": host.nos, "configuration": {"commands": host.commands}},
                }
            }
        }
        net = FakeNOS(inventory=inventory, plugins=[loaded[host.nos]])
        try:
            net.start()
        except OSError as exc:
            raise RuntimeError(
                f"SSH server {host.name} at {host.address}:{host.port}: {exc}"
            ) from exc
        started.append(net)
    return started


def _ssh_thread(config: PeerConfig) -> None:
    try:
        _start_ssh(config)
    except BaseException as exc:
        traceback.print_exc()
        sys.stderr.write(f"SSH servers did not start: {exc}\n")
        sys.stderr.flush()
        os._exit(3)


def run(config: PeerConfig) -> int:
    """Serve until terminated; returns snmpsim's exit code."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    threading.Thread(target=_watch_parent, args=(os.getppid(),), daemon=True).start()
    if config.ssh_hosts:
        threading.Thread(target=_ssh_thread, args=(config,), daemon=True).start()
    if not config.snmpsim_args:  # SSH servers only
        threading.Event().wait()
    from snmpsim.commands import responder

    sys.argv = ["snmpsim-command-responder", *config.snmpsim_args]
    return int(responder.main() or 0)


def main(argv: list[str]) -> None:
    if len(argv) != 2:
        sys.stderr.write("usage: python -m fleet.demo CONFIG.json\n")
        os._exit(2)
    rc = 1
    try:
        rc = run(PeerConfig.from_json(Path(argv[1]).read_text()))
    except BaseException:
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(rc)  # fakenos threads are not daemons: do not wait for them
