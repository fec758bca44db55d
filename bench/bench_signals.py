"""Bench D1 signals: Optuna trials/minute and 30-trial study wall time at 50 symbols x 10 years (Alpha158),
scoring rows/s with TreeSHAP attribution at 500 symbols x 1 date and x 2,500 dates. JSON to
bench/results/signals.json.

    .venv/bin/python bench/bench_signals.py [--trials 30] [--timeout 600] [--score-dates 2500]

On a shared 2-core machine the study may be capped by --timeout; the JSON then says how many trials ran
and extrapolates the 30-trial wall time from the measured trials/minute.
"""

from __future__ import annotations

import argparse
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--symbols", type=int, default=50)
    ap.add_argument("--years", type=float, default=10.0)
    ap.add_argument("--trials", type=int, default=30)
    ap.add_argument("--timeout", type=float, default=600.0, help="cap on the study's wall time (s)")
    ap.add_argument("--score-symbols", type=int, default=500)
    ap.add_argument("--score-dates", type=int, default=2500)
    ap.add_argument("--batch-dates", type=int, default=250)
    ap.add_argument("--scoring-only", action="store_true",
                    help="skip the study: fit each family with fixed mid-range params and time scoring only; "
                         "results merge into the JSON under scoring_by_family")
    args = ap.parse_args()


    import features
    from foresight.context import build_context
    from marketdata.config import SampleSettings
    from marketdata.ingest import run_ingest
    from marketdata.sources import SampleSource
    from training.config import SignalTrainingSettings
    from training.signals import fit_signal_model, plan_for
    from training.tuning import run_study

    out: dict = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                             "load_avg_start": os.getloadavg()}}
    tmp = Path(tempfile.mkdtemp(prefix="bench-signals-"))
    ctx = build_context(home=tmp / "home")
    t = time.perf_counter()
    run_ingest(ctx.warehouse, SampleSource(SampleSettings(n_symbols=args.symbols, n_years=args.years)),
               ctx.settings.guardrails)
    features.run_features(ctx.warehouse, ctx.settings.features, sets=["alpha158"])
    with ctx.warehouse.session(read_only=True) as con:
        frame = features.load_training_frame(con, "alpha158", 5)
    cols = features.feature_columns("alpha158")
    out["data"] = {"symbols": args.symbols, "years": args.years, "rows": len(frame), "features": len(cols),
                   "prepare_s": round(time.perf_counter() - t, 2)}
    print("data", out["data"], flush=True)

    settings = SignalTrainingSettings(trials=args.trials)
    plan = plan_for(frame, settings, entry_lag=1)
    if args.scoring_only:
        fixed = {
            "lightgbm": {"family": "lightgbm", "lgb_rounds": 200, "lgb_learning_rate": 0.05, "lgb_num_leaves": 15,
                         "lgb_max_depth": 4, "lgb_min_data_in_leaf": 200},
            "catboost": {"family": "catboost", "cb_iterations": 200, "cb_learning_rate": 0.05, "cb_depth": 4},
        }
        dest = ROOT / "bench" / "results" / "signals.json"
        saved = json.loads(dest.read_text()) if dest.exists() else {}
        saved["scoring_by_family"] = {}
        for fam, params in fixed.items():
            model, _ = fit_signal_model(frame, cols, plan, params, settings)
            saved["scoring_by_family"][fam] = {"params": params, **_time_scoring(model, frame, cols, args)}
            print(fam, saved["scoring_by_family"][fam], flush=True)
        dest.write_text(json.dumps(saved, indent=2, default=str))
        print(f"wrote {dest}")
        return
    t = time.perf_counter()
    res = run_study(frame, cols, plan, n_trials=args.trials, timeout_s=args.timeout, seed=settings.seed,
                    families=settings.families, max_rounds=settings.max_rounds,
                    storage=f"sqlite:///{tmp}/optuna.db", study_name="bench", min_fold_rows=settings.min_fold_rows)
    wall = time.perf_counter() - t
    per_min = res.n_trials / wall * 60
    by_family = res.trials.groupby("family")["duration_s"].agg(["count", "mean"]).round(2).to_dict("index")
    out["tuning"] = {
        "trials_run": res.n_trials, "complete": res.n_complete, "pruned": res.n_pruned, "wall_s": round(wall, 1),
        "trials_per_minute": round(per_min, 2), "timeout_s": args.timeout, "folds": len(plan.folds),
        "wall_30_trials_s": round(wall, 1) if res.n_trials >= 30 else round(30 / per_min * 60, 1),
        "wall_30_trials_measured": res.n_trials >= 30, "best_family": res.best_params["family"],
        "best_mean_fold_log_loss": round(res.best_value, 5), "per_family": by_family,
    }
    print("tuning", out["tuning"], flush=True)

    t = time.perf_counter()
    model, _ = fit_signal_model(frame, cols, plan, res.best_params, settings)
    out["refit_s"] = round(time.perf_counter() - t, 2)

    scoring = _time_scoring(model, frame, cols, args)
    scoring["model_family"] = model.family
    scoring["note"] = "pure compute_signal_scores (cross-sectional ranks + TreeSHAP + JSON top-5); no DuckDB I/O"
    out["scoring"] = scoring
    out["machine"]["load_avg_end"] = os.getloadavg()
    print("scoring", scoring, flush=True)
    dest = ROOT / "bench" / "results" / "signals.json"
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(json.dumps(out, indent=2, default=str))
    print(f"wrote {dest}")


def _time_scoring(model, frame, cols, args) -> dict:
    """rows/s of compute_signal_scores on whole cross-sections of `score_symbols` names (1 date, then
    `score_dates` dates in batches), feature values drawn from the training rows."""
    import numpy as np
    import pandas as pd

    from models.signals import compute_signal_scores

    rng = np.random.default_rng(0)
    n_s = args.score_symbols
    syms = np.array([f"S{i:04d}" for i in range(n_s)], dtype=object)
    # Feature values drawn from the training rows (realistic distributions), whole cross-sections per date.
    pool = frame[cols].to_numpy(dtype=float)

    def batch(n_dates: int, offset: int) -> pd.DataFrame:
        dates = pd.bdate_range("2030-01-01", periods=offset + n_dates)[offset:]
        f = pd.DataFrame(pool[rng.integers(0, len(pool), n_dates * n_s)], columns=cols)
        f.insert(0, "date", np.repeat(dates.values, n_s))
        f.insert(0, "symbol", np.tile(syms, n_dates))
        return f

    scoring = {}
    one = batch(1, 0)
    t = time.perf_counter()
    s1 = compute_signal_scores(model, one, top_k=5)
    dt1 = time.perf_counter() - t
    scoring["1_date"] = {"rows": len(s1), "seconds": round(dt1, 3), "rows_per_s": round(len(s1) / dt1)}
    total_rows, total_s = 0, 0.0
    done = 0
    while done < args.score_dates:
        n = min(args.batch_dates, args.score_dates - done)
        f = batch(n, done)
        t = time.perf_counter()
        s = compute_signal_scores(model, f, top_k=5)
        total_s += time.perf_counter() - t
        total_rows += len(s)
        done += n
        del f, s
    scoring[f"{args.score_dates}_dates"] = {"rows": total_rows, "seconds": round(total_s, 1),
                                           "rows_per_s": round(total_rows / total_s),
                                           "batch_dates": args.batch_dates}
    return scoring


if __name__ == "__main__":
    main()
