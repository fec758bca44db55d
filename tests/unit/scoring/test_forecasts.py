"""Forecast evaluation rows, summaries and the extra-feature loader (pure parts + a real DuckDB file)."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest

from features.series import load_extra_features
from models.forecasts import ForecastSettings
from scoring.forecasts import compute_evaluations, compute_forecast_summary
from stores.warehouse import Warehouse, transaction, upsert

DATES = pd.bdate_range("2025-01-01", periods=12)


def _equity() -> pd.Series:
    # equity doubles every session: E_t = 2^t, so a 2-session outcome is 4x the start
    return pd.Series(2.0 ** np.arange(12), index=DATES)


def _forecast(as_of, h, p05, p50, p95, start=10.0) -> dict:
    return {"as_of": as_of.date(), "portfolio": "pf", "horizon_days": h, "p05": p05, "p50": p50, "p95": p95,
            "start_equity": start, "model_name": "foresight-forecast", "model_version": "1", "method": "gaussian",
            "p01": np.nan, "p99": np.nan, "sigma_daily": 0.1, "in_sample": False}


def test_evaluation_waits_for_the_h_th_session_and_rescales_to_start_equity():
    fc = pd.DataFrame([
        _forecast(DATES[3], 2, 20.0, 40.0, 60.0),   # matures on DATES[5]
        _forecast(DATES[8], 2, 20.0, 40.0, 60.0),   # matures on DATES[10]
    ])
    ev = compute_evaluations(fc, pd.DataFrame(), _equity(), DATES[9].date())
    assert ev["as_of"].tolist() == [DATES[3].date()]  # the second has not matured by DATES[9]
    row = ev.iloc[0]
    assert row["realized_on"] == DATES[5].date()
    assert row["realized"] == pytest.approx(40.0)  # start 10 x (2^5 / 2^3)
    assert bool(row["covered"]) and not row["below_p05"] and not row["above_p95"]
    # pinball in start-equity units: y = 4, q05 = 2 -> 0.05 * 2; q50 = 4 -> 0; q95 = 6 -> 0.05 * 2
    assert row["pinball_p05"] == pytest.approx(0.1)
    assert row["pinball_p50"] == pytest.approx(0.0)
    assert row["pinball_p95"] == pytest.approx(0.1)
    assert row["pinball"] == pytest.approx(0.2 / 3)
    assert row["pit"] == pytest.approx(0.5)
    later = compute_evaluations(fc, pd.DataFrame(), _equity(), DATES[11].date())
    assert len(later) == 2


def test_a_miss_below_the_band_is_counted_in_the_lower_tail():
    fc = pd.DataFrame([_forecast(DATES[0], 1, 25.0, 30.0, 35.0)])  # realised 20
    ev = compute_evaluations(fc, pd.DataFrame(), _equity(), DATES[-1].date())
    assert not bool(ev["covered"].iloc[0]) and bool(ev["below_p05"].iloc[0])
    assert ev["pit"].iloc[0] < 0.05


def test_summary_counts_non_overlapping_origins():
    n = 20
    as_of = [d.date() for d in pd.bdate_range("2025-01-01", periods=n)]
    realized_on = [d.date() for d in pd.bdate_range("2025-01-01", periods=n + 5)[5:]]
    ev = pd.DataFrame({
        "as_of": as_of, "realized_on": realized_on, "horizon_days": 5,
        "covered": [i % 10 != 0 for i in range(n)], "below_p05": [i % 10 == 0 for i in range(n)],
        "above_p95": False, "pinball": 1.0, "pinball_gaussian": 2.0, "pinball_bootstrap": 1.0,
        "pinball_lightgbm_cqr": 1.5, "pit": 0.5, "width_ratio": 3.29, "in_sample": False,
    })
    s = compute_forecast_summary(ev)["5"]
    # origins 0, 5, 10, 15 do not overlap; 0 and 10 are misses
    assert s["n_non_overlapping"] == 4
    assert s["coverage_non_overlapping"] == pytest.approx(0.5)
    assert s["coverage"] == pytest.approx(0.9)
    assert s["skill_vs_gaussian"] == pytest.approx(0.5)
    assert s["skill_vs_bootstrap"] == pytest.approx(0.0)


def test_regime_probabilities_join_as_features_from_the_latest_model(tmp_path):
    wh = Warehouse(tmp_path / "w.duckdb")
    wh.migrate()
    rows = []
    for version, scored, p in (("1", dt.datetime(2025, 1, 1), 0.1), ("2", dt.datetime(2025, 2, 1), 0.7)):
        for d in DATES[:3]:
            rows.append({"date": d.date(), "universe": "default", "regime": "bull",
                         "probabilities": json.dumps({"bull": p, "bear": 1 - p}), "model_name": "foresight-regime",
                         "model_version": version, "scored_at": scored})
    with wh.session() as con:
        with transaction(con):
            upsert(con, "regimes", pd.DataFrame(rows), ["universe", "date", "model_version"])
        assert load_extra_features(con, ForecastSettings()) is None  # off by default
        extra = load_extra_features(con, ForecastSettings(regime_features=True), "default")
    assert list(extra.columns) == ["regime_p_bull", "regime_p_bear"]
    assert extra["regime_p_bull"].tolist() == pytest.approx([0.7, 0.7, 0.7])


def test_published_forecasts_are_kept_across_model_versions_unless_overwritten(tmp_path):
    from scoring.forecasts import load_forecasts, save_evaluations, save_forecasts

    wh = Warehouse(tmp_path / "w.duckdb")
    wh.migrate()
    now = dt.datetime(2025, 1, 20)

    def rows(version, p50):
        fc = pd.DataFrame([{**_forecast(DATES[3], 2, 20.0, p50, 60.0), "model_version": version,
                            "matures_on": DATES[5].date(), "run_id": "r", "created_at": now}])
        cand = pd.DataFrame([{"as_of": DATES[3].date(), "portfolio": "pf", "horizon_days": 2, "method": "gaussian",
                              "p01": np.nan, "p05": 20.0, "p50": p50, "p95": 60.0, "p99": np.nan,
                              "start_equity": 10.0, "champion": True, "model_version": version, "created_at": now}])
        return fc, cand

    with wh.session() as con:
        assert save_forecasts(con, *rows("1", 40.0)) == (1, 1)
        ev = compute_evaluations(load_forecasts(con, "pf").assign(as_of=DATES[3].date()), pd.DataFrame(),
                                 _equity(), DATES[-1].date())
        assert save_evaluations(con, ev) == 1
        assert load_forecasts(con, "pf", unevaluated_only=True).empty
        # Given v2 forecasts the same date differently, the published v1 record stays...
        assert save_forecasts(con, *rows("2", 45.0)) == (0, 0)
        assert con.execute("SELECT model_version, p50 FROM forecasts").fetchall() == [("1", 40.0)]
        # ...unless overwritten explicitly; then the stale evaluation is due again.
        assert save_forecasts(con, *rows("2", 45.0), overwrite=True) == (1, 1)
        due = load_forecasts(con, "pf", unevaluated_only=True)
        assert due["model_version"].tolist() == ["2"]
