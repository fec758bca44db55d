"""The `alphavantage` source: daily bars over HTTP (httpx + tenacity), incremental, rate limited, key kept secret."""

from __future__ import annotations

import datetime as dt
import logging
import re
import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import httpx
import pandas as pd
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from marketdata.calendar import sessions
from marketdata.config import AlphaVantageSettings
from marketdata.sources import SourceBatch, SourceError

if TYPE_CHECKING:
    from stores.warehouse import Warehouse

log = logging.getLogger(__name__)

ADJUSTED = "TIME_SERIES_DAILY_ADJUSTED"
DAILY = "TIME_SERIES_DAILY"
COMPACT_MAX_SESSIONS = 95
"""`outputsize=compact` returns the last 100 points; ask for it only when fewer sessions are missing."""
SERIES_KEY = "Time Series (Daily)"
FIELD_MAP = {
    "open": "open", "high": "high", "low": "low", "close": "close", "adjusted close": "adj_close",
    "volume": "volume", "dividend amount": "dividend", "split coefficient": "split_coefficient",
}
REDACTED = "***"


class AlphaVantageError(SourceError):
    """Alpha Vantage refused or failed a request for one symbol."""


class AlphaVantageInvalidRequest(AlphaVantageError):
    """`Error Message` in a 200 response: unknown symbol or malformed call."""


class AlphaVantageRateLimited(AlphaVantageError):
    """`Note` (or a rate-limit `Information`) in a 200 response: the call quota is used up."""


class AlphaVantagePremiumOnly(AlphaVantageError):
    """`Information` about a premium endpoint: the key cannot use this function."""


class AlphaVantageHTTPError(AlphaVantageError):
    """Transport failure or HTTP error status after the retries."""


class AlphaVantageBadPayload(AlphaVantageError):
    """A 200 response that is not the expected JSON time series."""


class _Retryable(Exception):
    """A 5xx answer: worth another try."""

    def __init__(self, status: int):
        super().__init__(f"HTTP {status}")
        self.status = status


class _RedactFilter(logging.Filter):
    """Masks `apikey=...` in any record of the httpx/httpcore loggers (they log full request URLs)."""

    _pattern = re.compile(r"(apikey=)[^&\s\"']+", re.IGNORECASE)

    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.getMessage()
        if "apikey" in msg.lower():
            record.msg = self._pattern.sub(r"\1" + REDACTED, msg)
            record.args = None
        return True


_filter_lock = threading.Lock()
_FILTER = _RedactFilter()


def _install_redaction() -> None:
    with _filter_lock:
        for name in ("httpx", "httpcore"):
            lg = logging.getLogger(name)
            if _FILTER not in lg.filters:
                lg.addFilter(_FILTER)


class RateLimiter:
    """At most `per_minute` request starts per minute (evenly spaced)."""

    def __init__(self, per_minute: float, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        self.interval = 60.0 / per_minute if per_minute > 0 else 0.0
        self.clock, self.sleep = clock, sleep
        self._next = 0.0

    def wait(self) -> None:
        now = self.clock()
        if now < self._next:
            self.sleep(self._next - now)
            now = self._next
        self._next = now + self.interval


def compute_outputsize(last_stored: dt.date | None, today: dt.date, calendar: str = "XNYS") -> str:
    """`compact` when the sessions missing since `last_stored` fit in the last 100 points, else `full`."""
    if last_stored is None:
        return "full"
    missing = len(sessions(last_stored + dt.timedelta(days=1), today, calendar))
    return "compact" if missing <= COMPACT_MAX_SESSIONS else "full"


def compute_bars_from_payload(symbol: str, payload: dict[str, Any]) -> pd.DataFrame:
    """Alpha Vantage daily JSON -> raw rows (values as text; the row checks parse and validate them)."""
    series = payload.get(SERIES_KEY)
    if not isinstance(series, dict):
        keys = ", ".join(sorted(map(str, payload)))[:200]
        raise AlphaVantageBadPayload(symbol, f"no {SERIES_KEY!r} in the response (keys: {keys or 'none'})")
    rows = []
    for day, values in series.items():
        row: dict[str, Any] = {"symbol": symbol, "date": day}
        if isinstance(values, dict):
            for key, value in values.items():
                name = FIELD_MAP.get(re.sub(r"^\d+\.\s*", "", str(key)).strip().lower())
                if name:
                    row[name] = value
        rows.append(row)
    frame = pd.DataFrame(rows)
    return frame.sort_values("date", kind="stable").reset_index(drop=True) if len(frame) else frame


def classify_payload_error(
    symbol: str, payload: Any, redact: Callable[[str], str] = lambda text: text
) -> AlphaVantageError | None:
    """The typed error Alpha Vantage reported inside a 200 response, or None.

    Alpha Vantage sometimes quotes the key back ("We have detected your API key as ..."): `redact`
    masks it before it reaches the message."""
    if not isinstance(payload, dict):
        return AlphaVantageBadPayload(symbol, "the response is not a JSON object")
    if "Error Message" in payload:
        return AlphaVantageInvalidRequest(symbol, redact(f"Alpha Vantage error: {payload['Error Message']}"))
    if "Note" in payload:
        return AlphaVantageRateLimited(symbol, redact(f"Alpha Vantage rate limit: {payload['Note']}"))
    if "Information" in payload:
        info = str(payload["Information"])
        low = info.lower()
        if any(w in low for w in ("rate limit", "call frequency", "requests per", "calls per")):
            return AlphaVantageRateLimited(symbol, redact(f"Alpha Vantage rate limit: {info}"))
        if "premium" in low:
            return AlphaVantagePremiumOnly(symbol, redact(f"Alpha Vantage premium endpoint: {info}"))
        return AlphaVantageInvalidRequest(symbol, redact(f"Alpha Vantage information: {info}"))
    return None


def load_last_dates(warehouse: Warehouse, symbols: list[str]) -> dict[str, dt.date]:
    """Last stored bar date per symbol (empty when there is no warehouse yet)."""
    if not warehouse.path.exists() or not symbols:
        return {}
    with warehouse.session(read_only=True) as con:
        has_bars = con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = 'bars'"
        ).fetchall()[0][0]
        if not has_bars:
            return {}
        rows = con.execute(
            "SELECT symbol, max(date) FROM bars WHERE symbol IN (SELECT unnest(?)) GROUP BY symbol", [symbols]
        ).fetchall()
    return {s: d for s, d in rows}


class AlphaVantageSource:
    """Daily bars per symbol from Alpha Vantage. One batch per symbol; a symbol whose request fails
    becomes a batch carrying its typed error (nothing written for it) and the others go on.

    The last stored dates are read when the source is built (before the ingest opens the warehouse).
    """

    name = "alphavantage"

    def __init__(
        self,
        symbols: list[str],
        settings: AlphaVantageSettings,
        warehouse: Warehouse | None = None,
        *,
        calendar: str = "XNYS",
        today: dt.date | None = None,
        client: httpx.Client | None = None,
        backoff_s: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
    ):
        if settings.api_key is None or not settings.api_key.get_secret_value():
            raise ValueError("no Alpha Vantage API key: set ALPHAVANTAGE_API_KEY")
        self.symbols = [s.strip().upper() for s in symbols if s.strip()]
        self.settings = settings
        self.calendar = calendar
        self.today = today or dt.datetime.now(dt.UTC).date()
        self._client = client
        self.backoff_s = backoff_s
        self._sleep = sleep
        self.limiter = RateLimiter(settings.requests_per_minute, sleep=sleep)
        self.last_dates = load_last_dates(warehouse, self.symbols) if warehouse is not None else {}
        self.requests: list[tuple[str, str, str]] = []
        """(symbol, function, outputsize) of every request sent, for reports and tests."""

    def __repr__(self) -> str:
        return f"AlphaVantageSource(symbols={self.symbols!r}, base_url={self.settings.base_url!r})"

    # -- HTTP ------------------------------------------------------------------------------------
    def _redact(self, text: str) -> str:
        key = self.settings.api_key.get_secret_value() if self.settings.api_key else ""
        return text.replace(key, REDACTED) if key else text

    def _get(self, client: httpx.Client, symbol: str, function: str, outputsize: str) -> Any:
        params = {
            "function": function, "symbol": symbol, "outputsize": outputsize, "datatype": "json",
            "apikey": self.settings.api_key.get_secret_value(),
        }
        retrying = Retrying(
            stop=stop_after_attempt(max(1, self.settings.max_retries)),
            wait=wait_exponential(multiplier=self.backoff_s, min=self.backoff_s, max=60 * self.backoff_s),
            retry=retry_if_exception_type((httpx.TransportError, _Retryable)),
            sleep=self._sleep,
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    self.limiter.wait()
                    self.requests.append((symbol, function, outputsize))
                    response = client.get(self.settings.base_url, params=params)
                    if response.status_code >= 500:
                        raise _Retryable(response.status_code)
        except _Retryable as exc:
            raise AlphaVantageHTTPError(
                symbol, f"{function} answered HTTP {exc.status} after {self.settings.max_retries} attempts"
            ) from None
        except httpx.TransportError as exc:
            raise AlphaVantageHTTPError(
                symbol,
                f"{function} failed after {self.settings.max_retries} attempts: "
                f"{type(exc).__name__}: {self._redact(str(exc))}",
            ) from None
        if response.status_code != 200:
            raise AlphaVantageHTTPError(symbol, f"{function} answered HTTP {response.status_code}")
        try:
            return response.json()
        except ValueError:
            raise AlphaVantageBadPayload(symbol, f"{function} did not answer JSON") from None

    def fetch_symbol(self, client: httpx.Client, symbol: str) -> pd.DataFrame:
        """Raw rows for one symbol: the adjusted series; when the key's plan refuses it (premium), the plain
        daily series; when even `outputsize=full` is premium, the compact one (the last 100 sessions)."""
        size = compute_outputsize(self.last_dates.get(symbol), self.today, self.calendar)
        attempts = [(ADJUSTED, size), (DAILY, size)] + ([(DAILY, "compact")] if size == "full" else [])
        error: AlphaVantageError | None = None
        for function, outputsize in attempts:
            if error is not None:
                log.info("%s: %s; trying %s outputsize=%s", symbol, error, function, outputsize)
            payload = self._get(client, symbol, function, outputsize)
            error = classify_payload_error(symbol, payload, self._redact)
            if error is None:
                if outputsize != size:
                    log.warning("%s: full history is premium for this key; stored the last 100 sessions", symbol)
                return compute_bars_from_payload(symbol, payload)
            if not isinstance(error, AlphaVantagePremiumOnly):
                break
        assert error is not None
        raise error

    def batches(self) -> Iterator[SourceBatch]:
        _install_redaction()
        own = self._client is None
        client = self._client or httpx.Client(timeout=self.settings.timeout_s)
        try:
            for symbol in self.symbols:
                try:
                    frame = self.fetch_symbol(client, symbol)
                except AlphaVantageError as exc:
                    log.warning("%s", self._redact(str(exc)))
                    yield SourceBatch(label=symbol, error=exc)
                    continue
                if frame.empty:
                    yield SourceBatch(label=symbol, error=AlphaVantageBadPayload(symbol, "empty time series"))
                    continue
                yield SourceBatch(label=symbol, frame=frame)
        finally:
            if own:
                client.close()

    def truth(self) -> pd.DataFrame | None:
        return None


__all__ = [
    "AlphaVantageBadPayload",
    "AlphaVantageError",
    "AlphaVantageHTTPError",
    "AlphaVantageInvalidRequest",
    "AlphaVantagePremiumOnly",
    "AlphaVantageRateLimited",
    "AlphaVantageSource",
    "RateLimiter",
    "classify_payload_error",
    "compute_bars_from_payload",
    "compute_outputsize",
    "load_last_dates",
]
