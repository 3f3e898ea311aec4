"""Statistics on the results tables: paired policy comparisons and confidence intervals.

Every function here is pure: tables in (with the columns of ``docs/outputs.md``), tables or
numbers out. Policies are always kept in their order of appearance, because the first policy
is the baseline everywhere (comparison, plots, report).

Intervals are Student-t intervals over replications. Comparisons are *paired*: replication
``i`` of every policy meets the same random numbers, so the difference is taken replication
by replication, which removes the noise that the policies share.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

SUMMARY_KEYS: tuple[str, ...] = ("policy", "replication", "seed")
"""Key columns of ``summary.csv``; every other numeric column is an outcome."""

LOWER_IS_BETTER: frozenset[str] = frozenset(
    {
        "cost_per_acquired",
        "cost_per_acquired_by_marketing",
        "cost_per_retained",
        "mean_churn_rate",
        "churned_total",
        "acquisition_cost_total",
        "retention_cost_total",
        "marketing_cost_total",
        "lever_spend_total",
        "rewards_total",
        "discounts_total",
    }
)
"""Outcomes for which a policy is *better* when the value is lower."""

COMPARISON_COLUMNS: tuple[str, ...] = (
    "policy",
    "baseline",
    "outcome",
    "baseline_mean",
    "policy_mean",
    "difference",
    "ci_low",
    "ci_high",
    "relative_difference",
    "p_value",
    "share_better",
    "n",
)
"""Columns of ``comparison.csv``, in order."""

# Differences whose spread is below this share of the values' magnitude are rounding noise
# (e.g. ``(b + 5) - b`` in floating point), not variation between replications.
_RELATIVE_TOLERANCE = 1e-12


def _require_columns(table: pd.DataFrame, columns: Iterable[str], name: str) -> None:
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise ValueError(f"{name} table lacks column(s) {missing}; it has {list(table.columns)}")


def _validate_confidence(confidence: float) -> None:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be strictly between 0 and 1, got {confidence}")


def policy_order(table: pd.DataFrame) -> list[str]:
    """Policies of a table in order of first appearance (the first is the baseline).

    Args:
        table: any results table with a ``policy`` column.

    Returns:
        The distinct policy names, in the order they first appear.
    """
    _require_columns(table, ["policy"], "results")
    return [str(p) for p in pd.unique(table["policy"])]


def as_bool(values: pd.Series) -> pd.Series:
    """Read a boolean column that may have come back from CSV as text.

    Args:
        values: a column of booleans, or of strings such as ``"True"``/``"false"``/``"1"``.

    Returns:
        A boolean Series with the same index.
    """
    if pd.api.types.is_bool_dtype(values):
        return values.astype(bool)
    if pd.api.types.is_numeric_dtype(values):
        return values.fillna(0).astype(bool)
    return values.astype(str).str.strip().str.lower().isin({"true", "1", "yes"})


def select_firm(timeseries: pd.DataFrame, firm: str | None = None) -> pd.DataFrame:
    """Rows of one firm: the named one, or the focal firm by default.

    Args:
        timeseries: a ``timeseries.csv`` table.
        firm: firm name; ``None`` selects the rows with ``focal == True`` (or every row when
            the table has no ``focal`` column, i.e. it holds a single firm).

    Returns:
        The selected rows.

    Raises:
        ValueError: if no row matches.
    """
    if firm is not None:
        _require_columns(timeseries, ["firm"], "timeseries")
        rows = timeseries.loc[timeseries["firm"].astype(str) == str(firm)]
        what = f"firm {firm!r}"
    elif "focal" in timeseries.columns:
        rows = timeseries.loc[as_bool(timeseries["focal"])]
        what = "the focal firm"
    else:
        rows = timeseries
        what = "any firm"
    if rows.empty:
        raise ValueError(f"timeseries table has no rows for {what}")
    return rows


def mean_ci(values: Iterable[float], confidence: float = 0.95) -> tuple[float, float, float]:
    """Mean and Student-t confidence interval of independent values.

    Non-finite values (NaN, e.g. a cost per customer with no customers) are ignored.

    Args:
        values: one value per replication.
        confidence: coverage of the interval.

    Returns:
        ``(mean, low, high)``. With one value the interval is that value; with none, all three
        are NaN. Identical values give a zero-width interval.
    """
    _validate_confidence(confidence)
    arr = np.asarray(list(values) if not isinstance(values, np.ndarray) else values, float)
    arr = arr[np.isfinite(arr)]
    if arr.size == 0:
        return (math.nan, math.nan, math.nan)
    mean = float(arr.mean())
    sd = float(arr.std(ddof=1)) if arr.size > 1 else 0.0
    low, high = t_interval(mean, sd, arr.size, confidence)
    return (mean, float(low), float(high))


def t_interval(
    mean: Any, sd: Any, n: Any, confidence: float = 0.95
) -> tuple[np.ndarray, np.ndarray]:
    """Student-t confidence interval of a mean (``scipy.stats.t.interval``), elementwise.

    Args:
        mean: sample mean(s).
        sd: sample standard deviation(s) (``ddof=1``).
        n: sample size(s).
        confidence: coverage of the interval.

    Returns:
        ``(low, high)``. Where there are fewer than two values or no spread, the interval is
        the mean itself.
    """
    mean, sd, n = np.broadcast_arrays(*(np.asarray(x, float) for x in (mean, sd, n)))
    spread = (n >= 2) & (sd > 0)
    scale = np.where(spread, sd / np.sqrt(np.maximum(n, 1.0)), 1.0)
    low, high = stats.t.interval(confidence, np.maximum(n - 1, 1.0), loc=mean, scale=scale)
    return np.where(spread, low, mean), np.where(spread, high, mean)


def paired_difference(
    policy_values: Sequence[float] | np.ndarray,
    baseline_values: Sequence[float] | np.ndarray,
    *,
    lower_is_better: bool = False,
    confidence: float = 0.95,
) -> dict[str, float]:
    """Compare two policies on values paired by replication.

    Pairs in which either value is not finite are dropped.

    Args:
        policy_values: the policy's outcome, one value per replication.
        baseline_values: the baseline's outcome for the same replications, in the same order.
        lower_is_better: whether a lower value counts as better (costs, churn).
        confidence: coverage of the interval of the mean difference.

    Returns:
        A dict with ``baseline_mean``, ``policy_mean``, ``difference`` (policy - baseline),
        ``ci_low``, ``ci_high``, ``relative_difference`` (difference / |baseline_mean|, NaN
        when the baseline mean is 0), ``p_value`` (paired t test; NaN when it is undefined:
        fewer than two pairs, or every pair differs by the same amount), ``share_better``
        (ties count as not better) and ``n`` (number of pairs used).
    """
    _validate_confidence(confidence)
    pol = np.asarray(policy_values, float)
    base = np.asarray(baseline_values, float)
    if pol.shape != base.shape:
        raise ValueError(f"paired values differ in length: {pol.shape} vs {base.shape}")
    keep = np.isfinite(pol) & np.isfinite(base)
    pol, base = pol[keep], base[keep]
    n = int(pol.size)
    if n == 0:
        return {
            "baseline_mean": math.nan,
            "policy_mean": math.nan,
            "difference": math.nan,
            "ci_low": math.nan,
            "ci_high": math.nan,
            "relative_difference": math.nan,
            "p_value": math.nan,
            "share_better": math.nan,
            "n": 0,
        }
    diff = pol - base
    baseline_mean = float(base.mean())
    policy_mean = float(pol.mean())
    difference = float(diff.mean())
    scale = max(1.0, float(np.max(np.abs(pol))), float(np.max(np.abs(base))))
    constant = n == 1 or float(np.ptp(diff)) <= _RELATIVE_TOLERANCE * scale
    if constant:
        # A constant difference has no sampling spread: the interval collapses onto it and
        # the t statistic is undefined (0 / 0 or d / 0), so no p-value is reported.
        if abs(difference) <= _RELATIVE_TOLERANCE * scale:
            difference = 0.0
        ci_low = ci_high = difference
        p_value = math.nan
    else:
        test = stats.ttest_rel(pol, base)
        ci_low, ci_high = test.confidence_interval(confidence)
        p_value = float(test.pvalue)
    better = diff < 0 if lower_is_better else diff > 0
    return {
        "baseline_mean": baseline_mean,
        "policy_mean": policy_mean,
        "difference": difference,
        "ci_low": float(ci_low),
        "ci_high": float(ci_high),
        "relative_difference": (
            difference / abs(baseline_mean) if baseline_mean != 0.0 else math.nan
        ),
        "p_value": p_value,
        "share_better": float(np.mean(better)),
        "n": n,
    }


def outcome_columns(summary: pd.DataFrame) -> list[str]:
    """Numeric outcome columns of a summary table: every numeric column except the keys.

    Args:
        summary: a ``summary.csv`` table.

    Returns:
        Column names in table order.
    """
    return [
        c
        for c in summary.columns
        if c not in SUMMARY_KEYS
        and pd.api.types.is_numeric_dtype(summary[c])
        and not pd.api.types.is_bool_dtype(summary[c])
    ]


def _paired_tables(
    summary: pd.DataFrame, policy: str, baseline: str, outcomes: Sequence[str]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The policy's and the baseline's outcomes on their common replications, row-aligned."""
    names = summary["policy"].astype(str)
    tables = []
    for name in (policy, baseline):
        rows = summary.loc[names == name, ["replication", *outcomes]]
        if rows["replication"].duplicated().any():
            raise ValueError(f"policy {name!r} lists a replication more than once")
        values = rows.set_index("replication")[list(outcomes)]
        text = [c for c in values.columns if not pd.api.types.is_numeric_dtype(values[c])]
        if text:
            values = values.assign(**{c: pd.to_numeric(values[c], errors="coerce") for c in text})
        tables.append(values.astype(float))
    pol, base = tables
    # Pair on the replication number (an inner join): replication i of both policies met the
    # same random numbers; a replication missing from either side has no partner.
    common = pol.index.intersection(base.index, sort=False)
    return pol.loc[common], base.loc[common]


def compare_pair(
    summary: pd.DataFrame,
    policy: str,
    baseline: str,
    outcome: str,
    confidence: float = 0.95,
) -> dict[str, Any]:
    """Compare one policy against another on one outcome, paired by replication.

    Args:
        summary: a ``summary.csv`` table.
        policy: the policy compared.
        baseline: the policy it is compared against.
        outcome: a summary column.
        confidence: coverage of the interval.

    Returns:
        One ``comparison.csv`` row as a dict (see :func:`paired_difference` for the fields).

    Raises:
        ValueError: on a missing column or policy, or a replication listed twice.
    """
    _require_columns(summary, ["policy", "replication", outcome], "summary")
    known = policy_order(summary)
    for name in (policy, baseline):
        if name not in known:
            raise ValueError(f"policy {name!r} is not in the summary table; it has {known}")
    pol, base = _paired_tables(summary, policy, baseline, [outcome])
    result = paired_difference(
        pol[outcome].to_numpy(float),
        base[outcome].to_numpy(float),
        lower_is_better=outcome in LOWER_IS_BETTER,
        confidence=confidence,
    )
    return {"policy": policy, "baseline": baseline, "outcome": outcome, **result}


def compare_policies(
    summary: pd.DataFrame,
    outcomes: Sequence[str] | None = None,
    baseline: str | None = None,
) -> pd.DataFrame:
    """Compare every policy with the baseline, paired by replication (``comparison.csv``).

    Args:
        summary: a ``summary.csv`` table (one row per policy x replication).
        outcomes: the columns to compare; by default every numeric column except the keys
            (``policy``, ``replication``, ``seed``).
        baseline: the reference policy; by default the first policy in order of appearance.

    Returns:
        One row per (policy other than the baseline) x outcome with exactly the columns
        :data:`COMPARISON_COLUMNS`, policies in order of appearance, outcomes in the given
        order. Empty (with those columns) when there is a single policy.

    Raises:
        ValueError: on a missing column, an unknown baseline, or a replication listed twice
            for one policy.
    """
    _require_columns(summary, ["policy", "replication"], "summary")
    policies = policy_order(summary)
    base = policies[0] if baseline is None and policies else str(baseline)
    if policies and base not in policies:
        raise ValueError(f"baseline {base!r} is not in the summary table; it has {policies}")
    chosen = outcome_columns(summary) if outcomes is None else list(outcomes)
    _require_columns(summary, chosen, "summary")
    rows = []
    for policy in policies:
        if policy == base:
            continue
        pol, ref = _paired_tables(summary, policy, base, chosen)
        for outcome in chosen:
            result = paired_difference(
                pol[outcome].to_numpy(float),
                ref[outcome].to_numpy(float),
                lower_is_better=outcome in LOWER_IS_BETTER,
            )
            rows.append({"policy": policy, "baseline": base, "outcome": outcome, **result})
    table = pd.DataFrame(rows, columns=list(COMPARISON_COLUMNS))
    return table.astype({"n": int})


def summarise_over_time(
    timeseries: pd.DataFrame, column: str, firm: str | None = None, confidence: float = 0.95
) -> pd.DataFrame:
    """Mean over replications and its confidence interval, per policy and period.

    Args:
        timeseries: a ``timeseries.csv`` table.
        column: the column to summarise.
        firm: firm name; by default the focal firm.
        confidence: coverage of the interval.

    Returns:
        Columns ``policy``, ``period``, ``mean``, ``low``, ``high`` and ``n`` (replications
        with a finite value), policies in order of appearance and periods ascending. With a
        single replication ``low == high == mean``.
    """
    _validate_confidence(confidence)
    _require_columns(timeseries, ["policy", "period", column], "timeseries")
    rows = select_firm(timeseries, firm)
    order = policy_order(rows)
    values = pd.to_numeric(rows[column], errors="coerce").astype(float)
    values = values.where(np.isfinite(values))
    grouped = values.groupby([rows["policy"].astype(str), rows["period"]], sort=False)
    table = grouped.agg(["mean", "std", "count"]).reset_index()
    table.columns = ["policy", "period", "mean", "std", "n"]
    table["low"], table["high"] = t_interval(
        table["mean"], table["std"].fillna(0.0), table["n"], confidence
    )
    table["policy"] = pd.Categorical(table["policy"], categories=order, ordered=True)
    table = table.sort_values(["policy", "period"], kind="stable").reset_index(drop=True)
    table["policy"] = table["policy"].astype(str)
    return table[["policy", "period", "mean", "low", "high", "n"]]


def cohort_survival_curve(cohorts: pd.DataFrame) -> pd.DataFrame:
    """Survival by age per policy, pooled over acquisition cohorts.

    At each age, survival is ``sum(active) / sum(cohort_size)`` over the cohorts observed at
    that age: the mean of the cohorts' survival weighted by their size. Late cohorts are not
    observed at high ages, so the right end of the curve rests on fewer customers. The mean
    base churn rate of survivors is weighted by the number still active, so it is the mean
    over the surviving customers: its fall with age is selection, not change.

    Args:
        cohorts: a ``cohorts.csv`` table.

    Returns:
        Columns ``policy``, ``age``, ``survival``, ``mean_base_churn_rate``; policies in order
        of appearance, ages ascending. Survival is NaN where no customer was at risk.
    """
    _require_columns(cohorts, ["policy", "age", "cohort_size", "active"], "cohorts")
    order = policy_order(cohorts)
    size = pd.to_numeric(cohorts["cohort_size"], errors="coerce").fillna(0.0).astype(float)
    active = pd.to_numeric(cohorts["active"], errors="coerce").fillna(0.0).astype(float)
    if "mean_base_churn_rate" in cohorts.columns:
        rate = pd.to_numeric(cohorts["mean_base_churn_rate"], errors="coerce").astype(float)
    else:
        rate = pd.Series(np.nan, index=cohorts.index)
    has_rate = np.isfinite(rate) & (active > 0)
    work = pd.DataFrame(
        {
            "policy": cohorts["policy"].astype(str),
            "age": cohorts["age"],
            "size": size,
            "active": active,
            "rate_x_active": np.where(has_rate, rate.fillna(0.0) * active, 0.0),
            "rate_weight": np.where(has_rate, active, 0.0),
        }
    )
    pooled = work.groupby(["policy", "age"], sort=False).sum().reset_index()
    sizes = pooled["size"].to_numpy(float)
    weights = pooled["rate_weight"].to_numpy(float)
    pooled["survival"] = np.divide(
        pooled["active"].to_numpy(float),
        sizes,
        out=np.full(len(pooled), np.nan),
        where=sizes > 0,
    )
    pooled["mean_base_churn_rate"] = np.divide(
        pooled["rate_x_active"].to_numpy(float),
        weights,
        out=np.full(len(pooled), np.nan),
        where=weights > 0,
    )
    pooled["policy"] = pd.Categorical(pooled["policy"], categories=order, ordered=True)
    pooled = pooled.sort_values(["policy", "age"], kind="stable").reset_index(drop=True)
    pooled["policy"] = pooled["policy"].astype(str)
    return pooled[["policy", "age", "survival", "mean_base_churn_rate"]]


# --------------------------------------------------------------------------- verdicts
EQUIVALENCE_MARGIN = 0.01
"""Default practical-equivalence margin: differences within 1% of NPV do not matter."""

VERDICTS: dict[str, str] = {
    "better": "better (clears the margin)",
    "worse": "worse (clears the margin)",
    "equivalent": "practically equivalent",
    "undecided": "not yet distinguishable",
    "no interval": "one replication: no interval",
}
"""What each verdict of :func:`equivalence_verdict` says in words."""


def equivalence_verdict(ci_low: float, ci_high: float, n: int, margin: float) -> str:
    """Judge a paired difference against a margin of practical equivalence.

    Args:
        ci_low: lower end of the 95% interval of the difference.
        ci_high: upper end.
        n: number of pairs behind the interval.
        margin: the largest difference that does not matter (same unit, >= 0).

    Returns:
        ``"better"`` when the whole interval lies above ``+margin``, ``"worse"`` when below
        ``-margin``, ``"equivalent"`` when it lies inside ``[-margin, +margin]``,
        ``"undecided"`` when it straddles a margin, and ``"no interval"`` with fewer than two
        pairs (a single replication has no interval).
    """
    if n < 2 or not (math.isfinite(ci_low) and math.isfinite(ci_high)):
        return "no interval"
    if ci_low > margin:
        return "better"
    if ci_high < -margin:
        return "worse"
    if -margin <= ci_low and ci_high <= margin:
        return "equivalent"
    return "undecided"


def replications_to_settle(
    n: int, difference: float, ci_low: float, ci_high: float, margin: float
) -> int | None:
    """Replications giving an 80% chance of a settled verdict, if the difference is as measured.

    A verdict settles when the interval no longer straddles a margin, i.e. when its
    half-width falls below the distance between the difference and the nearer margin. The
    half-width shrinks as 1/sqrt(n); the usual power calculation asks for
    (z_0.975 + z_0.8) standard errors of distance instead of z_0.975.

    Args:
        n: replications so far (at least 2).
        difference: the measured mean difference.
        ci_low: lower end of its 95% interval.
        ci_high: upper end.
        margin: the practical-equivalence margin (same unit).

    Returns:
        The total number of replications, rounded up to a multiple of 10 (it is advice, not a
        measurement), or None when it cannot be estimated.
    """
    half = (ci_high - ci_low) / 2.0
    distance = abs(abs(difference) - margin)
    if n < 2 or not math.isfinite(half) or half <= 0 or distance == 0:
        return None
    z_alpha, z_power = stats.norm.ppf(0.975), stats.norm.ppf(0.8)
    needed = n * (half / distance) ** 2 * ((z_alpha + z_power) / z_alpha) ** 2
    return max(n + 10, int(math.ceil(needed / 10.0) * 10))


LEADER_COLUMNS: tuple[str, ...] = (
    "leader",
    "policy",
    "leader_mean",
    "policy_mean",
    "difference",
    "ci_low",
    "ci_high",
    "relative_difference",
    "share_better",
    "n",
    "margin",
    "verdict",
    "replications_to_settle",
)
"""Columns of :func:`against_leader`."""


def leader(summary: pd.DataFrame, outcome: str = "npv") -> str:
    """The policy with the highest mean outcome (ties go to the earlier policy)."""
    values = pd.to_numeric(summary[outcome], errors="coerce")
    means = values.groupby(summary["policy"].astype(str), sort=False).mean()
    finite = {p: float(means[p]) for p in policy_order(summary) if math.isfinite(means[p])}
    return max(finite, key=finite.__getitem__) if finite else policy_order(summary)[0]


def against_leader(
    summary: pd.DataFrame, margin_share: float = EQUIVALENCE_MARGIN, outcome: str = "npv"
) -> pd.DataFrame:
    """The policy with the highest mean outcome against every other, with a verdict each.

    Args:
        summary: a ``summary.csv`` table.
        margin_share: the practical-equivalence margin as a share of the other policy's mean
            (0.01: differences within 1% of its NPV do not matter).
        outcome: the outcome that decides (higher is better).

    Returns:
        One row per other policy, by mean outcome from the highest (the runner-up first),
        with the columns :data:`LEADER_COLUMNS`; ``margin`` is in the outcome's unit and
        ``verdict`` is one of :data:`VERDICTS` (of the leader against that policy).
    """
    if not 0.0 <= margin_share < 1.0:
        raise ValueError(f"the equivalence margin must be a share from 0 to 1, got {margin_share}")
    best = leader(summary, outcome)
    rows = []
    for other in policy_order(summary):
        if other == best:
            continue
        r = compare_pair(summary, best, other, outcome)
        margin = margin_share * abs(r["baseline_mean"])
        n = int(r["n"])
        rows.append(
            {
                "leader": best,
                "policy": other,
                "leader_mean": r["policy_mean"],
                "policy_mean": r["baseline_mean"],
                "difference": r["difference"],
                "ci_low": r["ci_low"],
                "ci_high": r["ci_high"],
                "relative_difference": r["relative_difference"],
                "share_better": r["share_better"],
                "n": n,
                "margin": margin,
                "verdict": equivalence_verdict(r["ci_low"], r["ci_high"], n, margin),
                "replications_to_settle": replications_to_settle(
                    n, r["difference"], r["ci_low"], r["ci_high"], margin
                ),
            }
        )
    table = pd.DataFrame(rows, columns=list(LEADER_COLUMNS))
    return table.sort_values("policy_mean", ascending=False, kind="stable").reset_index(drop=True)


def is_settled(verdicts: Iterable[str]) -> bool:
    """Whether every verdict is final: each a winner, a loser or practically equivalent."""
    return all(v in {"better", "worse", "equivalent"} for v in verdicts)
