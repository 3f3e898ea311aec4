"""Social networks for referrals, built directly as scipy CSR matrices (no per-node loops).

networkx is kept for drawing small pictures; building a million-node graph with it would take
minutes, so the generators here draw edge lists in bulk with the model's generator.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import numpy as np
import scipy.sparse as sp

from simulation.scenario.schema import Network

CACHE_ENTRIES = 4
"""Networks :func:`cached_network` keeps: the policies of a paired comparison run one seed
after another, so a few entries catch every repeat."""

CACHE_MAX_BYTES = 16 * 2**20
"""Larger networks (about 100,000 customers of 10 contacts each) are built afresh every time:
a small run is where the build counts, and a large matrix should not outlive its model. The
cache thus holds at most ``CACHE_ENTRIES * CACHE_MAX_BYTES`` (64 MiB)."""

# (spec, customers, generator state before) -> (matrix, generator state after); most recent last.
_cache: OrderedDict[tuple, tuple[sp.csr_matrix, dict[str, Any]]] = OrderedDict()


def build_network(spec: Network, n: int, rng: np.random.Generator) -> sp.csr_matrix | None:
    """Build the referral network: a symmetric 0/1 CSR matrix, or None for full mixing.

    Args:
        spec: the scenario's network section.
        n: number of customers.
        rng: the model's generator.
    """
    if spec.kind == "none" or n < 2:
        return None
    degree = min(spec.mean_degree, n - 1)
    if spec.kind == "random":
        src, dst = _random_edges(n, degree, rng)
    elif spec.kind == "small_world":
        src, dst = _small_world_edges(n, degree, spec.rewire, rng)
    else:
        src, dst = _chung_lu_edges(n, degree, spec.exponent, rng)
    return _symmetric(src, dst, n)


def cached_network(spec: Network, n: int, rng: np.random.Generator) -> sp.csr_matrix | None:
    """:func:`build_network`, reusing the matrix when the same build was done recently.

    Every policy of a paired comparison meets the same network: same spec, same size and the
    generator in the same state. Such a build is done once; a repeat gets the same matrix and
    leaves the generator in the state the build left it in, so every later draw is exactly
    as without the cache.

    The matrix is shared between the models that asked for it: it must be treated as
    read-only.

    Args:
        spec: the scenario's network section.
        n: number of customers.
        rng: the model's generator; advanced as :func:`build_network` would advance it.
    """
    if spec.kind == "none" or n < 2:
        return build_network(spec, n, rng)
    key = (spec.model_dump_json(), n, _frozen(rng.bit_generator.state))
    hit = _cache.get(key)
    if hit is not None:
        _cache.move_to_end(key)
        matrix, after = hit
        rng.bit_generator.state = after
        return matrix
    matrix = build_network(spec, n, rng)
    if _nbytes(matrix) <= CACHE_MAX_BYTES:
        _cache[key] = (matrix, rng.bit_generator.state)
        while len(_cache) > CACHE_ENTRIES:
            _cache.popitem(last=False)
    return matrix


def clear_network_cache() -> None:
    """Forget the networks :func:`cached_network` keeps."""
    _cache.clear()


def _nbytes(matrix: sp.csr_matrix) -> int:
    """Memory held by a CSR matrix's arrays."""
    return matrix.data.nbytes + matrix.indices.nbytes + matrix.indptr.nbytes


def _frozen(value: Any) -> Any:
    """A generator's state (nested dicts of numbers and arrays) as a hashable key."""
    if isinstance(value, dict):
        return tuple((k, _frozen(v)) for k, v in sorted(value.items()))
    if isinstance(value, list | tuple):
        return tuple(_frozen(v) for v in value)
    if isinstance(value, np.ndarray):
        return (value.dtype.str, value.shape, value.tobytes())
    return value


def _random_edges(n: int, degree: float, rng: np.random.Generator) -> tuple:
    """Erdős–Rényi G(n, m) with m = n * degree / 2 edges (duplicates are merged)."""
    m = int(round(n * degree / 2))
    return rng.integers(0, n, m), rng.integers(0, n, m)


def _small_world_edges(n: int, degree: float, rewire: float, rng: np.random.Generator) -> tuple:
    """Watts–Strogatz: a ring lattice, each edge's far end rewired with probability ``rewire``."""
    half = max(1, int(round(degree / 2)))
    src = np.tile(np.arange(n, dtype=np.int64), half)
    offsets = np.repeat(np.arange(1, half + 1, dtype=np.int64), n)
    dst = (src + offsets) % n
    moved = rng.random(len(dst)) < rewire
    dst[moved] = rng.integers(0, n, int(moved.sum()))
    return src, dst


def _chung_lu_edges(n: int, degree: float, exponent: float, rng: np.random.Generator) -> tuple:
    """Scale-free (Chung–Lu): endpoints drawn in proportion to power-law expected degrees."""
    weights = (np.arange(n) + 1.0) ** (-1.0 / (exponent - 1.0))
    cumulative = np.cumsum(weights)
    cumulative /= cumulative[-1]
    m = int(round(n * degree / 2))
    pick = np.searchsorted
    src = pick(cumulative, rng.random(m)).clip(max=n - 1)
    dst = pick(cumulative, rng.random(m)).clip(max=n - 1)
    order = rng.permutation(n)  # the hubs should not be the lowest row numbers
    return order[src], order[dst]


def _symmetric(src: np.ndarray, dst: np.ndarray, n: int) -> sp.csr_matrix:
    keep = src != dst
    src, dst = src[keep], dst[keep]
    rows = np.concatenate([src, dst]).astype(np.int32)
    cols = np.concatenate([dst, src]).astype(np.int32)
    data = np.ones(len(rows), dtype=np.float32)
    matrix = sp.csr_matrix((data, (rows, cols)), shape=(n, n))
    matrix.data[:] = 1.0  # merge duplicate edges into one
    return matrix


def degrees(matrix: sp.csr_matrix) -> np.ndarray:
    """Number of contacts of each customer."""
    return np.diff(matrix.indptr)
