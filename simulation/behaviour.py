"""Response functions shared by the dynamics: pure numpy, no state, no randomness.

Each takes arrays (one entry per customer or per firm) and returns arrays, so that a phase of
the model is a handful of whole-array operations rather than a loop over customers.
"""

from __future__ import annotations

import numpy as np

# A price of zero is allowed; ratios are floored so that powers stay finite.
MIN_PRICE_RATIO = 1e-3


def per_period(rate: np.ndarray | float, dt: float) -> np.ndarray | float:
    """Probability of at least one event in a period of ``dt`` months at a monthly ``rate``."""
    return -np.expm1(-np.asarray(rate) * dt)


def coverage(spend: np.ndarray, unit_cost: float, eligible: np.ndarray) -> np.ndarray:
    """Share of eligible customers a lever reaches: ``1 - exp(-spend / (unit_cost * eligible))``.

    Spending exactly enough to treat everyone once reaches 63% of them: returns diminish,
    as in Blattberg & Deighton's response curves.
    """
    spend = np.asarray(spend, dtype=float)
    eligible = np.asarray(eligible, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = -np.expm1(-spend / (unit_cost * eligible))
    return np.where(eligible > 0, share, 0.0)


def advertising_rate(
    spend: np.ndarray, prospects: float, dt: float, ceiling: float, spend_scale: float
) -> np.ndarray:
    """Monthly acquisition hazard bought by advertising spend (per prospect, at neutral price).

    The monthly probability is ``ceiling * (1 - exp(-monthly spend per prospect / scale))``.
    """
    if prospects <= 0:
        return np.zeros_like(np.asarray(spend, dtype=float))
    per_prospect = np.asarray(spend, dtype=float) / dt / prospects
    probability = ceiling * -np.expm1(-per_prospect / spend_scale)
    return -np.log1p(-np.minimum(probability, 1 - 1e-12))


def price_ratio(price: np.ndarray, reference: np.ndarray | float) -> np.ndarray:
    """Price relative to a reference, floored so that zero prices stay finite."""
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.asarray(price, dtype=np.float32) / np.maximum(reference, 1e-12)
    return np.maximum(ratio, MIN_PRICE_RATIO).astype(np.float32)


def conversion(ratio: np.ndarray, sensitivity: np.ndarray, base: float = 1.0) -> np.ndarray:
    """Constant-elasticity response to price, capped at 1: ``min(1, base * ratio**-sensitivity)``.

    Args:
        ratio: price paid relative to the reference price.
        sensitivity: price elasticity magnitude of each customer.
        base: the share who buy at the reference price.
    """
    return np.minimum(base * np.exp(-sensitivity * np.log(ratio)), 1.0)


def pick_column(weights: np.ndarray, u: np.ndarray) -> np.ndarray:
    """For each row of non-negative ``weights``, the column chosen by the uniform ``u``.

    Rows whose weights are all zero get column 0.
    """
    cumulative = np.cumsum(weights, axis=1)
    total = cumulative[:, -1:]
    target = u[:, None] * total
    chosen = (cumulative <= target).sum(axis=1)
    return np.minimum(chosen, weights.shape[1] - 1)


def contact_effect(
    contacts: np.ndarray,
    unwanted: np.ndarray,
    tolerance: np.ndarray,
    response: np.ndarray,
    benefit: float,
    penalty: float,
) -> np.ndarray:
    """Satisfaction change from this period's contacts: an inverted U peaking at ``tolerance``.

    Wanted contacts help up to the ideal number and hurt beyond it (Godfrey, Seiders & Voss
    2011); each contact in an unwanted channel irritates on top.
    """
    shape = contacts - contacts * contacts / (2.0 * tolerance)
    return benefit * response * shape - penalty * unwanted


def expected_lifetime_value(
    margin: np.ndarray, churn_probability: np.ndarray, discount: float
) -> np.ndarray:
    """Expected discounted value of a customer, counted from the next period.

    With margin m per period, retention r and discount rate d: ``m * r / (1 + d - r)``.
    """
    retention = 1.0 - np.asarray(churn_probability, dtype=float)
    margin = np.asarray(margin, dtype=float)
    # With no discounting and no churn the value is unbounded: infinite for a positive
    # margin, and 0 (not NaN) for a customer who earns nothing.
    with np.errstate(divide="ignore", invalid="ignore"):
        value = margin * retention / (1.0 + discount - retention)
    return np.where(margin == 0, 0.0, value)


# --------------------------------------------------------------------------- fast primitives
# Whole-array passes dominate the cost of a period. Two numpy idioms are slow on the model's
# data because customers of each kind are scattered through the rows: ``np.where`` and boolean
# indexing branch once per element and mispredict on a random mask (3-6 ms per million rows,
# against 0.1-0.6 ms for arithmetic). The helpers below give the same results, bit for bit,
# without branching per element.


_ALL_ONES = {size: np.dtype(f"u{size}").type(-1 % 2 ** (8 * size)) for size in (1, 2, 4, 8)}


def select(mask: np.ndarray, a: np.ndarray | float, b: np.ndarray | float, dtype=np.float32):
    """``np.where(mask, a, b).astype(dtype)``, bit for bit, without branching per element.

    Blends the bit patterns: ``b ^ ((a ^ b) & m)`` with ``m`` all ones where ``mask`` holds.
    Casting ``a`` and ``b`` to ``dtype`` first gives the same values as casting the result
    after ``np.where``, because the cast acts on each element alone.

    Args:
        mask: boolean array.
        a: values (or a scalar) where ``mask`` is true.
        b: values (or a scalar) where it is false.
        dtype: dtype of the result (1, 2, 4 or 8 bytes wide).
    """
    dtype = np.dtype(dtype)
    bits = np.dtype(f"u{dtype.itemsize}")
    a_bits = np.asarray(a).astype(dtype, copy=False).view(bits)
    b_bits = np.asarray(b).astype(dtype, copy=False).view(bits)
    ones = np.asarray(mask, dtype=bool).view(np.uint8) * _ALL_ONES[bits.itemsize]
    if b_bits.ndim == 0 and not b_bits:  # select(mask, a, 0): keep a where mask holds
        return np.bitwise_and(a_bits, ones).view(dtype)
    out = np.bitwise_and(np.bitwise_xor(a_bits, b_bits), ones)
    np.bitwise_xor(out, b_bits, out=out)
    return out.view(dtype)


def count_by(codes: np.ndarray, mask: np.ndarray | None, length: int) -> np.ndarray:
    """``np.bincount(codes[mask], minlength=length)`` for a few codes, without compressing.

    One comparison per code is cheaper than boolean indexing when there are a handful of
    codes (firms, stages). Every code must lie in ``range(length)``.
    """
    if mask is None:
        counts = [np.count_nonzero(codes == code) for code in range(length)]
    else:
        counts = [np.count_nonzero(mask & (codes == code)) for code in range(length)]
    return np.array(counts, dtype=np.intp)


def sum_rows(rows: np.ndarray) -> np.ndarray:
    """Column sums of a (k, n) array: ``rows.T.sum(axis=1)`` on a C-ordered copy, bit for bit.

    numpy sums each short row of an (n, k) array with a call of its own; adding k whole rows
    is about ten times faster. Below 8 terms numpy adds left to right, as here; from 8 on it
    adds pairwise, so wider arrays take numpy's own path to give the same sums.
    """
    if rows.shape[0] >= 8:
        return np.ascontiguousarray(rows.T).sum(axis=1)
    total = rows[0].copy()
    for row in rows[1:]:
        total += row
    return total


def by_flags(function, *flags: np.ndarray) -> np.ndarray:
    """``function(*flags)`` for boolean arrays, looked up rather than computed per element.

    A function of k flags takes at most 2**k values: it is evaluated once on every
    combination, with the same operations, and each element picks its entry. Exact for any
    elementwise function; it replaces several float64 passes over all customers by one lookup.
    """
    combos = [((np.arange(2 ** len(flags)) >> i) & 1).astype(bool) for i in range(len(flags))]
    table = np.asarray(function(*combos))
    code = np.zeros(np.shape(flags[0]), dtype=np.uint8)
    for i, flag in enumerate(flags):
        code |= np.asarray(flag, dtype=bool).view(np.uint8) << np.uint8(i)
    return np.take(table, code)


def pick_row(weights: np.ndarray, u: np.ndarray) -> np.ndarray:
    """:func:`pick_column` for weights laid out one row per option, bit for bit.

    ``pick_row(w, u) == pick_column(w.T, u)``: the running sums down the rows are the same
    additions in the same order as along the short axis, at a fraction of the cost.
    """
    cumulative = np.cumsum(weights, axis=0)
    chosen = (cumulative <= u * cumulative[-1]).sum(axis=0)
    return np.minimum(chosen, weights.shape[0] - 1)
