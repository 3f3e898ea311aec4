"""Maximum-likelihood fits of the customer-base models, model choice, and acquisition curves.

Purchase models (BG/NBD, Pareto/NBD) and the spend model (Gamma-Gamma) are fitted by
maximum likelihood [1, 2, 3] on the logarithms of their parameters, which are all positive:
Nelder-Mead from a data-based start, then L-BFGS-B to polish (both from
:func:`scipy.optimize.minimize`). Customers with identical data are pooled and weighted,
which makes each evaluation of the likelihood cost the number of distinct histories rather
than of customers.

Confidence intervals come from the observed information: the Hessian of the negative
log-likelihood in log-parameter space (computed by :func:`scipy.differentiate.hessian`) is
inverted, a 95% Wald interval is formed for each log-parameter and exponentiated [4]. The
intervals are therefore asymmetric and never reach below zero.

:func:`choose_model` picks between fitted purchase models: by the error of their forecast
of cumulative repeat transactions over the holdout period when the log has one, else by BIC.

:func:`fit_acquisition` fits the first purchases per period of the calibration period with
a constant rate and with the Bass (1969) curve [5] by least squares
(:func:`scipy.optimize.curve_fit`) and keeps the one with the lower BIC (Gaussian errors,
``n ln(RSS/n) + k ln(n)``, counting the error variance among the ``k`` parameters).

References:
    1. Fader, P. S., Hardie, B. G. S. & Lee, K. L. (2005). "Counting your customers" the
       easy way: an alternative to the Pareto/NBD model. Marketing Science 24(2), 275-284.
    2. Fader, P. S. & Hardie, B. G. S. (2005). A note on deriving the Pareto/NBD model and
       related expressions. http://brucehardie.com/notes/009/
    3. Fader, P. S. & Hardie, B. G. S. (2013). The Gamma-Gamma model of monetary value.
       http://brucehardie.com/notes/025/
    4. Pawitan, Y. (2001). In All Likelihood: Statistical Modelling and Inference Using
       Likelihood. Oxford University Press, sections 2.7 and 9.4.
    5. Bass, F. M. (1969). A new product growth for model consumer durables. Management
       Science 15(5), 215-227.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import NamedTuple

import numpy as np
import pandas as pd
from scipy.differentiate import hessian
from scipy.optimize import curve_fit, minimize
from scipy.stats import norm

from simulation.calibration import bgnbd, gamma_gamma, pareto_nbd
from simulation.calibration.holdout import holdout_error, tracking_table
from simulation.calibration.log import CustomerSummary
from simulation.calibration.models import FittedModel

CONFIDENCE = 0.95
LOG_BOUND = 15.0
"""Log-parameters are kept within +-15 (parameters between 3e-7 and 3e6)."""


@dataclass(frozen=True)
class AcquisitionFit:
    """First purchases over time, fitted with a constant rate and a Bass curve.

    Attributes:
        model: the chosen curve, ``constant`` or ``bass``.
        parameters: the chosen curve's parameters: ``rate`` (first purchases per unit) for
            ``constant``; ``m`` (customers), ``p`` and ``q`` (per unit) for ``bass``.
        reason: one sentence saying why that curve was chosen.
        bic: the BIC of each curve (NaN where it could not be fitted).
        alternatives: the parameters of each curve that could be fitted.
        table: one row per period: ``period``, ``time``, ``phase``, ``first_purchases`` and
            the fitted ``constant`` and ``bass`` expectations.
        unit: the time unit.
    """

    model: str
    parameters: dict[str, float]
    reason: str
    bic: dict[str, float]
    alternatives: dict[str, dict[str, float]]
    table: pd.DataFrame
    unit: str


class ModelChoice(NamedTuple):
    """The purchase model chosen by :func:`choose_model`.

    Attributes:
        model: the chosen fit.
        reason: one sentence saying why.
        scores: the criterion for each model (holdout error or BIC; lower is better).
    """

    model: FittedModel
    reason: str
    scores: dict[str, float]


def _purchase_data(summary: CustomerSummary | pd.DataFrame) -> tuple[pd.DataFrame, str | None]:
    if isinstance(summary, CustomerSummary):
        return summary.customers, summary.unit
    return summary, None


def _pooled(columns: Sequence[np.ndarray]) -> tuple[tuple[np.ndarray, ...], np.ndarray]:
    """Distinct rows of the data columns and how many customers share each."""
    stacked = np.column_stack([np.asarray(c, dtype=float) for c in columns])
    rows, counts = np.unique(stacked, axis=0, return_counts=True)
    return tuple(rows.T), counts.astype(float)


def _fit(
    module: ModuleType,
    data: Sequence[np.ndarray],
    starts: Sequence[Sequence[float]],
    unit: str | None,
) -> FittedModel:
    """Maximise the likelihood of ``module`` over log-parameters; intervals from the Hessian."""
    pooled, weights = _pooled(data)
    n = float(weights.sum())
    if n == 0:
        raise ValueError(f"no customers to fit the {module.LABEL} model to")

    def total_log_likelihood(theta: np.ndarray) -> np.ndarray:
        # theta has shape (k, ...): one set of log-parameters per trailing index.
        params = [np.exp(t)[..., None] for t in theta]
        with np.errstate(all="ignore"):
            values = module.log_likelihood(params, *pooled)
        return values @ weights

    def objective(theta: np.ndarray) -> float:
        value = -float(total_log_likelihood(np.asarray(theta)[:, None])[0]) / n
        return value if np.isfinite(value) else 1e10

    bounds = [(-LOG_BOUND, LOG_BOUND)] * len(module.PARAMETERS)
    best = None
    for start in starts:
        theta0 = np.clip(np.log(np.asarray(start, dtype=float)), -LOG_BOUND, LOG_BOUND)
        rough = minimize(
            objective,
            theta0,
            method="Nelder-Mead",
            bounds=bounds,
            options={"xatol": 1e-4, "fatol": 1e-9, "maxiter": 4000},
        )
        if best is None or rough.fun < best.fun:
            best = rough
    polished = minimize(
        objective, best.x, method="L-BFGS-B", bounds=bounds, options={"ftol": 1e-13, "gtol": 1e-9}
    )
    result = polished if polished.fun <= best.fun else best
    theta = result.x
    log_likelihood = float(total_log_likelihood(theta[:, None])[0])

    names = module.PARAMETERS
    estimates = np.exp(theta)
    covariance = _log_covariance(total_log_likelihood, theta)
    z = norm.ppf(0.5 + CONFIDENCE / 2)
    se = np.sqrt(np.diag(covariance)) if covariance is not None else np.full(len(names), np.nan)
    low, high = np.exp(theta - z * se), np.exp(theta + z * se)
    at_bound = bool(np.any(np.abs(theta) > LOG_BOUND - 1e-3))
    return FittedModel(
        name=module.NAME,
        parameters={k: float(v) for k, v in zip(names, estimates, strict=True)},
        ci_low={k: float(v) for k, v in zip(names, low, strict=True)},
        ci_high={k: float(v) for k, v in zip(names, high, strict=True)},
        log_likelihood=log_likelihood,
        bic=float(len(names) * np.log(n) - 2 * log_likelihood),
        n_customers=int(n),
        unit=unit,
        converged=bool(best.success or polished.success) and not at_bound,
        log_covariance=covariance,
    )


def _log_covariance(total_log_likelihood, theta: np.ndarray) -> np.ndarray | None:
    """Inverse observed information in log-parameter space, or ``None`` if it is singular."""
    # One pass of second-order central differences with a step of 0.01 in log-parameters
    # (144 evaluations for four parameters, in a few vectorised calls): on the CDNOW master
    # log the standard errors agree to within 0.05% with an iterated fourth-order estimate
    # (order=4, maxiter=4), which costs ten times as much; an interval needs no more.
    result = hessian(
        lambda t: -total_log_likelihood(t), theta, initial_step=0.01, order=2, maxiter=1
    )
    information = np.asarray(result.ddf, dtype=float)
    information = (information + information.T) / 2
    if not np.all(np.isfinite(information)):
        return None
    try:
        np.linalg.cholesky(information)
    except np.linalg.LinAlgError:
        return None
    return np.linalg.inv(information)


def _rate_guess(customers: pd.DataFrame) -> float:
    """Repeat purchases per unit of observed time: a start for the purchase rate."""
    exposure = float(customers["T"].sum())
    return max(float(customers["x"].sum()) / exposure, 1e-3) if exposure > 0 else 1.0


def fit_bgnbd(summary: CustomerSummary | pd.DataFrame) -> FittedModel:
    """Fit the BG/NBD model by maximum likelihood.

    Args:
        summary: a :class:`CustomerSummary`, or a table with columns ``x``, ``t_x`` and ``T``.

    Returns:
        The fit, with parameters ``r``, ``alpha``, ``a`` and ``b`` (``alpha`` per unit).
    """
    customers, unit = _purchase_data(summary)
    rate = _rate_guess(customers)
    starts = [(0.5, 0.5 / rate, 1.0, 3.0)]
    data = (customers["x"], customers["t_x"], customers["T"])
    return _fit(bgnbd, [np.asarray(c) for c in data], starts, unit)


def fit_pareto_nbd(summary: CustomerSummary | pd.DataFrame) -> FittedModel:
    """Fit the Pareto/NBD model by maximum likelihood.

    Args:
        summary: a :class:`CustomerSummary`, or a table with columns ``x``, ``t_x`` and ``T``.

    Returns:
        The fit, with parameters ``r``, ``alpha``, ``s`` and ``beta`` (``alpha`` and
        ``beta`` in units).
    """
    customers, unit = _purchase_data(summary)
    rate = _rate_guess(customers)
    horizon = max(float(customers["T"].mean()), 1e-3)
    starts = [(0.5, 0.5 / rate, 0.5, horizon)]
    data = (customers["x"], customers["t_x"], customers["T"])
    return _fit(pareto_nbd, [np.asarray(c) for c in data], starts, unit)


def fit_gamma_gamma(summary: CustomerSummary | pd.DataFrame) -> FittedModel:
    """Fit the Gamma-Gamma spend model to the customers with repeat transactions.

    Customers without repeat transactions, or whose repeat transactions are all of amount 0,
    carry no usable spend information and are left out (``n_customers`` says how many were
    used).

    Args:
        summary: a :class:`CustomerSummary`, or a table with columns ``x`` and ``mean_spend``.

    Returns:
        The fit, with parameters ``p``, ``q`` and ``v`` (``v`` in currency units).

    Raises:
        ValueError: no customer has a repeat transaction of positive amount.
    """
    customers, _ = _purchase_data(summary)
    usable = customers[(customers["x"] > 0) & (customers["mean_spend"] > 0)]
    if usable.empty:
        raise ValueError("no customer has a repeat transaction of positive amount")
    mean = float(usable["mean_spend"].mean())
    # p = 2 and q = 3 with v chosen so that the population mean p v / (q - 1) matches.
    starts = [(2.0, 3.0, mean), (6.0, 4.0, mean * 3 / 6)]
    data = (usable["x"].to_numpy(), usable["mean_spend"].to_numpy())
    return _fit(gamma_gamma, data, starts, None)


def fit_table(fits: Iterable[FittedModel]) -> pd.DataFrame:
    """A tidy table of fitted models, one row per parameter.

    Args:
        fits: fitted models.

    Returns:
        Columns ``model``, ``parameter``, ``estimate``, ``ci_low``, ``ci_high``,
        ``log_likelihood``, ``bic``, ``n_customers`` and ``unit``.
    """
    rows = [
        {
            "model": fit.name,
            "parameter": name,
            "estimate": value,
            "ci_low": fit.ci_low[name],
            "ci_high": fit.ci_high[name],
            "log_likelihood": fit.log_likelihood,
            "bic": fit.bic,
            "n_customers": fit.n_customers,
            "unit": fit.unit,
        }
        for fit in fits
        for name, value in fit.parameters.items()
    ]
    columns = ["model", "parameter", "estimate", "ci_low", "ci_high", "log_likelihood", "bic"]
    return pd.DataFrame(rows, columns=[*columns, "n_customers", "unit"])


def choose_model(
    fits: Sequence[FittedModel], holdout: CustomerSummary | None = None
) -> ModelChoice:
    """Choose among fitted purchase models (``auto``).

    With a holdout period (``holdout`` is the summary the models were fitted on and the log
    goes on after its calibration end), the model whose forecast of cumulative repeat
    transactions of the calibration cohort is closer to the actual one (mean absolute error
    over the holdout periods, :func:`~.holdout.holdout_error`) wins. Otherwise the lower
    BIC wins.

    Args:
        fits: the candidate fits (at least one).
        holdout: the summary, for the holdout comparison; ``None`` to use BIC.

    Returns:
        The chosen fit, a one-sentence reason and each model's score.
    """
    if not fits:
        raise ValueError("no fitted model to choose from")
    labels = {fit.name: fit.label for fit in fits}
    if holdout is not None and holdout.has_holdout:
        scores = {fit.name: holdout_error(tracking_table(holdout, fit)) for fit in fits}
        best = min(fits, key=lambda fit: scores[fit.name])
        if len(fits) == 1:
            reason = (
                f"{best.label} was the only model fitted (its cumulative holdout forecast is "
                f"off by {scores[best.name]:,.1f} repeat transactions on average)."
            )
        else:
            others = ", ".join(
                f"{scores[f.name]:,.1f} for {labels[f.name]}" for f in fits if f is not best
            )
            reason = (
                f"{best.label} forecasts the holdout period better: its cumulative count of "
                f"repeat transactions is off by {scores[best.name]:,.1f} on average over the "
                f"holdout {holdout.unit}s, against {others}."
            )
        return ModelChoice(best, reason, scores)
    scores = {fit.name: fit.bic for fit in fits}
    best = min(fits, key=lambda fit: fit.bic)
    if len(fits) == 1:
        reason = f"{best.label} was the only model fitted (BIC {best.bic:,.1f})."
    else:
        others = ", ".join(f"{f.bic:,.1f} for {labels[f.name]}" for f in fits if f is not best)
        reason = (
            f"{best.label} has the lowest BIC ({best.bic:,.1f}, against {others}); the log "
            "has no holdout period to compare forecasts on."
        )
    return ModelChoice(best, reason, scores)


def bass_cdf(t: np.ndarray, p: float, q: float) -> np.ndarray:
    """Share of the eventual adopters who have adopted by ``t`` under the Bass curve."""
    decay = np.exp(-(p + q) * np.asarray(t, dtype=float))
    return (1 - decay) / (1 + (q / p) * decay)


def _bic_least_squares(residuals: np.ndarray, k: int) -> float:
    n = len(residuals)
    rss = float(np.sum(residuals**2))
    return n * np.log(max(rss, 1e-12) / n) + (k + 1) * np.log(n)


def fit_acquisition(summary: CustomerSummary) -> AcquisitionFit:
    """Fit first purchases per period with a constant rate and a Bass curve; choose by BIC.

    Only the calibration periods are fitted; the table gives both curves over all periods.
    Each period's expectation is the curve integrated over the period's days (the first
    and last period may be shorter than a unit).

    Args:
        summary: the customer summary (its ``periods`` table).

    Returns:
        The chosen curve with its parameters and a one-sentence reason.
    """
    periods = summary.periods
    length = summary.unit_days
    ends = periods["time"].to_numpy()
    starts = ((periods["first_day"] - summary.start).dt.days / length).to_numpy()
    observed = periods["first_purchases"].to_numpy(dtype=float)
    calibration = (periods["phase"] == "calibration").to_numpy()
    index = np.flatnonzero(calibration).astype(float)
    y = observed[calibration]
    width = ends - starts

    def constant(i, rate):
        return rate * width[i.astype(int)]

    def bass(i, m, p, q):
        i = i.astype(int)
        return m * (bass_cdf(ends[i], p, q) - bass_cdf(starts[i], p, q))

    (rate,), _ = curve_fit(constant, index, y, p0=[max(y.sum(), 1) / width[calibration].sum()])
    fits = {"constant": {"rate": float(rate)}}
    bic = {"constant": _bic_least_squares(y - constant(index, rate), 1)}
    total = max(float(y.sum()), 1.0)
    best_bass, best_rss = None, np.inf
    for p0 in ([total * 1.5, 0.01, 0.1], [total * 1.05, 0.2, 0.01], [total * 5, 0.001, 0.5]):
        try:
            params, _ = curve_fit(
                bass,
                index,
                y,
                p0=p0,
                bounds=([total * 0.5, 1e-7, 0.0], [total * 1e4, 50.0, 50.0]),
                x_scale="jac",
                maxfev=20000,
            )
        except (RuntimeError, ValueError):
            continue
        rss = float(np.sum((y - bass(index, *params)) ** 2))
        if rss < best_rss:
            best_bass, best_rss = params, rss
    if best_bass is not None and len(y) > 4:
        m, p, q = (float(v) for v in best_bass)
        fits["bass"] = {"m": m, "p": p, "q": q}
        bic["bass"] = _bic_least_squares(y - bass(index, m, p, q), 3)
    else:
        bic["bass"] = float("nan")
    all_index = np.arange(len(periods)).astype(float)
    table = pd.DataFrame(
        {
            "period": periods["period"],
            "time": periods["time"],
            "phase": periods["phase"],
            "first_purchases": periods["first_purchases"],
            "constant": constant(all_index, rate),
            "bass": bass(all_index, *fits["bass"].values()) if "bass" in fits else np.nan,
        }
    )
    unit = summary.unit
    if "bass" in fits and bic["bass"] < bic["constant"]:
        model = "bass"
        reason = (
            f"The Bass curve fits the first purchases per {unit} better than a constant rate "
            f"(BIC {bic['bass']:,.1f} against {bic['constant']:,.1f})."
        )
    elif "bass" in fits:
        model = "constant"
        reason = (
            f"A constant rate of {rate:,.2f} first purchases per {unit} fits as well as the "
            f"Bass curve with fewer parameters (BIC {bic['constant']:,.1f} against "
            f"{bic['bass']:,.1f})."
        )
    else:
        model = "constant"
        reason = (
            f"A constant rate of {rate:,.2f} first purchases per {unit}: the calibration "
            "period is too short for a Bass curve to be fitted."
        )
    return AcquisitionFit(
        model=model,
        parameters=fits[model],
        reason=reason,
        bic=bic,
        alternatives=fits,
        table=table,
        unit=unit,
    )
