"""Regime benchmark: known-answer accuracy vs the volatility baseline (2 and 3 states, several seeds),
fit time per family, forward-filter throughput, and train + backfill + nightly on the default sample market
with a local SecantusDB.

Run: .venv/bin/python bench/bench_regimes.py [--symbols 50] [--years 10] -> bench/results/regimes.json
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


def known_answer(n=5000, seeds=(0, 1, 2)) -> dict:
    import pandas as pd

    from marketdata.sample import TRANSITIONS, compute_regime_switching_returns
    from models.regimes import (
        compute_accuracy,
        compute_filtered_probabilities,
        compute_hysteresis,
        compute_stationary,
        compute_vol_threshold_states,
        fit_gaussian_hmm,
        fit_markov_switching,
        fit_vol_thresholds,
    )

    specs = {2: ([0.0006, -0.0010], [0.008, 0.020], [[0.99, 0.01], [0.03, 0.97]]),
             3: ([0.0008, 0.0, -0.0015], [0.007, 0.012, 0.025], TRANSITIONS[3])}
    out = {}
    for k, spec in specs.items():
        rows = []
        for seed in seeds:
            r, s = compute_regime_switching_returns(*spec, n=n, seed=seed)
            half = n // 2
            t0 = time.perf_counter()
            hmm = fit_gaussian_hmm(r[:half], k, n_starts=5)
            t_hmm = time.perf_counter() - t0
            t0 = time.perf_counter()
            ms = fit_markov_switching(r[:half], k, start=hmm)
            t_ms = time.perf_counter() - t0
            p = max((hmm, ms), key=lambda x: x.loglik)
            mu, sd, tm, sp = p.arrays()
            t0 = time.perf_counter()
            probs, _ = compute_filtered_probabilities(r, mu, sd, tm, sp)
            t_filter = time.perf_counter() - t0
            sticky = compute_hysteresis(probs)
            rvol = pd.Series(r).rolling(21, min_periods=10).std().to_numpy()
            base = compute_vol_threshold_states(rvol, fit_vol_thresholds(rvol[:half], compute_stationary(tm)))
            rows.append({
                "seed": seed, "winner": p.model_kind, "hmm_loglik": hmm.loglik, "markov_loglik": ms.loglik,
                "accuracy_raw": compute_accuracy(probs[half:].argmax(1), s[half:]),
                "accuracy_hysteresis": compute_accuracy(sticky[half:], s[half:]),
                "accuracy_vol_baseline": compute_accuracy(base[half:], s[half:]),
                "fit_hmm_5starts_s": t_hmm, "fit_markov_s": t_ms, "filter_s": t_filter, "n_filtered": n,
            })
        out[f"{k}_states"] = rows
    return out


def pipeline(n_symbols: int, n_years: float) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="bench-regimes-"))
    os.environ.update({
        "FORESIGHT_HOME": str(tmp / "home"), "MLFLOW_TRACKING_URI": f"sqlite:///{tmp}/mlruns/mlflow.db",
        "FORESIGHT_MLFLOW__ARTIFACT_ROOT": str(tmp / "mlruns" / "artifacts"), "MLFLOW_DISABLE_TELEMETRY": "true",
    })
    os.environ.pop("FORESIGHT_MONGODB__URI", None)
    from foresight.context import build_context
    from marketdata.config import SampleSettings
    from marketdata.ingest import run_ingest
    from marketdata.sources import SampleSource
    from scoring.regimes import run_score_regimes
    from training.regimes import run_train_regimes

    ctx = build_context(sample=SampleSettings(n_symbols=n_symbols, n_years=n_years))
    run_ingest(ctx.warehouse, SampleSource(ctx.settings.sample), ctx.settings.guardrails)
    t0 = time.perf_counter()
    rep = run_train_regimes(ctx)
    t_train = time.perf_counter() - t0
    t0 = time.perf_counter()
    back = run_score_regimes(ctx, start=dt.date(1990, 1, 1))
    t_back = time.perf_counter() - t0
    t0 = time.perf_counter()
    night = run_score_regimes(ctx)
    t_night = time.perf_counter() - t0
    t0 = time.perf_counter()
    again = run_score_regimes(ctx, start=dt.date(1990, 1, 1))
    t_again = time.perf_counter() - t0
    keep = ("bic", "oos_loglik_per_session", "switches_per_year", "accuracy", "accuracy_raw", "baseline_accuracy",
            "fit_seconds", "filter_seconds", "n_sessions", "walk_forward_refits", "walk_forward_seconds",
            "accuracy_walk_forward_oos")
    return {
        "n_symbols": n_symbols, "n_years": n_years, "chosen_states": rep.n_states, "model_kind": rep.model_kind,
        "metrics": {k: rep.metrics.get(k) for k in keep},
        "expected_durations": {k: v for k, v in rep.metrics.items() if k.startswith("expected_duration_")},
        "train_total_s": t_train,
        "backfill_rows": back.rows, "backfill_s_incl_secantus_start": t_back,
        "nightly_s_incl_secantus_start": t_night, "nightly_rows": night.rows,
        "rerun_backfill_s": t_again, "rerun_unchanged": again.mongo_unchanged == again.rows == again.duckdb_unchanged,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--symbols", type=int, default=50)
    ap.add_argument("--years", type=float, default=10.0)
    args = ap.parse_args()
    result = {"machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
              "known_answer": known_answer(), "pipeline": pipeline(args.symbols, args.years)}
    out = ROOT / "bench" / "results" / "regimes.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, default=float))
    print(json.dumps(result, indent=2, default=float))


if __name__ == "__main__":
    main()
