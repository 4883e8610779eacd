"""Creates retried through a proxy that drops 30% of connections land exactly once each."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bench.lossy import KINDS, LossyProxy, count_created, create_all, site_bodies
from tests.e2e.conftest import Served

pytestmark = pytest.mark.e2e
CREATES = 100


async def _through_the_proxy(served: Served, url: str) -> None:
    port = int(served.base.rsplit(":", 1)[1])
    proxy = LossyProxy(port, drop_rate=0.3, seed=3)
    await proxy.start()
    try:
        tally = await create_all(
            f"http://127.0.0.1:{proxy.port}", served.token, site_bodies("NE-LRT", CREATES)
        )
    finally:
        await proxy.close()
    print(f"tries {tally.tries}, replayed {tally.replayed}, drops {dict(proxy.counts)}")
    assert all(proxy.counts[kind] > 0 for kind in KINDS), proxy.counts  # every kind happened
    assert tally.replayed > 0
    assert tally.lost == []
    assert tally.fresh + tally.replayed == CREATES
    created = await count_created(url, "NE-LRT")
    assert (created.rows, created.change_records, created.sites_with_one_record) == (
        CREATES,
        CREATES,
        CREATES,
    )


def test_retried_creates_land_exactly_once(served: Served, tmp_path: Path) -> None:
    asyncio.run(_through_the_proxy(served, f"sqlite+aiosqlite:///{tmp_path / 'fleet.db'}"))
