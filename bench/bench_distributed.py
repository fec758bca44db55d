"""Bench the executor seam: a 30-trial Optuna study and a 2,514-session signal backfill on 1 vs 2 Dask
workers (local cluster, one thread each), the backfill also in-process; then a paper estimate for a
3,000-symbol x 20-year universe on N workers from the measured per-trial and per-row costs.
JSON to bench/results/distributed.json.

    .venv/bin/python bench/bench_distributed.py [--symbols 20] [--years 10] [--trials 30]

The load average is recorded beside every figure: on a shared 2-core machine other work competes for the
second core, and a figure without its load means little.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("PYTHONPATH", str(ROOT))  # the local cluster's workers import this code

BENCH_ALIAS = "bench"
TARGET = {"symbols": 3000, "years": 20, "sessions": 5040}


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--symbols", type=int, default=20, help="symbols the study tunes on")
    ap.add_argument("--backfill-symbols", type=int, default=100,
                    help="symbols the backfill scores (a backfill of 20 symbols is mostly the workers' start-up)")
    ap.add_argument("--years", type=float, default=10.0)
    ap.add_argument("--trials", type=int, default=30)
    ap.add_argument("--batch-dates", type=int, default=250)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = ap.parse_args()

    import optuna

    import features
    from executors import ExecutorSettings, InProcessExecutor, close_executors, open_executor
    from flows.train import resolve_settings, run_signal_steps, step_dataset
    from foresight.context import build_context
    from marketdata.config import SampleSettings
    from marketdata.ingest import run_ingest
    from marketdata.sources import SampleSource
    from registry.core import SIGNAL_MODEL, set_alias
    from scoring.signals import run_score_signals
    from training.distributed import CPU_ATTR, run_study_on
    from training.signals import plan_for

    out: dict = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "load_avg_start": _load()}}
    tmp = Path(tempfile.mkdtemp(prefix="bench-distributed-"))
    ctx = build_context(home=tmp / "home", mlflow={"tracking_uri": f"sqlite:///{tmp}/mlflow.db",
                                                   "artifact_root": tmp / "artifacts"})
    t = time.perf_counter()
    run_ingest(ctx.warehouse, SampleSource(SampleSettings(n_symbols=max(args.symbols, args.backfill_symbols),
                                                         n_years=args.years)),
               ctx.settings.guardrails)
    features.run_features(ctx.warehouse, ctx.settings.features, sets=["alpha158"])
    settings = resolve_settings(ctx, trials=args.trials)
    with ctx.warehouse.session(read_only=True) as con:
        sessions = con.execute("SELECT count(DISTINCT date) FROM features").fetchall()[0][0]
    ds = step_dataset(ctx, settings)
    tuned = sorted(ds.frame["symbol"].unique())[: args.symbols]
    ds = dataclasses.replace(ds, frame=ds.frame[ds.frame["symbol"].isin(tuned)].reset_index(drop=True))
    plan = plan_for(ds.frame, settings, ds.entry_lag)
    out["data"] = {"symbols": args.symbols, "years": args.years, "sessions": sessions, "rows": len(ds.frame),
                   "features": len(ds.feature_cols), "folds": len(plan.folds), "families": list(settings.families),
                   "max_rounds": settings.max_rounds, "prepare_s": round(time.perf_counter() - t, 1)}
    print("data", out["data"], flush=True)

    # -- tuning: the same study on 1 and 2 workers (a fresh study each) --------------------------------
    out["tuning"] = {}
    for n in args.workers:
        executor = open_executor(ExecutorSettings(local_workers=n))
        load0, t = _load(), time.perf_counter()
        res = run_study_on(executor, ds.frame, ds.feature_cols, plan, n_trials=args.trials, timeout_s=None,
                           seed=settings.seed, families=settings.families, max_rounds=settings.max_rounds,
                           storage=f"sqlite:///{tmp}/optuna.db", study_name=f"bench-{n}w",
                           min_fold_rows=settings.min_fold_rows)
        wall = time.perf_counter() - t
        busy = float(res.trials["duration_s"].sum())
        study = optuna.load_study(study_name=f"bench-{n}w", storage=f"sqlite:///{tmp}/optuna.db")
        cpu = [t.user_attrs.get(CPU_ATTR) for t in study.trials if t.user_attrs.get(CPU_ATTR) is not None]
        out["tuning"][f"{n}_workers"] = {
            "trials": res.n_trials, "complete": res.n_complete, "pruned": res.n_pruned, "wall_s": round(wall, 1),
            "trials_per_minute": round(res.n_trials / wall * 60, 2), "trial_seconds_sum": round(busy, 1),
            "trial_seconds_mean": round(busy / res.n_trials, 2),
            "trial_cpu_seconds_mean": round(sum(cpu) / len(cpu), 2) if cpu else None,
            # trials differ between the runs (TPE and the pruner see other histories when trials overlap):
            # trial CPU seconds done per wall second compares the runs' throughput whatever the trials were
            "trial_cpu_s_per_wall_s": round(sum(cpu) / wall, 2) if cpu else None,
            "trials_running_at_once": round(busy / wall, 2),
            "best_mean_fold_log_loss": round(res.best_value, 5),
            "best_family": res.best_params["family"], "load_avg_before": load0, "load_avg_after": _load(),
        }
        print("tuning", n, out["tuning"][f"{n}_workers"], flush=True)
        close_executors()

    # -- a champion to backfill with (in-process, a few trials; the backfill's cost is per row) --------
    champion_settings = settings.model_copy(update={"trials": 3, "control_shuffles": 1})
    report = run_signal_steps(ctx, ds, champion_settings)
    # The backfill's cost is per row whatever the model's skill: the version is scored under a bench alias
    # (the promotion gate, which may refuse it on this sample, is not what is measured here).
    set_alias(ctx.mlflow, SIGNAL_MODEL, report.version, BENCH_ALIAS)
    out["backfill_model"] = {"family": report.family, "version": report.version, "alias": BENCH_ALIAS}

    # -- backfill: every session, in-process and on 1 and 2 workers -------------------------------------
    out["backfill"] = {}
    for label, n in [("in_process", 0), *[(f"{n}_workers", n) for n in args.workers]]:
        with ctx.warehouse.session() as con:
            con.execute("DELETE FROM signals")
        executor = InProcessExecutor() if n == 0 else open_executor(ExecutorSettings(local_workers=n))
        if n:
            executor.share(0)  # the cluster is up and connected before the clock starts
        load0, t, cpu0 = _load(), time.perf_counter(), time.process_time()
        rep = run_score_signals(ctx, batch_dates=args.batch_dates, alias=BENCH_ALIAS, executor=executor)
        wall, cpu = time.perf_counter() - t, time.process_time() - cpu0
        out["backfill"][label] = {
            "sessions": rep.dates, "rows": rep.rows_scored, "chunks": -(-rep.dates // args.batch_dates),
            "wall_s": round(wall, 1), "rows_per_s": round(rep.rows_scored / wall),
            "driver_cpu_s": round(cpu, 1), "load_avg_before": load0,
            "load_avg_after": _load(),
        }
        print("backfill", label, out["backfill"][label], flush=True)
        close_executors()

    out["estimate"] = paper_estimate(out)
    out["machine"]["load_avg_end"] = _load()
    dest = ROOT / "bench" / "results" / "distributed.json"
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(json.dumps(out, indent=2, default=str))
    print(json.dumps(out["estimate"], indent=2))
    print(f"wrote {dest}")


def paper_estimate(out: dict) -> dict:
    """3,000 symbols x 20 years on N workers, from this run's per-trial and per-row CPU costs (CPU seconds
    are what a core of its own would take, whatever else shared this machine while it was measured).

    Tuning: a trial's cost grows about linearly with its training rows (histogram boosting is
    O(rows x features x rounds)): the measured CPU seconds of a trial times the row ratio; 30 trials run in
    waves of N. Backfill (Amdahl): the driver's share (reading chunks, shipping them, writing rows: CPU of the
    driver in the 2-worker run) stays serial; the rest of the in-process CPU divides by N. Memory: a
    trial's folds are rows x features float64 on every worker."""
    data = out["data"]
    rows_target = TARGET["symbols"] * TARGET["sessions"]
    scale = rows_target / data["rows"]
    runs = [r for r in out["tuning"].values() if r.get("trial_cpu_seconds_mean")]
    trial_cpu = sum(r["trial_cpu_seconds_mean"] * r["trials"] for r in runs) / sum(r["trials"] for r in runs) \
        if runs else None
    here = out["backfill"].get("in_process")
    two = out["backfill"].get("2_workers")
    est = {
        "target": {**TARGET, "rows": rows_target}, "row_scale_vs_measured": round(scale, 1),
        "assumptions": "per-trial cost linear in training rows, from CPU seconds per trial over every tuning run; backfill "
                       "cost per row from CPU seconds in-process, the driver's CPU in the 2-worker run as the "
                       "serial part; workers are cores like this machine's; 30 trials in waves of N",
        "fold_data_gb_per_worker_float64": round(rows_target * data["features"] * 8 / 1e9, 1),
        "by_workers": {},
    }
    serial = parallel = None
    if here and two:
        serial = two["driver_cpu_s"] / two["rows"]
        parallel = max(here["driver_cpu_s"] / here["rows"] - serial, 0.0)
        est["backfill_cpu_s_per_row"] = {"serial_driver": round(serial, 6), "parallel": round(parallel, 6)}
    if trial_cpu:
        est["trial_cpu_hours_at_target"] = round(trial_cpu * scale / 3600, 2)
    for n in (1, 2, 8, 32, 128):
        row = {}
        if trial_cpu:
            row["study_30_trials_hours"] = round(-(-30 // n) * trial_cpu * scale / 3600, 1)
        if serial is not None:
            row["backfill_hours"] = round(rows_target * (serial + parallel / n) / 3600, 2)
        est["by_workers"][str(n)] = row
    return est


if __name__ == "__main__":
    main()
