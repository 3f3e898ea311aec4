"""Throughput: seconds and nanoseconds per customer-period at 10k, 100k and 1M customers.

Runs the full behaviour set (the default scenario's ``retention_focused`` policy switches on
every lever: loyalty points, referral programme, win-back, contacts, complaint handling) over
a small-world network, each size in a fresh process. Only the periods are timed; the build is
reported by ``bench_startup.py``. Peak memory covers the customer state, the network, the
collected data and the Customer agents when they are created.

    python bench/bench_throughput.py [--periods 24] [--sizes 10000 100000 1000000]
"""

from __future__ import annotations

import argparse
import time

from common import child_main, machine, run_child, table

POLICY = "retention_focused"


def measure(params: dict) -> dict:
    """Build one market, run it, and time the periods (in the child process)."""
    from simulation.market.model import RelationshipMarket

    start = time.perf_counter()
    model = RelationshipMarket(
        policy=POLICY,
        rng=params["seed"],
        customers=params["customers"],
        periods=params["periods"],
        customer_agents=params["agents"],
    )
    built = time.perf_counter()
    model.run()
    ran = time.perf_counter()
    model.datacollector.get_agenttype_vars_dataframe(type(model.focal))  # the collected data
    return {"build_s": built - start, "run_s": ran - built}


def main(argv: list[str] | None = None) -> list[dict]:
    """Measure every size with and without Customer agents and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--periods", type=int, default=24)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    rows = []
    for agents in (False, True):
        for n in args.sizes:
            params = {"customers": n, "periods": args.periods, "agents": agents, "seed": args.seed}
            result = run_child(__file__, params)
            ns = result["run_s"] / (n * args.periods) * 1e9
            rows.append({**params, **result, "ns": ns})
    print(f"## Throughput ({POLICY}, small-world network; {machine()})\n")
    print(
        table(
            ["customers", "agents", "periods", "seconds", "ns/customer-period", "peak MiB"],
            [
                [
                    r["customers"],
                    "yes" if r["agents"] else "no",
                    r["periods"],
                    r["run_s"],
                    r["ns"],
                    r["peak_rss_mib"],
                ]
                for r in rows
            ],
        )
    )
    sizes = [r for r in rows if not r["agents"]]
    if len(sizes) > 1:
        first, last = sizes[0], sizes[-1]
        growth = (last["run_s"] / first["run_s"]) / (last["customers"] / first["customers"])
        print(
            f"\nCost grows {last['run_s'] / first['run_s']:.0f}x for "
            f"{last['customers'] / first['customers']:.0f}x the customers "
            f"(per customer-period: x{growth:.2f}; 1.00 would be exactly linear)."
        )
    return rows


if __name__ == "__main__" and not child_main(measure):
    main()
