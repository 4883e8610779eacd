"""Progress bars on stderr for long commands, only when stderr is a terminal.

Piped or redirected, a command prints exactly what it printed before (its lines, or JSON logs);
the bars never reach stdout, so ``fleet sync ... | less`` reads clean.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click

from fleet.progress import SILENT, Progress


class _Bars:
    """One ``click.progressbar`` a stage, the previous one closed when the next starts."""

    def __init__(self) -> None:
        self._bar: Any = None

    def start(self, label: str, total: int) -> None:
        self.close()
        self._bar = click.progressbar(length=max(total, 1), label=label, file=sys.stderr)
        self._bar.__enter__()

    def advance(self, steps: int = 1) -> None:
        if self._bar is not None:
            self._bar.update(steps)

    def close(self) -> None:
        if self._bar is not None:
            bar, self._bar = self._bar, None
            bar.__exit__(None, None, None)


@contextmanager
def progress_on_terminal() -> Iterator[Progress]:
    """Bars on stderr when it is a terminal, else ``SILENT``."""
    if not sys.stderr.isatty():
        yield SILENT
        return
    bars = _Bars()
    try:
        yield bars
    finally:
        bars.close()
