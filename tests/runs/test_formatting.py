"""Numbers and tables for people: one formatter for the reports, the console and the dashboard."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from simulation.runs.formatting import (
    format_duration,
    format_number,
    format_value,
    markdown_table,
    short_money,
)


def test_format_number_for_people() -> None:
    assert format_number(1234567.891, "money") == "1,234,568"
    assert format_number(85.34, "money") == "85.3"
    assert format_number(9.876, "money") == "9.88"
    assert format_number(0.004321) == "0.0043"
    assert format_number(1500, "count") == "1,500"
    assert format_number(0.0213, "percent") == "2.13%"
    assert format_number(0.313, "percent") == "31.3%"
    assert format_number(0.16, "percent", signed=True) == "+16.0%"
    assert format_number(-250.0, "money", signed=True) == "-250"
    assert format_number(-0.0001, "money", places=0) == "0"
    assert format_number(math.nan) == "–"
    assert format_number(None) == "–"


def test_short_money_fits_a_console_column() -> None:
    assert short_money(6_054_321.0) == "6.05M"
    assert short_money(12_345.0, signed=True) == "+12k"
    assert short_money(-950.0, signed=True) == "-950"
    assert short_money(math.nan) == "–"


def test_format_duration() -> None:
    assert format_duration(83.2) == "1 min 23 s"
    assert format_duration(12.34) == "12.3 s"
    assert format_duration(7500) == "2 h 05 min"
    assert format_duration(-1.0) == "–"


def test_format_value_for_table_cells() -> None:
    assert format_value(None) == "?"
    assert format_value("text") == "text"
    assert format_value(np.bool_(True)) == "True"
    assert format_value(math.nan) == "–"
    assert format_value(12345.6) == "12,346"
    assert format_value(3.14159) == "3.142"
    assert format_value(2.5e7) == "2.5e+07"
    assert format_value(0.0001234) == "0.000123"
    assert format_value(0) == "0"


def test_markdown_table_formats_cells_and_aligns_columns() -> None:
    table = pd.DataFrame({"factor": ["a", "b"], "value": [1234.5, math.nan], "ok": [True, False]})
    lines = markdown_table(table, ["left", "right", "center"])
    assert len(lines) == 4
    header, rule, first, second = lines
    assert [c.strip() for c in header.strip("|").split("|")] == ["factor", "value", "ok"]
    cells = rule.strip("|").split("|")
    assert [(c.startswith(":"), c.endswith(":")) for c in cells] == [
        (True, False),
        (False, True),
        (True, True),
    ]
    assert [c.strip() for c in first.strip("|").split("|")] == ["a", "1,234", "True"]
    assert [c.strip() for c in second.strip("|").split("|")] == ["b", "–", "False"]
    assert len({len(line) for line in lines}) == 1  # columns line up


def test_markdown_table_aligns_numbers_right_by_default() -> None:
    table = pd.DataFrame({"name": ["a"], "n": [3], "flag": [True]})
    rule = markdown_table(table)[1]
    cells = rule.strip("|").split("|")
    assert [c.startswith(":") for c in cells] == [True, False, True]
    assert [c.endswith(":") for c in cells] == [False, True, False]


def test_markdown_table_of_no_rows_keeps_its_header() -> None:
    lines = markdown_table(pd.DataFrame(columns=["x", "y"]))
    assert len(lines) == 2 and "x" in lines[0] and "y" in lines[0]
