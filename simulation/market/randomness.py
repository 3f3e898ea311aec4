"""The market's random numbers: one generator, and one block of uniforms per period.

Every random number of a period comes from the model's numpy generator, drawn before the phases
run: a block of ``N_UNIFORMS`` uniforms per customer and one standard normal (the quality a
customer experiences). The same number of draws is made each period whatever the policy, so two
policies run with one seed meet the same luck (paired comparisons). A market of several blocks
of customers (:mod:`.threads`) draws each block's numbers from a generator of the block's own,
seeded once from the model's generator (:func:`block_generators`).

A row of uniforms serves several events only where they cannot both need a fresh draw for one
customer in one period: a customer is lapsed, a customer or a prospect at the start of a
period, and an event that happened with probability ``p`` (``u < p``) leaves ``u / p`` uniform
for what follows from it (where a leaver goes, whether a failure is put right, whether a buyer
is thanked).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from simulation.market import pcg, threads

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
    order. They are drawn by compiled code where it can (:mod:`.pcg`, the same numbers).
    """
    if block is None or block.shape != (N_UNIFORMS, n):
        block = np.empty((N_UNIFORMS, n), dtype=np.float32)
    if pcg.compiled(rng):
        noise = np.empty(n, dtype=np.float32)
        pcg.draw(rng, block, noise, 0, n)
        return block, noise
    rng.random(dtype=np.float32, out=block)
    noise = rng.standard_normal(n, dtype=np.float32)
    return block, noise


def block_generators(rng: np.random.Generator, n: int) -> list[np.random.Generator]:
    """One generator per block of a market of several blocks (:mod:`.threads`); else none.

    A large market draws each block's uniforms and normals from the block's own generator, on
    the block's thread: drawing eight million numbers a period on one core would take a fifth
    of a parallel period. The generators are seeded from the model's generator at set-up, one
    per block of fixed size, so the draws depend on the market's size, never on the threads.
    """
    blocks = len(threads.block_bounds(n))
    if blocks <= 1:
        return []
    seeds = rng.integers(2**63, size=blocks)
    return [np.random.Generator(np.random.PCG64DXSM(seed)) for seed in seeds]


def draw_blocks(
    generators: list[np.random.Generator], n: int, block: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`draw_uniforms` for a market of several blocks: each block from its generator.

    A block's rows of uniforms, then its normals, are drawn on the block's thread (numpy's
    generators release the GIL while they fill an array).
    """
    if block is None or block.shape != (N_UNIFORMS, n):
        block = np.empty((N_UNIFORMS, n), dtype=np.float32)
    noise = np.empty(n, dtype=np.float32)
    bounds = threads.block_bounds(n)

    def draw(b: int) -> None:
        lo, hi = bounds[b]
        if pcg.compiled(generators[b]):
            pcg.draw(generators[b], block, noise, lo, hi)
            return
        for row in range(N_UNIFORMS):
            generators[b].random(dtype=np.float32, out=block[row, lo:hi])
        generators[b].standard_normal(dtype=np.float32, out=noise[lo:hi])

    with threads.block_mapper(len(bounds)) as each:
        each(draw, range(len(bounds)))
    return block, noise


def spend_generator(model_rng: np.random.Generator) -> np.random.Generator:
    """A generator of its own for the spread of transaction amounts (Gamma-Gamma spend).

    How many amounts a period draws depends on how many customers buy, which differs between
    policies; drawing them from the model's generator would shift every later draw and unpair
    the policies' luck. Seeded from the model's generator once, at set-up.
    """
    return np.random.Generator(np.random.PCG64DXSM(model_rng.integers(2**63)))
