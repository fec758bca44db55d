"""Optuna trials on an executor's workers, all against one shared study storage (`run_study_on`).

Each trial is one executor call (`run_study_trial`): it loads the study from the RDB, asks for a trial, runs the
objective of training/tuning.py on the shared fold data and tells the result. The storage is the only
shared state, so a trial is recorded once whichever process ran it. A worker that dies mid-trial leaves
its trial RUNNING; Dask re-runs the call elsewhere (a new trial), and when the study's calls are done the
driver marks the orphan FAILED, so the study finishes with every trial it asked for and none left open.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import pandas as pd
from pydantic import SecretStr

from executors import Executor
from training.splits import SplitPlan
from training.tuning import (
    TuningResult,
    compute_fold_data,
    make_objective,
    make_pruner,
    make_sampler,
    run_study,
    summarize_study,
)

TASK_ATTR = "executor_task"
"""User attribute naming the executor call that ran a trial: `<study run>-<call index>`."""
WHERE_ATTR = "ran_on"
"""User attribute `host:pid` of the process that ran a trial."""
CPU_ATTR = "cpu_s"
"""User attribute: CPU seconds the trial's process spent in the objective (its cost on a core of its own,
whatever else shared the machine)."""

# One SQLAlchemy engine per storage URL and worker process: a trial per call must not open a pool per call.
_STORAGES: dict[str, Any] = {}


def _storage(url: str):
    import optuna

    if url not in _STORAGES:
        _STORAGES[url] = optuna.storages.RDBStorage(url, engine_kwargs={"pool_pre_ping": True})
    return _STORAGES[url]


def _plain(storage: SecretStr | str) -> str:
    return storage.get_secret_value() if isinstance(storage, SecretStr) else storage


def run_study_trial(storage: SecretStr | str, study_name: str, seed: int, n_trials: int, data: tuple,
              objective_kwargs: dict[str, Any], tag: str) -> int:
    """Run one trial of `study_name` (in whatever process the executor chose); returns its number.

    `seed` seeds this call's sampler (one seed per call: samplers built alike in parallel would otherwise
    draw the same first points); `constant_liar` keeps it away from the trials still running."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(study_name=study_name, storage=_storage(_plain(storage)),
                              sampler=make_sampler(seed, n_trials, constant_liar=True), pruner=make_pruner())
    trial = study.ask()
    trial.set_user_attr(TASK_ATTR, tag)
    trial.set_user_attr(WHERE_ATTR, f"{socket.gethostname()}:{os.getpid()}")
    objective = make_objective(data, **objective_kwargs)
    cpu0 = time.process_time()
    try:
        value = objective(trial)
    except optuna.TrialPruned:
        trial.set_user_attr(CPU_ATTR, time.process_time() - cpu0)
        study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        return trial.number
    except Exception:
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
        raise
    trial.set_user_attr(CPU_ATTR, time.process_time() - cpu0)
    study.tell(trial, value)
    return trial.number


def fail_orphan_trials(study, run_tag: str) -> list:
    """Mark FAILED the trials of this run still RUNNING once all its calls returned (their worker died);
    returns them as they are now stored."""
    import optuna

    running = optuna.trial.TrialState.RUNNING
    orphans = [t for t in study.get_trials(deepcopy=False, states=(running,))
               if str(t.user_attrs.get(TASK_ATTR, "")).startswith(f"{run_tag}-")]
    for t in orphans:
        study.tell(t.number, state=optuna.trial.TrialState.FAIL)
    return [_trial(study, t.number) for t in orphans]


def _trial(study, number: int):
    return next(t for t in study.get_trials(deepcopy=False) if t.number == number)


def run_study_on(
    executor: Executor,
    frame: pd.DataFrame,
    feature_cols: Sequence[str],
    plan: SplitPlan,
    *,
    n_trials: int,
    timeout_s: float | None,
    seed: int,
    families: Sequence[str],
    max_rounds: int,
    storage: SecretStr | str,
    study_name: str,
    n_jobs: int = 1,
    min_fold_rows: int = 1,
    callbacks: Sequence[Callable] = (),
    cs_rank: bool = True,
) -> TuningResult:
    """`training.tuning.run_study` on `executor`: in this process it is run_study itself; on Dask workers it
    runs `n_trials` calls of `run_study_trial`, as many at once as the executor has workers, and calls each
    `callbacks(study, trial)` here (the driver) as trials finish, orphans included.

    `storage` is an RDB URL every worker can reach (SQLite on one machine, PostgreSQL across machines).
    `timeout_s` stops starting new trials after that many seconds."""
    import optuna

    if not executor.distributed:
        return run_study(frame, feature_cols, plan, n_trials=n_trials, timeout_s=timeout_s, seed=seed,
                         families=families, max_rounds=max_rounds, storage=_plain(storage), study_name=study_name,
                         n_jobs=n_jobs, min_fold_rows=min_fold_rows, callbacks=callbacks, cs_rank=cs_rank)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    # The driver creates the study (and, on a new SQLite file, the schema) before any worker writes to it.
    study = optuna.create_study(study_name=study_name, storage=_storage(_plain(storage)), load_if_exists=True,
                                direction="minimize", sampler=make_sampler(seed, n_trials), pruner=make_pruner())
    first = len(study.get_trials(deepcopy=False))  # a resumed study keeps its numbering and seeds move on
    data = executor.share(compute_fold_data(frame, feature_cols, plan, cs_rank))
    # n_jobs 0 ("every core") becomes the worker's own threads: a trial's value depends on its parameters,
    # its seed and its thread count, and workers that share a machine must not oversubscribe it.
    objective_kwargs = {"families": tuple(families), "max_rounds": max_rounds, "seed": seed,
                        "n_jobs": n_jobs or executor.threads, "min_fold_rows": min_fold_rows}
    run_tag = uuid.uuid4().hex[:12]
    deadline = time.monotonic() + timeout_s if timeout_s else None

    def calls():
        for i in range(n_trials):
            if deadline is not None and time.monotonic() > deadline:
                return
            yield storage, study_name, seed + first + i, n_trials, data, objective_kwargs, f"{run_tag}-{i}"

    for _, number in executor.run_unordered(run_study_trial, calls(), name=f"trial-{study_name}",
                                            window=executor.workers):
        trial = _trial(study, number)
        for callback in callbacks:
            callback(study, trial)
    for trial in fail_orphan_trials(study, run_tag):
        for callback in callbacks:
            callback(study, trial)
    return summarize_study(study)


__all__ = ["CPU_ATTR", "TASK_ATTR", "WHERE_ATTR", "fail_orphan_trials", "run_study_on", "run_study_trial"]
