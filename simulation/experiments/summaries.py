"""Per-point summaries: mean and confidence interval of each outcome at each design point.

Each design point is summarised from its own runs only, so the report can stream through a
sweep folder one point at a time. Differences between policies are *paired*: replication
``r`` of every policy at a point ran with the same seed, so the difference is taken run by
run before averaging, which removes the luck the policies share.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd

from simulation.experiments.spec import ExperimentSpec, Factor, Target

POINT_COLUMNS = (
    "policy",
    "baseline",
    "outcome",
    "n",
    "mean",
    "sd",
    "ci_low",
    "ci_high",
)
"""Columns of ``points.csv`` after ``point`` and the factor columns."""


@dataclass(frozen=True)
class Study:
    """What the summaries need to know about an experiment (also readable from a folder)."""

    factors: list[Factor]
    policies: list[str]
    outcomes: list[str]
    target: Target
    confidence: float

    @classmethod
    def of(cls, spec: ExperimentSpec) -> Study:
        """From a resolved spec (policies and target filled in)."""
        assert spec.policies is not None and spec.target is not None
        return cls(spec.factors, spec.policies, spec.outcomes, spec.target, spec.confidence)

    @property
    def labels(self) -> list[str]:
        """Factor column names."""
        return [f.label for f in self.factors]

    @property
    def baseline(self) -> str | None:
        """The policy that differences are taken against (None with a single policy)."""
        if self.target.baseline is not None:
            return self.target.baseline
        return self.policies[0] if len(self.policies) > 1 else None

    def target_row(self, points: pd.DataFrame) -> pd.DataFrame:
        """The rows of ``points.csv`` that hold the target, one per design point."""
        t = self.target
        mask = (points["outcome"] == t.outcome) & (points["policy"] == t.policy)
        if t.baseline is None:
            mask &= points["baseline"].isna() | (points["baseline"] == "")
        else:
            mask &= points["baseline"] == t.baseline
        return points.loc[mask].sort_values("point").reset_index(drop=True)


def summarise_point(runs: pd.DataFrame, study: Study) -> pd.DataFrame:
    """Summaries of one design point's runs.

    One row per policy x outcome, and one per paired difference against the baseline x
    outcome.

    Args:
        runs: the point's runs: ``point``, ``replication``, ``policy``, factor columns, outcomes.
        study: which outcomes, policies and confidence level.

    Returns:
        A table with ``point``, the factor columns and :data:`POINT_COLUMNS`.
    """
    from simulation.runs.stats import mean_ci

    first = runs.iloc[0]
    keys = {"point": int(first["point"]), **{x: first[x] for x in study.labels}}
    rows = []
    outcomes = [o for o in study.outcomes if o in runs.columns]
    if study.target.outcome in runs.columns and study.target.outcome not in outcomes:
        outcomes.append(study.target.outcome)
    # One table per policy indexed by replication: differences align run by run (paired).
    by_policy = {str(p): g.set_index("replication") for p, g in runs.groupby("policy", sort=False)}
    baseline = study.baseline
    for outcome in outcomes:
        for policy in study.policies:
            table = by_policy.get(policy)
            values = table[outcome].to_numpy(float) if table is not None else np.array([])
            rows.append(_row(keys, policy, None, outcome, values, study.confidence, mean_ci))
        if baseline is None or baseline not in by_policy:
            continue
        reference = by_policy[baseline][outcome]
        for policy in study.policies:
            if policy == baseline or policy not in by_policy:
                continue
            paired = (by_policy[policy][outcome] - reference).dropna().to_numpy(float)
            rows.append(_row(keys, policy, baseline, outcome, paired, study.confidence, mean_ci))
    return pd.DataFrame(rows)


def _row(keys, policy, baseline, outcome, values, confidence, mean_ci) -> dict:
    finite = values[np.isfinite(values)]
    mean, low, high = mean_ci(finite, confidence)
    if finite.size < 2:  # one value says nothing about its own uncertainty
        low = high = math.nan
    sd = float(finite.std(ddof=1)) if finite.size > 1 else math.nan
    return {
        **keys,
        "policy": policy,
        "baseline": baseline,
        "outcome": outcome,
        "n": int(finite.size),
        "mean": mean,
        "sd": sd,
        "ci_low": low,
        "ci_high": high,
    }


def summarise_points(runs: pd.DataFrame | Iterable[pd.DataFrame], study: Study) -> pd.DataFrame:
    """Per-point summaries of a whole runs table, or of an iterable of per-point tables."""
    groups: Iterator[pd.DataFrame]
    if isinstance(runs, pd.DataFrame):
        groups = (g for _, g in runs.groupby("point", sort=True)) if len(runs) else iter(())
    else:
        groups = iter(runs)
    tables = [summarise_point(g, study) for g in groups if len(g)]
    if not tables:
        return pd.DataFrame(columns=["point", *study.labels, *POINT_COLUMNS])
    return pd.concat(tables, ignore_index=True)


# --------------------------------------------------------------------------- break-even
def break_even_frontier(target: pd.DataFrame, x: str, y: str) -> pd.DataFrame:
    """Where the mean target crosses zero along ``y``, for each level of ``x``.

    The crossing is interpolated linearly between neighbouring grid levels; the table says
    on which side the target is positive, or that it keeps one sign over the whole range.

    Args:
        target: one row per grid point with columns ``x``, ``y``, ``mean``.
        x: factor whose levels give one row each.
        y: factor along which the sign change is sought.

    Returns:
        Columns ``x``, ``y`` (the break-even value, NaN when there is none), ``positive``
        (where the target is positive: ``above``, ``below``, ``everywhere``, ``nowhere`` or
        ``mixed`` when it changes sign more than once).
    """
    rows = []
    grid = target.groupby([x, y], sort=True)["mean"].mean().reset_index()
    for level, group in grid.groupby(x, sort=True):
        ys = pd.to_numeric(group[y], errors="coerce").to_numpy(float)
        ms = group["mean"].to_numpy(float)
        keep = np.isfinite(ys) & np.isfinite(ms)
        ys, ms = ys[keep], ms[keep]
        # A zero on a grid level is a crossing there; a strict sign change between two
        # levels is interpolated. A level that is exactly zero is counted once.
        crossings = sorted(
            {float(v) for v in ys[ms == 0]}
            | {
                float(ys[i] + (ys[i + 1] - ys[i]) * ms[i] / (ms[i] - ms[i + 1]))
                for i in range(len(ms) - 1)
                if ms[i] * ms[i + 1] < 0
            }
        )
        if not len(ms):
            side, at = "unknown", math.nan
        elif not crossings:
            side, at = ("everywhere" if ms.min() > 0 else "nowhere"), math.nan
        elif len(crossings) > 1:
            side, at = "mixed", float(crossings[0])
        else:
            side, at = ("above" if ms[-1] > 0 else "below"), float(crossings[0])
        rows.append({x: level, y: at, "positive": side})
    return pd.DataFrame(rows, columns=[x, y, "positive"])


# --------------------------------------------------------------------------- discovery
def discover(
    target: pd.DataFrame,
    factors: list[Factor],
    *,
    negative: bool = True,
    alpha: float = 0.05,
    min_mass: float = 0.05,
) -> tuple[pd.DataFrame, dict[str, float]] | None:
    """Scenario discovery: a box of factor ranges where the target is (mostly) negative.

    A small PRIM (Friedman & Fisher 1999, the method behind EMA Workbench's scenario
    discovery): starting from the whole sampled space, repeatedly peel off the ``alpha``
    share of points at the low or high end of one numeric factor, whichever peel most raises
    the share of cases of interest left in the box, until the box holds less than
    ``min_mass`` of the points. Of the boxes on that path, the one with the best balance
    (harmonic mean) of *coverage* (share of all cases that lie in the box) and *density*
    (share of the box that are cases) is returned.

    Args:
        target: one row per design point with the factor columns and ``mean``.
        factors: the factors (non-numeric ones are not peeled).
        negative: cases of interest are points with a negative mean (else positive).
        alpha: share of the box peeled at each step.
        min_mass: smallest share of all points a box may hold.

    Returns:
        ``(box, stats)``: one row per restricted factor (``factor``, ``low``, ``high``,
        ``sampled_low``, ``sampled_high``) and ``coverage``, ``density``, ``mass``,
        ``cases`` (share of all points that are cases); None when there are no cases,
        only cases, or no numeric factor.
    """
    numeric = [
        f.label
        for f in factors
        if f.label in target.columns and pd.api.types.is_numeric_dtype(target[f.label])
    ]
    table = target.dropna(subset=["mean"])
    if not numeric or table.empty:
        return None
    x = table[numeric].to_numpy(float)
    y = (table["mean"] < 0).to_numpy() if negative else (table["mean"] > 0).to_numpy()
    total_cases = int(y.sum())
    if total_cases == 0 or total_cases == len(y):
        return None
    inside = np.ones(len(y), dtype=bool)
    low, high = x.min(axis=0), x.max(axis=0)
    share = total_cases / len(y)
    best = (2 * share / (1 + share), low.copy(), high.copy(), inside.copy())  # the whole space
    while inside.sum() > min_mass * len(y):
        candidates = []
        for j in range(x.shape[1]):
            values = x[inside, j]
            for side, bound in (
                ("low", np.quantile(values, alpha)),
                ("high", np.quantile(values, 1 - alpha)),
            ):
                keep = inside & ((x[:, j] > bound) if side == "low" else (x[:, j] < bound))
                if keep.sum() < min_mass * len(y) or keep.sum() == inside.sum():
                    continue
                candidates.append((y[keep].mean(), j, side, bound, keep))
        if not candidates:
            break
        _, j, side, bound, keep = max(candidates, key=lambda c: c[0])
        inside = keep
        if side == "low":
            low[j] = bound
        else:
            high[j] = bound
        coverage = y[inside].sum() / total_cases
        density = y[inside].mean()
        score = 2 * coverage * density / (coverage + density) if coverage + density else 0.0
        if score > best[0]:
            best = (score, low.copy(), high.copy(), inside.copy())
    _, box_low, box_high, box = best
    full_low, full_high = x.min(axis=0), x.max(axis=0)
    rows = [
        {
            "factor": name,
            "low": float(box_low[j]),
            "high": float(box_high[j]),
            "sampled_low": float(full_low[j]),
            "sampled_high": float(full_high[j]),
        }
        for j, name in enumerate(numeric)
        if box_low[j] > full_low[j] or box_high[j] < full_high[j]
    ]
    stats = {
        "coverage": float(y[box].sum() / total_cases),
        "density": float(y[box].mean()),
        "mass": float(box.mean()),
        "cases": float(total_cases / len(y)),
    }
    return pd.DataFrame(
        rows, columns=["factor", "low", "high", "sampled_low", "sampled_high"]
    ), stats
