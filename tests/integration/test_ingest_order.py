"""Order-independent ingest: the same final data gives the same `bars`, `quarantine` and `data_quality` whether it
arrives in one file, as a growing file re-sent every night, as daily increments, or in random splits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from marketdata.config import GuardrailSettings
from marketdata.csvsource import CsvSource
from marketdata.ingest import run_ingest
from stores.warehouse import Warehouse
from tests.unit.marketdata.market import as_text, bad_tick, crisis, make_market

GUARD = GuardrailSettings()
SYMBOLS = ("JPM", "BAC", "XOM", "GE", "MSFT", "PEP")
N = 100
AUDIT = {
    "bars": ["ingested_at"],
    "quarantine": ["ingested_at", "run_id", "resolved_at", "resolved_run_id"],
    "data_quality": ["run_id", "detected_at"],
}


def _final_rows() -> pd.DataFrame:
    """Six stocks over 100 sessions with one of each finding, as CSV text rows (timestamp, symbol, ...)."""
    shocks, boost = crisis(SYMBOLS, 70)  # a market-wide crash that reverts: kept, corroborated
    bars = make_market(SYMBOLS, n=N, shocks=shocks, volume_boost=boost, seed=11)
    bars = bad_tick(bars, "GE", 40, factor=10.0)  # a decimal slip on one stock: kept, uncorroborated
    days = np.sort(bars["date"].unique())
    xom = bars.index[bars["symbol"] == "XOM"]
    bars.loc[xom[20:27], ["open", "high", "low", "close", "adj_close"]] = bars.loc[xom[20], "close"]  # stale run
    msft = bars.index[bars["symbol"] == "MSFT"]
    bars.loc[msft[:55], "close"] *= 2  # an unadjusted 2:1 split at session 55, adjusted close smooth
    bars.loc[msft[:55], ["open", "high", "low"]] *= 2
    bars = bars.drop(index=msft[30])  # a missing session
    bac = bars.index[bars["symbol"] == "BAC"]
    bars.loc[bac[25:28], "volume"] = np.nan  # blank volume
    pep = bars["symbol"] == "PEP"
    bars.loc[pep, ["open", "high", "low", "volume"]] = np.nan  # close-only data
    text = as_text(bars)
    jpm50 = (text["symbol"] == "JPM") & (text["timestamp"] == str(pd.Timestamp(days[50]).date()))
    text.loc[jpm50, "high"] = "1.0000"  # high below low: quarantined, its session then missing
    xom75 = text[(text["symbol"] == "XOM") & (text["timestamp"] == str(pd.Timestamp(days[75]).date()))]
    mid = (xom75["high"].astype(float) + xom75["low"].astype(float)) / 2  # another close inside the range
    conflict = xom75.assign(close=mid.map(lambda v: f"{v:.4f}"))
    exact = text[(text["symbol"] == "GE") & (text["timestamp"] == str(pd.Timestamp(days[10]).date()))]
    return pd.concat([text, conflict, exact], ignore_index=True)


FINAL = _final_rows()
DATES = sorted(FINAL["timestamp"].unique())


def _snapshot(wh: Warehouse) -> dict[str, pd.DataFrame]:
    with wh.session(read_only=True) as con:
        out = {}
        for table, audit in AUDIT.items():
            cols = [r[0] for r in con.execute(f"DESCRIBE {table}").fetchall() if r[0] not in audit]
            sel = ", ".join(f'"{c}"' for c in cols)
            extra = ", resolved_at IS NOT NULL AS resolved" if table == "quarantine" else ""
            out[table] = con.execute(f"SELECT {sel}{extra} FROM {table} ORDER BY ALL").df()
    return out


def _feed(tmp: Path, files: list[pd.DataFrame], chunk_symbols: int = 50, seed: int = 0) -> dict[str, pd.DataFrame]:
    """Ingest `files` night after night (rows shuffled within each file) into a fresh warehouse."""
    tmp.mkdir(parents=True, exist_ok=True)
    wh = Warehouse(tmp / "w.duckdb")
    rng = np.random.default_rng(seed)
    for night, rows in enumerate(files):
        path = tmp / f"night{night:03d}.csv"
        rows.iloc[rng.permutation(len(rows))].to_csv(path, index=False)
        run_ingest(wh, CsvSource(path, chunk_symbols=chunk_symbols), GUARD)
    return _snapshot(wh)


def _growing(cuts: list[int]) -> list[pd.DataFrame]:
    return [FINAL[FINAL["timestamp"] < DATES[c]] for c in cuts] + [FINAL]


def _increments(cuts: list[int]) -> list[pd.DataFrame]:
    bounds = [DATES[0], *(DATES[c] for c in cuts), "9999"]
    return [FINAL[(FINAL["timestamp"] >= lo) & (FINAL["timestamp"] < hi)] for lo, hi in zip(bounds, bounds[1:],
                                                                                               strict=False)]


def _assert_same(a: dict[str, pd.DataFrame], b: dict[str, pd.DataFrame]) -> None:
    for table in AUDIT:
        pd.testing.assert_frame_equal(a[table], b[table], obj=table)


@pytest.fixture(scope="module")
def one_shot(tmp_path_factory) -> dict[str, pd.DataFrame]:
    return _feed(tmp_path_factory.mktemp("one"), [FINAL])


def test_the_final_data_holds_one_of_each_finding(one_shot):
    # The comparison below is only meaningful if every kind of finding is in the tables
    dq = one_shot["data_quality"]
    assert set(dq["check"]) == {"spike_reverted", "stale_price", "split", "missing_session"}
    spikes = dq[dq["check"] == "spike_reverted"]
    assert (spikes["severity"] == "info").sum() == len(SYMBOLS)  # the crash, every stock
    assert spikes.loc[spikes["symbol"] == "GE", "severity"].tolist() == ["warning", "info"]  # slip, crash
    q = one_shot["quarantine"]
    assert sorted(q["reason"]) == ["duplicate_conflict", "duplicate_conflict", "ohlc_inconsistent"]
    assert not q["resolved"].any()
    bars = one_shot["bars"]
    assert bars["volume"].isna().sum() == 3 + N  # BAC's three blanks and PEP's close-only series
    assert len(bars) == len(SYMBOLS) * N - 1 - 1 - 1  # MSFT's gap, JPM's rejected row, XOM's conflict


def test_growing_file_and_daily_increments_give_the_one_shot_tables(one_shot, tmp_path):
    # Given the first 60 sessions as one backfill, then every later session on its own night
    nightly = list(range(60, N))
    # When the file grows every night (re-sent whole) and when only the new day is sent
    grown = _feed(tmp_path / "grow", _growing(nightly))
    daily = _feed(tmp_path / "daily", _increments(nightly))
    # Then the tables are the one-shot load's
    _assert_same(one_shot, grown)
    _assert_same(one_shot, daily)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    cuts=st.lists(st.integers(1, N - 1), min_size=1, max_size=4, unique=True).map(sorted),
    growing=st.booleans(),
    chunk_symbols=st.sampled_from([1, 2, 50]),
    seed=st.integers(0, 2**16),
)
def test_random_splits_give_the_one_shot_tables(one_shot, tmp_path_factory, cuts, growing, chunk_symbols, seed):
    files = _growing(cuts) if growing else _increments(cuts)
    got = _feed(tmp_path_factory.mktemp("split"), files, chunk_symbols=chunk_symbols, seed=seed)
    _assert_same(one_shot, got)


def test_backfilled_history_gives_the_one_shot_tables(one_shot, tmp_path):
    # Given the recent half first and the older half later (a history back-fill), symbol by symbol
    half = DATES[N // 2]
    files = [FINAL[FINAL["timestamp"] >= half], FINAL[FINAL["timestamp"] < half]]
    _assert_same(one_shot, _feed(tmp_path, files, chunk_symbols=1))
