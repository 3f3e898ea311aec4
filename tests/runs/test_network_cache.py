"""The network cache: a repeated build gives the same matrix and leaves the same luck behind.

Every policy of a paired comparison meets the same network (same seed, same size); the cache
builds it once. Whatever the cache holds, the matrix and every later draw of the generator
must be exactly those of a fresh build.
"""

from __future__ import annotations

import numpy as np
import pytest

from simulation.market import model as model_module
from simulation.market import network
from simulation.market.network import build_network, cached_network, clear_network_cache
from simulation.market.randomness import model_generator
from simulation.runs.runner import run_replication
from simulation.scenario.controls import resize_market
from simulation.scenario.loading import apply_overrides, load_scenario
from simulation.scenario.schema import Network

N = 2_000
KINDS = ("random", "small_world", "scale_free")


@pytest.fixture(autouse=True)
def empty_cache():
    clear_network_cache()
    yield
    clear_network_cache()


def same_matrix(a, b) -> bool:
    return (
        a.shape == b.shape
        and np.array_equal(a.indptr, b.indptr)
        and np.array_equal(a.indices, b.indices)
        and np.array_equal(a.data, b.data)
    )


@pytest.mark.parametrize("kind", KINDS)
def test_a_hit_gives_the_built_matrix_and_the_generator_state_after_the_build(kind):
    spec = Network(kind=kind, mean_degree=8.0)
    fresh = model_generator(42)
    expected = build_network(spec, N, fresh)
    first = cached_network(spec, N, model_generator(42))  # a miss: builds and keeps it
    rng = model_generator(42)
    again = cached_network(spec, N, rng)  # a hit
    assert again is first
    assert same_matrix(again, expected)
    assert rng.bit_generator.state == fresh.bit_generator.state
    # Every later draw is the one made after a fresh build.
    np.testing.assert_array_equal(rng.random(100), fresh.random(100))
    np.testing.assert_array_equal(rng.integers(0, 10**9, 50), fresh.integers(0, 10**9, 50))


def test_a_miss_advances_the_generator_as_a_build_does():
    spec = Network(kind="small_world")
    fresh, rng = model_generator(7), model_generator(7)
    assert same_matrix(cached_network(spec, N, rng), build_network(spec, N, fresh))
    assert rng.bit_generator.state == fresh.bit_generator.state


def test_another_seed_size_or_spec_is_another_network():
    spec = Network(kind="random", mean_degree=6.0)
    first = cached_network(spec, N, model_generator(1))
    for other_spec, n, seed in [
        (spec, N, 2),
        (spec, N + 1, 1),
        (Network(kind="random", mean_degree=7.0), N, 1),
        (Network(kind="small_world", mean_degree=6.0), N, 1),
    ]:
        fresh = model_generator(seed)
        expected = build_network(other_spec, n, fresh)
        rng = model_generator(seed)
        got = cached_network(other_spec, n, rng)
        assert got is not first
        assert same_matrix(got, expected)
        assert rng.bit_generator.state == fresh.bit_generator.state


def test_the_generator_state_not_the_seed_is_the_key():
    spec = Network(kind="random")
    used = model_generator(3)
    used.random(5)  # the same seed, drawn from already
    fresh = model_generator(3)
    fresh.random(5)
    cached_network(spec, N, model_generator(3))
    assert same_matrix(cached_network(spec, N, used), build_network(spec, N, fresh))
    assert used.bit_generator.state == fresh.bit_generator.state


def test_the_cache_keeps_a_few_recent_networks():
    spec = Network(kind="random", mean_degree=4.0)
    kept = [cached_network(spec, 500, model_generator(s)) for s in range(network.CACHE_ENTRIES)]
    assert cached_network(spec, 500, model_generator(0)) is kept[0]  # now the most recent
    cached_network(spec, 500, model_generator(99))  # pushes out the least recent: seed 1
    assert len(network._cache) == network.CACHE_ENTRIES
    assert cached_network(spec, 500, model_generator(0)) is kept[0]
    assert cached_network(spec, 500, model_generator(1)) is not kept[1]


def test_large_networks_are_not_kept(monkeypatch):
    spec = Network(kind="random")
    small = cached_network(spec, 100, model_generator(5))
    monkeypatch.setattr(network, "CACHE_MAX_BYTES", network._nbytes(small))
    first = cached_network(spec, 1_000, model_generator(5))
    assert list(network._cache.values())[0][0] is small
    assert len(network._cache) == 1
    second = cached_network(spec, 1_000, model_generator(5))
    assert second is not first and same_matrix(second, first)


def test_no_network_draws_nothing():
    rng = model_generator(9)
    before = rng.bit_generator.state
    assert cached_network(Network(kind="none"), N, rng) is None
    assert cached_network(Network(kind="random"), 1, rng) is None
    assert rng.bit_generator.state == before
    assert not network._cache


def test_runs_are_the_same_whether_their_network_was_cached_or_not(monkeypatch):
    # Models build their network through the cache here, whatever name the model uses.
    monkeypatch.setattr(model_module, "build_network", cached_network, raising=False)
    scenario = apply_overrides(
        resize_market(load_scenario("word_of_mouth"), 400), {"market.periods": 12}, source="test"
    )

    def runs(clear_between: bool) -> list:
        results = []
        for policy in scenario.policies:  # paired: every policy meets seed 17
            if clear_between:
                clear_network_cache()
            results.append(run_replication(scenario, policy, 17))
        return results

    with_hits = runs(False)
    assert len(network._cache) == 1  # one network, built once for every policy
    for cached, fresh in zip(with_hits, runs(True), strict=True):
        np.testing.assert_equal(cached.summary, fresh.summary)
        assert cached.timeseries.equals(fresh.timeseries)
        assert cached.cohorts.equals(fresh.cohorts)
        np.testing.assert_array_equal(cached.lifetime_values, fresh.lifetime_values)
