"""Start-up: building a market of 1,000,000 customers, each a registered Mesa agent.

Times, in a fresh process, the construction of ``RelationshipMarket`` with a small-world
network and one ``Customer`` agent per customer, and its parts: drawing the population,
building the network, registering the agents. Importing relsim (Mesa, pandas, pydantic) is
reported apart: a process pays it once, however many markets it builds.

    python bench/bench_startup.py [--customers 1000000]
"""

from __future__ import annotations

import argparse
import time

from common import child_main, machine, run_child, table


def measure(params: dict) -> dict:
    """Build the market once and time its parts (in the child process)."""
    start = time.perf_counter()
    import numpy as np

    from simulation.market.model import RelationshipMarket
    from simulation.market.network import build_network
    from simulation.market.population import draw_population
    from simulation.scenario.controls import configure

    imported = time.perf_counter()
    n = params["customers"]
    model = RelationshipMarket(rng=1, customers=n, customer_agents=params["agents"])
    built = time.perf_counter()
    result = {"import_s": imported - start, "build_s": built - imported}
    if params["parts"]:
        # The parts, timed again on their own with the same inputs.
        config, _ = configure(None, None, {"customers": n})
        market, rng = config.market, np.random.default_rng(1)
        t0 = time.perf_counter()
        draw_population(market, len(market.firms), rng)
        t1 = time.perf_counter()
        build_network(market.network, n, rng)
        t2 = time.perf_counter()
        result.update(population_s=t1 - t0, network_s=t2 - t1)
    result["agents"] = len(model.agents)
    return result


def main(argv: list[str] | None = None) -> dict:
    """Build with and without Customer agents and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    args = parser.parse_args(argv)
    n = args.customers
    with_agents = run_child(__file__, {"customers": n, "agents": True, "parts": True})
    without = run_child(__file__, {"customers": n, "agents": False, "parts": False})
    # A market of ten customers costs next to nothing to build but the one-off loading of the
    # compiled kernels (from numba's cache), which every build in a fresh process pays.
    tiny = run_child(__file__, {"customers": 10, "agents": False, "parts": False})
    agents_s = with_agents["build_s"] - without["build_s"]
    print(f"## Start-up ({n:,} customers, small-world network; {machine()})\n")
    print(
        table(
            ["what", "seconds", "µs per customer"],
            [
                [
                    "build, with Customer agents",
                    with_agents["build_s"],
                    with_agents["build_s"] / n * 1e6,
                ],
                ["build, without agents", without["build_s"], without["build_s"] / n * 1e6],
                [
                    "  of which: population",
                    with_agents["population_s"],
                    with_agents["population_s"] / n * 1e6,
                ],
                [
                    "  of which: network",
                    with_agents["network_s"],
                    with_agents["network_s"] / n * 1e6,
                ],
                ["  of which: loading the compiled kernels", tiny["build_s"], ""],
                ["agent registration (difference)", agents_s, agents_s / n * 1e6],
                ["import relsim (once per process)", with_agents["import_s"], ""],
            ],
        )
    )
    print(
        f"\nAgents registered: {with_agents['agents']:,}; "
        f"peak memory {with_agents['peak_rss_mib']:,.0f} MiB with agents, "
        f"{without['peak_rss_mib']:,.0f} MiB without."
    )
    return {"with_agents": with_agents, "without": without, "agents_s": agents_s, "tiny": tiny}


if __name__ == "__main__" and not child_main(measure):
    main()
