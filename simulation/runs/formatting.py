"""Numbers and tables for people: the one place where relsim turns values into text.

The run report, the sweep report, the command line's summary and the dashboard all format
through these functions, so a number looks the same wherever it is shown.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from pandas.api.types import is_bool_dtype, is_numeric_dtype

DASH = "–"
"""What a missing or undefined number prints as."""


def decimals(magnitude: float) -> int:
    """Decimals that show about two significant digits, and none for large numbers.

    Args:
        magnitude: the absolute value of the number.

    Returns:
        0 from 100 up (and for 0), 1 from 10, 2 from 1; below 1, enough for two
        significant digits (0.43, 0.043, 0.0043), at most six.
    """
    if magnitude >= 100 or magnitude == 0:
        return 0
    if magnitude >= 10:
        return 1
    if magnitude >= 1:
        return 2
    return min(6, 1 - math.floor(math.log10(magnitude)))


def percent_decimals(percent: float) -> int:
    """Decimals of a percentage: 31.3%, 2.12%, 0.074%.

    Args:
        percent: the absolute value, in percent.
    """
    return 1 if percent >= 10 else decimals(percent)


def decimals_for(magnitude: float, kind: str) -> int:
    """Decimals :func:`format_number` would choose for a number of this size and kind.

    Args:
        magnitude: the absolute value (a fraction for ``"percent"``).
        kind: a number kind of :func:`format_number`.
    """
    if kind == "percent":
        return percent_decimals(magnitude * 100.0)
    return decimals(magnitude)


def format_number(
    value: Any, kind: str = "number", *, signed: bool = False, places: int | None = None
) -> str:
    """Format a number for people: thousands separators, about two significant decimals.

    Args:
        value: the number; NaN, None and infinities print as a dash.
        kind: ``"money"``, ``"count"`` or ``"number"`` (plain), or ``"percent"`` for a share
            given as a fraction (0.023 prints as ``2.3%``).
        signed: print a ``+`` before positive values (for differences).
        places: decimals to show (of the percentage for ``"percent"``); by default chosen
            from the magnitude.

    Returns:
        The formatted number.
    """
    try:
        x = float(value)
    except (TypeError, ValueError):
        return DASH
    if not math.isfinite(x):
        return DASH
    suffix = ""
    if kind == "percent":
        x *= 100.0
        suffix = "%"
        if places is None:
            places = percent_decimals(abs(x))
    elif places is None:
        places = 0 if kind == "count" and x == round(x) else decimals(abs(x))
    text = f"{x:,.{places}f}"
    if float(text.replace(",", "")) == 0.0:
        text = f"{0.0:.{places}f}"  # no "-0"
    elif signed and x > 0:
        text = "+" + text
    return text + suffix


def short_money(value: float, signed: bool = False) -> str:
    """Money in a few characters: 6.05M, 12k, 950.

    Args:
        value: the amount; NaN prints as a dash.
        signed: print a ``+`` before positive amounts (for differences).
    """
    if value != value:  # NaN
        return DASH
    sign = "+" if signed and value > 0 else ""
    size = abs(value)
    if size >= 1e6:
        return f"{sign}{value / 1e6:.2f}M"
    if size >= 1e4:
        return f"{sign}{value / 1e3:.0f}k"
    return format_number(value, "money", signed=signed)


def format_duration(seconds: float) -> str:
    """A wall time: ``83.2 s``, ``1 min 23 s``, ``2 h 05 min``.

    Args:
        seconds: the duration; a negative or non-finite one prints as a dash.
    """
    if not math.isfinite(seconds) or seconds < 0:
        return DASH
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def format_value(value: Any) -> str:
    """Any table cell in a few characters: about four significant digits for numbers.

    Args:
        value: a number, text, boolean or None.

    Returns:
        Text as it is, ``?`` for None, a dash for NaN; numbers with four significant digits,
        none after the point from 100 up and in scientific notation from a million or
        below 0.001.
    """
    if value is None:
        return "?"
    if isinstance(value, str):
        return value
    if isinstance(value, bool | np.bool_):
        return str(value)
    try:
        x = float(value)
    except (TypeError, ValueError):
        return str(value)
    if math.isnan(x):
        return DASH
    if x != 0 and (abs(x) >= 1e6 or abs(x) < 1e-3):
        return f"{x:.3g}"
    if abs(x) >= 100:
        return f"{x:,.0f}"
    return f"{x:.4g}"


def markdown_table(table: pd.DataFrame, align: Sequence[str] | None = None) -> list[str]:
    """A table as Markdown lines; cells that are not text are formatted by :func:`format_value`.

    Args:
        table: the rows to show, with the column names as the header.
        align: ``"left"``, ``"right"`` or ``"center"`` per column (default: numbers right,
            everything else left).

    Returns:
        The table's lines (header, rule, rows), without a trailing blank line.
    """
    if align is None:
        align = [
            "right" if is_numeric_dtype(dtype) and not is_bool_dtype(dtype) else "left"
            for dtype in table.dtypes
        ]
    cells = table.astype(object).map(format_value)
    return cells.to_markdown(index=False, disable_numparse=True, colalign=tuple(align)).splitlines()
