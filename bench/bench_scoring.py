"""Scoring benchmark: nightly scoring of one date and the full backfill with the `champion` signal model.

Builds a fresh home: sample market -> features -> a small-budget champion -> scoring; wall time and rows/s.
Run: .venv/bin/python bench/bench_scoring.py [--symbols 500] [--years 10] [--trials 2] -> bench/results/scoring.json
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--symbols", type=int, default=500)
    ap.add_argument("--years", type=float, default=10.0)
    ap.add_argument("--trials", type=int, default=2)
    ap.add_argument("--train-sessions", type=int, default=250,
                    help="train the champion on the last N sessions only (the bench measures scoring)")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "scoring.json")
    args = ap.parse_args()
    for k, v in {"MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "1",
                 "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}.items():
        os.environ.setdefault(k, v)
    timings: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["FORESIGHT_HOME"] = f"{tmp}/home"
        os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{tmp}/mlruns/mlflow.db"
        os.environ["FORESIGHT_MLFLOW__ARTIFACT_ROOT"] = f"{tmp}/mlruns/artifacts"
        os.environ["FORESIGHT_SAMPLE__N_SYMBOLS"] = str(args.symbols)
        os.environ["FORESIGHT_SAMPLE__N_YEARS"] = str(args.years)
        from flows import steps
        from flows.train import resolve_settings, run_signal_steps, step_dataset
        from foresight.context import build_context
        from scoring.signals import run_score_signals

        ctx = build_context()

        def timed(name, fn):
            t = time.perf_counter()
            out = fn()
            timings[name] = round(time.perf_counter() - t, 2)
            print(f"{name}: {timings[name]} s", flush=True)
            return out

        timed("ingest_s", lambda: steps.step_ingest(ctx, "sample"))
        timed("features_s", lambda: steps.step_features(ctx, full=False))
        settings = resolve_settings(ctx, trials=args.trials)
        last = steps.latest_bar_date(ctx)
        with ctx.warehouse.session(read_only=True) as con:
            train_start = con.execute("SELECT min(date) FROM (SELECT DISTINCT date FROM bars ORDER BY date DESC "
                                      "LIMIT ?)", [args.train_sessions]).fetchall()[0][0]
        ds = timed("dataset_s", lambda: step_dataset(ctx, settings, start=train_start))
        train = timed("train_s", lambda: run_signal_steps(ctx, ds, settings))
        one = timed("nightly_one_date_cold_s", lambda: run_score_signals(ctx, start=last, end=last))
        timed("nightly_one_date_warm_s", lambda: run_score_signals(ctx, start=last, end=last))
        with ctx.warehouse.session() as con:
            con.execute("DELETE FROM signals")
        full = timed("backfill_s", lambda: run_score_signals(ctx))
        again = timed("backfill_rerun_s", lambda: run_score_signals(ctx))
        pub = timed("publish_snapshot_s", lambda: steps.step_publish(ctx))
    result = {
        "benchmark": "signal scoring with the champion",
        "symbols": args.symbols, "years": args.years, "trials": args.trials, "train_sessions": args.train_sessions,
        "model": {"version": train.version, "family": train.family, "promoted": train.promoted},
        "nightly_one_date": {"rows": one.rows_scored, "symbols": one.symbols, "skipped_symbols": len(one.skipped_symbols),
                             "cold_s": timings["nightly_one_date_cold_s"], "warm_s": timings["nightly_one_date_warm_s"]},
        "backfill": {"dates": full.dates, "rows": full.rows_scored, "inserted": full.inserted,
                     "wall_s": timings["backfill_s"], "rows_per_s": round(full.rows_scored / timings["backfill_s"], 1),
                     "rerun_s": timings["backfill_rerun_s"], "rerun_unchanged": again.unchanged,
                     "rerun_written": again.rows_written},
        "snapshot": {"publish_s": timings["publish_snapshot_s"], "tables": pub["tables"]},
        "timings_s": timings,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "load_avg_1m_at_end": round(os.getloadavg()[0], 2)},
        "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
