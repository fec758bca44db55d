"""D1 end to end on the real feature store: sample market -> Alpha158 -> tuned, calibrated, leak-controlled,
registered, gated model -> signals table with additive attribution; promote / rollback; suspect never
champion; the table's planted leaks flagged through the training steps; no skill, no champion."""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest

import features
from foresight.context import build_context
from marketdata.config import SampleSettings
from marketdata.ingest import run_ingest
from marketdata.sources import SampleSource
from models.metrics import compute_ece
from registry.core import CHALLENGER, CHAMPION, SIGNAL_MODEL, alias_version, configure

pytestmark = pytest.mark.slow

FAST = {"families": ("lightgbm",), "max_rounds": 60, "trials": 3, "n_folds": 3, "control_shuffles": 3,
        "feature_set": "alpha158", "entry_lag": 1}


def _coin(frame: pd.DataFrame) -> np.ndarray:
    """A fixed fair coin per (symbol, date): the same row gets the same toss in every build of the data."""
    key = pd.util.hash_pandas_object(frame[["symbol", "date"]].assign(date=pd.to_datetime(frame["date"])),
                                     index=False).to_numpy()
    return (key >> np.uint64(11)) % np.uint64(2)


@dataclass
class CoinLabels:
    """A frame source whose labels before `before` are coin tosses (a model of them has nothing to learn)."""

    inner: object
    before: pd.Timestamp

    def _apply(self, frame: pd.DataFrame) -> pd.DataFrame:
        out = frame.copy()
        early = (pd.to_datetime(out["date"]) < self.before).to_numpy()
        out.loc[early, "label"] = _coin(out)[early].astype(out["label"].dtype)
        return out

    def rebuild(self, cuts):
        return [self._apply(f) for f in self.inner.rebuild(cuts)]


def coin_label_dataset(ds, settings, before: pd.Timestamp):
    from flows.train import make_dataset

    source = CoinLabels(ds.source, before)
    return make_dataset(source._apply(ds.frame), ds.feature_cols, settings, feature_set_version=ds.feature_set_version,
                        sources=["sample"], source=source, planted=ds.planted)


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """One warehouse with 30 symbols x 4 years of the sample market and its alpha158 features."""
    root = tmp_path_factory.mktemp("signals")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FORESIGHT_HOME", str(root / "home"))
        mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root}/mlruns/mlflow.db")
        mp.setenv("FORESIGHT_MLFLOW__ARTIFACT_ROOT", str(root / "mlruns" / "artifacts"))
        # Small trees and few trials: the flow reads its settings from the environment like the CLI does.
        for key, value in {"MAX_ROUNDS": "60", "N_FOLDS": "3", "CONTROL_SHUFFLES": "3"}.items():
            mp.setenv(f"FORESIGHT_SIGNALS__{key}", value)
        ctx = build_context()
        run_ingest(ctx.warehouse, SampleSource(SampleSettings(n_symbols=30, n_years=4)), ctx.settings.guardrails)
        features.run_features(ctx.warehouse, ctx.settings.features, sets=["alpha158"])
        yield ctx


@pytest.fixture(scope="module")
def first(env, prefect_harness):
    """The `train-signals` Prefect flow, run for real under the (session's) Prefect test harness."""
    from flows.train import TrainSignalsReport, resolve_settings, step_dataset, train_signals_flow

    out = train_signals_flow(trials=3, families=["lightgbm"])
    settings = resolve_settings(env, trials=3, families=["lightgbm"])
    assert settings.model_dump(include=set(FAST)) == FAST
    return step_dataset(env, settings), settings, TrainSignalsReport(**out)


def test_planted_signal_is_found_and_registered_as_champion(env, first):
    ds, settings, report = first
    m = report.metrics
    # The planted 10-day reversal is found: AUC many (date-clustered) SE above 0.5, beats the base rate
    assert ds.is_sample_data and ds.feature_set_version.startswith("alpha158@")
    assert m["auc"] > 0.5 + 3 * max(m["auc_se_date"], m["auc_se_null"])
    assert m["log_loss"] < m["log_loss_base_rate"]
    assert m["brier_skill"] > 0 and m["rank_ic_mean"] > 0.05
    # The shuffled-label control sits at 0.5, the leak control gets the same model back from the market
    # data cut after the fit and development windows, and the skill sits under the planted signal's ceiling
    assert report.controls["shuffled_passed"] and abs(report.controls["shuffled_auc_z"]) <= 3
    assert report.controls["leak_passed"], report.suspicion_reasons
    assert report.controls["leak_fit_rows_changed"] == 0 and report.controls["leak_development_rows_changed"] == 0
    assert report.controls["leak_fit_max_abs_diff"] <= 1e-9
    assert m["auc"] < report.controls["ceiling_auc"] < 0.7
    assert not report.suspect
    # It beats the no-skill baselines by the required date-clustered SE, and becomes champion
    assert m["skill_auc_z"] >= settings.skill_z and m["skill_log_loss_gain_z"] >= settings.skill_z
    assert report.alias == CHAMPION and str(alias_version(env.mlflow, SIGNAL_MODEL, CHAMPION)) == report.version
    assert report.champion == report.version and report.reason.startswith("no current champion; skill:")

    client = configure(env.mlflow)
    run = client.get_run(report.run_id)
    assert run.data.params["feature_set_version"] == ds.feature_set_version
    assert run.data.params["data_fingerprint"] == ds.fingerprint
    assert run.data.params["horizon"] == "5" and "holdout_start" in run.data.params
    assert run.data.tags["code_version"] and run.data.tags["suspect"] == "false"
    assert run.data.tags["control_leak_passed"] == "true" and "planted signal" in run.data.tags["suspicion_ceiling"]
    assert run.data.metrics["holdout_auc"] == pytest.approx(m["auc"])
    arts = {a.path for a in client.list_artifacts(report.run_id)}
    assert {"reliability_diagram.png", "feature_importance.png", "optuna_history.png", "evaluation.json"} <= arts
    nested = client.search_runs([run.info.experiment_id], f"tags.mlflow.parentRunId = '{report.run_id}'")
    assert len(nested) == settings.trials
    assert all("mean_fold_log_loss" in r.data.metrics or r.data.tags["optuna.state"] == "PRUNED" for r in nested)
    mv = client.get_model_version(SIGNAL_MODEL, report.version)
    assert mv.tags["promotion.alias"] == CHAMPION and "Promotion of foresight-signal" in mv.description


def test_reference_window_for_monitoring_is_logged_on_the_run(env, first):
    from monitoring.store import load_reference

    ds, _, report = first
    frame, holdout, source = load_reference(env.mlflow, SIGNAL_MODEL, report.version)
    assert source == "artifact" and holdout["ece"] >= 0
    lo, hi = (pd.Timestamp(d) for d in report.holdout)
    window = ds.frame[ds.frame["date"] <= hi]
    assert len(frame) == min(len(window), 50_000) and frame["date"].max() == hi
    assert {"symbol", "date", "probability", "label", *ds.feature_cols} <= set(frame.columns)
    in_holdout = pd.to_datetime(frame["date"]).between(lo, hi)
    assert in_holdout.any() and (~in_holdout).any()
    # probability + label exactly on the holdout rows, matching the holdout predictions
    assert frame.loc[in_holdout, ["probability", "label"]].notna().all().all()
    assert frame.loc[~in_holdout, "probability"].isna().all()
    assert frame.loc[in_holdout, "probability"].between(0, 1).all()


def test_holdout_calibration_is_within_its_sampling_bound_and_a_broken_calibrator_is_not(env, first):
    from models.signals import _logit, _sigmoid
    from monitoring.calibration import compute_ece_consistency_pvalue
    from monitoring.dependence import compute_shock_paths
    from registry.signals import load_signal_version

    ds, settings, report = first
    model = load_signal_version(env.mlflow, report.version).model
    start = pd.Timestamp(report.holdout[0])
    hold, known = ds.frame[ds.frame["date"] >= start], ds.frame[ds.frame["date"] < start]
    p = model.predict_proba(hold)
    # The bound: the ECE that outcomes drawn from these very probabilities reach in 99% of draws, each draw
    # moved by a stretch of the market's own mostly-up or mostly-down sessions from before the holdout (rows of
    # one date share the market's move: the holdout is worth far fewer independent rows than it has)
    days = sorted(hold["date"].unique())
    index = hold["date"].map({d: i for i, d in enumerate(days)}).to_numpy()
    shocks = compute_shock_paths(known["date"], known["label"], len(days), 500, seed=3)

    def pvalue(prob):
        return compute_ece_consistency_pvalue(prob, hold["label"], n_bins=settings.ece_bins, n_resamples=500,
                                              date_index=index, shocks=shocks)

    assert report.metrics["ece"] == pytest.approx(compute_ece(hold["label"], p, settings.ece_bins))
    assert pvalue(p) >= 0.01, report.metrics["ece"]
    # The table's broken calibrator (over-confident and shifted) is far outside that bound
    assert pvalue(_sigmoid(2.0 * _logit(p) + 0.3)) < 0.01


def test_score_signals_upserts_additive_attribution_idempotently(env, first):
    from models.signals import attribution_total
    from scoring.signals import run_score_signals

    _, _, report = first
    with env.warehouse.session(read_only=True) as con:
        last_dates = [r[0] for r in con.execute(
            "SELECT DISTINCT date FROM features ORDER BY date DESC LIMIT 3").fetchall()]
    r1 = run_score_signals(env, start=min(last_dates), end=max(last_dates))
    assert r1.rows_written == r1.rows_scored == 90 and r1.model_version == report.version
    assert r1.run_id == report.run_id and r1.skipped_symbols == []
    again = run_score_signals(env, start=min(last_dates), end=max(last_dates))
    assert again.rows_written == 0 and again.unchanged == 90
    with env.warehouse.session(read_only=True) as con:
        rows = con.execute("SELECT * FROM signals ORDER BY date, symbol").df()
    assert len(rows) == 90 and set(rows["model_name"]) == {SIGNAL_MODEL} and set(rows["run_id"]) == {report.run_id}
    totals = [attribution_total(a, b) for a, b in zip(rows["attribution"], rows["base_value"], strict=True)]
    np.testing.assert_allclose(totals, rows["raw_score"], atol=1e-6)
    items = json.loads(rows["attribution"].iloc[0])
    assert len(items) == env.settings.scoring.top_k_attribution + 1 and items[-1]["feature"] == "other"


def test_registered_champion_is_what_the_night_wrote(env, first):
    import mlflow

    import features
    from scoring.signals import run_score_signals

    ds, _, report = first
    # Given the nights the scorer wrote with the champion
    with env.warehouse.session(read_only=True) as con:
        nights = [r[0] for r in con.execute(
            "SELECT DISTINCT date FROM features ORDER BY date DESC LIMIT 3").fetchall()]
    run_score_signals(env, start=min(nights), end=max(nights))
    with env.warehouse.session(read_only=True) as con:
        stored = con.execute("SELECT * FROM signals WHERE date >= ? AND model_version = ? ORDER BY date, symbol",
                             [min(nights), report.version]).df()
        frame = features.load_feature_frame(con, ds.feature_set, dates=nights)
    # When a reviewer loads the champion from the registry and predicts the same inputs
    pyfunc = mlflow.pyfunc.load_model(f"models:/{SIGNAL_MODEL}@{CHAMPION}")
    assert pyfunc.metadata.signature is not None
    out = pyfunc.predict(frame[["symbol", "date", *ds.feature_cols]])
    assert list(out.columns) == ["symbol", "date", "probability", "raw_score", "base_value", "attribution"]
    out["date"] = pd.to_datetime(out["date"])
    stored["date"] = pd.to_datetime(stored["date"])
    both = stored.merge(out, on=["symbol", "date"], suffixes=("", "_pyfunc"))
    # Then it gives exactly what the night stored: probability, raw score and attribution
    assert len(both) == len(stored) == 90
    for col in ("probability", "raw_score", "base_value"):
        np.testing.assert_allclose(both[f"{col}_pyfunc"], both[col], rtol=0, atol=1e-9)
    for mine, night in zip(both["attribution_pyfunc"], both["attribution"], strict=True):
        a, b = json.loads(mine), json.loads(night)
        assert [x["feature"] for x in a] == [x["feature"] for x in b]
        np.testing.assert_allclose([x["contribution"] for x in a], [x["contribution"] for x in b], rtol=0, atol=1e-9)


def test_symbols_with_too_little_history_are_skipped_and_reported(env, first):
    from scoring.config import ScoringSettings
    from scoring.signals import run_score_signals

    ctx = build_context(scoring=ScoringSettings(min_history_sessions=40))
    with env.warehouse.session(read_only=True) as con:
        dates = [r[0] for r in con.execute("SELECT DISTINCT date FROM features ORDER BY date LIMIT 45").fetchall()]
    rep = run_score_signals(ctx, dates=dates)
    assert rep.skipped_rows == 30 * 39  # sessions 1..39 of every symbol
    assert rep.rows_scored == 30 * 6
    early = run_score_signals(ctx, dates=dates[:10])
    assert early.rows_scored == 0 and len(early.skipped_symbols) == 30


def test_no_model_behind_the_alias_is_a_clear_error(env):
    from scoring.signals import NoChampionError, run_score_signals

    with pytest.raises(NoChampionError, match="foresight train signals"):
        run_score_signals(env, alias="nobody")


def test_gate_worse_is_challenger_then_promote_and_rollback_are_recorded(env, first):
    from flows.train import run_signal_steps
    from training.promotion import rollback_champion

    ds, settings, report = first
    # Given a model trained on scrambled labels (nothing to learn), gated on the same real holdout window
    worse_ds = coin_label_dataset(ds, settings, before=pd.Timestamp(report.holdout[0]))
    worse = run_signal_steps(env, worse_ds, settings.model_copy(update={"trials": 1, "control_shuffles": 1}))
    # Then the gate keeps the champion and records why on the version (it is not suspect: the controls pass)
    assert worse.alias == CHALLENGER and not worse.promoted and not worse.suspect, worse.suspicion_reasons
    assert worse.reason.startswith("no skill over the no-skill baselines")
    assert str(alias_version(env.mlflow, SIGNAL_MODEL, CHAMPION)) == report.version
    client = configure(env.mlflow)
    tags = client.get_model_version(SIGNAL_MODEL, worse.version).tags
    assert tags["promotion.alias"] == CHALLENGER and float(tags["promotion.champion_value"]) > 0 and tags["promotion.metric"] == "log_loss"
    # A person's override through the CLI, then a rollback, both recorded
    from typer.testing import CliRunner

    from foresight.cli import app

    res = CliRunner().invoke(app, ["promote", worse.version, "--reason", "test override"])
    assert res.exit_code == 0, res.output
    assert f"v{worse.version} is champion (was: v{report.version})" in res.output
    assert str(alias_version(env.mlflow, SIGNAL_MODEL, CHAMPION)) == worse.version
    assert "test override" in client.get_model_version(SIGNAL_MODEL, worse.version).tags["override"]
    res = CliRunner().invoke(app, ["rollback"])
    assert res.exit_code == 0 and f"v{worse.version} -> v{report.version}" in res.output
    assert str(alias_version(env.mlflow, SIGNAL_MODEL, CHAMPION)) == report.version
    assert "rollback" in client.get_model_version(SIGNAL_MODEL, report.version).tags["override"]
    # Nothing earlier to roll back to now: a clear refusal
    with pytest.raises(ValueError, match="no previous champion"):
        rollback_champion(env.mlflow, by="tester")
    assert CliRunner().invoke(app, ["promote", "999"]).exit_code == 2


def test_suspect_version_is_never_champion(env, first):
    from training.promotion import SignalSkill, promote_version, run_signal_promotion

    ds, settings, report = first
    client = configure(env.mlflow)
    # Given a version the honesty controls tagged suspect at registration (as `log_signal_model` does)
    other = client.search_model_versions(f"name = '{SIGNAL_MODEL}'")
    suspect = max(int(v.version) for v in other)
    client.set_model_version_tag(SIGNAL_MODEL, str(suspect), "suspect", "true")
    # When the gate runs, even with a huge margin in its favour, it stays challenger; a person cannot promote it
    hold = ds.frame[ds.frame["date"] >= pd.Timestamp(report.holdout[0])]
    skilled = SignalSkill(auc=0.6, auc_se=0.001, log_loss_gain=0.01, log_loss_gain_se=0.001)
    decision = run_signal_promotion(env.mlflow, str(suspect), hold, margin=-1.0, ece_tolerance=1.0, skill=skilled,
                                    skill_z=2.0)
    assert decision.alias == CHALLENGER and "suspect" in decision.reason
    assert str(alias_version(env.mlflow, SIGNAL_MODEL, CHAMPION)) == report.version
    with pytest.raises(ValueError, match="suspect"):
        promote_version(env.mlflow, str(suspect), by="tester")


# -- the table of issue 14, through the training steps -------------------------------------------------------
SMALL = ("ROC5", "ROC10", "ROC20", "ROC60", "STD5", "STD20", "MA10", "RSV10", "CORR20", "VMA5", "WVMA20")


@pytest.fixture(scope="module")
def small(env, first):
    """Eleven Alpha158 columns as their own feature set (`a158s`), built in the module's warehouse: the trainings
    below take seconds instead of minutes. The set is registered for the module only."""
    import dataclasses

    from features.definitions import FEATURE_SETS
    from flows.train import step_dataset

    a158 = FEATURE_SETS["alpha158"]
    fs = dataclasses.replace(a158, name="a158s", description="eleven alpha158 columns",
                             features=tuple(f for f in a158.features if f.name in SMALL))
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(FEATURE_SETS, "a158s", fs)
        features.run_features(env.warehouse, env.settings.features, sets=["a158s"])
        settings = first[1].model_copy(update={"feature_set": "a158s", "trials": 1, "control_shuffles": 1})
        yield step_dataset(env, settings), settings


def test_a_feature_that_reads_the_future_is_flagged_through_the_training_steps(env, first, small, monkeypatch):
    import dataclasses

    from features.definitions import FEATURE_SETS, FeatureDef
    from flows.train import run_signal_steps, step_dataset

    _, settings = small
    # Given a feature set whose KMID column is the next five sessions' return plus noise (SQL, like any feature)
    fs = FEATURE_SETS["a158s"]
    peek = dataclasses.replace(
        fs, name="peek", description="alpha158 columns and a leak",
        s3=(*fs.s3, "lead(close, 6) OVER ws / lead(close, 1) OVER ws - 1 AS peek_ret",
            "(hash(symbol, date) % 1000) / 1000.0 - 0.5 AS peek_noise"),
        features=(*fs.features, FeatureDef("KMID", "Ref($close,-6)/Ref($close,-1)-1 + noise",
                                           "peek_ret + 0.03 * peek_noise", "leak")))
    monkeypatch.setitem(FEATURE_SETS, "peek", peek)
    features.run_features(env.warehouse, env.settings.features, sets=["peek"])
    leaky = settings.model_copy(update={"feature_set": "peek"})
    # When a model is trained on it through the training steps
    out = run_signal_steps(env, step_dataset(env, leaky), leaky)
    # Then the leak control refits on the market data cut after the fit window, gets another model, and says
    # so; the holdout skill is beyond the planted signal's ceiling too; the version is suspect, never champion
    c = out.controls
    assert out.metrics["auc"] > c["ceiling_auc"]
    assert not c["leak_passed"] and c["leak_fit_rows_changed"] > 0 and c["leak_fit_max_abs_diff"] > 1e-3
    assert any("removing the market data after the fit window" in r for r in out.suspicion_reasons)
    assert out.suspect and out.alias == CHALLENGER and "suspect" in out.reason
    assert out.champion != out.version
    assert configure(env.mlflow).get_model_version(SIGNAL_MODEL, out.version).tags["control_leak_passed"] == "false"


@pytest.mark.parametrize("where", ["fit rows", "split plan"])
def test_a_fit_range_over_the_holdout_is_flagged_through_the_training_steps(env, first, small, monkeypatch, where):
    import dataclasses

    import training.signals
    from flows.train import run_signal_steps
    from training.splits import Block, SplitPlan

    ds, settings = small
    clean = run_signal_steps(env, ds, settings) if where == "fit rows" else None
    # Given the refit's range extended over the holdout: in the rows it trains on, or in the plan itself
    if where == "fit rows":
        fit_mask = SplitPlan.fit_mask
        monkeypatch.setattr(SplitPlan, "fit_mask", lambda self, frame: fit_mask(self, frame) | self.holdout_mask(frame))
    else:
        plan_of = training.signals.compute_split_plan

        def over(*args, **kwargs):
            plan = plan_of(*args, **kwargs)
            n = len(plan.sessions) - 1
            return dataclasses.replace(plan, fit=Block(0, n, plan.sessions[0], plan.sessions[n]))

        monkeypatch.setattr(training.signals, "compute_split_plan", over)
    champion = alias_version(env.mlflow, SIGNAL_MODEL, CHAMPION)
    # When the model is trained through the training steps
    out = run_signal_steps(env, ds, settings)
    # Then the leak control flags it (another model from the data cut after the fit window, or a plan whose fit
    # range reaches the calibration slice), and it is never champion
    assert not out.controls["leak_passed"] and out.suspect and out.alias == CHALLENGER
    if where == "fit rows":
        assert clean.controls["leak_passed"] and not clean.suspect
        assert out.controls["leak_fit_max_abs_diff"] > 1e-3 and out.metrics["auc"] > clean.metrics["auc"] + 0.01
    else:
        assert any("split plan: fit range ends" in r for r in out.suspicion_reasons)
    assert alias_version(env.mlflow, SIGNAL_MODEL, CHAMPION) == champion


def test_a_first_model_without_skill_is_not_champion_and_the_night_says_why(env, first, small, tmp_path, monkeypatch):
    from flows.steps import StepFailed, step_signals
    from flows.train import run_signal_steps

    ds, settings = small
    # Given a fresh registry (no champion: the case that served a no-skill model on real data) and a model
    # fitted to coin-toss labels, judged on the real holdout
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/fresh.db")
    monkeypatch.setenv("FORESIGHT_MLFLOW__ARTIFACT_ROOT", str(tmp_path / "artifacts"))
    ctx = build_context()
    none = coin_label_dataset(ds, settings, before=pd.Timestamp(first[2].holdout[0]))
    out = run_signal_steps(ctx, none, settings)
    # Then it passes the controls but has no skill: no champion, and the run says why and what it means
    assert not out.suspect, out.suspicion_reasons
    assert out.alias == CHALLENGER and not out.promoted and out.champion is None
    assert out.reason.startswith("no skill over the no-skill baselines: holdout AUC")
    assert "there is no champion, so the night serves no signals until a version passes" in out.reason
    # And the night's signal step fails naming that decision
    with pytest.raises(StepFailed) as err:
        step_signals(ctx, None, None)
    assert f"v{out.version}, was not promoted: no skill" in str(err.value)
    assert "foresight train signals" in str(err.value)
