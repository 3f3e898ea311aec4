"""Why a policy wins: its NPV difference from the baseline, split into where it comes from.

Each period's profit is gross margin (revenue minus product cost and cost to serve) minus
marketing spend, and marketing spend is lever spend plus rewards plus discounts. Gross margin
is customers times margin per customer, so between two policies (paired by replication and
period, with ``d`` the period's discount factor, ``N`` customers at the end of the period and
``m`` gross margin per customer)::

    d * delta(N * m) = d * delta(N) * mean(m)     (more customers)
                     + d * mean(N) * delta(m)     (more margin per customer)

and ``delta(N)`` is the difference in customers won by marketing, plus switchers won from
rivals, minus customers lost, summed up to that period. Every part is an exact share of the
paired NPV difference: the parts of a replication add up to its difference, to rounding.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from simulation.runs.stats import mean_ci, policy_order, select_firm

SOURCES: tuple[tuple[str, str], ...] = (
    ("won_by_marketing", "customers won by marketing"),
    ("won_from_rivals", "switchers won from rivals"),
    ("fewer_lost", "fewer customers lost"),
    ("margin_per_customer", "margin per customer"),
    ("lever_spend", "lever spend"),
    ("rewards", "rewards"),
    ("discounts", "discounts"),
    ("starting_customers", "starting customers"),
)
"""The sources of an NPV difference: column and label (a positive value adds to the NPV)."""

_PHRASES: dict[str, tuple[str, str]] = {
    "won_by_marketing": ("wins more customers by marketing", "wins fewer customers by marketing"),
    "won_from_rivals": ("wins more switchers from rivals", "wins fewer switchers from rivals"),
    "fewer_lost": ("loses fewer customers", "loses more customers"),
    "margin_per_customer": ("earns more per customer", "earns less per customer"),
    "lever_spend": ("spends less on its levers", "spends more on its levers"),
    "rewards": ("pays less in rewards", "pays more in rewards"),
    "discounts": ("gives less in discounts", "gives more in discounts"),
    "starting_customers": ("starts with more customers", "starts with fewer customers"),
}
"""How a source reads in a sentence, when it adds to the NPV and when it takes from it."""

MARKETING_CHANNELS = ("acquired_advertising", "acquired_referral", "acquired_win_back")
"""Customers won by the firm's own marketing (switchers from rivals are counted apart)."""

_NEEDED = (
    "policy",
    "replication",
    "period",
    "customers",
    "acquired_from_rival",
    "churned",
    "revenue",
    "cost_product",
    "cost_service",
    "marketing_cost",
    "cost_discount",
    "profit",
    "discounted_profit",
    *MARKETING_CHANNELS,
)


def spend_split(focal: pd.DataFrame) -> pd.DataFrame:
    """Marketing spend per row, split into lever spend, rewards and discounts.

    Args:
        focal: rows of one firm from ``timeseries.csv``. Tables without ``cost_rewards``
            (written before it existed) count every non-discount cost as lever spend.

    Returns:
        Columns ``lever_spend``, ``rewards``, ``discounts`` (adding up to ``marketing_cost``).
    """
    rewards = focal["cost_rewards"] if "cost_rewards" in focal.columns else 0.0 * focal["profit"]
    return pd.DataFrame(
        {
            "lever_spend": focal["marketing_cost"] - focal["cost_discount"] - rewards,
            "rewards": rewards,
            "discounts": focal["cost_discount"],
        },
        index=focal.index,
    )


def _discount_factor(focal: pd.DataFrame) -> pd.Series:
    """Each row's discount factor: the stored one, or discounted profit / profit per period."""
    if "discount_factor" in focal.columns:
        return focal["discount_factor"].astype(float)
    ratio = (focal["discounted_profit"] / focal["profit"]).where(focal["profit"].abs() > 1e-9)
    per_period = ratio.groupby(focal["period"]).median()
    return focal["period"].map(per_period).fillna(0.0).astype(float)


def _per_period(focal: pd.DataFrame) -> pd.DataFrame:
    """The quantities the decomposition pairs, indexed by (replication, period)."""
    spend = spend_split(focal)
    ordered = focal.sort_values(["replication", "period"], kind="stable")
    cumulative = ordered.groupby("replication", sort=False)
    table = pd.DataFrame(
        {
            "replication": focal["replication"],
            "period": focal["period"],
            "d": _discount_factor(focal),
            "customers": focal["customers"].astype(float),
            "gross_margin": focal["revenue"] - focal["cost_product"] - focal["cost_service"],
            "won_by_marketing": cumulative[list(MARKETING_CHANNELS)].cumsum().sum(axis=1),
            "won_from_rivals": cumulative["acquired_from_rival"].cumsum(),
            "lost": cumulative["churned"].cumsum(),
            "discounted_profit": focal["discounted_profit"],
            **{column: spend[column] for column in spend.columns},
        }
    )
    return table.set_index(["replication", "period"]).sort_index()


def _margin(table: pd.DataFrame) -> pd.Series:
    customers = table["customers"]
    return (table["gross_margin"] / customers).where(customers > 0)


def decompose_pair(policy: pd.DataFrame, baseline: pd.DataFrame) -> pd.DataFrame:
    """Split each replication's NPV difference between two policies into its sources.

    Args:
        policy: focal-firm rows of the policy (``timeseries.csv`` columns).
        baseline: focal-firm rows of the baseline, for the same replications and periods.

    Returns:
        One row per common replication: ``replication``, one column per source of
        :data:`SOURCES` and ``npv_difference`` (policy minus baseline), which the sources add
        up to.
    """
    pol, base = _per_period(policy), _per_period(baseline)
    common = pol.index.intersection(base.index)
    pol, base = pol.loc[common], base.loc[common]
    d = pol["d"]
    m_pol, m_base = _margin(pol), _margin(base)
    # Mean margin per customer of the two; where one policy has no customers, the other's.
    mean_margin = pd.concat([m_pol, m_base], axis=1).mean(axis=1).fillna(0.0)
    delta = pol - base
    parts = pd.DataFrame(index=common)
    parts["won_by_marketing"] = d * delta["won_by_marketing"] * mean_margin
    parts["won_from_rivals"] = d * delta["won_from_rivals"] * mean_margin
    parts["fewer_lost"] = -d * delta["lost"] * mean_margin
    flows = delta["won_by_marketing"] + delta["won_from_rivals"] - delta["lost"]
    # Customers not explained by the period's flows: a different starting base (0 when the
    # policies are paired, as they start from the same market).
    parts["starting_customers"] = d * (delta["customers"] - flows) * mean_margin
    parts["lever_spend"] = -d * delta["lever_spend"]
    parts["rewards"] = -d * delta["rewards"]
    parts["discounts"] = -d * delta["discounts"]
    difference = delta["discounted_profit"]
    # What the customer counts and the spend leave over is the change in margin per customer
    # (d * mean(N) * delta(m) where both policies have customers): the parts add up exactly.
    parts["margin_per_customer"] = difference - parts.sum(axis=1)
    parts["npv_difference"] = difference
    totals = parts.groupby(level="replication").sum()
    return totals[[key for key, _ in SOURCES] + ["npv_difference"]].reset_index()


def decompose_npv(timeseries: pd.DataFrame, baseline: str | None = None) -> pd.DataFrame:
    """Every policy's NPV difference from the baseline, by source and replication.

    Args:
        timeseries: a ``timeseries.csv`` table (the focal firm's rows are used).
        baseline: the reference policy; by default the first.

    Returns:
        Columns ``policy``, ``baseline``, ``replication``, one per source of :data:`SOURCES`,
        and ``npv_difference``; empty when there is a single policy.
    """
    missing = [c for c in _NEEDED if c not in timeseries.columns]
    if missing:
        raise ValueError(f"timeseries table lacks column(s) {missing}")
    rows = select_firm(timeseries)
    order = policy_order(rows)
    base = order[0] if baseline is None else str(baseline)
    names = rows["policy"].astype(str)
    frames = [
        decompose_pair(rows.loc[names == p], rows.loc[names == base]).assign(
            policy=p, baseline=base
        )
        for p in order
        if p != base
    ]
    columns = ["policy", "baseline", "replication", *(k for k, _ in SOURCES), "npv_difference"]
    if not frames:
        return pd.DataFrame(columns=columns)
    return pd.concat(frames, ignore_index=True)[columns]


def summarise_decomposition(decomposition: pd.DataFrame) -> pd.DataFrame:
    """Mean of each source over replications, with its 95% interval.

    Args:
        decomposition: a table from :func:`decompose_npv`.

    Returns:
        Columns ``policy``, ``baseline``, ``source``, ``label``, ``mean``, ``ci_low``,
        ``ci_high``: one row per policy and source, then one with source ``total`` (the
        NPV difference). Sources that are 0 in every replication are left out.
    """
    rows = []
    for policy in policy_order(decomposition) if not decomposition.empty else []:
        table = decomposition.loc[decomposition["policy"].astype(str) == policy]
        base = str(table["baseline"].iloc[0])
        for key, label in (*SOURCES, ("npv_difference", "total")):
            values = table[key].to_numpy(float)
            if key != "npv_difference" and np.allclose(values, 0.0, atol=1e-6):
                continue
            mean, low, high = mean_ci(values)
            source = "total" if key == "npv_difference" else key
            rows.append(
                {
                    "policy": policy,
                    "baseline": base,
                    "source": source,
                    "label": label,
                    "mean": mean,
                    "ci_low": low,
                    "ci_high": high,
                }
            )
    columns = ["policy", "baseline", "source", "label", "mean", "ci_low", "ci_high"]
    return pd.DataFrame(rows, columns=columns)


def _money(value: float) -> str:
    from simulation.runs.formatting import format_number

    return format_number(value, "money", signed=True)


def explain(summary: pd.DataFrame, policy: str) -> str:
    """One sentence naming the main source of a policy's NPV difference from the baseline.

    Args:
        summary: a table from :func:`summarise_decomposition`.
        policy: a policy other than the baseline.

    Returns:
        For example "`balanced` earns +126,193 more than `acquisition_heavy` mainly because it
        loses fewer customers (+180,512); spending more on its levers takes -61,000 back."
    """
    rows = summary.loc[summary["policy"].astype(str) == policy].set_index("source")
    if rows.empty:
        return ""
    base = str(rows["baseline"].iloc[0])
    total = float(rows.loc["total", "mean"])
    parts = rows.drop(index="total")["mean"].astype(float)
    more = "more" if total >= 0 else "less"
    head = f"`{policy}` earns {_money(abs(total))[1:]} {more} NPV than `{base}`"
    if parts.empty:
        return head + "."
    sign = 1.0 if total >= 0 else -1.0
    helping = parts[parts * sign > 0].sort_values(key=lambda s: -s.abs())
    against = parts[parts * sign < 0].sort_values(key=lambda s: -s.abs())
    if helping.empty:
        return head + "."
    main = str(helping.index[0])
    text = f"{head} mainly because it {_phrase(main, helping.iloc[0])} ({_money(helping.iloc[0])})"
    if len(helping) > 1 and abs(helping.iloc[1]) >= 0.25 * abs(helping.iloc[0]):
        second = str(helping.index[1])
        text += f" and {_phrase(second, helping.iloc[1])} ({_money(helping.iloc[1])})"
    if not against.empty and abs(against.iloc[0]) >= 0.1 * abs(total):
        offset = str(against.index[0])
        text += f", though it {_phrase(offset, against.iloc[0])} ({_money(against.iloc[0])})"
    return text + "."


def _phrase(source: str, value: float) -> str:
    gain, loss = _PHRASES[source]
    return gain if value > 0 else loss


def advertising_returns(timeseries: pd.DataFrame, policy: str, baseline: str) -> str:
    """A sentence on diminishing returns to advertising between two policies, if the data show it.

    Compares advertising spend and the customers it won (means over replications, focal
    firm): when the policy that spends more on advertising wins proportionally fewer extra
    customers with it, say by how much. Returns an empty string otherwise.

    Args:
        timeseries: a ``timeseries.csv`` table.
        policy: one policy.
        baseline: the other.
    """
    needed = ("cost_advertising", "acquired_advertising")
    if any(c not in timeseries.columns for c in needed):
        return ""
    rows = select_firm(timeseries)
    totals = rows.groupby([rows["policy"].astype(str), "replication"])[list(needed)].sum()
    means = totals.groupby(level=0).mean()
    if policy not in means.index or baseline not in means.index:
        return ""
    (high, h), (low, lo) = sorted(
        ((p, means.loc[p]) for p in (policy, baseline)),
        key=lambda item: -item[1]["cost_advertising"],
    )
    spend_high, spend_low = float(h["cost_advertising"]), float(lo["cost_advertising"])
    won_high, won_low = float(h["acquired_advertising"]), float(lo["acquired_advertising"])
    if spend_low <= 0 or won_low <= 0 or spend_high < 1.1 * spend_low:
        return ""
    extra_spend = spend_high / spend_low - 1.0
    extra_won = won_high / won_low - 1.0
    if extra_won >= extra_spend:
        return ""
    last_share = 1.0 - spend_low / spend_high
    return (
        f"Advertising saturates: the last {last_share:.0%} of `{high}`'s advertising spend "
        f"(+{extra_spend:.0%} over `{low}`) bought {_percent_more(extra_won)} customers by "
        "advertising."
    )


def _percent_more(share: float) -> str:
    if not math.isfinite(share):
        return "no more"
    if share <= 0:
        return f"{abs(share):.0%} fewer" if share < 0 else "no more"
    return f"{share:.0%} more"
