"""Series checks: calendar gaps, closed days, stale runs, splits, suspected bad ticks (kept, never rejected)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from marketdata.calendar import sessions
from marketdata.config import GuardrailSettings, SampleSettings
from marketdata.guardrails import CONTEXT_AFTER, compute_row_checks, compute_series_checks, context_before
from marketdata.sample import compute_sample_market

CFG = GuardrailSettings()
DAYS = sessions("2024-01-02", "2024-06-28")  # 124 XNYS sessions


def _bars(closes, symbol="AAA", days=None, adj=None, coef=None, volume=1000.0) -> pd.DataFrame:
    days = DAYS[: len(closes)] if days is None else days
    closes = np.asarray(closes, dtype=float)
    return pd.DataFrame(
        {
            "symbol": symbol, "date": pd.DatetimeIndex(days).date, "open": closes, "high": closes * 1.01,
            "low": closes * 0.99, "close": closes, "adj_close": closes if adj is None else np.asarray(adj, float),
            "volume": volume, "vwap": np.nan, "dividend": np.nan,
            "split_coefficient": np.nan if coef is None else np.asarray(coef, float),
        }
    )


def _walk(n, seed=0, start=50.0, vol=0.01):
    rng = np.random.default_rng(seed)
    return start * np.exp(np.cumsum(rng.normal(0, vol, n)))


def _checks(flags: pd.DataFrame) -> list[tuple[str, dt.date, str]]:
    return list(zip(flags["symbol"], flags["date"], flags["check"], strict=True))


def _suspects(result) -> list[tuple[str, dt.date]]:
    return list(zip(result.suspects["symbol"], result.suspects["date"].dt.date, strict=True))


def test_clean_series_raises_nothing():
    result = compute_series_checks(_bars(_walk(40)), DAYS, CFG)
    assert result.flags.empty and result.suspects.empty


def test_missing_sessions_are_flagged_once_per_session():
    bars = _bars(_walk(30))
    bars = bars.drop(index=[10, 11, 12]).reset_index(drop=True)
    result = compute_series_checks(bars, DAYS, CFG)
    assert _checks(result.flags) == [("AAA", DAYS[i].date(), "missing_session") for i in (10, 11, 12)]
    assert "gap of 3 sessions" in result.flags["detail"].iloc[0]


def test_bar_on_a_closed_day_is_flagged():
    bars = _bars(_walk(5))
    saturday = bars.iloc[[2]].assign(date=dt.date(2024, 1, 6))
    bars = pd.concat([bars, saturday]).sort_values("date").reset_index(drop=True)
    result = compute_series_checks(bars, DAYS, CFG)
    assert _checks(result.flags) == [("AAA", dt.date(2024, 1, 6), "non_session_date")]


@pytest.mark.parametrize(("run", "flagged"), [(4, False), (5, True), (9, True)])
def test_stale_run_of_identical_closes(run, flagged):
    closes = _walk(30)
    closes[10 : 10 + run] = closes[10]
    result = compute_series_checks(_bars(closes), DAYS, CFG)
    expected = [("AAA", DAYS[10].date(), "stale_price")] if flagged else []
    assert _checks(result.flags) == expected
    if flagged:
        assert f"unchanged for {run} sessions" in result.flags["detail"].iloc[0]


def test_reverted_spike_is_a_suspect_kept_not_a_missing_session():
    closes = _walk(50, seed=1)
    closes[30] *= 1.5
    result = compute_series_checks(_bars(closes), DAYS, CFG)
    # Given a +50% close that comes back the next session, the bar is a suspect with its own evidence...
    assert _suspects(result) == [("AAA", DAYS[30].date())]
    s = result.suspects.iloc[0]
    assert s["move"] == pytest.approx(np.log(closes[30] / closes[29]), rel=1e-5)
    assert s["next_move"] < 0 and s["robust_sigma"] > 0
    assert s["volume_ratio"] == pytest.approx(1.0)  # volume did not react
    assert s["range_share"] < 0.1  # the whole bar moved as a block
    # ...and not a finding of another kind: the session still has its bar.
    assert result.flags.empty


def test_lasting_jump_is_not_a_spike_and_small_moves_are_not_spikes():
    closes = _walk(40, seed=2)
    closes[20:] *= 1.5  # a real re-pricing that stays
    calm = _walk(40, seed=3, vol=0.0005)
    calm[20] *= 1.03  # huge in sigmas of a calm series, but below spike_min_abs_return
    both = pd.concat([_bars(closes), _bars(calm, symbol="BBB")], ignore_index=True)
    result = compute_series_checks(both, DAYS, CFG)
    assert result.suspects.empty and result.flags.empty


def test_suspect_on_the_last_bar_waits_for_the_next_session():
    closes = _walk(41, seed=1)
    closes[39] *= 1.5
    full = _bars(closes)
    assert compute_series_checks(full.iloc[:40], DAYS, CFG).suspects.empty
    assert _suspects(compute_series_checks(full, DAYS, CFG)) == [("AAA", DAYS[39].date())]


def test_a_finding_depends_only_on_its_context_window():
    # Given a long series with a suspect at session 100 and a stale run around session 40
    closes = _walk(124, seed=5)
    closes[100] *= 1.4
    closes[40:47] = closes[40]
    full = compute_series_checks(_bars(closes), DAYS, CFG)
    # When the series is cut context_before bars before the suspect and CONTEXT_AFTER bars after it
    lo, hi = 100 - context_before(CFG), 100 + CONTEXT_AFTER + 1
    cut = compute_series_checks(_bars(closes[lo:hi], days=DAYS[lo:hi]), DAYS, CFG)
    # Then the suspect and its evidence are the same
    pd.testing.assert_frame_equal(full.suspects.reset_index(drop=True), cut.suspects.reset_index(drop=True))
    # And a shorter trailing window changes the robust sigma (the test would pass vacuously otherwise)
    shorter = compute_series_checks(_bars(closes[lo + 30 : hi], days=DAYS[lo + 30 : hi]), DAYS, CFG)
    assert shorter.suspects["robust_sigma"].iloc[0] != full.suspects["robust_sigma"].iloc[0]


@pytest.mark.parametrize("ratio", [2.0, 3.0, 0.1])
def test_split_in_unadjusted_close_with_smooth_adjusted_series(ratio):
    adj = _walk(40, seed=4)
    closes = adj.copy()
    closes[:25] *= ratio  # before the split the raw price is on the old scale
    result = compute_series_checks(_bars(closes, adj=adj), DAYS, CFG)
    assert _checks(result.flags) == [("AAA", DAYS[25].date(), "split")]
    assert "close is unadjusted" in result.flags["detail"].iloc[0]


def test_split_without_adjustment_needs_a_volume_reaction():
    closes = _walk(60, seed=4)
    closes[:25] *= 2.0
    # Given no adjusted series and flat volume: one large return alone is not a split
    assert compute_series_checks(_bars(closes), DAYS, CFG).flags.empty
    # When the share count doubles with the halved price, volume doubles: a split
    volume = np.where(np.arange(60) >= 25, 2000.0, 1000.0)
    result = compute_series_checks(_bars(closes, volume=volume), DAYS, CFG)
    assert _checks(result.flags) == [("AAA", DAYS[25].date(), "split")]
    assert "volume moved x2" in result.flags["detail"].iloc[0]
    # A crash to half on news whose volume surges x4 for weeks is not a split either
    surge = np.where(np.arange(60) >= 25, 4000.0, 1000.0)
    assert compute_series_checks(_bars(closes, volume=surge), DAYS, CFG).flags.empty


def test_large_earnings_jump_of_an_adjusted_series_is_not_a_split():
    # AMD 2016-04-22: +52% on results, a close ratio of 0.66 (near a 2:3 reverse split), volume surging
    closes = _walk(60, seed=6, start=2.6)
    closes[30:] *= 1.52
    volume = np.full(60, 1e7)
    volume[30:36] = [8e7, 5e7, 3e7, 2.5e7, 2e7, 1.8e7]
    result = compute_series_checks(_bars(closes, volume=volume), DAYS, CFG)
    assert result.flags.empty
    # With the same ratio, a reverse split cuts the share count: volume falls, and that is a split
    volume = np.where(np.arange(60) >= 30, 1e7 * 2 / 3, 1e7)
    result = compute_series_checks(_bars(closes, volume=volume), DAYS, CFG)
    assert _checks(result.flags) == [("AAA", DAYS[30].date(), "split")]


def test_split_coefficient_is_reported_as_info():
    closes = _walk(40, seed=4)
    adj = closes.copy()
    closes[:25] *= 2.0
    coef = np.ones(40)
    coef[25] = 2.0
    result = compute_series_checks(_bars(closes, adj=adj, coef=coef), DAYS, CFG)
    assert _checks(result.flags) == [("AAA", DAYS[25].date(), "split")]
    assert result.flags["severity"].tolist() == ["info"]


def test_crash_seen_in_the_adjusted_series_too_is_not_a_split():
    closes = _walk(40, seed=4)
    closes[25:] /= 2.0
    adj = closes * 0.98  # an adjusted series exists and halves as well
    result = compute_series_checks(_bars(closes, adj=adj), DAYS, CFG)
    assert result.flags.empty


def test_close_only_series_is_checked_on_its_closes():
    closes = _walk(40, seed=7)
    closes[20] *= 1.6
    bars = _bars(closes).assign(open=np.nan, high=np.nan, low=np.nan, volume=np.nan)
    result = compute_series_checks(bars, DAYS, CFG)
    assert _suspects(result) == [("AAA", DAYS[20].date())]
    assert np.isnan(result.suspects["volume_ratio"].iloc[0]) and np.isnan(result.suspects["range_share"].iloc[0])


def test_sample_market_is_clean_and_many_symbols_are_checked_at_once():
    # The synthetic market has no defects: no false positives over 20 symbols x 2 years.
    market = compute_sample_market(SampleSettings(n_symbols=20, n_years=2))
    acc = compute_row_checks(market.bars).accepted
    cal = sessions(acc["date"].min(), acc["date"].max())
    clean = compute_series_checks(acc, cal, CFG)
    assert clean.flags.empty and clean.suspects.empty
    # Planting one defect of each kind in different symbols finds exactly those.
    bad = acc.copy()
    syms = sorted(bad["symbol"].unique())
    rows = {s: bad.index[bad["symbol"] == s] for s in syms}
    bad.loc[rows[syms[1]][100:106], ["open", "high", "low", "close", "adj_close"]] = 33.0
    spike = rows[syms[2]][200]
    bad.loc[spike, ["close", "high", "adj_close"]] = bad.loc[spike, "close"] * 1.7
    bad = bad.drop(index=rows[syms[3]][50:52])
    result = compute_series_checks(bad, cal, CFG)
    got = result.flags.groupby(["symbol", "check"]).size().to_dict()
    assert got == {(syms[1], "stale_price"): 1, (syms[3], "missing_session"): 2}
    assert _suspects(result) == [(syms[2], bad.loc[spike, "date"].date())]
