"""The compiled per-customer rules against answers known in closed form.

The uniforms are fed as an evenly spaced grid ``(k + 0.5) / N`` instead of random draws, so each
share the rules produce must equal its probability to within 1/N: there is no sampling error.
"""

import numpy as np
import pytest

from simulation.market import kernels
from simulation.market.model import RelationshipMarket

N = 20_000  # grid points: shares are exact to 1/N
GRID = ((np.arange(N) + 0.5) / N).astype(np.float32)
TOL = 2 / N


def test_acquisition_shares_follow_the_hazards():
    # Two firms; advertising hazards 0.02 and 0.05, referral hazards 0.03 and 0.01 a month.
    ad = np.array([0.02, 0.05])
    referral = np.tile(np.array([[0.03], [0.01]], dtype=np.float32), (1, N))
    response = np.tile(np.array([[0.8], [0.5]], dtype=np.float32), (1, N))
    dt = 1.0
    outcome = kernels.acquisitions(GRID, ad, referral, response, 0.5, 0.9, dt)

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


def test_leavers_are_the_customers_below_their_churn_probability():
    model = RelationshipMarket(rng=1, customers=N, customer_agents=False)
    customers = model.customers()
    probability = np.where(customers.firm < model.n_firms, 0.1, 0.0).astype(np.float32)
    rows = kernels.leavers(customers, GRID, probability, model.steps + 1)
    expected = np.flatnonzero((probability > GRID) & (customers.acquired_at < model.steps + 1))
    np.testing.assert_array_equal(rows, expected)
    assert rows.size > 0


@pytest.fixture
def one_period_of_service():
    """A market whose service phase runs once on a grid of uniforms for every lever."""

    def run(reach_share: float, **rule_changes):
        model = RelationshipMarket(rng=2, customers=N, customer_agents=False)
        pop = model.population
        pop.firm[:] = 0  # everyone is a customer of the focal firm, acquired long ago
        pop.acquired_at[:] = -12
        pop.response[:] = 1.0  # relational customers respond in full
        customers = model.customers()
        terms = model.firm_terms._replace(failure_probability=np.array([0.2, 0.2, 0.2, 0.0]))
        rules = model.service_rules._replace(**rule_changes)
        draws = kernels.Draws(GRID, GRID, GRID, GRID, GRID, np.zeros(N, dtype=np.float32))
        reach = np.full((kernels.N_LEVERS, model.n_firms + 1), reach_share)
        everyone, nobody = np.ones(N, dtype=bool), np.zeros(N, dtype=bool)
        before = pop.purchases.copy()
        kernels.serve_customers(
            customers, everyone, nobody, draws, reach, terms, rules, 1, np.ones(40)
        )
        return model, pop.purchases - before

    return run


def test_purchases_follow_the_purchase_probability(one_period_of_service):
    _, bought = one_period_of_service(0.0, purchase_probability=0.6)
    assert bought.mean() == pytest.approx(0.6, abs=TOL)


def test_a_buyers_thank_you_uses_a_fresh_uniform(one_period_of_service):
    # The thank-you reaches 30% of buyers: given a purchase (u < 0.6), u / 0.6 is uniform,
    # so the thanked are the first 30% of the buyers, 18% of everyone, and no non-buyer.
    rules = {"purchase_probability": 0.6, "thank_you_strength": 1.0, "strength_gain": 0.0}
    rules |= {"personalisation_strength": 0.0, "strength_loss": 0.0}
    model, bought = one_period_of_service(0.3, **rules)
    strength = model.population.strength
    gained = strength > 0.99  # a thank-you with strength weight 1 makes trust complete
    assert gained.mean() == pytest.approx(0.6 * 0.3, abs=TOL)
    assert not (gained & (bought == 0)).any()


SMALL_RUN = """
import sys
from simulation.market.model import RelationshipMarket
from simulation.runs.runner import firm_timeseries

model = RelationshipMarket(rng=3, customers=300, periods=12, customer_agents=False)
model.run()
firm_timeseries(model).to_csv(sys.stdout, index=False, float_format="%.17g")
"""


def test_compiled_kernels_match_the_same_code_run_by_python(tmp_path):
    # NUMBA_DISABLE_JIT makes numba run the kernels as the plain Python they are written in:
    # a compiled kernel that read or typed anything differently would change the tables.
    import io
    import os
    import subprocess
    import sys

    import pandas as pd

    def run(disable_jit: str) -> pd.DataFrame:
        env = {**os.environ, "NUMBA_DISABLE_JIT": disable_jit}
        out = subprocess.run(
            [sys.executable, "-c", SMALL_RUN], env=env, capture_output=True, text=True, check=True
        ).stdout
        return pd.read_csv(io.StringIO(out))

    compiled, interpreted = run("0"), run("1")
    # Interpreted, numpy keeps float32 * Python float in float32 (NEP 50) where the compiled
    # code computes in float64: satisfaction may differ in its last float32 bit (2e-8 of the
    # mean satisfaction was seen), far inside 1e-6; everything else must agree exactly.
    pd.testing.assert_frame_equal(compiled, interpreted, check_exact=False, rtol=1e-6)
    exact = [c for c in compiled.columns if c != "mean_satisfaction"]
    pd.testing.assert_frame_equal(compiled[exact], interpreted[exact], check_exact=True)
    assert compiled["acquired"].sum() > 0 and compiled["churned"].sum() > 0
