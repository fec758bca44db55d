"""Small bars with every edge case the features must get right, and a harness computing a set on bars."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd

from features.definitions import FeatureSetDef
from features.sql import build_feature_select
from marketdata.config import SampleSettings
from marketdata.sample import compute_sample_market
from stores.warehouse import Warehouse, utcnow


def edge_case_bars(n_symbols: int = 10, n_years: float = 1.2, seed: int = 11) -> pd.DataFrame:
    """Sample bars plus: a dividend/split-adjusted symbol, zero-volume days (single and consecutive), a constant
    volume stretch, tied prices, a symbol without VWAP, a short history and a flat-price stretch."""
    b = compute_sample_market(SampleSettings(n_symbols=n_symbols, n_years=n_years, seed=seed)).bars.copy()
    b["vwap"] = b["vwap"].astype(float)
    syms = sorted(b["symbol"].unique())

    def rows(i):
        return np.flatnonzero((b["symbol"] == syms[i]).to_numpy())

    r = rows(0)  # adjusted: raw closes are 2x the adjusted series before a split in the middle
    b.loc[r[: len(r) // 2], ["open", "high", "low", "close", "vwap"]] *= 2.0
    b.loc[r, "adj_close"] = b.loc[r, "close"] * np.where(np.arange(len(r)) < len(r) // 2, 0.5, 1.0) * 0.98
    r = rows(1)  # zero volume: single days, two in a row, and a constant-volume stretch
    b.loc[r[[30, 31, 90, 150]], "volume"] = 0.0
    b.loc[r[200:270], "volume"] = 1000.0
    r = rows(2)  # ties: coarse price grid
    for c in ("open", "high", "low", "close", "vwap"):
        b.loc[r, c] = np.round(b.loc[r, c] * 2) / 2
    b.loc[r, "adj_close"] = b.loc[r, "close"]
    r = rows(3)  # no VWAP from the source
    b.loc[r, "vwap"] = np.nan
    r = rows(5)  # flat price for 70 sessions (std 0: RSQR/CORR masks)
    flat = r[100:170]
    b.loc[flat, ["open", "high", "low", "close", "vwap", "adj_close"]] = 42.0
    short = rows(4)[:-40]  # short history: only the last 40 sessions
    b = b.drop(index=short).reset_index(drop=True)
    return b


def write_bars(warehouse: Warehouse, bars: pd.DataFrame) -> None:
    warehouse.migrate()
    frame = bars.assign(source="test", ingested_at=utcnow())
    with warehouse.session() as con:
        con.register("_b", frame)
        con.execute("INSERT INTO bars BY NAME SELECT * FROM _b")
        con.unregister("_b")


def compute_set(bars: pd.DataFrame, fs: FeatureSetDef) -> pd.DataFrame:
    """Full build of `fs` on `bars` in a throw-away DuckDB, through the store's SQL (the leakage harness)."""
    con = duckdb.connect()
    try:
        con.execute("SET threads = 2")
        cols = ["symbol", "date", "open", "high", "low", "close", "adj_close", "volume", "vwap"]
        con.register("_b", bars[cols])
        con.execute("CREATE TABLE bars AS SELECT * REPLACE (CAST(date AS DATE) AS date) FROM _b")
        con.execute("CREATE TEMP TABLE _fs_scope AS SELECT DISTINCT symbol, NULL::DATE AS read_from, "
                    "NULL::DATE AS target_from FROM bars")
        df = con.execute(build_feature_select(fs) + " ORDER BY symbol, date").df()
    finally:
        con.close()
    df["date"] = pd.to_datetime(df["date"])
    return df.reset_index(drop=True)


def assert_frames_close(got: pd.DataFrame, want: pd.DataFrame, columns, rtol: float = 1e-9,
                        atol: float = 1e-12) -> None:
    """Same keys, same NULL pattern, values equal to rtol (atol only for exact zeros); names the worst column."""
    got = got.sort_values(["symbol", "date"]).reset_index(drop=True)
    want = want.sort_values(["symbol", "date"]).reset_index(drop=True)
    assert list(got["symbol"]) == list(want["symbol"])
    assert (got["date"].to_numpy() == want["date"].to_numpy()).all()
    bad = []
    for c in columns:
        g = got[c].to_numpy(dtype=float)
        w = want[c].to_numpy(dtype=float)
        nan_g, nan_w = np.isnan(g), np.isnan(w)
        if (nan_g != nan_w).any():
            i = int(np.flatnonzero(nan_g != nan_w)[0])
            bad.append(f"{c}: NULL pattern differs at {got.loc[i, 'symbol']} {got.loc[i, 'date'].date()} "
                       f"(sql={g[i]}, ref={w[i]}), {(nan_g != nan_w).sum()} rows")
            continue
        ok = np.isclose(g[~nan_g], w[~nan_w], rtol=rtol, atol=atol)
        if not ok.all():
            i = int(np.flatnonzero(~nan_g)[np.flatnonzero(~ok)[0]])
            bad.append(f"{c}: {(~ok).sum()} values differ, e.g. {got.loc[i, 'symbol']} {got.loc[i, 'date'].date()}"
                       f" sql={g[i]!r} ref={w[i]!r}")
    assert not bad, "\n".join(bad)
