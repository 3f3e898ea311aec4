"""Acquisition: the compiled choice among hazards, and word of mouth in a whole market.

The uniforms are fed as an evenly spaced grid ``(k + 0.5) / N`` instead of random draws, so each
share the rules produce must equal its probability to within 1/N: there is no sampling error.
"""

import numpy as np
import pytest

from simulation.market.phases.acquisition import acquisitions
from simulation.scenario.loading import apply_overrides

N = 20_000  # grid points: shares are exact to 1/N
GRID = ((np.arange(N) + 0.5) / N).astype(np.float32)
TOL = 2 / N


def test_acquisition_shares_follow_the_hazards():
    # Two firms; advertising hazards 0.02 and 0.05, referral hazards 0.03 and 0.01 a month.
    ad = np.array([0.02, 0.05])
    referral = np.tile(np.array([[0.03], [0.01]], dtype=np.float32), (1, N))
    # Uptake of each firm's offer 0.8 and 0.5: the offers' logs for a sensitivity of 1.
    log_offer = -np.log(np.array([0.8, 0.5]))
    dt = 1.0
    outcome = acquisitions(GRID, ad, referral, log_offer, np.ones(N), 0.5, 0.9, dt)

    buying = np.array([0.02 * 0.4, 0.05 * 0.25, 0.03 * 0.72, 0.01 * 0.45])
    reached = ad + referral[:, 0].astype(float)
    p_buy = 1 - np.exp(-buying.sum() * dt)
    p_reach = 1 - np.exp(-reached.sum() * dt)
    shares = np.bincount(outcome + 1, minlength=7) / N  # -1 (nothing) is column 0
    assert shares[0] == pytest.approx(1 - p_reach, abs=TOL)
    # Won: by firm and channel in proportion to the buying hazards.
    np.testing.assert_allclose(shares[3:], p_buy * buying / buying.sum(), atol=TOL)
    # Reached without buying: the firm considered in proportion to each firm's reach.
    np.testing.assert_allclose(
        shares[1:3], (p_reach - p_buy) * reached / reached.sum(), atol=TOL, rtol=0
    )


def test_no_word_of_mouth_means_no_referrals(small_scenario, focal_books):
    off = apply_overrides(small_scenario, {"market.responses.word_of_mouth.enabled": False})
    assert focal_books(off, 3)["acquired_referral"].sum() == 0
    assert focal_books(small_scenario, 3, "retention_focused")["acquired_referral"].sum() > 0
