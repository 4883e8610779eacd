"""Tables opt in to the change log by declaration; the declaration names what the log shows."""

from __future__ import annotations

import pytest

import fleet.schema  # noqa: F401  (every table)
from fleet.changelog import Logged, diff, logged
from fleet.inventory.resources import RESOURCES
from fleet.models import Versioned
from fleet.probes.windows import MAINTENANCE_WINDOW
from fleet.upgrades.models import Gap


def _tables() -> list[type[Versioned]]:
    seen: list[type[Versioned]] = []
    pending: list[type[Versioned]] = [Versioned]
    while pending:
        for sub in pending.pop().__subclasses__():
            pending.append(sub)
            if getattr(sub, "__table__", None) is not None:
                seen.append(sub)
    return seen


def test_every_versioned_table_opts_in_but_work_orders() -> None:
    """Work orders keep their own journal (states, notes, planning), written by the service."""
    tables = _tables()
    assert len(tables) >= 9
    unlogged = {
        t.__name__ for t in tables if not isinstance(getattr(t, "__changelog__", None), Logged)
    }
    assert unlogged == {"WorkOrder"}


@pytest.mark.parametrize("resource", [*RESOURCES, MAINTENANCE_WINDOW], ids=lambda r: r.name)
def test_an_inventory_resource_logs_under_its_own_name_and_key(resource: object) -> None:
    spec: Logged = resource.table.__changelog__  # type: ignore[attr-defined]
    assert (spec.object_type, spec.key) == (resource.name, resource.natural_key)  # type: ignore[attr-defined]


def test_a_table_that_did_not_opt_in_is_refused() -> None:
    with pytest.raises(TypeError, match="Gap has no __changelog__"):
        logged(Gap())


def test_diff_leaves_out_ids_bookkeeping_and_ignored_fields() -> None:
    before = {"id": 1, "version": 1, "name": "a", "last_used_at": None}
    after = {"id": 1, "version": 2, "name": "b", "last_used_at": "2026-01-01"}
    assert diff(before, after, ("last_used_at",)) == {"name": {"before": "a", "after": "b"}}
