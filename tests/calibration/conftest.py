"""Shared data of the calibration tests: the CDNOW sample as a CSV log, and simulated logs.

The CDNOW files ship with the ``lifetimes`` package; they are located through its installed
distribution (the package itself is never imported) and the tests that need them are
skipped, with the reason, when it is absent.
"""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from simulation.calibration import CalibrationResult, calibrate_log, gamma_gamma

CDNOW_UNTIL = "1997-09-30"
"""End of the 39-week calibration period of the CDNOW studies (1997-01-01 + 272 days)."""


def cdnow_file(name: str) -> Path:
    """Path of a CDNOW data file inside the installed ``lifetimes`` distribution, or skip."""
    try:
        distribution = importlib.metadata.distribution("lifetimes")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("the CDNOW data ship with the lifetimes package: pip install lifetimes")
    path = Path(str(distribution.locate_file(f"lifetimes/datasets/{name}")))
    if not path.is_file():
        pytest.skip(f"lifetimes {distribution.version} has no datasets/{name}")
    return path


def read_cdnow_sample() -> pd.DataFrame:
    """The CDNOW sample (master id, id, YYYYMMDD, CDs, dollars) as customer, date, amount."""
    raw = pd.read_csv(
        cdnow_file("CDNOW_sample.txt"),
        sep=r"\s+",
        header=None,
        names=["master_id", "id", "date", "cds", "dollars"],
        dtype={"master_id": str, "id": str, "date": str},
    )
    return pd.DataFrame(
        {
            "customer_id": raw["id"],
            "order_date": pd.to_datetime(raw["date"], format="%Y%m%d").dt.strftime("%Y-%m-%d"),
            "sales": raw["dollars"],
        }
    )


@pytest.fixture(scope="session")
def cdnow_csv(tmp_path_factory) -> Path:
    """The CDNOW sample written as a CSV log with guessable column names."""
    path = tmp_path_factory.mktemp("cdnow") / "cdnow_sample.csv"
    read_cdnow_sample().to_csv(path, index=False)
    return path


@pytest.fixture(scope="session")
def cdnow_result(cdnow_csv) -> CalibrationResult:
    """The CDNOW sample calibrated on its first 39 weeks (both purchase models fitted)."""
    return calibrate_log(cdnow_csv, until=CDNOW_UNTIL)


def simulated_log(
    module,
    params,
    spend_params,
    n_customers: int,
    rng: np.random.Generator,
    unit_days: float = 7.0,
    acquisition_days: int = 84,
    days: int = 546,
) -> pd.DataFrame:
    """A transaction log drawn from a purchase model and the Gamma-Gamma spend model.

    Customers are born (first purchase) on a uniformly drawn day of the first
    ``acquisition_days``; the log covers ``days`` days from 1997-01-01. Model time is in
    units of ``unit_days`` days: a purchase at time ``tau`` after birth is dated
    ``birth + ceil(unit_days * tau)`` days. With the CDNOW convention of the summary
    (``T = (until - birth) / unit_days``) a purchase is then in the calibration period
    exactly when ``tau <= T``, as in the model, and recency is rounded up by less than a
    day. Only purchases of one customer on one day, which the reader merges, depart from the
    model.
    """
    birth = rng.integers(0, acquisition_days, size=n_customers)
    _, purchases = module.simulate(params, (days - 1 - birth) / unit_days, rng)
    repeat_owner = purchases["customer"].to_numpy()
    owner = np.concatenate([np.arange(n_customers), repeat_owner])
    day = np.concatenate(
        [birth, birth[repeat_owner] + np.ceil(purchases["time"].to_numpy() * unit_days).astype(int)]
    )
    order = np.argsort(owner, kind="stable")
    owner, day = owner[order], day[order]
    _, amounts = gamma_gamma.simulate(spend_params, np.bincount(owner), rng)
    return pd.DataFrame(
        {
            "customer": [f"c{i:05d}" for i in owner],
            "date": (pd.Timestamp("1997-01-01") + pd.to_timedelta(day, unit="D")).strftime(
                "%Y-%m-%d"
            ),
            "amount": amounts["amount"].to_numpy().round(2),
        }
    )


@pytest.fixture
def make_log():
    """The :func:`simulated_log` function."""
    return simulated_log
