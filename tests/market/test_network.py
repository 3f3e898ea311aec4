"""The referral networks: symmetric 0/1 matrices without self-loops, of the asked mean degree."""

import numpy as np
import pytest

from simulation.market.network import build_network, degrees
from simulation.scenario.schema import Network

N = 5_000
MEAN_DEGREE = 10.0
# Merging duplicate links and dropping self-loops can only lower the mean degree. Random and
# small-world graphs lose well under 1% of their links that way; a scale-free graph draws many
# links between the same hubs and loses about 3% (measured: 9.69 to 9.72 over three seeds).
TOLERANCE = {"random": 0.02, "small_world": 0.01, "scale_free": 0.05}


def network(kind: str, seed: int = 1, n: int = N, **spec):
    """A seeded network of ``n`` customers of the given kind."""
    spec = Network(kind=kind, mean_degree=MEAN_DEGREE, **spec)
    return build_network(spec, n, np.random.default_rng(seed))


@pytest.mark.parametrize("kind", ["random", "small_world", "scale_free"])
def test_each_kind_is_a_symmetric_0_1_matrix_without_self_loops(kind):
    matrix = network(kind)
    assert matrix.shape == (N, N)
    assert (matrix != matrix.T).nnz == 0
    assert matrix.diagonal().sum() == 0
    assert set(np.unique(matrix.data)) == {1.0}


@pytest.mark.parametrize("kind", ["random", "small_world", "scale_free"])
def test_mean_degree_is_the_one_asked_for(kind):
    mean = degrees(network(kind)).mean()
    assert mean <= MEAN_DEGREE
    assert mean == pytest.approx(MEAN_DEGREE, rel=TOLERANCE[kind])


def test_degrees_count_each_customers_contacts():
    matrix = network("random")
    np.testing.assert_array_equal(degrees(matrix), np.asarray(matrix.sum(axis=1)).ravel())


def test_a_small_world_without_rewiring_is_a_ring_lattice():
    matrix = network("small_world", rewire=0.0)
    assert (degrees(matrix) == MEAN_DEGREE).all()
    assert matrix[0, 1] == matrix[0, 5] == matrix[0, N - 5] == 1 and matrix[0, 6] == 0


def test_a_scale_free_network_has_hubs_a_random_one_has_not():
    assert degrees(network("scale_free")).max() > 20 * degrees(network("random")).max() / 2


def test_same_seed_same_network_other_seed_other_network():
    for kind in ("random", "small_world", "scale_free"):
        assert (network(kind, seed=3) != network(kind, seed=3)).nnz == 0
        assert (network(kind, seed=3) != network(kind, seed=4)).nnz > 0


def test_no_network_means_full_mixing():
    assert network("none") is None
    assert network("random", n=1) is None
