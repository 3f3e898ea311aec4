"""The scenario's tables pooled from its runs' tables: timeseries, cohorts and lifetime values.

A sweep has hundreds of runs; the parent process pools their tables once every worker has
finished, so this work is not shared among the workers and is kept to whole-array steps.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from simulation.market.cohorts import finish_cohort_table

if TYPE_CHECKING:
    from simulation.runs.results import RunResult


def pooled_timeseries(results: list[RunResult]) -> pd.DataFrame:
    """``timeseries.csv``: the runs' tables one after another, as ``pd.concat`` would join them.

    Joined column by column from the runs' columns: a frame per run, then their
    concatenation, cost the parent as much as pooling everything else.
    """
    if not results:
        return pd.DataFrame()
    lengths = [len(r.timeseries_columns["period"]) if r.keeps_timeseries else 0 for r in results]
    if sum(lengths) == 0:  # the columns' names and types, from a run's one-row table
        return results[0].timeseries.reset_index(drop=True)
    kept = [r for r, length in zip(results, lengths, strict=True) if length]
    owners = np.array([r.policy for r in kept], dtype=object)
    columns = {
        "policy": _text(np.repeat(owners, [length for length in lengths if length])),
        "replication": np.repeat([r.replication for r in kept], [n for n in lengths if n]),
    }
    for name in kept[0].timeseries_columns:
        column = np.concatenate([r.timeseries_columns[name] for r in kept])
        columns[name] = _text(column) if column.dtype == object else column
    return pd.DataFrame(columns)


def pooled_cohorts(results: list[RunResult]) -> pd.DataFrame:
    """``cohorts.csv``: each policy's cohort counts summed over its runs, then finished.

    The rows and sums of pandas' ``groupby(["policy", "cohort", "age"], sort=False).sum()``
    over the runs' tables one after another, accumulated run by run on a (cohort x age) grid
    per policy: the concatenated table of a sweep (millions of rows) cost more than the rest
    of its results together. Rows come in order of first appearance; floats are summed as
    pandas sums them (Kahan's compensated sum, in run order), so the table is the same.
    """
    kept = [(r.policy, r.cohort_counts.columns()) for r in results if r.cohort_counts is not None]
    if not kept:
        return pd.DataFrame()
    tables = [(policy, columns["cohort"], columns["age"]) for policy, columns in kept]
    span = 1 + max(max(cohort.max(), age.max()) for _, cohort, age in tables)
    sums: dict[str, _CohortSums] = {}
    rows: list[tuple[str, np.ndarray]] = []
    for (policy, columns), (_, cohort, age) in zip(kept, tables, strict=True):
        grid = sums.setdefault(policy, _CohortSums(span * span))
        rows.append((policy, grid.add(cohort * span + age, columns)))
    cells = np.concatenate([fresh for _, fresh in rows])
    owners = np.array([policy for policy, _ in rows], dtype=object)
    columns = {
        "policy": _text(np.repeat(owners, [len(fresh) for _, fresh in rows])),
        "cohort": cells // span,
        "age": cells % span,
    }
    for name in ("cohort_size", "active", "base_churn_sum"):
        columns[name] = np.concatenate([sums[p].totals[name][fresh] for p, fresh in rows])
    return finish_cohort_table(pd.DataFrame(columns))


class _CohortSums:
    """One policy's cohort counts summed over its runs, on a grid of (cohort x age) cells."""

    def __init__(self, cells: int):
        self.size = np.zeros(cells, dtype=np.int64)
        self.active = np.zeros(cells, dtype=np.int64)
        self.base = np.zeros(cells)
        self.carry = np.zeros(cells)  # Kahan's running compensation
        self.seen = np.zeros(cells, dtype=bool)
        # The sums by column of cohorts.csv, one per cell (the arrays above, not copies).
        self.totals = {"cohort_size": self.size, "active": self.active, "base_churn_sum": self.base}

    def add(self, cell: np.ndarray, table: dict[str, np.ndarray]) -> np.ndarray:
        """Add one run's table (its rows at ``cell``); return the cells it is the first to have."""
        fresh = cell[~self.seen[cell]]
        self.seen[fresh] = True
        self.size[cell] += table["cohort_size"]
        self.active[cell] += table["active"]
        y = table["base_churn_sum"] - self.carry[cell]
        total = self.base[cell] + y
        carry = (total - self.base[cell]) - y
        self.carry[cell] = np.where(np.isnan(carry), 0.0, carry)
        self.base[cell] = total
        return fresh


def lifetime_values(results: list[RunResult]) -> pd.DataFrame:
    """``lifetime_values.csv``: each run's sample of expected lifetime values, run after run."""
    lengths = [len(r.lifetime_values) for r in results]
    policies = np.array([r.policy for r in results], dtype=object)
    replications = np.array([r.replication for r in results], dtype=np.int64)
    return pd.DataFrame(
        {
            "policy": _text(np.repeat(policies, lengths)),
            "replication": np.repeat(replications, lengths),
            "expected_clv": np.concatenate([r.lifetime_values for r in results]),
        }
    )


def _text(values: np.ndarray) -> pd.Series:
    """Names as a column of pandas' default text type (also when there are none)."""
    return pd.Series(values, dtype=pd.Series([""]).dtype, copy=False)
