"""Ingest into a real DuckDB file: planted defects, idempotence, updates, crashes, unreadable input, status."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

import marketdata.ingest as ingest_mod
from foresight.cli import app
from marketdata.config import GuardrailSettings, SampleSettings
from marketdata.csvsource import CsvSource
from marketdata.ingest import run_ingest
from marketdata.sources import SampleSource, SourceBatch
from stores.warehouse import Warehouse

PLANTED = Path(__file__).resolve().parents[1] / "data" / "ingest" / "planted.csv"
GUARD = GuardrailSettings()
TABLES = ("bars", "quarantine", "data_quality", "sample_truth")


def _snapshot(wh: Warehouse, tables=TABLES) -> dict[str, pd.DataFrame]:
    """Full contents of the tables, in a stable order (every column, audit timestamps included)."""
    with wh.session(read_only=True) as con:
        out = {}
        for t in tables:
            cols = [r[0] for r in con.execute(f"DESCRIBE {t}").fetchall()]
            order = ", ".join(f'"{c}"' for c in cols)
            out[t] = con.execute(f"SELECT * FROM {t} ORDER BY {order}").df()
    return out


def _assert_same(a: dict[str, pd.DataFrame], b: dict[str, pd.DataFrame]) -> None:
    assert a.keys() == b.keys()
    for t in a:
        pd.testing.assert_frame_equal(a[t], b[t], obj=t)


def _count(wh: Warehouse, sql: str):
    with wh.session(read_only=True) as con:
        return con.execute(sql).fetchall()


def test_planted_defects_give_exact_quarantine_and_flag_counts(home):
    runner = CliRunner()
    result = runner.invoke(app, ["ingest", "--source", "csv", "--path", str(PLANTED)])
    assert result.exit_code == 0, result.output
    assert "flagged: spike_reverted" in result.output and "flagged: stale_price" in result.output
    assert "suspected bad ticks kept in bars: 1 (uncorroborated 1)" in result.output
    wh = Warehouse(home / "foresight.duckdb")
    quarantine = dict(_count(wh, "SELECT reason, count(*) FROM quarantine GROUP BY 1"))
    assert quarantine == {
        "unparseable_date": 1, "missing_ohlc": 1, "unparseable_number": 1, "non_positive_price": 1,
        "ohlc_inconsistent": 1, "negative_volume": 1, "duplicate_conflict": 2,
    }
    # The five bad CCC rows share their dates with good CCC rows: resolved by the bars stored for those dates
    open_rows = dict(_count(wh, "SELECT reason, count(*) FROM quarantine WHERE resolved_at IS NULL GROUP BY 1"))
    assert open_rows == {"unparseable_date": 1, "duplicate_conflict": 2}
    flags = dict(_count(wh, 'SELECT "check", count(*) FROM data_quality GROUP BY 1'))
    assert flags == {"missing_session": 3, "stale_price": 1, "split": 2, "spike_reverted": 1, "non_session_date": 1}
    flagged = set(_count(wh, 'SELECT symbol, strftime(date, \'%Y-%m-%d\'), "check", severity FROM data_quality'))
    assert {("AAA", "2024-01-31", "missing_session", "warning"), ("AAA", "2024-02-01", "missing_session", "warning"),
            ("BBB", "2024-02-29", "missing_session", "warning"), ("BBB", "2024-01-16", "stale_price", "warning"),
            ("BBB", "2024-02-07", "spike_reverted", "warning"), ("AAA", "2024-02-29", "split", "warning"),
            ("CCC", "2024-02-14", "split", "info"), ("CCC", "2024-01-06", "non_session_date", "warning")} == flagged
    # The +60% tick is kept (nothing corroborates it: a likely bad tick, flagged with its evidence)
    assert _count(wh, "SELECT count(*) FROM bars WHERE symbol = 'BBB' AND date = '2024-02-07'") == [(1,)]
    evidence = json.loads(_count(wh, "SELECT evidence FROM data_quality WHERE \"check\" = 'spike_reverted'")[0][0])
    assert evidence["verdict"] == "uncorroborated" and evidence["move"] == pytest.approx(0.47, abs=0.01)
    # 187 rows read: 8 quarantined, 1 exact duplicate collapsed, the rest stored
    assert _count(wh, "SELECT count(*) FROM bars") == [(178,)]
    run = _count(wh, "SELECT rows_read, rows_accepted, rows_quarantined, flags, status, report FROM ingest_runs")
    assert run[0][:5] == (187, 178, 8, 8, "ok")
    assert json.loads(run[0][5])["suspects_by_verdict"] == {"uncorroborated": 1}
    assert len(list((home / "reports" / "ingest").glob("*.json"))) == 1

    # Ingesting the same input again changes no table (ingest_runs aside) and counts no update.
    before = _snapshot(wh)
    again = runner.invoke(app, ["ingest", "--source", "csv", "--path", str(PLANTED)])
    assert again.exit_code == 0, again.output
    _assert_same(before, _snapshot(wh))
    assert _count(wh, "SELECT rows_inserted, rows_updated, rows_unchanged FROM ingest_runs ORDER BY started_at")[-1] == (
        0, 0, 178)


def test_corrected_tick_is_stored_and_its_outdated_flag_cleared(tmp_path):
    wh = Warehouse(tmp_path / "w.duckdb")
    run_ingest(wh, CsvSource(PLANTED), GUARD)
    frame = pd.read_csv(PLANTED, dtype=str)
    bbb = frame[frame["symbol"] == "BBB"].copy()
    tick = bbb.index[bbb["timestamp"] == "2024-02-07"][0]
    prev = bbb.loc[bbb.index[bbb["timestamp"] == "2024-02-06"][0]]
    for col in ("open", "high", "low", "close", "adjusted_close"):
        bbb.loc[tick, col] = prev["close"] if col != "high" else str(float(prev["close"]) * 1.004)
    bbb.loc[tick, "low"] = str(float(prev["close"]) * 0.996)
    fixed = tmp_path / "BBB.csv"
    bbb.drop(columns=["symbol"]).to_csv(fixed, index=False)

    report = run_ingest(wh, CsvSource(fixed), GUARD)
    # The stored tick is corrected in place: one update, its suspect flag cleared, the other BBB flags kept.
    assert (report.rows_inserted, report.rows_updated) == (0, 1) and report.flags_cleared == 1
    assert report.suspects == 0
    flags = dict(_count(wh, 'SELECT "check", count(*) FROM data_quality WHERE symbol = \'BBB\' GROUP BY 1'))
    assert flags == {"stale_price": 1, "missing_session": 1}
    before = _snapshot(wh)
    again = run_ingest(wh, CsvSource(fixed), GUARD)
    assert again.flags_cleared == 0 and again.rows_updated == 0
    _assert_same(before, _snapshot(wh))


class _Frames:
    name = "sample"

    def __init__(self, *frames: pd.DataFrame):
        self.frames = frames

    def batches(self) -> Iterator[SourceBatch]:
        for i, f in enumerate(self.frames):
            yield SourceBatch(f"b{i}", f)

    def truth(self):
        return None


def test_bad_tick_on_the_latest_day_is_flagged_when_the_next_run_shows_it_revert(tmp_path):
    wh = Warehouse(tmp_path / "w.duckdb")
    bars = SampleSource(SampleSettings(n_symbols=2, n_years=1)).market.bars
    one = bars[bars["symbol"] == "SYM001"].reset_index(drop=True).copy()
    one.loc[99, ["open", "close", "high", "low", "adj_close"]] *= 1.8  # bad tick on the last day of run 1
    first = run_ingest(wh, _Frames(one.iloc[:100]), GUARD)
    assert first.suspects == 0  # nothing reverted yet
    report = run_ingest(wh, _Frames(one.iloc[100:]), GUARD)
    # The next session reverts it: a suspect, flagged; the bar stays and nothing is quarantined
    assert report.suspects == 1 and report.quarantined_by_reason == {}
    day = one.loc[99, "date"]
    assert _count(wh, f"SELECT count(*) FROM bars WHERE date = '{day}'") == [(1,)]
    assert _count(wh, "SELECT count(*) FROM bars") == [(len(one),)]
    assert _count(wh, "SELECT date, \"check\" FROM data_quality") == [(pd.Timestamp(day).date(), "spike_reverted")]
    before = _snapshot(wh)
    again = run_ingest(wh, _Frames(one.iloc[100:]), GUARD)
    assert again.rows_unchanged == len(one) - 100
    _assert_same(before, _snapshot(wh))


def test_sample_reingest_is_idempotent_and_corrections_are_updates(tmp_path):
    wh = Warehouse(tmp_path / "w.duckdb")
    src = SampleSource(SampleSettings(n_symbols=12, n_years=2), chunk_symbols=5)
    first = run_ingest(wh, src, GUARD)
    assert first.status == "ok" and first.rows_inserted == first.rows_read == 12 * 502
    assert first.rows_quarantined == 0 and first.flags == 0
    before = _snapshot(wh)
    second = run_ingest(wh, src, GUARD)
    assert (second.rows_inserted, second.rows_updated, second.rows_unchanged) == (0, 0, 12 * 502)
    _assert_same(before, _snapshot(wh))

    # Corrected values for two stored dates: updated in place and counted as updates.
    bars = src.market.bars
    fixed = bars[bars["symbol"] == "SYM003"].copy()
    idx = fixed.index[[10, 11]]
    fixed.loc[idx, "volume"] = fixed.loc[idx, "volume"] + 1000
    fixed.loc[idx, "close"] = fixed.loc[idx, ["open", "close"]].mean(axis=1)

    class Corrected:
        name = "sample"

        def batches(self) -> Iterator[SourceBatch]:
            yield SourceBatch("fix", fixed)

        def truth(self):
            return None

    third = run_ingest(wh, Corrected(), GUARD)
    assert (third.rows_inserted, third.rows_updated, third.rows_unchanged) == (0, 2, 500)
    stored = _count(wh, "SELECT close FROM bars WHERE symbol='SYM003' ORDER BY date LIMIT 2 OFFSET 10")
    assert [r[0] for r in stored] == pytest.approx(fixed.loc[idx, "close"].tolist())


class _Crashing:
    """Yields one good batch (new values for stored rows), then fails."""

    name = "sample"

    def __init__(self, first: pd.DataFrame):
        self.first = first

    def batches(self) -> Iterator[SourceBatch]:
        yield SourceBatch("ok", self.first)
        raise ConnectionError("feed dropped in batch 2")

    def truth(self):
        return None


def test_crash_mid_run_keeps_committed_batches_and_previous_data(tmp_path, monkeypatch):
    wh = Warehouse(tmp_path / "w.duckdb")
    src = SampleSource(SampleSettings(n_symbols=4, n_years=1), chunk_symbols=2)
    run_ingest(wh, src, GUARD)
    before = _snapshot(wh)
    bars = src.market.bars
    b1 = bars[bars["symbol"] == "SYM000"].assign(volume=lambda f: f["volume"] + 1)

    # A source failing in its 2nd batch: the run is marked failed, batch 1 stays, nothing else changed.
    with pytest.raises(ConnectionError):
        run_ingest(wh, _Crashing(b1), GUARD)
    status = _count(wh, "SELECT status, message FROM ingest_runs ORDER BY started_at")[-1]
    assert status[0] == "failed" and "batch 2" in status[1]
    after = _snapshot(wh)
    others_before = before["bars"][before["bars"]["symbol"] != "SYM000"].reset_index(drop=True)
    others_after = after["bars"][after["bars"]["symbol"] != "SYM000"].reset_index(drop=True)
    pd.testing.assert_frame_equal(others_before, others_after)
    assert (after["bars"][after["bars"]["symbol"] == "SYM000"]["volume"].to_numpy()
            == before["bars"][before["bars"]["symbol"] == "SYM000"]["volume"].to_numpy() + 1).all()

    # A failure inside the write transaction rolls the whole batch back.
    mid = _snapshot(wh)

    def boom(*args, **kwargs):
        raise RuntimeError("disk full while writing quarantine")

    monkeypatch.setattr(ingest_mod, "_insert_quarantine", boom)
    b2 = bars[bars["symbol"] == "SYM001"].assign(volume=lambda f: f["volume"] + 5)
    with pytest.raises(RuntimeError):
        run_ingest(wh, _Crashing(b2), GUARD)
    _assert_same(mid, _snapshot(wh))


@pytest.mark.parametrize(
    ("name", "content"),
    [("GARBAGE.csv", bytes(range(256)) * 20), ("EMPTY.csv", b""), ("NOTES.csv", b"just some words\nno bars\n")],
)
def test_unreadable_file_fails_naming_it_and_changes_nothing(home, tmp_path, name, content):
    runner = CliRunner()
    assert runner.invoke(app, ["ingest", "--source", "sample", "--n-symbols", "3", "--years", "1"]).exit_code == 0
    wh = Warehouse(home / "foresight.duckdb")
    before = _snapshot(wh, (*TABLES, "ingest_runs"))
    folder = tmp_path / "drop"
    folder.mkdir()
    shutil.copy(PLANTED, folder / "GOOD.csv")
    (folder / name).write_bytes(content)
    for target in (folder, folder / name):
        result = runner.invoke(app, ["ingest", "--source", "csv", "--path", str(target)])
        assert result.exit_code != 0
        assert name in result.output.replace("\n", "")  # rich may wrap a long path
    _assert_same(before, _snapshot(wh, (*TABLES, "ingest_runs")))


def test_status_json_reports_what_is_stored(home):
    runner = CliRunner()
    empty = json.loads(runner.invoke(app, ["status", "--json"]).stdout)
    assert empty["exists"] is False
    assert runner.invoke(app, ["ingest", "--source", "csv", "--path", str(PLANTED)]).exit_code == 0
    result = runner.invoke(app, ["status", "--json"])
    assert result.exit_code == 0
    info = json.loads(result.stdout)
    assert info["bars"] == {"symbols": 3, "first_date": "2024-01-02", "last_date": "2024-03-27"}
    assert {s["symbol"]: s["rows"] for s in info["symbols"]} == {"AAA": 58, "BBB": 59, "CCC": 61}
    # open quarantine only: the five CCC rows resolved by good bars of the same dates are not counted
    assert info["quarantine_by_reason"] == {"duplicate_conflict": 2, "unparseable_date": 1}
    assert (info["quarantine_open"], info["quarantine_resolved"]) == (3, 5)
    assert info["quarantine_by_symbol"] == {"BBB": 2, "CCC": 1}
    assert info["data_quality_by_check"]["missing_session"] == 3
    assert info["suspects_by_verdict"] == {"uncorroborated": 1}
    assert info["last_ingest_runs"][0]["source"] == "csv" and info["last_ingest_runs"][0]["rows_read"] == 187
    text = runner.invoke(app, ["status"])
    assert text.exit_code == 0 and "AAA" in text.output and "3 open" in text.output
    assert "uncorroborated: 1" in text.output


def test_csv_source_object_reads_planted_file():
    rows = sum(len(b.frame) for b in CsvSource(PLANTED).batches())
    assert rows == 187
