"""Optuna search over model family and hyper-parameters; objective = mean walk-forward fold log-loss."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from models.metrics import compute_auc, compute_log_loss
from models.signals import _sigmoid, fit_booster, predict_raw, prepare_features, suggest_params
from training.splits import SplitPlan


@dataclass(frozen=True)
class TuningResult:
    """The study's best configuration and a summary of its trials."""

    study_name: str
    best_params: dict[str, Any]
    best_value: float
    best_trial: int
    n_trials: int
    n_complete: int
    n_pruned: int
    trials: pd.DataFrame
    """number, state, value, family, duration_s and the params of every trial of the study."""


def compute_fold_data(frame: pd.DataFrame, feature_cols: Sequence[str], plan: SplitPlan, cs_rank: bool = True):
    """(X, y, [(train_idx, test_idx), ...]) for the plan's folds, sliced once and reused by every trial."""
    X = prepare_features(frame, feature_cols, cs_rank)
    y = frame["label"].to_numpy(dtype=float)
    folds = []
    for fold in plan.folds:
        tr = np.flatnonzero(plan.train_mask(frame["date"], fold))
        te = np.flatnonzero(plan.test_mask(frame["date"], fold))
        folds.append((tr, te))
    return X, y, folds


def make_objective(X: pd.DataFrame, y: np.ndarray, folds, *, families: Sequence[str], max_rounds: int,
                   seed: int, n_jobs: int = 1, min_fold_rows: int = 1) -> Callable:
    """The Optuna objective: fit per fold, report the running mean log-loss to the pruner after each fold."""
    import optuna

    def objective(trial: optuna.Trial) -> float:
        family = trial.suggest_categorical("family", list(families))
        params = suggest_params(trial, family, max_rounds)
        losses, aucs = [], []
        for step, (tr, te) in enumerate(folds):
            if len(tr) < min_fold_rows or len(te) == 0:
                continue
            booster = fit_booster(family, params, X.iloc[tr], y[tr], seed=seed, n_jobs=n_jobs)
            p = _sigmoid(predict_raw(family, booster, X.iloc[te]))
            losses.append(compute_log_loss(y[te], p))
            aucs.append(compute_auc(y[te], p))
            trial.set_user_attr("fold_log_loss", losses)
            trial.set_user_attr("fold_auc", aucs)
            trial.report(float(np.mean(losses)), step)
            if trial.should_prune():
                raise optuna.TrialPruned()
        if not losses:
            raise ValueError("no fold has enough training rows; lower n_folds or min_fold_rows")
        return float(np.mean(losses))

    return objective


def make_sampler(seed: int, n_trials: int, *, constant_liar: bool = False):
    """The study's TPE sampler: random for the first min(5, n_trials) trials, then TPE. `constant_liar` makes
    trials sampled while others run avoid the points those are evaluating (parallel trials)."""
    import optuna

    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=min(5, max(1, n_trials)),
                                      constant_liar=constant_liar)


def make_pruner():
    """Median pruning from the second fold on, once three trials have completed."""
    import optuna

    return optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=1)


def run_study(
    frame: pd.DataFrame,
    feature_cols: Sequence[str],
    plan: SplitPlan,
    *,
    n_trials: int,
    timeout_s: float | None,
    seed: int,
    families: Sequence[str],
    max_rounds: int,
    storage: str | None,
    study_name: str,
    n_jobs: int = 1,
    min_fold_rows: int = 1,
    callbacks: Sequence[Callable] = (),
    cs_rank: bool = True,
) -> TuningResult:
    """Run (or resume) the study `study_name` in `storage` (an Optuna RDB URL; None = in memory).

    The holdout is never touched: only the plan's folds (inside the development range) are used.
    """
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    X, y, folds = compute_fold_data(frame, feature_cols, plan, cs_rank)
    study = optuna.create_study(
        study_name=study_name,
        storage=storage,
        load_if_exists=True,
        direction="minimize",
        sampler=make_sampler(seed, n_trials),
        pruner=make_pruner(),
    )
    objective = make_objective(X, y, folds, families=families, max_rounds=max_rounds, seed=seed,
                               n_jobs=n_jobs, min_fold_rows=min_fold_rows)
    study.optimize(objective, n_trials=n_trials, timeout=timeout_s, callbacks=list(callbacks),
                   catch=(), gc_after_trial=False)
    return summarize_study(study)


def summarize_study(study) -> TuningResult:
    import optuna

    rows = []
    for t in study.trials:
        dur = (t.datetime_complete - t.datetime_start).total_seconds() if t.datetime_complete and t.datetime_start else None
        rows.append({"number": t.number, "state": t.state.name, "value": t.value, "duration_s": dur, **t.params})
    trials = pd.DataFrame(rows)
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if not complete:
        raise RuntimeError(f"study {study.study_name!r} has no complete trial (all pruned or failed)")
    best = study.best_trial
    return TuningResult(
        study_name=study.study_name,
        best_params=dict(best.params),
        best_value=float(best.value),
        best_trial=int(best.number),
        n_trials=len(study.trials),
        n_complete=len(complete),
        n_pruned=sum(t.state == optuna.trial.TrialState.PRUNED for t in study.trials),
        trials=trials,
    )


__all__ = ["TuningResult", "compute_fold_data", "make_objective", "make_pruner", "make_sampler", "run_study",
           "summarize_study"]
