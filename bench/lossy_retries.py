"""1,000 creates through a proxy that drops 30% of connections: each lands exactly once.

    .venv/bin/python bench/lossy_retries.py [--creates 1000] [--drop-rate 0.3]
    .venv/bin/python bench/lossy_retries.py --postgres postgresql+asyncpg://postgres@127.0.0.1:5432/test

Starts ``fleet serve --no-scheduler`` on a fresh SQLite file (or, with ``--postgres``, on a
database of its own on that server, dropped at the end), puts the proxy of ``bench/lossy.py``
in front of it (on 127.0.0.1; it drops connections before the request is read, in the middle
of the body, and after the server answered but before the client got the answer), and sends
``--creates`` site creates through it, ``--concurrency`` at a time, each with its own
Idempotency-Key and retried until it gets a 201 (fresh or replayed). Then it counts, in the
database, the sites made and their create records. It prints the tries, the drops by kind,
the replays and the duration, and exits 1 unless there are exactly as many sites and create
records as creates (one record each) and no create was lost.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import secrets
import sys
import tempfile
import uuid
from pathlib import Path

import sqlalchemy as sa
from lossy import KINDS, LossyProxy, count_created, create_all, site_bodies
from served import Server
from sqlalchemy.engine import make_url

from fleet.database import create_engine


async def run(url: str, args: argparse.Namespace, folder: Path) -> bool:
    print(f"starting fleet serve on {make_url(url).get_backend_name()} ...")
    server = Server(url, folder)
    proxy = LossyProxy(server.port, args.drop_rate, args.seed)
    try:
        await proxy.start()
        prefix = f"NE-LR{secrets.token_hex(2).upper()}"
        tally = await create_all(
            f"http://127.0.0.1:{proxy.port}",
            server.token,
            site_bodies(prefix, args.creates),
            concurrency=args.concurrency,
        )
        created = await count_created(url, prefix)
    finally:
        await proxy.close()
        with contextlib.suppress(Exception):
            server.stop()
    connections = sum(proxy.counts.values())
    dropped = sum(proxy.counts[k] for k in KINDS)
    print(
        f"{args.creates} creates: {tally.tries} tries in {tally.seconds:.1f} s "
        f"({args.creates / tally.seconds:.0f} creates/s), {tally.tries / args.creates:.2f} a create"
    )
    print(
        f"connections: {connections}, dropped {dropped} ({dropped / max(connections, 1):.0%}): "
        + ", ".join(f"{k} {proxy.counts[k]}" for k in KINDS)
    )
    print(
        f"answers: 201 fresh {tally.fresh}, 201 replayed {tally.replayed}, "
        f"no answer {tally.transport_errors}, by status {dict(sorted(tally.answers.items()))}"
    )
    print(
        f"in the database: {created.rows} sites, {created.change_records} create records, "
        f"{created.sites_with_one_record} sites with exactly one"
    )
    if tally.lost:
        print(f"lost: {len(tally.lost)} creates never got a 201, e.g. {tally.lost[:5]}")
    exact = args.creates == created.rows == created.change_records
    return exact and created.sites_with_one_record == args.creates and not tally.lost


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--creates", type=int, default=1000)
    parser.add_argument("--drop-rate", type=float, default=0.3)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--postgres", help="a PostgreSQL URL (postgresql+asyncpg://...)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        if not args.postgres:
            exact = await run(f"sqlite+aiosqlite:///{folder}/fleet.db", args, Path(folder))
        else:
            name = f"fleet_lossy_{uuid.uuid4().hex[:8]}"
            admin = create_engine(args.postgres, isolation_level="AUTOCOMMIT")
            async with admin.connect() as connection:
                await connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
            try:
                url = make_url(args.postgres).set(database=name)
                exact = await run(url.render_as_string(hide_password=False), args, Path(folder))
            finally:
                async with admin.connect() as connection:
                    await connection.execute(
                        sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                    )
                await admin.dispose()
    if not exact:
        print("FAILED: the creates did not land exactly once each")
        sys.exit(1)
    print("every create landed exactly once")


if __name__ == "__main__":
    asyncio.run(main())
