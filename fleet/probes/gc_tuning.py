"""The garbage collector tuned for a process that polls: called by the entry points that run
the probe scheduler (``fleet serve`` with it, ``fleet worker``), once they are set up."""

from __future__ import annotations

import functools
import gc

#: The collector's thresholds while polling: a round allocates a few dozen objects, nearly all
#: freed by reference counting at once; with the default (700, 10, 10) the young generation was
#: collected about a hundred times a second at 2,000 rounds a second, and the full collections
#: that follow cost more than the status engine's own work per round.
GC_THRESHOLDS = (50_000, 20, 10)


@functools.cache
def tune_for_polling() -> None:
    """Once per process: what is alive when the process has set up (modules, mappings,
    settings, and the scheduler's targets and topology when it has started) lives as long as
    the process, so it goes out of the collector's sight and the full collections that the
    rounds' garbage sets off scan only what came after; then the collector runs less often
    (:data:`GC_THRESHOLDS`). A second call does nothing: what it would find alive may be
    garbage yet to be collected, which a freeze would keep for good."""
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
