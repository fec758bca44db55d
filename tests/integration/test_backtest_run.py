"""`foresight backtest` end to end: signals + bars from DuckDB -> backtest_runs row, PNG, API snapshot."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from foresight.api import create_app
from foresight.cli import app
from foresight.settings import Settings
from marketdata.config import SampleSettings
from marketdata.sample import compute_sample_market
from stores.warehouse import Warehouse, transaction, upsert, utcnow
from tests.unit.backtest.test_engine import reversal_signals
from tests.unit.foresight.serving_data import ensure_contract_tables, fit_columns


def _load_sample(wh: Warehouse) -> None:
    market = compute_sample_market(SampleSettings(n_symbols=15, n_years=2))
    bars = market.bars.assign(source="sample", ingested_at=utcnow())
    sig = reversal_signals(market.bars).dropna()
    sig = sig.assign(date=pd.to_datetime(sig["date"]).dt.date, model_name="foresight-signal", model_version="4",
                     raw_score=0.0, attribution="[]", run_id="r4", scored_at=utcnow())
    reg = market.truth[["date", "regime_name"]].rename(columns={"regime_name": "regime"}).assign(
        universe="default", probabilities="{}", model_name="foresight-regime", model_version="1", scored_at=utcnow())
    with wh.session() as con, transaction(con):
        upsert(con, "bars", fit_columns(con, "bars", bars), ["symbol", "date"])
        upsert(con, "signals", fit_columns(con, "signals", sig), ["symbol", "date", "model_name", "model_version"])
        upsert(con, "regimes", fit_columns(con, "regimes", reg), ["universe", "date", "model_version"])


def test_backtest_command_stores_prints_draws_and_serves(home):
    settings = Settings()
    wh = Warehouse(settings.duckdb_path)
    ensure_contract_tables(wh)
    _load_sample(wh)

    result = CliRunner().invoke(app, ["backtest", "--top-k", "4", "--cost-bps", "0", "--bootstrap-reps", "100"])
    assert result.exit_code == 0, result.output
    assert "Sharpe delta" in result.output and "break-even" in result.output

    with wh.session(read_only=True) as con:
        cur = con.execute("SELECT model_version, sharpe, baseline_sharpe, sharpe_delta_ci_low, per_regime, equity_png, "
                          "n_symbols FROM backtest_runs")
        rows = cur.fetchall()
    assert len(rows) == 1
    version, sharpe, base, ci_low, per_regime, png, n_symbols = rows[0]
    assert version == "4" and n_symbols == 15
    assert sharpe > base and ci_low > 0  # the planted reversal is an edge before costs
    assert set(json.loads(per_regime)) <= {"calm_bull", "neutral", "high_vol_bear"}
    assert png and Path(png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    with TestClient(create_app(settings)) as client:
        runs = client.get("/backtest/runs").json()
        assert runs[0]["model_version"] == "4" and runs[0]["sharpe"] == sharpe
        panel = client.get("/dashboard/kpis").json()["panels"]["backtest"]
        assert panel["sharpe_delta"] == runs[0]["sharpe_delta"]


def test_backtest_without_signals_says_what_to_do(home):
    Warehouse(Settings().duckdb_path).migrate()
    result = CliRunner().invoke(app, ["backtest"])
    assert result.exit_code == 1
    assert "foresight score" in result.output
