"""The backtest's regime labels: one per date when several regime model versions were scored."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from backtest.config import BacktestSettings
from backtest.runner import load_backtest_inputs, load_backtest_regimes
from stores.warehouse import Warehouse, transaction, upsert, utcnow
from tests.unit.foresight.serving_data import ensure_contract_tables, fit_columns, write_night

DATES = [dt.date(2025, 12, 23), dt.date(2025, 12, 24), dt.date(2025, 12, 26), dt.date(2025, 12, 29)]


def test_two_regime_versions_give_one_out_of_sample_newest_regime_per_date(tmp_path):
    wh = Warehouse(tmp_path / "w.duckdb")
    ensure_contract_tables(wh)
    for i, d in enumerate(DATES):  # regime version 1: calm_bull / high_vol_bear, out of sample
        write_night(wh, d, seed=i)
    # version 2, scored later over the same dates: in sample on the first two (its training window)
    v2 = pd.DataFrame([{"date": d, "universe": "default", "regime": "neutral", "probabilities": "{}",
                        "model_name": "foresight-regime", "model_version": "2", "in_sample": i < 2,
                        "scored_at": utcnow() + dt.timedelta(hours=1)} for i, d in enumerate(DATES)])
    with wh.session() as con, transaction(con):
        con.execute("UPDATE regimes SET in_sample = false")
        upsert(con, "regimes", fit_columns(con, "regimes", v2), ["universe", "date", "model_version"])

    with wh.session(read_only=True) as con:
        assert con.execute("SELECT count(*) FROM regimes").fetchall()[0][0] == 2 * len(DATES)
        regimes = load_backtest_regimes(con)
        _, _, from_inputs, _ = load_backtest_inputs(con, BacktestSettings())
    assert list(pd.to_datetime(regimes["date"]).dt.date) == DATES  # one row per date, oldest first
    # in-sample v2 loses to out-of-sample v1; where both are out of sample the newest version (v2) wins
    assert list(regimes["regime"]) == ["calm_bull", "high_vol_bear", "neutral", "neutral"]
    pd.testing.assert_frame_equal(from_inputs, regimes)


def test_no_regime_rows_is_none(tmp_path):
    wh = Warehouse(tmp_path / "w.duckdb")
    ensure_contract_tables(wh)
    with wh.session(read_only=True) as con:
        assert load_backtest_regimes(con) is None
