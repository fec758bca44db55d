"""The csv source: per-symbol directories, long files, Parquet, Alpha Vantage names, unreadable inputs."""

from __future__ import annotations

import pandas as pd
import pytest

from marketdata.csvsource import CsvSource, UnreadableInputError, normalise_columns
from marketdata.guardrails import compute_row_checks

AV_CSV = """timestamp,open,high,low,close,adjusted_close,volume,dividend_amount,split_coefficient
2024-06-05,166.2,168.1,165.9,167.38,167.38,3500148,0.0000,1.0
2024-06-04,165.0,165.9,163.8,164.18,164.18,3500137,0.0000,1.0
2024-06-03,165.9,166.1,164.0,165.28,165.28,3500000,0.0000,1.0
"""


def _all_rows(src: CsvSource) -> pd.DataFrame:
    return pd.concat([b.frame for b in src.batches()], ignore_index=True)


def test_directory_of_per_symbol_files_takes_the_symbol_from_the_file_name(tmp_path):
    (tmp_path / "MSFT.csv").write_text(AV_CSV)
    # any column order, `date` instead of `timestamp`, no adjusted columns
    (tmp_path / "ibm.csv").write_text("close,date,volume,low,high,open\n10.5,2024-06-03,100,9,11,10\n")
    (tmp_path / "notes.md").write_text("ignored: not a bar file")
    rows = _all_rows(CsvSource(tmp_path))
    acc = compute_row_checks(rows).accepted
    assert sorted(acc["symbol"].unique()) == ["IBM", "MSFT"]
    assert len(acc) == 4
    msft = acc[acc["symbol"] == "MSFT"].sort_values("date")
    assert msft["close"].tolist() == [165.28, 164.18, 167.38]
    assert msft["split_coefficient"].tolist() == [1.0, 1.0, 1.0]
    ibm = acc[acc["symbol"] == "IBM"].iloc[0]
    assert (ibm["open"], ibm["high"], ibm["low"], ibm["close"], ibm["adj_close"]) == (10, 11, 9, 10.5, 10.5)


def test_files_of_one_symbol_share_a_batch_so_conflicts_are_caught(tmp_path):
    for name in ("AAA", "BBB", "CCC"):
        (tmp_path / f"{name}.csv").write_text("date,open,high,low,close,volume\n2024-06-03,1,2,0.5,1.5,10\n")
    # the same date for AAA with another close, in a Parquet file sorting after the other CSVs
    pd.DataFrame({"date": ["2024-06-03"], "open": [1.0], "high": [2.0], "low": [0.5], "close": [1.6],
                  "volume": [10]}).to_parquet(tmp_path / "aaa.parquet")
    batches = list(CsvSource(tmp_path, chunk_symbols=1).batches())
    assert [sorted(b.frame["symbol"].str.upper().unique()) for b in batches] == [["AAA"], ["BBB"], ["CCC"]]
    rej = compute_row_checks(batches[0].frame).rejected
    assert rej["reason"].tolist() == ["duplicate_conflict", "duplicate_conflict"]


def test_long_file_with_symbol_column_is_batched_by_symbol(tmp_path):
    frame = pd.DataFrame(
        {"symbol": ["A", "B", "C", "A"], "date": ["2024-06-03", "2024-06-03", "2024-06-03", "2024-06-04"],
         "open": 1.0, "high": 2.0, "low": 0.5, "close": 1.5, "volume": 10}
    )
    path = tmp_path / "long.csv"
    frame.to_csv(path, index=False)
    batches = list(CsvSource(path, chunk_symbols=2).batches())
    assert [sorted(b.frame["symbol"].unique()) for b in batches] == [["A", "B"], ["C"]]
    assert sum(len(b.frame) for b in batches) == 4


def test_parquet_file_and_single_file_symbol_from_name(tmp_path):
    frame = pd.DataFrame(
        {"timestamp": pd.to_datetime(["2024-06-03", "2024-06-04"]), "open": [1.0, 1.1], "high": [2.0, 2.0],
         "low": [0.5, 0.5], "close": [1.5, 1.6], "volume": [10, 11]}
    )
    path = tmp_path / "NVDA.parquet"
    frame.to_parquet(path)
    acc = compute_row_checks(_all_rows(CsvSource(path))).accepted
    assert acc["symbol"].tolist() == ["NVDA", "NVDA"]
    assert acc["close"].tolist() == [1.5, 1.6]


@pytest.mark.parametrize("sep", [";", "\t"])
def test_semicolon_and_tab_separated_exports(tmp_path, sep):
    (tmp_path / "X.csv").write_text(sep.join(["date", "open", "high", "low", "close", "volume"]) + "\n"
                                    + sep.join(["2024-06-03", "1", "2", "0.5", "1.5", "10"]) + "\n")
    acc = compute_row_checks(_all_rows(CsvSource(tmp_path))).accepted
    assert acc[["symbol", "close", "volume"]].values.tolist() == [["X", 1.5, 10.0]]


def test_bad_values_reach_the_row_checks_as_written(tmp_path):
    (tmp_path / "X.csv").write_text("date,open,high,low,close,volume\n2024-06-03,1,2,0.5,abc,10\n2024-06-04,1,2,0.5,NA,10\n")
    rej = compute_row_checks(_all_rows(CsvSource(tmp_path))).rejected
    assert sorted(rej["reason"]) == ["missing_ohlc", "unparseable_number"]
    assert "abc" in rej.loc[rej["reason"] == "unparseable_number", "raw"].iloc[0]


@pytest.mark.parametrize(
    ("name", "content", "why"),
    [
        ("EMPTY.csv", b"", "empty"),
        ("HEADER.csv", b"timestamp,open,high,low,close,volume\n", "no data rows"),
        ("BIN.csv", bytes(range(256)) * 8, "binary"),
        ("PAGE.csv", b"<html><body>404 not found</body></html>\n", "missing column"),
        ("JSON.csv", b'{"Error Message": "Invalid API call"}\n', "missing column"),
        ("BROKEN.parquet", b"PAR1 this is not parquet", "not a readable parquet"),
    ],
)
def test_unreadable_input_names_the_file(tmp_path, name, content, why):
    (tmp_path / "GOOD.csv").write_text(AV_CSV)
    bad = tmp_path / name
    bad.write_bytes(content)
    with pytest.raises(UnreadableInputError, match=why) as err:
        CsvSource(tmp_path)
    assert name in str(err.value)


def test_missing_path_and_empty_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope"):
        CsvSource(tmp_path / "nope")
    with pytest.raises(UnreadableInputError, match="no .csv or .parquet"):
        CsvSource(tmp_path)


def test_column_aliases_and_duplicate_columns():
    frame = pd.DataFrame(columns=["Timestamp", " Adjusted_Close", "dividend_amount", "OPEN"])
    assert list(normalise_columns(frame).columns) == ["date", "adj_close", "dividend", "open"]
    with pytest.raises(ValueError, match="twice"):
        normalise_columns(pd.DataFrame(columns=["timestamp", "date"]))
