"""Calibration: ``relsim calibrate`` on the full CDNOW log, end to end, on one core.

Times, in a fresh process pinned to one CPU, the command ``relsim calibrate`` on the CDNOW
master log (23,570 customers, 69,659 rows; first 39 weeks for calibration, 39 weeks of
holdout), through ``simulation.cli.main`` as a user runs it: reading and checking the CSV log,
the customer summary, the BG/NBD, Pareto/NBD and Gamma-Gamma fits with their confidence
intervals, the model choice, the acquisition fit, the calibrated scenario, the cohort replayed
in relsim's market (10 replications of weekly periods), and the folder with its report and
four figures. The parts are timed again on their own afterwards. Target: under 10 s for the
command (the interpreter's start and imports are listed apart).

The data ship with the ``lifetimes`` package (``pip install lifetimes``), found through its
installed distribution; it is not imported.

    python bench/bench_calibrate.py [--data master|sample] [--until 1997-09-30]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from common import child_main, machine, run_child, table

TARGET_S = 10.0
FILES = {"master": "CDNOW_master.txt", "sample": "CDNOW_sample.txt"}


def cdnow_csv(data: str, folder: Path) -> Path:
    """Write the CDNOW log as a CSV (customer_id, date, dollar_value) and return its path."""
    import importlib.metadata

    import pandas as pd

    location = importlib.metadata.distribution("lifetimes").locate_file(
        f"lifetimes/datasets/{FILES[data]}"
    )
    if data == "master":  # header: customer_id date number_of_cds dollar_value
        raw = pd.read_csv(str(location), sep=r"\s+", dtype={"customer_id": str, "date": str})
    else:  # no header: master id, id, date, CDs, dollars
        raw = pd.read_csv(
            str(location),
            sep=r"\s+",
            header=None,
            names=["master_id", "customer_id", "date", "number_of_cds", "dollar_value"],
            dtype={"customer_id": str, "date": str},
        )
    raw["date"] = pd.to_datetime(raw["date"], format="%Y%m%d").dt.strftime("%Y-%m-%d")
    path = folder / f"cdnow_{data}.csv"
    raw[["customer_id", "date", "dollar_value"]].to_csv(path, index=False)
    return path


def measure(params: dict) -> dict:
    """Calibrate and draw once, then time the parts (in the child process)."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    start = time.perf_counter()
    from simulation.calibration import (
        fit_bgnbd,
        fit_gamma_gamma,
        fit_pareto_nbd,
        read_log,
        summarise_customers,
    )
    from simulation.cli import main

    imported = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        path = cdnow_csv(params["data"], Path(folder))
        t0 = time.perf_counter()
        out = Path(folder) / "calibrated"
        args = ["calibrate", str(path), "--until", params["until"], "--out", str(out)]
        if main([*args, "--replications", str(params["replications"])]) != 0:
            raise RuntimeError("relsim calibrate failed")
        t1 = time.perf_counter()
        manifest = json.loads((out / "manifest.json").read_text())
        log = read_log(path)
        t3 = time.perf_counter()
        summary = summarise_customers(log, until=params["until"])
        t4 = time.perf_counter()
        parts = {}
        for fitter in (fit_bgnbd, fit_pareto_nbd, fit_gamma_gamma):
            t = time.perf_counter()
            fitter(summary)
            parts[fitter.__name__] = time.perf_counter() - t
    return {
        "import_s": imported - start,
        "command_s": t1 - t0,
        "read_s": t3 - t1,
        "summary_s": t4 - t3,
        **{f"{k}_s": v for k, v in parts.items()},
        "rows": log.n_rows,
        "transactions": len(log.transactions),
        "customers": len(summary.customers),
        "chosen": manifest["model"],
        "reason": manifest["choice"],
    }


def main(argv: list[str] | None = None) -> dict:
    """Run the calibration in a fresh one-core process and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", choices=sorted(FILES), default="master")
    parser.add_argument("--until", default="1997-09-30")
    parser.add_argument("--replications", type=int, default=10)
    args = parser.parse_args(argv)
    try:
        import importlib.metadata

        importlib.metadata.distribution("lifetimes")
    except importlib.metadata.PackageNotFoundError:
        print("bench_calibrate: skipped, the CDNOW data need the lifetimes package installed")
        return {}
    for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[variable] = "1"
    params = {"data": args.data, "until": args.until, "replications": args.replications}
    result = run_child(__file__, params)
    total = result["command_s"]
    print(
        f"## Calibration of CDNOW {args.data} ({result['customers']:,} customers, "
        f"{result['rows']:,} rows; one core; {machine()})\n"
    )
    print(
        table(
            ["what", "seconds"],
            [
                ["relsim calibrate (fits, scenario, replay, report, figures)", total],
                ["  of which: reading and checking the CSV", result["read_s"]],
                ["  of which: customer summary", result["summary_s"]],
                ["  of which: BG/NBD fit with intervals", result["fit_bgnbd_s"]],
                ["  of which: Pareto/NBD fit with intervals", result["fit_pareto_nbd_s"]],
                ["  of which: Gamma-Gamma fit with intervals", result["fit_gamma_gamma_s"]],
                ["import (once per process)", result["import_s"]],
            ],
        )
    )
    verdict = "within" if total < TARGET_S else "OVER"
    print(f"\nCommand {total:.2f} s: {verdict} the {TARGET_S:.0f} s target.")
    print(f"Chosen: {result['chosen']}. {result['reason']}")
    print(f"Peak memory {result['peak_rss_mib']:,.0f} MiB.")
    return result


if __name__ == "__main__" and not child_main(measure):
    main()
