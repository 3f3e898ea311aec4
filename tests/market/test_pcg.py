"""The compiled draws (:mod:`simulation.market.pcg`) are numpy's numbers, and leave numpy's state.

Every comparison is exact: the period's uniforms and normals, and the generator's state after
them (so that everything drawn later, by numpy or by the compiled code, is the same too).
"""

from __future__ import annotations

import numpy as np
import pytest

from simulation.market import pcg, threads
from simulation.market.randomness import N_UNIFORMS, draw_blocks, draw_uniforms, model_generator

pytestmark = pytest.mark.skipif(
    not pcg.compiled(model_generator(0)), reason="numba does not compile here"
)


@pytest.fixture(params=["in place", "through the state property"])
def state_access(request, monkeypatch):
    """Both ways :func:`pcg.draw` reaches the generator's state."""
    in_place = request.param == "in place"
    if in_place and not pcg.numpy_layout():
        pytest.skip("numpy keeps this generator's state in another layout here")
    monkeypatch.setattr(pcg, "IN_PLACE", in_place)
    return request.param


def numpy_draws(rng: np.random.Generator, u: np.ndarray, noise: np.ndarray, lo: int, hi: int):
    """What :func:`pcg.draw` replaces: numpy's float32 uniforms row by row, then its normals."""
    for row in u:
        rng.random(dtype=np.float32, out=row[lo:hi])
    rng.standard_normal(dtype=np.float32, out=noise[lo:hi])


@pytest.mark.parametrize("seed", [0, 1, 2024])
@pytest.mark.parametrize("half_kept", [False, True])
@pytest.mark.parametrize(("n", "lo", "hi"), [(0, 0, 0), (1, 0, 1), (7, 0, 7), (2000, 0, 2000),
                                             (5001, 1003, 3998)])  # fmt: skip
def test_same_numbers_and_state_as_numpy(seed, half_kept, n, lo, hi, state_access):
    """Three periods in a row; odd counts leave half a word kept, which the next one uses."""
    ours, theirs = model_generator(seed), model_generator(seed)
    if half_kept:  # a float32 draw keeps the word's other half in the state
        ours.random(dtype=np.float32), theirs.random(dtype=np.float32)
    for _ in range(3):
        u, noise = np.zeros((N_UNIFORMS, n), np.float32), np.zeros(n, np.float32)
        expected_u, expected_noise = u.copy(), noise.copy()
        pcg.draw(ours, u, noise, lo, hi)
        numpy_draws(theirs, expected_u, expected_noise, lo, hi)
        np.testing.assert_array_equal(u, expected_u)
        np.testing.assert_array_equal(noise, expected_noise)
        assert ours.bit_generator.state == theirs.bit_generator.state


def test_normals_through_every_branch_of_the_ziggurat(state_access):
    """Three million normals: the base strip's tail (|x| > 3.654, about 800 of them) and the
    wedges (about 1% of draws) take extra numbers, and still match numpy's to the bit."""
    n = 3_000_000
    ours, theirs = model_generator(5), model_generator(5)
    u, noise = np.zeros((0, n), np.float32), np.zeros(n, np.float32)
    pcg.draw(ours, u, noise, 0, n)
    expected = theirs.standard_normal(n, dtype=np.float32)
    assert np.count_nonzero(np.abs(expected) > pcg.ziggurat_nor_r_f) > 500  # the tail was drawn
    np.testing.assert_array_equal(noise, expected)
    assert ours.bit_generator.state == theirs.bit_generator.state


def test_the_market_draws_are_numpys():
    """:func:`draw_uniforms` and :func:`draw_blocks` give what numpy's calls give."""
    n = 3001
    block, noise = draw_uniforms(model_generator(3), n)
    rng = model_generator(3)
    np.testing.assert_array_equal(block, rng.random((N_UNIFORMS, n), dtype=np.float32))
    np.testing.assert_array_equal(noise, rng.standard_normal(n, dtype=np.float32))
    # A market of several blocks (each block's rows, then its normals, from its generator).
    n = 3 * 65_536 + 17
    seeds = (11, 12, 13, 14)
    block, noise = draw_blocks([model_generator(s) for s in seeds], n)
    expected_u, expected_noise = np.zeros_like(block), np.zeros_like(noise)
    bounds = threads.block_bounds(n)
    assert len(bounds) == len(seeds)
    for (lo, hi), seed in zip(bounds, seeds, strict=True):
        numpy_draws(model_generator(seed), expected_u, expected_noise, lo, hi)
    np.testing.assert_array_equal(block, expected_u)
    np.testing.assert_array_equal(noise, expected_noise)


def test_other_generators_draw_with_numpy():
    """A generator that is not a PCG64DXSM (a user's own) draws through numpy."""
    rng = np.random.Generator(np.random.PCG64(8))
    assert not pcg.compiled(rng)
    block, noise = draw_uniforms(rng, 10)
    expected = np.random.Generator(np.random.PCG64(8))
    np.testing.assert_array_equal(block, expected.random((N_UNIFORMS, 10), dtype=np.float32))
    np.testing.assert_array_equal(noise, expected.standard_normal(10, dtype=np.float32))
