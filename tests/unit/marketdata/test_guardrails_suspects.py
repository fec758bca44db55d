"""Suspected bad ticks: a crisis day shared by the market or peers is corroborated, a decimal slip is not."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from marketdata.calendar import sessions
from marketdata.config import GuardrailSettings
from marketdata.guardrails import compute_series_checks, compute_suspect_verdicts
from tests.unit.marketdata.market import bad_tick, crisis, make_market

CFG = GuardrailSettings()
SYMBOLS = ("JPM", "BAC", "XOM", "GE", "MSFT", "PEP")
DAY = 90


def _verdicts(bars: pd.DataFrame, reference: pd.DataFrame | None = None, cfg: GuardrailSettings = CFG):
    cal = sessions(bars["date"].min(), bars["date"].max())
    suspects = compute_series_checks(bars, cal, cfg).suspects
    out = compute_suspect_verdicts(suspects, bars[["symbol", "date", "adj_close"]], cfg, reference)
    out["ev"] = out["evidence"].map(json.loads)
    return out


def test_crisis_day_shared_by_the_market_is_kept_and_corroborated():
    # Given six large stocks on a 2008-style day: -17% across the market, +15% the next session, heavy volume
    shocks, boost = crisis(SYMBOLS, DAY)
    bars = make_market(SYMBOLS, shocks=shocks, volume_boost=boost)
    out = _verdicts(bars)
    # Then every stock's crash is a suspect, and every one is corroborated by the market (info, not an error)
    day = pd.Timestamp(bars["date"].unique()[DAY]).date()
    assert sorted(out["symbol"]) == sorted(SYMBOLS) and set(out["date"]) == {day}
    assert set(out["severity"]) == {"info"}
    assert all("market" in ev["corroborated_by"] for ev in out["ev"])
    assert all(ev["market_move"] == pytest.approx(np.log1p(-0.17), abs=0.01) for ev in out["ev"])
    assert all({"volume", "range"} <= set(ev["corroborated_by"]) for ev in out["ev"])
    assert out["detail"].str.contains("bar kept: corroborated by market").all()


def test_crisis_day_in_close_only_data_is_corroborated_by_the_market_alone():
    shocks, _ = crisis(SYMBOLS, DAY)
    bars = make_market(SYMBOLS, shocks=shocks).assign(open=np.nan, high=np.nan, low=np.nan, volume=np.nan)
    out = _verdicts(bars)
    assert len(out) == len(SYMBOLS)
    # the market (and, as every stock fell, the closest peers), but no volume or range: there are none
    assert all("market" in ev["corroborated_by"] for ev in out["ev"])
    assert all(set(ev["corroborated_by"]) <= {"market", "peers"} for ev in out["ev"])
    assert all(ev["volume_ratio"] is None and ev["range_share"] is None for ev in out["ev"])


def test_decimal_slip_on_one_stock_is_kept_but_uncorroborated():
    # Given one session of one stock mis-scaled x10 in every price field, volume unchanged, a quiet market
    bars = bad_tick(make_market(SYMBOLS), "GE", DAY, factor=10.0)
    out = _verdicts(bars)
    # Then it is the only suspect, and nothing corroborates it: a likely bad tick (warning), still in the data
    assert out[["symbol", "severity"]].values.tolist() == [["GE", "warning"]]
    ev = out["ev"].iloc[0]
    assert ev["verdict"] == "uncorroborated" and ev["corroborated_by"] == []
    assert ev["move"] == pytest.approx(np.log(10), abs=0.05)
    assert abs(ev["market_move"]) < 0.03 and ev["market_symbols"] == len(SYMBOLS) - 1
    assert ev["volume_ratio"] < 1.5 and ev["range_share"] < 0.05
    assert "uncorroborated" in out["detail"].iloc[0] and "down-weight" in out["detail"].iloc[0]


def test_a_sector_move_is_corroborated_by_the_peers_when_the_market_is_quiet():
    # Given three banks sharing a factor and four unrelated stocks; the banks fall 18% and bounce
    syms = ("JPM", "BAC", "C", "XOM", "PEP", "MSFT", "KO")
    banks = {"JPM": "bank", "BAC": "bank", "C": "bank"}
    shocks = {}
    for s in banks:
        shocks[(s, DAY)] = np.log1p(-0.18)
        shocks[(s, DAY + 1)] = np.log1p(0.16)
    bars = make_market(syms, sectors=banks, shocks=shocks, seed=3)
    bars[["open", "high", "low", "volume"]] = np.nan  # close-only: no range or volume evidence
    out = _verdicts(bars)
    # Then each bank's move is corroborated by its peers (the other banks), not by the market
    assert sorted(out["symbol"]) == sorted(banks)
    for ev in out["ev"]:
        assert ev["corroborated_by"] == ["peers"]
        assert abs(ev["market_move"]) < 0.05
        assert set(ev["peers"][:2]) <= set(banks)


def test_idiosyncratic_news_with_heavy_volume_is_corroborated_by_volume():
    # GE 2019-08-15: -11% on a fraud accusation with five times the usual volume, back +10% the next day
    shocks = {("GE", DAY): np.log1p(-0.11), ("GE", DAY + 1): np.log1p(0.10)}
    boost = {("GE", DAY): 5.0, ("GE", DAY + 1): 3.0}
    bars = make_market(SYMBOLS, shocks=shocks, volume_boost=boost, seed=4)
    bars[["open", "high", "low"]] = np.nan
    cfg = GuardrailSettings(spike_sigma=5.0)  # a -11% move in a 1.5% vol stock: ~7 sigma
    out = _verdicts(bars, cfg=cfg)
    assert out["symbol"].tolist() == ["GE"]
    assert out["ev"].iloc[0]["corroborated_by"] == ["volume"]


def test_second_source_confirms_or_contradicts_the_close():
    bars = bad_tick(make_market(SYMBOLS), "GE", DAY, factor=10.0)
    ge = bars[bars["symbol"] == "GE"].reset_index(drop=True)
    confirms = ge[["symbol", "date", "close"]]
    out = _verdicts(bars, reference=confirms)
    assert out["ev"].iloc[0]["corroborated_by"] == ["second_source"] and out["severity"].iloc[0] == "info"
    # A second source with the unscaled price says the stored close is wrong: contradicted, an error
    fixed = confirms.copy()
    fixed.loc[DAY, "close"] = fixed.loc[DAY, "close"] / 10
    out = _verdicts(bars, reference=fixed)
    assert out["ev"].iloc[0]["verdict"] == "contradicted" and out["severity"].iloc[0] == "error"
    assert "second source contradicts" in out["detail"].iloc[0]


def test_the_market_needs_enough_other_symbols():
    shocks, _ = crisis(("AAA", "BBB", "CCC"), DAY)
    bars = make_market(("AAA", "BBB", "CCC"), shocks=shocks)
    bars[["open", "high", "low", "volume"]] = np.nan
    out = _verdicts(bars)
    # Two other symbols are not a market and give no peers: with no volume or range either, nothing corroborates
    assert len(out) == 3
    assert all(ev["market_move"] is None and ev["market_symbols"] == 2 and ev["peers"] == [] for ev in out["ev"])
    assert set(out["severity"]) == {"warning"}
    # One more symbol makes a market of three that moved with them
    shocks, _ = crisis(("AAA", "BBB", "CCC", "DDD"), DAY)
    bars = make_market(("AAA", "BBB", "CCC", "DDD"), shocks=shocks)
    bars[["open", "high", "low", "volume"]] = np.nan
    out = _verdicts(bars)
    assert all("market" in ev["corroborated_by"] for ev in out["ev"]) and len(out) == 4
