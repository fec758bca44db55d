"""Series checks: calendar gaps, closed days, stale runs, splits, reverted spikes; history as context."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from marketdata.calendar import sessions
from marketdata.config import GuardrailSettings, SampleSettings
from marketdata.guardrails import compute_row_checks, compute_series_checks
from marketdata.sample import compute_sample_market

CFG = GuardrailSettings()
DAYS = sessions("2024-01-02", "2024-03-28")  # 61 XNYS sessions


def _bars(closes, symbol="AAA", days=None, adj=None, coef=None) -> pd.DataFrame:
    days = DAYS[: len(closes)] if days is None else days
    closes = np.asarray(closes, dtype=float)
    return pd.DataFrame(
        {
            "symbol": symbol, "date": pd.DatetimeIndex(days).date, "open": closes, "high": closes * 1.01,
            "low": closes * 0.99, "close": closes, "adj_close": closes if adj is None else np.asarray(adj, float),
            "volume": 1000.0, "vwap": np.nan, "dividend": np.nan,
            "split_coefficient": np.nan if coef is None else np.asarray(coef, float),
        }
    )


def _walk(n, seed=0, start=50.0, vol=0.01):
    rng = np.random.default_rng(seed)
    return start * np.exp(np.cumsum(rng.normal(0, vol, n)))


def _checks(flags: pd.DataFrame) -> list[tuple[str, dt.date, str]]:
    return list(zip(flags["symbol"], flags["date"], flags["check"], strict=True))


def test_clean_series_raises_nothing():
    result = compute_series_checks(_bars(_walk(40)), None, DAYS, CFG)
    assert result.flags.empty and result.rejected.empty


def test_missing_sessions_are_flagged_once_per_session():
    bars = _bars(_walk(30))
    bars = bars.drop(index=[10, 11, 12]).reset_index(drop=True)
    result = compute_series_checks(bars, None, DAYS, CFG)
    assert _checks(result.flags) == [("AAA", DAYS[i].date(), "missing_session") for i in (10, 11, 12)]
    assert "gap of 3 sessions" in result.flags["detail"].iloc[0]


def test_gap_between_history_and_batch_is_flagged_but_gaps_inside_history_are_not():
    closes = _walk(40)
    full = _bars(closes)
    history = full.iloc[:20].drop(index=[5])  # a gap already stored (flagged by an earlier run)
    batch = full.iloc[22:]  # sessions 20 and 21 never arrived
    result = compute_series_checks(batch, history, DAYS, CFG)
    assert _checks(result.flags) == [("AAA", DAYS[i].date(), "missing_session") for i in (20, 21)]


def test_bar_on_a_closed_day_is_flagged():
    bars = _bars(_walk(5))
    saturday = bars.iloc[[2]].assign(date=dt.date(2024, 1, 6))
    bars = pd.concat([bars, saturday]).sort_values("date").reset_index(drop=True)
    result = compute_series_checks(bars, None, DAYS, CFG)
    assert _checks(result.flags) == [("AAA", dt.date(2024, 1, 6), "non_session_date")]


@pytest.mark.parametrize(("run", "flagged"), [(4, False), (5, True), (9, True)])
def test_stale_run_of_identical_closes(run, flagged):
    closes = _walk(30)
    closes[10 : 10 + run] = closes[10]
    result = compute_series_checks(_bars(closes), None, DAYS, CFG)
    expected = [("AAA", DAYS[10].date(), "stale_price")] if flagged else []
    assert _checks(result.flags) == expected
    if flagged:
        assert f"unchanged for {run} sessions" in result.flags["detail"].iloc[0]


def test_stale_run_continuing_from_history_counts_the_history():
    closes = _walk(30)
    closes[15:21] = closes[15]  # 6 identical: 3 stored, 3 new
    full = _bars(closes)
    result = compute_series_checks(full.iloc[18:], full.iloc[:18], DAYS, CFG)
    assert _checks(result.flags) == [("AAA", DAYS[15].date(), "stale_price")]


def test_reverted_spike_is_quarantined_and_flagged():
    closes = _walk(40, seed=1)
    closes[20] *= 1.5
    bars = _bars(closes)
    result = compute_series_checks(bars, None, DAYS, CFG)
    # The tick goes to quarantine, so its session has no bar: flagged missing as well.
    assert _checks(result.flags) == [("AAA", DAYS[20].date(), "missing_session"),
                                     ("AAA", DAYS[20].date(), "spike_reverted")]
    assert result.flags["severity"].tolist() == ["warning", "error"]
    assert result.rejected[["symbol", "date", "reason"]].values.tolist() == [
        ["AAA", DAYS[20].strftime("%Y-%m-%d"), "spike_reverted"]
    ]


def test_lasting_jump_is_not_a_spike_and_small_moves_are_not_spikes():
    closes = _walk(40, seed=2)
    closes[20:] *= 1.5  # a real re-pricing that stays
    calm = _walk(40, seed=3, vol=0.0005)
    calm[20] *= 1.03  # huge in sigmas of a calm series, but below spike_min_abs_return
    both = pd.concat([_bars(closes), _bars(calm, symbol="BBB")], ignore_index=True)
    result = compute_series_checks(both, None, DAYS, CFG)
    assert result.rejected.empty
    assert "spike_reverted" not in set(result.flags["check"])


def test_spike_on_the_last_batch_day_is_kept_until_the_next_session_shows_it():
    closes = _walk(41, seed=1)
    closes[39] *= 1.5
    full = _bars(closes)
    assert compute_series_checks(full.iloc[:40], None, DAYS, CFG).rejected.empty
    # The next run sees it revert: the stored bar (now history) is returned for quarantine.
    later = compute_series_checks(full.iloc[40:], full.iloc[:40], DAYS, CFG)
    assert _checks(later.flags) == [("AAA", DAYS[39].date(), "missing_session"),
                                    ("AAA", DAYS[39].date(), "spike_reverted")]
    assert later.rejected["date"].tolist() == [DAYS[39].strftime("%Y-%m-%d")]


@pytest.mark.parametrize("ratio", [2.0, 3.0, 0.1])
def test_split_in_unadjusted_close_with_smooth_adjusted_series(ratio):
    adj = _walk(40, seed=4)
    closes = adj.copy()
    closes[:25] *= ratio  # before the split the raw price is on the old scale
    result = compute_series_checks(_bars(closes, adj=adj), None, DAYS, CFG)
    assert _checks(result.flags) == [("AAA", DAYS[25].date(), "split")]
    assert "close is unadjusted" in result.flags["detail"].iloc[0]
    assert result.rejected.empty


def test_split_suspected_in_a_series_without_adjustment():
    closes = _walk(40, seed=4)
    closes[:25] *= 2.0
    result = compute_series_checks(_bars(closes), None, DAYS, CFG)
    assert _checks(result.flags) == [("AAA", DAYS[25].date(), "split")]
    assert "no adjustment" in result.flags["detail"].iloc[0]


def test_split_coefficient_is_reported_as_info():
    closes = _walk(40, seed=4)
    adj = closes.copy()
    closes[:25] *= 2.0
    coef = np.ones(40)
    coef[25] = 2.0
    result = compute_series_checks(_bars(closes, adj=adj, coef=coef), None, DAYS, CFG)
    assert _checks(result.flags) == [("AAA", DAYS[25].date(), "split")]
    assert result.flags["severity"].tolist() == ["info"]


def test_crash_seen_in_the_adjusted_series_too_is_not_a_split():
    closes = _walk(40, seed=4)
    closes[25:] /= 2.0
    adj = closes * 0.98  # an adjusted series exists and halves as well
    result = compute_series_checks(_bars(closes, adj=adj), None, DAYS, CFG)
    assert result.flags.empty


def test_flags_only_where_the_batch_is_involved():
    closes = _walk(40)
    closes[5:12] = closes[5]  # stale run entirely in history
    full = _bars(closes)
    result = compute_series_checks(full.iloc[30:], full.iloc[:30], DAYS, CFG)
    assert result.flags.empty


def test_sample_market_is_clean_and_many_symbols_are_checked_at_once():
    # The synthetic market has no defects: no false positives over 20 symbols x 2 years.
    market = compute_sample_market(SampleSettings(n_symbols=20, n_years=2))
    acc = compute_row_checks(market.bars).accepted
    cal = sessions(acc["date"].min(), acc["date"].max())
    assert compute_series_checks(acc, None, cal, CFG).flags.empty
    # Planting one defect of each kind in different symbols finds exactly those.
    bad = acc.copy()
    syms = sorted(bad["symbol"].unique())
    rows = {s: bad.index[bad["symbol"] == s] for s in syms}
    bad.loc[rows[syms[1]][100:106], ["open", "high", "low", "close", "adj_close"]] = 33.0
    spike = rows[syms[2]][200]
    bad.loc[spike, ["close", "high", "adj_close"]] = bad.loc[spike, "close"] * 1.7
    bad = bad.drop(index=rows[syms[3]][50:52])
    result = compute_series_checks(bad, None, cal, CFG)
    got = result.flags.groupby(["symbol", "check"]).size().to_dict()
    assert got == {
        (syms[1], "stale_price"): 1, (syms[2], "spike_reverted"): 1, (syms[2], "missing_session"): 1,
        (syms[3], "missing_session"): 2,
    }
    assert len(result.rejected) == 1
