"""The alphavantage source against recorded responses (respx): fallback, incremental, errors, retries, secrecy."""

from __future__ import annotations

import datetime as dt
import json
import logging
from pathlib import Path

import httpx
import pytest
import respx
from pydantic import SecretStr

from marketdata.alphavantage import (
    ADJUSTED,
    DAILY,
    AlphaVantageHTTPError,
    AlphaVantageInvalidRequest,
    AlphaVantagePremiumOnly,
    AlphaVantageRateLimited,
    AlphaVantageSource,
    RateLimiter,
    compute_outputsize,
)
from marketdata.config import AlphaVantageSettings, GuardrailSettings
from marketdata.ingest import run_ingest
from stores.warehouse import Warehouse

DATA = Path(__file__).resolve().parents[2] / "data" / "alphavantage"
KEY = "TESTKEY-SECRET-42"
URL = "https://www.alphavantage.co/query"
SETTINGS = AlphaVantageSettings(api_key=SecretStr(KEY), requests_per_minute=600, max_retries=3)
TODAY = dt.date(2024, 6, 13)


def _fixture(name: str) -> dict:
    return json.loads((DATA / name).read_text())


class Replay:
    """Answers each (function, symbol) with the recorded JSON, or a list of answers in turn."""

    def __init__(self, answers: dict[tuple[str, str], object]):
        self.answers = {k: list(v) if isinstance(v, list) else [v] for k, v in answers.items()}
        self.seen: list[dict[str, str]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        params = dict(request.url.params)
        self.seen.append(params)
        queue = self.answers[(params["function"], params["symbol"])]
        answer = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(answer, Exception):
            raise answer
        if isinstance(answer, int):
            return httpx.Response(answer, text="upstream trouble")
        return httpx.Response(200, json=_fixture(answer))


def _source(symbols, warehouse=None, **kw) -> AlphaVantageSource:
    sleeps: list[float] = []
    src = AlphaVantageSource(symbols, kw.pop("settings", SETTINGS), warehouse, today=TODAY, backoff_s=0.0,
                             sleep=sleeps.append, **kw)
    src.sleeps = sleeps
    return src


@respx.mock
def test_adjusted_series_is_ingested_with_splits_and_sizes_by_stored_history(tmp_path):
    replay = Replay({(ADJUSTED, "IBM"): "ibm_daily_adjusted_compact.json",
                     (ADJUSTED, "MSFT"): "msft_daily_adjusted_full.json"})
    respx.get(URL).mock(side_effect=replay)
    wh = Warehouse(tmp_path / "w.duckdb")
    report = run_ingest(wh, _source(["ibm", "MSFT"], wh), GuardrailSettings())
    assert report.status == "ok"
    assert report.rows_inserted == 16 and report.rows_quarantined == 0
    # Nothing stored yet: both symbols ask for the full history.
    assert [(p["symbol"], p["outputsize"]) for p in replay.seen] == [("IBM", "full"), ("MSFT", "full")]
    with wh.session(read_only=True) as con:
        msft = con.execute("SELECT date, close, adj_close, split_coefficient FROM bars WHERE symbol='MSFT' "
                           "ORDER BY date").fetchall()
        flags = con.execute('SELECT symbol, date, "check", severity FROM data_quality').fetchall()
        ibm_div = con.execute("SELECT dividend FROM bars WHERE symbol='IBM' AND date='2024-06-07'").fetchall()
    assert msft[0][1:3] == (420.0, 210.0) and msft[-1][1:3] == (214.4, 214.4)
    assert flags == [("MSFT", dt.date(2024, 6, 7), "split", "info")]
    assert ibm_div == [(1.67,)]

    # Stored up to 2024-06-12: the next run asks only for the compact series, and changes nothing.
    replay.seen.clear()
    again = run_ingest(wh, _source(["IBM", "MSFT"], wh), GuardrailSettings())
    assert {p["outputsize"] for p in replay.seen} == {"compact"}
    assert (again.rows_inserted, again.rows_updated, again.rows_unchanged) == (0, 0, 16)


@respx.mock
def test_premium_endpoint_falls_back_to_the_plain_daily_series(tmp_path):
    replay = Replay({(ADJUSTED, "IBM"): "information_premium.json", (DAILY, "IBM"): "ibm_daily_compact.json"})
    respx.get(URL).mock(side_effect=replay)
    wh = Warehouse(tmp_path / "w.duckdb")
    report = run_ingest(wh, _source(["IBM"], wh), GuardrailSettings())
    assert [p["function"] for p in replay.seen] == [ADJUSTED, DAILY]
    assert report.status == "ok" and report.rows_inserted == 8
    with wh.session(read_only=True) as con:
        same = con.execute("SELECT count(*) FROM bars WHERE adj_close = close").fetchall()[0][0]
    assert same == 8


@respx.mock
def test_full_history_premium_falls_back_to_compact():
    replay = Replay({(ADJUSTED, "IBM"): "information_premium.json",
                     (DAILY, "IBM"): ["information_outputsize_premium.json", "ibm_daily_compact.json"]})
    respx.get(URL).mock(side_effect=replay)
    batches = list(_source(["IBM"]).batches())
    assert [(p["function"], p["outputsize"]) for p in replay.seen] == [
        (ADJUSTED, "full"), (DAILY, "full"), (DAILY, "compact")]
    assert batches[0].error is None and len(batches[0].frame) == 8


@respx.mock
def test_all_fallbacks_refused_is_a_typed_error():
    replay = Replay({(ADJUSTED, "IBM"): "information_premium.json", (DAILY, "IBM"): "information_premium.json"})
    respx.get(URL).mock(side_effect=replay)
    batches = list(_source(["IBM"]).batches())
    assert isinstance(batches[0].error, AlphaVantagePremiumOnly) and str(batches[0].error).startswith("IBM: ")
    assert len(replay.seen) == 3


@respx.mock
@pytest.mark.parametrize(
    ("fixture", "error_type", "words"),
    [
        ("error_invalid_symbol.json", AlphaVantageInvalidRequest, "Invalid API call"),
        ("note_rate_limit.json", AlphaVantageRateLimited, "5 calls per minute"),
        ("information_daily_limit.json", AlphaVantageRateLimited, "25 requests per day"),
    ],
)
def test_errors_inside_a_200_are_typed_name_the_symbol_and_spare_the_others(tmp_path, fixture, error_type, words):
    replay = Replay({(ADJUSTED, "BAD"): fixture, (ADJUSTED, "IBM"): "ibm_daily_adjusted_compact.json"})
    respx.get(URL).mock(side_effect=replay)
    batches = list(_source(["BAD", "IBM"]).batches())
    assert isinstance(batches[0].error, error_type)
    assert str(batches[0].error).startswith("BAD: ") and words in str(batches[0].error)
    assert batches[1].error is None and len(batches[1].frame) == 8

    wh = Warehouse(tmp_path / "w.duckdb")
    report = run_ingest(wh, _source(["BAD", "IBM"]), GuardrailSettings())
    assert report.status == "partial" and report.errors[0].startswith("BAD: ")
    with wh.session(read_only=True) as con:
        assert con.execute("SELECT DISTINCT symbol FROM bars").fetchall() == [("IBM",)]


@respx.mock
def test_server_errors_and_transport_errors_are_retried_with_backoff():
    replay = Replay({
        (ADJUSTED, "IBM"): [503, httpx.ConnectError("connection reset"), "ibm_daily_adjusted_compact.json"],
        (ADJUSTED, "DOWN"): [502],
    })
    respx.get(URL).mock(side_effect=replay)
    src = _source(["IBM", "DOWN"])
    batches = list(src.batches())
    assert batches[0].error is None and len(batches[0].frame) == 8
    assert isinstance(batches[1].error, AlphaVantageHTTPError)
    assert "DOWN" in str(batches[1].error) and "502" in str(batches[1].error)
    # 3 tries for IBM, max_retries=3 for DOWN
    assert [p["symbol"] for p in replay.seen] == ["IBM"] * 3 + ["DOWN"] * 3


@respx.mock
def test_client_errors_are_not_retried():
    replay = Replay({(ADJUSTED, "IBM"): [401]})
    respx.get(URL).mock(side_effect=replay)
    batches = list(_source(["IBM"]).batches())
    assert isinstance(batches[0].error, AlphaVantageHTTPError) and len(replay.seen) == 1


@respx.mock
def test_the_api_key_never_shows(tmp_path, caplog):
    # The daily-limit answer quotes the key back, the URL carries it, a transport error may too.
    replay = Replay({
        (ADJUSTED, "IBM"): "information_daily_limit.json",
        (ADJUSTED, "NET"): [httpx.ConnectError(f"failed GET {URL}?apikey={KEY}")],
    })
    respx.get(URL).mock(side_effect=replay)
    caplog.set_level(logging.DEBUG)
    wh = Warehouse(tmp_path / "w.duckdb")
    src = _source(["IBM", "NET"], wh)
    report = run_ingest(wh, src, GuardrailSettings())
    assert replay.seen[0]["apikey"] == KEY  # it was sent...
    texts = [repr(src), report.to_json(), caplog.text, *report.errors]
    with wh.session(read_only=True) as con:
        texts += [str(r) for r in con.execute("SELECT * FROM ingest_runs").fetchall()]
    assert all(KEY not in t for t in texts)  # ...and shown nowhere
    assert "***" in report.errors[0] and "25 requests per day" in report.errors[0]


def test_rate_limiter_spaces_requests():
    now = [0.0]
    slept: list[float] = []

    def sleep(s: float) -> None:
        slept.append(s)
        now[0] += s

    limiter = RateLimiter(per_minute=30, clock=lambda: now[0], sleep=sleep)
    for _ in range(4):
        limiter.wait()
    assert slept == [2.0, 2.0, 2.0]


@respx.mock
def test_source_uses_the_configured_rate():
    replay = Replay({(ADJUSTED, s): "ibm_daily_adjusted_compact.json" for s in ("A", "B", "C")})
    respx.get(URL).mock(side_effect=replay)
    src = _source(["A", "B", "C"], settings=SETTINGS.model_copy(update={"requests_per_minute": 5}))
    list(src.batches())
    # 12 s apart at 5/min: the first request goes at once, the second waits (almost) the whole interval
    assert src.limiter.interval == 12.0
    assert len(src.sleeps) == 2 and 11.0 < src.sleeps[0] <= 12.0


def test_outputsize_compact_only_when_recent_dates_are_missing():
    assert compute_outputsize(None, TODAY) == "full"
    assert compute_outputsize(dt.date(2024, 6, 10), TODAY) == "compact"
    assert compute_outputsize(dt.date(2024, 2, 1), TODAY) == "compact"  # ~90 sessions
    assert compute_outputsize(dt.date(2023, 6, 1), TODAY) == "full"


def test_no_key_is_refused():
    with pytest.raises(ValueError, match="ALPHAVANTAGE_API_KEY"):
        AlphaVantageSource(["IBM"], AlphaVantageSettings())
