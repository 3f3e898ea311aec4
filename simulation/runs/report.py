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

from simulation.runs.decomposition import (
    SOURCES,
    advertising_returns,
    decompose_npv,
    explain,
    summarise_decomposition,
)
from simulation.runs.formatting import (
    DASH,
    decimals_for,
    format_duration,
    format_number,
    markdown_table,
)
from simulation.runs.stats import (
    EQUIVALENCE_MARGIN,
    LOWER_IS_BETTER,
    VERDICTS,
    against_leader,
    leader,
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
    ("acquired_by_marketing", "customers won by marketing", "count"),
    ("acquired_from_rival", "switchers won from rivals", "count"),
    ("cost_per_acquired_by_marketing", "acquisition cost per customer won by marketing", "money"),
    ("cost_per_acquired", "acquisition cost per new customer, switchers included", "money"),
    ("cost_per_retained", "retention cost per retained customer-year", "money"),
    ("marketing_cost_total", "marketing spend (levers, rewards, discounts)", "money"),
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
_COUNT_OUTCOMES = {
    "final_customers",
    "acquired_total",
    "acquired_by_marketing",
    "acquired_from_rival",
    "referrals",
    "churned_total",
}


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
def margin_text(share: float) -> str:
    """A margin share as a short percentage: 0.01 is "1%", 0.005 is "0.5%"."""
    return f"{share * 100:g}%"


def _names(policies: Sequence[str]) -> str:
    quoted = [f"`{p}`" for p in policies]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " and " + quoted[-1]


def _headline(best: str, verdicts: pd.DataFrame, baseline: str, margin_share: float) -> str:
    """The answer's first sentence: a winner only when it clears the margin."""
    margin = f"{margin_text(margin_share)} of NPV"
    equivalent = verdicts.loc[verdicts["verdict"] == "equivalent", "policy"].tolist()
    undecided = verdicts.loc[verdicts["verdict"] == "undecided", "policy"].tolist()
    beaten = verdicts.loc[verdicts["verdict"] == "better", "policy"].tolist()
    if (verdicts["verdict"] == "no interval").all():
        return (
            f"**`{best}` has the highest NPV in this single replication; one replication has "
            "no interval, so there is no verdict yet.**"
        )
    if not equivalent and not undecided:
        stays = " (the baseline stays best)" if best == baseline else ""
        return (
            f"**`{best}` wins on NPV**{stays}: it beats every other policy by more than the "
            f"margin of practical equivalence ({margin})."
        )
    if undecided:
        return (
            f"**No winner yet: `{best}` leads on NPV but is not yet distinguishable from "
            f"{_names(undecided)}**: the 95% interval of the difference straddles the margin "
            f"of practical equivalence ({margin})."
        )
    both = "both" if len(equivalent) == 1 else "all"
    beats = f"; {both} beat {_names(beaten)}" if beaten else ""
    return (
        f"**`{best}` and {_names(equivalent)} are practically equivalent on NPV**: they differ "
        f"by less than {margin} (the 95% interval of the difference lies inside the "
        f"margin){beats}."
    )


def _verdict_text(verdict: str) -> str:
    return {"better": "clears the margin", "worse": "clears the margin"}.get(
        verdict, VERDICTS[verdict]
    )


def _answer(
    summary: pd.DataFrame, baseline: str, margin_share: float, until: Mapping | None
) -> list[str]:
    policies = policy_order(summary)
    best = leader(summary, WIN_OUTCOME)
    lines = ["## The answer", ""]
    if len(policies) < 2:
        lines.append(f"Only one policy (`{best}`) was run: there is nothing to compare it with.")
        return lines
    verdicts = against_leader(summary, margin_share, WIN_OUTCOME)
    lines += [_headline(best, verdicts, baseline, margin_share), ""]
    npv = pd.to_numeric(summary.loc[summary["policy"].astype(str) == best, WIN_OUTCOME])
    mean, low, high = mean_ci(npv)
    interval = (
        f" (95% CI {format_number(low, 'money')} to {format_number(high, 'money')})"
        if len(npv) >= 2
        else ""
    )
    lines += [
        f"`{best}` earns {format_number(mean, 'money')} currency units of discounted profit "
        f"per run{interval}.",
        "",
    ]
    runner_up = str(verdicts["policy"].iloc[0])
    header = [
        f"`{best}` against",
        "NPV difference",
        "relative",
        "95% CI of the difference",
        "margin",
        "verdict",
        f"`{best}` better in",
    ]
    cells = []
    for row in verdicts.itertuples(index=False):
        roles = [
            r for r, p in (("baseline", baseline), ("runner-up", runner_up)) if p == row.policy
        ]
        role = f" ({', '.join(roles)})" if roles else ""
        n = int(row.n)
        share = row.share_better
        cells.append(
            [
                f"`{row.policy}`{role}",
                format_number(row.difference, "money", signed=True),
                format_number(row.relative_difference, "percent", signed=True),
                _interval(row.ci_low, row.ci_high, "money") if n >= 2 else "no interval",
                "± " + format_number(row.margin, "money"),
                _verdict_text(str(row.verdict)),
                f"{round(share * n)} of {n} ({_share(share)})" if math.isfinite(share) else DASH,
            ]
        )
    table = pd.DataFrame(cells, columns=header)
    lines += markdown_table(table, ["left", "right", "right", "right", "right", "left", "right"])
    lines += ["", *_how_sure(best, verdicts, margin_share, until)]
    return lines


def _how_sure(
    best: str, verdicts: pd.DataFrame, margin_share: float, until: Mapping | None
) -> list[str]:
    margin = margin_text(margin_share)
    n = int(verdicts["n"].max())
    text = (
        f"**How sure:** the margin of practical equivalence is {margin} of the other policy's "
        "NPV (the scenario's `equivalence_margin`, or `--equivalence-margin`): a difference "
        "whose 95% interval lies inside it is a "
        "tie, one whose interval lies beyond it is a win, and one whose interval crosses its "
        "edge leaves the verdict open."
    )
    open_rows = verdicts.loc[~verdicts["verdict"].isin(["better", "worse", "equivalent"])]
    if n < 2:
        text += (
            " With one replication a difference has no interval: run more paired replications "
            "(the bundled scenarios run 10) or add `--until-decided`."
        )
    elif not open_rows.empty:
        advice = open_rows["replications_to_settle"].dropna()
        if not advice.empty:
            text += (
                f" If the differences are as large as measured, about {int(advice.max()):,} "
                "replications would settle the verdict with an 80% chance (`--replications N`, "
                "or `--until-decided` to add them until it settles)."
            )
    else:
        text += f" At {n} paired replications every verdict is settled."
    if until:
        settled = "the verdict settled" if until.get("settled") else "the cap was reached first"
        text += (
            f" Paired replications were added to settle the verdict, from {until['start']} to "
            f"{n} (cap {until['cap']}): {settled}. Deciding when to stop by looking at the "
            "intervals makes their 95% slightly optimistic."
        )
    return [text]


# --------------------------------------------------------------------------- why
def _why(timeseries: pd.DataFrame | None, baseline: str) -> list[str]:
    """Where each policy's NPV difference from the baseline comes from."""
    if timeseries is None or timeseries.empty or timeseries["policy"].nunique() < 2:
        return []
    try:
        parts = summarise_decomposition(decompose_npv(timeseries, baseline))
    except ValueError:  # a table from an older version, without every column
        return []
    lines = ["## Why", ""]
    for policy in policy_order(parts):
        lines.append(f"- {explain(parts, policy)}")
        evidence = advertising_returns(timeseries, policy, baseline)
        if evidence:
            lines[-1] += f" {evidence}"
    lines += [
        "",
        f"Each policy's NPV difference from `{baseline}`, split into its sources (mean over "
        "replications, discounted currency units; a positive part adds to the difference). "
        "Customers won and lost are valued at the margin per customer of the periods in which "
        "they were (or would have been) customers; the parts add up to the difference.",
        "",
    ]
    policies = policy_order(parts)
    present = set(parts["source"])
    labels = [label for key, label in SOURCES if key in present] + ["total"]
    table = pd.DataFrame(
        [[label] + [_cell(parts, policy, label) for policy in policies] for label in labels],
        columns=["source", *(f"`{p}` − `{baseline}`" for p in policies)],
    )
    return lines + markdown_table(table, ["left", *["right"] * len(policies)])


def _cell(parts: pd.DataFrame, policy: str, label: str) -> str:
    row = parts.loc[(parts["policy"] == policy) & (parts["label"] == label)]
    if row.empty:
        return format_number(0.0, "money")
    value = format_number(float(row["mean"].iloc[0]), "money", signed=True)
    return f"**{value}**" if label == "total" else value


def _spend(summary: pd.DataFrame) -> list[str]:
    """Total marketing spend per policy: the budget's levers, rewards and discounts."""
    columns = [
        ("lever_spend_total", "lever spend (the budget)"),
        ("rewards_total", "rewards (loyalty and referral)"),
        ("discounts_total", "discounts"),
        ("marketing_cost_total", "total marketing spend"),
    ]
    if any(c not in summary.columns for c, _ in columns):
        return []
    policies = policy_order(summary)
    rows = [
        [label]
        + [
            _mean_pm(summary.loc[summary["policy"].astype(str) == p, column], "money")
            for p in policies
        ]
        for column, label in columns
    ]
    table = pd.DataFrame(rows, columns=["spend over the horizon", *(f"`{p}`" for p in policies)])
    return [
        "## Marketing spend",
        "",
        "The budget pays for the levers; rewards and discounts are paid per outcome on top of "
        "it, so policies with the same budget can spend different amounts, unless a policy's "
        "`budget_covers` makes its budget pay for them too (undiscounted totals per run, "
        "mean ± half-width of the 95% interval).",
        "",
        *markdown_table(table, ["left", *["right"] * len(policies)]),
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
    "Money is in the scenario's currency units; churn is per period. A retained "
    "customer-year is one customer kept for a year: the retention cost per customer-year "
    "compares with the one-off acquisition cost per customer as a year of keeping compares "
    "with winning one. Switchers from rivals leave a rival on their own (price, quality): "
    "they are counted apart from the customers the firm's marketing won."
)


def _metrics_table(summary: pd.DataFrame, leading: str, baseline: str) -> list[str]:
    policies = policy_order(summary)

    def header(p: str) -> str:
        tags = [t for t, q in (("baseline", baseline), ("highest NPV", leading)) if q == p]
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
    single = summary.groupby(summary["policy"].astype(str))["replication"].nunique().max() < 2
    note = (
        "One replication: values without intervals (focal firm)."
        if single
        else "Mean ± half-width of the 95% confidence interval over replications (focal firm)."
    )
    return [
        "## Outcomes per policy",
        "",
        note,
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
    timeseries: pd.DataFrame | None = None,
    equivalence_margin: float = EQUIVALENCE_MARGIN,
    until_decided: Mapping[str, Any] | None = None,
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
        timeseries: the ``timeseries.csv`` table; with it the report explains where each
            policy's NPV difference comes from.
        equivalence_margin: share of NPV within which two policies are practically equivalent.
        until_decided: how replications were added until the verdict settled (``start``,
            ``cap``, ``settled``), if they were.

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
    winner = leader(summary, WIN_OUTCOME)
    plural = "s" if replications != 1 else ""
    lines = [f"# {scenario_name}", ""]
    if description and description.strip():
        lines += [description.strip(), ""]
    lines += [
        f"{len(policies)} policies, {replications} paired replication{plural} each; "
        f"baseline `{baseline}`; wall time {format_duration(wall_seconds)}.",
        "",
    ]
    lines += _answer(summary, baseline, equivalence_margin, until_decided)
    for section in (_why(timeseries, baseline), _spend(summary)):
        lines += ["", *section] if section else []
    lines += ["", _HOW_TO_READ, ""]
    lines += _metrics_table(summary, winner, baseline)
    lines += [""]
    lines += _comparison_table(comparison, baseline)
    lines += [""]
    lines += _figures(plot_files)
    return "\n".join(lines).rstrip() + "\n"


def summary_rows_for_console(
    summary: pd.DataFrame,
    comparison: pd.DataFrame,
    equivalence_margin: float = EQUIVALENCE_MARGIN,
) -> list[dict]:
    """The few numbers the command line prints, one dict per policy (baseline first).

    Args:
        summary: the ``summary.csv`` table.
        comparison: the ``comparison.csv`` table.
        equivalence_margin: share of NPV within which two policies are practically equivalent.

    Returns:
        Dicts with keys ``policy`` (str), ``baseline`` and ``winner`` (bool: the leader, and
        only when it clears the margin against every other policy), ``leader`` (bool: the
        highest mean NPV), ``replications``, ``npv_mean``, ``npv_ci_low``, ``npv_ci_high``
        (95% CI of the mean NPV), ``npv_difference``, ``npv_difference_ci_low``,
        ``npv_difference_ci_high`` (paired difference from the baseline; NaN for the baseline
        itself), ``versus`` (the policy the row is compared with: the runner-up for the
        leader, the leader for the others), ``versus_difference``, ``versus_ci_low``,
        ``versus_ci_high`` (this policy minus that one), ``verdict`` (a key of
        :data:`simulation.runs.stats.VERDICTS`, for the leader against ``versus``),
        ``final_customers`` (mean) and ``churn_pct`` (mean churn per period, in percent).
        Numbers are floats, left for the caller to format.
    """
    policies = policy_order(summary)
    if comparison is not None and not comparison.empty and "baseline" in comparison.columns:
        baseline = str(comparison["baseline"].iloc[0])
    else:
        baseline = policies[0] if policies else ""
    best = leader(summary, WIN_OUTCOME) if policies else ""
    verdicts = (
        against_leader(summary, equivalence_margin, WIN_OUTCOME).set_index("policy")
        if len(policies) > 1
        else pd.DataFrame()
    )
    clears = not verdicts.empty and bool((verdicts["verdict"] == "better").all())
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

        versus, sign = "", 1.0
        vs = pd.Series(dtype=float)
        if not verdicts.empty:
            if policy == best:
                versus = str(verdicts.index[0])
                vs = verdicts.iloc[0]
            else:
                versus, sign = best, -1.0
                vs = verdicts.loc[policy]
        result.append(
            {
                "policy": policy,
                "baseline": policy == baseline,
                "winner": policy == best and clears,
                "leader": policy == best,
                "replications": int(rows["replication"].nunique()),
                "npv_mean": mean,
                "npv_ci_low": low,
                "npv_ci_high": high,
                "npv_difference": float(diff["difference"].iloc[0]) if has_diff else math.nan,
                "npv_difference_ci_low": float(diff["ci_low"].iloc[0]) if has_diff else math.nan,
                "npv_difference_ci_high": float(diff["ci_high"].iloc[0]) if has_diff else math.nan,
                "versus": versus,
                "versus_difference": sign * float(vs.get("difference", math.nan)),
                "versus_ci_low": (
                    float(vs.get("ci_low", math.nan))
                    if sign > 0
                    else -float(vs.get("ci_high", math.nan))
                ),
                "versus_ci_high": (
                    float(vs.get("ci_high", math.nan))
                    if sign > 0
                    else -float(vs.get("ci_low", math.nan))
                ),
                "verdict": str(vs.get("verdict", "")),
                "final_customers": column_mean("final_customers"),
                "churn_pct": 100.0 * column_mean("mean_churn_rate"),
            }
        )
    return result
