"""``tune_for_polling`` (called by the entry points that run the scheduler) freezes what the
process holds once set up out of the collector's sight and raises its thresholds (the rounds'
garbage is nearly all freed by reference counting), once per process: a later call freezes
nothing more; starting a scheduler alone leaves the collector as it is. Run in a fresh
interpreter, since this process may have tuned it already."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

SCRIPT = """
import asyncio, gc, json, sys
from fleet.database import Database
from fleet.inventory.credentials import Cipher
from fleet.probes.gc_tuning import GC_THRESHOLDS, tune_for_polling
from fleet.probes.scheduler import ProbeScheduler
from fleet.settings import Settings

freezes = []
freeze = gc.freeze
gc.freeze = lambda: (freezes.append(1), freeze())[1]

async def main(url):
    before = {"threshold": gc.get_threshold(), "frozen": gc.get_freeze_count()}
    seen = []
    for _ in range(2):
        db = Database(url)
        scheduler = ProbeScheduler(db, Settings(database_url=url), Cipher(None))
        await scheduler.start()
        seen.append({"threshold": gc.get_threshold(), "frozen": gc.get_freeze_count(),
                     "freezes": len(freezes)})
        tune_for_polling()
        seen.append({"threshold": gc.get_threshold(), "frozen": gc.get_freeze_count(),
                     "freezes": len(freezes)})
        await scheduler.stop()
        await db.dispose()
    print(json.dumps({"before": before, "started": seen, "wanted": GC_THRESHOLDS}))

asyncio.run(main(sys.argv[1]))
"""


def test_first_tuning_freezes_start_up_and_raises_thresholds(
    tmp_path: Path, sqlite_template: Path
) -> None:
    shutil.copy(sqlite_template, tmp_path / "fleet.db")
    url = f"sqlite+aiosqlite:///{tmp_path / 'fleet.db'}"
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, url],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    wanted = report["wanted"]
    assert report["before"]["threshold"] != wanted  # the interpreter's own defaults
    assert report["before"]["frozen"] == 0
    started, first, started_again, second = report["started"]
    assert started == {"threshold": report["before"]["threshold"], "frozen": 0, "freezes": 0}
    assert started_again["freezes"] == 1
    assert first["threshold"] == wanted
    assert first["frozen"] > 1000  # modules, mappings, settings: what start-up left alive
    assert first["freezes"] == 1
    assert second["freezes"] == 1  # once per process: a later call freezes nothing more
    assert second["threshold"] == wanted
