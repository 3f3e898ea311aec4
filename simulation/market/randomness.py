"""The market's random numbers: one generator, and one block of uniforms per period.

Every random number of a period comes from the model's numpy generator, drawn before the phases
run: a block of ``N_UNIFORMS`` uniforms per customer and one standard normal (the quality a
customer experiences). The same number of draws is made each period whatever the policy, so two
policies run with one seed meet the same luck (paired comparisons).

A row of uniforms serves several events only where they cannot both need a fresh draw for one
customer in one period: a customer is lapsed, a customer or a prospect at the start of a
period, and an event that happened with probability ``p`` (``u < p``) leaves ``u / p`` uniform
for what follows from it (where a leaver goes, whether a failure is put right, whether a buyer
is thanked).
"""

from __future__ import annotations

from typing import Any

import numpy as np

# Rows of the per-period block of uniforms. U_MOVE: win-back or re-entry (lapsed people), churn
# and destination (customers), acquisition (prospects). U_BUY: the period's transactions (by
# inversion of their law), then the thank-you. U_FAIL: service failure, then recovery. U_DROP:
# drop-out after a transaction (the BG/NBD law).
U_MOVE, U_BUY, U_FAIL, U_PERSONAL, U_CROSS, U_LOYALTY, U_REFERRAL, U_DROP = range(8)
N_UNIFORMS = 8


def model_generator(rng: Any) -> np.random.Generator:
    """The model's numpy generator for a seed: PCG64DXSM (a Generator passes through).

    PCG64DXSM is PCG64 with a stronger output function, the one numpy recommends for new
    work. It also draws float32 uniforms about 1.6 times as fast as PCG64 on the project
    machine, and a period at 1M customers draws eight million of them.
    """
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, np.random.BitGenerator):
        return np.random.Generator(rng)
    return np.random.Generator(np.random.PCG64DXSM(rng))


def draw_uniforms(
    rng: np.random.Generator, n: int, block: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """This period's ``(N_UNIFORMS, n)`` float32 uniforms and ``n`` standard normals.

    The block is refilled in place when ``block`` has the right shape: a fresh 48 MB array per
    period (1M customers) costs as much in page faults as drawing the numbers. Same draws, same
    order.
    """
    if block is None or block.shape != (N_UNIFORMS, n):
        block = np.empty((N_UNIFORMS, n), dtype=np.float32)
    rng.random(dtype=np.float32, out=block)
    noise = rng.standard_normal(n, dtype=np.float32)
    return block, noise


def spend_generator(model_rng: np.random.Generator) -> np.random.Generator:
    """A generator of its own for the spread of transaction amounts (Gamma-Gamma spend).

    How many amounts a period draws depends on how many customers buy, which differs between
    policies; drawing them from the model's generator would shift every later draw and unpair
    the policies' luck. Seeded from the model's generator once, at set-up.
    """
    return np.random.Generator(np.random.PCG64DXSM(model_rng.integers(2**63)))
