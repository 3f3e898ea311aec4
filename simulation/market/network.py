"""Social networks for referrals, built directly as scipy CSR matrices (no per-node loops).

networkx is kept for drawing small pictures; building a million-node graph with it would take
minutes, so the generators here draw edge lists in bulk with the model's generator.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from simulation.scenario.schema import Network


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
