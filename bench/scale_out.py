"""Polls per second with 1, 2 and 4 ``fleet worker`` processes sharing one fleet through site
leases on PostgreSQL, against the same simulated devices, in one run; and the cost of the
leases per poll.

    .venv/bin/python bench/scale_out.py [--devices 2000] [--sites 100] [--seconds 15]
        [--workers 1,2,4] [--url postgresql+asyncpg://postgres@127.0.0.1:5432/test]

The devices are TCP health probes of listeners on 127.0.0.1 (one process of their own that
accepts and closes at once, in a plain select loop), each device probed every ``--interval``
seconds: more than one worker can do on this machine, so polls/s is what the workers manage.
For each count of workers the script starts them as real processes on a fresh database, waits
until every site is leased, lets them run ``--warmup`` seconds, then counts the results stored
during ``--seconds``, with the CPU each process used (from /proc) and the machine's busy CPU,
and the gaps between a device's results as fractions of the interval (p50, p95: how late the
rounds start; "short": gaps under half an interval, a device probed twice in one interval).
The lease cost is timed in
this process against the same database: one beat (renew, count, take) and one fence (the
check in every storing transaction), turned into a cost per poll at the default heartbeat and
flush periods.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from fleet import migrate
from fleet.database import Database
from fleet.inventory.models import Country, Device, DeviceModel, Site
from fleet.probes.leases import Leases

ROOT = Path(__file__).resolve().parent.parent
PEER_CODE = """
import resource, selectors, socket, sys
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
selector = selectors.DefaultSelector()
for port in sys.argv[1:]:
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", int(port)))
    server.listen(4096)
    server.setblocking(False)
    selector.register(server, selectors.EVENT_READ)
print("ready", flush=True)
while True:
    for key, _ in selector.select():
        while True:
            try:
                connection, _ = key.fileobj.accept()
            except BlockingIOError:
                break
            connection.close()
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the machine so far."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    idle = values[3] + values[4]
    tick = os.sysconf("SC_CLK_TCK")
    return (sum(values) - idle) / tick, sum(values) / tick


async def execute(url: str, statement: str) -> None:
    engine = Database(url).engine.execution_options(isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            await connection.execute(sa.text(statement))
    finally:
        await engine.dispose()


async def make_fleet(url: str, devices: int, sites: int, ports: list[int]) -> None:
    await migrate.upgrade(url)
    db = Database(url)
    try:
        async with db.session(write=True) as session:
            country = Country(code="ZZ", name="Bench", region="Bench")
            model = DeviceModel(slug="bench-tcp", manufacturer="bench", model="tcp", kind="router")
            session.add_all([country, model])
            await session.flush()
            assert country.id is not None
            assert model.id is not None
            rows = [
                Site(
                    code=f"ZZ-B-{n:03d}",
                    name=f"Bench {n}",
                    kind="border_crossing_land",
                    country_id=country.id,
                    latitude=0.0,
                    longitude=0.0,
                )
                for n in range(sites)
            ]
            session.add_all(rows)
            await session.flush()
            session.add_all(
                Device(
                    site_id=rows[n % sites].id,
                    model_id=model.id,
                    serial=f"B-{n:05d}",
                    management_address="127.0.0.1",
                    probe_port=ports[n % len(ports)],
                    lifecycle="active",
                    probes=["tcp"],
                )
                for n in range(devices)
            )
            await session.commit()
    finally:
        await db.dispose()


async def gap_figures(url: str, interval: float) -> dict[str, float]:
    """The gaps between a device's consecutive results, as fractions of the interval: the
    median, the 95th percentile (a saturated worker starts rounds late, so the gaps grow), and
    the count of gaps under half an interval (two results of one device in one interval)."""
    db = Database(url)
    try:
        async with db.session() as session:
            row = (
                await session.execute(
                    sa.text(
                        "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY g),"
                        " percentile_cont(0.95) WITHIN GROUP (ORDER BY g),"
                        " count(*) FILTER (WHERE g < :half) FROM (SELECT extract(epoch FROM"
                        " at - lag(at) OVER (PARTITION BY device_id ORDER BY at)) AS g"
                        " FROM probe_result) gaps WHERE g IS NOT NULL"
                    ),
                    {"half": interval / 2},
                )
            ).one()
    finally:
        await db.dispose()
    return {
        "gap_p50": float(row[0] or 0) / interval,
        "gap_p95": float(row[1] or 0) / interval,
        "short": float(row[2] or 0),
    }


async def scalar(url: str, statement: str) -> int:
    db = Database(url)
    try:
        async with db.session() as session:
            return int(await session.scalar(sa.text(statement)) or 0)
    finally:
        await db.dispose()


def start_worker(url: str, name: str, interval: float) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "FLEET_DATABASE_URL": url,
        "FLEET_LOG_LEVEL": "WARNING",
        "FLEET_LOG_FORMAT": "json",
        "FLEET_ALERTS": "false",
        "FLEET_WORKER_NAME": name,
        "FLEET_PROBE_INTERVAL_S": str(interval),
        "FLEET_PROBE_JITTER_S": str(interval / 10),
        "FLEET_PROBE_TIMEOUT_S": "2",
        "FLEET_PROBE_RETRIES": "0",
        "FLEET_PROBE_CONCURRENCY": "500",
        "FLEET_PROBE_SITE_CONCURRENCY": "50",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "fleet.cli", "worker"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


async def lease_cost(url: str, sites: int) -> tuple[float, float]:
    """The time of one beat holding half the sites, and of one fence of them (ms)."""
    db = Database(url)
    try:
        await execute(url, "TRUNCATE probe_lease, probe_worker")
        leases = Leases(db, "bench", "bench", os.getpid(), lease_s=30)
        await leases.register()
        held = (await leases.beat({}, 0, None)).taken
        held = dict(list(held.items())[: sites // 2])
        n = 200
        started = time.perf_counter()
        for _ in range(n):
            await leases.beat(held, 0, None)
        beat = (time.perf_counter() - started) / n
        started = time.perf_counter()
        for _ in range(n):
            async with db.session(write=True) as session:
                await leases.fence(session, held)
                await session.commit()
        fence = (time.perf_counter() - started) / n
        return beat * 1e3, fence * 1e3
    finally:
        await db.dispose()


async def measure(url: str, count: int, args: argparse.Namespace) -> dict[str, float]:
    await execute(
        url, "TRUNCATE probe_result, object_status, state_event, probe_lease, probe_worker"
    )
    workers = [start_worker(url, f"w{n}", args.interval) for n in range(count)]
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            held = await scalar(
                url,
                "SELECT count(*) FROM probe_lease WHERE worker IS NOT NULL AND expires_at > now()",
            )
            live = await scalar(
                url, "SELECT count(DISTINCT worker) FROM probe_lease WHERE worker IS NOT NULL"
            )
            if held == args.sites and live == count:
                break
            await asyncio.sleep(0.5)
        else:
            raise SystemExit(f"{count} workers did not lease every site within 60 s")
        await asyncio.sleep(args.warmup)
        before = await scalar(url, "SELECT count(*) FROM probe_result")
        cpu0 = [cpu_seconds(w.pid) for w in workers]
        busy0, total0 = machine_busy()
        started = time.monotonic()
        await asyncio.sleep(args.seconds)
        after = await scalar(url, "SELECT count(*) FROM probe_result")
        wall = time.monotonic() - started
        cpu = sum(cpu_seconds(w.pid) for w in workers) - sum(cpu0)
        busy1, total1 = machine_busy()
        gaps = await gap_figures(url, args.interval)
    finally:
        for worker in workers:
            os.killpg(worker.pid, signal.SIGTERM)
        for worker in workers:
            worker.wait(timeout=30)
    polls = (after - before) / wall
    cores = os.cpu_count() or 1
    return {
        "polls_s": polls,
        "worker_cpu_ms_poll": cpu / max(1, after - before) * 1e3,
        "worker_cpu_share": cpu / wall / cores,
        "machine_busy": (busy1 - busy0) / max(1e-9, total1 - total0),
        **gaps,
    }


async def main(args: argparse.Namespace) -> None:
    name = f"fleet_scale_{uuid.uuid4().hex[:8]}"
    url = make_url(args.url).set(database=name).render_as_string(hide_password=False)
    await execute(args.url, f'CREATE DATABASE "{name}"')
    ports = [free_port() for _ in range(8)]
    peers = subprocess.Popen(  # noqa: ASYNC220 (started once, before anything is measured)
        [sys.executable, "-c", PEER_CODE, *map(str, ports)], stdout=subprocess.PIPE
    )
    try:
        assert peers.stdout is not None
        assert peers.stdout.readline().strip() == b"ready"
        await make_fleet(url, args.devices, args.sites, ports)
        asked = args.devices / args.interval
        print(
            f"{args.devices} devices in {args.sites} sites, asked {asked:.0f} polls/s, "
            f"{args.seconds:.0f} s measured after {args.warmup:.0f} s; {os.cpu_count()} cores"
        )
        rows = {count: await measure(url, count, args) for count in args.workers}
        base = rows[args.workers[0]]["polls_s"]
        print(
            f"{'workers':>7} {'polls/s':>9} {'ratio':>6} {'worker CPU ms/poll':>19} "
            f"{'workers CPU':>12} {'machine busy':>13} {'gap p50':>8} {'gap p95':>8} {'short':>6}"
        )
        for count, row in rows.items():
            print(
                f"{count:>7} {row['polls_s']:>9.0f} {row['polls_s'] / base:>6.2f} "
                f"{row['worker_cpu_ms_poll']:>19.3f} {row['worker_cpu_share']:>11.0%} "
                f"{row['machine_busy']:>12.0%} {row['gap_p50']:>8.2f} {row['gap_p95']:>8.2f}"
                f" {int(row['short']):>6}"
            )
        beat_ms, fence_ms = await lease_cost(url, args.sites)
        one = rows[args.workers[0]]["polls_s"]
        per_poll = (beat_ms / 5.0 + fence_ms / 1.0) / max(1.0, one) * 1e3
        print(
            f"lease cost: a beat {beat_ms:.2f} ms (every 5 s), a fence {fence_ms:.2f} ms "
            f"(every flush, 1 s): {per_poll:.1f} us a poll at {one:.0f} polls/s of one worker"
        )
    finally:
        peers.terminate()
        peers.wait(timeout=10)
        await execute(args.url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="postgresql+asyncpg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--devices", type=int, default=2000)
    parser.add_argument("--sites", type=int, default=100)
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument(
        "--workers", type=lambda s: [int(n) for n in s.split(",")], default=[1, 2, 4]
    )
    asyncio.run(main(parser.parse_args()))
