"""Horizontal bar charts drawn on the server as SVG geometry (the template writes the SVG, with
a title, a description and each number as text beside its bar)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

WIDTH = 680
LABEL_W = 190
NUMBER_W = 130
BAR_H = 18
GAP = 8
PAD = 4


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    text: str  # the number as the page writes it
    y: int
    width: float
    series: int = 0  # 0, or 1 for the second bar of a pair


@dataclass(frozen=True)
class Chart:
    bars: list[Bar]
    height: int
    width: int = WIDTH
    label_w: int = LABEL_W
    bar_h: int = BAR_H

    @property
    def plot_w(self) -> int:
        return self.width - LABEL_W - NUMBER_W

    def number_x(self, bar: Bar) -> float:
        return LABEL_W + bar.width + PAD


def _scale(values: Sequence[float], top: float | None) -> float:
    largest = top if top is not None else max((v for v in values if v > 0), default=0.0)
    return (WIDTH - LABEL_W - NUMBER_W) / largest if largest > 0 else 0.0


def bars(rows: Sequence[tuple[str, float, str]], top: float | None = None) -> Chart:
    """One bar per ``(label, value, text)``, scaled to the largest value (or ``top``)."""
    scale = _scale([v for _, v, _ in rows], top)
    drawn = [
        Bar(label, value, text, PAD + i * (BAR_H + GAP), max(0.0, value) * scale)
        for i, (label, value, text) in enumerate(rows)
    ]
    return Chart(drawn, PAD * 2 + len(rows) * (BAR_H + GAP))


def pairs(
    rows: Sequence[tuple[str, float | None, float | None]],
    write: Callable[[float], str] = "{:.1%}".format,
    missing: str = "no data",
) -> Chart:
    """Two bars per label (before and after), scaled 0 to 1, each value as ``write`` writes it
    (``missing`` when there is none)."""
    scale = _scale([], 1.0)
    drawn: list[Bar] = []
    step = 2 * BAR_H + GAP * 2
    for i, (label, *values) in enumerate(rows):
        for series, value in enumerate(values):
            text = missing if value is None else write(value)
            y = PAD + i * step + series * BAR_H
            drawn.append(Bar(label, value or 0.0, text, y, (value or 0.0) * scale, series))
    return Chart(drawn, PAD * 2 + len(rows) * step)
