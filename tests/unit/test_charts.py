"""The planner's bar charts: bars scaled to the largest value (or 0 to 1 for availability),
each number kept as text, a missing availability written as 'no data'."""

from __future__ import annotations

import pytest

from fleet.api import charts


def test_bars_scale_to_the_largest_value_and_keep_the_numbers() -> None:
    chart = charts.bars([("NE", 200.0, "200.00"), ("ML", 50.0, "50.00"), ("TD", 0.0, "0.00")])
    widths = [bar.width for bar in chart.bars]
    assert widths[0] == chart.plot_w
    assert widths[1] == pytest.approx(chart.plot_w / 4)
    assert widths[2] == 0
    assert [bar.text for bar in chart.bars] == ["200.00", "50.00", "0.00"]
    assert chart.bars[1].y > chart.bars[0].y
    assert chart.height >= chart.bars[-1].y + chart.bar_h
    assert all(chart.number_x(bar) <= chart.width for bar in chart.bars)


def test_no_data_draws_nothing() -> None:
    assert charts.bars([]).bars == []
    assert [b.width for b in charts.bars([("x", 0.0, "0")]).bars] == [0.0]


def test_pairs_are_before_and_after_on_a_scale_of_one() -> None:
    chart = charts.pairs([("#1 NE-BCL-01", 0.5, 0.995), ("#2 ML-BCL-01", None, 1.0)])
    assert [(b.series, b.text) for b in chart.bars] == [
        (0, "50.0%"),
        (1, "99.5%"),
        (0, "no data"),
        (1, "100.0%"),
    ]
    assert chart.bars[0].width == pytest.approx(chart.plot_w / 2)
    assert chart.bars[3].width == pytest.approx(chart.plot_w)
    assert chart.bars[2].width == 0
