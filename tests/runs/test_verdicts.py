"""Ties are ties: verdicts against a margin of practical equivalence."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from simulation.runs.stats import (
    against_leader,
    equivalence_verdict,
    is_settled,
    replications_to_settle,
)


@pytest.mark.parametrize(
    ("low", "high", "n", "verdict"),
    [
        (5.0, 9.0, 10, "better"),
        (-9.0, -5.0, 10, "worse"),
        (-0.5, 0.8, 10, "equivalent"),
        (0.5, 1.5, 10, "undecided"),  # excludes 0 but crosses the margin's edge
        (-3.0, 3.0, 10, "undecided"),
        (5.0, 5.0, 1, "no interval"),
    ],
)
def test_equivalence_verdict(low: float, high: float, n: int, verdict: str) -> None:
    assert equivalence_verdict(low, high, n, margin=1.0) == verdict


def test_replications_to_settle_shrink_the_interval_below_the_distance_to_the_margin() -> None:
    # Half-width 2 at n = 10, difference 3, margin 1: distance 2, so (2 / 2)^2 x 10 x
    # ((1.96 + 0.84) / 1.96)^2 = 20.4 -> 30 after rounding up to a multiple of 10.
    assert replications_to_settle(10, 3.0, 1.0, 5.0, 1.0) == 30
    assert replications_to_settle(1, 3.0, 3.0, 3.0, 1.0) is None


def _summary(effects: dict[str, float], noise: float, n: int = 20) -> pd.DataFrame:
    rng = np.random.default_rng(5)
    shared = rng.normal(0, 5000, n)
    return pd.DataFrame(
        [
            {"policy": p, "replication": r, "npv": 100_000 + e + shared[r] + rng.normal(0, noise)}
            for p, e in effects.items()
            for r in range(n)
        ]
    )


def test_against_leader_orders_by_npv_and_scales_the_margin() -> None:
    table = against_leader(_summary({"a": 0.0, "b": 20_000.0, "c": 10_000.0}, 500.0), 0.01)
    assert list(table["leader"].unique()) == ["b"]
    assert list(table["policy"]) == ["c", "a"]  # runner-up first
    # The margin is 1% of the other policy's mean NPV (about 110,000 and 100,000).
    np.testing.assert_allclose(table["margin"], 0.01 * table["policy_mean"].abs())
    # Paired noise sd 500 x sqrt(2) over 20: half-width about 330, far from any margin edge.
    assert list(table["verdict"]) == ["better", "better"]
    assert is_settled(table["verdict"])
    assert not is_settled(["better", "undecided"])


def test_margin_must_be_a_share() -> None:
    with pytest.raises(ValueError, match="share"):
        against_leader(_summary({"a": 0.0, "b": 1.0}, 1.0), 1.5)
