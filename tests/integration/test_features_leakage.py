"""No look-ahead: computing on bars cut at t gives exactly the rows up to t; a leaking canary is caught."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from features.definitions import FEATURE_SETS, FeatureDef
from tests.unit.features.helpers import compute_set, edge_case_bars

BARS = edge_case_bars(n_symbols=8, n_years=0.8, seed=5)
DATES = sorted(pd.to_datetime(BARS["date"]).unique())
SYMBOLS = sorted(BARS["symbol"].unique())
FULL = {name: compute_set(BARS, fs) for name, fs in FEATURE_SETS.items()}


def leaked_rows(fs, full: pd.DataFrame, cut: pd.Timestamp, cut_symbols: list[str]) -> pd.DataFrame:
    """Rows dated <= cut whose values change when the bars of `cut_symbols` after `cut` are removed."""
    bars = BARS[~(BARS["symbol"].isin(cut_symbols) & (pd.to_datetime(BARS["date"]) > cut))]
    part = compute_set(bars, fs)
    keep = full["date"] <= cut
    a = full[keep].reset_index(drop=True)
    b = part[part["date"] <= cut].reset_index(drop=True)
    assert len(a) == len(b) and (a["symbol"] == b["symbol"]).all() and (a["date"] == b["date"]).all()
    va, vb = a[fs.columns].to_numpy(float), b[fs.columns].to_numpy(float)
    # equal up to the summation order of window aggregates (DuckDB segment trees depend on partition length)
    same = (np.isnan(va) & np.isnan(vb)) | np.isclose(va, vb, rtol=1e-10, atol=1e-13)
    return a.loc[~same.all(axis=1), ["symbol", "date"]]


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
@given(
    name=st.sampled_from(sorted(FEATURE_SETS)),
    cut_idx=st.integers(min_value=1, max_value=len(DATES) - 2),
    cut_symbols=st.lists(st.sampled_from(SYMBOLS), min_size=1, max_size=len(SYMBOLS), unique=True),
)
def test_features_at_t_never_see_bars_after_t(name, cut_idx, cut_symbols):
    # Given bars of some symbols cut at t (the rest of the universe intact)
    # When every feature set is computed on the cut and on the full history
    # Then every row dated <= t is identical
    bad = leaked_rows(FEATURE_SETS[name], FULL[name], DATES[cut_idx], cut_symbols)
    assert bad.empty, f"{name}: {len(bad)} rows changed, e.g. {bad.head(3).to_dict('records')}"


@pytest.mark.parametrize("name", sorted(FEATURE_SETS))
def test_every_cut_point_of_one_symbol(name):
    # the same property at several fixed cut points, all symbols cut (the universe ends at t)
    for cut in (DATES[61], DATES[-2]):
        assert leaked_rows(FEATURE_SETS[name], FULL[name], cut, SYMBOLS).empty


def test_the_harness_catches_a_leaking_canary():
    # Given a feature that reads tomorrow's return (a deliberate leak)
    fs = FEATURE_SETS["alpha158"]
    canary = dataclasses.replace(
        fs, name="canary",
        s3=(*fs.s3, "lead(close, 1) OVER ws / close - 1 AS tomorrow"),
        features=(FeatureDef("KMID", "Ref($close,-1)/$close-1", "tomorrow", "canary"),),
    )
    full = compute_set(BARS, canary)
    # When the same harness cuts the bars at t
    bad = leaked_rows(canary, full, DATES[len(DATES) // 2], SYMBOLS[:1])
    # Then it reports the row at t of the cut symbol
    assert len(bad) == 1
    assert bad.iloc[0]["date"] == DATES[len(DATES) // 2] and bad.iloc[0]["symbol"] == SYMBOLS[0]
