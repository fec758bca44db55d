"""D3 end to end on a real DuckDB file and MLflow sqlite store: train, register, backfill, score, evaluate."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from foresight.context import build_context
from marketdata.config import SampleSettings
from marketdata.ingest import run_ingest
from marketdata.sources import SampleSource
from models.forecasts import ForecastSettings

SMALL = ForecastSettings(
    bootstrap_reps=150, calibration_sessions=120, conformal_window=120, conformal_min_scores=40,
    lgbm_rounds=60, backfill_sessions=90, mdd_paths=200,
)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One sample market (12 symbols x 4 years), one training run with a 90-session backfill."""
    tmp = tmp_path_factory.mktemp("forecasts")
    mp = pytest.MonkeyPatch()
    mp.setenv("FORESIGHT_HOME", str(tmp / "home"))
    mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp}/mlruns/mlflow.db")
    mp.setenv("FORESIGHT_MLFLOW__ARTIFACT_ROOT", str(tmp / "mlruns" / "artifacts"))
    ctx = build_context(forecasts=SMALL)
    run_ingest(ctx.warehouse, SampleSource(SampleSettings(n_symbols=12, n_years=4)), ctx.settings.guardrails)
    from flows.train import run_forecast_training

    report = run_forecast_training(ctx)
    yield ctx, report
    mp.undo()


def _table(con, name: str) -> pd.DataFrame:
    return con.execute(f"SELECT * FROM {name} ORDER BY ALL").df()


def test_training_registers_champion_with_figures(trained):
    ctx, report = trained
    from mlflow import MlflowClient

    from registry.core import FORECAST_MODEL, alias_version

    assert report.alias == "champion"
    assert str(alias_version(ctx.mlflow, FORECAST_MODEL, "champion")) == report.model_version
    client = MlflowClient(ctx.settings.mlflow.tracking_uri)
    figures = {a.path for a in client.list_artifacts(report.run_id, "figures")}
    assert {"figures/fan_chart.png", "figures/calibration.png", "figures/rolling_coverage.png"} <= figures
    run = client.get_run(report.run_id)
    assert "h5_pinball_gaussian" in run.data.metrics and "var99_kupiec_p" in run.data.metrics
    # champion = lowest holdout pinball per horizon; the note says when a baseline wins
    for row in report.holdout.values():
        assert row["champion"] == min(row["pinball"], key=row["pinball"].get)
        if row["champion"] != "lightgbm_cqr":
            assert "does not beat both baselines" in row["note"]
    assert set(report.champions) == {"1", "5", "21", "63"}
    from registry.forecasts import load_forecast_model

    assert load_forecast_model(ctx.mlflow, alias="no-such-alias") is None
    loaded = load_forecast_model(ctx.mlflow)
    assert loaded.version == report.model_version and set(loaded.bundle.horizons) == {1, 5, 21, 63}
    # the generic pyfunc face gives the champion's quantiles at the last date of the input returns
    import mlflow.pyfunc

    from features import load_portfolio_returns

    with ctx.warehouse.session(read_only=True) as con:
        r = load_portfolio_returns(con, ctx.settings.forecasts)
    model = mlflow.pyfunc.load_model(f"models:/{FORECAST_MODEL}@champion")
    out = model.predict(pd.DataFrame({"date": r.index, "return": r.to_numpy()}))
    assert sorted(out["horizon_days"]) == [1, 5, 21, 63]
    assert (out["p05"] <= out["p50"]).all() and (out["p50"] <= out["p95"]).all()


def test_registered_champion_is_what_the_night_wrote(trained):
    import mlflow.pyfunc

    from features import load_portfolio_returns
    from registry.core import FORECAST_MODEL

    ctx, report = trained
    # Given the fans the backfill and the nights published with the champion
    with ctx.warehouse.session(read_only=True) as con:
        stored = con.execute("SELECT * FROM forecasts WHERE model_version = ? ORDER BY as_of, horizon_days",
                             [report.model_version]).df()
        r = load_portfolio_returns(con, ctx.settings.forecasts)
    origins = set(pd.to_datetime(stored["as_of"]))
    # When the registered champion forecasts the same origins from the same returns
    model = mlflow.pyfunc.load_model(f"models:/{FORECAST_MODEL}@champion")
    out = model.predict(pd.DataFrame({"date": r.index, "return": r.to_numpy(), "as_of": r.index.isin(origins)}))
    stored["as_of"] = pd.to_datetime(stored["as_of"])
    out["as_of"] = pd.to_datetime(out["as_of"])
    both = stored.merge(out, on=["as_of", "horizon_days"], suffixes=("", "_pyfunc"))
    # Then every published percentile is what the pyfunc gives, to 1e-9
    assert len(both) == len(stored) == SMALL.backfill_sessions * 4
    assert (both["method"] == both["method_pyfunc"]).all()
    for col in ("p05", "p50", "p95", "start_equity"):
        np.testing.assert_allclose(both[f"{col}_pyfunc"], both[col], rtol=0, atol=1e-9)


def test_published_fan_is_ordered_and_readable(trained):
    ctx, _ = trained
    from scoring.forecasts import load_forecast_kpis, load_latest_forecast

    with ctx.warehouse.session(read_only=True) as con:
        fc = _table(con, "forecasts")
        latest = load_latest_forecast(con, "equal_weight")
        only21 = load_latest_forecast(con, "equal_weight", horizon=21)
        kpis = load_forecast_kpis(con, "equal_weight")
        last_bar = con.execute("SELECT max(date) FROM bars").fetchall()[0][0]
    assert (fc["p05"] <= fc["p50"]).all() and (fc["p50"] <= fc["p95"]).all()
    one = fc[fc["horizon_days"] == 1]
    assert (one["p01"] <= one["p05"]).all() and (one["p95"] <= one["p99"]).all()
    assert latest["as_of"] == last_bar.isoformat()
    assert [f["horizon_days"] for f in latest["forecasts"]] == [1, 5, 21, 63]
    assert [f["horizon_days"] for f in only21["forecasts"]] == [21]
    assert fc["as_of"].nunique() == SMALL.backfill_sessions
    assert kpis["var_zone"] in {"green", "yellow", "red"}
    assert 0.0 <= kpis["var"]["max_drawdown_percentile"] <= 1.0
    assert kpis["var"]["max_drawdown_window"] == kpis["var"]["basel_window"]
    assert json.loads(json.dumps(kpis)) == kpis and json.loads(json.dumps(latest)) == latest  # API-ready
    assert set(kpis["coverage"]) >= {"1", "5"}
    cov1 = kpis["coverage"]["1"]
    assert 0.0 <= cov1["coverage"] <= 1.0 and cov1["n"] > 0
    assert {"skill_vs_bootstrap", "skill_vs_gaussian", "width_ratio_median", "coverage_non_overlapping"} <= set(cov1)


def test_nothing_is_evaluated_before_maturity(trained):
    ctx, _ = trained
    with ctx.warehouse.session(read_only=True) as con:
        ev = _table(con, "forecast_evaluations")
        fc = _table(con, "forecasts")
        dates = [d for (d,) in con.execute("SELECT DISTINCT date FROM bars ORDER BY date").fetchall()]
    pos = {d: i for i, d in enumerate(dates)}
    last = len(dates) - 1
    # every evaluation's outcome is exactly H sessions after its as-of, and within the data
    gap = [pos[r] - pos[a] for a, r in zip(ev["as_of"].dt.date, ev["realized_on"].dt.date, strict=True)]
    assert gap == ev["horizon_days"].tolist()
    # every forecast whose H-th session exists is evaluated; none of the others is
    merged = fc.merge(ev[["as_of", "horizon_days"]], on=["as_of", "horizon_days"], how="left", indicator=True)
    matured = np.array([pos[a] + h <= last for a, h in zip(merged["as_of"].dt.date, merged["horizon_days"], strict=True)])
    assert np.array_equal(matured, (merged["_merge"] == "both").to_numpy())
    # realised equity is the start equity times the portfolio's growth over the window
    assert (ev["covered"] == ((ev["realized"] >= ev["p05"]) & (ev["realized"] <= ev["p95"]))).all()
    assert ev["pit"].between(0, 1).all()


def test_dashboard_serves_the_forecast_kpis_of_the_one_reader(trained):
    from foresight.services import ServiceFactory
    from scoring.forecasts import load_forecast_kpis
    from stores.jsonable import to_jsonable
    from stores.snapshots import WarehouseReader

    ctx, _ = trained
    cfg = ctx.settings.forecasts
    with ctx.warehouse.session(read_only=True) as con:
        kpis = to_jsonable(load_forecast_kpis(con, cfg.portfolio, cfg.var_window, cfg))
    panels = ServiceFactory.default(WarehouseReader(ctx.warehouse), ctx.settings).get("DashboardService").kpis()["panels"]
    # the VaR tests, Basel zone, skill and drawdown percentile README promises, as the reader computes them
    assert panels["forecast"] == kpis
    assert panels["forecast"]["var_zone"] in {"green", "yellow", "red"}
    assert {"kupiec_p", "cc_p"} <= set(panels["forecast"]["var"]["var99"])
    assert 0.0 <= panels["forecast"]["var"]["max_drawdown_percentile"] <= 1.0
    assert all("skill_vs_gaussian" in row for row in panels["forecast"]["coverage"].values())
    assert {h: row["coverage"] for h, row in panels["forecast_coverage"].items()} == {
        h: row["coverage"] for h, row in kpis["coverage"].items()}


def test_evaluating_at_an_earlier_date_only_uses_what_had_matured(trained, tmp_path):
    ctx, _ = trained
    from features import load_portfolio_returns
    from models.forecasts import compute_equity
    from scoring.forecasts import compute_evaluations, load_forecasts

    with ctx.warehouse.session(read_only=True) as con:
        fc = load_forecasts(con, "equal_weight")
        fc["as_of"] = pd.to_datetime(fc["as_of"]).dt.date
        cut = sorted(fc["as_of"].unique())[40]
        returns = load_portfolio_returns(con, ctx.settings.forecasts)
    ev = compute_evaluations(fc, pd.DataFrame(), compute_equity(returns), cut)
    assert len(ev) > 0
    assert (ev["realized_on"] <= cut).all()
    # a forecast made at the cut date itself has matured for no horizon
    assert not (ev["as_of"] == cut).any()


def test_rerun_changes_nothing_and_scoring_is_causal(trained):
    ctx, _ = trained
    from scoring.forecasts import run_backfill_forecasts, run_evaluate_forecasts, run_score_forecasts

    with ctx.warehouse.session(read_only=True) as con:
        before = {t: _table(con, t) for t in ("forecasts", "forecast_candidates", "forecast_evaluations")}
        as_ofs = sorted(before["forecasts"]["as_of"].dt.date.unique())
    # Given the warehouse holds bars after D, scoring "as of D" must reproduce the backfilled row of D
    # bit for bit (it reads bars <= D only): the upsert finds nothing to write.
    mid = as_ofs[len(as_ofs) // 2]
    assert run_score_forecasts(ctx, as_of=mid).forecasts_written == 0
    assert run_score_forecasts(ctx).forecasts_written == 0
    assert run_evaluate_forecasts(ctx).evaluations_written == 0
    again = run_backfill_forecasts(ctx, sessions=SMALL.backfill_sessions)
    assert (again.forecasts_written, again.candidates_written, again.evaluations_written) == (0, 0, 0)
    with ctx.warehouse.session(read_only=True) as con:
        for t, frame in before.items():
            pd.testing.assert_frame_equal(_table(con, t), frame)
