"""The ``relsim calibrate`` command (registered by ``simulation.cli``).

Reads a transaction log, fits the customer-base models, builds the calibrated market and
replays the calibration cohort in it, then writes the folder (:mod:`.folder`). Everything
that can go wrong with the input (the log, the options, the base scenario, the output
folder) is found before anything is written: one line per problem, exit status 2.
"""

from __future__ import annotations

import enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape

from simulation.limits import MAX_REPLICATIONS

if TYPE_CHECKING:
    from simulation.calibration.pipeline import CalibrationResult

err = Console(stderr=True)
out = Console()

DEFAULT_REPLICATIONS = 10


class ModelOption(enum.StrEnum):
    """The purchase model to fit."""

    auto = "auto"
    bgnbd = "bgnbd"
    pareto_nbd = "pareto_nbd"


class UnitOption(enum.StrEnum):
    """The time unit of the fitted rates and of the holdout periods."""

    week = "week"
    month = "month"


def _say(text: str) -> None:
    out.print(escape(text), highlight=False, soft_wrap=True)


def _echo(market) -> None:
    """The columns used, the calibration window, the chosen model and why."""
    result = market.result
    log, summary = result.log, result.summary
    columns = ", ".join(f"{role} = {name!r}" for role, name in log.columns.items())
    merged = log.n_rows - len(log.transactions)
    _say(
        f"{log.path}: {log.n_rows:,} rows, {log.n_customers:,} customers; columns: {columns}; "
        f"{merged:,} rows merged into same-day transactions of one customer"
    )
    window = f"calibration {summary.start:%Y-%m-%d} to {summary.until:%Y-%m-%d}"
    if summary.has_holdout:
        window += f", holdout to {summary.end:%Y-%m-%d} ({summary.holdout_length:.1f} "
        window += f"{summary.unit}s)"
    else:
        window += ", no holdout period"
    _say(f"{window}; rates per {summary.unit}")
    _say(f"model: {result.model.label}. {result.choice.reason}")
    if result.posterior:
        _say(_bayes_line(result))
    _say(f"acquisition: {result.acquisition.reason}")
    holdout = market.holdout
    if not holdout.empty:
        last = holdout.iloc[-1]
        _say(
            f"holdout repeat transactions: actual {last['actual_cumulative']:,.0f}, "
            f"{result.model.label} {last['expected_cumulative']:,.0f}, relsim "
            f"{last['simulated_cumulative_mean']:,.0f} (95% band "
            f"{last['simulated_cumulative_low']:,.0f} to {last['simulated_cumulative_high']:,.0f})"
        )


def _bayes_line(result: CalibrationResult) -> str:
    """Which package sampled which model, how long it took, and how the two fits compare."""
    from importlib.metadata import version

    from simulation.calibration.bayes import outside_credible

    fits = list(result.posterior.values())
    ml = {fit.name: fit for fit in [*result.fits.values(), result.spend] if fit is not None}
    done = ", ".join(f"{f.model.label} ({f.sampler.label}, {f.seconds:.0f} s)" for f in fits)
    outside = [f"{fit.model.label} {name}" for fit in fits for name in outside_credible(fit, ml)]
    line = f"bayes: pymc-marketing {version('pymc-marketing')} sampled {done}; "
    if outside:
        line += "maximum-likelihood estimates outside the 95% credible interval: "
        line += ", ".join(outside)
    else:
        line += "every maximum-likelihood estimate lies inside its 95% credible interval"
    unconverged = [fit.model.label for fit in fits if not fit.converged]
    if unconverged:
        line += f"; not converged (R-hat or ESS): {', '.join(unconverged)}"
    return line + "; the market uses the maximum-likelihood estimates"


def calibrate(
    log: Annotated[
        Path,
        typer.Argument(help="Transaction log (CSV or Parquet).", metavar="LOG", show_default=False),
    ],
    customer: Annotated[
        str | None, typer.Option("--customer", metavar="COL", help="Customer-id column.")
    ] = None,
    date: Annotated[str | None, typer.Option("--date", metavar="COL", help="Date column.")] = None,
    amount: Annotated[
        str | None, typer.Option("--amount", metavar="COL", help="Amount column.")
    ] = None,
    until: Annotated[
        str | None,
        typer.Option(
            "--until",
            metavar="DATE",
            help="Last day of the calibration period (default: the log's last date, no holdout).",
        ),
    ] = None,
    model: Annotated[
        ModelOption,
        typer.Option("--model", help="Purchase model (auto: by holdout error, else by BIC)."),
    ] = ModelOption.auto,
    base: Annotated[
        str,
        typer.Option("--base", metavar="SCENARIO", help="Scenario the calibrated market extends."),
    ] = "acquisition_vs_retention",
    out_dir: Annotated[
        Path | None,
        typer.Option("--out", metavar="DIR", help="Output folder (default results/calibrate-LOG)."),
    ] = None,
    unit: Annotated[
        UnitOption, typer.Option("--unit", help="Time unit of the rates and holdout periods.")
    ] = UnitOption.week,
    replications: Annotated[
        int,
        typer.Option(
            min=1,
            max=MAX_REPLICATIONS,
            metavar="N",
            help="Markets replaying the calibration cohort for the simulated holdout.",
        ),
    ] = DEFAULT_REPLICATIONS,
    seed: Annotated[
        int | None,
        typer.Option(min=0, metavar="N", help="Seed of the replay (default: the base's)."),
    ] = None,
    overwrite: Annotated[
        bool,
        typer.Option("--overwrite", metavar="", help="Replace a calibration folder."),
    ] = False,
    bayes: Annotated[
        bool,
        typer.Option(
            "--bayes",
            metavar="",
            help="Also sample the models' posteriors with pymc-marketing (the bayes extra).",
        ),
    ] = False,
) -> None:
    """Fit a firm's transaction log and write a market of its own customers.

    Writes DIR/scenario.yaml (run it with relsim run), fit.csv, holdout.csv, tracking.csv, report.md and plots/.
    """  # noqa: E501 - one line, so that the help does not break it
    from simulation.calibration.calibrated import calibrate_market, load_base
    from simulation.calibration.folder import default_out, write_folder
    from simulation.calibration.pipeline import calibrate_log
    from simulation.runs.target import claim_target

    loaded = load_base(base)  # a bad base is reported before the log is fitted
    result = calibrate_log(
        log,
        customer=customer,
        date=date,
        amount=amount,
        until=until,
        model=model.value,
        unit=unit.value,
        bayes=bayes,
        seed=loaded.seed if seed is None else seed,
    )
    target = out_dir or default_out(log)
    with claim_target(target, overwrite) as claim:
        market = calibrate_market(result, base, replications=replications, seed=seed)
        _echo(market)
        write_folder(market, claim.staging, target, _command())
        folder = claim.commit()
    _say(f"Calibrated market: {folder}/scenario.yaml  (report: {folder}/report.md)")
    _say(f"Compare the policies on these customers: relsim run {folder}/scenario.yaml")


def _command() -> str | None:
    """The command line being run (as ``simulation.cli`` records it), for the manifest."""
    try:
        from simulation.cli import _COMMAND
    except ImportError:  # pragma: no cover
        return None
    return _COMMAND.get()
