"""Toy point-in-time features and labels in pandas from sample bars (stand-in fixtures for signal tests), and a
frame source that builds them again from cut bars (the leak control's input)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from marketdata.config import SampleSettings
from marketdata.sample import compute_planted_skill, compute_sample_market, random_walk_settings
from training.leakage import DataCut

TOY_FEATURES = ["ret_1", "ret_5", "ret_10", "ret_20", "vol_10", "noise"]


def compute_toy_features(bars: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """symbol, date and TOY_FEATURES from bars with date <= t (`noise` is a fixed draw per (symbol, date))."""
    b = bars.sort_values(["symbol", "date"]).reset_index(drop=True)
    logp = np.log(b["adj_close"])
    lg = logp.groupby(b["symbol"], sort=False)
    out = pd.DataFrame({"symbol": b["symbol"], "date": pd.to_datetime(b["date"])})
    for k in (1, 5, 10, 20):
        out[f"ret_{k}"] = logp - lg.shift(k)
    out["vol_10"] = out["ret_1"].groupby(b["symbol"], sort=False).transform(lambda s: s.rolling(10).std())
    key = pd.util.hash_pandas_object(out[["symbol", "date"]], index=False).to_numpy()
    out["noise"] = np.random.default_rng(seed).standard_normal(1)[0] + (key % 100_003) / 100_003.0 - 0.5
    return out


def compute_toy_labels(bars: pd.DataFrame, horizon: int = 5, entry_lag: int = 1) -> pd.DataFrame:
    """symbol, date, fwd_return, label, label_end: the label spans the symbol's own closes t+lag .. t+lag+H."""
    b = bars.sort_values(["symbol", "date"]).reset_index(drop=True)
    g = b.groupby("symbol", sort=False)
    out = pd.DataFrame({"symbol": b["symbol"], "date": pd.to_datetime(b["date"])})
    out["fwd_return"] = g["adj_close"].shift(-(entry_lag + horizon)) / g["adj_close"].shift(-entry_lag) - 1
    out["label"] = (out["fwd_return"] > 0).astype(float)
    out["label_end"] = pd.to_datetime(g["date"].shift(-(entry_lag + horizon)))
    return out.dropna(subset=["fwd_return"])


def compute_toy_frame(bars: pd.DataFrame, horizon: int = 5, entry_lag: int = 1, seed: int = 0,
                      label_bars: pd.DataFrame | None = None) -> pd.DataFrame:
    """Features from `bars`, labels from `label_bars` (default: the same bars), complete rows, by (date, symbol)."""
    feats = compute_toy_features(bars, seed)
    labels = compute_toy_labels(bars if label_bars is None else label_bars, horizon, entry_lag)
    out = feats.merge(labels, on=["symbol", "date"]).dropna(subset=["ret_20", "vol_10"])
    return out.sort_values(["date", "symbol"], kind="stable").reset_index(drop=True)


@dataclass
class ToyFrameSource:
    """The toy frame of `bars`, and the same build on bars cut at each DataCut; `transform` (frame, bars) ->
    frame is applied to every build alike (e.g. a planted leak that reads the bars)."""

    bars: pd.DataFrame
    horizon: int = 5
    entry_lag: int = 1
    transform: Callable[[pd.DataFrame, pd.DataFrame], pd.DataFrame] | None = None

    def _build(self, feature_bars: pd.DataFrame, label_bars: pd.DataFrame) -> pd.DataFrame:
        frame = compute_toy_frame(feature_bars, self.horizon, self.entry_lag, label_bars=label_bars)
        return self.transform(frame, feature_bars) if self.transform else frame

    def load(self) -> pd.DataFrame:
        return self._build(self.bars, self.bars)

    def rebuild(self, cuts: Sequence[DataCut]) -> list[pd.DataFrame]:
        dates = pd.to_datetime(self.bars["date"])
        return [self._build(self.bars[dates <= pd.Timestamp(c.feature_end)], self.bars[dates <= pd.Timestamp(c.label_end)])
                for c in cuts]


def toy_sample(n_symbols: int = 30, n_years: float = 4.0, random_walk: bool = False, seed: int = 7) -> SampleSettings:
    cfg = SampleSettings(n_symbols=n_symbols, n_years=n_years, seed=seed)
    return random_walk_settings(cfg) if random_walk else cfg


def toy_market_source(n_symbols: int = 30, n_years: float = 4.0, random_walk: bool = False, seed: int = 7,
                      horizon: int = 5, transform=None) -> ToyFrameSource:
    return ToyFrameSource(compute_sample_market(toy_sample(n_symbols, n_years, random_walk, seed)).bars, horizon,
                          transform=transform)


def toy_market_frame(n_symbols: int = 30, n_years: float = 4.0, random_walk: bool = False, seed: int = 7,
                     horizon: int = 5) -> pd.DataFrame:
    return toy_market_source(n_symbols, n_years, random_walk, seed, horizon).load()


def toy_planted_skill(random_walk: bool = False, horizon: int = 5):
    """The oracle skill of the toy market's planted structure (the sample's suspicion ceiling)."""
    return compute_planted_skill(toy_sample(random_walk=random_walk), horizon, 1)
