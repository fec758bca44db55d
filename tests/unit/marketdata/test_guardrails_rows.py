"""Row checks: each rejection reason on a tiny frame, and clean rows pass typed and untouched."""

from __future__ import annotations

import datetime as dt
import json

import pandas as pd
import pytest

from marketdata.guardrails import CANONICAL_COLS, compute_row_checks

GOOD = {"symbol": "aaa", "date": "2024-01-02", "open": "10", "high": "11", "low": "9", "close": "10.5",
        "volume": "1000"}


def _frame(*rows: dict) -> pd.DataFrame:
    return pd.DataFrame([{**GOOD, **r} for r in rows])


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        ({"date": "2024-02-30"}, "unparseable_date"),
        ({"date": "yesterday-ish"}, "unparseable_date"),
        ({"close": None}, "missing_ohlc"),
        ({"close": " "}, "missing_ohlc"),
        ({"close": "10,5x"}, "unparseable_number"),
        ({"volume": "lots"}, "unparseable_number"),
        ({"low": "0", "open": "0.5"}, "non_positive_price"),
        ({"close": "-3", "low": "-4"}, "non_positive_price"),
        ({"high": "10.2"}, "ohlc_inconsistent"),  # high below close
        ({"low": "10.2"}, "ohlc_inconsistent"),  # low above open
        ({"volume": "-1"}, "negative_volume"),
        ({"open": None, "high": "10.4"}, "ohlc_inconsistent"),  # high below close, open missing
        ({"symbol": " "}, "missing_symbol"),
    ],
)
def test_each_row_check_rejects_with_its_reason(bad, reason):
    # Given one good row and one row with a single defect on another date
    frame = _frame({}, {**bad, "date": bad.get("date", "2024-01-03")})
    result = compute_row_checks(frame)
    # Then exactly the defective row is rejected, with the reason and its raw values kept
    assert len(result.accepted) == 1
    assert result.rejected["reason"].tolist() == [reason]
    raw = json.loads(result.rejected["raw"].iloc[0])
    assert raw["date"] == bad.get("date", "2024-01-03")
    assert result.rejected["detail"].iloc[0]


@pytest.mark.parametrize("blank", [{"volume": None}, {"volume": ""}, {"open": ""}, {"high": None, "low": ""},
                                   {"open": "", "high": "", "low": "", "volume": ""}])
def test_blank_optional_fields_are_stored_as_null_not_rejected(blank):
    # Given a row with a blank volume (or open/high/low): the most common kind of data people have
    result = compute_row_checks(_frame({}, {**blank, "date": "2024-01-03"}))
    # Then it is accepted, with NULL exactly where the input was blank
    assert result.rejected.empty and len(result.accepted) == 2
    row = result.accepted.iloc[1]
    for col in ("open", "high", "low", "volume"):
        assert pd.isna(row[col]) == (col in blank), col
    assert row["close"] == 10.5


def test_close_only_input_without_the_other_columns_is_accepted():
    frame = pd.DataFrame({"symbol": ["x", "x"], "date": ["2024-01-02", "2024-01-03"], "close": ["10", "10.5"]})
    acc = compute_row_checks(frame).accepted
    assert acc["close"].tolist() == [10.0, 10.5] and acc["adj_close"].tolist() == [10.0, 10.5]
    assert acc[["open", "high", "low", "volume"]].isna().all().all()


def test_no_close_column_rejects_every_row_naming_it():
    frame = pd.DataFrame({"symbol": ["x"], "date": ["2024-01-02"], "open": ["10"]})
    rej = compute_row_checks(frame).rejected
    assert rej[["reason", "detail"]].values.tolist() == [["missing_ohlc", "no close column"]]


def test_clean_rows_are_typed_and_canonical():
    result = compute_row_checks(_frame({}, {"date": "2024-01-03", "close": "10.75"}))
    acc = result.accepted
    assert list(acc.columns) == list(CANONICAL_COLS)
    assert acc["symbol"].tolist() == ["AAA", "AAA"]
    assert acc["date"].tolist() == [pd.Timestamp("2024-01-02"), pd.Timestamp("2024-01-03")]
    assert acc["date"].dtype == "datetime64[ns]"
    assert acc["close"].tolist() == [10.5, 10.75]
    # Without an adjusted series, adj_close is the close.
    assert acc["adj_close"].tolist() == [10.5, 10.75]
    assert result.rejected.empty


def test_duplicates_identical_collapse_conflicting_all_rejected():
    frame = _frame({}, {}, {"date": "2024-01-03"}, {"date": "2024-01-03", "close": "10.9"})
    result = compute_row_checks(frame)
    assert result.accepted["date"].dt.date.tolist() == [dt.date(2024, 1, 2)]
    assert result.rejected["reason"].tolist() == ["duplicate_conflict", "duplicate_conflict"]


def test_first_failing_reason_wins_and_numeric_input_is_accepted():
    frame = pd.DataFrame(
        {"symbol": ["X", "X"], "date": [pd.Timestamp("2024-01-02"), pd.Timestamp("2024-01-03")],
         "open": [1.0, -1.0], "high": [2.0, 0.5], "low": [0.5, -2.0], "close": [1.5, 0.4], "volume": [5, -5]}
    )
    result = compute_row_checks(frame)
    assert len(result.accepted) == 1
    # non-positive price comes before the OHLC and volume checks
    assert result.rejected["reason"].tolist() == ["non_positive_price"]


def test_no_symbol_column_is_an_error():
    with pytest.raises(ValueError, match="symbol"):
        compute_row_checks(pd.DataFrame({"date": ["2024-01-02"], "close": [1.0]}))
