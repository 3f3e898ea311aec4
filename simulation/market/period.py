"""One period of the market: a few compiled passes over the customers, in the phases' order.

The phases keep their rules in their own modules (:mod:`simulation.market.phases`) as compiled
functions of one customer; the passes here call them in order for each customer, so that a
small market pays no Python overhead per phase and a large one reads its state few times:

1. :func:`.moving.move`: each customer meets win-back or re-entry (if lapsed) and churn (if a
   customer), and is listed as a prospect or a promoter; then the promoters' referral weights
   and the prospects' acquisition, their exposure read from the network's CSR adjacency;
2. :func:`count`: the budgets' reach, then each customer's transactions
   (:func:`.phases.purchase.count_transactions`);
3. :func:`settle`: each customer's service, satisfaction and accounts
   (:func:`.phases.service.serve_customers`), then the lifecycle stages and counts of the
   books (:func:`.phases.books.lifecycle`).

Between them, Python only decides who is targeted (where a policy targets by value) and draws
the Gamma-Gamma amounts (where spend is drawn), from their own generators.

Per-firm decisions come between the loops inside the passes: a budget's reach depends on how
many customers it may reach, known only once every customer has been seen. A market of more
than one block of customers runs each pass block by block on threads (:func:`in_blocks`,
:mod:`.blocks`, :mod:`.threads`), with those decisions in Python between them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from functools import cache
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
from numba import njit

from simulation.market import pcg, threads
from simulation.market import response as bh
from simulation.market.blocks import in_order, load_block_kernels, move_blocks
from simulation.market.moving import AIMED, CUSTOMERS_START, FAILURES, TALLIES, move
from simulation.market.parameters import (
    ChurnRules,
    FirmTerms,
    MoveRules,
    PurchaseRules,
    Rules,
    ServiceRules,
    StageRules,
)
from simulation.market.phases import books, purchase, service
from simulation.market.population import Customers
from simulation.market.randomness import (
    N_UNIFORMS,
    U_BUY,
    U_CROSS,
    U_DROP,
    U_FAIL,
    U_LOYALTY,
    U_PERSONAL,
)
from simulation.scenario.schema import LEVERS

if TYPE_CHECKING:
    from simulation.market.model import RelationshipMarket

# The served levers' rows of the spend table, and how their budgets buy reach.
SERVED_LEVER_ROWS = np.array([LEVERS.index(lever) for lever in service.SERVED_LEVERS])
SERVED_KINDS = np.array(
    [bh.KIND_CODES[bh.LEVER_KINDS[lever]] for lever in service.SERVED_LEVERS], dtype=np.int64
)


class State(NamedTuple):
    """The population's arrays the passes need beyond :class:`Customers`, and scratch space."""

    stage: np.ndarray
    considering: np.ndarray
    referral_tendency: np.ndarray
    base_churn_rate: np.ndarray
    log_base_churn_rate: np.ndarray
    churn_probability: np.ndarray
    dropout_multiplier: np.ndarray  # BG/NBD: the marketing multiplier of the drop-out chance
    expected: np.ndarray  # expected transactions in a full period (lifetime value's basis)
    weight: np.ndarray  # scratch: promoters' referral weight this period, else 0
    prospects: np.ndarray  # scratch: rows of this period's prospects
    promoters: np.ndarray  # scratch: rows of this period's promoters
    everyone: np.ndarray  # all True: who is targeted where no policy targets by value
    no_one: np.ndarray  # all False: whose service is cut where no policy cuts it
    slot: np.ndarray  # scratch: a prospect's row while exposure is pushed, else -1


class Cohorts(NamedTuple):
    """The cohort tracker's counts (:class:`..cohorts.CohortTracker`); empty: not tracked."""

    size: np.ndarray
    base_sum: np.ndarray
    lost: np.ndarray
    base_lost: np.ndarray


class Network(NamedTuple):
    """The referral network's CSR adjacency and each customer's contacts (at least 1)."""

    indptr: np.ndarray
    indices: np.ndarray
    degree: np.ndarray


def run(market: RelationshipMarket) -> None:
    """Run the period's passes and leave the books' inputs on ``market``.

    Sets ``market.tally``, ``market.customers_start``, ``market.lever_cost``,
    ``market.sales`` and ``market.lifecycle``. A market of one block (:mod:`.threads`), where
    no policy targets by value and spend is not drawn, runs its three passes in one compiled
    call (:func:`whole_period`): each call from Python costs about 10 microseconds to unpack
    the arrays, as much as serving 100 customers. Otherwise :func:`in_blocks` runs them.
    """
    f_none, terms = market.n_firms, market.firm_terms
    spend = market.firm_table.spend * market.spend_scale
    tally = np.zeros((len(TALLIES), f_none + 1))
    counts = np.zeros((3, f_none + 1), dtype=np.int64)
    lever_cost = np.zeros((service.N_SERVED_LEVERS, f_none + 1))
    if market.steps - market.earliest_start >= len(market.serve_factor):  # past the horizon
        market.serve_factor = service.serve_cost_by_tenure(market, 2 * market.steps)
    one_call = not (market.targets_by_value or market.rules.service.gamma_gamma)
    if one_call and market.population.size <= threads.BLOCK:
        c, s, u, noise = market.customers(), market.state, market.u, market.noise
        sums, lifecycle = whole_period(
            *plain(c, s, terms, market.rules, market.links, market.cohort_counts),
            u,
            noise,
            market.unit_costs,
            spend,
            market.steps,
            market.serve_factor,
            tally,
            counts,
            lever_cost,
        )
    else:
        sums, lifecycle = in_blocks(market, spend, tally, counts, lever_cost)
    sales = np.empty((len(SALES), f_none + 1))
    sales[:-1] = sums
    sales[-1] = sums[service.SUM_NAMES.index("rewards")] * terms.reward_value
    market.tally = NamedRows(TALLIES, tally)
    market.customers_start = counts[CUSTOMERS_START]
    market.lever_cost = NamedRows(service.SERVED_LEVERS, lever_cost)
    market.sales = NamedRows(SALES, sales)
    market.lifecycle = lifecycle


class NamedRows(Mapping):
    """The rows of a table of per-firm numbers, by name (each row one value per firm).

    The period's tallies, sales and lever costs: a row is made when it is read, and the
    books read the whole table at once (:meth:`lists`).
    """

    __slots__ = ("names", "table", "_index")

    def __init__(self, names: tuple[str, ...], table: np.ndarray):
        self.names, self.table = names, table
        self._index = _row_index(names)

    def __getitem__(self, name: str) -> np.ndarray:
        return self.table[self._index[name]]

    def __iter__(self) -> Iterator[str]:
        return iter(self.names)

    def __len__(self) -> int:
        return len(self.names)

    def lists(self) -> dict[str, list]:
        """Every row as a list of Python numbers, by name."""
        return dict(zip(self.names, self.table.tolist(), strict=True))


@cache
def _row_index(names: tuple[str, ...]) -> dict[str, int]:
    """Each name's row."""
    return {name: row for row, name in enumerate(names)}


# The rows of ``market.sales``: the per-firm sums of the service pass, and the rewards' cost.
SALES = (*service.SUM_NAMES, "reward_cost")


def in_blocks(
    market: RelationshipMarket,
    spend: np.ndarray,
    tally: np.ndarray,
    counts: np.ndarray,
    lever_cost: np.ndarray,
) -> tuple[np.ndarray, tuple]:
    """The passes block by block (:mod:`.threads`), with Python between them.

    Python decides who is targeted (where a policy targets by value) and draws the
    Gamma-Gamma amounts (where spend is drawn), from their own generators. Each block's
    per-firm sums are added in block order.

    Returns:
        The per-firm sums of :func:`settle` and its counts of the lifecycle stages.
    """
    c, s, u, noise = market.customers(), market.state, market.u, market.noise
    terms, rules, step, unit_cost = market.firm_terms, market.rules, market.steps, market.unit_costs
    bounds = threads.block_bounds(market.population.size) or [(0, 0)]
    blocks = range(len(bounds))
    fixed = (terms, rules, unit_cost, market.links, market.cohort_counts, spend, step)
    with threads.block_mapper(len(bounds)) as each:
        if len(bounds) == 1:
            move(c, s, u, *fixed, tally, counts)
        else:
            move_blocks(c, s, u, *fixed, tally, counts, bounds, each)
        targeted, low_value = s.everyone, s.no_one
        if market.targets_by_value:
            targeted, low_value = service.value_segments(market, c.firm < market.n_firms)
            counts[AIMED:] = service.lever_counts(c, targeted, u[U_FAIL], terms)
        dt = rules.purchase.months
        reach = lever_reach(counts, spend, unit_cost, dt, lever_cost)

        def buy(b: int) -> np.ndarray:
            return purchases(c, s, targeted, u, reach, terms, rules, step, *bounds[b])

        buyers = in_order(each(buy, blocks))
        book_reach(service.THANK_YOU, buyers, spend, unit_cost, dt, reach, lever_cost)
        units = purchase.drawn_units(market) if rules.service.gamma_gamma else market.no_units

        def serve(b: int) -> tuple:
            return settle(
                c, s, targeted, low_value, u, noise, reach, terms, rules, step,
                market.serve_factor, units, *bounds[b],
            )  # fmt: skip

        served = each(serve, blocks)
    sums = in_order([block_sums for block_sums, _ in served])
    lifecycle = tuple(
        in_order(list(parts)) for parts in zip(*(last for _, last in served), strict=True)
    )
    return sums, lifecycle


def plain(
    c: Customers, s: State, terms: FirmTerms, rules: Rules, links: Network, cohorts: Cohorts
) -> tuple:
    """The named tuples :func:`whole_period` takes, as plain tuples (of plain tuples).

    numba reads the types of plain tuples in compiled code, but looks into named ones in
    Python, field by field: the rules' 71 numbers alone took 8 microseconds a call.
    """
    return tuple(c), tuple(s), tuple(terms), tuple(map(tuple, rules)), tuple(links), tuple(cohorts)


@njit(cache=True, nogil=True, error_model="numpy")
def whole_period(
    customers: tuple,
    state: tuple,
    firm_terms: tuple,
    market_rules: tuple,
    network: tuple,
    cohort_counts: tuple,
    u: np.ndarray,
    noise: np.ndarray,
    unit_cost: np.ndarray,
    spend: np.ndarray,
    step: int,
    serve_factor: np.ndarray,
    tally: np.ndarray,
    counts: np.ndarray,
    lever_cost: np.ndarray,
):
    """:func:`move`, :func:`count` and :func:`settle` in one call.

    For markets where everyone is targeted and each transaction is the customer's mean (no
    drawn spend): nothing needs Python between the passes. The named tuples come as
    :func:`plain` tuples and are named again here.
    """
    c, s, terms = Customers(*customers), State(*state), FirmTerms(*firm_terms)
    rules = Rules(
        ChurnRules(*market_rules[0]),
        MoveRules(*market_rules[1]),
        PurchaseRules(*market_rules[2]),
        ServiceRules(*market_rules[3]),
        StageRules(*market_rules[4]),
    )
    links, cohorts = Network(*network), Cohorts(*cohort_counts)
    move(c, s, u, terms, rules, unit_cost, links, cohorts, spend, step, tally, counts)
    reach = count(c, s, s.everyone, u, terms, rules, spend, unit_cost, counts, step, lever_cost)
    drawn = np.zeros(0, dtype=np.float32)
    return settle(
        c,
        s,
        s.everyone,
        s.no_one,
        u,
        noise,
        reach,
        terms,
        rules,
        step,
        serve_factor,
        drawn,
        0,
        c.firm.shape[0],
    )


# ---------------------------------------------------------------------------- 2. count
@njit(cache=True, nogil=True, error_model="numpy")
def count(
    c: Customers,
    s: State,
    targeted: np.ndarray,
    u: np.ndarray,
    terms: FirmTerms,
    rules: Rules,
    spend: np.ndarray,
    unit_cost: np.ndarray,
    counts: np.ndarray,
    step: int,
    lever_cost: np.ndarray,
) -> np.ndarray:
    """The service levers' reach per firm, and each customer's transactions this period.

    The thank-you answers purchases: its reach is decided once they are counted. Each lever's
    spend is booked in ``lever_cost`` where it had someone to reach. ``targeted`` says who
    gets the firms' retention effort (``s.everyone`` where no policy targets by value).

    Returns:
        ``(N_SERVED_LEVERS, firms + 1)``: the share of eligible customers each lever reaches.
    """
    dt = rules.purchase.months
    reach = lever_reach(counts, spend, unit_cost, dt, lever_cost)
    buyers = purchases(c, s, targeted, u, reach, terms, rules, step, 0, c.firm.shape[0])
    book_reach(service.THANK_YOU, buyers, spend, unit_cost, dt, reach, lever_cost)
    return reach


@njit(cache=True, nogil=True)
def lever_reach(
    counts: np.ndarray,
    spend: np.ndarray,
    unit_cost: np.ndarray,
    dt: float,
    lever_cost: np.ndarray,
) -> np.ndarray:
    """The reach of every served lever but the thank-you, per firm, from its spend.

    Returns:
        ``(N_SERVED_LEVERS, firms + 1)``, the thank-you's row left at zero.
    """
    reach = np.zeros((service.N_SERVED_LEVERS, counts.shape[1]))
    for row in range(service.N_SERVED_LEVERS):
        if row == service.THANK_YOU:
            continue
        eligible = counts[FAILURES] if row == service.COMPLAINT_HANDLING else counts[AIMED]
        book_reach(row, eligible, spend, unit_cost, dt, reach, lever_cost)
    return reach


@njit(cache=True, nogil=True, error_model="numpy")
def purchases(
    c: Customers,
    s: State,
    targeted: np.ndarray,
    u: np.ndarray,
    reach: np.ndarray,
    terms: FirmTerms,
    rules: Rules,
    step: int,
    lo: int,
    hi: int,
) -> np.ndarray:
    """:func:`.phases.purchase.count_transactions` for customers ``lo`` to ``hi - 1``.

    Returns:
        Targeted customers with at least one transaction, per firm.
    """
    return purchase.count_transactions(
        c,
        targeted,
        u[U_BUY],
        u[U_DROP],
        u[U_LOYALTY],
        u[U_PERSONAL],
        reach[service.LOYALTY],
        reach[service.PERSONALISATION],
        s.dropout_multiplier,
        terms,
        rules.purchase,
        step,
        s.expected,
        lo,
        hi,
    )


@njit(cache=True, nogil=True)
def book_reach(
    row: int,
    eligible: np.ndarray,
    spend: np.ndarray,
    unit_cost: np.ndarray,
    dt: float,
    reach: np.ndarray,
    lever_cost: np.ndarray,
) -> None:
    """Reach of served lever ``row`` for each firm, from its spend; the spend is booked."""
    lever = SERVED_LEVER_ROWS[row]
    for f in range(eligible.shape[0] - 1):
        budget = spend[lever, f]
        reach[row, f] = bh.reach_of(SERVED_KINDS[row], budget, unit_cost[lever], eligible[f], dt)
        lever_cost[row, f] = budget if eligible[f] > 0 else 0.0


# ---------------------------------------------------------------------------- 3. settle
@njit(cache=True, nogil=True, error_model="numpy")
def settle(
    c: Customers,
    s: State,
    targeted: np.ndarray,
    low_value: np.ndarray,
    u: np.ndarray,
    noise: np.ndarray,
    reach: np.ndarray,
    terms: FirmTerms,
    rules: Rules,
    step: int,
    serve_factor: np.ndarray,
    units: np.ndarray,
    lo: int,
    hi: int,
):
    """Serve customers ``lo`` to ``hi - 1``; move them to their lifecycle stage; count them.

    ``targeted`` and ``low_value`` say who gets the firms' retention effort and whose service
    is cut (``s.everyone`` and ``s.no_one`` without targeting by value); ``units`` is empty
    unless spend is drawn (the Gamma-Gamma model).

    Returns:
        The per-firm sums of :func:`.phases.service.serve_customers` and the counts of
        :func:`.phases.books.lifecycle`.
    """
    draws = service.Draws(u[U_BUY], u[U_FAIL], u[U_PERSONAL], u[U_CROSS], u[U_LOYALTY], noise)
    sums = service.serve_customers(
        c,
        targeted,
        low_value,
        draws,
        reach,
        terms,
        rules.service,
        step,
        serve_factor,
        s.expected,
        units,
        lo,
        hi,
    )
    n_firms = terms.price.shape[0] - 1
    lifecycle = books.lifecycle(
        c, s.stage, c.last_firm, s.considering, rules.stages, step, n_firms, lo, hi
    )
    return sums, lifecycle


# Which kernels this process has loaded: the one-call period, the block-by-block one.
LOADED: set[str] = set()


def load_kernels(market: RelationshipMarket) -> None:
    """Run the passes once on no customers, as part of the set-up.

    The first call in a process loads them from numba's cache (compiling them the first time
    ever); a run's periods should not be charged for it. The block-by-block kernels
    (:func:`in_blocks`) are loaded the first time a market needs them.
    """
    rules = market.rules
    kinds = {"one call"}
    split = market.targets_by_value or rules.service.gamma_gamma
    if split or market.population.size > threads.BLOCK:
        kinds.add("blocks")
    if kinds <= LOADED:
        return
    c, n_firms = market.customers(slice(0, 0)), market.n_firms
    s = market.state._replace(**{name: getattr(market.state, name)[:0] for name in State._fields})
    u, noise = np.zeros((N_UNIFORMS, 0), dtype=np.float32), np.zeros(0, dtype=np.float32)
    terms, unit_cost, links = market.firm_terms, market.unit_costs, market.links
    cohorts, spend, no_units = market.cohort_counts, market.firm_table.spend, market.no_units
    tally = np.zeros((len(TALLIES), n_firms + 1))
    counts = np.zeros((3, n_firms + 1), dtype=np.int64)
    lever_cost = np.zeros((service.N_SERVED_LEVERS, n_firms + 1))
    fixed = (terms, rules, unit_cost, links, cohorts, spend, 1)
    plain_tuples = plain(c, s, terms, rules, links, cohorts)
    _, lifecycle = whole_period(
        *plain_tuples, u, noise, unit_cost, spend, 1, np.ones(2), tally, counts, lever_cost
    )
    sales = np.zeros((len(SALES), n_firms + 1))
    books.accounts(tally, counts[CUSTOMERS_START], lever_cost, sales, *lifecycle, n_firms, 1.0)
    pcg.load()
    if "blocks" in kinds:
        move(c, s, u, *fixed, tally, counts)
        load_block_kernels(c, s, u, terms, rules, unit_cost, links, cohorts, spend, tally, counts)
        reach = lever_reach(counts, spend, unit_cost, rules.purchase.months, lever_cost)
        purchases(c, s, s.everyone, u, reach, terms, rules, 1, 0, 0)
        book_reach(service.THANK_YOU, counts[AIMED], spend, unit_cost, 1.0, reach, lever_cost)
        args = (c, s, s.everyone, s.no_one, u, noise, reach, terms, rules, 1, np.ones(2))
        settle(*args, no_units, 0, 0)
    LOADED.update(kinds)
