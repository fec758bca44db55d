"""`foresight features [--full]` on ingested sample bars."""

from __future__ import annotations

import json

import duckdb
from typer.testing import CliRunner

from foresight.cli import app


def test_features_command_builds_then_updates_incrementally(home):
    runner = CliRunner()
    r = runner.invoke(app, ["features"])
    assert r.exit_code == 2 and "foresight ingest" in r.output  # nothing ingested yet
    r = runner.invoke(app, ["ingest", "--n-symbols", "4", "--years", "0.5"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["features", "--json"])
    assert r.exit_code == 0, r.output
    first = json.loads(r.output)
    assert first["sets"]["alpha158"]["mode"] == "full" and first["sets"]["alpha158"]["rows"] > 400
    r = runner.invoke(app, ["features", "--json"])
    assert json.loads(r.output)["rows_written"] == 0
    r = runner.invoke(app, ["features", "--full"])
    assert r.exit_code == 0 and "alpha158" in r.output and "labels" in r.output
    con = duckdb.connect(str(home / "foresight.duckdb"), read_only=True)
    try:
        n_bars = con.execute("SELECT count(*) FROM bars").fetchall()[0][0]
        n = con.execute("SELECT feature_set, count(*) FROM features GROUP BY 1 ORDER BY 1").fetchall()
        runs = con.execute("SELECT count(*) FROM feature_runs").fetchall()[0][0]
    finally:
        con.close()
    assert n == [("alpha158", n_bars), ("market", n_bars)] and runs == 3
    assert runner.invoke(app, ["features", "--help"]).exit_code == 0
