"""Training on close-only data: the signal dataset drops constant and all-NULL feature columns with a line saying
so, and names the symbols whose feature families are missing."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from features import feature_columns
from flows.train import make_dataset
from training.config import SignalTrainingSettings


def test_signal_dataset_drops_what_close_only_data_cannot_feed(caplog):
    # Given a training frame where PEP has closes only (its OHLC and volume features NULL), every symbol's
    # VWAP0 is 1 (OHLC filled with the close elsewhere), and the other features vary
    cols = feature_columns("alpha158")
    rng = np.random.default_rng(0)
    dates = pd.bdate_range("2024-01-02", periods=40)
    frame = pd.DataFrame([(s, d) for d in dates for s in ("JPM", "BAC", "PEP")], columns=["symbol", "date"])
    values = pd.DataFrame(rng.normal(size=(len(frame), len(cols))), columns=cols)
    frame = pd.concat([frame, values], axis=1)
    volume = [c for c in cols if c[:3] in ("VMA", "VST", "WVM", "VSU", "COR")]
    frame.loc[frame["symbol"] == "PEP", volume] = np.nan
    frame[[c for c in cols if c.startswith("VSUMD")]] = np.nan  # no symbol has it
    frame["VWAP0"] = 1.0
    frame["fwd_return"] = rng.normal(size=len(frame))
    frame["label"] = (frame["fwd_return"] > 0).astype(int)
    settings = SignalTrainingSettings(feature_set="alpha158", entry_lag=1)
    # When the dataset is assembled
    with caplog.at_level(logging.WARNING, logger="flows.train"):
        ds = make_dataset(frame, cols, settings, feature_set_version=None, sources=["csv"])
    # Then the constant and all-NULL columns are gone, in order, and the log says which and why
    dropped = ["VWAP0", *[f"VSUMD{d}" for d in (5, 10, 20, 30, 60)]]
    assert ds.feature_cols == [c for c in cols if c not in dropped]
    lines = [r.getMessage() for r in caplog.records]
    assert ("train-signals: dropped 6 of 158 feature columns with nothing to learn from: 5 all NULL (VSUMD5, "
            "VSUMD10, VSUMD20, VSUMD30, VSUMD60); 1 constant (VWAP0)") in lines
    assert any(line.startswith("train-signals: CORR, CORD, VMA, VSTD, WVMA, VSUMP, VSUMN, VSUMD features are NULL "
                               "for 1 symbol(s) (no volume): PEP") for line in lines)
    # a complete frame keeps every column and says nothing
    caplog.clear()
    full = frame.assign(VWAP0=rng.normal(size=len(frame)))
    full[volume] = rng.normal(size=(len(frame), len(volume)))
    with caplog.at_level(logging.WARNING, logger="flows.train"):
        assert make_dataset(full, cols, settings, feature_set_version=None, sources=["csv"]).feature_cols == cols
    assert not caplog.records


def test_which_columns_are_usable_is_decided_on_the_development_rows_only():
    # Given a training frame long enough for the purged plan, one column constant over the development rows
    # that varies only in the holdout, and one that varies in development and is constant in the holdout
    from training.signals import plan_for

    rng = np.random.default_rng(1)
    dates = pd.bdate_range("2020-01-01", periods=600)
    settings = SignalTrainingSettings(feature_set="alpha158", entry_lag=1)
    span = settings.horizon + 1
    frame = pd.DataFrame([(s, d) for d in dates for s in ("A", "B", "C")], columns=["symbol", "date"])
    frame["label_end"] = frame["date"] + pd.offsets.BDay(span)
    frame["f_ok"] = rng.normal(size=len(frame))
    frame["fwd_return"] = rng.normal(size=len(frame))
    frame["label"] = (frame["fwd_return"] > 0).astype(int)
    dev = plan_for(frame, settings, 1).development_mask(frame)
    assert 0 < dev.sum() < len(frame)
    frame["f_dev_constant"] = np.where(dev, 1.0, rng.normal(size=len(frame)))
    frame["f_holdout_constant"] = np.where(dev, rng.normal(size=len(frame)), 1.0)
    cols = ["f_ok", "f_dev_constant", "f_holdout_constant"]
    # When the dataset is assembled, then the holdout did not choose the inputs: the column that carries
    # nothing before the holdout is dropped, the one that is constant only in the holdout is kept
    ds = make_dataset(frame, cols, settings, feature_set_version=None, sources=["csv"])
    assert ds.feature_cols == ["f_ok", "f_holdout_constant"]
