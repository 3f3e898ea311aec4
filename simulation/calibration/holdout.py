"""Checking a fitted purchase model against the log: tracking, conditional expectations, P(alive).

The tracking table [1, 2] compares, period by period over the calibration and holdout
periods, the repeat transactions of the calibration cohort with the model's expectation.
A customer born (first purchase) on day ``d`` is expected to have made ``E[X(a)]`` repeat
transactions by age ``a``, so the expected cumulative count at the end of a period is the
sum over customers of ``E[X((last day of the period - d) / unit)]`` (0 before birth); the
incremental expectation is its difference from period to period. Customers born on the same
day share one evaluation.

The conditional-expectation table [1] groups customers by their calibration frequency
``x = 0, 1, ..., 7+`` and compares the mean number of holdout transactions with the mean of
the model's expectation given each customer's ``(x, t_x, T)``.

References:
    1. Fader, P. S., Hardie, B. G. S. & Lee, K. L. (2005). "Counting your customers" the
       easy way: an alternative to the Pareto/NBD model. Marketing Science 24(2), 275-284.
    2. Fader, P. S. & Hardie, B. G. S. (2001). Forecasting repeat sales at CDNOW: a case
       study. Interfaces 31(3), S94-S107.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from simulation.calibration.log import CustomerSummary, period_last_days
from simulation.calibration.models import FittedModel


def tracking_table(summary: CustomerSummary, fitted: FittedModel) -> pd.DataFrame:
    """Actual and expected repeat transactions of the calibration cohort, per period.

    Args:
        summary: the customer summary the model was fitted on.
        fitted: a fitted purchase model (BG/NBD or Pareto/NBD).

    Returns:
        One row per period: ``period``, ``first_day``, ``last_day``, ``time`` (end of the
        period since the start of the log, in units), ``phase``, ``actual``, ``expected``,
        ``actual_cumulative`` and ``expected_cumulative``.
    """
    periods = summary.periods
    births = (summary.customers["first_date"] - summary.start).dt.days.to_numpy()
    birth_days, counts = np.unique(births, return_counts=True)
    last_days = period_last_days(summary)
    age = (last_days[None, :] - birth_days[:, None]) / summary.unit_days
    expected = fitted.module.expected_transactions(fitted.values, np.maximum(age, 0.0))
    cumulative = counts @ np.where(age > 0, expected, 0.0)
    actual = periods["repeat_transactions"].to_numpy()
    return pd.DataFrame(
        {
            "period": periods["period"],
            "first_day": periods["first_day"],
            "last_day": periods["last_day"],
            "time": periods["time"],
            "phase": periods["phase"],
            "actual": actual,
            "expected": np.diff(cumulative, prepend=0.0),
            "actual_cumulative": np.cumsum(actual),
            "expected_cumulative": cumulative,
        }
    )


def holdout_error(tracking: pd.DataFrame) -> float:
    """Mean absolute error of the cumulative holdout forecast, per holdout period.

    Cumulative counts start at the calibration end, so that the score measures the
    forecast alone, not how well the calibration period was matched.

    Args:
        tracking: a table from :func:`tracking_table`.

    Returns:
        The mean over holdout periods of ``|actual - expected|`` cumulated since the
        calibration end (NaN without holdout periods).
    """
    holdout = tracking[tracking["phase"] == "holdout"]
    if holdout.empty:
        return float("nan")
    gap = holdout["actual"].cumsum() - holdout["expected"].cumsum()
    return float(np.mean(np.abs(gap)))


def conditional_expectations(
    summary: CustomerSummary, fitted: FittedModel, max_frequency: int = 7
) -> pd.DataFrame:
    """Mean holdout transactions against the model's conditional expectation, by frequency.

    Args:
        summary: the customer summary the model was fitted on (with a holdout period).
        fitted: a fitted purchase model.
        max_frequency: frequencies from this one up are pooled into one group (``7+``).

    Returns:
        One row per group: ``frequency`` (label, e.g. ``"3"`` or ``"7+"``), ``customers``,
        ``actual`` and ``expected`` (mean holdout transactions per customer).

    Raises:
        ValueError: the summary has no holdout period.
    """
    if not summary.has_holdout:
        raise ValueError("conditional expectations need a holdout period after the calibration")
    customers = summary.customers
    expected = fitted.module.conditional_expected_transactions(
        fitted.values,
        summary.holdout_length,
        customers["x"].to_numpy(),
        customers["t_x"].to_numpy(),
        customers["T"].to_numpy(),
    )
    group = np.minimum(customers["x"].to_numpy(), max_frequency)
    table = (
        pd.DataFrame({"group": group, "actual": customers["holdout_x"], "expected": expected})
        .groupby("group")
        .agg(
            customers=("actual", "size"),
            actual=("actual", "mean"),
            expected=("expected", "mean"),
        )
        .reindex(range(max_frequency + 1))
        .reset_index()
    )
    table["customers"] = table["customers"].fillna(0).astype(int)
    labels = [str(g) for g in range(max_frequency)] + [f"{max_frequency}+"]
    table.insert(0, "frequency", labels)
    return table.drop(columns=["group"])


def alive_probabilities(summary: CustomerSummary, fitted: FittedModel) -> pd.DataFrame:
    """P(alive) at the calibration end for every customer of the calibration cohort.

    Args:
        summary: the customer summary the model was fitted on.
        fitted: a fitted purchase model.

    Returns:
        Indexed by customer: ``x``, ``t_x``, ``T``, ``p_alive`` and ``expected_holdout`` (the
        conditional expectation over the holdout period; 0 without one).
    """
    customers = summary.customers
    data = (customers["x"].to_numpy(), customers["t_x"].to_numpy(), customers["T"].to_numpy())
    table = customers[["x", "t_x", "T"]].copy()
    table["p_alive"] = fitted.module.probability_alive(fitted.values, *data)
    table["expected_holdout"] = fitted.module.conditional_expected_transactions(
        fitted.values, summary.holdout_length, *data
    )
    return table
