"""The sweep report: tables and figures rebuilt from a sweep folder, finished or not.

Everything here reads the folder only (manifest, experiment.yaml, design.csv, runs/,
errors/), one design point at a time, so ``relsim report DIR`` works on a sweep that is still
running, was interrupted, or ran on another machine. It writes:

- ``runs.parquet`` (or ``runs.csv``): every run, one row per design point x replication x
  policy, sorted by point, replication and policy order;
- ``points.csv``: per design point, policy (and paired difference) and outcome: ``n``,
  ``mean``, ``sd`` and the confidence interval;
- ``errors.csv``: the failed runs and their errors;
- ``sensitivity.csv`` (Sobol, Morris), ``break_even.csv`` (two-factor grids),
  ``discovery.csv`` (where the target changes sign);
- ``report.md`` and ``plots/*.png``.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from pydantic import ValidationError

from simulation.errors import UserError
from simulation.experiments.designs import build_design
from simulation.experiments.sensitivity import IncompleteDesignError, sensitivity_indices
from simulation.experiments.spec import ExperimentSpec, Factor
from simulation.experiments.store import SweepStore, atomic_write_text, read_table, write_table
from simulation.experiments.summaries import Study, break_even_frontier, discover, summarise_point
from simulation.runs.formatting import format_value, markdown_table

DESIGN_NAMES = {
    "full_factorial": "full factorial grid",
    "monte_carlo": "Monte Carlo (independent uniform draws)",
    "latin_hypercube": "Latin hypercube (scipy.stats.qmc)",
    "sobol": "Sobol / Saltelli sample (SALib)",
    "morris": "Morris trajectories (SALib)",
    "table": "table of design points (CSV)",
}


def load_study(folder: str | Path) -> tuple[SweepStore, dict[str, Any], ExperimentSpec]:
    """Open a sweep folder: its store, manifest and resolved experiment spec.

    Raises:
        UserError: the folder is not a sweep folder or its experiment.yaml is unreadable.
    """
    store = SweepStore(folder)
    if not store.is_sweep():
        raise UserError(
            f"{folder}: not a sweep folder (no manifest.json written by relsim sweep); "
            "give the --out folder of a sweep"
        )
    manifest = store.read_manifest()
    try:
        data = yaml.safe_load(store.path("experiment.yaml").read_text(encoding="utf-8"))
        spec = ExperimentSpec.model_validate(data)
    except (OSError, yaml.YAMLError, ValidationError) as exc:
        raise UserError(
            f"{store.path('experiment.yaml')}: cannot be read ({exc.__class__.__name__}); "
            "the sweep folder is damaged, run the sweep again with --overwrite"
        ) from None
    return store, manifest, spec


def build_report(folder: str | Path) -> Path:
    """Rebuild every table, figure and ``report.md`` of a sweep folder.

    Returns:
        The path of ``report.md``.

    Raises:
        UserError: the folder is not a sweep folder.
    """
    store, manifest, spec = load_study(folder)
    study = Study.of(spec)
    design = read_table(store.path("design.csv"))
    points = _stream_points(store, study)
    errors = _write_errors(store)
    write_table(store.path("points.csv"), points)
    target = study.target_row(points) if len(points) else points
    plots = store.path("plots")
    plots.mkdir(exist_ok=True)
    runs_on_disk = int(target["n"].sum()) if len(target) else 0
    sections: list[str] = []
    sections += _target_section(study, target, design, spec)
    sections += _grid_section(store, study, target, spec)
    sections += _curve_section(store, study, target, spec)
    sections += _sensitivity_section(store, study, target, spec, design)
    sections += _discovery_section(store, study, target, spec)
    header = _header(manifest, spec, study, design, runs_on_disk, errors)
    text = "\n".join(header + sections + _files_section(store)) + "\n"
    path = store.path("report.md")
    atomic_write_text(path, text)
    return path


def sweep_status(folder: str | Path) -> dict[str, Any]:
    """How far a sweep got, from the files on disk (the manifest of a killed sweep is stale).

    Returns:
        ``on_disk`` (runs whose results are on disk), ``planned`` (runs planned when the
        manifest was last written), ``failed`` (runs whose last attempt failed), ``complete``.
    """
    store, manifest, spec = load_study(folder)
    on_disk: set[str] = set()
    for path in store.parts():
        on_disk.update(read_table(path, ["run_id"])["run_id"].astype(str))
    failed = store.error_count()
    planned = (manifest.get("runs") or {}).get("planned")
    if not planned:
        planned = len(read_table(store.path("design.csv"))) * spec.replications
    complete = bool(manifest.get("complete")) and failed == 0
    return {
        "on_disk": len(on_disk),
        "planned": int(planned),
        "failed": failed,
        "complete": complete,
    }


# --------------------------------------------------------------------------- tables
def _stream_points(store: SweepStore, study: Study) -> pd.DataFrame:
    """Summarise each point and write the combined runs table, one point at a time."""
    summaries = []
    with _runs_writer(store) as write:
        for _, paths in store.parts_by_point():
            runs = store.read_point(paths)
            order = {p: i for i, p in enumerate(study.policies)}
            runs = runs.sort_values(
                ["replication", "policy"], key=lambda c: c.map(order) if c.name == "policy" else c
            ).reset_index(drop=True)
            write(runs)
            summaries.append(summarise_point(runs, study))
    if not summaries:
        return pd.DataFrame(
            columns=["point", *study.labels, "policy", "baseline", "outcome", "n", "mean"]
        )
    return pd.concat(summaries, ignore_index=True)


@contextlib.contextmanager
def _runs_writer(store: SweepStore) -> Iterator[Any]:
    """Append per-point tables to ``runs.<format>`` without holding them all in memory."""
    final = store.path(f"runs{store.suffix}")
    tmp = final.with_name(f".{final.name}.{os.getpid()}.tmp")
    state: dict[str, Any] = {"writer": None, "schema": None, "rows": 0}

    def write(table: pd.DataFrame) -> None:
        if store.fmt == "parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            if state["writer"] is None:
                arrow = pa.Table.from_pandas(table, preserve_index=False)
                state["schema"] = arrow.schema
                state["writer"] = pq.ParquetWriter(tmp, arrow.schema)
            else:
                schema = state["schema"]
                for name in schema.names:
                    if name not in table.columns:
                        table[name] = np.nan
                arrow = pa.Table.from_pandas(
                    table[schema.names], schema=schema, preserve_index=False
                )
            state["writer"].write_table(arrow)
        else:
            table.to_csv(tmp, mode="a", header=state["rows"] == 0, index=False)
        state["rows"] += len(table)

    try:
        yield write
        if state["writer"] is not None:
            state["writer"].close()
            state["writer"] = None
        if state["rows"]:
            os.replace(tmp, final)
        else:
            with contextlib.suppress(FileNotFoundError):
                final.unlink()
    finally:
        if state["writer"] is not None:
            state["writer"].close()
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def _write_errors(store: SweepStore) -> pd.DataFrame:
    records = [{k: v for k, v in r.items() if k != "traceback"} for r in store.errors()]
    columns = ["run_id", "point", "replication", "seed", "policy", "error", "message", "time"]
    table = pd.DataFrame(records, columns=columns)
    path = store.path("errors.csv")
    if len(table):
        write_table(path, table.sort_values(["point", "replication"]))
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
    return table


# --------------------------------------------------------------------------- sections
def _header(
    manifest: dict[str, Any],
    spec: ExperimentSpec,
    study: Study,
    design: pd.DataFrame,
    runs_on_disk: int,
    errors: pd.DataFrame,
) -> list[str]:
    planned = (manifest.get("runs") or {}).get("planned") or len(design) * spec.replications
    complete = bool(manifest.get("complete")) and len(errors) == 0
    lines = [f"# Sweep: {spec.name}", ""]
    if not complete:
        why = manifest.get("status") or "not finished"
        if why == "complete":
            why = "not finished"
        lines += [
            f"> **PARTIAL SWEEP ({why})**: {runs_on_disk:,} of {planned:,} planned runs are on "
            f"disk and {len(errors):,} failed. The tables and figures below use the runs that "
            "are done. Run the same `relsim sweep` command again to finish it: runs on disk "
            "are skipped.",
            "",
        ]
    if spec.description:
        lines += [spec.description.strip(), ""]
    sessions = manifest.get("sessions") or [{}]
    last = sessions[-1]
    versions = manifest.get("versions", {})
    lines += [
        "## What was run",
        "",
        f"- Base scenario: `{spec.scenario}`; policies compared at every point: "
        + ", ".join(f"`{p}`" for p in study.policies)
        + " (paired: the same seed for every policy of a run).",
        f"- Design: {DESIGN_NAMES.get(spec.design.kind, spec.design.kind)}, "
        f"{len(design):,} design points.",
        f"- Replications: {spec.replications} per point"
        + (
            f", then batches of {spec.precision.batch} until the {spec.confidence:.0%} CI "
            f"half-width of the target is below {format_value(spec.precision.half_width)} "
            f"(at most {spec.precision.max_replications})"
            if spec.precision
            else ""
        )
        + f"; master seed {spec.seed}.",
        f"- Runs: {runs_on_disk:,} on disk of {planned:,} planned; {len(errors):,} failed"
        + (" (errors: `errors.csv`, tracebacks: `errors/`)" if len(errors) else "")
        + ".",
        f"- Executor: {last.get('executor', '?')} with {last.get('workers', '?')} workers; "
        f"wall time {format_value(last.get('wall_seconds'))} s; "
        f"{format_value(last.get('seconds_per_simulation'))} s per simulation; "
        f"{len(sessions)} session(s).",
        "- Versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()) + ".",
        "",
    ]
    factors = pd.DataFrame(
        [[f.label, f"`{f.path}`", _describe_factor(f)] for f in spec.factors],
        columns=["factor", "path", "values"],
    )
    return [*lines, *markdown_table(factors), ""]


def _target_section(
    study: Study, target: pd.DataFrame, design: pd.DataFrame, spec: ExperimentSpec
) -> list[str]:
    t = study.target
    lines = [f"## Target: {_target_name(study)}", ""]
    if target.empty:
        return lines + ["No design point has results yet.", ""]
    means = target["mean"].to_numpy(float)
    above = int((target["ci_low"] > 0).sum())
    below = int((target["ci_high"] < 0).sum())
    unsure = len(target) - above - below
    level = f"{spec.confidence:.0%}"
    lines += [
        f"Over {len(target):,} design points with results, the mean {t.outcome} "
        f"{'difference ' if t.baseline else ''}ranges from {format_value(np.nanmin(means))} to "
        f"{format_value(np.nanmax(means))} (average {format_value(np.nanmean(means))}).",
        "",
    ]
    with_ci = target["ci_low"].notna() & target["ci_high"].notna()
    if t.baseline and with_ci.all():
        lines += [
            f"- `{t.policy}` does better than `{t.baseline}` (whole {level} CI above 0) at "
            f"{above:,} points ({above / len(target):.0%}),",
            f"- worse (CI below 0) at {below:,} points ({below / len(target):.0%}),",
            f"- and the CI includes 0 at {unsure:,} points.",
            "",
        ]
    elif t.baseline:
        positive = int((target["mean"] > 0).sum())
        lines += [
            f"The mean difference is positive (`{t.policy}` does better) at {positive:,} "
            f"points ({positive / len(target):.0%}) and negative or zero at "
            f"{len(target) - positive:,}. Points with a single replication have no confidence "
            "interval of their own; set `replications` to 2 or more for per-point intervals.",
            "",
        ]
    show = target.sort_values("mean")
    if len(show) > 12:
        show = pd.concat([show.head(6), show.tail(6)])
        lines.append("The six lowest and six highest points:")
        lines.append("")
    cols = ["point", *study.labels, "n", "mean", "ci_low", "ci_high"]
    lines += markdown_table(show[cols]) + [""]
    return lines


_MONEY_OUTCOMES = {"npv", "profit_total", "revenue_total", "clv_mean", "customer_equity"}


def _factor_axis(spec: ExperimentSpec, factor: Factor) -> tuple[str, bool, float | None]:
    """A factor's axis: label in words, whether it is a share or rate, its default value.

    The words come from the schema's description of the field; shares and rates are shown
    as percentages; the default is the factor's value in the experiment's base market (None
    when it cannot be read, e.g. inside a list).
    """
    from simulation.scenario.loading import load_scenario
    from simulation.scenario.schema import Scenario

    words, model, parts = None, Scenario, factor.path.split(".")
    for i, part in enumerate(parts):
        field = getattr(model, "model_fields", {}).get(part)
        if field is None:
            break
        if field.description:
            words = re.split(r";| \(|, | when ", field.description)[0]
            words += "".join(f" ({p})" for p in parts[i + 1 :])
        model = field.annotation
    share = any(k in factor.path for k in ("_rate", "share", "ceiling", "probability"))
    unit = "; % " + ("per month" if "_rate" in factor.path else "") if share else ""
    label = f"{factor.label}: {words}{unit.rstrip()}" if words else factor.label
    try:
        value: Any = load_scenario(spec.scenario, dict(spec.overrides or {})).model_dump()
        for part in parts:
            value = value[part]
        default = float(value)
    except Exception:  # noqa: BLE001 - a path into a list or a distribution: no marker
        default = None
    return label, share, default


def _grid_section(
    store: SweepStore, study: Study, target: pd.DataFrame, spec: ExperimentSpec
) -> list[str]:
    """Heat map and break-even frontier of a two-factor grid with a difference target."""
    if len(study.labels) != 2 or spec.design.kind not in ("full_factorial", "table"):
        return []
    if target.empty or study.target.baseline is None:
        return []
    from simulation.experiments.study_plots import plot_break_even

    x, y = study.labels
    t = study.target
    (xlabel, x_percent, x_default), (ylabel, y_percent, y_default) = (
        _factor_axis(spec, factor) for factor in study.factors
    )
    default = None if x_default is None or y_default is None else (x_default, y_default)
    what = "NPV" if t.outcome == "npv" else t.outcome
    figure = plot_break_even(
        target,
        x,
        y,
        "mean",
        title=f"{what}: {t.policy} minus {t.baseline}",
        positive_label=f"{t.policy} pays more",
        value_label=f"mean {what} difference, {t.policy} − {t.baseline} (currency units)"
        if t.outcome in _MONEY_OUTCOMES
        else f"mean {what} difference, {t.policy} − {t.baseline}",
        xlabel=xlabel,
        ylabel=ylabel,
        low="ci_low",
        high="ci_high",
        default=default,
        x_percent=x_percent,
        y_percent=y_percent,
    )
    _save(figure, store.path("plots") / "break_even.png")
    frontier = break_even_frontier(target, x, y)
    write_table(store.path("break_even.csv"), frontier)
    lines = [
        "## Break-even frontier",
        "",
        "![heat map of the difference](plots/break_even.png)",
        "",
        f"Blue: `{t.policy}` earns more {t.outcome}; red: `{t.baseline}` does. The black line "
        "is where the mean difference is zero. For each level of "
        f"`{x}`, the value of `{y}` where the difference changes sign (linear interpolation "
        "between grid levels; `break_even.csv`):",
        "",
    ]
    lines += markdown_table(frontier) + [""]
    return lines


def _curve_section(
    store: SweepStore, study: Study, target: pd.DataFrame, spec: ExperimentSpec
) -> list[str]:
    """One factor: the target with its CI against the factor's values."""
    if len(study.labels) != 1 or target.empty:
        return []
    x = study.labels[0]
    if not pd.api.types.is_numeric_dtype(target[x]):
        return []
    from matplotlib.figure import Figure

    table = target.sort_values(x)
    fig = Figure(figsize=(8.0, 4.8))
    ax = fig.add_subplot()
    ax.fill_between(table[x], table["ci_low"], table["ci_high"], alpha=0.25, label="95% CI")
    ax.plot(table[x], table["mean"], marker="o", label="mean")
    if study.target.baseline:
        ax.axhline(0.0, color="black", lw=0.8, ls="--")
    ax.set_xlabel(x)
    ax.set_ylabel(_target_name(study))
    ax.set_title(_target_name(study))
    ax.legend(loc="best")
    _save(fig, store.path("plots") / "target.png")
    return ["## Target along the factor", "", "![target](plots/target.png)", ""]


def _sensitivity_section(
    store: SweepStore,
    study: Study,
    target: pd.DataFrame,
    spec: ExperimentSpec,
    design: pd.DataFrame,
) -> list[str]:
    if spec.design.kind not in ("sobol", "morris"):
        return []
    lines = [f"## Sensitivity ({spec.design.kind.capitalize()}) of the target", ""]
    drawn = build_design(spec)
    y = np.full(len(drawn.points), np.nan)
    if len(target):
        index = target["point"].to_numpy(int)
        y[index[index < len(y)]] = target["mean"].to_numpy(float)[index < len(y)]
    try:
        indices, second = sensitivity_indices(spec, drawn, y)
    except IncompleteDesignError as exc:
        with contextlib.suppress(FileNotFoundError):
            store.path("sensitivity.csv").unlink()
        return lines + [
            f"Not computed: {exc}. Sensitivity indices need every point of the design; "
            "finish the sweep (failed runs are retried when it is run again).",
            "",
        ]
    write_table(store.path("sensitivity.csv"), indices)
    from simulation.experiments.study_plots import plot_sensitivity_indices

    figure = plot_sensitivity_indices(indices, output=_target_name(study))
    _save(figure, store.path("plots") / "sensitivity.png")
    level = f"{spec.confidence:.0%}"
    lines += ["![sensitivity indices](plots/sensitivity.png)", ""]
    if spec.design.kind == "sobol":
        total = float(indices["S1"].sum())
        lines += [
            f"S1: share of the variance of the target explained by the factor alone; ST: "
            f"including its interactions. `*_conf` is the half-width of the {level} bootstrap "
            f"interval. The S1 add up to {total:.2f}; the rest is interactions and replication "
            "noise (the target at a point is a mean over replications, so some of its variance "
            "is luck that no factor explains).",
            "",
        ]
    else:
        lines += [
            "mu*: mean absolute elementary effect (importance, in output units); sigma: spread "
            "of the effects (interactions or non-linearity). `mu_star_conf` is the half-width "
            f"of the {level} bootstrap interval.",
            "",
        ]
    lines += markdown_table(indices.sort_values(indices.columns[3], ascending=False)) + [""]
    if second is not None:
        write_table(store.path("sensitivity_second_order.csv"), second)
        lines += ["Second-order indices (`sensitivity_second_order.csv`):", ""]
        lines += markdown_table(second) + [""]
    return lines


def _discovery_section(
    store: SweepStore, study: Study, target: pd.DataFrame, spec: ExperimentSpec
) -> list[str]:
    t = study.target
    if t.baseline is None or target.empty:
        return []
    if spec.design.kind == "full_factorial" and len(study.labels) <= 2:
        return []  # the heat map shows it whole
    found = discover(target, spec.factors, negative=True)
    path = store.path("discovery.csv")
    if found is None:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        return []
    box, stats = found
    write_table(path, box)
    lines = [
        f"## Where `{t.policy}` does not pay (scenario discovery)",
        "",
        f"At {stats['cases']:.0%} of the design points the mean {t.outcome} of `{t.policy}` is "
        f"below that of `{t.baseline}`. A PRIM box (peeling the sampled ranges) that holds "
        f"{stats['coverage']:.0%} of those points, in which {stats['density']:.0%} of the points "
        f"are such cases ({stats['mass']:.0%} of all points fall in it):",
        "",
    ]
    if box.empty:
        lines += ["No factor range narrows the cases down: they are spread over the space.", ""]
    else:
        lines += markdown_table(box) + [""]
    return lines


def _files_section(store: SweepStore) -> list[str]:
    described = {
        f"runs{store.suffix}": "every run: point x replication x policy, with all outcomes",
        "points.csv": "per point, policy (and paired difference) and outcome: n, mean, sd, CI",
        "design.csv": "the design points",
        "errors.csv": "failed runs (tracebacks in errors/)",
        "sensitivity.csv": "sensitivity indices",
        "sensitivity_second_order.csv": "second-order Sobol indices",
        "break_even.csv": "break-even frontier",
        "discovery.csv": "scenario discovery box",
        "manifest.json": "design, seeds, versions, sessions, timing, workers",
        "experiment.yaml": "the experiment with every default filled in",
        "scenario.yaml": "the resolved base scenario",
    }
    lines = ["## Files", ""]
    for name, what in described.items():
        if store.path(name).exists():
            lines.append(f"- `{name}`: {what}")
    return lines


# --------------------------------------------------------------------------- helpers
def _target_name(study: Study) -> str:
    t = study.target
    if t.baseline:
        return f"{t.outcome} of {t.policy} minus {t.baseline}"
    return f"{t.outcome} of {t.policy}"


def _describe_factor(f: Factor) -> str:
    if f.range is not None:
        scale = ", log scale" if f.scale == "log" else ""
        whole = ", whole numbers" if f.integer else ""
        levels = f", {f.levels} levels" if f.levels else ""
        return f"{format_value(f.range[0])} to {format_value(f.range[1])}{scale}{whole}{levels}"
    values = f.values or []
    shown = ", ".join(str(v) for v in values[:8])
    return shown + (f", ... ({len(values)} values)" if len(values) > 8 else "")


def _save(figure: Any, path: Path) -> None:
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp{path.suffix}")
    figure.savefig(tmp, dpi=110, bbox_inches="tight")
    os.replace(tmp, path)
