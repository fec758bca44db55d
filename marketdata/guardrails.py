"""Pre-processing guardrails: row checks (reject to quarantine) and series checks (findings in data_quality).

Only what is provably wrong is rejected: a row that is not a price (no date or close, a number that does not
parse, a non-positive price, OHLC fields that contradict each other, negative volume, two different versions
of one date). Everything else is a finding: the bar is kept, and `data_quality` says what is odd about it and
what corroborates it. A suspected bad tick (a large move that reverts) is checked against the market, the
symbol's peers, its own range and volume, and a second source when one is configured; models may down-weight
what stays uncorroborated, the warehouse keeps the truth.

Everything here is pure: frames in, frames out. The ingest use case loads the context and writes the results.
"""

from __future__ import annotations

import datetime as dt
import json
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from dateutil import parser as dateparser

from marketdata.config import GuardrailSettings

PRICE_COLS = ("open", "high", "low", "close")
OPTIONAL_PRICE_COLS = ("open", "high", "low")
"""Prices a row may lack (close-only data is the most common kind): stored as NULL."""
OPTIONAL_NUM_COLS = ("adj_close", "vwap", "dividend", "split_coefficient")
CANONICAL_COLS = ("symbol", "date", *PRICE_COLS, "adj_close", "volume", "vwap", "dividend", "split_coefficient")
QUARANTINE_COLS = ("symbol", "date", "reason", "detail", "raw")
ROW_REASONS = ("missing_symbol", "unparseable_date", "missing_ohlc", "unparseable_number", "non_positive_price",
               "ohlc_inconsistent", "negative_volume", "duplicate_conflict")
"""Every `quarantine.reason` the row checks write."""
FLAG_COLS = ("symbol", "date", "check", "severity", "detail", "evidence")


@dataclass(frozen=True)
class RowCheckResult:
    """Rows that passed (typed, canonical columns) and rows rejected with a reason."""

    accepted: pd.DataFrame
    rejected: pd.DataFrame


def empty_rejected() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in QUARANTINE_COLS})


def empty_flags() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in FLAG_COLS})


def _raw_repr(frame: pd.DataFrame) -> pd.Series:
    if "raw" in frame.columns:
        return frame["raw"].map(str)
    cols = [c for c in frame.columns if c != "raw"]
    return pd.Series(
        [json.dumps({str(c): (None if _isna(v) else str(v)) for c, v in zip(cols, row, strict=True)})
         for row in frame[cols].itertuples(index=False, name=None)],
        index=frame.index,
        dtype=object,
    )


def _isna(v) -> bool:
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):  # lists, arrays: a value, not a missing marker
        return False


def _parse_dates(col: pd.Series) -> pd.Series:
    """ISO dates fast; anything else parsed element by element; unparseable -> NaT."""
    if pd.api.types.is_datetime64_any_dtype(col.dtype):
        parsed = col
    else:
        text = col.astype(object) if _plain(col) and pd.api.types.infer_dtype(col, skipna=True) in (
            "string", "empty") else col.map(lambda v: v if isinstance(v, str) or _isna(v) else str(v)).astype(object)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                parsed = pd.to_datetime(text, errors="coerce", format="ISO8601")
            except (ValueError, TypeError, OverflowError):  # e.g. offsets mixed with naive times
                parsed = pd.Series(pd.NaT, index=col.index)
            if not pd.api.types.is_datetime64_any_dtype(parsed.dtype):
                parsed = pd.Series(pd.NaT, index=col.index)
            retry = parsed.isna() & text.notna()
            if retry.any():
                parsed = parsed.dt.tz_localize(None) if getattr(parsed.dt, "tz", None) is not None else parsed.copy()
                parsed = parsed.astype("datetime64[ns]")
                parsed[retry] = text[retry].map(_one_date).astype("datetime64[ns]")
    if getattr(parsed.dt, "tz", None) is not None:
        parsed = parsed.dt.tz_localize(None)  # the exchange's wall-clock date
    # Dates DuckDB cannot store as DATE (year 0, beyond 9999) or before any exchange are not prices.
    return parsed.where((parsed >= pd.Timestamp("1800-01-01")) & (parsed <= pd.Timestamp("2262-01-01")))


def _one_date(v) -> pd.Timestamp:
    """One date in any format dateutil reads, its wall-clock date kept; NaT when it is not a complete date
    (a string missing the year, month or day would take it from today: not reproducible)."""
    text = str(v).strip()
    try:
        a = dateparser.parse(text, default=dt.datetime(2000, 1, 1))
        b = dateparser.parse(text, default=dt.datetime(2001, 2, 2))
        if a.replace(tzinfo=None).date() != b.replace(tzinfo=None).date() or not 1800 <= a.year <= 2261:
            return pd.NaT
        return pd.Timestamp(a.replace(tzinfo=None)).as_unit("ns")
    except (ValueError, TypeError, OverflowError):
        return pd.NaT


def _plain(col: pd.Series) -> bool:
    """Strings and numbers only (NULLs aside): vectorised parsing sees them as they are."""
    return pd.api.types.infer_dtype(col, skipna=True) in (
        "string", "empty", "floating", "integer", "mixed-integer-float", "decimal")


def _numbers(raw_col: pd.Series) -> tuple[pd.Series, pd.Series]:
    """(values as float, missing mask): blanks and NA markers are missing; other text that does not parse is NaN
    but not missing (an unparseable number)."""
    if pd.api.types.is_bool_dtype(raw_col.dtype):
        raw_col = raw_col.astype(object)
    if pd.api.types.is_numeric_dtype(raw_col.dtype):
        num = raw_col.astype(float)
        missing = num.isna()
        return num.where(np.isfinite(num)), missing
    if _plain(raw_col):
        text, missing = raw_col, raw_col.isna()
    else:  # bytes, lists, booleans...: their text, which does not parse as a number
        text = raw_col.map(lambda v: v if isinstance(v, (str, int, float)) and not isinstance(v, bool) or _isna(v)
                           else repr(v))
        missing = raw_col.map(_isna).astype(bool)
    num = pd.to_numeric(text, errors="coerce").astype(float)
    unparsed = num.isna() & ~missing
    if unparsed.any():
        blank = text[unparsed].map(str).str.strip().isin(["", "nan", "NaN", "None", "null", "NA"])
        missing = missing | blank.reindex(raw_col.index, fill_value=False)
    # inf is not a price or a volume: an unparseable number
    num = num.where(np.isfinite(num))
    return num, missing


def compute_row_checks(raw: pd.DataFrame) -> RowCheckResult:
    """Parse and validate input rows; each rejected row carries the first reason it failed.

    Checks in order: missing symbol, unparseable date, missing close (`missing_ohlc`), unparseable number,
    non-positive price, OHLC inconsistency among the fields present (high below open/close, low above them,
    high < low), negative volume, then duplicate dates of one symbol with conflicting values (all copies
    rejected; exact copies collapse). A blank or absent open, high, low or volume is not an error: the row is
    accepted with NULL there. Accepted rows have the canonical columns, upper-case symbols and `date` as
    datetime64 at midnight; rejected rows keep their raw values, and their `date` is ISO when it parses.
    """
    frame = raw.reset_index(drop=True)
    frame.columns = [str(c) for c in frame.columns]
    if "symbol" not in frame.columns or "date" not in frame.columns:
        raise ValueError("input has no symbol or date column")
    n = len(frame)
    reason = np.full(n, None, dtype=object)
    detail = np.full(n, None, dtype=object)
    pending = np.ones(n, dtype=bool)

    def reject(mask, why: str, what: Callable[[np.ndarray], pd.Series] | str) -> None:
        # `what` builds the detail for the newly rejected rows only: formatting every row is slow.
        new = pending & (mask.fillna(False).to_numpy(dtype=bool) if isinstance(mask, pd.Series)
                         else np.asarray(mask, dtype=bool))
        if not new.any():
            return
        pending[new] = False
        reason[new] = why
        detail[new] = np.asarray(what(new), dtype=object) if callable(what) else what

    # Normalise each distinct symbol once, not every row.
    sym_in = frame["symbol"]
    if pd.api.types.infer_dtype(sym_in, skipna=True) not in ("string", "empty"):
        sym_in = sym_in.map(lambda v: v if isinstance(v, str) or _isna(v) else str(v))
    codes, uniques = pd.factorize(sym_in, use_na_sentinel=True)
    clean = pd.Series(uniques, dtype=object).astype("string").str.strip().str.upper()
    # A trailing None makes code -1 (a missing symbol) map to None.
    lookup = np.append(clean.to_numpy(dtype=object, na_value=None), None)
    symbol = pd.Series(lookup[codes], index=frame.index, dtype=object)
    reject(symbol.isna() | (symbol == ""), "missing_symbol", "symbol is empty")
    dates = _parse_dates(frame["date"])
    reject(dates.isna(), "unparseable_date", lambda m: "date " + frame.loc[m, "date"].map(str) + " is not a date")

    values: dict[str, pd.Series] = {}
    for col in (*PRICE_COLS, "volume", *OPTIONAL_NUM_COLS):
        if col not in frame.columns:
            values[col] = pd.Series(np.nan, index=frame.index)
            if col == "close":
                reject(pd.Series(True, index=frame.index), "missing_ohlc", "no close column")
            continue
        num, missing = _numbers(frame[col])
        if col == "close":
            reject(missing, "missing_ohlc", "close is missing")
        bad = num.isna() & ~missing
        reject(bad, "unparseable_number", lambda m, col=col: f"{col}=" + frame.loc[m, col].map(str) + " is not a number")
        values[col] = num.astype(float)

    for col in PRICE_COLS:
        reject(values[col] <= 0, "non_positive_price", lambda m, col=col: f"{col}=" + values[col][m].astype(str) + " <= 0")
    o, h, lo, c = (values[k] for k in PRICE_COLS)
    # Only the fields present are compared: a missing open does not make a high below the close acceptable.
    inconsistent = (h < np.fmax(o, c)) | (lo > np.fmin(o, c)) | (h < lo)
    reject(
        inconsistent,
        "ohlc_inconsistent",
        lambda m: "open=" + o[m].astype(str) + " high=" + h[m].astype(str) + " low=" + lo[m].astype(str)
        + " close=" + c[m].astype(str),
    )
    reject(values["volume"] < 0, "negative_volume", lambda m: "volume=" + values["volume"][m].astype(str) + " < 0")

    # Dates stay datetime64 (midnight): DuckDB reads them without a per-row conversion.
    typed = pd.DataFrame({"symbol": symbol, "date": dates.dt.normalize().astype("datetime64[ns]")})
    for col in (*PRICE_COLS, "volume", *OPTIONAL_NUM_COLS):
        typed[col] = values[col]
    typed["adj_close"] = typed["adj_close"].where(typed["adj_close"] > 0).fillna(typed["close"])

    # Duplicate (symbol, date): identical copies collapse to one; conflicting copies are all rejected.
    ok = pending.copy()
    value_cols = [*PRICE_COLS, "volume", *OPTIONAL_NUM_COLS]
    keyed = typed[ok]
    dup_any = keyed.duplicated(["symbol", "date"], keep=False)
    if dup_any.any():
        distinct = keyed[dup_any].drop_duplicates(["symbol", "date", *value_cols])
        n_versions = distinct.groupby(["symbol", "date"], sort=False).size().rename("_versions").reset_index()
        versions = keyed[dup_any][["symbol", "date"]].merge(n_versions, on=["symbol", "date"], how="left")
        is_conflict = np.zeros(n, dtype=bool)
        is_conflict[keyed.index[dup_any.to_numpy()]] = versions["_versions"].to_numpy() > 1
        reject(is_conflict, "duplicate_conflict",
               lambda m: "date " + typed.loc[m, "date"].dt.strftime("%Y-%m-%d") + " appears with different values")
    ok = pending
    accepted = typed[ok] if not ok.all() else typed
    if dup_any.any():
        accepted = accepted.drop_duplicates(["symbol", "date"])
    accepted = accepted[list(CANONICAL_COLS)].reset_index(drop=True)
    bad = ~ok
    if bad.any():
        iso = dates[bad].dt.strftime("%Y-%m-%d")
        rejected = pd.DataFrame(
            {
                "symbol": symbol[bad].astype(object),
                "date": iso.where(dates[bad].notna(), frame.loc[bad, "date"].map(str)).astype(object),
                "reason": reason[bad],
                "detail": pd.Series(detail[bad], dtype=object).map(str).to_numpy(),
                "raw": _raw_repr(frame[bad]),
            }
        ).reset_index(drop=True)
    else:
        rejected = empty_rejected()
    return RowCheckResult(accepted=accepted, rejected=rejected)


# ---------------------------------------------------------------------------------------------------------
# Series checks: findings over one symbol's stored series
# ---------------------------------------------------------------------------------------------------------

SERIES_COLS = ("symbol", "date", "open", "high", "low", "close", "adj_close", "volume", "split_coefficient")
SERIES_CHECKS = ("missing_session", "non_session_date", "stale_price", "split", "spike_reverted")
"""The `check` values the series checks write to data_quality."""
SIGMA_MIN_PERIODS = 20
"""Returns a trailing robust sigma needs; with fewer, only `spike_min_abs_return` applies."""
VOLUME_BEFORE = 20
"""Bars before a day whose median volume is its baseline (volume ratio of a suspect, split volume reaction)."""
VOLUME_AFTER = 10
"""Bars from a split day on whose median volume shows the new share count."""
CONTEXT_AFTER = VOLUME_AFTER - 1
"""Bars after a flag's date its value can depend on."""
MAX_GAP_DAYS = 10
"""Calendar days beyond which two bars of a symbol do not make a same-session return for the market and peers."""


def peer_span_days(cfg: GuardrailSettings) -> int:
    """Calendar days before a suspect that its peers' correlation window reaches (`peer_window` sessions and
    the holidays among them): a fixed span, so the peers do not depend on what else was loaded."""
    return cfg.peer_window * 3 // 2 + 14


def context_before(cfg: GuardrailSettings) -> int:
    """Bars before a flag's date its value can depend on (trailing sigma window, volume baseline)."""
    return max(cfg.spike_sigma_window, VOLUME_BEFORE) + 1


@dataclass(frozen=True)
class SeriesCheckResult:
    """Findings over the given series: flags for `data_quality` (every check but `spike_reverted`) and the
    suspected bad ticks with the symbol's own evidence, for `compute_suspect_verdicts`."""

    flags: pd.DataFrame
    suspects: pd.DataFrame


SUSPECT_COLS = ("symbol", "date", "move", "next_move", "robust_sigma", "prev_close", "close", "next_close",
                "volume_ratio", "range_share")
"""A suspect's own evidence: log moves of the close into and out of its day, the trailing robust sigma, the
closes, the larger volume of its day and the next over the baseline, its high-low range over the move."""


def empty_suspects() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object if c == "symbol" else "datetime64[ns]" if c == "date"
                                      else float) for c in SUSPECT_COLS})


def _fmt_dates(values: np.ndarray) -> pd.Series:
    return pd.Series(pd.DatetimeIndex(values).strftime("%Y-%m-%d"), dtype=object)


def _flag_frame(symbol: np.ndarray, dates: np.ndarray, check: str, severity, detail) -> pd.DataFrame:
    n = len(symbol)
    sev = np.broadcast_to(np.asarray(severity, dtype=object), (n,))
    return pd.DataFrame(
        {
            "symbol": pd.Series(symbol, dtype=object),
            "date": pd.Series(pd.DatetimeIndex(dates).date, dtype=object),
            "check": pd.Series([check] * n, dtype=object),
            "severity": pd.Series(sev, dtype=object),
            "detail": pd.Series(detail, dtype=object).reset_index(drop=True) if n else pd.Series(dtype=object),
            "evidence": pd.Series([None] * n, dtype=object),
        }
    )


def _num(s: pd.Series) -> pd.Series:
    return s.map(lambda v: f"{v:.6g}")


def _window(values: np.ndarray, group: np.ndarray, idx: np.ndarray, start: int, stop: int) -> np.ndarray:
    """values[i + start .. i + stop - 1] for each i in idx, NaN where that row is another symbol's or absent."""
    offsets = np.arange(start, stop)
    pos = idx[:, None] + offsets[None, :]
    inside = (pos >= 0) & (pos < len(values))
    pos = np.clip(pos, 0, max(len(values) - 1, 0))
    inside &= group[pos] == group[idx][:, None]
    return np.where(inside, values[pos], np.nan)


def _nanmedian(a: np.ndarray, min_count: int) -> np.ndarray:
    """Row medians ignoring NaN; NaN where fewer than `min_count` values are present."""
    if a.shape[0] == 0:
        return np.empty(0)
    count = np.sum(~np.isnan(a), axis=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        med = np.nanmedian(a, axis=1)
    return np.where(count >= max(min_count, 1), med, np.nan)


def _round(x: np.ndarray | float, digits: int = 6):
    """Significant digits kept in evidence: values read back from `data_quality` give the same verdict."""
    def one(v):
        v = float(v)
        return v if not np.isfinite(v) else float(f"{v:.{digits}g}")
    if np.isscalar(x):
        return one(x)
    return np.array([one(v) for v in np.asarray(x, dtype=float)], dtype=float)


def compute_series_checks(
    bars: pd.DataFrame,
    calendar_sessions: pd.DatetimeIndex,
    cfg: GuardrailSettings,
) -> SeriesCheckResult:
    """Findings over whole stored series (one or many symbols), for every date they hold.

    - `missing_session`: a session of `calendar_sessions` with no bar between two bars of the symbol; one flag
      per missing date (a date whose row was quarantined counts as missing);
    - `non_session_date`: a bar dated on a day the exchange was closed;
    - `stale_price`: a run of at least `cfg.stale_run_sessions` identical closes, flagged at its first date;
    - `split`: a `split_coefficient` other than 1 (info); a close ratio to the previous bar near a split ratio
      while the adjusted close, adjusted before that day, does not jump (the close is unadjusted); or, without
      such an adjusted series, a ratio near a split ratio that volume corroborates (the median volume moves by
      the ratio, as the share count does, within 1 - `cfg.split_volume_share` of it in log terms). One large
      return alone is never a split;
    - suspects (`spike_reverted`, returned in `suspects`): a log move of the close of at least
      `cfg.spike_min_abs_return` and beyond `cfg.spike_sigma` trailing robust sigmas that the next bar gives
      back (at least `cfg.spike_revert_fraction`, opposite sign). Kept in `bars`: `compute_suspect_verdicts`
      weighs the evidence.

    A flag at date t depends on the symbol's bars from `context_before(cfg)` bars before t to `CONTEXT_AFTER`
    bars after it (a stale run: on the whole run), never on how the series was split into batches.
    Vectorised over all symbols: no Python loop over rows or symbols.
    """
    if bars.empty:
        return SeriesCheckResult(flags=empty_flags(), suspects=empty_suspects())
    df = bars[[c for c in SERIES_COLS if c in bars.columns]].copy()
    for c in SERIES_COLS:
        if c not in df.columns:
            df[c] = np.nan
    df["date"] = pd.to_datetime(df["date"]).astype("datetime64[ns]")
    for c in SERIES_COLS[2:]:
        df[c] = pd.to_numeric(df[c], errors="coerce").astype(float)
    df["adj_close"] = df["adj_close"].fillna(df["close"])
    df = df.sort_values(["symbol", "date"], kind="stable").drop_duplicates(["symbol", "date"], keep="last")
    df = df.reset_index(drop=True)

    sym = df["symbol"].to_numpy(dtype=object)
    dates = df["date"].to_numpy(dtype="datetime64[ns]")
    close = df["close"].to_numpy(dtype=float)
    adj = df["adj_close"].to_numpy(dtype=float)
    high = df["high"].to_numpy(dtype=float)
    low = df["low"].to_numpy(dtype=float)
    volume = df["volume"].to_numpy(dtype=float)
    n = len(df)
    first = np.ones(n, dtype=bool)
    first[1:] = sym[1:] != sym[:-1]
    last = np.ones(n, dtype=bool)
    last[:-1] = first[1:]
    group = np.cumsum(first) - 1

    def prev(a: np.ndarray) -> np.ndarray:
        out = np.empty_like(a, dtype=float)
        out[0] = np.nan
        out[1:] = a[:-1]
        out[first] = np.nan
        return out

    def nxt(a: np.ndarray) -> np.ndarray:
        out = np.empty_like(a, dtype=float)
        out[-1] = np.nan
        out[:-1] = a[1:]
        out[last] = np.nan
        return out

    prev_close, prev_adj = prev(close), prev(adj)
    with np.errstate(divide="ignore", invalid="ignore"):
        ret = np.log(close / prev_close)
        adj_ret = np.log(adj / prev_adj)
    next_ret = nxt(ret)

    flags: list[pd.DataFrame] = []

    # -- stale prices: runs of identical closes ------------------------------------------------------
    same_close = close == prev_close
    run_id = np.cumsum(~same_close) - 1
    run_len = np.bincount(run_id)
    run_first = np.flatnonzero(~same_close)
    run_last = np.r_[run_first[1:] - 1, n - 1]
    stale = run_len >= cfg.stale_run_sessions
    if stale.any():
        rf, rl = run_first[stale], run_last[stale]
        flags.append(
            _flag_frame(
                sym[rf], dates[rf], "stale_price", "warning",
                "close " + _num(pd.Series(close[rf])) + " unchanged for " + pd.Series(run_len[stale]).astype(str)
                + " sessions (" + _fmt_dates(dates[rf]) + ".." + _fmt_dates(dates[rl]) + ")",
            )
        )

    # -- suspected bad ticks: large moves that revert ------------------------------------------------------
    abs_ret = np.abs(ret)
    with np.errstate(invalid="ignore"):
        candidate = (
            (abs_ret >= cfg.spike_min_abs_return)
            & (np.sign(next_ret) == -np.sign(ret))
            & (np.abs(next_ret) >= cfg.spike_revert_fraction * abs_ret)
        )
    ci = np.flatnonzero(candidate)
    trailing = np.abs(_window(ret, group, ci, -cfg.spike_sigma_window, 0))
    sigma_c = 1.4826 * _nanmedian(trailing, min(SIGMA_MIN_PERIODS, cfg.spike_sigma_window))
    keep = abs_ret[ci] > cfg.spike_sigma * np.nan_to_num(sigma_c, nan=0.0)
    si, sigma = ci[keep], sigma_c[keep]
    spike = np.zeros(n, dtype=bool)
    spike[si] = True
    baseline = _nanmedian(_window(volume, group, si, -VOLUME_BEFORE, 0), 5)
    with np.errstate(divide="ignore", invalid="ignore"):
        heavier = np.fmax(volume[si], nxt(volume)[si])
        volume_ratio = np.where(baseline > 0, heavier / baseline, np.nan)
        range_share = (high[si] - low[si]) / np.abs(close[si] - prev_close[si])
    suspects = pd.DataFrame(
        {
            "symbol": pd.Series(sym[si], dtype=object),
            "date": pd.Series(dates[si], dtype="datetime64[ns]"),
            "move": _round(ret[si]), "next_move": _round(next_ret[si]), "robust_sigma": _round(sigma),
            "prev_close": _round(prev_close[si]), "close": _round(close[si]), "next_close": _round(nxt(close)[si]),
            "volume_ratio": _round(volume_ratio), "range_share": _round(range_share),
        }
    )

    # -- calendar: missing sessions and bars on closed days ------------------------------------------
    cal = np.asarray(pd.DatetimeIndex(calendar_sessions).values, dtype="datetime64[ns]")
    if len(cal):
        pos = np.searchsorted(cal, dates)
        on_cal = (pos < len(cal)) & (cal[np.minimum(pos, len(cal) - 1)] == dates)
        in_range = (dates >= cal[0]) & (dates <= cal[-1])
        off = in_range & ~on_cal
        if off.any():
            flags.append(
                _flag_frame(sym[off], dates[off], "non_session_date", "warning",
                            "bar dated " + _fmt_dates(dates[off]) + " but the exchange was closed")
            )
        idx = np.flatnonzero(on_cal)
        if len(idx) > 1:
            p, s_ = pos[idx], sym[idx]
            same = np.zeros(len(idx), dtype=bool)
            same[1:] = s_[1:] == s_[:-1]
            gap = np.zeros(len(idx), dtype=np.int64)
            gap[1:] = p[1:] - p[:-1] - 1
            gap[~same] = 0
            has = gap > 0
            if has.any():
                g = gap[has]
                start = p[has] - g
                total = int(g.sum())
                offsets = np.arange(total) - np.repeat(np.cumsum(g) - g, g)
                miss_pos = np.repeat(start, g) + offsets
                after = np.repeat(np.flatnonzero(has) - 1, g)
                flags.append(
                    _flag_frame(
                        np.repeat(s_[has], g), cal[miss_pos], "missing_session", "warning",
                        "no bar for this session (gap of " + pd.Series(np.repeat(g, g)).astype(str)
                        + " sessions after " + _fmt_dates(cal[p[after]]) + ")",
                    )
                )

    # -- splits ----------------------------------------------------------------------------------------
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = prev_close / close
    ratios = np.asarray(cfg.split_ratios, dtype=float)
    rel = np.abs(ratio[:, None] / ratios[None, :] - 1.0)
    best = np.argmin(np.where(np.isnan(rel), np.inf, rel), axis=1)
    near = rel[np.arange(n), best] <= cfg.split_tolerance
    coef = df["split_coefficient"].to_numpy(dtype=float)
    by_coef = ~np.isnan(coef) & (np.abs(coef - 1.0) > 1e-9)
    # An adjusted series exists before the day when the previous bar's adjusted close differs from its close.
    adjusted_before = np.abs(prev_adj - prev_close) > 1e-9 * np.abs(prev_close)
    by_adj = near & adjusted_before & (np.abs(adj_ret) < cfg.split_adj_max_move) & ~by_coef
    vi = np.flatnonzero(near & ~by_adj & ~by_coef)
    reaction = np.full(n, np.nan)
    if len(vi):
        before_v = _nanmedian(_window(volume, group, vi, -VOLUME_BEFORE, 0), 5)
        after_v = _nanmedian(_window(volume, group, vi, 0, VOLUME_AFTER), 3)
        with np.errstate(divide="ignore", invalid="ignore"):
            reaction[vi] = np.log(after_v / before_v)
    with np.errstate(invalid="ignore"):
        log_ratio = np.log(ratio)
        # a split changes the share count by the ratio: volume follows it (a crash's volume surge overshoots)
        by_volume = (near & ~by_adj & ~by_coef & np.isfinite(reaction)
                     & (np.abs(reaction - log_ratio) <= (1 - cfg.split_volume_share) * np.abs(log_ratio)))
    # A "split" undone the next session is a suspect (a bad tick or a crisis), not a split.
    after_spike = np.zeros(n, dtype=bool)
    after_spike[1:] = spike[:-1] & ~first[1:]
    split_rows = (by_coef | by_adj | by_volume) & ~spike & ~after_spike
    by_coef, by_adj, by_volume = by_coef & split_rows, by_adj & split_rows, by_volume & split_rows
    if split_rows.any():
        ratio_txt = _num(pd.Series(ratio))
        kind = pd.Series(np.where(ratios[best] >= 1, "forward", "reverse"))
        detail = pd.Series("", index=range(n), dtype=object)
        detail[by_coef] = "split_coefficient " + _num(pd.Series(coef))[by_coef] + " reported; close ratio " + ratio_txt[by_coef]
        detail[by_adj] = (
            "close ratio " + ratio_txt[by_adj] + " (" + kind[by_adj] + " split) while adjusted close moved "
            + _num(pd.Series(np.round(100 * adj_ret, 2)))[by_adj] + "%: close is unadjusted"
        )
        detail[by_volume] = (
            "close ratio " + ratio_txt[by_volume] + " matches a " + kind[by_volume] + " split and volume moved x"
            + _num(pd.Series(np.round(np.exp(reaction), 2)))[by_volume]
            + " with it: the series looks unadjusted, adjust before use"
        )
        severity = np.where(by_coef, "info", "warning")
        flags.append(_flag_frame(sym[split_rows], dates[split_rows], "split", severity[split_rows], detail[split_rows]))

    out = pd.concat(flags, ignore_index=True) if flags else empty_flags()
    out = out.sort_values(["symbol", "date", "check"], kind="stable").reset_index(drop=True)
    return SeriesCheckResult(flags=out, suspects=suspects)


# ---------------------------------------------------------------------------------------------------------
# Suspect verdicts: what the market, the peers, the bar itself and a second source say
# ---------------------------------------------------------------------------------------------------------

def _panel_returns(panel: pd.DataFrame) -> pd.DataFrame:
    """date x symbol log returns of the adjusted close between consecutive bars at most MAX_GAP_DAYS apart."""
    p = panel[["symbol", "date", "adj_close"]].copy()
    p["date"] = pd.to_datetime(p["date"]).astype("datetime64[ns]")
    p = p.sort_values(["symbol", "date"], kind="stable").drop_duplicates(["symbol", "date"], keep="last")
    same = p["symbol"].eq(p["symbol"].shift())
    gap = (p["date"] - p["date"].shift()).dt.days
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.log(p["adj_close"].to_numpy(float) / p["adj_close"].shift().to_numpy(float))
    r[~(same & (gap <= MAX_GAP_DAYS)).to_numpy()] = np.nan
    p["r"] = r
    return p.pivot(index="date", columns="symbol", values="r").sort_index()


def _pct(log_move: float) -> str:
    return f"{100 * np.expm1(log_move):+.1f}%"


def compute_suspect_verdicts(
    suspects: pd.DataFrame,
    panel: pd.DataFrame,
    cfg: GuardrailSettings,
    reference: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One `spike_reverted` flag per suspect: kept, with the evidence for and against a bad tick.

    `panel` holds bars (symbol, date, adj_close) of every symbol from `peer_span_days(cfg)` + MAX_GAP_DAYS + 1
    calendar days before each suspect's date to that date (more is harmless: the windows are fixed spans).
    Corroborating evidence, any of:
    - market: the median same-session log return of the other symbols (at least `cfg.market_min_symbols`)
      has the suspect's sign and at least `cfg.market_move_share` of its size;
    - peers: the `cfg.peer_count` symbols whose returns net of the market (the cross-sectional median)
      correlated most (at least `cfg.peer_min_corr`) with the suspect's over the `cfg.peer_window` sessions
      before it moved the same way, by at least `cfg.peer_move_share` of the move (median of their returns);
    - volume: its day or the next traded at least `cfg.volume_ratio` x the volume of the 20 bars before;
    - range: the day's high-low range spans at least `cfg.range_share` of the close-to-close move;
    - second source: `reference` (symbol, date, close) confirms the close within `cfg.reference_tolerance`.
    A second source that gives another close makes the verdict `contradicted` (severity error); otherwise
    any corroboration makes it `corroborated` (info), none `uncorroborated` (warning: a likely bad tick that
    models may down-weight). Columns: symbol, date, check, severity, detail, evidence (JSON text).
    """
    if suspects.empty:
        return empty_flags()
    s = suspects.reset_index(drop=True).copy()
    s["date"] = pd.to_datetime(s["date"]).astype("datetime64[ns]")
    rets = _panel_returns(panel) if panel is not None and not panel.empty else pd.DataFrame()
    # Peers are found on returns net of the market (the cross-sectional median): every stock co-moves with
    # the market, a peer co-moves beyond it.
    counts = rets.notna().sum(axis=1)
    resid = rets.sub(rets.median(axis=1), axis=0)
    resid[(counts < cfg.market_min_symbols + 1).to_numpy()] = np.nan
    span = peer_span_days(cfg)
    ref = None
    if reference is not None and not reference.empty:
        ref = reference[["symbol", "date", "close"]].copy()
        ref["date"] = pd.to_datetime(ref["date"]).astype("datetime64[ns]")
        ref = ref.drop_duplicates(["symbol", "date"], keep="last").set_index(["symbol", "date"])["close"]

    rows = []
    for rec in s.itertuples(index=False):  # suspects are rare: a loop over them, not over rows
        move = float(rec.move)
        ev: dict = {"move": move, "next_move": float(rec.next_move), "robust_sigma": _none(rec.robust_sigma),
                    "prev_close": _none(rec.prev_close), "close": _none(rec.close),
                    "next_close": _none(rec.next_close), "volume_ratio": _none(rec.volume_ratio),
                    "range_share": _none(rec.range_share)}
        market = peers_move = None
        n_market = 0
        peer_names: list[str] = []
        if not rets.empty and rec.date in rets.index:
            day = rets.loc[rec.date].drop(labels=[rec.symbol], errors="ignore").dropna()
            n_market = int(len(day))
            if n_market >= cfg.market_min_symbols:
                market = _round(float(np.median(day.to_numpy())))
            if rec.symbol in rets.columns and n_market:
                window = (resid.index < rec.date) & (resid.index >= rec.date - pd.Timedelta(days=span))
                before = resid.loc[window].tail(cfg.peer_window)
                own = before[rec.symbol]
                others = before.drop(columns=[rec.symbol])[day.index]
                valid = others.notna() & own.notna().to_numpy()[:, None]
                counts = valid.sum()
                corr = others.corrwith(own).where(counts >= min(SIGMA_MIN_PERIODS, cfg.peer_window))
                corr = corr[corr >= cfg.peer_min_corr].dropna()
                if len(corr):
                    ranked = sorted(corr.items(), key=lambda kv: (-_round(kv[1], 9), kv[0]))[: cfg.peer_count]
                    peer_names = [k for k, _ in ranked]
                    peers_move = _round(float(np.median(day[peer_names].to_numpy())))
        ev.update({"market_move": market, "market_symbols": n_market, "peers": peer_names, "peer_move": peers_move})
        ref_close = None
        if ref is not None:
            ref_close = ref.get((rec.symbol, rec.date))
            ref_close = None if ref_close is None or _isna(ref_close) else _round(float(ref_close))
        ev["second_source_close"] = ref_close

        sign = np.sign(move)
        by: list[str] = []
        if market is not None and np.sign(market) == sign and abs(market) >= cfg.market_move_share * abs(move):
            by.append("market")
        if peers_move is not None and np.sign(peers_move) == sign and abs(peers_move) >= cfg.peer_move_share * abs(move):
            by.append("peers")
        if ev["volume_ratio"] is not None and ev["volume_ratio"] >= cfg.volume_ratio:
            by.append("volume")
        if ev["range_share"] is not None and ev["range_share"] >= cfg.range_share:
            by.append("range")
        contradicted = False
        if ref_close is not None and ev["close"] is not None:
            if abs(ev["close"] / ref_close - 1) <= cfg.reference_tolerance:
                by.append("second_source")
            else:
                contradicted = True
        verdict = "contradicted" if contradicted else "corroborated" if by else "uncorroborated"
        ev["corroborated_by"] = by
        ev["verdict"] = verdict
        rows.append((rec.symbol, rec.date, verdict, _describe_suspect(ev), json.dumps(ev, sort_keys=True)))

    out = pd.DataFrame(rows, columns=["symbol", "date", "verdict", "detail", "evidence"])
    severity = out["verdict"].map({"corroborated": "info", "uncorroborated": "warning", "contradicted": "error"})
    return pd.DataFrame(
        {
            "symbol": out["symbol"].astype(object),
            "date": pd.Series(pd.DatetimeIndex(out["date"]).date, dtype=object),
            "check": "spike_reverted",
            "severity": severity.astype(object),
            "detail": out["detail"].astype(object),
            "evidence": out["evidence"].astype(object),
        }
    )


def _none(v):
    return None if v is None or _isna(v) else float(v)


def _describe_suspect(ev: dict) -> str:
    """One line: the move, then the verdict and the evidence behind it."""
    sig = f", {abs(ev['move']) / ev['robust_sigma']:.0f} robust sigma" if ev.get("robust_sigma") else ""
    head = (f"close {ev['close']:.6g} after {ev['prev_close']:.6g} ({_pct(ev['move'])}{sig}), "
            f"next session {ev['next_close']:.6g} ({_pct(ev['next_move'])}); bar kept")
    parts = []
    if ev["market_move"] is not None:
        parts.append(f"market {_pct(ev['market_move'])} ({ev['market_symbols']} symbols)")
    if ev["peer_move"] is not None:
        parts.append(f"peers {_pct(ev['peer_move'])} ({', '.join(ev['peers'])})")
    if ev["volume_ratio"] is not None:
        parts.append(f"volume x{ev['volume_ratio']:.2g}")
    if ev["range_share"] is not None:
        parts.append(f"range {100 * ev['range_share']:.0f}% of the move")
    if ev["second_source_close"] is not None:
        parts.append(f"second source {ev['second_source_close']:.6g}")
    seen = "; ".join(parts) or "no market, peer, volume or range data"
    if ev["verdict"] == "corroborated":
        return f"{head}: corroborated by {', '.join(ev['corroborated_by'])} ({seen})"
    if ev["verdict"] == "contradicted":
        return f"{head}, but the second source contradicts it ({seen}): likely a bad tick"
    return f"{head}, uncorroborated ({seen}): likely a bad tick, down-weight or winsorise it"


def compute_suspect_counts(verdicts: pd.DataFrame) -> tuple[dict[str, int], dict[str, int]]:
    """(suspects by verdict, corroborated suspects by each piece of evidence) for a run's report."""
    by_verdict: dict[str, int] = {}
    by_evidence: dict[str, int] = {}
    for text in verdicts.get("evidence", pd.Series(dtype=object)).dropna():
        ev = json.loads(text)
        by_verdict[ev["verdict"]] = by_verdict.get(ev["verdict"], 0) + 1
        for what in ev["corroborated_by"]:
            by_evidence[what] = by_evidence.get(what, 0) + 1
    return dict(sorted(by_verdict.items())), dict(sorted(by_evidence.items()))


__all__ = [
    "CANONICAL_COLS",
    "FLAG_COLS",
    "ROW_REASONS",
    "SERIES_CHECKS",
    "RowCheckResult",
    "SeriesCheckResult",
    "compute_row_checks",
    "compute_series_checks",
    "compute_suspect_counts",
    "compute_suspect_verdicts",
    "context_before",
    "empty_flags",
    "peer_span_days",
    "empty_rejected",
]
