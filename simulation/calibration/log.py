"""A firm's transaction log: reading it, and summarising it per customer for the models.

A transaction log has one row per transaction: who bought (a customer id), when (a date) and
how much (an amount). :func:`read_log` reads it from CSV or Parquet, finds the three columns
(named by the caller or guessed from common names) and checks every value; any problem is a
:class:`~simulation.errors.UserError` of one line naming the file, the field and the value.

Transactions by the same customer on the same day are merged into one transaction whose
amount is the day's total. The customer-base models count purchase occasions in continuous
time, and a log dated to the day cannot order two purchases of one day, so this is the usual
convention for CDNOW [1, 2] (one CDNOW "transaction" is one customer-day).

:func:`summarise_customers` turns the log into what the models need, for a calibration end
date (``until``, inclusive) and a time unit (a week of 7 days or a month of 365.25/12 days).
Following the CDNOW convention [1, 3], each customer's clock starts at their first purchase:

* ``x`` (frequency): the number of repeat transactions up to ``until`` (the first is not
  counted);
* ``t_x`` (recency): the time from the first to the last transaction up to ``until``
  (0 when ``x`` is 0);
* ``T``: the time from the first purchase to ``until``;
* ``mean_spend``: the mean amount of the repeat transactions up to ``until`` (the first
  transaction is left out, as in the Gamma-Gamma model of [2]; missing when ``x`` is 0);
* ``holdout_x``: the number of transactions after ``until``.

Times are whole days divided by the length of the unit (so a week is ``days / 7``). Only the
customers whose first purchase is on or before ``until`` (the calibration cohort) are in the
summary; later first purchases still count as acquisitions.

The summary also cuts time into periods of one unit, laid out so that a period ends exactly
at the end of ``until``: the periods before it are the calibration periods, those after it
the holdout periods (the first and last period may be shorter than a unit). Per period it
counts the repeat transactions of the calibration cohort and the first purchases of all
customers, for the tracking plot and the acquisition fit.

References:
    1. Fader, P. S., Hardie, B. G. S. & Lee, K. L. (2005). "Counting your customers" the
       easy way: an alternative to the Pareto/NBD model. Marketing Science 24(2), 275-284.
    2. Fader, P. S., Hardie, B. G. S. & Lee, K. L. (2005). RFM and CLV: using iso-value
       curves for customer base analysis. Journal of Marketing Research 42(4), 415-430.
    3. Fader, P. S. & Hardie, B. G. S. (2001). Forecasting repeat sales at CDNOW: a case
       study. Interfaces 31(3), S94-S107.
"""

from __future__ import annotations

import csv
import importlib.util
import math
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from simulation.errors import UserError

UNIT_DAYS: dict[str, float] = {"week": 7.0, "month": 365.25 / 12}
"""Length of each time unit in days (a month is the mean Gregorian month)."""

CANDIDATES: dict[str, tuple[str, ...]] = {
    "customer": ("customer", "customer_id", "cust", "cust_id", "id", "user_id", "client_id"),
    "date": ("date", "order_date", "transaction_date", "purchase_date", "timestamp", "time"),
    "amount": (
        "amount",
        "sales",
        "spend",
        "revenue",
        "value",
        "price",
        "dollar_value",
        "dollars",
        "total",
    ),
}
"""Column names tried, in this order, when the caller does not name a column (case, spaces
and hyphens are ignored)."""

PARQUET_SUFFIXES = (".parquet", ".pq")


@dataclass(frozen=True)
class TransactionLog:
    """A checked transaction log, one row per customer and day.

    Attributes:
        transactions: columns ``customer`` (str), ``date`` (datetime64, midnight) and
            ``amount`` (float, the day's total), sorted by customer and date.
        path: the file it was read from.
        columns: the log's own names of the three columns, keyed by ``customer``, ``date``
            and ``amount``, so that a caller can echo what was used.
        n_rows: the number of rows read from the file, before same-day merging.
    """

    transactions: pd.DataFrame
    path: Path
    columns: dict[str, str]
    n_rows: int

    @property
    def start(self) -> pd.Timestamp:
        """The date of the first transaction."""
        return self.transactions["date"].min()

    @property
    def end(self) -> pd.Timestamp:
        """The date of the last transaction."""
        return self.transactions["date"].max()

    @property
    def n_customers(self) -> int:
        """The number of distinct customers."""
        return int(self.transactions["customer"].nunique())


@dataclass(frozen=True)
class CustomerSummary:
    """What the customer-base models need from a log, for one calibration end and time unit.

    Attributes:
        customers: one row per customer of the calibration cohort, indexed by customer id,
            with columns ``first_date``, ``birth`` (time of the first purchase since the
            start of the log), ``x``, ``t_x``, ``T``, ``mean_spend`` and ``holdout_x``
            (see the module docstring).
        periods: one row per period, with columns ``period`` (1, 2, ...), ``first_day`` and
            ``last_day`` (dates), ``time`` (the end of the period since the start of the
            log, in units), ``phase`` (``calibration`` or ``holdout``),
            ``repeat_transactions`` (of the calibration cohort) and ``first_purchases``.
        start: the first date of the log.
        until: the last date of the calibration period (inclusive).
        end: the last date of the log (the end of the holdout period).
        unit: ``week`` or ``month``.
        source: the file the log came from, for messages.
    """

    customers: pd.DataFrame
    periods: pd.DataFrame
    start: pd.Timestamp
    until: pd.Timestamp
    end: pd.Timestamp
    unit: str
    source: str

    @property
    def unit_days(self) -> float:
        """The length of one time unit in days."""
        return UNIT_DAYS[self.unit]

    @property
    def calibration_end(self) -> float:
        """The end of the calibration period, in units since the start of the log."""
        return ((self.until - self.start).days + 1) / self.unit_days

    @property
    def holdout_length(self) -> float:
        """The length of the holdout period in units (0 when there is none)."""
        return (self.end - self.until).days / self.unit_days

    @property
    def has_holdout(self) -> bool:
        """Whether the log goes on after the calibration end."""
        return self.end > self.until


def read_log(
    path: str | Path,
    customer: str | None = None,
    date: str | None = None,
    amount: str | None = None,
) -> TransactionLog:
    """Read and check a transaction log from a CSV or Parquet file.

    CSV files must have a header line; the delimiter (comma, semicolon, tab or bar) is
    detected. Files ending in ``.parquet`` or ``.pq`` are read as Parquet (this needs
    pyarrow). Dates may be ISO 8601 (``2024-01-31``, with or without a time of day),
    ``YYYYMMDD`` or any single format pandas can infer; times of day are dropped. Same-day
    transactions of one customer are merged (amounts summed).

    Args:
        path: the log file.
        customer: the name of the customer-id column; guessed from :data:`CANDIDATES` if
            not given.
        date: the name of the date column; guessed if not given.
        amount: the name of the amount column; guessed if not given.

    Returns:
        The checked log, with the column names used.

    Raises:
        UserError: the file is missing, unreadable or empty, a column is missing, or a value
            is unusable (empty customer id, unparseable date, non-numeric or negative
            amount); the message gives the line number (the header is line 1).
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: log file not found")
    parquet = path.name.lower().endswith(PARQUET_SUFFIXES)
    raw = _read_parquet(path) if parquet else _read_csv(path)
    where = _row_label(parquet)
    names = {
        "customer": _find_column(path, raw, "customer", customer),
        "date": _find_column(path, raw, "date", date),
        "amount": _find_column(path, raw, "amount", amount),
    }
    for role, other in (("customer", "date"), ("customer", "amount"), ("date", "amount")):
        if names[role] == names[other]:
            raise UserError(
                f"{path}: column {names[role]!r} cannot be both the {role} and the {other}"
            )
    frame = raw[list(names.values())]
    frame = frame[~_blank(frame).all(axis=1)]
    if frame.empty:
        columns = ", ".join(str(c) for c in raw.columns)
        raise UserError(f"{path}: the log has no transactions (only the header: {columns})")
    ids = _parse_customers(path, frame[names["customer"]], names["customer"], where)
    days = _parse_dates(path, frame[names["date"]], names["date"], where)
    amounts = _parse_amounts(path, frame[names["amount"]], names["amount"], where)
    table = pd.DataFrame({"customer": ids, "date": days, "amount": amounts})
    merged = table.groupby(["customer", "date"], sort=True, as_index=False)["amount"].sum()
    return TransactionLog(transactions=merged, path=path, columns=names, n_rows=int(len(frame)))


def parse_until(log: TransactionLog, until: object) -> pd.Timestamp:
    """The calibration end date, checked against the log.

    Args:
        log: the transaction log.
        until: a date (string, :class:`datetime.date` or timestamp), or ``None`` for the
            log's last date (no holdout period).

    Returns:
        The date, at midnight.

    Raises:
        UserError: ``until`` is not a date or lies outside the log's dates.
    """
    if until is None:
        return log.end
    try:
        day = pd.Timestamp(until)
    except (ValueError, TypeError):
        day = pd.NaT
    if pd.isna(day):
        raise UserError(f"{log.path}: until {until!r} is not a date (expected e.g. 1997-09-30)")
    day = day.tz_localize(None).normalize() if day.tzinfo else day.normalize()
    if not log.start <= day <= log.end:
        raise UserError(
            f"{log.path}: until {day:%Y-%m-%d} is outside the log's dates "
            f"{log.start:%Y-%m-%d} to {log.end:%Y-%m-%d}"
        )
    return day


def summarise_customers(
    log: TransactionLog, until: object = None, unit: str = "week"
) -> CustomerSummary:
    """Per-customer frequency, recency, age, mean spend and holdout counts, and per-period counts.

    Args:
        log: the transaction log.
        until: the last day of the calibration period (inclusive); the log's last date (no
            holdout) if ``None``.
        unit: ``week`` (7 days) or ``month`` (365.25/12 days).

    Returns:
        The summary (see :class:`CustomerSummary` and the module docstring).

    Raises:
        UserError: ``until`` is not a date within the log, or ``unit`` is unknown.
    """
    if unit not in UNIT_DAYS:
        raise UserError(f"{log.path}: unit {unit!r} is not one of {', '.join(UNIT_DAYS)}")
    length = UNIT_DAYS[unit]
    cut = parse_until(log, until)
    start, end = log.start, log.end
    tx = log.transactions
    day = ((tx["date"] - start).dt.days).to_numpy()
    codes, ids = pd.factorize(tx["customer"], sort=False)
    first = np.full(len(ids), np.iinfo(np.int64).max)
    np.minimum.at(first, codes, day)
    u = (cut - start).days
    in_cohort = first[codes] <= u
    calibration = day <= u
    repeat = day > first[codes]
    amount = tx["amount"].to_numpy(dtype=float)

    n = len(ids)
    cal_repeat = calibration & repeat
    x = np.bincount(codes[cal_repeat], minlength=n)
    spend = np.bincount(codes[cal_repeat], weights=amount[cal_repeat], minlength=n)
    last = first.copy()
    np.maximum.at(last, codes[calibration], day[calibration])
    holdout = np.bincount(codes[~calibration], minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_spend = np.where(x > 0, spend / np.maximum(x, 1), np.nan)
    customers = pd.DataFrame(
        {
            "first_date": start + pd.to_timedelta(first, unit="D"),
            "birth": first / length,
            "x": x,
            "t_x": (last - first) / length,
            "T": (u - first) / length,
            "mean_spend": mean_spend,
            "holdout_x": holdout,
        },
        index=pd.Index(ids, name="customer"),
    )
    customers = customers[first <= u]

    periods = _periods(start, cut, end, length)
    e = (end - start).days
    grid = periods["last_day_number"].to_numpy()
    period_of = np.searchsorted(grid, np.arange(e + 1))  # day number -> period row
    cohort_repeats = np.bincount(period_of[day[repeat & in_cohort]], minlength=len(periods))
    firsts = np.bincount(period_of[first], minlength=len(periods))
    periods["repeat_transactions"] = cohort_repeats
    periods["first_purchases"] = firsts
    periods = periods.drop(columns=["last_day_number"])
    return CustomerSummary(
        customers=customers,
        periods=periods,
        start=start,
        until=cut,
        end=end,
        unit=unit,
        source=str(log.path),
    )


def period_last_days(summary: CustomerSummary) -> np.ndarray:
    """The last day of each period, as a number of days since the start of the log."""
    return (summary.periods["last_day"] - summary.start).dt.days.to_numpy()


def _periods(
    start: pd.Timestamp, until: pd.Timestamp, end: pd.Timestamp, length: float
) -> pd.DataFrame:
    """Periods of one unit, a boundary falling at the end of ``until``, clipped to the log."""
    u, e = (until - start).days, (end - start).days
    before = math.ceil((u + 1) / length - 1e-9)
    after = math.ceil((e - u) / length - 1e-9)
    bounds = u + 1 + length * np.arange(-before, after + 1)
    # A day d (a whole number) is in period k when bounds[k-1] <= d < bounds[k].
    first_day = np.maximum(np.ceil(bounds[:-1] - 1e-9), 0).astype(int)
    last_day = np.minimum(np.ceil(bounds[1:] - 1e-9) - 1, e).astype(int)
    keep = last_day >= first_day
    first_day, last_day = first_day[keep], last_day[keep]
    return pd.DataFrame(
        {
            "period": np.arange(1, len(first_day) + 1),
            "first_day": start + pd.to_timedelta(first_day, unit="D"),
            "last_day": start + pd.to_timedelta(last_day, unit="D"),
            "time": (last_day + 1) / length,
            "phase": np.where(last_day <= u, "calibration", "holdout"),
            "last_day_number": last_day,
        }
    )


def _row_label(parquet: bool):
    """How to name a row in a message: a line of a CSV file (header = line 1) or a row."""
    if parquet:
        return lambda i: f"row {i + 1}"
    return lambda i: f"line {i + 2}"


def _read_csv(path: Path) -> pd.DataFrame:
    try:
        with open(path, newline="", encoding="utf-8-sig", errors="replace") as handle:
            head = handle.read(65536)
    except OSError as error:
        raise UserError(f"{path}: cannot read the log ({error.strerror})") from None
    if not head.strip():
        raise UserError(f"{path}: the log file is empty")
    try:
        sep = csv.Sniffer().sniff(head.splitlines()[0], delimiters=",;\t|").delimiter
    except csv.Error:
        sep = ","
    try:
        return pd.read_csv(
            path,
            sep=sep,
            dtype=str,
            keep_default_na=False,
            skip_blank_lines=False,
            encoding="utf-8-sig",
            skipinitialspace=True,
        )
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as error:
        message = " ".join(str(error).split())
        raise UserError(f"{path}: not a readable CSV log ({message})") from None


def _pyarrow_available() -> bool:
    """Whether pyarrow, which pandas needs to read Parquet, is installed."""
    return importlib.util.find_spec("pyarrow") is not None


def _read_parquet(path: Path) -> pd.DataFrame:
    if not _pyarrow_available():
        raise UserError(
            f"{path}: reading Parquet needs pyarrow, which is not installed "
            "(pip install pyarrow, or save the log as CSV)"
        )
    try:
        return pd.read_parquet(path, engine="pyarrow")
    except Exception as error:  # pyarrow raises several unrelated types for bad files
        message = " ".join(str(error).split())
        raise UserError(f"{path}: not a readable Parquet log ({message})") from None


def _normal(name: object) -> str:
    return re.sub(r"[\s\-]+", "_", str(name).strip().lower())


def _find_column(path: Path, frame: pd.DataFrame, role: str, given: str | None) -> str:
    columns = [str(c) for c in frame.columns]
    if given is not None:
        if given in columns:
            return given
        matches = [c for c in columns if _normal(c) == _normal(given)]
        if len(matches) == 1:
            return matches[0]
        raise UserError(
            f"{path}: {role} column {given!r} not found; the columns are {', '.join(columns)}"
        )
    by_normal = {}
    for c in columns:
        by_normal.setdefault(_normal(c), c)
    for candidate in CANDIDATES[role]:
        if candidate in by_normal:
            return by_normal[candidate]
    raise UserError(
        f"{path}: no {role} column (tried {', '.join(CANDIDATES[role])}); "
        f"the columns are {', '.join(columns)}; name the {role} column explicitly"
    )


def _blank(frame: pd.DataFrame) -> np.ndarray:
    """Which cells are missing or only white space (a boolean array shaped like ``frame``)."""
    blank = frame.isna().to_numpy(dtype=bool)
    for i, name in enumerate(frame.columns):
        column = frame[name]
        if not pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_datetime64_any_dtype(
            column
        ):
            blank[:, i] |= (column.astype(str).str.strip() == "").to_numpy(dtype=bool)
    return blank


def _first_bad(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask)[0])


def _parse_customers(path: Path, values: pd.Series, name: str, where) -> np.ndarray:
    text = values.astype(str).str.strip()
    blank = values.isna().to_numpy() | (text == "").to_numpy()
    if blank.any():
        i = _first_bad(blank)
        raise UserError(
            f"{path}: {where(values.index[i])}: customer id in column {name!r} is empty"
        )
    return text.to_numpy(dtype=object)


def _parse_dates(path: Path, values: pd.Series, name: str, where) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        parsed = values
        if getattr(values.dt, "tz", None) is not None:
            parsed = values.dt.tz_localize(None)
        bad = parsed.isna().to_numpy()
    else:
        text = values.astype(str).str.strip()
        parsed, bad = None, None
        formats = ["%Y%m%d"] if text.str.fullmatch(r"\d{8}").all() else ["ISO8601", None]
        for fmt in formats:
            try:
                with warnings.catch_warnings():  # "could not infer format": tried last anyway
                    warnings.simplefilter("ignore", UserWarning)
                    attempt = pd.to_datetime(text, format=fmt, errors="coerce")
            except (ValueError, TypeError):
                continue
            if getattr(attempt.dt, "tz", None) is not None:
                attempt = attempt.dt.tz_localize(None)
            miss = attempt.isna().to_numpy()
            if bad is None or miss.sum() < bad.sum():
                parsed, bad = attempt, miss
            if not miss.any():
                break
        if parsed is None:
            parsed, bad = pd.Series(pd.NaT, index=values.index), np.ones(len(values), bool)
    if bad.any():
        i = _first_bad(bad)
        raise UserError(
            f"{path}: {where(values.index[i])}: date {str(values.iloc[i])!r} in column "
            f"{name!r} is not a date (expected e.g. 1997-09-30)"
        )
    return parsed.dt.normalize().astype("datetime64[ns]")


def _parse_amounts(path: Path, values: pd.Series, name: str, where) -> np.ndarray:
    numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(numbers)
    if bad.any():
        i = _first_bad(bad)
        raise UserError(
            f"{path}: {where(values.index[i])}: amount {str(values.iloc[i])!r} in column "
            f"{name!r} is not a number"
        )
    negative = numbers < 0
    if negative.any():
        i = _first_bad(negative)
        raise UserError(
            f"{path}: {where(values.index[i])}: amount {str(values.iloc[i])!r} in column "
            f"{name!r} is negative (leave returns and refunds out of the log)"
        )
    return numbers
