"""Tuning A/B: a whole Optuna study (default 30 trials, 4 folds) on 50 symbols x 10 years of Alpha158, with the
old code and this code on the same frame, and the quality of what each finds (holdout log-loss and AUC of the
refitted, calibrated model on the untouched holdout).

    .venv/bin/python bench/bench_tuning.py --before /path/to/old/worktree [--trials 30] [--before-timeout 600]
        -> bench/results/tuning.json

The old study may be capped by --before-timeout: the JSON then says how many trials ran and extrapolates.
The 1-minute load average is recorded beside every figure: the machine is shared.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

_RUN = r"""
import json, os, sys, time
code, data, trials, timeout = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4]) or None
sys.path.insert(0, code)
import numpy as np, pandas as pd
from training.config import SignalTrainingSettings
from training.signals import fit_signal_model, plan_for, train_signal_model
from training.tuning import run_study
frame = pd.read_parquet(data)
cols = json.load(open(data + ".cols.json"))
settings = SignalTrainingSettings(trials=trials)
plan = plan_for(frame, settings, entry_lag=1)
load = os.getloadavg()[0]
t, c = time.perf_counter(), time.process_time()
res = run_study(frame, cols, plan, n_trials=trials, timeout_s=timeout, seed=settings.seed, families=settings.families,
                max_rounds=settings.max_rounds, storage=None, study_name="bench", min_fold_rows=settings.min_fold_rows,
                n_jobs=settings.n_jobs)
wall, cpu = time.perf_counter() - t, time.process_time() - c
t = time.perf_counter()
fitted = fit_signal_model(frame, cols, plan, res.best_params, settings)
result = train_signal_model(frame, cols, res.best_params, settings, plan=plan, is_sample_data=True, leak=None, run_control=False,
                            fitted=fitted)
refit = time.perf_counter() - t
d = res.trials["duration_s"].dropna()
print(json.dumps({
    "trials_run": res.n_trials, "complete": res.n_complete, "pruned": res.n_pruned, "wall_s": round(wall, 1),
    "trials_per_minute": round(res.n_trials / wall * 60, 2), "cpu_s": round(cpu, 1),
    "cpu_s_per_trial": round(cpu / res.n_trials, 1), "timeout_s": timeout,
    "wall_30_trials_s": round(wall / res.n_trials * 30, 1), "wall_30_trials_measured": res.n_trials >= 30,
    "trial_s_median": round(float(d.median()), 2), "trial_s_max": round(float(d.max()), 2),
    "per_family": res.trials.groupby("family")["duration_s"].agg(["count", "mean", "max"]).round(2).to_dict("index"),
    "best_family": res.best_params["family"], "best_params": res.best_params,
    "best_mean_fold_log_loss": round(res.best_value, 5), "refit_s": round(refit, 1),
    "holdout_log_loss": result.metrics["log_loss"], "holdout_auc": result.metrics["auc"],
    "holdout_log_loss_base_rate": result.metrics.get("log_loss_base_rate"), "n_jobs": settings.n_jobs,
    "load_1m_start": round(load, 2), "load_1m_end": round(os.getloadavg()[0], 2)}, default=str))
"""


def prepare(tmp: Path, symbols: int, years: float) -> Path:
    sys.path.insert(0, str(ROOT))
    import features
    from foresight.context import build_context
    from marketdata.config import SampleSettings
    from marketdata.ingest import run_ingest
    from marketdata.sources import SampleSource

    ctx = build_context(home=tmp / "home")
    run_ingest(ctx.warehouse, SampleSource(SampleSettings(n_symbols=symbols, n_years=years)), ctx.settings.guardrails)
    features.run_features(ctx.warehouse, ctx.settings.features, sets=["alpha158"])
    with ctx.warehouse.session(read_only=True) as con:
        frame = features.load_training_frame(con, "alpha158", 5)
    out = tmp / "frame.parquet"
    frame.to_parquet(out)
    Path(str(out) + ".cols.json").write_text(json.dumps(list(features.feature_columns("alpha158"))))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", type=Path, required=True)
    ap.add_argument("--after", type=Path, default=ROOT)
    ap.add_argument("--symbols", type=int, default=50)
    ap.add_argument("--years", type=float, default=10.0)
    ap.add_argument("--trials", type=int, default=30)
    ap.add_argument("--before-timeout", type=float, default=600.0)
    ap.add_argument("--data", type=Path, default=None, help="a frame.parquet made by an earlier run")
    ap.add_argument("--sides", nargs="+", default=["after", "before"], choices=["after", "before"])
    ap.add_argument("--merge", action="store_true", help="keep the other side's figures from --out")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "tuning.json")
    args = ap.parse_args()
    # Both sides run as the CLI and `make` run them (foresight.commands.common.share_cores).
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    for k, v in {"MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "1"}.items():
        os.environ.setdefault(k, v)
    tmp = Path(tempfile.mkdtemp(prefix="bench-tuning-"))
    t = time.perf_counter()
    data = args.data or prepare(tmp, args.symbols, args.years)
    result: dict = {"benchmark": "Optuna study, before/after on the same frame", "symbols": args.symbols,
                    "years": args.years, "trials": args.trials, "data": str(data),
                    "prepare_s": round(time.perf_counter() - t, 1), "cpus": os.cpu_count()}
    if args.merge and args.out.exists():
        old = json.loads(args.out.read_text())
        result.update({k: v for k, v in old.items() if k in ("after", "before") and k not in args.sides})
    for side, timeout in (("after", 0.0), ("before", args.before_timeout)):
        if side not in args.sides:
            continue
        out = subprocess.run([sys.executable, "-c", _RUN, str(getattr(args, side)), str(data), str(args.trials),
                              str(timeout)], capture_output=True, text=True, check=False,
                             env={**os.environ, "PYTHONPATH": str(getattr(args, side))})
        if out.returncode:
            raise RuntimeError(out.stderr[-3000:])
        result[side] = json.loads(out.stdout.strip().splitlines()[-1])
        print(side, json.dumps(result[side]), flush=True)
    result["speedup_trials_per_minute"] = round(result["after"]["trials_per_minute"]
                                                / result["before"]["trials_per_minute"], 1)
    result["measured_at"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, default=str))
    print(json.dumps(result, indent=2, default=str))


if __name__ == "__main__":
    main()
