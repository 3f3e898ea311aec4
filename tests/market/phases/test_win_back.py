"""Win-back: lapsed customers come back only when a firm spends on winning them back."""

from simulation.scenario.loading import apply_overrides


def test_win_back_brings_lapsed_customers_back(small_scenario, focal_books):
    s = apply_overrides(
        small_scenario,
        {"policies.balanced.allocation": {"advertising": 0.5, "win_back": 0.5}},
    )
    assert focal_books(s, 6, "balanced")["acquired_win_back"].sum() > 0
    assert focal_books(small_scenario, 6, "balanced")["acquired_win_back"].sum() == 0
