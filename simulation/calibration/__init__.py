"""Calibration: fitting "buy till you die" customer-base models to a firm's transaction log.

The fitting core of ``relsim calibrate``. :func:`calibrate_log` does everything in one call:
it reads a log (:mod:`.log`), summarises it per customer for a calibration end date, fits
the BG/NBD and Pareto/NBD purchase models and the Gamma-Gamma spend model by maximum
likelihood (:mod:`.fit`), chooses a purchase model, fits acquisition over time, and builds
the tables that check the model against the log (:mod:`.holdout`). :mod:`.plots` draws them.
With ``bayes=True`` it also samples the same models' posteriors with pymc-marketing
(:mod:`.bayes`, the optional ``bayes`` extra). Nothing is written to disk
(:mod:`.pipeline`). ``relsim calibrate`` (:mod:`.command`) goes on to the calibrated market
(:mod:`.calibrated`, :mod:`.scenario_out`, :mod:`.simulate`) and writes it (:mod:`.folder`,
:mod:`.report`).

The names below are imported on first use, so that the ``relsim`` command, which registers
``calibrate`` from this package, starts without loading scipy's optimisers and matplotlib.

The models' formulas and simulators are in :mod:`.bgnbd`, :mod:`.pareto_nbd` and
:mod:`.gamma_gamma` [1, 2, 3].

References:
    1. Schmittlein, D. C., Morrison, D. G. & Colombo, R. (1987). Counting your customers:
       who are they and what will they do next? Management Science 33(1), 1-24.
    2. Fader, P. S., Hardie, B. G. S. & Lee, K. L. (2005). "Counting your customers" the
       easy way: an alternative to the Pareto/NBD model. Marketing Science 24(2), 275-284.
    3. Fader, P. S., Hardie, B. G. S. & Lee, K. L. (2005). RFM and CLV: using iso-value
       curves for customer base analysis. Journal of Marketing Research 42(4), 415-430.
"""

from __future__ import annotations

import importlib
from typing import Any

_HOMES: dict[str, str] = {
    "AcquisitionFit": "fit",
    "ModelChoice": "fit",
    "choose_model": "fit",
    "fit_acquisition": "fit",
    "fit_bgnbd": "fit",
    "fit_gamma_gamma": "fit",
    "fit_pareto_nbd": "fit",
    "fit_table": "fit",
    "alive_probabilities": "holdout",
    "conditional_expectations": "holdout",
    "holdout_error": "holdout",
    "tracking_table": "holdout",
    "CustomerSummary": "log",
    "TransactionLog": "log",
    "read_log": "log",
    "summarise_customers": "log",
    "MODELS": "models",
    "FittedModel": "models",
    "alive_figure": "plots",
    "conditional_expectations_figure": "plots",
    "spend_figure": "plots",
    "tracking_figure": "plots",
    "CalibrationResult": "pipeline",
    "MODEL_CHOICES": "pipeline",
    "calibrate_log": "pipeline",
}
"""The module of each public name."""

__all__ = sorted([*_HOMES, "bgnbd", "gamma_gamma", "pareto_nbd"])


def __getattr__(name: str) -> Any:
    """Import a public name from its module on first use."""
    if name in _HOMES:
        value = getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)
        globals()[name] = value
        return value
    if name in ("bgnbd", "gamma_gamma", "pareto_nbd"):
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
