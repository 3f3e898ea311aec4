"""The fitted-model record shared by fitting, forecasting and plotting, and the model registry.

A :class:`FittedModel` holds the maximum-likelihood estimates of one model with their
confidence intervals and fit statistics; :data:`MODELS` maps its ``name`` to the module with
the model's formulas (:mod:`~simulation.calibration.bgnbd`,
:mod:`~simulation.calibration.pareto_nbd`, :mod:`~simulation.calibration.gamma_gamma`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import ModuleType

import numpy as np

from simulation.calibration import bgnbd, gamma_gamma, pareto_nbd

MODELS: dict[str, ModuleType] = {module.NAME: module for module in (bgnbd, pareto_nbd, gamma_gamma)}
"""Each model's module, by name."""

PURCHASE_MODELS: tuple[str, ...] = (bgnbd.NAME, pareto_nbd.NAME)
"""The models of the purchase process (the ones :func:`~.fit.choose_model` chooses among)."""


@dataclass(frozen=True)
class FittedModel:
    """One model fitted by maximum likelihood.

    Attributes:
        name: the model (a key of :data:`MODELS`: ``bgnbd``, ``pareto_nbd`` or
            ``gamma_gamma``).
        parameters: the estimates, by parameter name, in the model's order.
        ci_low: lower ends of the 95% confidence intervals (NaN if the observed information
            is not positive definite).
        ci_high: upper ends of the 95% confidence intervals.
        log_likelihood: the maximised log-likelihood.
        bic: the Bayesian information criterion, ``k ln(n) - 2 log_likelihood``.
        n_customers: the number of customers the fit used (``n`` in the BIC).
        unit: the time unit of rate parameters (``week`` or ``month``; ``None`` for spend
            or when fitted to bare arrays).
        converged: whether the optimiser reported convergence.
        log_covariance: the covariance matrix of the log-parameters (the inverse observed
            information), for drawing parameter uncertainty.
    """

    name: str
    parameters: dict[str, float]
    ci_low: dict[str, float]
    ci_high: dict[str, float]
    log_likelihood: float
    bic: float
    n_customers: int
    unit: str | None = None
    converged: bool = True
    log_covariance: np.ndarray | None = field(default=None, compare=False, repr=False)

    @property
    def label(self) -> str:
        """The model's usual printed name (``BG/NBD``, ``Pareto/NBD``, ``Gamma-Gamma``)."""
        return MODELS[self.name].LABEL

    @property
    def values(self) -> tuple[float, ...]:
        """The estimates as a tuple in the model's parameter order."""
        return tuple(self.parameters[p] for p in MODELS[self.name].PARAMETERS)

    @property
    def module(self) -> ModuleType:
        """The module with the model's formulas."""
        return MODELS[self.name]
