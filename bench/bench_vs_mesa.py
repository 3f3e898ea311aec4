"""The engine against an idiomatic Mesa implementation of the same rules, side by side.

``reference_mesa.ReferenceMarket`` keeps one ``mesa.Agent`` per customer with its state as
Python attributes and a ``step()`` run by ``shuffle_do``; ``RelationshipMarket`` keeps the
customers in numpy arrays (with one ``Customer`` view agent each). Both read the same
scenario, policy and seed; only the periods are timed. Each runs in a fresh process. The market
follows the core rules the reference implements: at most one purchase a period (the bernoulli
purchase process), with no effect of satisfaction, programmes or price on how much is bought.

    python bench/bench_vs_mesa.py [--customers 20000] [--periods 12]
"""

from __future__ import annotations

import argparse
import time

from common import child_main, machine, run_child, table

POLICY = "retention_focused"
CORE_RULES = {
    "market__customer__purchase__process": "bernoulli",
    "market__behaviour__purchase_satisfaction_weight": 0.0,
    "market__behaviour__price_demand_weight": 0.0,
    "market__responses__loyalty__purchase_boost": 0.0,
    "market__responses__personalisation__purchase_boost": 0.0,
}


def measure(params: dict) -> dict:
    """Build and run one implementation (in the child process)."""
    from simulation.runs.registry import release

    if params["which"] == "engine":
        from simulation.market.model import RelationshipMarket as Market

        extra = {"customer_agents": True}
    else:
        from reference_mesa import ReferenceMarket as Market

        extra = {}
    start = time.perf_counter()
    model = Market(
        policy=POLICY,
        rng=params["seed"],
        customers=params["customers"],
        periods=params["periods"],
        **CORE_RULES,
        **extra,
    )
    built = time.perf_counter()
    model.run()
    ran = time.perf_counter()
    release(model)
    return {"build_s": built - start, "run_s": ran - built}


def main(argv: list[str] | None = None) -> dict:
    """Run both implementations and print the table and the ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--periods", type=int, default=12)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    cp = args.customers * args.periods
    results = {}
    for which in ("reference", "engine"):
        params = {"which": which, "customers": args.customers, "periods": args.periods}
        results[which] = run_child(__file__, {**params, "seed": args.seed})
    ratio = results["reference"]["run_s"] / results["engine"]["run_s"]
    names = {
        "reference": "Mesa agents, shuffle_do (bench/reference_mesa.py)",
        "engine": "relsim RelationshipMarket",
    }
    print(f"## Engine against idiomatic Mesa ({POLICY}; {machine()})\n")
    print(
        table(
            [
                "implementation",
                "customers",
                "periods",
                "seconds",
                "ns/customer-period",
                "build s",
                "peak MiB",
            ],
            [
                [
                    names[w],
                    args.customers,
                    args.periods,
                    r["run_s"],
                    r["run_s"] / cp * 1e9,
                    r["build_s"],
                    r["peak_rss_mib"],
                ]
                for w, r in results.items()
            ],
        )
    )
    print(f"\nThroughput ratio (engine / idiomatic Mesa): {ratio:.1f}x")
    return {**results, "ratio": ratio}


if __name__ == "__main__" and not child_main(measure):
    main()
