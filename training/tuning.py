"""Optuna search over model family and hyper-parameters; objective = mean walk-forward fold log-loss.

The per-trial work is `run_trial` (plain arrays and parameters in, a `TrialOutcome` out), so a trial can run
in this process or on another worker; each fold's binned training set is built once per study and process."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from models.metrics import compute_auc, compute_log_loss
from models.signals import _sigmoid, get_family, prepare_features, suggest_params
from training.splits import SplitPlan

EARLY_STOPPING_ROUNDS = 50
"""A trial's fold stops adding rounds when its log-loss has not improved for this many."""


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
    """number, state, value, family, duration_s, rounds (the folds' early-stopped mean) and the params of every
    trial of the study."""


@dataclass(frozen=True, eq=False)
class FoldData:
    """What every trial of a study reads: the model matrix (float32, cross-sectional ranks applied), labels,
    and each fold's (train rows, test rows). Plain arrays: it pickles to another process as it is."""

    X: np.ndarray
    y: np.ndarray
    folds: tuple[tuple[np.ndarray, np.ndarray], ...]
    columns: tuple[str, ...]
    _inputs: dict = field(default_factory=dict, repr=False)

    def inputs(self, family: str, k: int):
        """Fold `k`'s training and validation sets in `family`'s own format, built on first use."""
        key = (family, k)
        if key not in self._inputs:
            tr, te = self.folds[k]
            self._inputs[key] = get_family(family).fold_inputs(self.X[tr], self.y[tr], self.X[te], self.y[te])
        return self._inputs[key]

    def __getstate__(self):
        # The built library sets stay in the process that built them.
        return {"X": self.X, "y": self.y, "folds": self.folds, "columns": self.columns, "_inputs": {}}

    def __setstate__(self, state):
        for k, v in state.items():
            object.__setattr__(self, k, v)


def compute_fold_data(frame: pd.DataFrame, feature_cols: Sequence[str], plan: SplitPlan,
                      cs_rank: bool = True) -> FoldData:
    """The plan's folds over `frame`, sliced once and reused by every trial."""
    X = prepare_features(frame, feature_cols, cs_rank).to_numpy(dtype=np.float32)
    y = frame["label"].to_numpy(dtype=float)
    folds = []
    for fold in plan.folds:
        tr = np.flatnonzero(plan.train_mask(frame, fold))
        te = np.flatnonzero(plan.test_mask(frame, fold))
        folds.append((tr, te))
    return FoldData(X, y, tuple(folds), tuple(feature_cols))


@dataclass(frozen=True)
class TrialOutcome:
    """One trial's fold results; `pruned` when `should_stop` ended it early."""

    fold_log_loss: list[float]
    fold_auc: list[float]
    fold_rounds: list[int]
    pruned: bool = False

    @property
    def mean_log_loss(self) -> float:
        return float(np.mean(self.fold_log_loss)) if self.fold_log_loss else float("nan")

    @property
    def rounds(self) -> int:
        """The rounds a refit uses: the mean of the folds' early-stopped counts."""
        return max(1, int(round(float(np.mean(self.fold_rounds))))) if self.fold_rounds else 1


def run_trial(
    family: str,
    params: dict[str, Any],
    data: FoldData,
    *,
    seed: int,
    n_jobs: int = 0,
    min_fold_rows: int = 1,
    early_stopping_rounds: int = EARLY_STOPPING_ROUNDS,
    should_stop: Callable[[int, TrialOutcome], bool] | None = None,
) -> TrialOutcome:
    """Fit `family` with `params` (model parameters, unprefixed) on each fold, early-stopped on the fold's
    test rows; after each fold `should_stop(step, outcome so far)` may end the trial (a pruner).
    Deterministic for a given seed and thread count. Raises ValueError when no fold has enough rows."""
    fam = get_family(family)
    losses, aucs, rounds = [], [], []
    for step, (tr, te) in enumerate(data.folds):
        if len(tr) < min_fold_rows or len(te) == 0:
            continue
        booster, used = fam.fit_fold(params, data.inputs(family, step), seed=seed, n_jobs=n_jobs,
                                     early_stopping_rounds=early_stopping_rounds)
        p = _sigmoid(fam.predict_raw(booster, data.X[te]))
        losses.append(compute_log_loss(data.y[te], p))
        aucs.append(compute_auc(data.y[te], p))
        rounds.append(used)
        if should_stop is not None and should_stop(step, TrialOutcome(losses, aucs, rounds)):
            return TrialOutcome(losses, aucs, rounds, pruned=True)
    if not losses:
        raise ValueError("no fold has enough training rows; lower n_folds or min_fold_rows")
    return TrialOutcome(losses, aucs, rounds)


def make_objective(data: FoldData, *, families: Sequence[str], max_rounds: int, seed: int, n_jobs: int = 0,
                   min_fold_rows: int = 1) -> Callable:
    """The Optuna objective: `run_trial` with the pruner asked after each fold (from the first)."""
    import optuna

    def objective(trial: optuna.Trial) -> float:
        family = trial.suggest_categorical("family", list(families))
        params = suggest_params(trial, family, max_rounds)

        def should_stop(step: int, so_far: TrialOutcome) -> bool:
            trial.set_user_attr("fold_log_loss", so_far.fold_log_loss)
            trial.set_user_attr("fold_auc", so_far.fold_auc)
            trial.set_user_attr("fold_rounds", so_far.fold_rounds)
            trial.report(so_far.mean_log_loss, step)
            return trial.should_prune()

        outcome = run_trial(family, params, data, seed=seed, n_jobs=n_jobs, min_fold_rows=min_fold_rows,
                            should_stop=should_stop)
        trial.set_user_attr("rounds", outcome.rounds)
        if outcome.pruned:
            raise optuna.TrialPruned()
        return outcome.mean_log_loss

    return objective


def make_sampler(seed: int, n_trials: int, *, constant_liar: bool = False):
    """The study's TPE sampler: random for the first min(5, n_trials) trials, then TPE. `constant_liar` makes
    trials sampled while others run avoid the points those are evaluating (parallel trials)."""
    import optuna

    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=min(5, max(1, n_trials)),
                                      constant_liar=constant_liar)


def make_pruner():
    """Median pruning from the first fold on, once three trials have completed."""
    import optuna

    return optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=0)


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
    n_jobs: int = 0,
    min_fold_rows: int = 1,
    callbacks: Sequence[Callable] = (),
    cs_rank: bool = True,
) -> TuningResult:
    """Run (or resume) the study `study_name` in `storage` (an Optuna RDB URL; None = in memory).

    The holdout is never touched: only the plan's folds (inside the development range) are used.
    The best parameters carry the rounds its folds stopped at (their mean), which the refit uses.
    """
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    data = compute_fold_data(frame, feature_cols, plan, cs_rank)
    study = optuna.create_study(
        study_name=study_name,
        storage=storage,
        load_if_exists=True,
        direction="minimize",
        sampler=make_sampler(seed, n_trials),
        pruner=make_pruner(),
    )
    objective = make_objective(data, families=families, max_rounds=max_rounds, seed=seed, n_jobs=n_jobs,
                               min_fold_rows=min_fold_rows)
    study.optimize(objective, n_trials=n_trials, timeout=timeout_s, callbacks=list(callbacks),
                   catch=(), gc_after_trial=False)
    return summarize_study(study)


def summarize_study(study) -> TuningResult:
    import optuna

    rows = []
    for t in study.trials:
        dur = (t.datetime_complete - t.datetime_start).total_seconds() if t.datetime_complete and t.datetime_start else None
        rows.append({"number": t.number, "state": t.state.name, "value": t.value, "duration_s": dur,
                     "rounds": t.user_attrs.get("rounds"), **t.params})
    trials = pd.DataFrame(rows)
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if not complete:
        raise RuntimeError(f"study {study.study_name!r} has no complete trial (all pruned or failed)")
    best = study.best_trial
    best_params = dict(best.params)
    if "rounds" in best.user_attrs:
        best_params[get_family(best_params["family"]).rounds_param] = int(best.user_attrs["rounds"])
    return TuningResult(
        study_name=study.study_name,
        best_params=best_params,
        best_value=float(best.value),
        best_trial=int(best.number),
        n_trials=len(study.trials),
        n_complete=len(complete),
        n_pruned=sum(t.state == optuna.trial.TrialState.PRUNED for t in study.trials),
        trials=trials,
    )


__all__ = ["EARLY_STOPPING_ROUNDS", "FoldData", "TrialOutcome", "TuningResult", "compute_fold_data",
           "make_objective", "make_pruner", "make_sampler", "run_study", "run_trial", "summarize_study"]
