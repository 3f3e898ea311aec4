"""The one set of limits of relsim, and the memory a run will need.

Files, command-line flags and the Python API check the same numbers, so a value one of them
accepts is never refused by another (a run's own ``scenario.yaml`` always loads again).

Memory is estimated before anything is simulated, from the figures measured in
``docs/performance.md`` (654 MiB at 1,000,000 customers without Customer agents, 946 MiB
with them, 268 MiB at 10,000), and compared with what this process may use: the memory
available on the machine, the process's address-space limit (``ulimit -v``) and its
control group's limit, whichever is smallest.
"""

from __future__ import annotations

import math
import os
import resource
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from simulation.errors import ResourceError, UserError

SEED_MAX = 2**63 - 1
"""Largest master seed: seeds are stored as signed 64-bit integers in every table."""
MAX_REPLICATIONS = 100_000
"""Most replications of a scenario, of a design point, or of a sequential rule."""
MAX_INPUT_BYTES = 4 * 1024 * 1024
"""Largest scenario or experiment file (real ones are a few kilobytes)."""
MAX_INPUT_VALUES = 200_000
"""Most values a scenario or experiment file may hold once YAML aliases are expanded."""
MAX_EXTENDS_DEPTH = 64
"""Longest ``extends:`` chain."""
PORT_RANGE = (1, 65535)
"""Ports the dashboard may listen on."""

MIB = 1024 * 1024
# A process with relsim imported and a small run in memory (docs/performance.md: 268 MiB).
PROCESS_BYTES = 300 * MIB
# Per customer of one live model: population arrays (about 94 bytes), the period's uniforms
# (28), compiled-pass temporaries, the network while it is built and once built (CSR, int32
# index + float32 weight: 8.4 bytes per link). docs/performance.md measured 405 bytes per
# customer between 10,000 and 1,000,000 customers at mean degree 10; whole runs of 200,000
# and 2,000,000 customers peaked at 381 and 1,166 MiB (457 bytes each). The figures below
# give 480 at mean degree 10, and the check keeps a tenth of the room spare.
CUSTOMER_BYTES = 380
LINK_BYTES = 10
AGENT_BYTES = 310  # one Mesa Customer agent (946 - 654 MiB per million customers)
HEADROOM = 0.9
# A collected row (policy x replication x period x firm) of the time series: about 60 numeric
# fields, held in the run's result, in the combined table and while written.
ROW_BYTES = 60 * 8 * 3


def check_seed(seed: int, source: str) -> int:
    """Return ``seed`` if it is a whole number in ``0 .. SEED_MAX``.

    Raises:
        UserError: naming ``source`` and the allowed range.
    """
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= SEED_MAX:
        raise UserError(
            f"{source}: {seed!r} is not allowed: a seed is a whole number from 0 to {SEED_MAX}"
        )
    return seed


@dataclass(frozen=True)
class MemoryNeed:
    """What a piece of work will hold in memory at its peak."""

    what: str
    bytes: int
    detail: str


def run_memory(
    customers: int,
    periods: int,
    firms: int,
    runs: int,
    *,
    mean_degree: float = 0.0,
    workers: int = 1,
    agents: bool = False,
) -> MemoryNeed:
    """Estimate the peak memory of ``runs`` simulations, ``workers`` of them at a time.

    Args:
        customers: customers per market.
        periods: periods per run.
        firms: firms in the market.
        runs: simulations in all (policies x replications).
        mean_degree: mean degree of the referral network (0: no network).
        workers: simulations alive at once, each in its own process when above 1.
        agents: one Mesa Customer agent per customer.
    """
    concurrent = max(1, min(workers, runs, os.cpu_count() or 1))
    per_model = customers * (CUSTOMER_BYTES + LINK_BYTES * mean_degree)
    per_model += customers * AGENT_BYTES if agents else 0
    collected = runs * periods * firms * ROW_BYTES
    processes = 1 + (concurrent if concurrent > 1 else 0)
    total = processes * PROCESS_BYTES + concurrent * per_model + collected
    detail = (
        f"{customers:,} customers x {concurrent} simulation{'s' * (concurrent > 1)} at a time, "
        f"{runs:,} runs x {periods:,} periods collected"
    )
    return MemoryNeed("the run", int(total), detail)


def scenario_memory(scenario: Any, runs: int, workers: int = 1) -> MemoryNeed:
    """:func:`run_memory` of ``runs`` simulations of a scenario (without Customer agents)."""
    market = scenario.market
    network = market.network
    degree = 0.0 if network is None or network.kind == "none" else float(network.mean_degree)
    return run_memory(
        market.customers,
        market.periods,
        len(market.firms),
        runs,
        mean_degree=degree,
        workers=workers,
    )


def available_memory() -> tuple[int, str]:
    """The most memory this process may still use, and where that limit comes from."""
    found: list[tuple[int, str]] = []
    meminfo = _meminfo_available()
    if meminfo is not None:
        found.append((meminfo, "memory available on this machine"))
    else:
        pages = os.sysconf("SC_PHYS_PAGES") if hasattr(os, "sysconf") else -1
        if pages > 0:
            found.append((pages * os.sysconf("SC_PAGE_SIZE"), "memory of this machine"))
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft != resource.RLIM_INFINITY:
        found.append((max(0, soft - _address_space_used()), "the address-space limit (ulimit -v)"))
    cgroup = _cgroup_available()
    if cgroup is not None:
        found.append((cgroup, "this control group's memory limit"))
    return min(found) if found else (2**62, "no limit known")


def check_memory(need: MemoryNeed, *, flag: str = "--skip-memory-check") -> None:
    """Refuse work that cannot fit in the memory this process may use.

    Raises:
        ResourceError: with the estimate, the limit and how to insist.
    """
    limit, source = available_memory()
    if need.bytes <= HEADROOM * limit:
        return
    raise ResourceError(
        f"{need.what} needs about {_size(need.bytes)} of memory ({need.detail}); "
        f"{source} is {_size(limit)}: use fewer customers, periods, replications or jobs "
        f"(or {flag} to try anyway)"
    )


def _size(n: float) -> str:
    gib = n / 1024**3
    return f"{gib:,.1f} GiB" if gib >= 1 else f"{math.ceil(n / MIB):,} MiB"


def _meminfo_available() -> int | None:
    try:
        text = Path("/proc/meminfo").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    return None


def _address_space_used() -> int:
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0
    return pages * os.sysconf("SC_PAGE_SIZE")


def _cgroup_available() -> int | None:
    """Room left under a cgroup v2 ``memory.max`` (None when unlimited or unknown)."""
    try:
        groups = Path("/proc/self/cgroup").read_text().splitlines()
        relative = next(line.split("::", 1)[1] for line in groups if line.startswith("0::"))
        folder = Path("/sys/fs/cgroup") / relative.lstrip("/")
        limit = (folder / "memory.max").read_text().strip()
        if limit == "max":
            return None
        used = int((folder / "memory.current").read_text().strip())
    except (OSError, StopIteration, ValueError):
        return None
    return max(0, int(limit) - used)
