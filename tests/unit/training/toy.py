"""Toy point-in-time features and labels in pandas from sample bars (stand-in fixtures for signal tests)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from marketdata.config import SampleSettings
from marketdata.sample import compute_sample_market, random_walk_settings

TOY_FEATURES = ["ret_1", "ret_5", "ret_10", "ret_20", "vol_10", "noise"]


def compute_toy_frame(bars: pd.DataFrame, horizon: int = 5, entry_lag: int = 1, seed: int = 0) -> pd.DataFrame:
    """Features use bars with date <= t; the label spans closes t+entry_lag .. t+entry_lag+horizon."""
    b = bars.sort_values(["symbol", "date"]).reset_index(drop=True)
    g = b.groupby("symbol", sort=False)["adj_close"]
    logp = np.log(b["adj_close"])
    lg = logp.groupby(b["symbol"], sort=False)
    out = pd.DataFrame({"symbol": b["symbol"], "date": pd.to_datetime(b["date"])})
    for k in (1, 5, 10, 20):
        out[f"ret_{k}"] = logp - lg.shift(k)
    r1 = out["ret_1"]
    out["vol_10"] = r1.groupby(b["symbol"], sort=False).transform(lambda s: s.rolling(10).std())
    out["noise"] = np.random.default_rng(seed).standard_normal(len(out))
    entry = g.shift(-entry_lag)
    exit_ = g.shift(-(entry_lag + horizon))
    out["fwd_return"] = exit_ / entry - 1
    out["label"] = (out["fwd_return"] > 0).astype(float)
    out = out.dropna(subset=["ret_20", "vol_10", "fwd_return"])
    return out.sort_values(["date", "symbol"], kind="stable").reset_index(drop=True)


def toy_market_frame(n_symbols: int = 30, n_years: float = 4.0, random_walk: bool = False, seed: int = 7,
                     horizon: int = 5) -> pd.DataFrame:
    cfg = SampleSettings(n_symbols=n_symbols, n_years=n_years, seed=seed)
    if random_walk:
        cfg = random_walk_settings(cfg)
    return compute_toy_frame(compute_sample_market(cfg).bars, horizon=horizon)
