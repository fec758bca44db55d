"""A team's stack for real: a throw-away PostgreSQL (Debian binaries), an MLflow tracking server on it with
a shared artifact root, Optuna studies in it, and a local Dask cluster with 2 worker processes. The
`train-signals` flow and a backfill run through them unchanged; results must not depend on where they
ran, and a worker killed mid-trial or mid-chunk must cost nothing but time."""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
from distributed.diagnostics.plugin import WorkerPlugin

import features
from executors import ExecutorSettings, InProcessExecutor, close_executors, open_executor
from foresight.context import build_context
from foresight.stack import start_mlflow_server, stop_process
from marketdata.config import SampleSettings
from marketdata.ingest import run_ingest
from marketdata.sources import SampleSource
from registry.core import CHALLENGER, CHAMPION, SIGNAL_MODEL, alias_version, configure
from stores.mongo import free_port
from stores.postgres import LocalPostgresServer

pytestmark = pytest.mark.slow

TRIALS = 4
SIGNALS_ENV = {"MAX_ROUNDS": "40", "N_FOLDS": "3", "CONTROL_SHUFFLES": "1", "FAMILIES": '["lightgbm"]',
               "MIN_FOLD_ROWS": "200"}
COMPARED = ["symbol", "date", "model_name", "model_version", "probability", "raw_score", "base_value",
            "attribution", "feature_set", "horizon", "run_id"]


@pytest.fixture(scope="module")
def pg():
    """A PostgreSQL cluster with password auth on 127.0.0.1 (as root it runs as `postgres`: its folder must
    be reachable by that user, hence a 0755 folder outside pytest's 0700 tree)."""
    root = Path(tempfile.mkdtemp(prefix="foresight-pg-"))
    root.chmod(0o755)
    server = LocalPostgresServer(root / "data", durable=False).start()
    try:
        for name in ("mlflow", "optuna"):
            server.create_database(name)
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def stack(pg, tmp_path_factory):
    """An MLflow server process on PostgreSQL, a 2-worker local Dask cluster, and the settings that point
    the code at them (what `foresight stack up` writes into stack.env)."""
    root = tmp_path_factory.mktemp("stack")
    port = free_port()
    mlflow_proc = start_mlflow_server(pg.url("mlflow"), root / "artifacts", port, root / "mlflow.log")
    env = {
        "FORESIGHT_HOME": str(root / "home"),
        "MLFLOW_TRACKING_URI": f"http://127.0.0.1:{port}",
        "FORESIGHT_OPTUNA__STORAGE": pg.url("optuna").get_secret_value(),
        "FORESIGHT_EXECUTOR__LOCAL_WORKERS": "2",
        **{f"FORESIGHT_SIGNALS__{k}": v for k, v in SIGNALS_ENV.items()},
    }
    try:
        with pytest.MonkeyPatch.context() as mp:
            for key, value in env.items():
                mp.setenv(key, value)
            ctx = build_context()
            run_ingest(ctx.warehouse, SampleSource(SampleSettings(n_symbols=16, n_years=3)), ctx.settings.guardrails)
            features.run_features(ctx.warehouse, ctx.settings.features, sets=["alpha158"])
            assert ctx.executor.distributed and ctx.executor.workers == 2
            yield {"ctx": ctx, "root": root, "pg": pg, "mlflow_log": root / "mlflow.log"}
    finally:
        close_executors()
        stop_process(mlflow_proc.pid)


@pytest.fixture(scope="module")
def trained(stack, prefect_harness):
    """The `train-signals` Prefect flow, unchanged, with its trials on the Dask workers and its study in
    PostgreSQL, logging to the MLflow server."""
    from flows.train import TrainSignalsReport, train_signals_flow

    return TrainSignalsReport(**train_signals_flow(trials=TRIALS))


def _study(stack, name):
    import optuna

    return optuna.load_study(study_name=name, storage=stack["pg"].url("optuna").get_secret_value())


def _signals(ctx) -> pd.DataFrame:
    with ctx.warehouse.session(read_only=True) as con:
        return con.execute(f"SELECT {', '.join(COMPARED)} FROM signals ORDER BY symbol, date").df()


def _clear_signals(ctx) -> None:
    with ctx.warehouse.session() as con:
        con.execute("DELETE FROM signals")


def _backfill_dates(ctx, n: int):
    with ctx.warehouse.session(read_only=True) as con:
        return [r[0] for r in con.execute(
            "SELECT DISTINCT date FROM features ORDER BY date DESC LIMIT ?", [n]).fetchall()][::-1]


def test_study_on_two_workers_records_every_trial_exactly_once(stack, trained):
    import optuna

    from training.distributed import TASK_ATTR, WHERE_ATTR

    ctx = stack["ctx"]
    # The study lives in PostgreSQL: its own tables hold one row per trial
    with stack["pg"].connect("optuna") as con:
        rows = con.execute("SELECT t.number, t.state FROM trials t JOIN studies s USING (study_id) "
                           "WHERE s.study_name = %s ORDER BY t.number", [trained.study_name]).fetchall()
    assert [r[0] for r in rows] == list(range(TRIALS))
    assert {r[1] for r in rows} <= {"COMPLETE", "PRUNED"}
    study = _study(stack, trained.study_name)
    # Each trial came from its own executor call, and ran in a worker process, not in this one
    assert len({t.user_attrs[TASK_ATTR] for t in study.trials}) == TRIALS
    pids = {int(t.user_attrs[WHERE_ATTR].rsplit(":", 1)[1]) for t in study.trials}
    assert os.getpid() not in pids and pids <= set(ctx.executor.worker_pids().values())
    # MLflow (the server, on PostgreSQL) has one nested run per trial, no more
    client = configure(ctx.mlflow)
    run = client.get_run(trained.run_id)
    nested = client.search_runs([run.info.experiment_id], f"tags.mlflow.parentRunId = '{trained.run_id}'")
    assert sorted(int(r.data.tags["optuna.trial"]) for r in nested) == list(range(TRIALS))
    # Where a trial ran does not change its value: the best trial re-evaluated here gives the same loss
    from flows.train import resolve_settings, step_dataset
    from training.signals import plan_for
    from training.tuning import compute_fold_data, make_objective

    settings = resolve_settings(ctx, trials=TRIALS)
    ds = step_dataset(ctx, settings)
    data = compute_fold_data(ds.frame, ds.feature_cols, plan_for(ds.frame, settings, ds.entry_lag))
    # (the workers have one thread each: the same thread count here)
    objective = make_objective(data, families=settings.families, max_rounds=settings.max_rounds,
                               seed=settings.seed, n_jobs=ctx.executor.threads, min_fold_rows=settings.min_fold_rows)
    best = study.best_trial
    assert objective(optuna.trial.FixedTrial(best.params)) == pytest.approx(best.value, rel=0, abs=1e-12)


def test_registry_on_the_server_holds_the_champion_and_its_artifacts(stack, trained):
    import mlflow

    ctx = stack["ctx"]
    # The version is registered on the server with the alias its promotion gate gave it (champion, or
    # challenger when this small market's model does not clear the skill floor)
    assert trained.alias in (CHAMPION, CHALLENGER)
    assert alias_version(ctx.mlflow, SIGNAL_MODEL, trained.alias) == trained.version
    # The model files are in the server's shared artifact root, not in this process's folders
    stored = list((stack["root"] / "artifacts").rglob("MLmodel"))
    assert stored, "no model under the server's artifact root"
    experiment = configure(ctx.mlflow).get_experiment(configure(ctx.mlflow).get_run(trained.run_id).info.experiment_id)
    assert experiment.artifact_location.startswith("mlflow-artifacts:")
    loaded = mlflow.pyfunc.load_model(f"models:/{SIGNAL_MODEL}@{trained.alias}")
    assert loaded.metadata.run_id == trained.run_id


def test_backfill_on_two_workers_writes_the_rows_in_process_writes(stack, trained):
    from distributed import get_task_stream

    from scoring.signals import run_score_signals

    ctx = stack["ctx"]
    dates = _backfill_dates(ctx, 60)
    _clear_signals(ctx)
    here = run_score_signals(ctx, dates=dates, batch_dates=10, alias=trained.alias, executor=InProcessExecutor())
    expected = _signals(ctx)
    _clear_signals(ctx)
    with get_task_stream(ctx.executor.client) as stream:
        there = run_score_signals(ctx, dates=dates, batch_dates=10, alias=trained.alias)
    got = _signals(ctx)
    # The six chunks ran as Dask tasks on the workers ...
    chunks = [t for t in stream.data if str(t["key"]).startswith("score-signals")]
    assert len({t["key"] for t in chunks}) == 6 and {t["worker"] for t in chunks} <= set(ctx.executor.worker_pids())
    # ... and wrote exactly the rows the in-process run wrote, each once
    assert len(expected) == here.rows_scored == there.inserted == there.rows_scored > 0
    assert there.updated == 0 and there.skipped_rows == here.skipped_rows
    pd.testing.assert_frame_equal(got, expected, check_exact=True)


class _KillOnFirstChunk(WorkerPlugin):
    """A Dask worker plugin: the first worker to start a `score-signals` task dies (SIGKILL) while it runs.
    A marker file makes it happen once, whichever worker (or restarted worker) gets there first."""

    name = "kill-on-first-chunk"

    def __init__(self, marker: str, delay_s: float = 0.01):
        self.marker, self.delay_s = marker, delay_s

    def transition(self, key, start, finish, **kwargs):
        if finish == "executing" and str(key).startswith("score-signals"):
            try:
                fd = os.open(self.marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                return
            os.write(fd, f"{os.getpid()} {key}".encode())
            os.close(fd)
            threading.Timer(self.delay_s, os.kill, (os.getpid(), signal.SIGKILL)).start()


def test_worker_killed_mid_chunk_the_backfill_finishes_with_nothing_twice_or_lost(stack, trained, tmp_path):
    from scoring.signals import run_score_signals

    ctx = stack["ctx"]
    dates = _backfill_dates(ctx, 60)
    _clear_signals(ctx)
    run_score_signals(ctx, dates=dates, batch_dates=10, alias=trained.alias, executor=InProcessExecutor())
    expected = _signals(ctx)
    _clear_signals(ctx)
    before = set(ctx.executor.worker_pids().values())
    marker = tmp_path / "killed"
    client = ctx.executor.client
    client.register_plugin(_KillOnFirstChunk(str(marker)))
    try:
        report = run_score_signals(ctx, dates=dates, batch_dates=10, alias=trained.alias)
    finally:
        client.unregister_worker_plugin(_KillOnFirstChunk.name)
    # A worker died in the middle of a chunk ...
    killed_pid = int(marker.read_text().split()[0])
    assert killed_pid in before
    _wait_for_workers(ctx.executor, 2)
    assert killed_pid not in set(ctx.executor.worker_pids().values())
    # ... its chunk ran again elsewhere, and every row is there exactly once, as in-process
    assert report.inserted == report.rows_scored == len(expected) and report.updated == 0
    pd.testing.assert_frame_equal(_signals(ctx), expected, check_exact=True)


def _wait_for_workers(executor, n: int, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while len(executor.worker_pids()) < n:
        assert time.monotonic() < deadline, "the nanny did not bring the killed worker back"
        time.sleep(0.5)


def test_worker_killed_mid_trial_the_study_finishes_with_the_trial_marked_failed(stack, trained):
    import optuna

    from flows.train import resolve_settings, step_dataset, study_storage
    from training.distributed import WHERE_ATTR, run_study_on
    from training.signals import plan_for

    ctx = stack["ctx"]
    settings = resolve_settings(ctx, trials=TRIALS)
    ds = step_dataset(ctx, settings)
    plan = plan_for(ds.frame, settings, ds.entry_lag)
    name = f"fault-{time.time_ns()}"
    seen: list[int] = []
    result: dict = {}

    def tune():
        try:
            result["tuning"] = run_study_on(
                ctx.executor, ds.frame, ds.feature_cols, plan, n_trials=TRIALS, timeout_s=None, seed=7,
                families=settings.families, max_rounds=settings.max_rounds, storage=study_storage(ctx),
                study_name=name, min_fold_rows=settings.min_fold_rows, callbacks=[lambda s, t: seen.append(t.number)])
        except BaseException as exc:  # surfaced below
            result["error"] = exc

    thread = threading.Thread(target=tune)
    thread.start()
    # When both workers are inside a trial (two RUNNING trials in PostgreSQL), the worker that runs one of them
    # (the trial's `ran_on` pid) is killed. A trial lasts about a second: if it was told just before the kill
    # landed, the kill hit the worker between trials and the next pair is tried.
    running_state = optuna.trial.TrialState.RUNNING
    deadline = time.monotonic() + 120
    killed_in: int | None = None
    while killed_in is None and time.monotonic() < deadline and thread.is_alive():
        try:
            running = _study(stack, name).get_trials(states=(running_state,))
        except KeyError:  # the study is not created yet
            running = []
        pids = set(ctx.executor.worker_pids().values())
        where = {t.number: int(str(t.user_attrs.get(WHERE_ATTR, ":0")).rsplit(":", 1)[1]) for t in running}
        victim = next((n for n, pid in where.items() if pid in pids), None)
        if len(running) == 2 and victim is not None:
            os.kill(where[victim], signal.SIGKILL)
            while os.path.exists(f"/proc/{where[victim]}"):
                time.sleep(0.005)
            # a dead process tells nothing more: still RUNNING now means it died inside that trial
            if _study(stack, name).trials[victim].state == running_state:
                killed_in = victim
            else:
                _wait_for_workers(ctx.executor, 2)
        time.sleep(0.05)
    thread.join(timeout=300)
    assert killed_in is not None, "never killed a worker inside a trial"
    assert "error" not in result, result.get("error")
    study = _study(stack, name)
    states = [t.state for t in study.trials]
    finished = [s for s in states if s in (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)]
    # The study finished every trial it asked for; the killed one is FAILED, none is left RUNNING
    assert len(finished) == TRIALS
    assert [t.number for t in study.trials if t.state == optuna.trial.TrialState.FAIL] == [killed_in]
    assert running_state not in states
    # Every trial, the failed one included, is numbered once and was reported once
    assert sorted(t.number for t in study.trials) == list(range(TRIALS + 1))
    assert sorted(seen) == list(range(TRIALS + 1))
    assert result["tuning"].n_trials == TRIALS + 1


def test_default_executor_stays_in_process():
    assert not ExecutorSettings().distributed
    assert isinstance(open_executor(ExecutorSettings()), InProcessExecutor)


def test_passwords_are_never_printed_or_logged(stack, trained, tmp_path):
    import json
    import subprocess
    import sys

    from pydantic import SecretStr

    from foresight.settings import Settings
    from stores.config import MongoSettings
    from stores.mongo import MongoUnavailable, open_mongo, save_regime_documents

    pg = stack["pg"]
    password = pg.password.get_secret_value()
    mongo_password = "m0ngo-Pa55-word"
    mongo_uri = f"mongodb://admin:{mongo_password}@127.0.0.1:{free_port()}/?directConnection=true"
    env = {**os.environ, "FORESIGHT_MONGODB_URI": mongo_uri, "FORESIGHT_API__TOKEN": "tok-" + password,
           # MLflow straight on PostgreSQL (no server): the tracking URI itself carries the password
           "MLFLOW_TRACKING_URI": pg.url("mlflow").get_secret_value()}
    # The settings as code and people see them
    settings = Settings(_env_file=None, optuna={"storage": pg.url("optuna")}, mongodb={"uri": mongo_uri},
                        api={"token": "tok-" + password}, mlflow={"tracking_uri": pg.url("mlflow").get_secret_value()})
    shown = [repr(settings), str(settings), json.dumps(settings.public_dict(), default=str)]
    # What the CLI prints
    status = subprocess.run([sys.executable, "-m", "foresight.cli", "status", "--json"], env=env, text=True,
                            capture_output=True, timeout=120)
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["settings"]["mlflow_tracking_uri"].startswith("postgresql+psycopg://***@")
    shown += [status.stdout, status.stderr]
    # A MongoDB outage's message
    with pytest.raises(MongoUnavailable) as failed, \
            open_mongo(MongoSettings(uri=SecretStr(mongo_uri), server_timeout_ms=300), tmp_path) as db:
        save_regime_documents(db, [{"universe": "u", "date": pd.Timestamp("2025-01-02"), "model_version": "1"}])
    shown += [str(failed.value), repr(failed.value.__cause__)]
    # The logs of the servers that hold or use the password
    shown += [stack["mlflow_log"].read_text(errors="replace"), pg.log_path.read_text(errors="replace")]
    for text in shown:
        assert password not in text and mongo_password not in text
    assert "**********" in shown[0]
