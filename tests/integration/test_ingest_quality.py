"""Real-looking feeds through `foresight ingest`: a crisis day kept and corroborated, a decimal slip kept and
flagged, blank volume and close-only data ingested with their feature gaps named, a corrected quarantined row
resolved, exit codes a script can tell apart, and the quarantine of an older warehouse cleaned by migration."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from foresight.cli import app
from stores.migrations.m001_foundation import MIGRATIONS as V1
from stores.warehouse import Warehouse, utcnow
from tests.unit.marketdata.market import as_text, bad_tick, crisis, make_market

SYMBOLS = ("JPM", "BAC", "XOM", "GE", "MSFT", "PEP")
RUNNER = CliRunner()


def _ingest(path: Path, *extra: str):
    return RUNNER.invoke(app, ["ingest", "--source", "csv", "--path", str(path), *extra])


def _query(home: Path, sql: str):
    with Warehouse(home / "foresight.duckdb").session(read_only=True) as con:
        return con.execute(sql).fetchall()


def _nights(text: pd.DataFrame, folder: Path, first: int) -> list[Path]:
    """A backfill file of the first `first` sessions, then one file per later session."""
    folder.mkdir(parents=True, exist_ok=True)
    dates = sorted(text["timestamp"].unique())
    paths = []
    for i, chunk in enumerate([dates[:first], *([d] for d in dates[first:])]):
        path = folder / f"night{i:03d}.csv"
        text[text["timestamp"].isin(chunk)].to_csv(path, index=False)
        paths.append(path)
    return paths


def test_crisis_day_and_decimal_slip_fed_nightly_are_kept_and_weighed(home, tmp_path):
    # Given six stocks fed nightly: a 2008-style crash on session 70 across the market (-17%, then +15%), and a
    # x10 decimal slip on GE at session 80 with its volume unchanged
    shocks, boost = crisis(SYMBOLS, 70)
    bars = bad_tick(make_market(SYMBOLS, n=90, shocks=shocks, volume_boost=boost, seed=2), "GE", 80)
    nights = _nights(as_text(bars), tmp_path / "feed", first=65)
    outputs = []
    for path in nights:
        result = _ingest(path)
        assert result.exit_code == 0, result.output
        outputs.append(result.output)
    # Then every price is stored, nothing is quarantined
    assert _query(home, "SELECT count(*) FROM bars") == [(len(SYMBOLS) * 90,)]
    assert _query(home, "SELECT count(*) FROM quarantine") == [(0,)]
    # The night after the crash says how many suspects were kept and why
    crash_night = outputs[71 - 65 + 1]
    assert "suspected bad ticks kept in bars: 6 (corroborated 6); corroborated by market 6, range 6, volume 6" in (
        " ".join(crash_night.split()))
    # The night after the slip: one suspect, uncorroborated
    assert "suspected bad ticks kept in bars: 1 (uncorroborated 1)" in " ".join(outputs[81 - 65 + 1].split())
    # data_quality holds the findings with their evidence: 6 crash days (info), 1 slip (warning)
    rows = _query(home, """SELECT symbol, strftime(date, '%Y-%m-%d'), severity, evidence FROM data_quality
                           WHERE "check" = 'spike_reverted' ORDER BY date, symbol""")
    days = sorted(bars["date"].unique())
    crash = [r for r in rows if r[1] == str(pd.Timestamp(days[70]).date())]
    slip = [r for r in rows if r[1] == str(pd.Timestamp(days[80]).date())]
    assert len(rows) == 7 and len(crash) == 6 and {r[2] for r in crash} == {"info"}
    assert [(r[0], r[2], json.loads(r[3])["verdict"]) for r in slip] == [("GE", "warning", "uncorroborated")]
    assert json.loads(crash[0][3])["market_move"] < -0.15
    info = json.loads(RUNNER.invoke(app, ["status", "--json"]).stdout)
    assert info["suspects_by_verdict"] == {"corroborated": 6, "uncorroborated": 1}
    assert info["quarantine_open"] == 0


def test_blank_volume_and_close_only_data_are_ingested_and_their_feature_gaps_named(home, tmp_path):
    # Given three stocks: JPM complete, BAC with a blank volume column, PEP with dates and closes only
    text = as_text(make_market(("JPM", "BAC", "PEP"), n=80, seed=5))
    text.loc[text["symbol"] == "BAC", "volume"] = ""
    folder = tmp_path / "csv"
    folder.mkdir()
    for sym in ("JPM", "BAC"):
        text[text["symbol"] == sym].drop(columns=["symbol"]).to_csv(folder / f"{sym}.csv", index=False)
    text.loc[text["symbol"] == "PEP", ["timestamp", "close"]].to_csv(folder / "PEP.csv", index=False)
    # When ingested: every row is accepted, the blanks stored as NULL, and the run is ok
    result = _ingest(folder)
    assert result.exit_code == 0, result.output
    out = " ".join(result.output.split())
    assert _query(home, "SELECT count(*), count(volume), count(open) FROM bars") == [(240, 80, 160)]
    assert _query(home, "SELECT count(*) FROM quarantine") == [(0,)]
    assert "no volume for 1 symbol(s) (BAC): stored as NULL; features needing it (CORR, CORD, VMA, VSTD, WVMA, " \
        "VSUMP, VSUMN, VSUMD) are NULL for them" in out
    assert "no open, high, low, volume for 1 symbol(s) (PEP): stored as NULL; features needing it (KMID, KLEN" in out
    # `foresight features` names the families each symbol's data cannot feed
    feats = RUNNER.invoke(app, ["features"])
    assert feats.exit_code == 0, feats.output
    text_out = " ".join(feats.output.split())
    assert "CORR, CORD, VMA, VSTD, WVMA, VSUMP, VSUMN, VSUMD features are NULL for 1 symbol(s) (no volume): BAC" \
        in text_out
    assert "VSUMD, VWAP0 features are NULL for 1 symbol(s) (no open, high, low, volume, vwap): PEP" in text_out
    # and those features are NULL exactly there, while close-based ones are computed for everyone
    got = dict((r[0], r[1:]) for r in _query(home, """
        SELECT symbol, count("VMA5"), count("KMID"), count("MAX5"), count("ROC5"), count("MA20") FROM features
        WHERE feature_set = 'alpha158' GROUP BY symbol"""))
    assert got == {"JPM": (80, 80, 80, 75, 80), "BAC": (0, 80, 80, 75, 80), "PEP": (0, 0, 0, 75, 80)}


def test_blank_fields_on_some_rows_make_only_those_rows_features_null(home, tmp_path):
    text = as_text(make_market(("JPM", "BAC", "XOM"), n=70, seed=6))
    days = sorted(text["timestamp"].unique())
    hole = (text["symbol"] == "JPM") & text["timestamp"].isin(days[40:43])
    text.loc[hole, "volume"] = ""
    text.loc[(text["symbol"] == "XOM") & (text["timestamp"] == days[50]), "high"] = ""
    path = tmp_path / "long.csv"
    text.to_csv(path, index=False)
    result = _ingest(path)
    assert result.exit_code == 0, result.output
    assert "volume blank on some rows (JPM 3/70)" in " ".join(result.output.split())
    assert RUNNER.invoke(app, ["features"]).exit_code == 0
    null_vma = _query(home, """SELECT symbol, strftime(date, '%Y-%m-%d') FROM features
                               WHERE feature_set = 'alpha158' AND "WVMA20" IS NULL AND date > '2008-05-02'
                               ORDER BY 1, 2""")
    assert null_vma == [("JPM", d) for d in days[40:43]]
    null_max = _query(home, """SELECT symbol, strftime(date, '%Y-%m-%d') FROM features
                               WHERE feature_set = 'alpha158' AND "MAX20" IS NULL""")
    assert null_max == [("XOM", days[50])]


def test_a_corrected_quarantined_row_is_resolved_and_status_counts_open_rows_only(home, tmp_path):
    text = as_text(make_market(("JPM", "BAC", "XOM"), n=30, seed=7))
    bad_day = sorted(text["timestamp"].unique())[-1]
    night1 = text.copy()
    night1.loc[(night1["symbol"] == "BAC") & (night1["timestamp"] == bad_day), "high"] = "0.5000"
    p1 = tmp_path / "night1.csv"
    night1.to_csv(p1, index=False)
    assert _ingest(p1).exit_code == 0
    first_run = _query(home, "SELECT run_id FROM ingest_runs")[0][0]
    status = json.loads(RUNNER.invoke(app, ["status", "--json"]).stdout)
    assert status["quarantine_by_reason"] == {"ohlc_inconsistent": 1} and status["quarantine_open"] == 1
    # When the vendor re-sends the corrected row (the growing file, re-sent whole)
    p2 = tmp_path / "night2.csv"
    text.to_csv(p2, index=False)
    result = _ingest(p2)
    assert result.exit_code == 0 and "quarantine resolved" in result.output
    # Then the row is kept in quarantine, marked resolved by the second run, and status counts it no more
    second_run = _query(home, "SELECT run_id FROM ingest_runs ORDER BY started_at DESC LIMIT 1")[0][0]
    assert second_run != first_run
    assert _query(home, "SELECT reason, run_id, resolved_run_id FROM quarantine") == [
        ("ohlc_inconsistent", first_run, second_run)]
    status = json.loads(RUNNER.invoke(app, ["status", "--json"]).stdout)
    assert status["quarantine_by_reason"] == {} and (status["quarantine_open"], status["quarantine_resolved"]) == (0, 1)
    assert _query(home, f"SELECT count(*) FROM bars WHERE symbol = 'BAC' AND date = '{bad_day}'") == [(1,)]


def test_exit_codes_tell_failed_partial_and_ok_apart(home, tmp_path):
    text = as_text(make_market(("JPM", "BAC"), n=20, seed=8))
    # Every row rejected: nothing accepted is a failure (5), recorded as `failed` with the reason
    broken = text.assign(close="-1")
    p = tmp_path / "broken.csv"
    broken.to_csv(p, index=False)
    result = _ingest(p)
    assert result.exit_code == 5, result.output
    assert "nothing accepted: all 40 rows read were rejected (non_positive_price 40)" in " ".join(result.output.split())
    assert _query(home, "SELECT status, message FROM ingest_runs") == [
        ("failed", "nothing accepted: all 40 rows read were rejected (non_positive_price 40)")]
    # A quarter of the rows rejected: partial (6), the good rows stored
    some = text.copy()
    some.loc[some.index[::4], "close"] = "-1"
    p = tmp_path / "some.csv"
    some.to_csv(p, index=False)
    result = _ingest(p)
    assert result.exit_code == 6, result.output
    assert _query(home, "SELECT status FROM ingest_runs ORDER BY started_at DESC LIMIT 1") == [("partial",)]
    assert _query(home, "SELECT count(*) FROM bars") == [(30,)]
    # The same file with a higher tolerance is ok (0); a header-only file is unreadable (2), nothing written
    assert _ingest(p, "--max-rejected-share", "0.5").exit_code == 0
    (tmp_path / "EMPTY.csv").write_text("timestamp,close\n")
    runs = _query(home, "SELECT count(*) FROM ingest_runs")
    assert _ingest(tmp_path / "EMPTY.csv").exit_code == 2
    assert _query(home, "SELECT count(*) FROM ingest_runs") == runs
    help_text = " ".join(RUNNER.invoke(app, ["ingest", "--help"]).output.split())
    assert "5 failed, nothing was accepted" in help_text and "6 partial" in help_text


def test_migration_resolves_stale_quarantine_rows_of_accepted_bars(tmp_path):
    # Given a warehouse of schema version 1 where blank volume was rejected, then a corrected file accepted
    wh = Warehouse(tmp_path / "old.duckdb")
    with wh.session() as con:
        con.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, "
                    "applied_at TIMESTAMP NOT NULL)")
        for stmt in V1[0].statements:
            con.execute(stmt)
        con.execute("INSERT INTO schema_version VALUES (1, 'foundation', ?)", [utcnow()])
        now = utcnow()
        days = pd.bdate_range("2024-01-02", periods=5)
        for d in days:
            con.execute("INSERT INTO quarantine VALUES ('AAA', ?, 'csv', 'missing_volume', 'volume is missing', "
                        "'{}', 'r1', ?)", [d.strftime("%Y-%m-%d"), now])
        for d in days[:4]:  # the corrected re-ingest accepted four of the five dates
            con.execute("INSERT INTO bars VALUES ('AAA', ?, 1, 1, 1, 1, 1, 100, NULL, NULL, NULL, 'csv', ?)",
                        [d.date(), now])
    # When the new code migrates it
    applied = wh.migrate()
    # Then the four rows whose bars exist are resolved, one stays open, and NULL volume can be stored
    assert 2 in applied
    with wh.session() as con:
        got = con.execute("SELECT count(*) FILTER (WHERE resolved_at IS NULL), "
                          "count(*) FILTER (WHERE resolved_run_id = 'migration-2') FROM quarantine").fetchall()
        con.execute("INSERT INTO bars VALUES ('AAA', '2024-02-01', NULL, NULL, NULL, 1, 1, NULL, NULL, NULL, NULL, "
                    "'csv', now()::TIMESTAMP)")
    assert got == [(1, 4)]
