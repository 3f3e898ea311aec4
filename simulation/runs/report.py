"""The run report: the answer on one screen, as Markdown text (the caller writes the file).

The top of the report answers three questions about NPV (discounted profit over the horizon):
which policy wins, by how much (against the baseline and against the runner-up), and how sure
we are (paired 95% intervals, whether they exclude 0, and how often the winner came out ahead).
Tables and figures follow for readers who want the detail.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from pathlib import PurePath
from typing import Any

import pandas as pd
from scipy import stats

from simulation.runs.formatting import (
    DASH,
    decimals_for,
    format_duration,
    format_number,
    markdown_table,
)
from simulation.runs.stats import (
    LOWER_IS_BETTER,
    compare_pair,
    mean_ci,
    policy_order,
)

WIN_OUTCOME = "npv"
"""The outcome that decides which policy wins."""

KEY_METRICS: tuple[tuple[str, str, str], ...] = (
    ("npv", "NPV (discounted profit)", "money"),
    ("final_customers", "final customers", "count"),
    ("final_market_share", "final market share", "percent"),
    ("mean_churn_rate", "churn per period", "percent"),
    ("cost_per_acquired", "cost per acquired customer", "money"),
    ("cost_per_retained", "cost per retained customer", "money"),
    ("clv_mean", "mean CLV of final customers", "money"),
    ("customer_equity", "customer equity", "money"),
    ("referrals", "referrals", "count"),
)
"""Outcomes in the per-policy table: column, label, number kind (see :func:`format_number`)."""

_PERCENT_OUTCOMES = {
    "final_market_share",
    "mean_retention_rate",
    "mean_churn_rate",
    "mean_satisfaction",
}
_COUNT_OUTCOMES = {"final_customers", "acquired_total", "referrals", "churned_total"}
_SUGGESTED_REPLICATIONS = 30


# --------------------------------------------------------------------------- numbers
def _kind(outcome: str) -> str:
    if outcome in _PERCENT_OUTCOMES:
        return "percent"
    if outcome in _COUNT_OUTCOMES:
        return "count"
    return "money"


def _mean_pm(values: pd.Series, kind: str) -> str:
    mean, low, high = mean_ci(pd.to_numeric(values, errors="coerce").to_numpy(float))
    if not math.isfinite(mean):
        return DASH
    half = (high - low) / 2.0
    if half <= 0:
        return format_number(mean, kind)
    # Mean and half-width share their decimals: no more than either needs (1,210 ± 12).
    places = min(decimals_for(abs(mean), kind), decimals_for(half, kind))
    if round(half, places + (2 if kind == "percent" else 0)) == 0:
        places = decimals_for(half, kind)
    return (
        f"{format_number(mean, kind, places=places)} ± {format_number(half, kind, places=places)}"
    )


def _interval(low: float, high: float, kind: str) -> str:
    if not (math.isfinite(low) and math.isfinite(high)):
        return DASH
    # Both ends get the precision of the interval's width, so that an end near 0 keeps its
    # sign and digits ("-25 to +2,108", "-0.12% to +0.13%").
    places = decimals_for(max((high - low) / 2.0, 0.0), kind)
    lo = format_number(low, kind, signed=True, places=places)
    hi = format_number(high, kind, signed=True, places=places)
    return f"{lo} to {hi}"


def _share(value: float) -> str:
    return f"{value:.0%}" if math.isfinite(value) else DASH


def _p_value(p: float) -> str:
    if not math.isfinite(p):
        return DASH
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


# --------------------------------------------------------------------------- the answer
def _policy_means(summary: pd.DataFrame, outcome: str) -> dict[str, float]:
    values = pd.to_numeric(summary[outcome], errors="coerce")
    means = values.groupby(summary["policy"].astype(str), sort=False).mean()
    return {p: float(means.get(p, math.nan)) for p in policy_order(summary)}


def _winner(summary: pd.DataFrame) -> str:
    means = _policy_means(summary, WIN_OUTCOME)
    # Ties go to the earlier policy: max keeps the first of equal values.
    finite = {p: m for p, m in means.items() if math.isfinite(m)}
    return max(finite, key=finite.__getitem__) if finite else next(iter(means))


def _needed_replications(n: int, difference: float, low: float, high: float) -> int | None:
    """Replications giving an 80% chance that the interval excludes 0, if the difference is real.

    The half-width shrinks as 1/sqrt(n). Shrinking it just below the difference would exclude
    0 only half of the time; the usual power calculation asks for (z_0.975 + z_0.8) standard
    errors between the difference and 0 instead of z_0.975.
    """
    half = (high - low) / 2.0
    if n < 2 or difference == 0 or not math.isfinite(half) or half <= 0:
        return None
    z_alpha, z_power = stats.norm.ppf(0.975), stats.norm.ppf(0.8)
    needed = n * (half / abs(difference)) ** 2 * ((z_alpha + z_power) / z_alpha) ** 2
    # Rounded up to a multiple of 10: this is advice, not a measurement.
    return max(n + 10, int(math.ceil(needed / 10.0) * 10))


def _answer(summary: pd.DataFrame, baseline: str, replications: int) -> list[str]:
    policies = policy_order(summary)
    winner = _winner(summary)
    means = _policy_means(summary, WIN_OUTCOME)
    mean, low, high = mean_ci(
        pd.to_numeric(summary.loc[summary["policy"].astype(str) == winner, WIN_OUTCOME])
    )
    lines = ["## The answer", ""]
    stays = " (the baseline stays best)" if winner == baseline and len(policies) > 1 else ""
    lines.append(
        f"**`{winner}` wins on NPV**{stays}: {format_number(mean, 'money')} currency units of "
        f"discounted profit per run (95% CI {format_number(low, 'money')} to "
        f"{format_number(high, 'money')})."
    )
    lines.append("")
    others = [p for p in policies if p != winner]
    if not others:
        lines.append(f"Only one policy (`{winner}`) was run: there is nothing to compare it with.")
        return lines

    ranked = sorted(others, key=lambda p: -means[p] if math.isfinite(means[p]) else math.inf)
    runner_up = ranked[0]
    # Rows: the baseline first (if it is not the winner), then the rest by NPV.
    rows = ([baseline] if baseline in others else []) + [p for p in ranked if p != baseline]
    header = [
        f"`{winner}` against",
        "NPV difference",
        "relative",
        "95% CI of the difference",
        "CI excludes 0?",
        f"`{winner}` better in",
    ]
    cells: list[list[str]] = []
    unclear: list[tuple[str, dict[str, Any]]] = []
    for other in rows:
        result = compare_pair(summary, winner, other, WIN_OUTCOME)
        roles = [r for r, p in (("baseline", baseline), ("runner-up", runner_up)) if p == other]
        role = f" ({', '.join(roles)})" if roles else ""
        n = int(result["n"])
        excludes = n >= 2 and (result["ci_low"] > 0 or result["ci_high"] < 0)
        if not excludes:
            unclear.append((other, result))
        share = result["share_better"]
        share_text = (
            f"{round(share * n)} of {n} ({_share(share)})" if math.isfinite(share) else DASH
        )
        ci_text = _interval(result["ci_low"], result["ci_high"], "money") if n >= 2 else DASH
        # Relative to the other policy's mean NPV: "the winner earns x% more than the other".
        cells.append(
            [
                f"`{other}`{role}",
                format_number(result["difference"], "money", signed=True),
                format_number(result["relative_difference"], "percent", signed=True),
                ci_text,
                "yes" if excludes else "**no**",
                share_text,
            ]
        )
    table = pd.DataFrame(cells, columns=header)
    lines += markdown_table(table, ["left", "right", "right", "right", "center", "right"])
    lines.append("")
    lines.extend(_verdict(winner, unclear, replications))
    return lines


def _verdict(
    winner: str, unclear: list[tuple[str, dict[str, Any]]], replications: int
) -> list[str]:
    if not unclear:
        return [
            f"**How sure:** at 95% confidence `{winner}` beats every other policy on NPV "
            "(every interval of the paired difference excludes 0)."
        ]
    names = ", ".join(f"`{p}`" for p, _ in unclear)
    n = max(int(r["n"]) for _, r in unclear)
    if n < 2:
        return [
            f"**How sure: not distinguishable at this number of replications.** With "
            f"{replications} replication a difference has no confidence interval, so `{winner}` "
            f"cannot be told apart from {names}. Run more replications "
            f"(at least {_SUGGESTED_REPLICATIONS})."
        ]
    advice = []
    for _other, r in unclear:
        needed = _needed_replications(int(r["n"]), r["difference"], r["ci_low"], r["ci_high"])
        if needed is not None:
            advice.append(needed)
    more = (
        f" If the true difference is as large as the one measured, about {max(advice):,} "
        "replications would give an 80% chance that the interval excludes 0."
        if advice
        else ""
    )
    return [
        f"**How sure: not distinguishable at this number of replications** ({replications}): "
        f"the 95% interval of the difference between `{winner}` and {names} includes 0, so "
        f"the ranking may be chance. Run more replications.{more}"
    ]


# --------------------------------------------------------------------------- tables
_HOW_TO_READ = (
    "**How to read this.** Replications are *paired*: replication *i* of every policy meets "
    "the same random numbers (the same customers, the same draws), so policies are compared "
    "replication by replication and the noise they share cancels. A difference is *policy "
    "minus baseline*; its 95% interval is a Student-t interval over the paired differences, "
    "and when it includes 0 the data cannot tell the two policies apart. *Better in* is the "
    "share of replications in which a policy came out ahead (for costs and churn, lower is "
    "better). NPV is profit discounted to period 0 and summed over the horizon; a customer's "
    "lifetime value is margin × r / (1 + d − r), value counted from the next period. "
    "Money is in the scenario's currency units; churn is per period."
)


def _metrics_table(summary: pd.DataFrame, winner: str, baseline: str) -> list[str]:
    policies = policy_order(summary)

    def header(p: str) -> str:
        tags = [t for t, q in (("baseline", baseline), ("winner", winner)) if q == p]
        return f"`{p}`" + (f" ({', '.join(tags)})" if tags else "")

    rows = [
        [label]
        + [
            _mean_pm(summary.loc[summary["policy"].astype(str) == p, column], kind)
            for p in policies
        ]
        for column, label, kind in KEY_METRICS
        if column in summary.columns
    ]
    table = pd.DataFrame(rows, columns=["outcome", *(header(p) for p in policies)])
    return [
        "## Outcomes per policy",
        "",
        "Mean ± half-width of the 95% confidence interval over replications (focal firm).",
        "",
        *markdown_table(table, ["left", *["right"] * len(policies)]),
    ]


def _comparison_table(comparison: pd.DataFrame, baseline: str) -> list[str]:
    lines = [f"## Each policy against the baseline `{baseline}`", ""]
    if comparison is None or comparison.empty:
        return [*lines, "Only one policy: there is no comparison."]
    key_order = {c: i for i, (c, _, _) in enumerate(KEY_METRICS)}
    table = comparison.assign(
        _policy=pd.Categorical(
            comparison["policy"].astype(str), categories=policy_order(comparison), ordered=True
        ),
        _key=comparison["outcome"].map(lambda o: key_order.get(o, len(key_order))),
    ).sort_values(["_policy", "_key"], kind="stable")
    lines += [
        "Paired differences (policy − baseline) with 95% intervals; every outcome of "
        "`summary.csv`. *Better in*: share of replications in which the policy did better.",
        "",
    ]
    cells = []
    for row in table.itertuples(index=False):
        outcome = str(row.outcome)
        kind = _kind(outcome)
        name = outcome + (" (lower is better)" if outcome in LOWER_IS_BETTER else "")
        cells.append(
            [
                f"`{row.policy}`",
                name,
                format_number(row.baseline_mean, kind),
                format_number(row.policy_mean, kind),
                format_number(row.difference, kind, signed=True),
                _interval(row.ci_low, row.ci_high, kind),
                format_number(row.relative_difference, "percent", signed=True),
                _p_value(row.p_value),
                _share(row.share_better),
                str(int(row.n)),
            ]
        )
    header = ["policy", "outcome", "baseline", "policy", "difference", "95% CI"]
    header += ["relative", "p", "better in", "n"]
    table = pd.DataFrame(cells, columns=header)
    return lines + markdown_table(table, ["left", "left", *["right"] * 8])


def _caption(name: str) -> str:
    """A file stem such as ``cohort_survival`` as a caption; written captions are kept."""
    if re.fullmatch(r"[a-z0-9_]+", name):
        return name.replace("_", " ").capitalize()
    return name


def _figures(plot_files: Mapping[str, str] | Sequence[str]) -> list[str]:
    if isinstance(plot_files, Mapping):
        items = [(_caption(str(caption)), str(path)) for caption, path in plot_files.items()]
    else:
        items = [(_caption(PurePath(str(path)).stem), str(path)) for path in plot_files]
    if not items:
        return []
    lines = ["## Figures", ""]
    for caption, path in items:
        # Links are relative to the report, which sits beside the plots/ folder.
        lines += [f"![{caption}](plots/{PurePath(path).name})", ""]
    return lines


def render_report(
    scenario_name: str,
    description: str,
    summary: pd.DataFrame,
    comparison: pd.DataFrame,
    plot_files: Mapping[str, str] | Sequence[str],
    *,
    baseline: str,
    wall_seconds: float,
    replications: int,
) -> str:
    """Render the run report as Markdown.

    Args:
        scenario_name: the scenario's name, used as the title.
        description: the scenario's description (may be empty).
        summary: the ``summary.csv`` table.
        comparison: the ``comparison.csv`` table (see
            :func:`simulation.runs.stats.compare_policies`).
        plot_files: the figures, as file names or paths (linked as ``plots/<file name>``),
            or as a mapping from caption to file name.
        baseline: the baseline policy.
        wall_seconds: wall-clock time of the run.
        replications: replications per policy.

    Returns:
        The report text.

    Raises:
        ValueError: if the summary lacks ``npv`` or does not contain the baseline.
    """
    for column in ("policy", "replication", WIN_OUTCOME):
        if column not in summary.columns:
            raise ValueError(f"summary table lacks column {column!r}")
    policies = policy_order(summary)
    if baseline not in policies:
        raise ValueError(f"baseline {baseline!r} is not in the summary table; it has {policies}")
    winner = _winner(summary)
    plural = "s" if replications != 1 else ""
    lines = [f"# {scenario_name}", ""]
    if description and description.strip():
        lines += [description.strip(), ""]
    lines += [
        f"{len(policies)} policies, {replications} paired replication{plural} each; "
        f"baseline `{baseline}`; wall time {format_duration(wall_seconds)}.",
        "",
    ]
    lines += _answer(summary, baseline, replications)
    lines += ["", _HOW_TO_READ, ""]
    lines += _metrics_table(summary, winner, baseline)
    lines += [""]
    lines += _comparison_table(comparison, baseline)
    lines += [""]
    lines += _figures(plot_files)
    return "\n".join(lines).rstrip() + "\n"


def summary_rows_for_console(summary: pd.DataFrame, comparison: pd.DataFrame) -> list[dict]:
    """The few numbers the command line prints, one dict per policy (baseline first).

    Args:
        summary: the ``summary.csv`` table.
        comparison: the ``comparison.csv`` table.

    Returns:
        Dicts with keys ``policy`` (str), ``baseline`` and ``winner`` (bool), ``npv_mean``,
        ``npv_ci_low``, ``npv_ci_high`` (95% CI of the mean NPV), ``npv_difference``,
        ``npv_difference_ci_low``, ``npv_difference_ci_high`` (paired difference from the
        baseline; NaN for the baseline itself), ``final_customers`` (mean) and ``churn_pct``
        (mean churn per period, in percent). Numbers are floats, left for the caller to
        format (:func:`simulation.runs.formatting.format_number` is there for it).
    """
    policies = policy_order(summary)
    if comparison is not None and not comparison.empty and "baseline" in comparison.columns:
        baseline = str(comparison["baseline"].iloc[0])
    else:
        baseline = policies[0] if policies else ""
    winner = _winner(summary) if policies else ""
    npv_rows = (
        comparison.loc[comparison["outcome"].astype(str) == WIN_OUTCOME]
        if comparison is not None and not comparison.empty
        else pd.DataFrame(columns=["policy"])
    )
    result = []
    for policy in policies:
        rows = summary.loc[summary["policy"].astype(str) == policy]
        mean, low, high = mean_ci(pd.to_numeric(rows[WIN_OUTCOME], errors="coerce"))
        diff = npv_rows.loc[npv_rows["policy"].astype(str) == policy]
        has_diff = not diff.empty

        def column_mean(column: str, rows: pd.DataFrame = rows) -> float:
            if column not in rows.columns:
                return math.nan
            return float(pd.to_numeric(rows[column], errors="coerce").mean())

        result.append(
            {
                "policy": policy,
                "baseline": policy == baseline,
                "winner": policy == winner,
                "npv_mean": mean,
                "npv_ci_low": low,
                "npv_ci_high": high,
                "npv_difference": float(diff["difference"].iloc[0]) if has_diff else math.nan,
                "npv_difference_ci_low": float(diff["ci_low"].iloc[0]) if has_diff else math.nan,
                "npv_difference_ci_high": float(diff["ci_high"].iloc[0]) if has_diff else math.nan,
                "final_customers": column_mean("final_customers"),
                "churn_pct": 100.0 * column_mean("mean_churn_rate"),
            }
        )
    return result
