"""A sweep on one and on two worker processes: 200 runs of the default scenario at 2,000 customers.

Two of the default scenario's policies (``acquisition_heavy`` and ``retention_focused``) x 100
paired replications, 120 periods each, through the public runner
(``simulation.runs.runner.run_scenario``), which drops Mesa 3.3's per-model id counters after each
run. Each configuration runs in a fresh process; the time includes starting the workers.

    python bench/bench_sweep.py [--replications 100] [--customers 2000]
"""

from __future__ import annotations

import argparse
import time

from common import child_main, machine, run_child, table

POLICIES = ("acquisition_heavy", "retention_focused")


def measure(params: dict) -> dict:
    """Run the sweep with ``params['jobs']`` workers (in the child process)."""
    from simulation.runs.runner import run_scenario
    from simulation.scenario.controls import resize_market
    from simulation.scenario.loading import load_scenario

    scenario = resize_market(load_scenario("acquisition_vs_retention"), params["customers"])
    policies = {name: scenario.policies[name] for name in POLICIES}
    scenario = scenario.model_copy(update={"policies": policies})
    start = time.perf_counter()
    results = run_scenario(scenario, replications=params["replications"], jobs=params["jobs"])
    elapsed = time.perf_counter() - start
    return {"seconds": elapsed, "runs": len(results.summary), "npv": results.summary["npv"].sum()}


def main(argv: list[str] | None = None) -> dict:
    """Time the sweep on 1 and 2 workers and print the table and the speed-up."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replications", type=int, default=100)
    parser.add_argument("--customers", type=int, default=2000)
    args = parser.parse_args(argv)
    results = {}
    for jobs in (1, 2):
        params = {"jobs": jobs, "replications": args.replications, "customers": args.customers}
        results[jobs] = run_child(__file__, params)
    if abs(results[1]["npv"] - results[2]["npv"]) > 1e-6 * abs(results[1]["npv"]):
        raise RuntimeError("the sweep's results depend on the number of workers")
    speedup = results[1]["seconds"] / results[2]["seconds"]
    print(f"## Sweep ({args.customers:,} customers, 120 periods; {machine()})\n")
    print(
        table(
            ["workers", "runs", "seconds", "runs per second", "peak MiB (parent)"],
            [
                [jobs, r["runs"], r["seconds"], r["runs"] / r["seconds"], r["peak_rss_mib"]]
                for jobs, r in results.items()
            ],
        )
    )
    print(f"\nSpeed-up with 2 workers: {speedup:.2f}x (same results on both)")
    return {**results, "speedup": speedup}


if __name__ == "__main__" and not child_main(measure):
    main()
