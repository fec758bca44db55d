"""Regimes end to end on a real SecantusDB (MongoDB wire protocol), DuckDB and MLflow sqlite:
train + register, nightly idempotence, a server restart mid-backfill, an outage, the mirror readers."""

from __future__ import annotations

import threading
import time

import mlflow
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from foresight.cli import app
from foresight.context import build_context
from marketdata.ingest import run_ingest
from marketdata.sources import SampleSource
from registry.core import CHAMPION, REGIME_MODEL
from registry.regimes import load_regime_model
from scoring.regimes import (
    load_current_regime,
    load_regime_history,
    load_regime_sharpe,
    run_score_regimes,
)
from stores.mongo import REGIMES_COLLECTION, LocalMongoServer, MongoUnavailable, open_mongo

BACKFILL_START = pd.Timestamp("2024-01-01").date()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = LocalMongoServer(tmp_path_factory.mktemp("mongo") / "data").start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def env(tmp_path_factory, server):
    """One FORESIGHT_HOME for the module: 20 symbols x 10 years of sample bars (enough holdout for the regime
    model to show skill over the volatility rule), Mongo at the test server."""
    root = tmp_path_factory.mktemp("regimes")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FORESIGHT_HOME", str(root / "home"))
        mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root}/mlruns/mlflow.db")
        mp.setenv("FORESIGHT_MLFLOW__ARTIFACT_ROOT", str(root / "mlruns" / "artifacts"))
        mp.setenv("FORESIGHT_MONGODB__URI", server.uri)
        mp.setenv("FORESIGHT_MONGODB__DATABASE", "foresight_test")
        mp.setenv("FORESIGHT_MONGODB__SERVER_TIMEOUT_MS", "1500")
        mp.setenv("FORESIGHT_SAMPLE__N_SYMBOLS", "20")
        mp.setenv("FORESIGHT_SAMPLE__N_YEARS", "10")
        mp.setenv("FORESIGHT_REGIMES__N_STARTS", "3")
        ctx = build_context()
        run_ingest(ctx.warehouse, SampleSource(ctx.settings.sample), ctx.settings.guardrails)
        yield ctx


def _db(ctx, server):
    from pymongo import MongoClient

    client = MongoClient(server.uri, serverSelectionTimeoutMS=2000)
    return client, client[ctx.settings.mongodb.database]


def _mirror(ctx) -> pd.DataFrame:
    with ctx.warehouse.session(read_only=True) as con:
        return con.execute("SELECT * FROM regimes ORDER BY universe, date, model_version").df()


def _mongo_docs(ctx, server) -> list[dict]:
    client, db = _db(ctx, server)
    try:
        return list(db[REGIMES_COLLECTION].find({}).sort([("date", 1), ("model_version", 1)]))
    finally:
        client.close()


@pytest.fixture(scope="module")
def trained(env):
    # `foresight train regimes` through the CLI: 3 states, HMM family (the Markov family is unit-tested)
    result = CliRunner().invoke(app, ["train", "regimes", "--n-states", "3", "--models", "hmm"])
    assert result.exit_code == 0, result.output
    model = load_regime_model(env.mlflow, CHAMPION)
    assert model is not None
    return model


def test_train_logs_registers_and_loads_by_alias(env, trained):
    assert trained.version == "1" and trained.params.k == 3
    assert trained.params.labels == ("calm_bull", "neutral", "high_vol_bear")
    run = mlflow.MlflowClient().get_run(trained.run_id)
    m = run.data.metrics
    for key in ("bic", "oos_loglik_per_session", "switches_per_year", "expected_duration_calm_bull",
                "expected_duration_high_vol_bear", "accuracy", "baseline_accuracy"):
        assert key in m, key
    # scored against sample_truth on the holdout: better than the volatility-threshold rule
    assert m["accuracy"] > m["baseline_accuracy"]
    assert m["accuracy"] > 0.5
    assert m["expected_duration_calm_bull"] > 10
    # the walk-forward schedule (history scored with parameters that never saw it) is part of the model
    assert m["walk_forward_refits"] >= 3 and len(trained.params.extra["walk_forward"]) == m["walk_forward_refits"]
    assert m["accuracy_walk_forward_oos"] > 0.5
    # the pyfunc loads by alias and gives causal filtered probabilities
    model = mlflow.pyfunc.load_model(f"models:/{REGIME_MODEL}@{CHAMPION}")
    out = model.predict(pd.DataFrame({"date": pd.bdate_range("2026-01-05", periods=5),
                                      "ret": [0.001, -0.03, 0.002, 0.04, -0.035]}))
    np.testing.assert_allclose(out[list(trained.params.labels)].sum(axis=1), 1.0)
    assert out["regime"].iloc[-1] == "high_vol_bear"


def test_nightly_rerun_changes_nothing(env, server, trained):
    first = run_score_regimes(env)
    assert first.rows == 1 and first.start == first.end and first.mongo_inserted == 1
    assert first.duckdb_inserted == 1 and first.model_version == trained.version
    docs, mirror = _mongo_docs(env, server), _mirror(env)
    again = run_score_regimes(env)
    assert (again.mongo_unchanged, again.duckdb_unchanged, again.mongo_inserted + again.mongo_updated) == (1, 1, 0)
    assert _mongo_docs(env, server) == docs  # scored_at and _id included
    pd.testing.assert_frame_equal(_mirror(env), mirror)
    # a nightly run dated after the last session (weekend/holiday) has nothing to write
    idle = run_score_regimes(env, start=pd.Timestamp("2026-01-03").date(), end=pd.Timestamp("2026-01-03").date())
    assert idle.rows == 0 and idle.mongo_inserted == 0
    with env.warehouse.session(read_only=True) as con:
        current = load_current_regime(con, env.settings.universe)
    assert current["date"] == first.end and current["regime"] == first.last_regime
    assert current["model_version"] == "1" and current["age_sessions"] >= 1
    assert current["in_sample"] is False  # the last day is scored by the latest walk-forward refit
    assert sum(current["probabilities"].values()) == pytest.approx(1.0)


def test_restart_mid_backfill_loses_nothing_and_outage_leaves_duckdb_consistent(env, server, trained):
    # Given a nightly row already written (test above) and a two-year backfill in small batches
    before_mirror = _mirror(env)
    small = build_context(regimes=env.settings.regimes.model_copy(update={"mongo_batch_size": 10}))
    start = BACKFILL_START
    errors: list[BaseException] = []

    def backfill():
        try:
            run_score_regimes(small, start=start)
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    worker = threading.Thread(target=backfill)
    worker.start()
    client, db = _db(env, server)
    deadline = time.monotonic() + 60
    while db[REGIMES_COLLECTION].count_documents({}) < 120 and time.monotonic() < deadline:
        time.sleep(0.02)
    client.close()
    # When the server restarts in the middle of it
    server.stop()
    worker.join(60)
    assert errors and isinstance(errors[0], MongoUnavailable), errors
    # Then the step failed clearly and the mirror did not move (MongoDB is written first)
    pd.testing.assert_frame_equal(_mirror(env), before_mirror)
    # An outage: the step fails fast with a clear message and DuckDB stays consistent
    t0 = time.monotonic()
    with pytest.raises(MongoUnavailable, match="MongoDB write of regimes failed"):
        run_score_regimes(env)
    assert time.monotonic() - t0 < 15
    pd.testing.assert_frame_equal(_mirror(env), before_mirror)

    server.start()  # same port, same storage
    written_before = len(_mongo_docs(env, server))
    assert written_before >= 120, "acknowledged documents survive the restart"
    report = run_score_regimes(small, start=start)
    assert report.mongo_inserted + report.mongo_unchanged == report.rows
    assert report.mongo_unchanged >= written_before  # the retry found them intact
    docs = _mongo_docs(env, server)
    mirror = _mirror(env)
    assert len(docs) == len(mirror) == report.rows
    # the mirror is MongoDB's content; the nightly row kept its scored_at (backfill == nightly value)
    assert list(mirror["date"].astype(str)) == [d["date"].date().isoformat() for d in docs]
    assert list(mirror["regime"]) == [d["regime"] for d in docs]
    # every backfilled day was scored with parameters fitted on earlier sessions only
    assert not mirror["in_sample"].any()
    assert (pd.to_datetime(mirror["fit_end"]) < pd.to_datetime(mirror["date"])).all()
    night = before_mirror.iloc[0]
    same = mirror[mirror["date"] == night["date"]].iloc[0]
    assert same["scored_at"] == night["scored_at"] and same["probabilities"] == night["probabilities"]


def test_readers_and_regime_sharpe(env, trained):
    with env.warehouse.session(read_only=True) as con:
        hist = load_regime_history(con, env.settings.universe, "2024-01-01", "2024-12-31")
        sharpe = load_regime_sharpe(con, env.settings.universe).set_index("regime")
        asof = load_current_regime(con, env.settings.universe, "2024-07-04")  # a holiday: the session before
    assert len(hist) > 240 and hist["date"].is_monotonic_increasing
    assert hist["date"].min().isoformat() >= "2024-01-01" and hist["date"].max().isoformat() <= "2024-12-31"
    assert asof["date"].isoformat() == "2024-07-03"
    # the return at t sits under the regime known at t-1: the high-vol regime's days are the volatile ones
    assert sharpe.loc["high_vol_bear", "vol"] > sharpe.loc["calm_bull", "vol"]
    assert np.isfinite(sharpe["sharpe"]).all()
    assert sharpe["sessions"].sum() == len(load_history_all(env)) - 1


def test_registered_champion_is_what_the_night_wrote(env, trained):
    from features import load_market_series

    # Given two years the champion scored (nightly + backfill, across several walk-forward refits)
    params = trained.params
    with env.warehouse.session(read_only=True) as con:
        stored = load_regime_history(con, env.settings.universe, model_version=trained.version)
        series = load_market_series(con, params.extra["benchmark_symbol"], int(params.extra["vol_window"]))
    series = series.dropna(subset=["ret"])
    # When a reviewer runs the registered champion over the market series
    model = mlflow.pyfunc.load_model(f"models:/{REGIME_MODEL}@{CHAMPION}")
    out = model.predict(pd.DataFrame({"date": series["date"], "ret": series["ret"]}))
    both = stored.merge(out, on="date", suffixes=("", "_pyfunc"))
    # Then it gives the stored label, probabilities and fit dates of every day
    assert len(both) == len(stored) > 400 and stored["fit_end"].nunique() >= 2
    assert (both["regime_pyfunc"] == both["regime"]).all()
    assert (both["in_sample_pyfunc"] == both["in_sample"]).all()
    assert (pd.to_datetime(both["fit_end_pyfunc"]) == pd.to_datetime(both["fit_end"])).all()
    np.testing.assert_allclose(both["regime_probability_pyfunc"], both["regime_probability"], rtol=0, atol=1e-9)
    for label in params.labels:
        np.testing.assert_allclose(both[label], [p[label] for p in both["probabilities"]], rtol=0, atol=1e-9)


def load_history_all(env) -> pd.DataFrame:
    with env.warehouse.session(read_only=True) as con:
        return load_regime_history(con, env.settings.universe)


def test_local_launcher_starts_and_stops_secantusdb(tmp_path):
    from stores.config import MongoSettings

    home = tmp_path / "home"
    with open_mongo(MongoSettings(), home) as db:
        assert db.client.admin.command("ping")["ok"] == 1.0
        port = db.client.address[1]
        db["probe"].insert_one({"x": 1})
        # a second user of the same home (e.g. the API beside the nightly run) shares the running server
        with open_mongo(MongoSettings(), home) as other:
            assert other.client.address[1] == port
            assert other["probe"].count_documents({}) == 1
        assert db["probe"].count_documents({}) == 1, "the borrower must not stop the owner's server"
    assert (home / "mongo").is_dir() and not (home / "mongo.port").exists()
    import socket

    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0, "server still listening after exit"


def test_refit_keeps_label_meaning_and_aliases(env, server, trained):
    # Given v1 as champion; When the model is trained again (a refit, seeded differently)
    result = CliRunner().invoke(app, ["train", "regimes", "--n-states", "3", "--models", "hmm", "--starts", "2"])
    assert result.exit_code == 0, result.output
    client = mlflow.MlflowClient()
    tags = client.get_model_version(REGIME_MODEL, "2").tags
    promoted = tags["promotion.promoted"] == "True"
    alias = CHAMPION if promoted else "challenger"
    assert tags["promotion.alias"] == alias and tags["promotion.champion_version"] == "1"
    challenger = load_regime_model(env.mlflow, alias)
    champion = load_regime_model(env.mlflow, CHAMPION)
    assert challenger.version == "2" and champion.version == ("2" if promoted else "1")
    # a version never holds both aliases
    holders = {a: load_regime_model(env.mlflow, a) for a in (CHAMPION, "challenger")}
    assert len({m.version for m in holders.values() if m is not None}) == sum(m is not None for m in holders.values())
    run = client.get_run(challenger.run_id)
    assert "champion_oos_loglik_per_session" in run.data.metrics
    # Then every label keeps its meaning: same names, nearest (mean, vol) to the previous model's state
    old, new = trained.params, challenger.params
    assert new.labels == old.labels
    assert list(np.argsort(new.vols)) == list(np.argsort(old.vols))
    np.testing.assert_allclose(new.vols, old.vols, rtol=0.25)
    # and scoring the challenger writes its own documents beside v1's (unique on universe, date, version)
    report = run_score_regimes(env, alias=alias)
    assert report.model_version == "2" and report.rows == 1
    client, db = _db(env, server)
    try:
        versions = db[REGIMES_COLLECTION].distinct("model_version", {"date": pd.Timestamp(report.end).to_pydatetime()})
    finally:
        client.close()
    assert sorted(versions) == ["1", "2"]
    with env.warehouse.session(read_only=True) as con:
        latest = load_current_regime(con, env.settings.universe)
        pinned = load_current_regime(con, env.settings.universe, model_version="1")
    assert latest["model_version"] == "2"  # the most recently scored version of the day
    assert pinned["model_version"] == "1" and pinned["date"] == latest["date"]
