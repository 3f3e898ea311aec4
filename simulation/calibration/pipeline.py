"""One call from a log file to fitted models and checking tables: :func:`calibrate_log`.

Reads the log (:mod:`.log`), summarises it per customer for a calibration end date, fits the
BG/NBD and Pareto/NBD purchase models and the Gamma-Gamma spend model by maximum likelihood
(:mod:`.fit`), chooses a purchase model, fits acquisition over time, and builds the tables
that check the model against the log (:mod:`.holdout`). With ``bayes=True`` the same models
are also fitted by sampling their posteriors with pymc-marketing (:mod:`.bayes`), reported
beside the maximum-likelihood fits, which remain the ones the rest uses. Nothing is written
to disk.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
from matplotlib.figure import Figure

from simulation.calibration import bgnbd, pareto_nbd
from simulation.calibration.fit import (
    AcquisitionFit,
    ModelChoice,
    choose_model,
    fit_acquisition,
    fit_bgnbd,
    fit_gamma_gamma,
    fit_pareto_nbd,
    fit_table,
)
from simulation.calibration.holdout import (
    alive_probabilities,
    conditional_expectations,
    tracking_table,
)
from simulation.calibration.log import (
    CustomerSummary,
    TransactionLog,
    read_log,
    summarise_customers,
)
from simulation.calibration.models import FittedModel
from simulation.calibration.plots import (
    alive_figure,
    conditional_expectations_figure,
    spend_figure,
    tracking_figure,
)
from simulation.errors import UserError

if TYPE_CHECKING:
    from simulation.calibration.bayes import PosteriorFit

MODEL_CHOICES: dict[str, tuple[str, ...]] = {
    "auto": (bgnbd.NAME, pareto_nbd.NAME),
    bgnbd.NAME: (bgnbd.NAME,),
    pareto_nbd.NAME: (pareto_nbd.NAME,),
}
"""The values of ``model`` and the purchase models each one fits."""

_FITTERS = {bgnbd.NAME: fit_bgnbd, pareto_nbd.NAME: fit_pareto_nbd}


@dataclass(frozen=True)
class CalibrationResult:
    """Everything :func:`calibrate_log` found, as tables and fits (nothing is written).

    Attributes:
        log: the checked log (``log.columns`` are the column names used).
        summary: the per-customer and per-period summary.
        fits: the fitted purchase models, by name.
        choice: the chosen purchase model, why, and each candidate's score.
        spend: the Gamma-Gamma fit (``None`` if no customer has a repeat transaction of
            positive amount).
        acquisition: first purchases over time and the chosen curve.
        parameters: every fit as a tidy table (:func:`~.fit.fit_table`).
        tracking: the tracking table of the chosen model.
        conditional: conditional expectations of the chosen model by calibration frequency
            (``None`` without a holdout period).
        alive: P(alive) and the holdout expectation per customer under the chosen model.
        posterior: the Bayesian fits of the same models (:mod:`.bayes`), by name; empty
            unless asked for.
    """

    log: TransactionLog
    summary: CustomerSummary
    fits: dict[str, FittedModel]
    choice: ModelChoice
    spend: FittedModel | None
    acquisition: AcquisitionFit
    parameters: pd.DataFrame
    tracking: pd.DataFrame
    conditional: pd.DataFrame | None
    alive: pd.DataFrame
    posterior: dict[str, PosteriorFit] = field(default_factory=dict)

    @property
    def columns(self) -> dict[str, str]:
        """The log's names of the customer, date and amount columns."""
        return self.log.columns

    @property
    def model(self) -> FittedModel:
        """The chosen purchase model."""
        return self.choice.model

    def figures(self, tracking: pd.DataFrame | None = None) -> dict[str, Figure]:
        """The calibration's figures, by a file-name-friendly key.

        Args:
            tracking: the tracking table to draw (by default the fit's own; the calibrated
                market's adds the replayed cohort's mean and band).

        Returns:
            ``tracking``, ``alive``, and where available ``conditional_expectations`` and
            ``spend``.
        """
        unit, label = self.summary.unit, self.model.label
        figures = {
            "tracking": tracking_figure(
                self.tracking if tracking is None else tracking, unit, label
            ),
            "alive": alive_figure(self.alive, label),
        }
        if self.conditional is not None:
            figures["conditional_expectations"] = conditional_expectations_figure(
                self.conditional, self.summary.holdout_length, unit, label
            )
        if self.spend is not None:
            figures["spend"] = spend_figure(self.summary.customers, self.spend)
        return figures


def calibrate_log(
    path: str | Path,
    customer: str | None = None,
    date: str | None = None,
    amount: str | None = None,
    until: object = None,
    model: str = "auto",
    unit: str = "week",
    bayes: bool = False,
    seed: int = 0,
) -> CalibrationResult:
    """Read a transaction log and fit the customer-base models to it.

    Args:
        path: the log (CSV or Parquet; see :func:`~.log.read_log`).
        customer: the customer-id column (guessed if ``None``).
        date: the date column (guessed if ``None``).
        amount: the amount column (guessed if ``None``).
        until: the last day of the calibration period; the log's last date (no holdout
            period) if ``None``.
        model: ``auto`` (fit both purchase models and choose, see :func:`~.fit.choose_model`),
            ``bgnbd`` or ``pareto_nbd``.
        unit: ``week`` or ``month``: the time unit of the rates and of the periods.
        bayes: also sample the posteriors of the fitted models with pymc-marketing.
        seed: the seed the samplers' seeds are spawned from (with ``bayes``).

    Returns:
        The fits, the chosen model with its reason, and the tables.

    Raises:
        UserError: a problem with the log or the options (one line each), or ``bayes``
            without pymc-marketing installed (checked before the log is read).
    """
    if model not in MODEL_CHOICES:
        raise UserError(f"{path}: model {model!r} is not one of {', '.join(MODEL_CHOICES)}")
    if bayes:
        from simulation.calibration.bayes import require_pymc_marketing

        require_pymc_marketing()
    log = read_log(path, customer=customer, date=date, amount=amount)
    summary = summarise_customers(log, until=until, unit=unit)
    if int(summary.customers["x"].sum()) == 0:
        raise UserError(
            f"{log.path}: no customer bought again by until {summary.until:%Y-%m-%d}; the "
            "models need repeat purchases in the calibration period"
        )
    fits = {name: _FITTERS[name](summary) for name in MODEL_CHOICES[model]}
    choice = choose_model(list(fits.values()), summary)
    if model != "auto":
        choice = ModelChoice(choice.model, f"{choice.model.label} was asked for.", choice.scores)
    try:
        spend = fit_gamma_gamma(summary)
    except ValueError:
        spend = None
    chosen = choice.model
    everything = [*fits.values(), *([spend] if spend is not None else [])]
    posterior = {}
    if bayes:
        from simulation.calibration.bayes import fit_posteriors

        posterior = fit_posteriors([fit.name for fit in everything], summary, seed)
    return CalibrationResult(
        log=log,
        summary=summary,
        fits=fits,
        choice=choice,
        spend=spend,
        acquisition=fit_acquisition(summary),
        parameters=fit_table(everything),
        tracking=tracking_table(summary, chosen),
        conditional=conditional_expectations(summary, chosen) if summary.has_holdout else None,
        alive=alive_probabilities(summary, chosen),
        posterior=posterior,
    )
