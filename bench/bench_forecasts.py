"""Forecast benchmark: train + register + backfill on the default sample market (50 symbols x 10 years),
nightly score/evaluate latency, holdout pinball and coverage per candidate, VaR backtest, and the rolling
conformal coverage on GARCH(1,1)-t(5) returns at H = 1, 5, 21, 63.

Run: .venv/bin/python bench/bench_forecasts.py [--symbols 50] [--years 10] -> bench/results/forecasts.json
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

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def garch_coverage(horizons=(1, 5, 21, 63), n=8000, seed=20241124) -> dict:
    """Out-of-sample 90% band coverage of LightGBM quantiles + rolling CQR on GARCH(1,1)-t(5) returns."""

    from marketdata.sample import compute_garch_t5_returns
    from models.forecasts import (
        ForecastSettings,
        compute_forecast_features,
        compute_log_targets,
        compute_rolling_conformal,
        conformal_window,
        fit_quantile_boosters,
        predict_quantile_boosters,
    )

    ret = compute_garch_t5_returns(n, seed)
    cfg = ForecastSettings(lgbm_rounds=150)
    feats = compute_forecast_features(ret)
    levels = (0.05, 0.5, 0.95)
    out = {}
    for h in horizons:
        scale = feats["vol_ewma"].to_numpy() * np.sqrt(h)
        y = compute_log_targets(ret, h).to_numpy()
        z = y / scale
        ok = np.isfinite(z) & feats["vol_63"].notna().to_numpy()
        train = np.flatnonzero(ok)[:2000]
        raw = predict_quantile_boosters(fit_quantile_boosters(feats.iloc[train], z[train], levels, cfg), feats)
        cal_start = train[-1] + h + 1
        target = np.where(np.arange(n) >= cal_start, z, np.nan)
        cal = compute_rolling_conformal(raw, target, h, levels, conformal_window(cfg, h), 50, start=cal_start + 250 + h)
        fixed = compute_rolling_conformal(raw, target, h, levels, 250, 50, start=cal_start + 250 + h)
        test = np.arange(n - 5000 - h, n - h)
        q = cal[test] * scale[test, None]
        yy = y[test]
        inside = (yy >= q[:, 0]) & (yy <= q[:, 2])
        raw_q = raw[test] * scale[test, None]
        out[str(h)] = {
            "coverage": float(inside.mean()), "lower_tail": float(np.mean(yy < q[:, 0])),
            "upper_tail": float(np.mean(yy > q[:, 2])),
            "coverage_non_overlapping": float(inside[::h].mean()), "n": int(len(test)),
            "raw_lightgbm_coverage": float(np.mean((yy >= raw_q[:, 0]) & (yy <= raw_q[:, 2]))),
            "window": conformal_window(cfg, h),
            "coverage_fixed_window_250": float(np.mean(
                (yy >= fixed[test, 0] * scale[test]) & (yy <= fixed[test, 2] * scale[test]))),
        }
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--symbols", type=int, default=50)
    ap.add_argument("--years", type=float, default=10.0)
    args = ap.parse_args()
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    tmp = Path(tempfile.mkdtemp(prefix="bench-forecasts-"))
    os.environ["FORESIGHT_HOME"] = str(tmp / "home")
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{tmp}/mlruns/mlflow.db"
    os.environ["FORESIGHT_MLFLOW__ARTIFACT_ROOT"] = str(tmp / "mlruns" / "artifacts")

    from foresight.context import build_context
    from marketdata.config import SampleSettings
    from marketdata.ingest import run_ingest
    from marketdata.sources import SampleSource
    from scoring.forecasts import load_forecast_kpis, run_evaluate_forecasts, run_score_forecasts
    from training.forecasts import run_train_forecasts

    ctx = build_context()
    t = time.perf_counter()
    run_ingest(ctx.warehouse, SampleSource(SampleSettings(n_symbols=args.symbols, n_years=args.years)),
               ctx.settings.guardrails)
    ingest_s = time.perf_counter() - t
    t = time.perf_counter()
    rep = run_train_forecasts(ctx)
    train_total_s = time.perf_counter() - t
    t = time.perf_counter()
    run_score_forecasts(ctx)
    score_s = time.perf_counter() - t
    t = time.perf_counter()
    run_evaluate_forecasts(ctx)
    eval_s = time.perf_counter() - t
    with ctx.warehouse.session(read_only=True) as con:
        kpis = load_forecast_kpis(con, ctx.settings.forecasts.portfolio)
    t = time.perf_counter()
    garch = garch_coverage()
    garch_s = time.perf_counter() - t
    result = {
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "market": {"symbols": args.symbols, "years": args.years},
        "timings_s": {"ingest": ingest_s, "train_register_backfill_total": train_total_s, **rep.timings_s,
                      "score_one_night": score_s, "evaluate_one_night": eval_s, "garch_check": garch_s},
        "model_version": rep.model_version, "alias": rep.alias, "champions": rep.champions,
        "holdout": rep.holdout, "notes": rep.notes, "holdout_var": rep.var,
        "backfill_kpis": kpis, "garch_t5_conformal": garch,
    }
    out = ROOT / "bench" / "results" / "forecasts.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, default=str), encoding="utf-8")
    print(json.dumps({"timings_s": result["timings_s"], "champions": rep.champions,
                      "garch": garch}, indent=2, default=str))


if __name__ == "__main__":
    main()
