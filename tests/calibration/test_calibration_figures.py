"""The calibration figures render to PNG with labelled, unit-bearing axes."""

from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from simulation.calibration import (
    alive_figure,
    conditional_expectations_figure,
    spend_figure,
    tracking_figure,
)


def labels(fig: Figure) -> list[str]:
    return [text for ax in fig.axes for text in (ax.get_xlabel(), ax.get_ylabel())]


def test_all_figures_render_to_png(cdnow_result, tmp_path):
    before = plt.get_fignums()
    figures = cdnow_result.figures()
    assert set(figures) == {"tracking", "alive", "conditional_expectations", "spend"}
    for name, fig in figures.items():
        assert isinstance(fig, Figure)
        path = tmp_path / f"{name}.png"
        fig.savefig(path, dpi=60)
        assert path.stat().st_size > 10_000
        assert all(ax.get_title() for ax in fig.axes)
    assert plt.get_fignums() == before  # no pyplot state


def test_tracking_figure_labels_and_calibration_line(cdnow_result):
    fig = tracking_figure(cdnow_result.tracking, "week", "BG/NBD")
    per_period, cumulative = fig.axes
    assert per_period.get_ylabel() == "repeat transactions per week"
    assert cumulative.get_xlabel() == "time since the first date of the log (weeks)"
    dotted = [line for line in per_period.lines if line.get_linestyle() == ":"]
    assert [line.get_xdata()[0] for line in dotted] == [39.0]
    assert [t.get_text() for t in per_period.get_legend().get_texts()] == ["actual", "BG/NBD"]


def test_tracking_figure_draws_a_simulated_band_when_given(cdnow_result):
    tracking = cdnow_result.tracking.copy()
    for prefix, column in (
        ("simulated_", "expected"),
        ("simulated_cumulative_", "expected_cumulative"),
    ):
        tracking[f"{prefix}mean"] = tracking[column]
        tracking[f"{prefix}low"] = tracking[column] * 0.9
        tracking[f"{prefix}high"] = tracking[column] * 1.1
    fig = tracking_figure(tracking, "week", "Pareto/NBD")
    for ax in fig.axes:
        legend = [t.get_text() for t in ax.get_legend().get_texts()]
        assert "simulated mean" in legend and "simulated, 95% band" in legend
        assert ax.collections  # the band


def test_other_figures_name_their_units(cdnow_result):
    summary = cdnow_result.summary
    conditional = conditional_expectations_figure(
        cdnow_result.conditional, summary.holdout_length, "week", "BG/NBD"
    )
    assert "in the holdout (39 weeks)" in labels(conditional)[1]
    assert [t.get_text() for t in conditional.axes[0].get_xticklabels()][-1] == "7+"
    alive = alive_figure(cdnow_result.alive, "BG/NBD")
    assert labels(alive) == ["probability of being alive at the end of calibration", "customers"]
    spend = spend_figure(summary.customers, cdnow_result.spend)
    assert labels(spend)[0] == "mean spend per repeat transaction (currency units)"
