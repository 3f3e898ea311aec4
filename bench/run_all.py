"""Run every benchmark and print its table (``make bench``).

Timings depend on what else the machine is doing: each table's heading gives the load average
at the time. Run on an otherwise idle machine to compare with ``docs/performance.md``.

    python bench/run_all.py [--quick]

``--quick`` shrinks every benchmark (for a smoke test; its numbers mean little).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_small  # noqa: E402
import bench_startup  # noqa: E402
import bench_sweep  # noqa: E402
import bench_throughput  # noqa: E402
import bench_vs_mesa  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    """Run the five benchmarks in turn."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke test")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    if args.quick:
        runs = [
            (bench_throughput, ["--sizes", "2000", "20000", "--periods", "6"]),
            (bench_vs_mesa, ["--customers", "2000", "--periods", "4"]),
            (bench_startup, ["--customers", "20000"]),
            (bench_small, ["--repeats", "3", "--periods", "24"]),
            (bench_sweep, ["--replications", "4", "--customers", "500"]),
        ]
    else:
        runs = [
            (bench_throughput, []),
            (bench_vs_mesa, []),
            (bench_startup, []),
            (bench_small, []),
            (bench_sweep, []),
        ]
    for module, module_args in runs:
        module.main(module_args)
        print()
    print(f"All benchmarks: {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
