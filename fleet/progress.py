"""How long work reports its progress without knowing who shows it.

The domain calls ``start`` when it knows how much there is to do and ``advance`` as it goes;
the command line passes a progress bar on a terminal and ``SILENT`` anywhere else.
"""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    def start(self, label: str, total: int) -> None:
        """A new stage of ``total`` steps begins (any stage before it is over)."""

    def advance(self, steps: int = 1) -> None:
        """``steps`` more of the current stage are done."""


class Silent:
    """Progress nobody watches."""

    def start(self, label: str, total: int) -> None:
        pass

    def advance(self, steps: int = 1) -> None:
        pass


SILENT: Progress = Silent()
