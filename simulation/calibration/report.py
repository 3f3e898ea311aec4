"""The calibration report: ``report.md`` as text, from a :class:`~.calibrated.CalibratedMarket`.

Pure: tables in, Markdown out; the figures it links are drawn by :mod:`.plots` and saved by
:mod:`.folder` under ``plots/``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from simulation.calibration.calibrated import CalibratedMarket
from simulation.calibration.pipeline import CalibrationResult

if TYPE_CHECKING:
    from simulation.calibration.bayes import PosteriorFit

FIGURES = {
    "tracking": "Repeat transactions per period and cumulated: the log, the fitted model, and "
    "the cohort replayed in relsim's market (mean and 95% band of one replication)",
    "conditional_expectations": "Mean holdout transactions by calibration-period frequency",
    "alive": "The probability of being alive at the calibration end",
    "spend": "Mean spend per repeat transaction: observed and Gamma-Gamma",
}
"""The report's figures, by file stem, with their captions."""


def _number(value: float, digits: int = 4) -> str:
    return f"{value:.{digits}g}" if np.isfinite(value) else "n/a"


def fit_markdown(parameters: pd.DataFrame) -> str:
    """The fits as a Markdown table: estimate and 95% interval per parameter."""
    rows = [
        {
            "model": row.model,
            "parameter": row.parameter,
            "estimate": _number(row.estimate),
            "95% CI": f"{_number(row.ci_low)} to {_number(row.ci_high)}",
            "log-likelihood": f"{row.log_likelihood:,.1f}",
            "BIC": f"{row.bic:,.1f}",
        }
        for row in parameters.itertuples()
    ]
    return pd.DataFrame(rows).to_markdown(index=False)


def posterior_markdown(parameters: pd.DataFrame, posterior: dict[str, PosteriorFit]) -> str:
    """The Bayesian fits beside the maximum-likelihood ones, as a Markdown table.

    Args:
        parameters: the maximum-likelihood fits (:func:`~.fit.fit_table`).
        posterior: the posterior fits by model name (:class:`~.bayes.PosteriorFit`).

    Returns:
        One row per parameter of a model fitted both ways.
    """
    rows = []
    for row in parameters.itertuples():
        if row.model not in posterior:
            continue
        fit = posterior[row.model]
        low, high = fit.model.ci_low[row.parameter], fit.model.ci_high[row.parameter]
        rows.append(
            {
                "model": row.model,
                "parameter": row.parameter,
                "ML estimate (95% CI)": f"{_number(row.estimate)} ({_number(row.ci_low)} to "
                f"{_number(row.ci_high)})",
                "posterior median (95% credible)": f"{_number(fit.model.parameters[row.parameter])}"
                f" ({_number(low)} to {_number(high)})",
                "ML inside": "yes" if low <= row.estimate <= high else "**no**",
                "R-hat": f"{fit.r_hat[row.parameter]:.3f}",
                "ESS": f"{fit.ess[row.parameter]:,.0f}",
            }
        )
    return pd.DataFrame(rows).to_markdown(index=False)


def _posterior_lines(result: CalibrationResult) -> list[str]:
    """The ``--bayes`` part of the fits section (nothing without Bayesian fits)."""
    posterior = result.posterior
    if not posterior:
        return []
    from simulation.calibration.bayes import MIN_ESS, PRIOR_LOG_SD, R_HAT_LIMIT

    # No run times here: the report, like the tables, is the same for the same seed.
    samplers = "; ".join(
        f"{fit.model.label} by {fit.sampler.label}, {fit.sampler.chains} chains of "
        f"{fit.sampler.tune:,} tuning and {fit.sampler.draws:,} kept draws"
        for fit in posterior.values()
    )
    unconverged = [fit.model.label for fit in posterior.values() if not fit.converged]
    lines = [
        "### Bayesian fits (pymc-marketing)",
        "",
        f"The same models sampled with pymc-marketing: {samplers}. Priors log-normal with a "
        f"log-sd of {PRIOR_LOG_SD:g}, median 1 for the shape parameters and the data's own "
        "scale for the others (docs/calibration.md). The posterior median and the 2.5% and "
        "97.5% quantiles are reported; the calibrated market uses the maximum-likelihood "
        "estimates.",
        "",
        posterior_markdown(result.parameters, posterior),
        "",
    ]
    if unconverged:
        lines += [
            f"**Not converged** ({', '.join(unconverged)}): an R-hat of {R_HAT_LIMIT} or more "
            f"or no more than {MIN_ESS:.0f} effective draws; treat those intervals as rough.",
            "",
        ]
    return lines


def _holdout_lines(market: CalibratedMarket) -> list[str]:
    holdout = market.holdout
    unit = market.result.summary.unit
    if holdout.empty:
        return [
            "The log has no holdout period (`--until` is its last date): the model is checked "
            "on the calibration period only.",
        ]
    last = holdout.iloc[-1]
    actual, expected = last["actual_cumulative"], last["expected_cumulative"]
    sim, low, high = (
        last["simulated_cumulative_mean"],
        last["simulated_cumulative_low"],
        last["simulated_cumulative_high"],
    )
    inside = np.isfinite(low) and low <= actual <= high
    gap = (actual - expected) / expected if expected else float("nan")
    return [
        f"Over the {len(holdout)} holdout {unit}s the calibration cohort made **{actual:,.0f}** "
        f"repeat transactions; {market.result.model.label} expected **{expected:,.0f}** "
        f"({gap:+.1%} off) and relsim's market, replaying the cohort {market.replications} "
        f"times, **{sim:,.0f}** (95% band of one replication {low:,.0f} to {high:,.0f}: the "
        f"actual count is {'inside' if inside else 'outside'} it).",
        "",
        "The replay checks the simulation, not the data: its mean should agree with the "
        "model's expectation within sampling error. The band leaves out the uncertainty of "
        "the fitted parameters, so an actual count outside it says the model misses "
        "something in this log, not that the simulation is wrong.",
        "",
        holdout[
            [
                "period",
                "last_day",
                "actual",
                "expected",
                "simulated_mean",
                "actual_cumulative",
                "expected_cumulative",
                "simulated_cumulative_mean",
            ]
        ]
        .round(1)
        .to_markdown(index=False),
    ]


def _market_lines(market: CalibratedMarket) -> list[str]:
    sizing, base = market.sizing, market.base
    laws = market.laws
    rate = laws["purchase"]["transaction_rate"]
    lines = [
        f"`scenario.yaml` extends `{market.base_ref}` and replaces its customer-base laws "
        "(monthly rates):",
        "",
        f"- purchases: Poisson at a rate per month drawn from a gamma law with shape "
        f"{rate['shape']:.4g} and rate {rate['rate']:.4g} (mean "
        f"{rate['shape'] / rate['rate']:.3g} transactions a month);",
    ]
    dropout = laws["dropout"]
    if dropout["law"] == "bgnbd":
        p = dropout["probability"]
        lines.append(
            f"- drop-out: after each repeat transaction, with a probability drawn from a beta "
            f"law of mean {p['mean']:.4g} and sd {p['sd']:.4g} (the BG/NBD);"
        )
    else:
        h = laws["base_churn_rate"]
        lines.append(
            f"- drop-out: a hazard per month drawn from a gamma law with shape {h['shape']:.4g} "
            f"and rate {h['rate']:.4g} (the Pareto/NBD);"
        )
    spend = laws["purchase"].get("spend")
    if spend:
        lines.append(
            f"- spend: Gamma-Gamma in units at the focal firm's price "
            f"({base.market.firms[0].price:g}): p = {spend['p']:.4g}, q = {spend['q']:.4g}, "
            f"gamma = {spend['gamma']:.4g};"
        )
    low, high = sizing.tenure_months
    lines += [
        f"- the focal firm starts with {sizing.alive:,.0f} customers, the calibration cohort's "
        f"expected number still alive at the calibration end, with tenures of {low:.1f} to "
        f"{high:.1f} months; the market is resized around it to {sizing.customers:,} people "
        f"(the base's initial penetration and shares kept) and every budget scaled by "
        f"{sizing.factor:.4g} (spend per customer kept);",
    ]
    if sizing.ceiling is not None:
        lines.append(
            f"- acquisition: {sizing.acquisition_per_month:,.1f} first purchases a month at the "
            f"calibration end ({sizing.acquisition_share:.3%} of the prospects a month) are taken "
            f"as what the base's first policy `{sizing.status_quo}` buys with its advertising: "
            f"advertising ceiling {sizing.ceiling:.4g}."
        )
    else:
        lines.append(
            f"- acquisition: the base's first policy `{sizing.status_quo}` does not advertise, "
            "so the base's advertising response is kept."
        )
    lines += [
        "",
        "Compare the base's policies on these customers with `relsim run` on the scenario "
        "file (see docs/calibration.md for the conventions and the limits of this mapping).",
    ]
    return lines


def report_markdown(market: CalibratedMarket, log_name: str) -> str:
    """The whole ``report.md``.

    Args:
        market: the calibrated market.
        log_name: the log's file name, for the title.

    Returns:
        The Markdown text.
    """
    result = market.result
    log, summary = result.log, result.summary
    merged = log.n_rows - len(log.transactions)
    columns = ", ".join(f"{role} `{name}`" for role, name in log.columns.items())
    holdout = (
        f"holdout {summary.until + pd.Timedelta(days=1):%Y-%m-%d} to {summary.end:%Y-%m-%d}"
        if summary.has_holdout
        else "no holdout period"
    )
    lines = [
        f"# Calibration of {log_name}",
        "",
        f"**{result.model.label}** describes these customers. {result.choice.reason}",
        "",
        "## The log",
        "",
        f"{log.n_rows:,} rows ({columns}); {len(log.transactions):,} transactions after "
        f"merging each customer's transactions of one day ({merged:,} rows merged); "
        f"{log.n_customers:,} customers, {log.start:%Y-%m-%d} to {log.end:%Y-%m-%d}. "
        f"Calibration {summary.start:%Y-%m-%d} to {summary.until:%Y-%m-%d} "
        f"({summary.calibration_end:.1f} {summary.unit}s; {len(summary.customers):,} customers "
        f"made their first purchase in it, {int(summary.customers['x'].sum()):,} repeat "
        f"transactions); {holdout}. Rates are per {summary.unit}.",
        "",
        "## The fits",
        "",
        fit_markdown(result.parameters),
        "",
        *_posterior_lines(result),
        f"Acquisition: {result.acquisition.reason}",
        "",
        "## The holdout",
        "",
        *_holdout_lines(market),
        "",
        f"![{FIGURES['tracking']}](plots/tracking.png)",
        "",
    ]
    if result.conditional is not None:
        lines += [
            "## Conditional expectations",
            "",
            result.conditional.round(3).to_markdown(index=False),
            "",
            f"![{FIGURES['conditional_expectations']}](plots/conditional_expectations.png)",
            "",
        ]
    alive = result.alive["p_alive"]
    lines += [
        "## Who is still a customer",
        "",
        f"Mean P(alive) at the calibration end {alive.mean():.3f}; {int((alive < 0.5).sum()):,} "
        f"of {len(alive):,} customers are more likely gone than not.",
        "",
        f"![{FIGURES['alive']}](plots/alive.png)",
        "",
    ]
    if result.spend is not None:
        mean = result.spend.module.expected_spend(result.spend.values)
        lines += [
            "## Spend",
            "",
            f"Gamma-Gamma fitted to {result.spend.n_customers:,} customers with repeat "
            f"transactions: a mean of {float(mean):,.2f} per transaction over customers.",
            "",
            f"![{FIGURES['spend']}](plots/spend.png)",
            "",
        ]
    lines += ["## The calibrated market", "", *_market_lines(market), ""]
    return "\n".join(lines)
