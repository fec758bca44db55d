"""Nightly path == full rebuild; labels' NULL tail; re-runs idempotent; version changes force a rebuild."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features import (
    FEATURE_SETS,
    StaleFeaturesError,
    definition_hash,
    feature_columns,
    feature_set_tag,
    load_feature_frame,
    load_training_frame,
    run_features,
)
from features.config import FeatureSettings
from stores.warehouse import Warehouse
from tests.unit.features.helpers import assert_frames_close, edge_case_bars, write_bars
from tests.unit.features.reference import reference_labels

BARS = edge_case_bars(n_symbols=8, n_years=0.8, seed=3)
DATES = sorted(pd.to_datetime(BARS["date"]).unique())
SETTINGS = FeatureSettings(chunk_symbols=4)


def _table(wh: Warehouse, sql: str) -> pd.DataFrame:
    with wh.session(read_only=True) as con:
        df = con.execute(sql).df()
    df["date"] = pd.to_datetime(df["date"])
    return df


@pytest.fixture(scope="module")
def full_wh(tmp_path_factory):
    wh = Warehouse(tmp_path_factory.mktemp("full") / "w.duckdb")
    write_bars(wh, BARS)
    run_features(wh, SETTINGS, full=True)
    return wh


def test_incremental_updates_equal_a_full_rebuild(tmp_path, full_wh):
    # Given a warehouse fed day by day (first 100 sessions, then 1, 5 and the rest), features updated nightly,
    # with three sessions of one symbol missing at first and back-filled with the last batch
    wh = Warehouse(tmp_path / "inc.duckdb")
    dates = pd.to_datetime(BARS["date"])
    gap = (BARS["symbol"] == "SYM006") & dates.isin(DATES[50:53])
    steps = [DATES[99], DATES[100], DATES[105], DATES[-1]]
    prev = None
    summaries = []
    for upto in steps:
        chunk = BARS[(dates <= upto) & ((dates > prev) if prev is not None else True) & ~gap]
        if upto == steps[-1]:
            chunk = pd.concat([chunk, BARS[gap]])
        write_bars(wh, chunk)
        summaries.append(run_features(wh, SETTINGS))
        prev = upto
    # Then the nightly steps computed only the new dates...
    assert summaries[1].sets["alpha158"]["rows"] == BARS[dates == DATES[100]].shape[0]
    assert summaries[1].sets["alpha158"]["mode"] == "incremental"
    assert summaries[1].sets["market"]["rows"] == BARS[dates == DATES[100]].shape[0]
    # ...and the tables equal a full rebuild on the same bars
    for name in FEATURE_SETS:
        q = f"SELECT * FROM features WHERE feature_set = '{name}' ORDER BY symbol, date"
        assert_frames_close(_table(wh, q), _table(full_wh, q), feature_columns(name), rtol=1e-10, atol=1e-13)
    q = "SELECT * FROM labels ORDER BY symbol, date, horizon"
    a, b = _table(wh, q), _table(full_wh, q)
    pd.testing.assert_frame_equal(a, b)


def test_rerun_without_new_bars_changes_nothing(full_wh):
    before = _table(full_wh, "SELECT * FROM features ORDER BY symbol, date, feature_set")
    labels_before = _table(full_wh, "SELECT * FROM labels ORDER BY symbol, date, horizon")
    s = run_features(full_wh, SETTINGS)
    assert s.rows_written == 0 and {v["mode"] for v in s.sets.values()} == {"up-to-date"}
    pd.testing.assert_frame_equal(before, _table(full_wh, "SELECT * FROM features ORDER BY symbol, date, feature_set"))
    pd.testing.assert_frame_equal(labels_before, _table(full_wh, "SELECT * FROM labels ORDER BY symbol, date, horizon"))
    # one row per (symbol, date, feature_set)
    assert not before.duplicated(["symbol", "date", "feature_set"]).any()
    assert len(before) == 2 * len(BARS)


def test_labels_match_reference_and_have_a_null_tail(full_wh):
    got = _table(full_wh, "SELECT * FROM labels ORDER BY symbol, date, horizon")
    want = reference_labels(BARS, SETTINGS.horizons, SETTINGS.entry_lag)
    m = got.merge(want, on=["symbol", "date", "horizon"], suffixes=("", "_ref"), how="outer", indicator=True)
    assert (m["_merge"] == "both").all()
    assert np.array_equal(m["fwd_return"].isna(), m["fwd_return_ref"].isna())
    assert np.allclose(m["fwd_return"].dropna(), m["fwd_return_ref"].dropna(), rtol=1e-12, atol=0)
    assert ((m["label"] == 1) == (m["fwd_return"] > 0)).all()
    # the last H + lag sessions of every symbol are NULL, never partial; the one before is labelled
    for h in SETTINGS.horizons:
        for _sym, g in got[got["horizon"] == h].groupby("symbol"):
            g = g.sort_values("date")
            tail = h + SETTINGS.entry_lag
            assert g["fwd_return"].iloc[-tail:].isna().all() and g["label"].iloc[-tail:].isna().all()
            if len(g) > tail:
                assert g["fwd_return"].iloc[: len(g) - tail].notna().all()


def test_training_frame_joins_one_horizon_without_unlabelled_rows(full_wh):
    with full_wh.session(read_only=True) as con:
        df = load_training_frame(con, "alpha158+market", 5, start=DATES[10], end=DATES[-1])
        scoring = load_feature_frame(con, "alpha158", dates=DATES[-1], symbols=["SYM000", "SYM003"])
    cols = feature_columns("alpha158") + feature_columns("market")
    assert list(df.columns) == ["symbol", "date", *cols, "fwd_return", "label", "label_end"]
    # the exit close sits H + lag of the symbol's own bars after the row
    with full_wh.session(read_only=True) as con:
        own = con.execute("SELECT symbol, date FROM bars ORDER BY symbol, date").df()
    own["exit"] = own.groupby("symbol")["date"].shift(-(5 + SETTINGS.entry_lag))
    both = df.merge(own.assign(date=pd.to_datetime(own["date"])), on=["symbol", "date"])
    assert len(both) == len(df) and (both["label_end"] == pd.to_datetime(both["exit"])).all()
    assert df["label"].notna().all() and set(df["label"].unique()) <= {0, 1}
    assert df["date"].min() >= DATES[10]
    assert df["date"].max() == DATES[-1 - 5 - SETTINGS.entry_lag]
    assert df.equals(df.sort_values(["date", "symbol"], kind="stable"))
    assert ((df["label"] == 1) == (df["fwd_return"] > 0)).all()
    assert list(scoring["symbol"]) == ["SYM000", "SYM003"] and (scoring["date"] == DATES[-1]).all()
    assert list(scoring.columns) == ["symbol", "date", *feature_columns("alpha158")]


def test_a_changed_definition_is_refused_by_loaders_and_rebuilt_by_the_run(full_wh):
    # Given stored rows registered under another hash (as if the SQL changed since they were built)
    with full_wh.session() as con:
        con.execute("UPDATE feature_sets SET definition_hash = 'old' WHERE name = 'alpha158'")
        con.execute("UPDATE features SET \"KMID\" = 99 WHERE feature_set = 'alpha158'")
    with full_wh.session(read_only=True) as con, pytest.raises(StaleFeaturesError, match="--full"):
        load_feature_frame(con, "alpha158")
    # When features are updated (incrementally), the set is rebuilt in full
    s = run_features(full_wh, SETTINGS)
    assert s.sets["alpha158"]["mode"] == "full" and s.sets["market"]["mode"] == "up-to-date"
    with full_wh.session(read_only=True) as con:
        assert (load_feature_frame(con, "alpha158")["KMID"] != 99).all()
        reg = con.execute("SELECT name, version, definition_hash FROM feature_sets ORDER BY name").fetchall()
    assert reg == [(n, FEATURE_SETS[n].version, definition_hash(n)) for n in sorted(FEATURE_SETS)]
    assert feature_set_tag("alpha158+market").startswith(f"alpha158@{FEATURE_SETS['alpha158'].version}:")
