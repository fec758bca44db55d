"""Known answers for the signal trainer: the planted reversal is found, a random walk gives nothing,
the shuffled-label control sits at 0.5; the Optuna study is seeded, pruned per fold and resumes."""

from __future__ import annotations

import optuna
import pytest

from tests.unit.training.toy import TOY_FEATURES, toy_market_frame
from training.config import SignalTrainingSettings
from training.signals import plan_for, train_signal_model
from training.tuning import run_study

SETTINGS = SignalTrainingSettings(families=("lightgbm",), max_rounds=80, trials=3, n_folds=3, control_shuffles=3)


def _train(frame, storage=None, name="toy", trials=3):
    plan = plan_for(frame, SETTINGS, entry_lag=1)
    tuning = run_study(frame, TOY_FEATURES, plan, n_trials=trials, timeout_s=None, seed=SETTINGS.seed,
                       families=SETTINGS.families, max_rounds=SETTINGS.max_rounds, storage=storage,
                       study_name=name, min_fold_rows=500)
    return tuning, train_signal_model(frame, TOY_FEATURES, tuning.best_params, SETTINGS, plan=plan,
                                      is_sample_data=True)


def _se(m):
    return max(m["auc_se_date"], m["auc_se_null"])


def test_planted_reversal_is_found():
    _, result = _train(toy_market_frame(n_symbols=30, n_years=4))
    m = result.metrics
    assert m["auc"] > 0.5 + 3 * _se(m)
    assert m["log_loss"] < m["log_loss_base_rate"] and m["brier_skill"] > 0
    assert m["rank_ic_mean"] > 0.05 and m["top_decile_hit_rate"] > m["positive_rate"]
    assert result.controls["shuffled_passed"]
    # the reversal lives in the 5-20 day returns, not in the pure-noise column
    assert result.importance["noise"] < result.importance[["ret_5", "ret_10", "ret_20"]].max()
    assert set(result.metrics_by_year) and result.calibration["method"] in ("platt", "isotonic")


def test_random_walk_gives_nothing():
    _, result = _train(toy_market_frame(n_symbols=30, n_years=4, random_walk=True))
    m = result.metrics
    assert abs(m["auc"] - 0.5) <= 3 * _se(m)
    assert result.controls["shuffled_passed"]
    assert not result.suspect


def test_study_is_seeded_pruned_per_fold_and_resumes(tmp_path):
    frame = toy_market_frame(n_symbols=15, n_years=3)
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
