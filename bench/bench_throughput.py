"""Throughput: seconds and nanoseconds per customer-period at 10k, 100k and 1M customers.

Runs the full behaviour set (the default scenario's ``retention_focused`` policy switches on
every lever: loyalty points, referral programme, win-back, contacts, complaint handling) over
a small-world network, each size in a fresh process, on every core the process may use (a
market of more than one block of 65,536 customers runs its passes on threads), and the
largest size again on one thread. Only the periods are timed; the build is
reported by ``bench_startup.py``. Peak memory covers the customer state, the network, the
collected data and the Customer agents when they are created.

    python bench/bench_throughput.py [--periods 24] [--sizes 10000 100000 1000000]
"""

from __future__ import annotations

import argparse
import os
import time

from common import child_main, machine, run_child, table

BLOCK = 1 << 16  # simulation.market.threads.BLOCK: a smaller market runs as one compiled call

POLICY = "retention_focused"


def measure(params: dict) -> dict:
    """Build one market, run it, and time the periods (in the child process)."""
    from simulation.market import threads
    from simulation.market.model import RelationshipMarket

    threads.set_threads(params["threads"])
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
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    runs = [(n, agents, cores) for agents in (False, True) for n in args.sizes]
    if cores > 1:  # the largest market again on one thread
        runs.append((max(args.sizes), False, 1))
    rows = []
    for n, agents, count in runs:
        params = {"customers": n, "periods": args.periods, "agents": agents, "seed": args.seed}
        params["threads"] = count
        result = run_child(__file__, params)
        ns = result["run_s"] / (n * args.periods) * 1e9
        rows.append({**params, **result, "ns": ns})
    print(f"## Throughput ({POLICY}, small-world network; {machine()})\n")
    print(
        table(
            [
                "customers",
                "agents",
                "threads",
                "periods",
                "seconds",
                "ns/customer-period",
                "peak MiB",
            ],
            [
                [
                    r["customers"],
                    "yes" if r["agents"] else "no",
                    r["threads"] if r["customers"] > BLOCK else "-",
                    r["periods"],
                    r["run_s"],
                    r["ns"],
                    r["peak_rss_mib"],
                ]
                for r in rows
            ],
        )
    )
    sizes = [r for r in rows if not r["agents"] and r["threads"] == cores]
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
