"""Build a benchmark home once (sample market, features, a champion per family) for the A/B benches.

    .venv/bin/python bench/bench_home.py DIR [--symbols 500] [--years 10] [--family lightgbm|catboost]

DIR gets home/ (the warehouse) and mlruns/; the env file DIR/env.sh points FORESIGHT_HOME and MLflow there.
The champion is trained with one trial on the last --train-sessions sessions (the benches measure scoring).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def env_for(d: Path) -> dict[str, str]:
    """The environment that points Foresight at the bench home under `d`."""
    return {
        "FORESIGHT_HOME": str(d / "home"),
        "MLFLOW_TRACKING_URI": f"sqlite:///{d}/mlruns/mlflow.db",
        "FORESIGHT_MLFLOW__ARTIFACT_ROOT": f"{d}/mlruns/artifacts",
        "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "1", "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dir", type=Path)
    ap.add_argument("--symbols", type=int, default=500)
    ap.add_argument("--years", type=float, default=10.0)
    ap.add_argument("--family", default="lightgbm")
    ap.add_argument("--train-sessions", type=int, default=250)
    args = ap.parse_args()
    d = args.dir.resolve()
    d.mkdir(parents=True, exist_ok=True)
    os.environ.update(env_for(d))
    os.environ["FORESIGHT_SAMPLE__N_SYMBOLS"] = str(args.symbols)
    os.environ["FORESIGHT_SAMPLE__N_YEARS"] = str(args.years)
    from flows import steps
    from flows.train import resolve_settings, run_signal_steps, step_dataset
    from foresight.context import build_context

    ctx = build_context()
    t0 = time.perf_counter()
    with ctx.warehouse.session(read_only=False) as con:
        has_bars = con.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = 'bars'").fetchall()[0][0]
        n = con.execute("SELECT count(*) FROM bars").fetchall()[0][0] if has_bars else 0
    if not n:
        steps.step_ingest(ctx, "sample")
        steps.step_features(ctx, full=False)
    settings = resolve_settings(ctx, trials=1, families=[args.family])
    with ctx.warehouse.session(read_only=True) as con:
        start = con.execute("SELECT min(date) FROM (SELECT DISTINCT date FROM bars ORDER BY date DESC LIMIT ?)",
                            [args.train_sessions]).fetchall()[0][0]
    ds = step_dataset(ctx, settings, start=start)
    rep = run_signal_steps(ctx, ds, settings)
    (d / "env.json").write_text(json.dumps(env_for(d)))
    print(json.dumps({"dir": str(d), "family": rep.family, "version": rep.version,
                      "seconds": round(time.perf_counter() - t0, 1)}))


if __name__ == "__main__":
    main()
