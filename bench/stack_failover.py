"""The compose stack for real, with podman: build, up, check through both APIs, kill a worker.

    python bench/stack_failover.py [--interval 10] [--window 30]

Builds the base image (once, cached: a debootstrap of Debian bookworm with Python and
PostgreSQL 15, imported into podman), the fleet image and the PostgreSQL image, then runs the
services of ``containers/compose.yaml`` with ``podman run``
straight from their definitions, in dependency order: no podman-compose is needed (Debian's
1.0.3 does not wait for ``service_completed_successfully``). Then it creates a site through
api-1 and reads it through api-2, measures the probes per device per interval over a window
(each device once an interval: the two workers share the sites through leases), kills
worker-1 (``podman kill -s KILL``), prints how long each device went without a result (bound:
interval + lease + heartbeat), and measures a window of the one worker left. Last, it makes
an edge token for the new site, starts the ``edge`` profile's poller with it and waits until
the site's status says the edge is in touch. Every container and
the data volume are removed at the end, whatever happened. Runs as root (podman needs it here).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import yaml
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "containers" / "compose.yaml"
BASE = "localhost/fleet-base:bookworm"
IMAGE = "localhost/fleet:stack"
PG_IMAGE = "localhost/fleet-postgres:15"
PREFIX = "fleet-stack-"
VOLUME = "fleet-stack-pgdata"
EDGE = "fleet-stack-edgedata"
ORDER = ("db", "migrate", "api-1", "api-2", "worker-1", "worker-2")
APIS = {"api-1": "http://127.0.0.1:8101", "api-2": "http://127.0.0.1:8102"}
CA = "/etc/ssl/certs/ca-certificates.crt"
CONF = '[containers]\ndefault_ulimits = []\n[engine]\ncgroup_manager = "cgroupfs"\n'


def podman(*args: str, check: bool = True, quiet: bool = False) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["podman", "--runtime", "runc", *args],
        check=check,
        text=True,
        capture_output=quiet,
    )


def build_images() -> None:
    if podman("image", "exists", BASE, check=False).returncode != 0:
        with tempfile.TemporaryDirectory(dir="/var/tmp") as folder:
            rootfs = Path(folder) / "rootfs"
            subprocess.run(
                [
                    "debootstrap",
                    "--variant=minbase",
                    "--include=python3,python3-venv,python3-pip,ca-certificates,postgresql-15",
                    "bookworm",
                    str(rootfs),
                ],
                check=True,
                stdout=subprocess.DEVNULL,
            )
            tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
            subprocess.run(["podman", "import", "-", BASE], stdin=tar.stdout, check=True)
            tar.wait()
    common = ["build", "--pull=never", "--network", "host", "--build-arg", f"BASE={BASE}"]
    podman(*common, "-v", f"{CA}:{CA}:ro", "-f", "containers/Containerfile", "-t", IMAGE, str(ROOT))
    podman(*common, "-f", "containers/postgres.Containerfile", "-t", PG_IMAGE, str(ROOT))


def _expand(value: str, env: dict[str, str]) -> str:
    """Compose's ``${NAME}``, ``${NAME:-default}`` and ``${NAME:?message}``."""

    def one(found: re.Match[str]) -> str:
        name, op, arg = found.group(1), found.group(2), found.group(3) or ""
        if env.get(name):
            return env[name]
        if op == ":?":
            raise SystemExit(f"{name}: {arg}")
        return arg

    return re.sub(r"\$\{(\w+)(:-|:\?)?([^}]*)\}", one, value)


def services(env: dict[str, str]) -> dict[str, dict[str, Any]]:
    return dict(yaml.safe_load(COMPOSE.read_text())["services"])


def run_service(name: str, spec: dict[str, Any], env: dict[str, str]) -> None:
    args = ["run", "-d", "--name", PREFIX + name, "--network", "host"]
    for key, value in (spec.get("environment") or {}).items():
        args += ["-e", f"{key}={_expand(str(value), env)}"]
    for volume in spec.get("volumes") or []:
        args += ["-v", volume.replace("pgdata:", f"{VOLUME}:").replace("edgedata:", f"{EDGE}:")]
    image = _expand(spec["image"], env)
    podman(*args, image, *[_expand(str(part), env) for part in spec.get("command") or []])


def healthy(name: str, spec: dict[str, Any], deadline: float) -> None:
    test = spec.get("healthcheck", {}).get("test")
    if test is None or test[0] != "CMD":
        raise SystemExit(f"{name} has no health check")
    while time.monotonic() < deadline:
        if podman("exec", PREFIX + name, *test[1:], check=False, quiet=True).returncode == 0:
            return
        time.sleep(1)
    podman("logs", PREFIX + name, check=False)
    raise SystemExit(f"{name} was not healthy in time")


def exited_ok(name: str, deadline: float) -> None:
    while time.monotonic() < deadline:
        state = podman(
            "inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", PREFIX + name, quiet=True
        ).stdout.split()
        if state[0] == "exited":
            if state[1] != "0":
                podman("logs", PREFIX + name, check=False)
                raise SystemExit(f"{name} exited {state[1]}")
            return
        time.sleep(1)
    raise SystemExit(f"{name} did not finish in time")


def token_from_logs(deadline: float) -> str:
    while time.monotonic() < deadline:
        for api in APIS:
            logs = podman("logs", PREFIX + api, check=False, quiet=True)
            found = re.search(r"FLEET_TOKEN=(\S+)", logs.stdout + logs.stderr)
            if found:
                return found.group(1)
        time.sleep(1)
    raise SystemExit("no API printed the first admin token")


def give_probes(token: str, count: int, interval: float) -> list[int]:
    """The sample's devices have no probes: give the first ``count`` a TCP probe of a closed
        port on 127.0.0.1, every ``interval`` seconds (some sample devices have a longer interval of
    their own); each round records a failed result: what is counted is the rounds."""
    auth = {"Authorization": f"Bearer {token}"}
    ids = []
    with httpx.Client(base_url=APIS["api-1"], headers=auth, timeout=30) as client:
        devices = client.get("/api/v1/devices?limit=500").json()["items"]
        for device in [d for d in devices if d["lifecycle"] == "active"][:count]:
            path = f"/api/v1/devices/{device['id']}"
            tag = client.get(path).headers["ETag"]
            body = {
                "probes": ["tcp"],
                "management_address": "127.0.0.1",
                "probe_port": 9,
                "probe_interval_s": round(interval),
            }
            changed = client.patch(path, json=body, headers={"If-Match": tag})
            if changed.status_code != 200:
                raise SystemExit(f"PATCH {path}: {changed.status_code} {changed.text}")
            ids.append(device["id"])
    return ids


def probes_per_device(token: str, ids: list[int], since: datetime) -> Counter[int]:
    """Results per device since ``since``, read through api-2."""
    auth = {"Authorization": f"Bearer {token}"}
    counts: Counter[int] = Counter()
    stamp = since.isoformat().replace("+00:00", "Z")
    with httpx.Client(base_url=APIS["api-2"], headers=auth, timeout=30) as client:
        for device_id in ids:
            page = client.get(
                f"/api/v1/devices/{device_id}/results", params={"since": stamp, "limit": 500}
            ).json()
            counts[device_id] = len(page["items"])
    return counts


def edge_in_touch(token: str, spec: dict[str, Any], env: dict[str, str], code: str) -> float:
    """Make an edge token for site ``code`` through api-1, start the ``edge`` profile's
    container with it, and wait until the site's status through api-2 says the edge is in
    touch; the seconds that took."""
    auth = {"Authorization": f"Bearer {token}"}
    made = httpx.post(
        f"{APIS['api-1']}/api/v1/tokens",
        json={"name": "edge-stack", "role": "edge", "sites": [code]},
        headers=auth,
        timeout=30,
    )
    if made.status_code != 201:
        raise SystemExit(f"POST /tokens: {made.status_code} {made.text}")
    started = time.monotonic()
    edge_env = {
        **env,
        "FLEET_EDGE_TOKEN": made.json()["secret"],
        "FLEET_EDGE_KEY": Fernet.generate_key().decode(),
    }
    run_service("edge", spec, edge_env)
    deadline = started + 90
    while time.monotonic() < deadline:
        status = httpx.get(f"{APIS['api-2']}/api/v1/sites/{code}/status", headers=auth, timeout=30)
        if (status.json().get("edge") or {}).get("reach") == "in_touch":
            return time.monotonic() - started
        time.sleep(1)
    podman("logs", PREFIX + "edge", check=False)
    raise SystemExit("the edge poller was not in touch within 90 s")


def takeover(token: str, ids: list[int], killed: datetime) -> dict[int, float]:
    """For each device, the seconds from the kill to its first result after it (read through
    api-2); a device of the surviving worker has one within an interval, one of the killed
    worker's after its lease expired and the survivor took the site."""
    auth = {"Authorization": f"Bearer {token}"}
    stamp = killed.isoformat().replace("+00:00", "Z")
    gaps: dict[int, float] = {}
    with httpx.Client(base_url=APIS["api-2"], headers=auth, timeout=30) as client:
        for device_id in ids:
            items = client.get(
                f"/api/v1/devices/{device_id}/results", params={"since": stamp, "limit": 500}
            ).json()["items"]
            times = [datetime.fromisoformat(i["at"].replace("Z", "+00:00")) for i in items]
            gaps[device_id] = (min(times) - killed).total_seconds() if times else float("inf")
    return gaps


def report(label: str, counts: Counter[int], interval: float, window: float) -> None:
    per = [n * interval / window for n in counts.values()]
    unprobed = sum(1 for n in counts.values() if n == 0)
    print(
        f"{label}: {len(counts)} devices, results per device per interval "
        f"min {min(per):.2f} mean {sum(per) / len(per):.2f} max {max(per):.2f}; "
        f"{unprobed} devices without a result"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--interval", type=float, default=10.0, help="FLEET_PROBE_INTERVAL_S")
    parser.add_argument("--window", type=float, default=30.0, help="seconds measured each time")
    parser.add_argument("--devices", type=int, default=30, help="devices given a probe")
    parser.add_argument("--lease", type=float, default=10.0, help="FLEET_PROBE_LEASE_S")
    parser.add_argument("--heartbeat", type=float, default=3.0, help="FLEET_PROBE_HEARTBEAT_S")
    options = parser.parse_args()
    if not shutil.which("podman"):
        raise SystemExit("podman is needed (apt-get install podman runc debootstrap)")
    conf = Path(tempfile.mkdtemp()) / "containers.conf"
    conf.write_text(CONF)
    os.environ.setdefault("CONTAINERS_CONF", str(conf))
    env = {
        "FLEET_IMAGE": IMAGE,
        "FLEET_PG_IMAGE": PG_IMAGE,
        "FLEET_PG_PASSWORD": os.urandom(12).hex(),
        "FLEET_CREDENTIAL_KEYS": Fernet.generate_key().decode(),
        "FLEET_PROBE_INTERVAL_S": str(options.interval),
        "FLEET_PROBE_LEASE_S": str(options.lease),
        "FLEET_PROBE_HEARTBEAT_S": str(options.heartbeat),
        # the sample fleet's simulated links are down in the stack (no simulator runs there),
        # so its devices are unreachable: probed as often as the others, to be counted alike
        "FLEET_UNREACHABLE_BACKOFF": "1",
    }
    started = time.monotonic()
    build_images()
    print(f"images built in {time.monotonic() - started:.0f} s")
    specs = services(env)
    try:
        for name in ORDER:
            run_service(name, specs[name], env)
            deadline = time.monotonic() + 120
            if name == "migrate":
                exited_ok(name, deadline)
            elif name == "db":
                healthy(name, specs[name], deadline)
        for name in ORDER[2:]:
            healthy(name, specs[name], time.monotonic() + 120)
        print(f"stack healthy {time.monotonic() - started:.0f} s after the start")
        token = token_from_logs(time.monotonic() + 30)
        auth = {"Authorization": f"Bearer {token}"}
        site = {
            "code": "NE-STK-00001",
            "name": "Stack check",
            "kind": "border_crossing_land",
            "country": "NE",
            "latitude": 13.0,
            "longitude": 2.0,
        }
        made = httpx.post(f"{APIS['api-1']}/api/v1/sites", json=site, headers=auth, timeout=30)
        read = httpx.get(f"{APIS['api-2']}/api/v1/sites/NE-STK-00001", headers=auth, timeout=30)
        assert made.status_code == 201, made.text
        assert read.status_code == 200, read.text
        assert read.headers["ETag"] == made.headers["ETag"]
        print("created through api-1, read through api-2: same object, same ETag")
        probed = give_probes(token, options.devices, options.interval)
        time.sleep(options.interval + 5)  # the workers' schedules, then their first rounds
        since = datetime.now(UTC)
        time.sleep(options.window)
        report(
            "two workers",
            probes_per_device(token, probed, since),
            options.interval,
            options.window,
        )
        killed = datetime.now(UTC)
        podman("kill", "-s", "KILL", PREFIX + "worker-1")
        bound = options.interval + options.lease + options.heartbeat
        time.sleep(bound + 5)
        gaps = takeover(token, probed, killed)
        print(
            f"worker-1 killed: every device probed again within {max(gaps.values()):.1f} s "
            f"(bound: interval + lease + heartbeat = {bound:.0f} s); "
            f"{sum(1 for g in gaps.values() if g > bound + 1)} devices over the bound"
        )
        since = datetime.now(UTC)
        time.sleep(options.window)
        after = probes_per_device(token, probed, since)
        report("one worker left", after, options.interval, options.window)
        status = httpx.get(f"{APIS['api-1']}/api/v1/status/sites", headers=auth, timeout=30)
        print(
            f"GET /api/v1/status/sites: {status.status_code}, "
            f"{Counter(s['state'] for s in status.json()['items'])}"
        )
        unprobed = [d for d, n in after.items() if n == 0]
        took = edge_in_touch(token, specs["edge"], env, "NE-STK-00001")
        print(f"edge poller (profile edge) in touch through api-2 {took:.0f} s after its start")
        print(f"total {time.monotonic() - started:.0f} s")
        if unprobed:
            raise SystemExit(f"{len(unprobed)} devices were not probed after the kill")
    finally:
        for name in ("edge", *reversed(ORDER)):
            podman("rm", "-f", "-t", "3", PREFIX + name, check=False, quiet=True)
        for volume in (VOLUME, EDGE):
            podman("volume", "rm", "-f", volume, check=False, quiet=True)


if __name__ == "__main__":
    main()
