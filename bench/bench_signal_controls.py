"""Bench the signal model's honesty numbers on the demo's market: holdout AUC (with its date-clustered SE), ECE,
the Sharpe delta of the top-k backtest over the holdout (with its stationary-bootstrap CI), the controls and
the promotion decision. JSON to bench/results/signal_controls.json (or --out).

    .venv/bin/python bench/bench_signal_controls.py [--symbols 50] [--years 10] [--trials 6] [--random-walk]

Same steps as `foresight demo` (sample ingest, features, the signal training steps, scoring with the trained
version, the top-k backtest at 5 bps), without the regime and forecast models.
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
    ap.add_argument("--trials", type=int, default=6)
    ap.add_argument("--random-walk", action="store_true", help="the signal_strength=0 variant of the sample")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "signal_controls.json")
    ap.add_argument("--label", default="", help="free text stored with the result (e.g. the code's commit)")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bench-controls-"))
    os.environ["FORESIGHT_HOME"] = str(tmp / "home")
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{tmp}/mlruns/mlflow.db"
    os.environ["FORESIGHT_MLFLOW__ARTIFACT_ROOT"] = str(tmp / "mlruns" / "artifacts")

    import pandas as pd

    import features
    from backtest.config import BacktestSettings
    from backtest.runner import run_backtest
    from flows.train import resolve_settings, run_signal_steps, step_dataset
    from foresight.context import build_context
    from marketdata.config import SampleSettings
    from marketdata.ingest import run_ingest
    from marketdata.sample import random_walk_settings
    from marketdata.sources import SampleSource
    from registry.core import CHALLENGER, CHAMPION, SIGNAL_MODEL, alias_version, configure
    from scoring.signals import run_score_signals

    out: dict = {"label": args.label, "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                                                  "load_avg_start": os.getloadavg()},
                 "data": {"symbols": args.symbols, "years": args.years, "random_walk": args.random_walk}}
    ctx = build_context()
    sample = SampleSettings(n_symbols=args.symbols, n_years=args.years)
    if args.random_walk:
        sample = random_walk_settings(sample)
    t = time.perf_counter()
    run_ingest(ctx.warehouse, SampleSource(sample), ctx.settings.guardrails)
    features.run_features(ctx.warehouse, ctx.settings.features)
    out["data"]["prepare_s"] = round(time.perf_counter() - t, 1)

    t = time.perf_counter()
    settings = resolve_settings(ctx, trials=args.trials)
    ds = step_dataset(ctx, settings)
    report = run_signal_steps(ctx, ds, settings)
    out["train_s"] = round(time.perf_counter() - t, 1)
    keep = ("auc", "auc_se_date", "auc_se_null", "log_loss", "log_loss_base_rate", "brier_skill", "ece", "ece_raw",
            "rank_ic_mean", "n")
    out["holdout"] = {"window": list(report.holdout), **{k: report.metrics.get(k) for k in keep}}
    out["controls"] = {k: v for k, v in report.controls.items() if isinstance(v, int | float | bool | str)}
    out["promotion"] = {"version": report.version, "alias": report.alias, "promoted": report.promoted,
                        "reason": report.reason, "suspect": report.suspect, "family": report.family}
    out["champion"] = alias_version(ctx.mlflow, SIGNAL_MODEL, CHAMPION)
    print(json.dumps(out, indent=1, default=str), flush=True)

    # The Sharpe delta over the holdout, with the version this training registered (whichever alias it got).
    alias = CHAMPION if report.promoted else CHALLENGER
    t = time.perf_counter()
    lo, hi = (pd.Timestamp(d).date() for d in report.holdout)
    run_score_signals(ctx, start=lo, end=hi, alias=alias)
    _, bt = run_backtest(ctx.warehouse, BacktestSettings(model_version=report.version))
    r = bt.report
    out["backtest"] = {"alias_scored": alias, "sharpe": r["sharpe"], "baseline_sharpe": r["baseline_sharpe"],
                       "sharpe_delta": r["sharpe_delta"], "sharpe_delta_ci": list(r["sharpe_delta_ci"]),
                       "seconds": round(time.perf_counter() - t, 1)}
    client = configure(ctx.mlflow)
    out["run_metrics"] = {k: v for k, v in client.get_run(report.run_id).data.metrics.items()
                          if k.startswith(("holdout_auc", "holdout_ece", "control_", "skill_", "leak_"))}
    out["machine"]["load_avg_end"] = os.getloadavg()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2, default=str))
    print(json.dumps(out["backtest"], default=str))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
