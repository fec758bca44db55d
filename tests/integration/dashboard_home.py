"""A small demo-like home for the page and API tests: a year of bars for 8 symbols, signals with
attribution, three regimes, Gaussian forecasts at 1/5/21 sessions scored by the real evaluation code,
a stored backtest (the real runner) and a monitoring row with its HTML report, then one published snapshot."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import norm

from backtest.config import BacktestSettings
from backtest.runner import run_backtest
from foresight.settings import Settings
from marketdata.calendar import sessions
from monitoring.indicators import run_indicators
from monitoring.store import save_monitoring_run
from scoring.forecasts import compute_evaluations, save_evaluations
from stores.snapshots import publish_warehouse_snapshot, snapshot_dir
from stores.warehouse import Warehouse, transaction, upsert, utcnow

SYMBOLS = [f"SYM{i:03d}" for i in range(8)]
HORIZONS = (1, 5, 21)
REGIMES = ("calm_bull", "neutral", "high_vol_bear")
FEATURES = ("ret_10d", "vol_21d", "rsi_14", "beta_63d")


def _insert(con, table: str, frame: pd.DataFrame, keys: list[str]) -> None:
    cols = {r[0] for r in con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = ?", [table]).fetchall()}
    upsert(con, table, frame[[c for c in frame.columns if c in cols]], keys)


def build_dashboard_home(home: Path, n_sessions: int = 320, seed: int = 3) -> Settings:
    """Write the home and publish its snapshot; returns its Settings."""
    settings = Settings(home=home)
    rng = np.random.default_rng(seed)
    wh = Warehouse(settings.duckdb_path)
    wh.migrate()
    days = sessions(dt.date(2024, 6, 1), dt.date(2025, 12, 31))[-n_sessions:].date
    # Bars: random walks whose next-day drift is what the signal sees (so the signal has real skill).
    drift = rng.normal(0, 0.004, (len(days), len(SYMBOLS)))
    rets = drift + rng.normal(0, 0.012, drift.shape)
    close = 50 * np.exp(np.cumsum(rets, axis=0))
    bars = pd.DataFrame({
        "symbol": np.tile(SYMBOLS, len(days)), "date": np.repeat(days, len(SYMBOLS)),
        "open": close.ravel(), "high": close.ravel() * 1.01, "low": close.ravel() * 0.99, "close": close.ravel(),
        "adj_close": close.ravel(), "volume": 1e6, "source": "test", "ingested_at": utcnow(),
    })
    # Signals on the last 250 sessions: log-odds from the planted drift, split over four features.
    sig_days = days[-250:]
    scored = set(sig_days)
    rows = []
    for i, d in enumerate(days):
        if d not in scored:
            continue
        for j, s in enumerate(SYMBOLS):
            raw = float(40 * drift[min(i + 1, len(days) - 1), j])
            parts = rng.dirichlet(np.ones(len(FEATURES))) * raw
            attribution = [{"feature": f, "value": float(rng.normal()), "contribution": float(c)}
                           for f, c in zip(FEATURES, parts, strict=True)]
            attribution.append({"feature": "other", "value": None, "contribution": 0.0})
            rows.append({"symbol": s, "date": d, "model_name": "foresight-signal", "model_version": "2",
                         "probability": float(1 / (1 + np.exp(-raw))), "raw_score": raw, "base_value": 0.0,
                         "attribution": json.dumps(attribution), "run_id": "demo", "scored_at": utcnow()})
    signals = pd.DataFrame(rows)
    # Regimes: runs of 20-60 sessions; the last run is `calm_bull`.
    labels: list[str] = []
    k = 0
    while len(labels) < 250:
        labels += [REGIMES[k % 3]] * int(rng.integers(20, 60))
        k += 1
    labels = labels[:250][::-1]
    regimes = pd.DataFrame([{
        "date": d, "universe": "default", "regime": lab,
        "probabilities": json.dumps({r: (0.8 if r == lab else 0.1) for r in REGIMES}),
        "model_name": "foresight-regime", "model_version": "1", "scored_at": utcnow(),
    } for d, lab in zip(sig_days, labels, strict=True)])
    # Forecasts: Gaussian fans of the equal-weight equity on the last 250 sessions.
    equity = pd.Series(np.cumprod(1 + rets.mean(axis=1)) * 100, index=pd.DatetimeIndex(days))
    sigma = float(np.std(rets.mean(axis=1)))
    fc_rows, cand_rows = [], []
    for d in sig_days:
        start = float(equity[pd.Timestamp(d)])
        for h in HORIZONS:
            z = sigma * np.sqrt(h)
            q = {lvl: start * float(np.exp(norm.ppf(p) * z)) for lvl, p in
                 (("p01", 0.01), ("p05", 0.05), ("p50", 0.5), ("p95", 0.95), ("p99", 0.99))}
            base = {"as_of": d, "portfolio": "equal_weight", "horizon_days": h, **q, "start_equity": start}
            fc_rows.append({**base, "model_name": "foresight-forecast", "model_version": "1", "method": "gaussian",
                            "sigma_daily": sigma, "in_sample": False, "run_id": "demo", "created_at": utcnow()})
            for method in ("gaussian", "bootstrap"):
                cand_rows.append({**base, "method": method, "champion": method == "gaussian", "model_version": "1",
                                  "created_at": utcnow()})
    forecasts, candidates = pd.DataFrame(fc_rows), pd.DataFrame(cand_rows)
    evaluations = compute_evaluations(forecasts, candidates, equity, days[-1])
    with wh.session() as con, transaction(con):
        _insert(con, "bars", bars, ["symbol", "date"])
        _insert(con, "signals", signals, ["symbol", "date", "model_name", "model_version"])
        _insert(con, "regimes", regimes, ["universe", "date", "model_version"])
        _insert(con, "forecasts", forecasts, ["as_of", "portfolio", "horizon_days"])
        _insert(con, "forecast_candidates", candidates, ["as_of", "portfolio", "horizon_days", "method"])
    with wh.session() as con:
        save_evaluations(con, evaluations)
    run_backtest(wh, BacktestSettings(bootstrap_reps=50), settings.reports_dir)
    report = settings.reports_dir / "foresight-signal" / str(days[-1])
    report.mkdir(parents=True, exist_ok=True)
    (report / "report.html").write_text("<html><body><h1>foresight-signal drift report</h1></body></html>")
    with wh.session() as con:
        save_monitoring_run(con, {"model": "foresight-signal", "version": "2", "date": days[-1], "status": "WARN",
                                  "drift_share": 0.25, "ece": 0.031, "ece_reference": 0.02,
                                  "drifted_features": ["vol_21d", "ret_10d"],
                                  "reasons": "drift share 0.25 >= 0.20 (vol_21d, ret_10d)", "report_path": str(report)})
        save_monitoring_run(con, {"model": "foresight-forecast", "version": "1", "date": days[-1], "status": "OK",
                                  "coverage": 0.9, "pinball": 0.01, "drifted_features": [], "reasons": ""})
    # The night's operating indicators, measured by the real code on the morning after the last session.
    run_indicators(wh, days[-1], settings.operations, now=dt.datetime.combine(
        days[-1] + dt.timedelta(days=1), dt.time(12), dt.UTC))
    publish_warehouse_snapshot(wh, snapshot_dir(home))
    return settings


__all__ = ["FEATURES", "HORIZONS", "SYMBOLS", "build_dashboard_home"]
