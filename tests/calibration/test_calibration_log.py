"""Reading transaction logs: column guessing, date formats, same-day merging, and bad logs.

Every problem must be a ``UserError`` of one line naming the file, the field and the value
(and the line of the file, the header being line 1).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from simulation.calibration import calibrate_log, read_log, summarise_customers
from simulation.calibration import log as log_module
from simulation.errors import UserError

GOOD = """customer,date,amount
a,2024-01-01,10.00
a,2024-01-01,5.00
a,2024-01-15,20
b,2024-01-03,7.5
b,2024-02-20,2.5
c,2024-03-01,1
"""


def write(tmp_path: Path, text: str, name: str = "log.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def user_error(path: Path, **kwargs) -> str:
    """The message of the UserError that reading (and summarising) ``path`` raises."""
    until = kwargs.pop("until", None)
    unit = kwargs.pop("unit", "week")
    with pytest.raises(UserError) as caught:
        log = read_log(path, **kwargs)
        summarise_customers(log, until=until, unit=unit)
    message = str(caught.value)
    assert "\n" not in message, message
    assert str(path) in message, message
    return message


def test_good_log_merges_same_day_transactions(tmp_path):
    path = write(tmp_path, GOOD)
    log = read_log(path)
    assert log.columns == {"customer": "customer", "date": "date", "amount": "amount"}
    assert log.n_rows == 6
    tx = log.transactions
    assert len(tx) == 5  # a's two purchases of 2024-01-01 are one transaction of 15
    first = tx[(tx["customer"] == "a") & (tx["date"] == pd.Timestamp("2024-01-01"))]
    assert first["amount"].tolist() == [15.0]
    summary = summarise_customers(log, until="2024-01-31")
    a = summary.customers.loc["a"]
    assert (a["x"], a["t_x"], a["T"], a["mean_spend"]) == (1, 2.0, 30 / 7, 20.0)
    b = summary.customers.loc["b"]
    assert (b["x"], b["holdout_x"], b["T"]) == (0, 1, 28 / 7)
    assert np.isnan(b["mean_spend"])
    assert "c" not in summary.customers.index  # born after the calibration end
    assert summary.periods["first_purchases"].sum() == 3
    assert summary.periods["repeat_transactions"].sum() == 2  # a's repeat and b's holdout one


def test_columns_are_guessed_case_and_spacing_blind(tmp_path):
    text = GOOD.replace("customer,date,amount", "Customer ID;Order-Date;Revenue").replace(",", ";")
    log = read_log(write(tmp_path, text))
    assert log.columns == {"customer": "Customer ID", "date": "Order-Date", "amount": "Revenue"}
    assert len(log.transactions) == 5


def test_named_columns_win_over_guesses(tmp_path):
    text = "id,user_id,time,value,price\n1,x,2024-01-01,3,4\n1,x,2024-01-08,5,6\n"
    log = read_log(write(tmp_path, text), customer="user_id", amount="price")
    assert log.columns == {"customer": "user_id", "date": "time", "amount": "price"}
    assert log.transactions["amount"].tolist() == [4.0, 6.0]


@pytest.mark.parametrize(
    "dates",
    [
        ("20240101", "20240108"),
        ("2024-01-01 09:30:00", "2024-01-08T23:59:59"),
        ("2024-01-01T10:00:00+02:00", "2024-01-08T10:00:00+02:00"),
        ("01/01/2024", "01/08/2024"),
    ],
    ids=["yyyymmdd", "iso-with-times", "iso-with-offsets", "inferred"],
)
def test_date_formats(tmp_path, dates):
    text = "customer,date,amount\n" + "".join(f"a,{d},1\n" for d in dates)
    log = read_log(write(tmp_path, text))
    assert log.transactions["date"].tolist() == [
        pd.Timestamp("2024-01-01"),
        pd.Timestamp("2024-01-08"),
    ]


def test_missing_column_lists_what_exists(tmp_path):
    path = write(tmp_path, "who,when,how_much\na,2024-01-01,1\n")
    message = user_error(path)
    assert "no customer column" in message and "the columns are who, when, how_much" in message


def test_named_column_that_does_not_exist(tmp_path):
    message = user_error(write(tmp_path, GOOD), amount="turnover")
    assert "amount column 'turnover' not found" in message
    assert "customer, date, amount" in message


def test_unparseable_date_gives_its_line(tmp_path):
    text = GOOD.replace("b,2024-02-20", "b,2024-02-30")
    message = user_error(write(tmp_path, text))
    assert "line 6: date '2024-02-30' in column 'date' is not a date" in message


def test_line_numbers_count_blank_lines(tmp_path):
    text = "customer,date,amount\na,2024-01-01,1\n\nb,yesterday,2\n"
    message = user_error(write(tmp_path, text))
    assert "line 4: date 'yesterday'" in message


def test_non_numeric_amount(tmp_path):
    text = GOOD.replace("7.5", "7,5 EUR").replace("customer,date,amount", "customer;date;amount")
    text = text.replace(",", ";").replace("7;5 EUR", "7,5 EUR")
    message = user_error(write(tmp_path, text))
    assert "line 5: amount '7,5 EUR' in column 'amount' is not a number" in message


def test_missing_amount(tmp_path):
    message = user_error(write(tmp_path, GOOD.replace("a,2024-01-15,20", "a,2024-01-15,")))
    assert "line 4: amount '' in column 'amount' is not a number" in message


def test_negative_amount(tmp_path):
    message = user_error(write(tmp_path, GOOD.replace("b,2024-01-03,7.5", "b,2024-01-03,-7.5")))
    assert "line 5: amount '-7.5' in column 'amount' is negative" in message


def test_empty_customer_id(tmp_path):
    message = user_error(write(tmp_path, GOOD.replace("c,2024-03-01", " ,2024-03-01")))
    assert "line 7: customer id in column 'customer' is empty" in message


def test_header_only_and_empty_file(tmp_path):
    assert "no transactions" in user_error(write(tmp_path, "customer,date,amount\n"))
    assert "empty" in user_error(write(tmp_path, "", "empty.csv"))


def test_missing_file(tmp_path):
    assert "not found" in user_error(tmp_path / "nowhere.csv")


@pytest.mark.parametrize("until", ["2023-12-31", "2024-03-02"])
def test_until_outside_the_log(tmp_path, until):
    message = user_error(write(tmp_path, GOOD), until=until)
    assert f"until {until} is outside the log's dates 2024-01-01 to 2024-03-01" in message


def test_until_not_a_date(tmp_path):
    assert "until 'soon' is not a date" in user_error(write(tmp_path, GOOD), until="soon")


def test_unknown_unit(tmp_path):
    assert "unit 'day' is not one of week, month" in user_error(write(tmp_path, GOOD), unit="day")


def test_calibrate_rejects_unknown_model_and_logs_without_repeat_purchases(tmp_path):
    path = write(tmp_path, GOOD)
    with pytest.raises(UserError, match="model 'best' is not one of auto, bgnbd, pareto_nbd"):
        calibrate_log(path, model="best")
    single = write(tmp_path, "customer,date,amount\na,2024-01-01,1\nb,2024-01-02,2\n", "one.csv")
    with pytest.raises(UserError, match="no customer bought again") as caught:
        calibrate_log(single)
    assert "\n" not in str(caught.value)


def test_parquet_without_pyarrow_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setattr(log_module, "_pyarrow_available", lambda: False)
    path = tmp_path / "log.parquet"
    path.write_bytes(b"PAR1")
    message = user_error(path)
    assert "reading Parquet needs pyarrow" in message and "pip install pyarrow" in message


def test_parquet_log(tmp_path):
    pytest.importorskip("pyarrow")
    frame = pd.DataFrame(
        {
            "user_id": [1, 1, 2],
            "timestamp": pd.to_datetime(
                ["2024-01-01 08:00", "2024-01-10 17:00", "2024-01-02 00:00"]
            ),
            "spend": [3.0, 4.0, 5.0],
        }
    )
    path = tmp_path / "log.parquet"
    frame.to_parquet(path)
    log = read_log(path)
    assert log.columns == {"customer": "user_id", "date": "timestamp", "amount": "spend"}
    assert log.transactions["customer"].tolist() == ["1", "1", "2"]
    assert log.transactions["date"].iloc[1] == pd.Timestamp("2024-01-10")
    frame.loc[2, "spend"] = -1.0
    frame.to_parquet(path)
    assert "row 3: amount '-1.0' in column 'spend' is negative" in user_error(path)


def test_monthly_periods_end_at_the_calibration_end(tmp_path):
    log = read_log(write(tmp_path, GOOD))
    summary = summarise_customers(log, until="2024-02-15", unit="month")
    periods = summary.periods
    calibration = periods[periods["phase"] == "calibration"]
    assert calibration["last_day"].iloc[-1] == pd.Timestamp("2024-02-15")
    assert periods["first_day"].iloc[0] == pd.Timestamp("2024-01-01")
    assert periods["last_day"].iloc[-1] == pd.Timestamp("2024-03-01")
    # Consecutive periods tile the log without gaps or overlaps.
    gaps = periods["first_day"].iloc[1:].to_numpy() - periods["last_day"].iloc[:-1].to_numpy()
    assert (gaps == np.timedelta64(1, "D")).all()
    assert summary.customers.loc["a", "T"] == pytest.approx(45 / (365.25 / 12))


def test_rows_with_too_many_fields(tmp_path):
    message = user_error(write(tmp_path, GOOD.replace("b,2024-01-03,7.5", "b,2024-01-03,7,5")))
    assert "not a readable CSV log" in message and "line 5" in message
