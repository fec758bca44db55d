"""Synthetic rows in the contract tables (signals, regimes, forecasts) for the serving tests."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd

from stores.warehouse import Warehouse, transaction, upsert, utcnow

SYMBOLS = [f"SYM{i:03d}" for i in range(8)]


def ensure_contract_tables(warehouse: Warehouse) -> None:
    """The warehouse's schema: every contract table comes from its migration."""
    warehouse.migrate()


def _columns(con, table: str) -> list[tuple[str, str, str]]:
    return [tuple(r) for r in con.execute(
        "SELECT column_name, is_nullable, data_type FROM information_schema.columns WHERE table_name = ? "
        "ORDER BY ordinal_position", [table]).fetchall()]


def _default(dtype: str):
    if dtype in ("VARCHAR", "JSON"):
        return "{}" if dtype == "JSON" else "test"
    if dtype == "BOOLEAN":
        return False
    if dtype.startswith("TIMESTAMP"):
        return utcnow()
    if dtype == "DATE":
        return dt.date(2000, 1, 1)
    return 0


def fit_columns(con, table: str, frame: pd.DataFrame) -> pd.DataFrame:
    """Keep the table's columns; fill NOT NULL columns the test rows do not set with a neutral value."""
    cols = _columns(con, table)
    out = frame[[c for c in frame.columns if c in {n for n, _, _ in cols}]].copy()
    for name, nullable, dtype in cols:
        if name not in out.columns and nullable == "NO":
            out[name] = _default(dtype)
    return out


def signal_rows(dates: list[dt.date], symbols: list[str] = SYMBOLS, version: str = "1", seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for d in dates:
        for s in symbols:
            raw = float(rng.normal(0, 0.5))
            attribution = [{"feature": "ret_10d", "value": float(rng.normal()), "contribution": raw * 0.6},
                           {"feature": "other", "value": None, "contribution": raw * 0.4}]
            rows.append({"symbol": s, "date": d, "model_name": "foresight-signal", "model_version": version,
                         "probability": float(1 / (1 + np.exp(-raw))), "raw_score": raw,
                         "attribution": json.dumps(attribution), "run_id": f"run{version}",
                         "scored_at": utcnow()})
    return pd.DataFrame(rows)


def write_night(warehouse: Warehouse, date: dt.date, symbols: list[str] = SYMBOLS, seed: int = 0) -> None:
    """One committed night: bars, signals, regime and forecasts of `date`."""
    bars = pd.DataFrame({
        "symbol": symbols, "date": date, "open": 10.0, "high": 11.0, "low": 9.0, "close": 10.0 + seed % 3,
        "adj_close": 10.0 + seed % 3, "volume": 1e5, "source": "test", "ingested_at": utcnow(),
    })
    regime = pd.DataFrame([{"date": date, "universe": "default", "regime": ["calm_bull", "high_vol_bear"][seed % 2],
                            "probabilities": json.dumps({"calm_bull": 0.8, "high_vol_bear": 0.2}),
                            "model_name": "foresight-regime", "model_version": "1", "scored_at": utcnow()}])
    fc = pd.DataFrame([{"as_of": date, "portfolio": "equal_weight", "horizon_days": h, "p05": 0.9, "p50": 1.0 + h / 1000,
                        "p95": 1.1, "start_equity": 1.0, "model_name": "foresight-forecast", "model_version": "1"}
                       for h in (5, 21)])
    with warehouse.session() as con, transaction(con):
        upsert(con, "bars", fit_columns(con, "bars", bars), ["symbol", "date"])
        upsert(con, "signals", fit_columns(con, "signals", signal_rows([date], symbols, seed=seed)),
               ["symbol", "date", "model_name", "model_version"])
        upsert(con, "regimes", fit_columns(con, "regimes", regime), ["universe", "date", "model_version"])
        upsert(con, "forecasts", fit_columns(con, "forecasts", fc), ["as_of", "portfolio", "horizon_days"])
