"""Monitoring's reference window as the signal trainer logs it: training window, sample cap, labels, holdout
probabilities."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import numpy as np
import pandas as pd

from flows.train import SignalDataset, compute_reference_frame


def _setup(n_dates: int = 40, n_symbols: int = 5):
    dates = pd.bdate_range("2024-01-01", periods=n_dates)
    rng = np.random.default_rng(0)
    frame = pd.DataFrame([(s, d) for d in dates for s in (f"S{i}" for i in range(n_symbols))],
                         columns=["symbol", "date"])
    frame["f1"], frame["f2"], frame["unused"] = rng.normal(size=(3, len(frame)))
    frame["label"] = rng.integers(0, 2, len(frame)).astype(float)
    ds = SignalDataset(frame, ["f1", "f2", "unused"], "toy", None, 5, 1, True)
    block = lambda a, b: SimpleNamespace(start=dates[a].date(), end=dates[b].date())  # noqa: E731
    plan = SimpleNamespace(fit=block(2, 25), holdout=block(30, 37))
    hold = frame[frame["date"].between(dates[30], dates[37])][["symbol", "date", "label"]].copy()
    hold["date"] = hold["date"].dt.date  # the trainer may hand back plain dates
    hold["probability"] = np.linspace(0.1, 0.9, len(hold))
    result = SimpleNamespace(plan=plan, model=SimpleNamespace(feature_columns=["f1", "f2"]), holdout=hold)
    return ds, result, dates


def test_reference_is_the_training_window_with_holdout_predictions():
    ds, result, dates = _setup()
    ref = compute_reference_frame(ds, result)
    assert list(ref.columns) == ["symbol", "date", "f1", "f2", "label", "probability"]
    assert ref["date"].min() == dates[2] and ref["date"].max() == dates[37] and len(ref) == 36 * 5
    in_hold = ref["date"].between(dates[30], dates[37])
    assert ref.loc[in_hold, "probability"].notna().all() and in_hold.sum() == 8 * 5
    assert ref.loc[~in_hold, "probability"].isna().all()
    # labels on every row: monitoring's calibration null is built from the market's own stretches
    expected = ds.frame.set_index(["symbol", "date"])["label"]
    np.testing.assert_array_equal(ref["label"], expected.loc[list(zip(ref["symbol"], ref["date"], strict=True))].to_numpy())
    merged = ref[in_hold].merge(result.holdout.assign(date=pd.to_datetime(result.holdout["date"])),
                                on=["symbol", "date"], suffixes=("", "_h"))
    np.testing.assert_allclose(merged["probability"], merged["probability_h"])
    assert ref["f1"].dtype == np.float32


def test_reference_is_a_seeded_sample_of_at_most_max_rows():
    ds, result, _ = _setup()
    a, b = compute_reference_frame(ds, result, max_rows=50), compute_reference_frame(ds, result, max_rows=50)
    assert len(a) == 50 and a["date"].is_monotonic_increasing
    pd.testing.assert_frame_equal(a, b)
    assert a["probability"].notna().any() and a["probability"].isna().any()
    assert dt.date(2024, 1, 1) not in set(a["date"].dt.date)  # dates before the fit block never enter
