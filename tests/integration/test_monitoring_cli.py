"""`foresight monitor` by hand: empty warehouse, then a forecast coverage ALERT (exit code 4) with a table."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
from typer.testing import CliRunner


def test_monitor_command_empty_then_alert(home):
    from foresight.cli import app
    from foresight.context import build_context
    from stores.warehouse import transaction, upsert, utcnow

    runner = CliRunner()
    empty = runner.invoke(app, ["monitor"])
    assert empty.exit_code == 0, empty.output
    assert "nothing to monitor" in empty.output

    ctx = build_context()
    ctx.warehouse.migrate()
    rng = np.random.default_rng(3)
    dates = pd.bdate_range("2025-01-02", periods=100).date
    frame = pd.DataFrame({
        "as_of": dates, "portfolio": "equal_weight", "horizon_days": 5, "realized": 1.0, "p05": 0.9,
        "p50": 1.0, "p95": 1.1, "covered": rng.random(100) < 0.97, "pinball": 0.01, "evaluated_at": utcnow(),
        "realized_on": dates, "start_equity": 1.0,
    })
    # bands too narrow lately: 40/63 covered (5-session forecasts: 63 daily evaluations hold ~13 independent
    # ones; at 21 sessions they would hold ~3 and 0.635 would be within chance, see test_dependence.py)
    frame.loc[frame.index[-63:], "covered"] = np.arange(63) < 40
    with ctx.warehouse.session() as con, transaction(con):
        upsert(con, "forecast_evaluations", frame, ["as_of", "portfolio", "horizon_days"])

    bad = runner.invoke(app, ["monitor", "--date", str(dates[-1]), "--json"])
    assert bad.exit_code == 4, bad.output
    out = json.loads(bad.output)
    assert out["status"] == "ALERT" and out["date"] == str(dates[-1])
    assert out["runs"][0]["reasons"][0].startswith("equal_weight_h5: band coverage 0.635")

    wrong = runner.invoke(app, ["monitor", "--date", "yesterday"])
    assert wrong.exit_code == 2
