"""The ``relsim`` command: run, validate and list scenarios, sweep, report, calibrate, dashboard.

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
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from simulation.errors import ResourceError, UserError, os_error_line
from simulation.experiments.executors import default_jobs as _default_jobs
from simulation.limits import MAX_REPLICATIONS, PORT_RANGE, SEED_MAX
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


def _show_version(value: bool) -> None:
    if value:
        from simulation.runs.provenance import versions

        found = versions(("relsim", "mesa", "numpy"))
        out.print(
            f"relsim {found['relsim']} (Mesa {found['mesa']}, numpy {found['numpy']}, "
            f"Python {found['python']})",
            highlight=False,
        )
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            is_eager=True,
            callback=_show_version,
            metavar="",
            help="Show relsim's version and exit.",
        ),
    ] = False,
) -> None:
    """Agent-based simulation of relationship marketing: acquisition versus retention."""


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
    scenario: Annotated[
        str,
        typer.Argument(help="Scenario file, or name of a bundled scenario.", metavar="SCENARIO"),
    ],
    out_dir: Annotated[
        Path | None,
        typer.Option("--out", metavar="DIR", help="Results folder (default results/<name>)."),
    ] = None,
    replications: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=MAX_REPLICATIONS,
            metavar="N",
            help="Paired replications per policy (default: the scenario's).",
        ),
    ] = None,
    seed: Annotated[
        int | None,
        typer.Option(
            min=0, max=SEED_MAX, metavar="N", help="Master seed (default: the scenario's)."
        ),
    ] = None,
    customers: Annotated[
        int | None,
        typer.Option(min=1, metavar="N", help="Resize the market (budgets scale with it)."),
    ] = None,
    periods: Annotated[
        int | None, typer.Option(min=1, metavar="N", help="Horizon in periods.")
    ] = None,
    jobs: Annotated[
        int,
        typer.Option(
            "--jobs", "-j", min=1, metavar="N", help="Worker processes (1: in this process)."
        ),
    ] = _default_jobs(),
    settings: Annotated[
        list[str] | None,
        typer.Option("--set", metavar="PATH=VALUE", help="Override a field: dotted.path=value."),
    ] = None,
    equivalence_margin: Annotated[
        float | None,
        typer.Option(
            metavar="SHARE",
            help="NPV differences within this share of NPV are practical ties (0.01 is 1%) "
            "[default: the scenario's equivalence_margin, 0.01 unless it says otherwise]",
            show_default=False,
        ),
    ] = None,
    until_decided: Annotated[
        bool,
        typer.Option(
            "--until-decided",
            metavar="",
            help="Add paired replications until the verdict on NPV is settled "
            "(at most --max-replications).",
        ),
    ] = False,
    max_replications: Annotated[
        int,
        typer.Option(min=2, max=MAX_REPLICATIONS, metavar="N", help="The cap of --until-decided."),
    ] = 200,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", metavar="", help="Replace an existing results folder.")
    ] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", metavar="", help="No progress bar or summary table.")
    ] = False,
    skip_memory_check: Annotated[
        bool, typer.Option(help="Run even when the memory estimate exceeds what is available.")
    ] = False,
    transactions: Annotated[
        bool,
        typer.Option(
            "--transactions",
            metavar="",
            help="Also write every run's transaction log (customer_id, firm, date, amount, "
            "channel, source) to transactions/POLICY-REPLICATION.parquet (.csv without "
            "pyarrow): the input relsim calibrate reads.",
        ),
    ] = False,
) -> None:
    """Run every policy of a scenario and write tables, plots and a report."""
    target = out_dir
    try:  # Ctrl-C or kill at any point, even while loading, ends with the same one line
        from simulation.limits import check_memory, scenario_memory
        from simulation.runs import folder as res
        from simulation.runs.target import claim_target
        from simulation.runs.warmup import COMPILE_NOTE, kernels_need_compiling
        from simulation.scenario.controls import resize_market
        from simulation.scenario.loading import apply_overrides, load_scenario

        loaded = load_scenario(scenario, parse_settings(settings))
        if customers is not None:
            loaded = resize_market(loaded, customers)
        if periods is not None:
            loaded = apply_overrides(loaded, {"market.periods": periods}, source="--periods")
        if equivalence_margin is not None:
            margin = {"equivalence_margin": equivalence_margin}
            loaded = apply_overrides(loaded, margin, source="--equivalence-margin")
        target = out_dir or res.default_out(loaded.name)
        n = max_replications if until_decided else replications or loaded.replications
        total = n * len(loaded.policies)
        if not quiet and kernels_need_compiling():
            err.print(COMPILE_NOTE, highlight=False, soft_wrap=True)
        if not skip_memory_check:
            check_memory(scenario_memory(loaded, total, jobs))
        # The target is checked, locked and its staging folder created before simulating.
        with claim_target(target, overwrite) as claim:
            started = res.now()
            cap = max_replications if until_decided else 0
            decide = {"margin": loaded.equivalence_margin, "cap": cap}
            logs = None
            if transactions:  # streamed into the staging folder while the runs go
                logs = claim.staging / "transactions"
                logs.mkdir()
            results = _run_with_progress(loaded, replications, seed, jobs, quiet, decide, logs)
            timing = res.RunTiming(started, res.now(), jobs, command=_COMMAND.get())
            folder = res.write_run(results, target, timing, claim=claim)
    except KeyboardInterrupt:
        # Results are moved into place only when complete, so the target is as it was.
        where = f" to {escape(str(target))}" if target else ""
        err.print(
            f"interrupted: nothing partial was written{where} "
            "(results are moved into place only when complete)",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(130) from None
    if not quiet:
        _print_summary(results)
    report = escape(str(folder / "report.md"))
    out.print(f"Results: {escape(str(folder))}/  (report: {report})", highlight=False)


def _run_with_progress(
    loaded: Any,
    replications: int | None,
    seed: int | None,
    jobs: int,
    quiet: bool,
    decide: dict[str, float],
    transactions: Path | None = None,
) -> Any:
    """Run the scenario under the progress bar.

    ``decide`` holds the equivalence ``margin`` and, for ``--until-decided``, the ``cap`` on
    replications (0 runs the fixed number); ``transactions``, the folder for the logs.
    """
    from simulation.runs.runner import run_scenario, run_until_decided

    policies = len(loaded.policies)
    with _progress(quiet) as progress:
        first = replications or loaded.replications
        task = progress.add_task(escape(loaded.name), total=first * policies)
        progress.refresh()

        def advance(_) -> None:
            progress.advance(task)
            progress.refresh()

        def extend(_done: int, target: int) -> None:
            progress.update(task, total=target * policies)
            progress.refresh()

        if decide["cap"]:
            return run_until_decided(
                loaded,
                replications=replications,
                cap=int(decide["cap"]),
                seed=seed,
                jobs=jobs,
                on_result=advance,
                on_round=extend,
                equivalence_margin=decide["margin"],
                transactions=transactions,
            )
        return run_scenario(
            loaded,
            replications=replications,
            seed=seed,
            jobs=jobs,
            on_result=advance,
            equivalence_margin=decide["margin"],
            memory_check=False,  # checked before the target was claimed
            transactions=transactions,
        )


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


_MARKS = {
    "better": "★ wins",
    "equivalent": "≈ tie",
    "undecided": "? open",
    "no interval": "? 1 run",
}


def _worst(verdicts: set[str]) -> str:
    """The least settled of some verdicts (no interval, then undecided, then equivalent)."""
    return next(v for v in ("no interval", "undecided", "equivalent") if v in verdicts)


def _print_summary(results: Any) -> None:
    from simulation.runs.formatting import format_number, short_money
    from simulation.runs.report import summary_rows_for_console
    from simulation.runs.stats import VERDICTS

    margin = results.equivalence_margin
    rows = summary_rows_for_console(results.summary, results.comparison, margin)
    n = len(results.seeds)
    plural = "s" if n != 1 else ""
    table = Table(
        title=f"{results.scenario.name}: focal firm, {n} paired replication{plural}",
        box=box.SIMPLE_HEAD,
        padding=(0, 1),
        collapse_padding=True,
        pad_edge=False,
    )
    table.add_column("policy", no_wrap=True)
    for header in ("NPV", "vs base", "vs leader"):
        table.add_column(header, justify="right", no_wrap=True)
    table.add_column("", no_wrap=True)  # the verdict mark
    table.add_column("churn", justify="right", no_wrap=True)

    def interval(mean: float, low: float, high: float, signed: bool = False) -> str:
        # Student-t intervals are symmetric: mean ± half-width says it in fewer characters.
        text = short_money(mean, signed)
        return text if n < 2 else f"{text} ± {short_money((high - low) / 2)}"

    for row in rows:
        name = f"[bold green]{row['policy']}[/]" if row["winner"] else row["policy"]
        diff = (
            "base"
            if row["baseline"]
            else interval(
                row["npv_difference"],
                row["npv_difference_ci_low"],
                row["npv_difference_ci_high"],
                True,
            )
        )
        versus = ""
        if row["versus"]:
            versus = interval(
                row["versus_difference"], row["versus_ci_low"], row["versus_ci_high"], True
            )
        mark = _MARKS.get(row["verdict"], "") if row["verdict"] != "better" else ""
        if row["leader"]:
            open_verdicts = {r["verdict"] for r in rows if not r["leader"]} - {"better"}
            mark = _MARKS["better"] if row["winner"] else _MARKS[_worst(open_verdicts)]
        table.add_row(
            name,
            interval(row["npv_mean"], row["npv_ci_low"], row["npv_ci_high"]),
            diff,
            versus,
            mark,
            format_number(row["churn_pct"] / 100, "percent"),
        )
    out.print(table)
    share = f"{margin * 100:g}%"
    notes = [
        f"NPV is discounted profit{' ± half-width of its 95% CI' if n > 1 else ''}; churn is "
        "per period. The leader (highest mean NPV) is "
        f"compared with the runner-up, the others with the leader. ★ wins: ahead by more than "
        f"{share} of NPV; ≈ tie: {VERDICTS['equivalent']} (within {share}); ? open: "
        f"{VERDICTS['undecided']} (--until-decided adds replications). See report.md."
    ]
    if n < 2:
        notes.append("One replication has no interval: run more to get a verdict.")
    for note in notes:
        out.print(note, highlight=False, soft_wrap=True)


@app.command()
def validate(
    files: Annotated[list[str], typer.Argument(help="Scenario files or bundled names.")],
) -> None:
    """Check scenario files and say what is wrong, one line per problem.

    A file that extends another gets one more line when it changes the market's structure:
    firms added, removed or reordered, another focal firm, policies added or removed.
    """
    from simulation.scenario.loading import load_scenario, structure_note

    problems: list[str] = []
    for file in files:
        try:
            scenario = load_scenario(file)
        except UserError as exc:
            problems.extend(exc.problems)
            continue
        policies = ", ".join(scenario.policies)
        out.print(
            escape(f"{file}: ok ({scenario.market.customers} customers, policies: {policies})")
        )
        if note := structure_note(file):
            out.print(escape(f"{file}: note: {note}"), highlight=False, soft_wrap=True)
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
def keys(
    path: Annotated[
        str | None, typer.Argument(help="A dotted path, e.g. market.behaviour (default: all).")
    ] = None,
    experiment: Annotated[
        bool, typer.Option("--experiment", help="Keys of experiment files, not scenario files.")
    ] = False,
) -> None:
    """Show the keys under a path: type, unit, default, allowed range, meaning, source."""
    from simulation.scenario.reference import keys_table, select_keys

    found = select_keys(path, experiment=experiment)
    kind = "experiment" if experiment else "scenario"
    out.print(keys_table(found, f"{kind} keys under {path}" if path else f"{kind} keys"))
    out.print("Every key: docs/scenario-reference.md", highlight=False)


@app.command()
def dashboard(
    scenario: Annotated[str | None, typer.Argument(help="Scenario to open.")] = None,
    port: Annotated[
        int | None,
        typer.Option(min=PORT_RANGE[0], max=PORT_RANGE[1], help="Port (default: a free one)."),
    ] = None,
    host: Annotated[str, typer.Option(help="Address to serve on.")] = "127.0.0.1",
) -> None:
    """Open the interactive dashboard in the browser (one market per visitor)."""
    from simulation.scenario.loading import load_scenario

    load_scenario(scenario or "acquisition_vs_retention")  # fail fast on a bad file
    from simulation.dashboard.server import serve

    serve(scenario, host=host, port=port)


def _register_experiments() -> None:
    """Add ``sweep``, ``optimise`` and ``report`` from the experiments package."""
    from simulation.experiments import commands

    app.command("sweep")(commands.sweep)
    app.command("optimise")(commands.optimise)
    app.command("report")(commands.report)


_register_experiments()


def _register_calibrate() -> None:
    """Add ``calibrate`` from the calibration package (its heavy imports wait for a call)."""
    from simulation.calibration.command import calibrate

    app.command("calibrate")(calibrate)


_register_calibrate()


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


_WORDS = (("int", "N"), ("float", "X"), ("path", "PATH"), ("str", "TEXT"))


def _no_type(ctx: Any) -> None:
    return None


def plain_help(command: Any) -> Any:
    """Help without type tags: a flag shows nothing, a value its word (N, X, PATH, TEXT).

    Typer prints every parameter's Python type (``<bool>``, ``<int range>``); the help reads
    better with the values named as in the usage line. Applies to every subcommand.

    Args:
        command: the click command built from the Typer app.

    Returns:
        The same command.
    """
    ctx = command.context_class(command, info_name=command.name)
    help_option = command.get_help_option(ctx)
    for param in [*command.params, *([help_option] if help_option is not None else [])]:
        if param.param_type_name == "argument" or getattr(param, "is_flag", False):
            param.display_type_rich = _no_type  # the argument's name says it all
        elif param.metavar is None:
            shown = str(param.display_type(ctx))
            if "|" not in shown:  # choices stay listed
                param.metavar = next((w for k, w in _WORDS if k in shown), "VALUE")
    for sub in getattr(command, "commands", {}).values():
        plain_help(sub)
    return command


# The command line being run, for manifests (``sys.argv`` is another program's when ``main``
# is called from Python, for example from a notebook or a test).
_COMMAND: contextvars.ContextVar[str | None] = contextvars.ContextVar("command", default=None)


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the command line, turning user mistakes into exit status 2."""
    os.environ.setdefault("MPLBACKEND", "Agg")
    _COMMAND.set(shlex.join(["relsim", *(sys.argv[1:] if argv is None else argv)]))
    try:
        with sigterm_as_interrupt():
            code = plain_help(typer.main.get_command(app)).main(
                args=argv, prog_name="relsim", standalone_mode=False
            )
    except UserError as exc:
        for line in exc.problems:  # user text: printed as it is, never read as markup
            err.print(f"[red]error:[/red] {escape(line)}", highlight=False, soft_wrap=True)
        return exc.exit_code
    except USAGE_ERRORS as exc:
        exc.show()  # type: ignore[attr-defined]
        return 2
    except ABORTS:
        err.print("interrupted")
        return 130
    except KeyboardInterrupt:
        err.print("interrupted: nothing was written for the unfinished run")
        return 130
    except MemoryError:
        line = "out of memory; use fewer customers, periods, replications or jobs"
        err.print(f"[red]error:[/red] {line}", highlight=False, soft_wrap=True)
        return ResourceError.exit_code
    except OSError as exc:  # the system refused a file or network operation: one line
        err.print(
            f"[red]error:[/red] {escape(os_error_line(exc))}", highlight=False, soft_wrap=True
        )
        return ResourceError.exit_code
    return int(code or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())


def entry_point() -> None:
    """Console-script entry point."""
    sys.exit(main())
