"""Known answers for the signal trainer: the planted reversal is found and has skill, a random walk gives
nothing and no skill, the shuffled-label null check sits at 0.5, the leak control passes on clean data and
flags a feature that reads the future; the Optuna study is seeded, pruned per fold and resumes."""

from __future__ import annotations

import numpy as np
import optuna
import pandas as pd
import pytest

from models.metrics import compute_log_loss
from models.signals import fit_calibrator
from tests.unit.training.toy import TOY_FEATURES, toy_market_source, toy_planted_skill
from training.config import SignalTrainingSettings
from training.leakage import run_leak_control
from training.signals import fit_signal_model, plan_for, train_signal_model
from training.tuning import run_study

SETTINGS = SignalTrainingSettings(families=("lightgbm",), max_rounds=80, trials=3, n_folds=3, control_shuffles=3)


def _train(source, features=TOY_FEATURES, storage=None, name="toy", trials=3, random_walk=False, control=True,
           frame=None):
    frame = source.load() if frame is None else frame
    plan = plan_for(frame, SETTINGS, entry_lag=1)
    tuning = run_study(frame, features, plan, n_trials=trials, timeout_s=None, seed=SETTINGS.seed,
                       families=SETTINGS.families, max_rounds=SETTINGS.max_rounds, storage=storage,
                       study_name=name, min_fold_rows=500)
    fitted = fit_signal_model(frame, features, plan, tuning.best_params, SETTINGS)
    leak = run_leak_control(source, frame, features, plan, fitted[0], tuning.best_params, SETTINGS)
    return tuning, train_signal_model(frame, features, tuning.best_params, SETTINGS, plan=plan, is_sample_data=True,
                                      fitted=fitted, leak=leak, planted=toy_planted_skill(random_walk),
                                      run_control=control)


def _se(m):
    return max(m["auc_se_date"], m["auc_se_null"])


@pytest.fixture(scope="module")
def trained():
    source = toy_market_source(n_symbols=30, n_years=4)
    tuning, result = _train(source)
    return source.load(), tuning, result


@pytest.fixture(scope="module")
def planted(trained):
    return trained[2]


def test_planted_reversal_is_found(planted):
    m = planted.metrics
    assert m["auc"] > 0.5 + 3 * _se(m)
    assert m["log_loss"] < m["log_loss_base_rate"] and m["brier_skill"] > 0
    assert m["rank_ic_mean"] > 0.05 and m["top_decile_hit_rate"] > m["positive_rate"]
    assert planted.controls["shuffled_passed"]
    # the reversal lives in the 5-20 day returns, not in the pure-noise column
    assert planted.importance["noise"] < planted.importance[["ret_5", "ret_10", "ret_20"]].max()
    assert set(planted.metrics_by_year) and planted.calibration["method"] in ("platt", "isotonic")
    # it has skill over the no-skill baselines, under the planted signal's ceiling, and the same model comes
    # back from the market data cut after its windows
    assert planted.skill.passes(SETTINGS.skill_z)
    assert planted.controls["leak_passed"] and planted.controls["leak_fit_max_abs_diff"] == 0.0
    assert planted.controls["leak_development_max_abs_diff"] == 0.0
    assert m["auc"] < planted.ceiling.auc and not planted.suspect, planted.suspicion_reasons


def test_the_calibrator_is_chosen_on_the_calibration_slice_not_the_holdout(trained):
    frame, tuning, planted = trained
    # The choice is scored inside the calibration slice (two halves, both ways) ...
    cal = planted.calibration
    assert set(cal) == {"method", "cv_log_loss_platt", "cv_log_loss_isotonic", "calibration_rows"}
    assert cal["method"] == min(("platt", "isotonic"), key=lambda m: cal[f"cv_log_loss_{m}"]) == "platt"
    # ... so relabelling the holdout where the isotonic calibrator (fit on the slice) scores better than Platt
    # on every row (a choice made on the holdout would switch) changes nothing of the fitted model
    plan, raw = planted.plan, planted.model.predict_raw(frame)
    hold = plan.holdout_mask(frame)
    cal_m = plan.calibration_mask(frame)
    iso, platt = (fit_calibrator(m, raw[cal_m], frame.loc[cal_m, "label"]).predict(raw) for m in ("isotonic", "platt"))
    favours_iso = (iso > platt).astype(float)
    relabelled = frame.assign(label=np.where(hold, favours_iso, frame["label"]))
    assert compute_log_loss(favours_iso[hold], iso[hold]) < compute_log_loss(favours_iso[hold], platt[hold])
    a, info_a = fit_signal_model(frame, TOY_FEATURES, plan, tuning.best_params, SETTINGS)
    b, info_b = fit_signal_model(relabelled, TOY_FEATURES, plan, tuning.best_params, SETTINGS)
    assert info_a == info_b
    np.testing.assert_array_equal(a.predict_proba(frame), b.predict_proba(frame))


def test_random_walk_gives_nothing():
    _, result = _train(toy_market_source(n_symbols=30, n_years=4, random_walk=True), random_walk=True)
    m = result.metrics
    assert abs(m["auc"] - 0.5) <= 3 * _se(m)
    assert result.controls["shuffled_passed"] and result.controls["leak_passed"]
    assert not result.suspect
    # and no skill: the promotion gate will not make it champion
    assert not result.skill.passes(SETTINGS.skill_z)


def _future_return_plus_noise(frame: pd.DataFrame, bars: pd.DataFrame) -> pd.DataFrame:
    """A planted leak: a feature equal to the next 5 sessions' return (from the bars it is built on) plus noise."""
    b = bars.sort_values(["symbol", "date"])
    g = b.groupby("symbol")["adj_close"]
    fut = pd.DataFrame({"symbol": b["symbol"].to_numpy(), "date": pd.to_datetime(b["date"]).to_numpy(),
                        "peek": (g.shift(-6) / g.shift(-1) - 1).to_numpy()})
    out = frame.merge(fut, on=["symbol", "date"], how="left")
    key = pd.util.hash_pandas_object(out[["symbol", "date"]], index=False).to_numpy()
    out["peek"] = out["peek"] + 0.03 * ((key % 10_007) / 10_007.0 - 0.5)
    return out


def test_a_feature_that_reads_the_future_is_flagged_by_the_leak_control():
    # Given the toy market with a leaking feature (the table's first row), trained like any model
    source = toy_market_source(n_symbols=30, n_years=4, transform=_future_return_plus_noise)
    _, result = _train(source, features=[*TOY_FEATURES, "peek"], control=False)
    # Then the holdout looks great, and both the leak control and the suspicion gate say why not to believe it
    assert result.metrics["auc"] > 0.65
    assert not result.controls["leak_passed"] and result.suspect
    assert result.controls["leak_fit_rows_changed"] > 0 and result.controls["leak_fit_max_abs_diff"] > 1e-3
    assert any(r.startswith("leak control: removing the market data after the fit window") for r in
               result.suspicion_reasons)
    assert any(r.startswith("holdout AUC") for r in result.suspicion_reasons)


def test_study_is_seeded_pruned_per_fold_and_resumes(tmp_path):
    frame = toy_market_source(n_symbols=15, n_years=3).load()
    storage = f"sqlite:///{tmp_path}/optuna.db"
    plan = plan_for(frame, SETTINGS, entry_lag=1)
    kw = dict(timeout_s=None, seed=3, families=("lightgbm", "catboost"), max_rounds=40, min_fold_rows=100)
    first = run_study(frame, TOY_FEATURES, plan, n_trials=2, storage=storage, study_name="s", **kw)
    resumed = run_study(frame, TOY_FEATURES, plan, n_trials=1, storage=storage, study_name="s", **kw)
    assert first.n_trials == 2 and resumed.n_trials == 3
    again = run_study(frame, TOY_FEATURES, plan, n_trials=2, storage=None, study_name="fresh", **kw)
    assert again.trials["value"].tolist() == pytest.approx(first.trials["value"].tolist())
    study = optuna.load_study(study_name="s", storage=storage)
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert done and all(len(t.intermediate_values) == len(plan.folds) for t in done)
    assert all(len(t.user_attrs["fold_log_loss"]) == len(plan.folds) for t in done)
    assert np.isfinite(first.best_value)
