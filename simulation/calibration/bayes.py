"""Bayesian fits of the customer-base models with pymc-marketing (``relsim calibrate --bayes``).

The same models as :mod:`.fit`, on the same calibration summary in the same time unit:
the BG/NBD (``pymc_marketing.clv.BetaGeoModel``), the Pareto/NBD (``ParetoNBDModel``) and
the Gamma-Gamma (``GammaGammaModel``) on the customers with repeat transactions of positive
amount. Each fit returns a :class:`~.models.FittedModel` of the same shape as the
maximum-likelihood one: the posterior median of each parameter and its 95% equal-tailed
credible interval (the 2.5% and 97.5% posterior quantiles), with the log-likelihood and BIC
of the medians under relsim's own formulas; a :class:`PosteriorFit` adds the sampler's
convergence diagnostics.

Priors. pymc-marketing's defaults are Weibull laws of fixed scale (``Weibull(2, 1)`` for the
shapes, ``Weibull(2, 10)`` for ``alpha``, ``beta`` and ``v``), whose scale is that of a
particular time unit and currency: on the CDNOW sample they pull the Gamma-Gamma ``p`` from
the maximum-likelihood 6.25 to a posterior mean of 4.24, outside the likelihood's own 95%
interval (4.30 to 9.08). relsim replaces them with weakly informative log-normal priors,
``LogNormal(log m, 2)`` (95% of the prior within a factor of 50 of ``m``), where ``m`` is 1
for the shape parameters (``r``, ``a``, ``b``, ``s``, ``p``, ``q``) and the data's own scale
for the others: the reciprocal of the repeat purchases per unit of observed time for
``alpha``, the mean customer age ``T`` for ``beta``, the mean spend per repeat transaction
for ``v`` (the starting values of the maximum-likelihood fits). A change of time unit or
currency then rescales the posterior as it rescales the likelihood, and with thousands of
customers the likelihood dominates.

Samplers. NUTS for the BG/NBD and the Gamma-Gamma, whose gradients are cheap: 2 chains of
1,000 tuning and 1,000 kept draws each (about 13 s and 8 s on the CDNOW sample; the
Gamma-Gamma's strongly correlated ``p`` and ``v`` needed more than 500 draws for R-hat
below 1.01). The Pareto/NBD's likelihood goes through a Gaussian hypergeometric function
whose gradient is an iterative series: NUTS took 253 s for 2 chains of 500 and 500 on the
CDNOW sample, so it is sampled with the gradient-free DEMetropolisZ instead, 2 chains of
2,000 tuning and 4,000 kept draws (17 to 32 s over seven seeds), exact in the limit like
NUTS but with more correlated draws, hence the longer chains. The chains start near the
priors' medians (:func:`starting_points`). Every sampler is seeded from the run's seed, one
stream per model (:func:`model_seed`), so the same command gives the same draws.

pymc-marketing is imported only here, and only when a Bayesian fit is asked for
(:func:`require_pymc_marketing`): relsim without the ``bayes`` extra never imports it.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
import warnings
from collections.abc import Iterable
from contextlib import contextmanager
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd

from simulation.calibration import bgnbd, gamma_gamma, pareto_nbd
from simulation.calibration.fit import _rate_guess
from simulation.calibration.log import CustomerSummary
from simulation.calibration.models import MODELS, FittedModel
from simulation.errors import UserError

EXTRA_MISSING = (
    "--bayes needs the optional extra: pip install 'relsim[bayes]' (Python 3.12 or newer)"
)
"""The one line shown when pymc-marketing cannot be imported."""

CREDIBILITY = 0.95
PRIOR_LOG_SD = 2.0
"""Standard deviation of the log-normal priors on the log scale."""

STREAM = 7_122
"""Spawn key of the samplers' seeds, apart from the replay's (``simulate.STREAM``)."""

R_HAT_LIMIT = 1.01
MIN_ESS = 200.0
"""A fit is reported as converged when every parameter's rank-normalised R-hat is below 1.01
and its bulk effective sample size above 200, 100 per chain (the thresholds of Vehtari et
al. 2021, Bayesian Analysis 16(2), 667-718)."""


@dataclass(frozen=True)
class Sampler:
    """How one model's posterior is sampled.

    Attributes:
        method: ``mcmc`` (NUTS) or ``demz`` (DEMetropolisZ), as pymc-marketing names them.
        tune: tuning iterations per chain (discarded).
        draws: kept draws per chain.
        chains: independent chains (two, so that R-hat can compare them).
    """

    method: str
    tune: int
    draws: int
    chains: int = 2

    @property
    def label(self) -> str:
        """The sampler's usual name."""
        return {"mcmc": "NUTS", "demz": "DEMetropolisZ"}[self.method]


SAMPLERS: dict[str, Sampler] = {
    bgnbd.NAME: Sampler("mcmc", tune=1_000, draws=1_000),
    pareto_nbd.NAME: Sampler("demz", tune=2_000, draws=4_000),
    gamma_gamma.NAME: Sampler("mcmc", tune=1_000, draws=1_000),
}
"""The sampler of each model (module docstring)."""

SHAPES = {"r", "a", "b", "s", "p", "q"}
"""Dimensionless parameters: their priors have median 1."""


@dataclass(frozen=True)
class PosteriorFit:
    """One model fitted by sampling its posterior.

    Attributes:
        model: the fit in the shape of a maximum-likelihood one: ``parameters`` are the
            posterior medians, ``ci_low`` and ``ci_high`` the 95% credible interval,
            ``log_likelihood`` and ``bic`` those of the medians, ``converged`` whether the
            diagnostics pass (:attr:`PosteriorFit.converged`).
        r_hat: the rank-normalised split R-hat of each parameter.
        ess: the bulk effective sample size of each parameter.
        sampler: how the posterior was sampled.
        seed: the sampler's seed.
        seconds: the wall-clock time of the fit.
    """

    model: FittedModel
    r_hat: dict[str, float]
    ess: dict[str, float]
    sampler: Sampler
    seed: int
    seconds: float

    @property
    def converged(self) -> bool:
        """Whether every R-hat is below :data:`R_HAT_LIMIT` and every ESS above :data:`MIN_ESS`."""
        return self.model.converged


def require_pymc_marketing() -> ModuleType:
    """Import ``pymc_marketing.clv``, or say in one line how to install it.

    Returns:
        The ``pymc_marketing.clv`` module.

    Raises:
        UserError: pymc-marketing is not installed (or cannot be imported).
    """
    try:
        from pymc_marketing import clv
    except ImportError as exc:
        raise UserError(EXTRA_MISSING) from exc
    return clv


def model_seed(seed: int, name: str) -> int:
    """The sampler's seed for one model, spawned from the run's seed.

    Args:
        seed: the run's seed.
        name: the model (a key of :data:`~.models.MODELS`).

    Returns:
        A seed below 2**32, different for each model.
    """
    index = list(MODELS).index(name)
    sequence = np.random.SeedSequence(int(seed), spawn_key=(STREAM, index))
    return int(sequence.generate_state(1, dtype=np.uint32)[0])


def starting_points(medians: dict[str, float], chains: int, seed: int) -> list[dict[str, float]]:
    """Where each chain starts: the prior medians, each moved by a factor of up to e either way.

    pymc would start every DEMetropolisZ chain at the priors' means, which for a log-normal
    of log-sd 2 lie e^2 (7.4) times above the medians, far out where the Pareto/NBD's
    hypergeometric series converges slowly: on the CDNOW sample one seed took 485 s from
    there, against 17 to 32 s from these starts. The random factor (the spread pymc gives
    NUTS's starts) keeps the chains apart, so that R-hat can tell whether they forgot where
    they began; it is drawn from the model's seed.

    Args:
        medians: the prior median of each parameter (:func:`prior_scales`).
        chains: the number of chains.
        seed: the model's sampler seed.

    Returns:
        One starting point per chain.
    """
    rng = np.random.default_rng(seed)
    return [
        {p: float(m * np.exp(rng.uniform(-1.0, 1.0))) for p, m in medians.items()}
        for _ in range(chains)
    ]


def _usable_spend(customers: pd.DataFrame) -> pd.DataFrame:
    """The customers with spend information, as :func:`~.fit.fit_gamma_gamma` keeps them."""
    return customers[(customers["x"] > 0) & (customers["mean_spend"] > 0)]


def prior_scales(name: str, customers: pd.DataFrame) -> dict[str, float]:
    """The median of each parameter's prior (module docstring).

    Args:
        name: the model.
        customers: the calibration summary's customers.

    Returns:
        The prior median by parameter name.
    """
    scales = {p: 1.0 for p in MODELS[name].PARAMETERS if p in SHAPES}
    if name in (bgnbd.NAME, pareto_nbd.NAME):
        scales["alpha"] = 1.0 / _rate_guess(customers)
    if name == pareto_nbd.NAME:
        scales["beta"] = max(float(customers["T"].mean()), 1e-3)
    if name == gamma_gamma.NAME:
        scales["v"] = float(_usable_spend(customers)["mean_spend"].mean())
    return scales


def model_data(name: str, customers: pd.DataFrame) -> pd.DataFrame:
    """The table pymc-marketing's model fits, in its column names.

    Args:
        name: the model.
        customers: the calibration summary's customers (indexed by customer id).

    Returns:
        ``customer_id``, ``frequency`` (``x``), ``recency`` (``t_x``) and ``T`` for a
        purchase model; ``customer_id``, ``frequency`` and ``monetary_value``
        (``mean_spend``) of the customers with spend information for the Gamma-Gamma.
    """
    if name == gamma_gamma.NAME:
        usable = _usable_spend(customers)
        return pd.DataFrame(
            {
                "customer_id": usable.index.to_numpy(),
                "frequency": usable["x"].to_numpy(dtype=int),
                "monetary_value": usable["mean_spend"].to_numpy(dtype=float),
            }
        )
    return pd.DataFrame(
        {
            "customer_id": customers.index.to_numpy(),
            "frequency": customers["x"].to_numpy(dtype=int),
            "recency": customers["t_x"].to_numpy(dtype=float),
            "T": customers["T"].to_numpy(dtype=float),
        }
    )


_CLASSES = {
    bgnbd.NAME: "BetaGeoModel",
    pareto_nbd.NAME: "ParetoNBDModel",
    gamma_gamma.NAME: "GammaGammaModel",
}


@contextmanager
def _quiet():
    """Silence the samplers' progress messages and advice for the duration of a fit."""
    loggers = [logging.getLogger(name) for name in ("pymc", "pytensor", "pymc_marketing")]
    levels = [logger.level for logger in loggers]
    try:
        for logger in loggers:
            logger.setLevel(logging.ERROR)
        with warnings.catch_warnings():
            # Advice about chain counts and T = 0 customers: the diagnostics that matter are
            # computed and reported by relsim itself (PosteriorFit.converged).
            warnings.simplefilter("ignore")
            yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


@contextmanager
def _noticing_interrupts():
    """Remember a Ctrl-C or SIGTERM even if the sampler swallows it.

    pymc's sampler catches KeyboardInterrupt and returns the draws it has, so an interrupted
    run would go on to write a calibration from truncated chains. The handlers in force
    (Python's for Ctrl-C, relsim's for SIGTERM) still run and raise; this only notes the
    signal, so that :func:`fit_posterior` can raise KeyboardInterrupt once the sampler returns.

    Yields:
        A list that holds the signals received.
    """
    noticed: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield noticed
        return
    previous = {}

    def note(signum, frame):
        noticed.append(signum)
        previous[signum](signum, frame)

    for signum in (signal.SIGINT, signal.SIGTERM):
        handler = signal.getsignal(signum)
        if callable(handler):  # a Python handler to pass the signal on to
            previous[signum] = handler
            signal.signal(signum, note)
    try:
        yield noticed
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _draws(posterior: Any, parameter: str) -> np.ndarray:
    """A parameter's draws as an array of shape (chains, draws)."""
    return np.asarray(posterior[parameter].transpose("chain", "draw").values, dtype=float)


def _summarise(
    name: str,
    posterior: Any,
    data: pd.DataFrame,
    unit: str | None,
) -> tuple[FittedModel, dict[str, float], dict[str, float]]:
    """Medians, credible intervals and diagnostics of the posterior draws."""
    import arviz as az

    module = MODELS[name]
    tail = (1 - CREDIBILITY) / 2
    medians, low, high, r_hat, ess = {}, {}, {}, {}, {}
    for parameter in module.PARAMETERS:
        draws = _draws(posterior, parameter)
        medians[parameter] = float(np.median(draws))
        low[parameter], high[parameter] = (float(q) for q in np.quantile(draws, [tail, 1 - tail]))
        r_hat[parameter] = float(az.rhat(draws))
        ess[parameter] = float(az.ess(draws))
    values = [medians[p] for p in module.PARAMETERS]
    if name == gamma_gamma.NAME:
        columns = (data["frequency"], data["monetary_value"])
    else:
        columns = (data["frequency"], data["recency"], data["T"])
    log_likelihood = float(np.sum(module.log_likelihood(values, *columns)))
    n = len(data)
    converged = all(v < R_HAT_LIMIT for v in r_hat.values()) and all(
        v > MIN_ESS for v in ess.values()
    )
    fitted = FittedModel(
        name=name,
        parameters=medians,
        ci_low=low,
        ci_high=high,
        log_likelihood=log_likelihood,
        bic=float(len(values) * np.log(n) - 2 * log_likelihood),
        n_customers=n,
        unit=unit,
        converged=converged,
    )
    return fitted, r_hat, ess


def fit_posterior(name: str, summary: CustomerSummary, seed: int) -> PosteriorFit:
    """Sample one model's posterior with pymc-marketing.

    Args:
        name: ``bgnbd``, ``pareto_nbd`` or ``gamma_gamma``.
        summary: the calibration summary the maximum-likelihood fits used.
        seed: the run's seed (each model's sampler gets its own stream of it).

    Returns:
        The posterior medians and credible intervals, with diagnostics.

    Raises:
        UserError: pymc-marketing is not installed.
        ValueError: no customer to fit (the Gamma-Gamma without repeat spend).
    """
    clv = require_pymc_marketing()
    from pymc_extras.prior import Prior

    customers = summary.customers
    data = model_data(name, customers)
    if data.empty:
        raise ValueError(f"no customers to fit the {MODELS[name].LABEL} model to")
    priors = {
        parameter: Prior("LogNormal", mu=float(np.log(scale)), sigma=PRIOR_LOG_SD)
        for parameter, scale in prior_scales(name, customers).items()
    }
    sampler = SAMPLERS[name]
    stream = model_seed(seed, name)
    started = time.perf_counter()
    with _quiet():
        model = getattr(clv, _CLASSES[name])(model_config=priors)
        starts = starting_points(prior_scales(name, customers), sampler.chains, stream)
        what = f"{summary.source}: the {MODELS[name].LABEL} posterior"
        _sample(model, data, sampler, stream, starts, what)
        unit = None if name == gamma_gamma.NAME else summary.unit
        fitted, r_hat, ess = _summarise(name, model.fit_result, data, unit)
    seconds = time.perf_counter() - started
    return PosteriorFit(fitted, r_hat, ess, sampler, stream, seconds)


def _sample(
    model: Any,
    data: pd.DataFrame,
    sampler: Sampler,
    seed: int,
    starts: list[dict[str, float]],
    what: str,
) -> None:
    """Run pymc-marketing's sampler on ``model``; failures and interrupts as relsim reports them.

    Args:
        model: the pymc-marketing model, not yet fitted.
        data: its data (:func:`model_data`).
        sampler: how to sample.
        seed: the sampler's seed.
        starts: one starting point per chain (:func:`starting_points`).
        what: the log and the posterior, for the message if sampling fails.

    Raises:
        UserError: the sampler could not start or went astray (one line).
        KeyboardInterrupt: Ctrl-C or SIGTERM while sampling.
    """
    from pymc.exceptions import SamplingError

    with _noticing_interrupts() as interrupted:
        try:
            model.fit(
                data,
                method=sampler.method,
                chains=sampler.chains,
                tune=sampler.tune,
                draws=sampler.draws,
                cores=1,  # chains one after the other: no worker processes, same draws anywhere
                random_seed=seed,
                initvals=starts,
                progressbar=False,
            )
        except SamplingError as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise UserError(f"{what} could not be sampled: {first}") from exc
        except Exception:
            if interrupted:  # whatever a cut-short trace made pymc raise, it was interrupted
                raise KeyboardInterrupt from None
            raise
    if interrupted:
        raise KeyboardInterrupt


def fit_posteriors(
    names: Iterable[str], summary: CustomerSummary, seed: int
) -> dict[str, PosteriorFit]:
    """Sample the posteriors of several models; the Gamma-Gamma is left out without spend data.

    Args:
        names: the models to fit.
        summary: the calibration summary.
        seed: the run's seed.

    Returns:
        The fits, by model name, in the order given.
    """
    fits = {}
    for name in names:
        try:
            fits[name] = fit_posterior(name, summary, seed)
        except ValueError:
            if name != gamma_gamma.NAME:
                raise
    return fits


def outside_credible(posterior: PosteriorFit, likelihood: dict[str, FittedModel]) -> list[str]:
    """The parameters whose maximum-likelihood estimate lies outside the credible interval.

    Args:
        posterior: one model's posterior fit.
        likelihood: the maximum-likelihood fits, by model name.

    Returns:
        The parameter names, in the model's order (empty when the fits agree).
    """
    fit = posterior.model
    estimates = likelihood[fit.name].parameters
    return [p for p, v in estimates.items() if not fit.ci_low[p] <= v <= fit.ci_high[p]]


def posterior_table(fits: Iterable[PosteriorFit]) -> pd.DataFrame:
    """The posterior fits, one row per parameter, to join to :func:`~.fit.fit_table`.

    Args:
        fits: posterior fits.

    Returns:
        Columns ``model``, ``parameter``, ``posterior_median``, ``credible_low``,
        ``credible_high``, ``r_hat`` and ``ess``.
    """
    rows = [
        {
            "model": fit.model.name,
            "parameter": parameter,
            "posterior_median": value,
            "credible_low": fit.model.ci_low[parameter],
            "credible_high": fit.model.ci_high[parameter],
            "r_hat": fit.r_hat[parameter],
            "ess": fit.ess[parameter],
        }
        for fit in fits
        for parameter, value in fit.model.parameters.items()
    ]
    columns = ["model", "parameter", "posterior_median", "credible_low", "credible_high"]
    return pd.DataFrame(rows, columns=[*columns, "r_hat", "ess"])
