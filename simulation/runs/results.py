"""What runs produce: one run's results, and a scenario's tables pooled from its runs."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from simulation.market.cohorts import CohortCounts, cohort_table
from simulation.runs.stats import EQUIVALENCE_MARGIN
from simulation.scenario.schema import Scenario


@dataclass
class RunResult:
    """What one run of one policy produced (the focal firm's outcomes, and all firms' books).

    Its tables are kept as columns (numpy arrays) and made into data frames when first read:
    a sweep pools hundreds of runs' columns at once (:mod:`.pooling`), and a search never
    reads them, so a frame per run would cost more than it serves.
    """

    policy: str
    replication: int
    seed: int
    timeseries_columns: dict[str, np.ndarray]
    summary: dict[str, float]
    cohort_counts: CohortCounts | None
    lifetime_values: np.ndarray
    keeps_timeseries: bool = True
    """False: only the columns' types are kept (one row, which the table drops)."""

    @cached_property
    def timeseries(self) -> pd.DataFrame:
        """One row per period and firm (:func:`firm_timeseries`), with policy and replication."""
        table = pd.DataFrame(
            {"policy": self.policy, "replication": self.replication, **self.timeseries_columns}
        )
        return table if self.keeps_timeseries else table.iloc[0:0]

    @cached_property
    def cohorts(self) -> pd.DataFrame:
        """The focal firm's cohort counts (:meth:`.CohortTracker.table`); empty if untracked."""
        return cohort_table(self.cohort_counts)


@dataclass
class ScenarioResults:
    """Every run of a scenario, as the tidy tables of ``docs/outputs.md``."""

    scenario: Scenario
    policies: list[str]
    seeds: list[int]
    timeseries: pd.DataFrame
    summary: pd.DataFrame
    cohorts: pd.DataFrame
    lifetime_values: pd.DataFrame
    comparison: pd.DataFrame = field(default_factory=pd.DataFrame)
    equivalence_margin: float = EQUIVALENCE_MARGIN
    """Differences in NPV within this share of a policy's NPV are practical ties."""
    until_decided: dict[str, Any] | None = None
    """How replications were added until the verdict settled (``start``, ``cap``,
    ``settled``), or None when the number was fixed."""
