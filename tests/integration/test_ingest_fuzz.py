"""Adversarial input: any bytes given to `foresight ingest --source csv` either ingest or fail with a message naming
the file; never a traceback, never a partial write."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from foresight.cli import app
from marketdata.csvsource import CsvSource, UnreadableInputError
from stores.warehouse import Warehouse

PLANTED = Path(__file__).resolve().parents[1] / "data" / "ingest" / "planted.csv"
TABLES = ("bars", "quarantine", "data_quality")
EXIT_CODES = {0, 2, 3, 5, 6}
"""ok, unreadable input, partial (source), failed (nothing accepted), partial (too many rejected)."""

NAMES = ["timestamp", "date", "Date", "symbol", "ticker", "open", "high", "low", "close", "adjusted_close",
         "adj close", "volume", "vwap", "dividend_amount", "split_coefficient", "x", ""]
CELLS = st.one_of(
    st.sampled_from(["", "2024-01-02", "2024-01-03", "2024-02-30", "1e308", "-1", "0", "NaN", "inf", "AAA",
                     "12.5", "1,000", "\"", "'", "\\", "2024-01-02T23:00:00-05:00", "9999-12-31", "0001-01-01"]),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.integers(min_value=-(10**20), max_value=10**20).map(str),
    st.text(max_size=12),
)


DATES = st.dates(min_value=pd.Timestamp("2023-12-01").date(), max_value=pd.Timestamp("2024-03-01").date()).map(str)
PRICES = st.floats(min_value=0.01, max_value=500).map(lambda x: f"{x:.2f}")


def _cell(col: str) -> st.SearchStrategy[str]:
    """Mostly what the column should hold, sometimes anything."""
    if col in ("timestamp", "date", "Date"):
        return st.one_of(DATES, DATES, DATES, CELLS)
    if col in ("symbol", "ticker"):
        return st.one_of(st.sampled_from(["AAA", "bbb", " CCC "]), CELLS)
    return st.one_of(PRICES, PRICES, CELLS)


def _columns(draw, names: list[str], max_size: int) -> list[str]:
    """Random column names, most often with a date and a close so that rows reach the row checks."""
    cols = draw(st.lists(st.sampled_from(names), min_size=1, max_size=max_size))
    if draw(st.integers(0, 3)):
        cols = [draw(st.sampled_from(["timestamp", "date"])), "close", *cols]
    return cols


@st.composite
def csv_bytes(draw) -> bytes:
    cols = _columns(draw, NAMES, 7)
    sep = draw(st.sampled_from([",", ";", "\t", "|"]))
    rows = draw(st.lists(st.tuples(*[_cell(c) for c in cols]), max_size=12))
    text = "\n".join(sep.join(r) for r in [cols, *rows])
    encoding = draw(st.sampled_from(["utf-8", "utf-16", "latin-1"]))
    return text.encode(encoding, errors="replace")


@st.composite
def parquet_bytes(draw) -> bytes:
    n = draw(st.integers(min_value=0, max_value=8))
    cols = list(dict.fromkeys(_columns(draw, NAMES[:-1], 6)))
    data = {}
    for c in cols:
        kind = draw(st.sampled_from(["float", "int", "str", "bool", "date", "list", "bytes"]))
        if kind == "float":
            data[c] = draw(st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=n, max_size=n))
        elif kind == "int":
            data[c] = draw(st.lists(st.integers(-(2**62), 2**62), min_size=n, max_size=n))
        elif kind == "str":
            data[c] = draw(st.lists(_cell(c), min_size=n, max_size=n))
        elif kind == "bool":
            data[c] = draw(st.lists(st.booleans(), min_size=n, max_size=n))
        elif kind == "date":
            data[c] = pd.to_datetime(draw(st.lists(st.integers(-(2**31), 2**33), min_size=n, max_size=n)), unit="s")
        elif kind == "list":
            data[c] = draw(st.lists(st.lists(st.integers(0, 9), max_size=3), min_size=n, max_size=n))
        else:
            data[c] = draw(st.lists(st.binary(max_size=6), min_size=n, max_size=n))
    buf = io.BytesIO()
    pd.DataFrame(data).to_parquet(buf)
    raw = buf.getvalue()
    if draw(st.booleans()):  # flip a few bytes: a damaged file
        arr = bytearray(raw)
        for pos in draw(st.lists(st.integers(0, len(arr) - 1), max_size=4)):
            arr[pos] ^= 0xFF
        raw = bytes(arr)
    return raw


def _snapshot(wh: Warehouse) -> dict[str, pd.DataFrame]:
    with wh.session(read_only=True) as con:
        return {t: con.execute(f"SELECT * FROM {t} ORDER BY ALL").df() for t in (*TABLES, "ingest_runs")}


@pytest.fixture(scope="module")
def seeded(tmp_path_factory) -> Path:
    """A home with the planted file ingested, copied for each example."""
    home = tmp_path_factory.mktemp("fuzz") / "home"
    mp = pytest.MonkeyPatch()
    mp.setenv("FORESIGHT_HOME", str(home))
    try:
        assert CliRunner().invoke(app, ["ingest", "--source", "csv", "--path", str(PLANTED)]).exit_code == 0
    finally:
        mp.undo()
    return home


def _check(content: bytes, suffix: str, seeded: Path, tmp_path: Path, monkeypatch) -> None:
    home = tmp_path / f"home-{abs(hash(content)) % 10**9}"
    shutil.rmtree(home, ignore_errors=True)
    shutil.copytree(seeded, home)
    monkeypatch.setenv("FORESIGHT_HOME", str(home))
    path = tmp_path / f"FUZZ{suffix}"
    path.write_bytes(content)
    wh = Warehouse(home / "foresight.duckdb")
    before = _snapshot(wh)
    result = CliRunner().invoke(app, ["ingest", "--source", "csv", "--path", str(path)])
    # Never a traceback: the command ends with one of its documented exit codes
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code in EXIT_CODES, result.output
    if result.exit_code == 2:
        # A file that cannot be read is named, and nothing is written (not even an audit row)
        assert "FUZZ" in result.output.replace("\n", "")
        after = _snapshot(wh)
        for t in before:
            pd.testing.assert_frame_equal(before[t], after[t], obj=t)
    else:
        runs = _snapshot(wh)["ingest_runs"]
        assert len(runs) == len(before["ingest_runs"]) + 1
        assert runs["status"].isin(["ok", "partial", "failed"]).all()
        assert (runs["finished_at"].notna()).all()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content=st.one_of(st.binary(max_size=300), csv_bytes()))
def test_any_csv_bytes_ingest_or_fail_naming_the_file(content, seeded, tmp_path, monkeypatch):
    _check(content, ".csv", seeded, tmp_path, monkeypatch)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content=st.one_of(st.binary(max_size=300), parquet_bytes()))
def test_any_parquet_bytes_ingest_or_fail_naming_the_file(content, seeded, tmp_path, monkeypatch):
    _check(content, ".parquet", seeded, tmp_path, monkeypatch)


@pytest.mark.parametrize(("name", "content"), [
    ("HALF.csv", b"timestamp,open,high,low,close,volume\n2024-01-02,1,2,0.5,1.5,10\n2024-01-03,1,2"),
    ("QUOTE.csv", b'timestamp,close\n"2024-01-02,1.5\n'),
    ("UTF16.csv", "timestamp,close\n2024-01-02,1.5\n".encode("utf-16")),
    ("NUL.parquet", b"PAR1\x00\x00PAR1"),
])
def test_known_awkward_files_are_handled(name, content, tmp_path):
    path = tmp_path / name
    path.write_bytes(content)
    try:
        src = CsvSource(path)
    except UnreadableInputError as exc:
        assert name in str(exc)
        return
    frames = [b.frame for b in src.batches()]
    assert sum(len(f) for f in frames) >= 1
    assert np.all([isinstance(f, pd.DataFrame) for f in frames])
