"""The ``relsim`` command: run, validate and list scenarios, sweep, report, dashboard.

Mistakes in the user's input end with one line per problem and exit status 2, never a
traceback; nothing is written before the input has been validated.
"""

from __future__ import annotations

import contextlib
import contextvars
import importlib
import os
import shlex
import sys
from pathlib import Path
from typing import Annotated, Any

import click
import typer
import yaml
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from simulation.errors import UserError
from simulation.runs.interrupts import sigterm_as_interrupt

app = typer.Typer(
    name="relsim",
    help="Agent-based simulation of relationship marketing: acquisition versus retention.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
err = Console(stderr=True)
out = Console()


def parse_settings(settings: list[str] | None) -> dict[str, Any]:
    """Turn ``--set path=value`` options into overrides (values read as YAML scalars).

    Raises:
        UserError: an option without ``=``.
    """
    overrides: dict[str, Any] = {}
    for item in settings or []:
        path, sep, value = item.partition("=")
        if not sep or not path:
            raise UserError(f"--set {item!r}: write it as dotted.path=value")
        try:
            overrides[path.strip()] = yaml.safe_load(value)
        except yaml.YAMLError:
            overrides[path.strip()] = value
    return overrides


@app.command()
def run(
    scenario: Annotated[str, typer.Argument(help="Scenario file, or name of a bundled scenario.")],
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Results folder (default results/<name>).")
    ] = None,
    replications: Annotated[int | None, typer.Option(min=1, help="Replications.")] = None,
    seed: Annotated[int | None, typer.Option(min=0, help="Master seed.")] = None,
    customers: Annotated[
        int | None, typer.Option(min=1, help="Resize the market (budgets scale with it).")
    ] = None,
    periods: Annotated[int | None, typer.Option(min=1, help="Horizon in periods.")] = None,
    jobs: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
    settings: Annotated[
        list[str] | None, typer.Option("--set", help="Override a field: dotted.path=value.")
    ] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing results folder.")] = False,
    quiet: Annotated[bool, typer.Option(help="No progress bar or summary table.")] = False,
) -> None:
    """Run every policy of a scenario and write tables, plots and a report."""
    target = out_dir
    try:  # Ctrl-C or kill at any point, even while loading, ends with the same one line
        from simulation.runs import folder as res
        from simulation.runs.runner import run_scenario
        from simulation.scenario.controls import resize_market
        from simulation.scenario.loading import apply_overrides, load_scenario

        loaded = load_scenario(scenario, parse_settings(settings))
        if customers is not None:
            loaded = resize_market(loaded, customers)
        if periods is not None:
            loaded = apply_overrides(loaded, {"market.periods": periods}, source="--periods")
        target = out_dir or res.default_out(loaded.name)
        res.check_target(target, overwrite)
        n = replications or loaded.replications
        total = n * len(loaded.policies)
        started = res.now()
        with _progress(quiet) as progress:
            task = progress.add_task(f"{loaded.name}", total=total)
            progress.refresh()

            def advance(_) -> None:
                progress.advance(task)
                progress.refresh()

            results = run_scenario(
                loaded, replications=replications, seed=seed, jobs=jobs, on_result=advance
            )
        timing = res.RunTiming(started, res.now(), jobs, command=_COMMAND.get())
        folder = res.write_run(results, target, timing, overwrite=overwrite)
    except KeyboardInterrupt:
        # Results are moved into place only when complete, so the target is as it was.
        err.print(
            f"interrupted: nothing partial was written{f' to {target}' if target else ''} "
            "(results are moved into place only when complete)",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(130) from None
    if not quiet:
        _print_summary(results)
    out.print(f"Results: {folder}/  (report: {folder / 'report.md'})")


def _progress(quiet: bool) -> Progress:
    """The run's progress bar, redrawn after each run rather than by a thread of its own.

    With no other thread in the process, the workers can be forked, which spares each of
    them a second or more of start-up (see :func:`simulation.runs.workers.start_method`).
    """
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("runs"),
        TimeRemainingColumn(),
        console=err,
        disable=quiet,
        transient=True,
        auto_refresh=False,
    )


def _print_summary(results: Any) -> None:
    from simulation.runs.formatting import format_number, short_money
    from simulation.runs.report import summary_rows_for_console

    rows = summary_rows_for_console(results.summary, results.comparison)
    n = len(results.seeds)
    table = Table(title=f"{results.scenario.name}: focal firm, {n} paired replications")
    table.add_column("policy")
    table.add_column("NPV [95% CI]", justify="right")
    table.add_column("vs baseline [95% CI]", justify="right")
    table.add_column("churn", justify="right")
    for row in rows:
        name = row["policy"] + (" (base)" if row["baseline"] else "")
        name = f"[bold green]{name} ★[/]" if row["winner"] else name
        npv = (
            f"{short_money(row['npv_mean'])} [{short_money(row['npv_ci_low'])}, "
            f"{short_money(row['npv_ci_high'])}]"
        )
        diff = (
            ""
            if row["baseline"]
            else f"{short_money(row['npv_difference'], True)} "
            f"[{short_money(row['npv_difference_ci_low'], True)}, "
            f"{short_money(row['npv_difference_ci_high'], True)}]"
        )
        table.add_row(name, npv, diff, format_number(row["churn_pct"] / 100, "percent"))
    out.print(table)
    out.print("★ highest mean NPV (discounted profit); churn is per period. See report.md.")


@app.command()
def validate(
    files: Annotated[list[str], typer.Argument(help="Scenario files or bundled names.")],
) -> None:
    """Check scenario files and say what is wrong, one line per problem."""
    from simulation.scenario.loading import load_scenario

    problems: list[str] = []
    for file in files:
        try:
            scenario = load_scenario(file)
        except UserError as exc:
            problems.extend(exc.problems)
            continue
        policies = ", ".join(scenario.policies)
        out.print(f"{file}: ok ({scenario.market.customers} customers, policies: {policies})")
    if problems:
        raise UserError(problems)


@app.command("scenarios")
def list_scenarios() -> None:
    """List the bundled scenarios."""
    from simulation.scenario.loading import bundled_scenarios, load_scenario

    table = Table(title="Bundled scenarios (relsim run NAME)")
    table.add_column("name")
    table.add_column("policies")
    table.add_column("description")
    for path in bundled_scenarios():
        scenario = load_scenario(path)
        table.add_row(path.stem, ", ".join(scenario.policies), scenario.description)
    out.print(table)


@app.command()
def dashboard(
    scenario: Annotated[str | None, typer.Argument(help="Scenario to open.")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default: a free one).")] = None,
    host: Annotated[str, typer.Option(help="Address to serve on.")] = "127.0.0.1",
) -> None:
    """Open the interactive dashboard in the browser (Mesa's Solara visualisation)."""
    from simulation.scenario.loading import load_scenario

    load_scenario(scenario or "acquisition_vs_retention")  # fail fast on a bad file
    from simulation.dashboard.server import serve

    serve(scenario, host=host, port=port)


def _register_experiments() -> None:
    """Add ``sweep`` and ``report`` from the experiments package."""
    from simulation.experiments import commands

    app.command("sweep")(commands.sweep)
    app.command("report")(commands.report)


_register_experiments()


def _click_errors(name: str) -> tuple[type[BaseException], ...]:
    """Click's exception ``name`` and, when typer ships its own copy of click, that copy's.

    Typer 0.2x vendors click; its usage errors are not click's, and a handler for click's
    alone lets a mistyped option end in a traceback.
    """
    found: list[type[BaseException]] = [getattr(click.exceptions, name)]
    with contextlib.suppress(ImportError):
        vendored = importlib.import_module("typer._click.exceptions")
        found += [getattr(vendored, name)] if hasattr(vendored, name) else []
    if name == "Abort":
        found.append(typer.Abort)
    return tuple(dict.fromkeys(found))


USAGE_ERRORS = _click_errors("UsageError")
ABORTS = _click_errors("Abort")


# The command line being run, for manifests (``sys.argv`` is another program's when ``main``
# is called from Python, for example from a notebook or a test).
_COMMAND: contextvars.ContextVar[str | None] = contextvars.ContextVar("command", default=None)


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the command line, turning user mistakes into exit status 2."""
    os.environ.setdefault("MPLBACKEND", "Agg")
    _COMMAND.set(shlex.join(["relsim", *(sys.argv[1:] if argv is None else argv)]))
    try:
        with sigterm_as_interrupt():
            code = app(args=argv, standalone_mode=False)
    except UserError as exc:
        for line in exc.problems:
            err.print(f"[red]error:[/red] {line}", highlight=False, soft_wrap=True)
        return UserError.exit_code
    except USAGE_ERRORS as exc:
        exc.show()  # type: ignore[attr-defined]
        return 2
    except ABORTS:
        err.print("interrupted")
        return 130
    except KeyboardInterrupt:
        err.print("interrupted: nothing was written for the unfinished run")
        return 130
    return int(code or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())


def entry_point() -> None:
    """Console-script entry point."""
    sys.exit(main())
