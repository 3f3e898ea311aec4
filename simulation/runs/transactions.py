"""Transaction logs: every purchase of a run, streamed to disk period by period.

A log has one row per transaction: ``customer_id, firm, date, amount, channel, source``
(``source``: how the customer came to the firm it bought from: ``start`` for the customers the
firms had when the run began, ``advertising``, ``referral``, ``win-back``, ``switch`` from a
rival). It is the format ``relsim calibrate`` reads, so relsim can make ground-truth data for
any customer-base estimator.

Dates spread a period's transactions uniformly within it, from ``START_DATE``; a customer's
amounts split the period's revenue from it equally, or, under the Gamma-Gamma spend model, in
Gamma(p) proportions (the transactions' own spread). Both come from a generator of the log's
own, seeded from the run's seed: writing a log never changes the run.

Rows are written per period (Parquet row groups, or CSV lines without pyarrow), so a long run
of a large market holds one period in memory, not the whole log.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from simulation.market.population import ORIGINS
from simulation.scenario.schema import CHANNELS

if TYPE_CHECKING:
    from simulation.market.model import RelationshipMarket

START_DATE = np.datetime64("2024-01-01")
DAYS_PER_MONTH = 365.25 / 12
COLUMNS = ("customer_id", "firm", "date", "amount", "channel", "source")
SOURCES = {
    "initial": "start",
    "advertising": "advertising",
    "referral": "referral",
    "win_back": "win-back",
    "from_rival": "switch",
}
# A stream of the log's own, apart from every stream of the model.
LOG_STREAM = 7_919


def parquet_available() -> bool:
    """Whether pyarrow (the ``parquet`` extra) is installed."""
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        return False
    return True


def log_file_name(policy: str, replication: int, parquet: bool) -> str:
    """The file of one run's log inside a results folder's ``transactions/``."""
    return f"{policy}-{replication}.{'parquet' if parquet else 'csv'}"


class TransactionLog:
    """Writes one run's transactions to ``path`` (Parquet if it ends so, else CSV).

    Args:
        path: the file to write (its folder must exist).
        seed: the run's seed; the log's dates and splits are drawn from a stream of its own.
    """

    def __init__(self, path: str | Path, seed: int):
        self.path = Path(path)
        self.seed = int(seed)
        self._rng = np.random.Generator(np.random.PCG64DXSM([self.seed, LOG_STREAM]))
        self._writer: Any = None
        self._file: Any = None
        self.rows = 0

    def record(self, model: RelationshipMarket) -> None:
        """Append the transactions of the period ``model`` has just run."""
        table = self.period_table(model)
        if table.empty:
            return
        self.rows += len(table)
        if self.path.suffix == ".parquet":
            self._write_parquet(table)
        else:
            self._write_csv(table)

    def period_table(self, model: RelationshipMarket) -> pd.DataFrame:
        """This period's transactions as a table, one row per transaction."""
        pop = model.population
        buyers = np.flatnonzero(pop.transactions > 0)
        if buyers.size == 0:
            return pd.DataFrame(columns=list(COLUMNS))
        counts = pop.transactions[buyers].astype(np.int64)
        rows = np.repeat(buyers, counts)
        firm = np.where(pop.firm[rows] < model.n_firms, pop.firm[rows], pop.last_firm[rows])
        return pd.DataFrame(
            {
                "customer_id": rows.astype(np.int64),
                "firm": pd.Categorical.from_codes(firm, model.firm_names),
                "date": self._dates(model, rows.size),
                "amount": self._amounts(model, buyers, counts),
                "channel": pd.Categorical.from_codes(pop.channel[rows], CHANNELS),
                "source": pd.Categorical.from_codes(
                    pop.origin[rows], [SOURCES[o] for o in ORIGINS]
                ),
            }
        )

    def _dates(self, model: RelationshipMarket, n: int) -> np.ndarray:
        """Days from ``START_DATE``: each transaction at a uniform time within the period."""
        months = (model.steps - 1 + self._rng.random(n)) * model.dt
        days = np.floor(months * DAYS_PER_MONTH).astype("timedelta64[D]")
        return (START_DATE + days).astype("datetime64[ns]")

    def _amounts(
        self, model: RelationshipMarket, buyers: np.ndarray, counts: np.ndarray
    ) -> np.ndarray:
        """Each transaction's amount: the period's revenue of its customer, split."""
        spent = np.repeat(model.population.spent[buyers].astype(np.float64), counts)
        spend = model.config.market.customer.purchase.spend
        if spend is None:
            return spent / np.repeat(counts, counts)
        weights = self._rng.standard_gamma(spend.p, size=spent.size)
        starts = np.r_[0, np.cumsum(counts)[:-1]]
        totals = np.repeat(np.add.reduceat(weights, starts), counts)
        return spent * weights / totals

    def _write_parquet(self, table: pd.DataFrame) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        batch = pa.Table.from_pandas(table, preserve_index=False)
        if self._writer is None:
            self._writer = pq.ParquetWriter(self.path, batch.schema)
        self._writer.write_table(batch.cast(self._writer.schema))

    def _write_csv(self, table: pd.DataFrame) -> None:
        if self._file is None:
            self._file = open(self.path, "w", newline="", encoding="utf-8")  # noqa: SIM115
            csv.writer(self._file).writerow(COLUMNS)
        out = table.assign(date=table["date"].dt.strftime("%Y-%m-%d"))
        out.to_csv(self._file, header=False, index=False, float_format="%.4f")

    def close(self) -> None:
        """Finish the file; a run without any transaction still leaves a log with a header."""
        if self._writer is None and self._file is None:
            self._write_empty()
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        if self._file is not None:
            self._file.close()
            self._file = None

    def _write_empty(self) -> None:
        if self.path.suffix == ".parquet":
            empty = pd.DataFrame({c: pd.Series(dtype="object") for c in COLUMNS})
            empty.to_parquet(self.path, index=False)
        else:
            self.path.write_text(",".join(COLUMNS) + "\n", encoding="utf-8")


def read_log(path: str | Path) -> pd.DataFrame:
    """A transaction log written by :class:`TransactionLog` (Parquet or CSV)."""
    path = Path(path)
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    return pd.read_csv(path, parse_dates=["date"])
