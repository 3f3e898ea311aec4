"""Cohort survival of the focal firm's new customers, counted as they join and leave."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd

# Above this horizon the (periods x periods) tables would be large; cohorts are then not kept.
MAX_COHORT_PERIODS = 1200

# Columns of :meth:`CohortTracker.table`.
COLUMNS = ("cohort", "age", "cohort_size", "active", "base_churn_sum")


class CohortTracker:
    """Counts, per acquisition period, how many joined and at which age they left.

    The baseline churn rates of leavers are summed too, so that the mean baseline rate of the
    survivors can be reported: it falls with age by selection alone (Fader & Hardie 2007).

    Args:
        periods: the run's horizon.
    """

    def __init__(self, periods: int):
        self.periods = periods
        self.size = np.zeros(periods + 1, dtype=np.int64)
        self.base_sum = np.zeros(periods + 1)
        self.lost = np.zeros((periods + 1, periods + 1), dtype=np.int64)
        self.base_lost = np.zeros((periods + 1, periods + 1))

    def join(self, period: int, base_rates: np.ndarray) -> None:
        """Record customers acquired in ``period``.

        Period 0 holds nobody: the initial customers joined before the run and are no cohort.
        """
        self.size[period] += len(base_rates)
        self.base_sum[period] += float(base_rates.sum(dtype=np.float64))

    def leave(self, cohort: np.ndarray, period: int, base_rates: np.ndarray) -> None:
        """Record customers of the given acquisition periods lost in ``period``."""
        keep = cohort >= 1
        cohort, base_rates = cohort[keep], base_rates[keep]
        age = period - cohort
        np.add.at(self.lost, (cohort, age), 1)
        np.add.at(self.base_lost, (cohort, age), base_rates.astype(np.float64))

    def table(self) -> pd.DataFrame:
        """Counts per cohort and age: cohort_size, active, base_churn_sum (of those active).

        One row per (cohort, age) for the non-empty cohorts, by cohort then age; ages run
        to the horizon.
        """
        return cohort_table(self.counts())

    def counts(self) -> CohortCounts | None:
        """The counts of :meth:`table`, compact (None if no cohort has anyone).

        Built from whole arrays: the running totals of leavers are cumulative sums along each
        cohort's row of the (cohort x age) tables, which add in the same order as one
        cumulative sum per cohort would.
        """
        cohorts = np.flatnonzero(self.size[1:]) + 1
        if len(cohorts) == 0:
            return None
        lengths = self.periods - cohorts + 1
        ages = np.arange(self.periods + 1)
        # (cohort x age) cells inside the horizon, in row-major order: by cohort, then age.
        inside = ages[None, :] < lengths[:, None]
        lost = np.cumsum(self.lost[cohorts], axis=1)[inside]
        base_lost = np.cumsum(self.base_lost[cohorts], axis=1)[inside]
        return CohortCounts(
            cohorts,
            lengths,
            self.size[cohorts],
            (np.repeat(self.size[cohorts], lengths) - lost).astype(np.int32),
            np.repeat(self.base_sum[cohorts], lengths) - base_lost,
        )


class CohortCounts(NamedTuple):
    """One run's counts per cohort and age, kept compact: a sweep's workers send them back.

    The rows of :meth:`CohortTracker.table` are each cohort's ages in turn; only what is
    active and its baseline churn differ from row to row (a third of the table's bytes).
    """

    cohorts: np.ndarray  # the cohorts with anyone, ascending
    ages: np.ndarray  # how many ages each is followed for (to the horizon)
    size: np.ndarray  # each cohort's size
    active: np.ndarray  # still active, by cohort then age (int32)
    base_churn_sum: np.ndarray  # the active ones' summed baseline churn, by cohort then age

    def columns(self) -> dict[str, np.ndarray]:
        """The columns of :meth:`CohortTracker.table`, one row per cohort and age."""
        starts = np.cumsum(self.ages) - self.ages
        age = np.arange(len(self.active)) - np.repeat(starts, self.ages)
        return {
            "cohort": np.repeat(self.cohorts, self.ages),
            "age": age,
            "cohort_size": np.repeat(self.size, self.ages),
            "active": self.active.astype(np.int64),
            "base_churn_sum": self.base_churn_sum,
        }


def cohort_table(counts: CohortCounts | None) -> pd.DataFrame:
    """:meth:`CohortTracker.table` from its counts (empty, with its column names, if none)."""
    if counts is None:
        return pd.DataFrame(columns=list(COLUMNS))
    return pd.DataFrame(counts.columns())


def finish_cohort_table(counts: pd.DataFrame) -> pd.DataFrame:
    """Turn pooled counts into ``cohorts.csv``: survival, mean baseline churn, hazard."""
    out = counts.copy()
    out["survival"] = out["active"] / out["cohort_size"]
    with np.errstate(invalid="ignore", divide="ignore"):
        out["mean_base_churn_rate"] = np.where(
            out["active"] > 0, out["base_churn_sum"] / out["active"], np.nan
        )
    keys = [c for c in ("policy", "cohort") if c in out.columns]
    previous = out.groupby(keys)["active"].shift(1)
    out["hazard"] = ((previous - out["active"]) / previous).where(previous > 0)
    return out.drop(columns="base_churn_sum")
