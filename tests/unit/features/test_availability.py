"""Missing fields: a feature is NULL exactly on rows lacking a field it needs; unavailable families are named per
symbol; training's columns drop what is constant or all NULL, with a line saying so."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features import (
    FEATURE_SETS,
    compute_field_families,
    compute_frame_gaps,
    compute_unavailable_families,
    compute_usable_columns,
    describe_dropped,
)
from tests.unit.features.helpers import compute_set, edge_case_bars

A158 = FEATURE_SETS["alpha158"]


@pytest.fixture(scope="module")
def bars() -> pd.DataFrame:
    b = edge_case_bars()
    # the symbol without a source VWAP: VWAP0 falls back to (high + low + close) / 3 and needs high and low
    return b[b["symbol"] == sorted(b["symbol"].unique())[3]].reset_index(drop=True)


@pytest.fixture(scope="module")
def full(bars) -> pd.DataFrame:
    return compute_set(bars, A158)


@pytest.mark.parametrize("field", ["open", "high", "low", "volume"])
def test_a_missing_field_nulls_exactly_the_features_that_need_it_on_that_row(bars, full, field):
    # Given one row (deep enough for full windows) whose `field` is blank in the source
    row = 80
    holed = bars.copy()
    holed.loc[row, field] = np.nan
    got = compute_set(holed, A158)
    needs = {f.name: f.needs for f in A158.features}
    for name in A158.columns:
        if field in needs[name] or (field in ("high", "low") and "vwap" in needs[name] and pd.isna(bars.loc[row, "vwap"])):
            # Then every feature that needs it is NULL on that row...
            assert pd.isna(got.loc[row, name]), name
        else:
            # ...and every other feature is what the complete data gives (its needs list is complete)
            assert got.loc[row, name] == pytest.approx(full.loc[row, name], nan_ok=True, rel=1e-9), name
    assert not pd.isna(full.loc[row, [n for n in A158.columns if field in needs[n]]]).any()


def test_field_families_name_the_operators_in_qlibs_order():
    fams = compute_field_families("alpha158")
    assert fams["volume"] == ["CORR", "CORD", "VMA", "VSTD", "WVMA", "VSUMP", "VSUMN", "VSUMD"]
    assert fams["open"] == ["KMID", "KLEN", "KMID2", "KUP", "KUP2", "KLOW", "KLOW2", "KSFT", "OPEN0"]
    assert "MAX" in fams["high"] and "MIN" in fams["low"] and fams["vwap"] == ["VWAP0"]
    assert "market" not in {f for fs in fams.values() for f in fs}


def test_unavailable_families_per_symbol_from_the_bars_coverage():
    coverage = pd.DataFrame(
        [("AAA", 100, 100, 100, 100, 100, 100, 100),  # complete
         ("BBB", 100, 100, 100, 100, 0, 100, 100),  # no volume
         ("CCC", 100, 0, 0, 0, 0, 0, 0),  # close only
         ("DDD", 100, 100, 100, 100, 100, 100, 0),  # OHLC filled with the close
         ("EEE", 100, 100, 100, 100, 0, 100, 100)],  # no volume
        columns=["symbol", "rows", "open", "high", "low", "volume", "vwap", "moves"])
    gaps = {(g.fields, g.reason): g for g in compute_unavailable_families(coverage)}
    assert gaps[(("volume",), "missing")].symbols == ("BBB", "EEE")
    assert gaps[(("open", "high", "low", "volume", "vwap"), "missing")].symbols == ("CCC",)
    assert gaps[(("open", "high", "low"), "flat")].symbols == ("DDD",)
    assert len(gaps) == 3
    line = gaps[(("volume",), "missing")].describe()
    assert line == "CORR, CORD, VMA, VSTD, WVMA, VSUMP, VSUMN, VSUMD features are NULL for 2 symbol(s) (no volume): BBB, EEE"
    assert "constant" in gaps[(("open", "high", "low"), "flat")].describe()


def test_usable_columns_drop_constant_and_all_null_columns_and_say_so():
    frame = pd.DataFrame({
        "good": [1.0, 2.0, np.nan, 4.0],
        "const": [1.0, 1.0, np.nan, 1.0],  # VWAP0 of close-only data filled into OHLC
        "null": [np.nan] * 4,  # VMA5 without volume
        "inf": [np.inf, -np.inf, np.nan, np.nan],  # nothing finite
        "two": [0.0, 0.0, 0.0, 1e-9],
    })
    kept, dropped = compute_usable_columns(frame, ["good", "const", "null", "inf", "two"])
    assert kept == ["good", "two"]
    assert dropped == {"const": "constant 1", "null": "all NULL", "inf": "all NULL"}
    line = describe_dropped(dropped, total=5)
    assert line == ("dropped 3 of 5 feature columns with nothing to learn from: 2 all NULL (null, inf); "
                    "1 constant (const)")
    assert describe_dropped({}, total=5) is None


def test_training_frame_gaps_name_symbols_whose_features_are_all_null():
    cols = ["KMID", "VMA5", "VSTD5", "ROC5"]
    frame = pd.DataFrame({
        "symbol": ["AAA", "AAA", "BBB", "BBB"],
        "KMID": [0.1, 0.2, np.nan, np.nan], "VMA5": [1.0, 1.1, np.nan, np.nan],
        "VSTD5": [0.5, np.nan, np.nan, np.nan], "ROC5": [1.0, 1.1, 0.9, 1.0],
    })
    gaps = compute_frame_gaps(frame, cols, "alpha158")
    assert [(g.fields, g.symbols) for g in gaps] == [(("open", "volume"), ("BBB",))]
