"""The calibration folder: every file ``relsim calibrate`` writes, written in one place.

``DIR/scenario.yaml`` (the calibrated market), ``fit.csv`` (every fit, one row per
parameter, and the acquisition curves), ``holdout.csv`` (the holdout periods), ``tracking.csv``
(every period, with the replayed cohort), ``report.md``, ``plots/*.png`` and
``manifest.json`` (what was read and how, versions, and a checksum of every table). The
folder is claimed like a run's (:func:`~simulation.runs.target.claim_target`): written into
a staging folder and moved into place whole, never over a folder relsim did not write.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from simulation.calibration.calibrated import CalibratedMarket
from simulation.calibration.report import report_markdown

KIND = "calibration"
"""The ``kind`` of a calibration folder's manifest."""

SCENARIO_HEADER = """\
# The market of {log}'s customers, calibrated by relsim calibrate.
#
# {model} laws fitted to the log up to {until}, converted to monthly rates; the rest of the
# market, and the policies to compare, come from the base scenario this file extends. Run it
# with: relsim run {path}
"""


def default_out(log: Path) -> Path:
    """Where ``relsim calibrate`` writes by default: ``results/calibrate-<log stem>``."""
    return Path("results") / f"calibrate-{log.stem}"


def fit_csv(market: CalibratedMarket) -> pd.DataFrame:
    """Every fit, one row per parameter; the acquisition curves as ``acquisition_*`` rows.

    With Bayesian fits (``--bayes``) each model's row gains the posterior's columns
    (:func:`~.bayes.posterior_table`) after the others, so the file keeps one row per
    parameter and the maximum-likelihood columns keep their names and places.
    """
    result = market.result
    table = result.parameters.copy()
    table["chosen"] = table["model"].isin([result.model.name, "gamma_gamma"])
    if result.posterior:
        from simulation.calibration.bayes import posterior_table

        posterior = posterior_table(result.posterior.values())
        table = table.merge(posterior, on=["model", "parameter"], how="left")
    acquisition = result.acquisition
    rows = [
        {
            "model": f"acquisition_{curve}",
            "parameter": name,
            "estimate": value,
            "bic": acquisition.bic[curve],
            "unit": acquisition.unit,
            "chosen": curve == acquisition.model,
        }
        for curve, values in acquisition.alternatives.items()
        for name, value in values.items()
    ]
    return pd.concat([table, pd.DataFrame(rows)], ignore_index=True)


def figures(market: CalibratedMarket) -> dict[str, Any]:
    """The report's figures, by file stem: the fit's, tracking the replayed cohort too."""
    return market.result.figures(market.tracking)


def scenario_yaml(market: CalibratedMarket, path: Path) -> str:
    """The calibrated scenario as YAML, with a header saying what it is."""
    result = market.result
    header = SCENARIO_HEADER.format(
        log=result.log.path.name,
        model=result.model.label,
        until=f"{result.summary.until:%Y-%m-%d}",
        path=path,
    )
    return header + yaml.safe_dump(market.scenario, sort_keys=False, allow_unicode=True)


def manifest(market: CalibratedMarket, command: str | None, files: dict) -> dict[str, Any]:
    """What was read, how, and what was written."""
    from simulation.runs.provenance import versions

    result = market.result
    summary = result.summary
    packages = ("relsim", "numpy", "scipy", "pandas", "mesa")
    if result.posterior:
        packages += ("pymc-marketing", "pymc")
    listing = {
        "kind": KIND,
        "command": command,
        "log": str(result.log.path.resolve()),
        "columns": result.log.columns,
        "start": f"{summary.start:%Y-%m-%d}",
        "until": f"{summary.until:%Y-%m-%d}",
        "end": f"{summary.end:%Y-%m-%d}",
        "unit": summary.unit,
        "model": result.model.name,
        "choice": result.choice.reason,
        "base": market.base_ref,
        "replications": market.replications,
        "seed": market.seed,
        "versions": versions(packages),
        "files": files,
    }
    if result.posterior:
        listing["bayes"] = {
            name: {
                "sampler": fit.sampler.label,
                "chains": fit.sampler.chains,
                "tune": fit.sampler.tune,
                "draws": fit.sampler.draws,
                "seed": fit.seed,
                "converged": fit.converged,
            }
            for name, fit in result.posterior.items()
        }
    return listing


def write_folder(market: CalibratedMarket, staging: Path, final: Path, command: str | None) -> None:
    """Write every file of the calibration into ``staging`` (moved to ``final`` by the caller).

    Args:
        market: the calibrated market.
        staging: the claimed staging folder (it exists and is empty).
        final: the folder it becomes, for the run command in the scenario's header.
        command: the command line, for the manifest.
    """
    from simulation.runs.target import file_checksums, save_figure_atomically

    result = market.result
    (staging / "scenario.yaml").write_text(
        scenario_yaml(market, final / "scenario.yaml"), encoding="utf-8"
    )
    fit_csv(market).to_csv(staging / "fit.csv", index=False)
    market.holdout.to_csv(staging / "holdout.csv", index=False)
    tracking = market.tracking.assign(
        first_day=market.tracking["first_day"].dt.strftime("%Y-%m-%d"),
        last_day=market.tracking["last_day"].dt.strftime("%Y-%m-%d"),
    )
    tracking.to_csv(staging / "tracking.csv", index=False)
    plots = staging / "plots"
    plots.mkdir()
    for name, figure in figures(market).items():
        save_figure_atomically(figure, plots / f"{name}.png", dpi=100)
    text = report_markdown(market, result.log.path.name)
    (staging / "report.md").write_text(text, encoding="utf-8")
    listing = manifest(market, command, file_checksums(staging))
    (staging / "manifest.json").write_text(json.dumps(listing, indent=2) + "\n", encoding="utf-8")
