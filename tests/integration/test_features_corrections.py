"""Bars corrected after their features were built (restated close, split adjustment) reach the incremental run."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pandas as pd
import pytest

from features import FEATURE_SETS, feature_columns, run_features
from features.config import FeatureSettings
from marketdata.config import GuardrailSettings, SampleSettings
from marketdata.ingest import run_ingest
from marketdata.sources import SampleSource, SourceBatch
from stores.warehouse import Warehouse, transaction, upsert, utcnow
from tests.unit.features.helpers import assert_frames_close, write_bars

SAMPLE = SampleSettings(n_symbols=8, n_years=2)
SETTINGS = FeatureSettings(chunk_symbols=4)
UNTOUCHED = "SYM000"  # a symbol without corrections: its alpha158 rows and labels must not be rewritten
SENTINEL = 12345.0


class _Restatement:
    """A vendor batch re-sending stored bars with corrected values (ingest's ordinary path)."""

    name = "vendor"

    def __init__(self, frame: pd.DataFrame):
        self.frame = frame

    def batches(self) -> Iterator[SourceBatch]:
        yield SourceBatch(label="restated", frame=self.frame)

    def truth(self) -> pd.DataFrame | None:
        return None


def _restated(bars: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, pd.Timestamp]]:
    """Corrected rows, and per corrected symbol its first corrected date."""
    b = bars.copy()
    b["date"] = pd.to_datetime(b["date"])
    px = ["open", "high", "low", "close", "adj_close", "vwap"]
    out, first = [], {}

    def rows(sym: str) -> pd.DataFrame:
        return b[b["symbol"] == sym].sort_values("date").reset_index(drop=True)

    r = rows("SYM003").iloc[[250]].copy()  # a restated close (and consistent OHLC) mid-history
    r[px] *= 1.03
    out.append(r)
    r = rows("SYM005").iloc[:300].copy()  # a late dividend adjustment: adj_close of every earlier session
    r["adj_close"] *= 0.97
    out.append(r)
    r = rows("SYM006").iloc[[2]].copy()  # near the first bar: labels from the symbol's start
    r[px] *= 0.98
    out.append(r)
    r = rows("SYM001").iloc[[-1]].copy()  # the newest bar
    r[px] *= 1.01
    r["volume"] *= 2
    out.append(r)
    frame = pd.concat(out, ignore_index=True)
    first = frame.groupby("symbol")["date"].min().to_dict()
    frame["date"] = frame["date"].dt.strftime("%Y-%m-%d")
    return frame, first


def _table(wh: Warehouse, sql: str) -> pd.DataFrame:
    with wh.session(read_only=True) as con:
        df = con.execute(sql).df()
    df["date"] = pd.to_datetime(df["date"])
    return df


def _features(wh: Warehouse, name: str) -> pd.DataFrame:
    return _table(wh, f"SELECT * FROM features WHERE feature_set = '{name}' ORDER BY symbol, date")


def _labels(wh: Warehouse) -> pd.DataFrame:
    return _table(wh, "SELECT * FROM labels ORDER BY symbol, date, horizon")


@pytest.fixture(scope="module")
def corrected(tmp_path_factory):
    """Sample bars ingested and featured; then a restatement ingested and the features updated incrementally."""
    wh = Warehouse(tmp_path_factory.mktemp("corr") / "w.duckdb")
    source = SampleSource(SAMPLE)
    run_ingest(wh, source, GuardrailSettings())
    run_features(wh, SETTINGS)
    dates = sorted(pd.to_datetime(source.market.bars["date"]).unique())
    mid = dates[260]
    with wh.session() as con:  # sentinels: survive only if the untouched symbol's rows are not rewritten
        con.execute(f"""UPDATE features SET "KMID" = {SENTINEL}
                        WHERE feature_set = 'alpha158' AND symbol = ? AND date = ?""", [UNTOUCHED, mid])
        con.execute(f"UPDATE labels SET fwd_return = {SENTINEL} WHERE symbol = ? AND date = ?", [UNTOUCHED, mid])
    frame, first = _restated(source.market.bars)
    report = run_ingest(wh, _Restatement(frame), GuardrailSettings())
    assert report.rows_updated == len(frame) and report.rows_quarantined == 0 and report.rows_inserted == 0
    summary = run_features(wh, SETTINGS)
    return wh, summary, first, dates, mid


@pytest.fixture(scope="module")
def rebuilt(corrected, tmp_path_factory):
    """The same warehouse copied and rebuilt with --full: what the incremental run must equal."""
    wh = corrected[0]
    copy = Warehouse(tmp_path_factory.mktemp("full") / "w.duckdb")
    shutil.copy(wh.path, copy.path)
    run_features(copy, SETTINGS, full=True)
    return copy


def _drop_sentinel(df: pd.DataFrame, mid) -> pd.DataFrame:
    return df[~((df["symbol"] == UNTOUCHED) & (df["date"] == mid))].reset_index(drop=True)


def test_corrected_bars_give_the_tables_of_a_full_rebuild(corrected, rebuilt):
    wh, summary, first, dates, mid = corrected
    # Then the untouched symbol's alpha158 rows and labels were not rewritten (the sentinels survive)...
    got = _features(wh, "alpha158")
    assert (got.loc[(got["symbol"] == UNTOUCHED) & (got["date"] == mid), "KMID"] == SENTINEL).all()
    lab = _labels(wh)
    assert (lab.loc[(lab["symbol"] == UNTOUCHED) & (lab["date"] == mid), "fwd_return"] == SENTINEL).all()
    # ...and every other row equals the full rebuild on the corrected bars
    for name in FEATURE_SETS:
        a, b = _features(wh, name), _features(rebuilt, name)
        if name == "alpha158":
            a, b = _drop_sentinel(a, mid), _drop_sentinel(b, mid)
        assert_frames_close(a, b, feature_columns(name), rtol=1e-9, atol=1e-12)
    a, b = _drop_sentinel(lab, mid), _drop_sentinel(_labels(rebuilt), mid)
    assert a[["symbol", "date", "horizon", "label", "entry_lag"]].equals(b[["symbol", "date", "horizon", "label",
                                                                          "entry_lag"]])
    pd.testing.assert_series_equal(a["fwd_return"], b["fwd_return"], rtol=1e-9, atol=1e-12)


def test_only_the_corrected_symbols_rows_are_recomputed(corrected):
    wh, summary, first, dates, mid = corrected
    bars = _table(wh, "SELECT symbol, date FROM bars ORDER BY symbol, date")
    # alpha158: each corrected symbol from its first corrected date on
    want = sum(int(((bars["symbol"] == s) & (bars["date"] >= d)).sum()) for s, d in first.items())
    a158 = summary.sets["alpha158"]
    assert a158["mode"] == "incremental" and a158["corrected_symbols"] == len(first)
    assert a158["rows"] == a158["rows_replaced"] == want
    # labels: from horizon + entry_lag sessions before the first corrected date (or the first bar)
    back = max(SETTINGS.horizons) + SETTINGS.entry_lag
    want_l = 0
    for s, d in first.items():
        own = bars.loc[bars["symbol"] == s, "date"].reset_index(drop=True)
        i = int((own < d).sum())
        want_l += (len(own) - max(i - back, 0)) * len(SETTINGS.horizons)
    assert summary.label_corrected_symbols == len(first)
    assert summary.label_rows == summary.label_rows_corrected == want_l
    # market: universe means move with any symbol, so every symbol from the first corrected date on
    d0 = min(first.values())
    assert summary.sets["market"]["rows"] == int((bars["date"] >= d0).sum())


def test_a_rerun_after_the_correction_writes_nothing(corrected, tmp_path):
    wh = Warehouse(tmp_path / "w.duckdb")
    shutil.copy(corrected[0].path, wh.path)
    before = [_features(wh, n) for n in FEATURE_SETS] + [_labels(wh)]
    s = run_features(wh, SETTINGS)
    assert s.rows_written == 0 and s.label_rows == 0 and s.label_mode == "up-to-date"
    assert {v["mode"] for v in s.sets.values()} == {"up-to-date"}
    after = [_features(wh, n) for n in FEATURE_SETS] + [_labels(wh)]
    for x, y in zip(before, after, strict=True):
        pd.testing.assert_frame_equal(x, y)


# -- small markets: a retraction hidden from the row counts, and a warehouse built before the watermark -----

def _small_bars() -> pd.DataFrame:
    from marketdata.sample import compute_sample_market

    b = compute_sample_market(SampleSettings(n_symbols=4, n_years=0.6, seed=5)).bars.copy()
    b["date"] = pd.to_datetime(b["date"])
    return b.sort_values(["symbol", "date"]).reset_index(drop=True)


def _assert_equal_to_full(wh: Warehouse, tmp_path) -> None:
    full = Warehouse(tmp_path / "full.duckdb")
    shutil.copy(wh.path, full.path)
    run_features(full, SETTINGS, full=True)
    for name in FEATURE_SETS:
        assert_frames_close(_features(wh, name), _features(full, name), feature_columns(name), rtol=1e-9,
                            atol=1e-12)
    pd.testing.assert_frame_equal(_labels(wh), _labels(full), rtol=1e-9, atol=1e-12)


def test_a_retracted_bar_is_seen_even_when_an_insertion_keeps_the_row_count(tmp_path):
    # Given a symbol with one session missing, featured
    bars = _small_bars()
    own = bars.index[bars["symbol"] == "SYM002"]
    x, y = bars.loc[own[60]], bars.loc[own[100]]
    wh = Warehouse(tmp_path / "w.duckdb")
    write_bars(wh, bars.drop(index=own[100]))
    run_features(wh, SETTINGS)
    # When one batch retracts an earlier stored bar (to quarantine, as ingest does) and back-fills the gap
    with wh.session() as con, transaction(con):
        con.execute("DELETE FROM bars WHERE symbol = ? AND date = ?", [x["symbol"], x["date"]])
        con.execute("INSERT INTO quarantine (symbol, date, source, reason, ingested_at) VALUES (?, ?, 'test', "
                    "'spike', ?)", [x["symbol"], x["date"].strftime("%Y-%m-%d"), utcnow()])
        upsert(con, "bars", bars.loc[[own[100]]].assign(source="test", ingested_at=utcnow()),
               ["symbol", "date"], ignore_in_compare=["ingested_at", "source"])
    s = run_features(wh, SETTINGS)
    # Then the symbol is recomputed from the retracted date, and the tables equal a full rebuild
    assert s.sets["alpha158"]["corrected_symbols"] == 1
    assert s.sets["alpha158"]["target_from"] == str(x["date"].date()) and y["date"] > x["date"]
    _assert_equal_to_full(wh, tmp_path)


def test_a_warehouse_built_before_the_watermark_finds_corrections_from_its_last_run(tmp_path):
    # Given features built by a version without `feature_watermarks` rows (only feature_runs)
    bars = _small_bars()
    wh = Warehouse(tmp_path / "w.duckdb")
    write_bars(wh, bars)
    run_features(wh, SETTINGS)
    with wh.session() as con:
        con.execute("DELETE FROM feature_watermarks")
    # When a close is restated afterwards
    row = bars[bars["symbol"] == "SYM001"].iloc[[80]].copy()
    row[["open", "high", "low", "close", "adj_close", "vwap"]] *= 1.05
    with wh.session() as con, transaction(con):
        res = upsert(con, "bars", row.assign(source="test", ingested_at=utcnow()), ["symbol", "date"],
                     ignore_in_compare=["ingested_at", "source"])
    assert res.updated == 1
    s = run_features(wh, SETTINGS)
    # Then it is found from the last run's start (no full rebuild) and the tables equal a full rebuild
    assert s.sets["alpha158"]["mode"] == "incremental" and s.sets["alpha158"]["corrected_symbols"] == 1
    assert s.sets["alpha158"]["rows"] == len(bars[bars["symbol"] == "SYM001"]) - 80
    assert s.label_mode == "incremental" and s.label_corrected_symbols == 1
    _assert_equal_to_full(wh, tmp_path)
    with wh.session(read_only=True) as con:
        assert con.execute("SELECT count(*) FROM feature_watermarks").fetchall()[0][0] == len(FEATURE_SETS) + 1


def test_new_dates_and_a_new_symbol_are_not_counted_as_corrections(tmp_path):
    bars = _small_bars()
    last = bars["date"].max()
    wh = Warehouse(tmp_path / "w.duckdb")
    write_bars(wh, bars[(bars["symbol"] != "SYM003") & (bars["date"] < last)])
    run_features(wh, SETTINGS)
    write_bars(wh, bars[(bars["symbol"] == "SYM003") | (bars["date"] == last)])
    s = run_features(wh, SETTINGS)
    assert [i["corrected_symbols"] for i in s.sets.values()] == [0, 0]
    assert s.sets["alpha158"]["rows_replaced"] == 0 and s.label_corrected_symbols == 0
    assert s.sets["alpha158"]["rows"] == len(bars[bars["symbol"] == "SYM003"]) + 3
    _assert_equal_to_full(wh, tmp_path)
