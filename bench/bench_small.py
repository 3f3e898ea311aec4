"""A small market end to end: 2,000 customers over 120 months, built, run and summarised.

The unit of work of a search: an optimisation over uncertain markets runs tens of thousands of
these. Times one replication of the default scenario's ``retention_focused`` policy through the
public runner (``simulation.runs.runner.run_replication``: build, periods, tables, summary),
repeated on one core in a fresh process after one warm-up run, and splits the median run into
its parts.

    python bench/bench_small.py [--customers 2000] [--periods 120] [--repeats 30]
"""

from __future__ import annotations

import argparse
import statistics
import time

from common import child_main, machine, run_child, table

POLICY = "retention_focused"


def measure(params: dict) -> dict:
    """Time the runs and their parts (in the child process)."""
    from simulation.market import model as market_model
    from simulation.runs import runner
    from simulation.scenario.controls import resize_market
    from simulation.scenario.loading import apply_overrides, load_scenario

    scenario = resize_market(load_scenario("acquisition_vs_retention"), params["customers"])
    scenario = apply_overrides(scenario, {"market.periods": params["periods"]})
    parts = {"build": 0.0, "periods": 0.0}
    build = market_model.RelationshipMarket.__init__

    def timed_build(self, *args, **kwargs):
        start = time.perf_counter()
        build(self, *args, **kwargs)
        parts["build"] += time.perf_counter() - start

    def timed_step(self):
        start = time.perf_counter()
        step(self)
        parts["periods"] += time.perf_counter() - start

    step = market_model.RelationshipMarket.step
    runner.run_replication(scenario, POLICY, 1)  # loads the kernels, warms the caches
    market_model.RelationshipMarket.__init__ = timed_build
    market_model.RelationshipMarket.step = timed_step
    totals, builds, periods = [], [], []
    try:
        for seed in range(params["repeats"]):
            parts.update(build=0.0, periods=0.0)
            start = time.perf_counter()
            runner.run_replication(scenario, POLICY, 100 + seed)
            totals.append(time.perf_counter() - start)
            builds.append(parts["build"])
            periods.append(parts["periods"])
    finally:
        market_model.RelationshipMarket.__init__ = build
        market_model.RelationshipMarket.step = step
    return {
        "total_ms": 1e3 * statistics.median(totals),
        "build_ms": 1e3 * statistics.median(builds),
        "periods_ms": 1e3 * statistics.median(periods),
        "best_ms": 1e3 * min(totals),
    }


def main(argv: list[str] | None = None) -> dict:
    """Measure and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--periods", type=int, default=120)
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args(argv)
    params = {"customers": args.customers, "periods": args.periods, "repeats": args.repeats}
    result = run_child(__file__, params)
    rest = result["total_ms"] - result["build_ms"] - result["periods_ms"]
    per_period = 1e3 * result["periods_ms"] / args.periods
    print(
        f"## A small market end to end ({args.customers:,} customers, {args.periods} periods, "
        f"{POLICY}; median of {args.repeats} runs; {machine()})\n"
    )
    print(
        table(
            ["part", "ms per run"],
            [
                ["build (population, network, tables)", result["build_ms"]],
                [f"periods ({per_period:.0f} us each)", result["periods_ms"]],
                ["tables and summary", rest],
                ["total", result["total_ms"]],
                ["total, fastest run", result["best_ms"]],
            ],
        )
    )
    return result


if __name__ == "__main__" and not child_main(measure):
    main()
