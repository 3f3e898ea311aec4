"""Scoring candidates under common random numbers: objectives, paired comparisons, racing.

Every *arm* (a candidate of the search, or one of the scenario's policies) runs in every
sampled market ``m`` with the same seeds: replication ``r`` of market ``m`` is the same luck
for every arm. The objective is therefore computed **per replication**: ``s_r`` summarises
the arm's outcome across the markets of replication ``r`` (their mean, a lower quantile, or
the largest shortfall against the best policy there), and the arm's value is the mean of
``s_r`` over replications with a Student-t interval. Two arms are compared on the paired
differences ``s_r(a) - s_r(b)`` (:func:`simulation.runs.stats.paired_difference`), which
removes the luck they share. The replication noise inside one ``s_r`` makes a quantile or a
regret slightly cautious; it is the same for every arm, so comparisons stay fair.

Every function is pure: a runs table in, numbers or tables out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from simulation.experiments.optimise_spec import Objective
from simulation.runs.stats import LOWER_IS_BETTER, mean_ci, paired_difference

SEARCH = "search"
FRESH = "fresh"


def minimised(objective: Objective) -> bool:
    """Whether smaller values of the objective are better."""
    if objective.across in ("regret", "spread"):
        return True
    return objective.outcome in LOWER_IS_BETTER


def cell_table(runs: pd.DataFrame, arm: str, outcome: str, stream: str) -> pd.DataFrame:
    """One arm's outcome as a replication x market table (complete replications only)."""
    rows = runs[(runs["arm"] == arm) & (runs["stream"] == stream)]
    table = rows.pivot_table(index="replication", columns="market", values=outcome)
    return table.dropna(how="any")


def reference_best(
    runs: pd.DataFrame, references: list[str], objective: Objective, stream: str
) -> pd.DataFrame:
    """The best of the scenario's policies in every (replication, market) cell."""
    tables = [cell_table(runs, p, objective.outcome, stream) for p in references]
    tables = [t for t in tables if len(t)]
    if not tables:
        return pd.DataFrame()
    stacked = pd.concat(tables, keys=range(len(tables)))
    best = stacked.groupby(level=1)
    return best.min() if objective.outcome in LOWER_IS_BETTER else best.max()


def replication_scores(
    runs: pd.DataFrame,
    arm: str,
    objective: Objective,
    stream: str,
    best: pd.DataFrame | None = None,
) -> pd.Series:
    """The objective of one replication, ``s_r``, for each complete replication of an arm.

    Args:
        runs: the runs table.
        arm: the arm.
        objective: what is summarised.
        stream: ``search`` (the seeds of the search and the racing) or ``fresh``.
        best: for ``regret``: :func:`reference_best` of the same stream.
    """
    cells = cell_table(runs, arm, objective.outcome, stream)
    if cells.empty:
        return pd.Series(dtype=float)
    if objective.across == "mean":
        return cells.mean(axis=1)
    if objective.across == "quantile":
        q = 1 - objective.quantile if objective.outcome in LOWER_IS_BETTER else objective.quantile
        return cells.quantile(q, axis=1)
    if objective.across == "regret":
        assert best is not None
        common = cells.index.intersection(best.index)
        gap = best.loc[common, cells.columns] - cells.loc[common]
        if objective.outcome in LOWER_IS_BETTER:
            gap = -gap
        return gap.max(axis=1)
    # spread: one number for the arm, not a per-replication statistic
    return pd.Series([float(np.std(cells.to_numpy(), ddof=1))], index=[-1])


def regret_reference(
    runs: pd.DataFrame, references: list[str], objective: Objective, stream: str
) -> pd.DataFrame | None:
    """The references' best per replication where the objective is regret, else None."""
    if objective.across != "regret":
        return None
    return reference_best(runs, references, objective, stream)


def score(
    runs: pd.DataFrame,
    arm: str,
    objective: Objective,
    stream: str,
    references: list[str],
    confidence: float = 0.95,
) -> dict[str, float]:
    """An arm's objective: ``value`` with ``ci_low``, ``ci_high`` and ``n`` replications."""
    best = regret_reference(runs, references, objective, stream)
    values = replication_scores(runs, arm, objective, stream, best)
    if objective.across == "spread":
        value = float(values.iloc[0]) if len(values) else math.nan
        n = len(cell_table(runs, arm, objective.outcome, stream))
        return {"value": value, "ci_low": math.nan, "ci_high": math.nan, "n": n}
    mean, low, high = mean_ci(values.to_numpy(float), confidence)
    if len(values) < 2:
        low = high = math.nan
    return {"value": mean, "ci_low": low, "ci_high": high, "n": int(len(values))}


def compare(
    runs: pd.DataFrame,
    arm: str,
    baseline: str,
    objective: Objective,
    stream: str,
    references: list[str],
    confidence: float = 0.95,
) -> dict[str, float]:
    """Paired comparison ``arm - baseline`` of the objective over their common replications."""
    best = regret_reference(runs, references, objective, stream)
    a = replication_scores(runs, arm, objective, stream, best)
    b = replication_scores(runs, baseline, objective, stream, best)
    common = a.index.intersection(b.index)
    return paired_difference(
        a.loc[common].to_numpy(float),
        b.loc[common].to_numpy(float),
        lower_is_better=minimised(objective),
        confidence=confidence,
    )


def mean_outcome(runs: pd.DataFrame, arm: str, outcome: str, stream: str) -> float:
    """An arm's mean outcome over its runs of one stream (for constraints)."""
    rows = runs[(runs["arm"] == arm) & (runs["stream"] == stream)]
    return float(rows[outcome].mean()) if len(rows) and outcome in rows else math.nan


# --------------------------------------------------------------------------- racing
@dataclass
class RaceStatus:
    """Where the race stands: the leader and, per other candidate, its paired comparison."""

    leader: str
    table: pd.DataFrame  # arm, value, n, difference (leader - arm, better > 0), ci_low, ci_high

    @property
    def alive(self) -> list[str]:
        """Candidates the leader has not yet beaten beyond the noise."""
        return [str(a) for a in self.table.loc[~self.table["separated"], "arm"]]


def race_status(
    runs: pd.DataFrame,
    pool: list[str],
    objective: Objective,
    references: list[str],
    confidence: float = 0.95,
) -> RaceStatus:
    """The leader of ``pool`` on the search seeds, and whether each rival is separated from it.

    A rival is separated when the paired interval of ``leader - rival`` (oriented so that
    positive means the leader is better) lies wholly above zero.
    """
    sign = -1.0 if minimised(objective) else 1.0
    scores = {a: score(runs, a, objective, SEARCH, references, confidence) for a in pool}
    leader = max(pool, key=lambda a: (sign * scores[a]["value"], -pool.index(a)))
    rows = []
    for arm in pool:
        if arm == leader:
            continue
        paired = compare(runs, leader, arm, objective, SEARCH, references, confidence)
        low, high = sign * paired["ci_low"], sign * paired["ci_high"]
        low, high = min(low, high), max(low, high)
        rows.append(
            {
                "arm": arm,
                "value": scores[arm]["value"],
                "n": scores[arm]["n"],
                "difference": sign * paired["difference"],
                "ci_low": low,
                "ci_high": high,
                "separated": bool(low > 0),
            }
        )
    columns = ["arm", "value", "n", "difference", "ci_low", "ci_high", "separated"]
    return RaceStatus(leader, pd.DataFrame(rows, columns=columns))


def verdict(
    runs: pd.DataFrame,
    arms: list[str],
    references: list[str],
    objective: Objective,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Each arm against each of the scenario's policies, on the fresh seeds (paired).

    Returns:
        One row per (arm, reference): ``value`` of the arm, ``reference_value``,
        ``difference`` (arm - reference, in the objective's units), ``ci_low``, ``ci_high``,
        ``p_value``, ``share_better``, ``n`` and ``better`` (the interval lies wholly on the
        better side), ``worse`` (wholly on the worse side).
    """
    rows = []
    lower = minimised(objective)
    for arm in arms:
        for reference in references:
            if arm == reference:
                continue
            paired = compare(runs, arm, reference, objective, FRESH, references, confidence)
            low, high = paired["ci_low"], paired["ci_high"]
            rows.append(
                {
                    "arm": arm,
                    "reference": reference,
                    "value": paired["policy_mean"],
                    "reference_value": paired["baseline_mean"],
                    "difference": paired["difference"],
                    "ci_low": low,
                    "ci_high": high,
                    "p_value": paired["p_value"],
                    "share_better": paired["share_better"],
                    "n": paired["n"],
                    "better": bool(high < 0 if lower else low > 0),
                    "worse": bool(low > 0 if lower else high < 0),
                }
            )
    return pd.DataFrame(rows)


def best_by_market(
    runs: pd.DataFrame, arms: list[str], objective: Objective, stream: str = SEARCH
) -> pd.DataFrame:
    """In every sampled market, the arm with the best mean outcome over its replications.

    Returns:
        One row per market: ``market``, ``arm`` (the best there) and ``value`` (its mean).
    """
    rows = runs[(runs["stream"] == stream) & runs["arm"].isin(arms)]
    means = rows.groupby(["market", "arm"])[objective.outcome].mean().unstack("arm")
    lower = objective.outcome in LOWER_IS_BETTER
    best_arm = means.idxmin(axis=1) if lower else means.idxmax(axis=1)
    best_value = means.min(axis=1) if lower else means.max(axis=1)
    return pd.DataFrame(
        {"market": means.index, "arm": best_arm.to_numpy(), "value": best_value.to_numpy()}
    ).reset_index(drop=True)


def shortfall(
    runs: pd.DataFrame, arm: str, arms: list[str], objective: Objective, stream: str = SEARCH
) -> pd.Series:
    """Per market, how far ``arm``'s mean outcome falls short of the best arm's there."""
    rows = runs[(runs["stream"] == stream) & runs["arm"].isin(arms)]
    means = rows.groupby(["market", "arm"])[objective.outcome].mean().unstack("arm")
    if objective.outcome in LOWER_IS_BETTER:
        return (means[arm] - means.min(axis=1)).rename("shortfall")
    return (means.max(axis=1) - means[arm]).rename("shortfall")
