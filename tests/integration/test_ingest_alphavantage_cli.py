"""`foresight ingest --source alphavantage` end to end on recorded responses: partial runs, no key, no leak."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import respx
from typer.testing import CliRunner

from foresight.cli import app
from stores.warehouse import Warehouse

DATA = Path(__file__).resolve().parents[1] / "data" / "alphavantage"
KEY = "CLI-SECRET-KEY-77"
URL = "https://www.alphavantage.co/query"
ANSWERS = {"IBM": "ibm_daily_adjusted_compact.json", "NOPE": "error_invalid_symbol.json"}


def _answer(request: httpx.Request) -> httpx.Response:
    symbol = request.url.params["symbol"]
    return httpx.Response(200, json=json.loads((DATA / ANSWERS[symbol]).read_text()))


@respx.mock
def test_alphavantage_cli_partial_run_names_the_failed_symbol(home, monkeypatch):
    monkeypatch.setenv("ALPHAVANTAGE_API_KEY", KEY)
    monkeypatch.setenv("FORESIGHT_ALPHAVANTAGE__REQUESTS_PER_MINUTE", "6000")
    respx.get(URL).mock(side_effect=_answer)
    result = CliRunner().invoke(app, ["ingest", "--source", "alphavantage", "--symbols", "ibm,NOPE"])
    # Partial: exit 3, the failing symbol named, the good one stored, the key nowhere.
    assert result.exit_code == 3, result.output
    assert "NOPE: Alpha Vantage error: Invalid API call" in result.output.replace("\n", "")
    assert KEY not in result.output
    with Warehouse(home / "foresight.duckdb").session(read_only=True) as con:
        assert con.execute("SELECT symbol, count(*) FROM bars GROUP BY 1").fetchall() == [("IBM", 8)]
        run = con.execute("SELECT status, message FROM ingest_runs").fetchall()[0]
    assert run[0] == "partial" and "NOPE" in run[1] and KEY not in run[1]


def test_alphavantage_cli_without_key_fails_clearly(home, monkeypatch):
    monkeypatch.delenv("ALPHAVANTAGE_API_KEY", raising=False)
    monkeypatch.delenv("FORESIGHT_ALPHAVANTAGE__API_KEY", raising=False)
    result = CliRunner().invoke(app, ["ingest", "--source", "alphavantage", "--symbols", "IBM"])
    assert result.exit_code == 2
    assert "ALPHAVANTAGE_API_KEY" in result.output
    assert not (home / "foresight.duckdb").exists()
