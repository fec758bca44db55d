"""The per-trial kernel: fold sets built once give the same trial as sets built fresh, early stopping ends
a fold before the round cap, the pruner can stop after the first fold, and the refit gets the folds' rounds."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from training.tuning import FoldData, run_study, run_trial


@pytest.fixture(scope="module")
def data() -> FoldData:
    # Given: a weak planted signal in feature 0, three expanding folds
    rng = np.random.default_rng(5)
    n, p = 3000, 6
    X = rng.standard_normal((n, p)).astype(np.float32)
    y = ((0.3 * X[:, 0] + rng.standard_normal(n)) > 0).astype(float)
    folds = tuple((np.arange(0, e), np.arange(e + 50, e + 550)) for e in (1000, 1500, 2000))
    return FoldData(X, y, folds, tuple(f"f{j}" for j in range(p)))


LGB = {"num_boost_round": 300, "learning_rate": 0.3, "num_leaves": 7, "min_data_in_leaf": 50}
CB = {"iterations": 300, "learning_rate": 0.3, "depth": 3}


@pytest.mark.parametrize("family,params", [("lightgbm", LGB), ("catboost", CB)])
def test_fold_sets_built_once_give_the_same_trial_as_fresh_ones(data, family, params):
    first = run_trial(family, params, data, seed=1, n_jobs=1)
    assert {k for k in data._inputs if k[0] == family} == {(family, 0), (family, 1), (family, 2)}
    again = run_trial(family, params, data, seed=1, n_jobs=1)        # reuses the binned sets
    fresh = run_trial(family, params, pickle.loads(pickle.dumps(data)), seed=1, n_jobs=1)
    assert again.fold_log_loss == first.fold_log_loss == fresh.fold_log_loss
    assert again.fold_rounds == first.fold_rounds == fresh.fold_rounds


@pytest.mark.parametrize("family,params", [("lightgbm", LGB), ("catboost", CB)])
def test_early_stopping_ends_a_fold_before_the_round_cap(data, family, params):
    # A high learning rate on a weak signal overfits within a few dozen rounds.
    out = run_trial(family, params, data, seed=1, n_jobs=1, early_stopping_rounds=20)
    assert all(1 <= r < 300 for r in out.fold_rounds)
    assert out.rounds == round(float(np.mean(out.fold_rounds)))


def test_the_pruner_can_stop_a_trial_after_its_first_fold(data):
    out = run_trial("lightgbm", LGB, data, seed=1, n_jobs=1, should_stop=lambda step, so_far: True)
    assert out.pruned and len(out.fold_log_loss) == 1


def test_fold_data_travels_without_its_built_sets(data):
    run_trial("lightgbm", LGB, data, seed=1, n_jobs=1)
    copy = pickle.loads(pickle.dumps(data))
    assert copy._inputs == {} and np.array_equal(copy.X, data.X) and copy.folds[2][1].tolist() == data.folds[2][1].tolist()


def test_best_params_carry_the_rounds_the_folds_stopped_at():
    import pandas as pd

    from training.splits import compute_split_plan

    rng = np.random.default_rng(2)
    dates = pd.bdate_range("2020-01-01", periods=400)
    frame = pd.DataFrame({"date": np.repeat(dates.values, 10), "symbol": np.tile([f"S{i}" for i in range(10)], 400)})
    for j in range(4):
        frame[f"f{j}"] = rng.standard_normal(len(frame))
    frame["label"] = ((0.3 * frame["f0"] + rng.standard_normal(len(frame))) > 0).astype(float)
    plan = compute_split_plan(frame["date"], horizon=5, entry_lag=1, n_folds=3, embargo=5, holdout_fraction=0.15,
                              calibration_fraction=0.15)
    res = run_study(frame, ["f0", "f1", "f2", "f3"], plan, n_trials=3, timeout_s=None, seed=1,
                    families=("lightgbm",), max_rounds=400, storage=None, study_name="t", n_jobs=1)
    best_row = res.trials.set_index("number").loc[res.best_trial]
    assert res.best_params["lgb_rounds"] == best_row["rounds"] <= best_row["lgb_rounds"]
