"""The report of an optimisation folder: ``report.md``, its tables and ``plots/``.

Everything is recomputed from the runs on disk, the trials table and the recommendation, so
``relsim report DIR`` redraws it at any time, for a finished or an interrupted optimisation.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import yaml
from pydantic import ValidationError

from simulation.errors import UserError
from simulation.experiments.arms import OptimiseStore, read_runs
from simulation.experiments.candidates import (
    FRESH,
    best_by_market,
    compare,
    minimised,
    race_status,
    shortfall,
    verdict,
)
from simulation.experiments.decision import RETENTION_SHARE, policy_profile
from simulation.experiments.optimise_spec import Objective, OptimiseSpec
from simulation.experiments.store import atomic_write_text, read_table, write_table
from simulation.runs.formatting import format_number, markdown_table
from simulation.scenario.schema import Scenario


def load_optimise_folder(folder: str | Path) -> tuple[OptimiseStore, OptimiseSpec, Scenario]:
    """Open an optimisation folder: its store, resolved file and base scenario.

    Raises:
        UserError: the folder is not an optimisation folder, or its inputs are unreadable.
    """
    store = OptimiseStore(folder)
    if not store.is_sweep():
        raise UserError(
            f"{folder}: not an optimisation folder (no manifest.json of relsim optimise)"
        )
    try:
        spec = OptimiseSpec.model_validate(yaml.safe_load(store.path("optimise.yaml").read_text()))
        scenario = Scenario.model_validate(yaml.safe_load(store.path("scenario.yaml").read_text()))
    except (OSError, yaml.YAMLError, ValidationError) as exc:
        raise UserError(
            f"{folder}: optimise.yaml or scenario.yaml cannot be read ({exc.__class__.__name__}); "
            "run the optimisation again with --overwrite"
        ) from None
    return store, spec, scenario


def build_optimise_report(folder: str | Path) -> Path:
    """Rebuild every table, figure and ``report.md`` of an optimisation folder.

    Returns:
        The path of ``report.md``.
    """
    store, spec, scenario = load_optimise_folder(folder)
    runs = read_runs(store)
    if len(runs):
        write_table(store.path(f"runs{store.suffix}"), runs)
    trials = _read_optional(store.path("trials.csv"))
    markets = _read_optional(store.path("markets.csv"))
    recommendation = _read_json(store.path("recommendation.json"))
    references = list(spec.policies or [])
    plots = store.path("plots")
    plots.mkdir(exist_ok=True)
    sections: list[str] = [f"# Optimisation: {spec.name}", ""]
    if spec.description:
        sections += [spec.description.strip(), ""]
    if not recommendation:
        sections += [
            "**Not finished**: the search has not reached a recommendation yet. Run the same "
            "`relsim optimise` command again to resume it.",
            "",
        ]
    else:
        sections += _verdict_section(store, spec, scenario, runs, recommendation, references)
        sections += _race_section(store, spec, runs, recommendation, references)
    if trials is not None and len(trials):
        sections += _search_section(store, spec, trials, recommendation)
        sections += _market_section(store, spec, runs, trials, markets, recommendation)
        sections += _pareto_section(store, spec, trials)
    sections += _files_section(spec)
    path = store.path("report.md")
    atomic_write_text(path, "\n".join(sections) + "\n")
    return path


# --------------------------------------------------------------------------- sections
def _verdict_section(
    store: OptimiseStore,
    spec: OptimiseSpec,
    scenario: Scenario,
    runs: pd.DataFrame,
    recommendation: dict[str, Any],
    references: list[str],
) -> list[str]:
    objective = spec.objectives[0]
    arm = recommendation["arm"]
    finalists = list(recommendation.get("finalists", [arm]))
    table = verdict(runs, finalists, references, objective, spec.confidence)
    write_table(store.path("final.csv"), table)
    lines = ["## The answer", ""]
    mine = table[table["arm"] == arm] if len(table) else table
    for _, row in mine.iterrows():
        lines.append("- " + _sentence(row, table, objective) + ".")
    n = int(mine["n"].max()) if len(mine) else 0
    lines += [
        "",
        f"Objective: {_describe(objective)}. Intervals are paired {spec.confidence:.0%} "
        f"intervals over {n} fresh replications (new seeds, every market), not the seeds the "
        "candidate was chosen on: a winner judged on its own selection noise is flattered.",
        "",
    ]
    lines += _edge_notes(spec, recommendation)
    profiles = _profiles(scenario, spec, recommendation, references)
    write_table(store.path("allocations.csv"), profiles.reset_index(names="policy"))
    from simulation.experiments.optimise_plots import plot_allocations, plot_candidate_intervals

    figure = plot_allocations(profiles, highlight="recommended")
    _save(figure, store.path("plots") / "allocation.png")
    shown = profiles.copy()
    shown = shown[[c for c in shown.columns if not (c.startswith("share.") and not shown[c].any())]]
    for column in shown.columns:
        if column != "budget":
            shown[column] = [format_number(v, "percent") for v in shown[column]]
    shown.columns = [c.removeprefix("share.") for c in shown.columns]
    lines += ["### The recommended allocation", "", "![allocation](plots/allocation.png)", ""]
    lines += markdown_table(shown.reset_index(names="policy").map(_cell)) + [""]
    baseline = spec.decision.policy if spec.decision.policy in references else references[0]
    scores = _fresh_scores(runs, finalists, references, baseline, objective, spec.confidence)
    write_table(store.path("candidates_fresh.csv"), scores)
    _save(
        plot_candidate_intervals(scores, label=f"{objective.label} minus {baseline}'s"),
        store.path("plots") / "candidates.png",
    )
    lines += [
        "### The best candidates on fresh seeds",
        "",
        "![candidates](plots/candidates.png)",
        "",
    ]
    return lines


def _edge_notes(spec: OptimiseSpec, recommendation: dict[str, Any]) -> list[str]:
    """A warning for every variable the recommendation puts at the edge of its range."""
    notes = []
    for v in spec.decision.variables:
        if v.range is None or v.label not in recommendation["params"]:
            continue
        low, high = v.range
        value = float(recommendation["params"][v.label])
        for end, side in ((low, "low"), (high, "high")):
            if abs(value - end) <= 0.02 * (high - low):
                notes.append(
                    f"- **{v.label} = {_number(value)} is at the {side} end of its range** "
                    f"({_number(low)} to {_number(high)}): the best may lie beyond it; widen "
                    "the range to find out."
                )
    return notes + ([""] if notes else [])


def _sentence(row: pd.Series, table: pd.DataFrame, objective: Objective) -> str:
    reference = row["reference"]
    low, high = _number(row["ci_low"]), _number(row["ci_high"])
    interval = f"95% CI {low} to {high}"
    if row["better"]:
        word = "less" if minimised(objective) else "more"
        amount = _number(abs(row["difference"]))
        return (
            f"**The best split found earns {amount} {word} {objective.label} than "
            f"`{reference}`** ({interval}; better in {row['share_better']:.0%} of "
            f"{int(row['n'])} fresh paired replications)"
        )
    others = table[(table["reference"] == reference) & table["better"]]
    if len(others):
        return (
            f"The recommendation is not distinguishable from `{reference}` "
            f"(difference {_number(row['difference'])}, {interval}), although candidate "
            f"{others['arm'].iloc[0]} beats it beyond the noise"
        )
    if row["worse"]:
        return (
            f"**`{reference}` does better than every candidate found** (difference "
            f"{_number(row['difference'])}, {interval})"
        )
    return (
        f"**No candidate beats `{reference}` by more than the noise** (the recommendation's "
        f"difference: {_number(row['difference'])}, {interval})"
    )


def _race_section(
    store: OptimiseStore,
    spec: OptimiseSpec,
    runs: pd.DataFrame,
    recommendation: dict[str, Any],
    references: list[str],
) -> list[str]:
    race = recommendation.get("race", {})
    pool = list(race.get("pool", []))
    if len(pool) < 2:
        return []
    status = race_status(runs, pool, spec.objectives[0], references, spec.confidence)
    write_table(store.path("race.csv"), status.table)
    stopped = {
        "separated": "the leader's paired interval separated from every rival's",
        "budget": "the racing budget of runs was spent before every rival separated",
    }.get(race.get("stopped", ""), race.get("stopped", ""))
    lines = [
        "## Racing the leaders",
        "",
        f"The {len(pool)} best candidates of the search were raced on the search seeds: "
        f"{len(race.get('rounds', []))} rounds; stopped because {stopped}. Difference is the "
        f"leader ({status.leader}) minus each rival, positive when the leader is better.",
        "",
    ]
    lines += markdown_table(status.table.map(_cell)) + [""]
    return lines


def _search_section(
    store: OptimiseStore, spec: OptimiseSpec, trials: pd.DataFrame, recommendation: dict[str, Any]
) -> list[str]:
    from simulation.experiments.optimise_plots import plot_convergence, plot_objective_map

    objective = spec.objectives[0]
    minimise = minimised(objective)
    _save(
        plot_convergence(trials, label=objective.label, minimise=minimise),
        store.path("plots") / "convergence.png",
    )
    best = None
    if recommendation:
        row = trials[trials["arm"] == recommendation["arm"]]
        if len(row):
            best = {k: float(row[k].iloc[0]) for k in (RETENTION_SHARE, "budget")}
    _save(
        plot_objective_map(trials, label=objective.label, best=best),
        store.path("plots") / "objective_map.png",
    )
    done = int(trials["objective0"].notna().sum())
    return [
        "## The search",
        "",
        f"{done} candidates ({spec.sampler} sampler, {spec.search.replications} replications "
        "each in every market, the same seeds for every candidate). Every trial is in "
        "`trials.csv`.",
        "",
        "![convergence](plots/convergence.png)",
        "",
        "![objective map](plots/objective_map.png)",
        "",
    ]


def _market_section(
    store: OptimiseStore,
    spec: OptimiseSpec,
    runs: pd.DataFrame,
    trials: pd.DataFrame,
    markets: pd.DataFrame | None,
    recommendation: dict[str, Any],
) -> list[str]:
    factors = [f.label for f in spec.uncertainty.factors]
    if not factors or markets is None or len(markets) < 2 or not recommendation:
        return []
    from simulation.experiments.optimise_plots import plot_best_by_market

    objective = spec.objectives[0]
    arms = [str(a) for a in trials["arm"]]
    best = best_by_market(runs, arms, objective)
    profile = trials.set_index("arm")
    best[RETENTION_SHARE] = best["arm"].map(profile[RETENTION_SHARE])
    best["budget"] = best["arm"].map(profile["budget"])
    gap = shortfall(runs, recommendation["arm"], arms, objective)
    best["shortfall"] = best["market"].map(gap)
    table = markets.rename(columns={"point": "market"}).merge(best, on="market")
    write_table(store.path("best_by_market.csv"), table)
    row = profile.loc[recommendation["arm"]]
    _save(
        plot_best_by_market(table, factors, recommended=float(row[RETENTION_SHARE])),
        store.path("plots") / "best_by_market.png",
    )
    same = (table["arm"] == recommendation["arm"]).mean()
    worst = table.loc[table["shortfall"].idxmax()]
    return [
        "## Across the sampled markets",
        "",
        f"In each of the {len(table)} sampled markets, the candidate with the best mean "
        f"{objective.outcome} there (search seeds). The recommendation is the best in "
        f"{same:.0%} of them; it gives up most in market {int(worst['market'])} "
        f"({_number(worst['shortfall'])} of {objective.outcome}, where the best split puts "
        f"{worst[RETENTION_SHARE]:.0%} on retention). Where the dots spread vertically the best "
        "split depends on that factor; where they stay near the dashed line it is robust.",
        "",
        "![best by market](plots/best_by_market.png)",
        "",
    ]


def _pareto_section(store: OptimiseStore, spec: OptimiseSpec, trials: pd.DataFrame) -> list[str]:
    if len(spec.objectives) < 2 or "objective1" not in trials:
        return []
    from simulation.experiments.optimise_plots import plot_pareto_front

    labels = [o.label for o in spec.objectives]
    minimise = [minimised(o) for o in spec.objectives]
    _save(
        plot_pareto_front(trials, labels=labels, minimise=minimise),
        store.path("plots") / "pareto.png",
    )
    front = trials[trials["pareto"].astype(bool)]
    columns = ["trial", RETENTION_SHARE, "budget", "objective0", "objective1"]
    shown = front[[c for c in columns if c in front]].rename(
        columns={"objective0": labels[0], "objective1": labels[1]}
    )
    return [
        "## Two objectives: the Pareto front",
        "",
        f"{len(front)} candidates that no other beats on both {labels[0]} and {labels[1]}.",
        "",
        "![pareto](plots/pareto.png)",
        "",
        *markdown_table(shown.map(_cell)),
        "",
    ]


def _files_section(spec: OptimiseSpec) -> list[str]:
    return [
        "## Files",
        "",
        "`trials.csv` every candidate of the search; `race.csv` the leaders' paired "
        "comparisons; `final.csv` the finalists against every policy on fresh seeds; "
        "`candidates_fresh.csv`, `allocations.csv`, `best_by_market.csv`; `runs.parquet` (or "
        "`.csv`) every run; `optuna.db` the optuna study; `recommendation.json`.",
    ]


# --------------------------------------------------------------------------- helpers
def _profiles(
    scenario: Scenario, spec: OptimiseSpec, recommendation: dict[str, Any], references: list[str]
) -> pd.DataFrame:
    from simulation.experiments.decision import apply_settings

    chosen = apply_settings(scenario, recommendation["overrides"])
    rows = {"recommended": policy_profile(chosen, spec.decision.policy)}
    rows.update({p: policy_profile(scenario, p) for p in references})
    return pd.DataFrame.from_dict(rows, orient="index")


def _fresh_scores(
    runs: pd.DataFrame,
    finalists: list[str],
    references: list[str],
    baseline: str,
    objective: Objective,
    confidence: float,
) -> pd.DataFrame:
    """Each finalist and policy against ``baseline`` on the fresh seeds, paired."""
    rows = []
    for arm in finalists + [r for r in references if r != baseline]:
        paired = compare(runs, arm, baseline, objective, FRESH, references, confidence)
        rows.append(
            {
                "arm": arm,
                "kind": "policy" if arm in references else "candidate",
                "baseline": baseline,
                "value": paired["difference"],
                "ci_low": paired["ci_low"],
                "ci_high": paired["ci_high"],
                "n": paired["n"],
            }
        )
    return pd.DataFrame(rows)


def _describe(objective: Objective) -> str:
    what = {
        "mean": f"mean {objective.outcome} across the sampled markets",
        "quantile": f"the {objective.quantile:g} quantile of {objective.outcome} across markets",
        "regret": f"largest shortfall of {objective.outcome}, in any market, against the best "
        "of the scenario's policies there (smaller is better)",
        "spread": f"standard deviation of {objective.outcome} over every run",
    }
    return what[objective.across]


def _number(value: float, signed: bool = False) -> str:
    return format_number(value, signed=signed)


def _cell(value: Any) -> Any:
    if isinstance(value, float):
        return _number(value)
    return value


def _read_optional(path: Path) -> pd.DataFrame | None:
    return read_table(path) if path.is_file() else None


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _save(figure: Any, path: Path) -> None:
    from simulation.experiments.sweep_report import _save as save

    save(figure, path)
