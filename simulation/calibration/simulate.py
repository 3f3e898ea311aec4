"""The simulated tracking plot: the calibration cohort replayed in relsim's own market.

:func:`simulate_tracking` checks that the calibrated market buys as the fitted model says.
It builds the calibrated customer-base laws into a market with marketing switched off
(:func:`cohort_scenario`: one firm, no budget, no word of mouth, no re-entry, and the
effects of satisfaction, trust, price, loyalty and tenure on buying and leaving set to
neutral, so the laws act alone), starts it with one customer for each customer of the
calibration cohort, all fresh (tenure 0), and runs it with periods of one unit of the log
(a week or a month). Customer ``i`` of the market stands for customer ``i`` of the cohort:
its transactions at age ``a`` are dated at that customer's first purchase plus ``a``. A
period's transactions are spread evenly over it (as relsim's transaction logs date them), so a
customer's cumulative count at a fractional age is interpolated linearly between the ends of
its periods.

Each replication is an independent market (seeds spawned from one master seed with
:func:`numpy.random.SeedSequence`); the table gives the mean over replications and a 95%
prediction band for one replication, ``mean +- t(0.975, R-1) sd sqrt(1 + 1/R)``: where the
log's own count should fall if the fitted model is right (parameter uncertainty left out).
"""

from __future__ import annotations

import copy
import math
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import t as student_t

from simulation.calibration.log import CustomerSummary, period_last_days
from simulation.calibration.scenario_out import UNIT_MONTHS

STREAM = 7_121
"""Spawn key of the holdout simulation's seeds, apart from every run's."""

OFF = ("price_sensitivity", "cost_to_serve", "spend", "referrals", "expectations")


def cohort_scenario(laws: dict[str, Any], customers: int, periods: int, unit: str) -> Any:
    """A market of one fresh cohort in which only the customer-base laws act.

    Args:
        laws: the ``market.customer`` laws (:func:`~.scenario_out.customer_laws`).
        customers: the number of customers.
        periods: the number of periods of one ``unit``.
        unit: ``week`` or ``month``.

    Returns:
        The validated :class:`~simulation.scenario.schema.Scenario`.
    """
    from simulation.scenario.schema import Scenario

    customer = copy.deepcopy(laws)
    customer["purchase"].pop("spend", None)  # counts only: amounts are not needed
    customer.setdefault("base_churn_rate", {"dist": "constant", "value": 0.0})
    customer["initial_tenure"] = {"dist": "constant", "value": 0.0}
    market = {
        "customers": int(customers),
        "periods": int(periods),
        "period_months": UNIT_MONTHS[unit],
        "initial_penetration": 1.0,
        "customer": customer,
        "behaviour": {
            "churn_satisfaction_weight": 0.0,
            "churn_strength_weight": 0.0,
            "price_churn_weight": 0.0,
            "purchase_satisfaction_weight": 0.0,
            "price_demand_weight": 0.0,
            "reentry_rate": 0.0,
        },
        "tenure_effects": {name: {"enabled": False} for name in OFF},
        "responses": {"word_of_mouth": {"enabled": False}, "loyalty": {"purchase_boost": 0.0}},
        "network": {"kind": "none"},
        "firms": [
            {
                "name": "Firm",
                "price": 50.0,
                "cost_to_serve": 0.0,
                "failure_rate": 0.0,
                "initial_share": 1.0,
            }
        ],
    }
    plan = {"budget": 0.0, "allocation": {"advertising": 1.0}}
    return Scenario.model_validate(
        {"name": "cohort", "market": market, "policies": {"off": plan}, "replications": 1}
    )


def _ages(summary: CustomerSummary) -> tuple[np.ndarray, np.ndarray]:
    """Each customer's group (its first-purchase day) and each group's age at each period end."""
    births = (summary.customers["first_date"] - summary.start).dt.days.to_numpy()
    days, group = np.unique(births, return_inverse=True)
    ages = (period_last_days(summary)[None, :] - days[:, None]) / summary.unit_days
    return group, np.maximum(ages, 0.0)


def _cumulative_at(counts: np.ndarray, ages: np.ndarray) -> np.ndarray:
    """Per group, the cumulative count at fractional ``ages``, interpolated within periods."""
    steps = counts.shape[1] - 1
    ages = np.minimum(ages, steps)
    whole = np.minimum(np.floor(ages).astype(int), steps - 1) if steps else np.zeros_like(ages, int)
    share = ages - whole
    rows = np.arange(counts.shape[0])[:, None]
    low = counts[rows, whole]
    high = counts[rows, np.minimum(whole + 1, steps)]
    return (low + share * (high - low)).sum(axis=0)


def replay_cohort(
    summary: CustomerSummary, laws: dict[str, Any], replications: int, seed: int
) -> np.ndarray:
    """Cumulative repeat transactions of the replayed cohort at each period's end.

    Args:
        summary: the customer summary (its cohort and periods).
        laws: the calibrated ``market.customer`` laws.
        replications: independent markets to run.
        seed: the master seed.

    Returns:
        An array ``(replications, periods)`` of cumulative counts since the start of the log.
    """
    from simulation.market.model import RelationshipMarket
    from simulation.runs.registry import release
    from simulation.runs.runner import replication_seeds

    group, ages = _ages(summary)
    steps = max(1, math.ceil(float(ages.max(initial=0.0)) - 1e-9))
    scenario = cohort_scenario(laws, len(group), steps, summary.unit)
    n_groups = ages.shape[0]
    out = np.empty((replications, ages.shape[1]))
    for r, rep_seed in enumerate(replication_seeds(seed, replications, key=(STREAM,))):
        model = RelationshipMarket(scenario, rng=rep_seed, customer_agents=False)
        counts = np.zeros((n_groups, steps + 1))
        for k in range(1, steps + 1):
            model.step()
            bought = model.population.transactions.astype(float)
            counts[:, k] = counts[:, k - 1] + np.bincount(group, bought, minlength=n_groups)
        release(model)
        out[r] = _cumulative_at(counts, ages)
    return out


def _band(draws: np.ndarray, prefix: str) -> dict[str, np.ndarray]:
    """Mean and 95% prediction band for one replication, per column of ``draws``."""
    n = draws.shape[0]
    mean = draws.mean(axis=0)
    if n < 2:
        nan = np.full_like(mean, np.nan)
        return {f"{prefix}mean": mean, f"{prefix}low": nan, f"{prefix}high": nan}
    half = student_t.ppf(0.975, n - 1) * draws.std(axis=0, ddof=1) * math.sqrt(1 + 1 / n)
    return {
        f"{prefix}mean": mean,
        f"{prefix}low": np.maximum(mean - half, 0.0),
        f"{prefix}high": mean + half,
        f"{prefix}se": draws.std(axis=0, ddof=1) / math.sqrt(n),
    }


def simulate_tracking(
    summary: CustomerSummary,
    tracking: pd.DataFrame,
    laws: dict[str, Any],
    replications: int,
    seed: int,
) -> pd.DataFrame:
    """The tracking table with the replayed cohort's mean and 95% band added.

    Args:
        summary: the customer summary the model was fitted on.
        tracking: its tracking table (:func:`~.holdout.tracking_table`).
        laws: the calibrated ``market.customer`` laws.
        replications: independent markets to run (1 or more).
        seed: the master seed.

    Returns:
        ``tracking`` with ``simulated_mean``, ``_low``, ``_high``, ``_se`` per period and
        ``simulated_cumulative_mean``, ``_low``, ``_high``, ``_se`` (since the start of the
        log), and ``simulated_holdout_cumulative_*`` (since the calibration end; NaN before).
    """
    cumulative = replay_cohort(summary, laws, replications, seed)
    per_period = np.diff(cumulative, axis=1, prepend=0.0)
    holdout = (tracking["phase"] == "holdout").to_numpy()
    calibrated = int((~holdout).sum())
    since_end = cumulative - (cumulative[:, calibrated - 1 : calibrated] if calibrated else 0.0)
    table = tracking.copy()
    for prefix, draws in (
        ("simulated_", per_period),
        ("simulated_cumulative_", cumulative),
        ("simulated_holdout_cumulative_", np.where(holdout, since_end, np.nan)),
    ):
        for column, values in _band(draws, prefix).items():
            table[column] = values
    return table


def holdout_table(tracking: pd.DataFrame) -> pd.DataFrame:
    """The holdout periods of a simulated tracking table, cumulated from the calibration end.

    Args:
        tracking: a table from :func:`simulate_tracking`.

    Returns:
        One row per holdout period: ``period``, ``first_day``, ``last_day``, ``actual``,
        ``expected``, ``simulated_mean``, ``simulated_low``, ``simulated_high``, then the
        same cumulated since the calibration end (``*_cumulative``). Empty without a
        holdout period.
    """
    holdout = tracking["phase"] == "holdout"
    rows, before = tracking[holdout], tracking[~holdout]
    start = before.iloc[-1] if len(before) else None
    since = {
        k: rows[f"{k}_cumulative"] - (float(start[f"{k}_cumulative"]) if start is not None else 0)
        for k in ("actual", "expected")
    }
    table = pd.DataFrame(
        {
            "period": rows["period"],
            "first_day": rows["first_day"].dt.strftime("%Y-%m-%d"),
            "last_day": rows["last_day"].dt.strftime("%Y-%m-%d"),
            "actual": rows["actual"],
            "expected": rows["expected"],
            "simulated_mean": rows["simulated_mean"],
            "simulated_low": rows["simulated_low"],
            "simulated_high": rows["simulated_high"],
            "actual_cumulative": since["actual"],
            "expected_cumulative": since["expected"],
            "simulated_cumulative_mean": rows["simulated_holdout_cumulative_mean"],
            "simulated_cumulative_low": rows["simulated_holdout_cumulative_low"],
            "simulated_cumulative_high": rows["simulated_holdout_cumulative_high"],
        }
    )
    return table.reset_index(drop=True)
