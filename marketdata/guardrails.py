"""Pre-processing guardrails: row checks (reject to quarantine) and series checks (flag in data_quality).

Everything here is pure: frames in, frames out. The ingest use case writes the results.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pandas as pd

from marketdata.config import GuardrailSettings

PRICE_COLS = ("open", "high", "low", "close")
OPTIONAL_NUM_COLS = ("adj_close", "vwap", "dividend", "split_coefficient")
CANONICAL_COLS = ("symbol", "date", *PRICE_COLS, "adj_close", "volume", "vwap", "dividend", "split_coefficient")
QUARANTINE_COLS = ("symbol", "date", "reason", "detail", "raw")


@dataclass(frozen=True)
class RowCheckResult:
    """Rows that passed (typed, canonical columns) and rows rejected with a reason."""

    accepted: pd.DataFrame
    rejected: pd.DataFrame


@dataclass(frozen=True)
class SeriesCheckResult:
    """Series-level findings: flags for `data_quality`, and rows to move to quarantine (bad ticks)."""

    flags: pd.DataFrame
    rejected: pd.DataFrame


def empty_rejected() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in QUARANTINE_COLS})


def empty_flags() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "symbol": pd.Series(dtype=object),
            "date": pd.Series(dtype=object),
            "check": pd.Series(dtype=object),
            "severity": pd.Series(dtype=object),
            "detail": pd.Series(dtype=object),
        }
    )


def _raw_repr(frame: pd.DataFrame) -> pd.Series:
    if "raw" in frame.columns:
        return frame["raw"].astype(str)
    cols = [c for c in frame.columns if c != "raw"]
    return pd.Series(
        [json.dumps({c: (None if pd.isna(v) else str(v)) for c, v in zip(cols, row, strict=True)})
         for row in frame[cols].itertuples(index=False, name=None)],
        index=frame.index,
        dtype=object,
    )


def compute_row_checks(raw: pd.DataFrame) -> RowCheckResult:
    """Parse and validate input rows; each rejected row carries the first reason it failed.

    Checks in order: unparseable date, missing OHLC, unparseable number, non-positive price, OHLC
    inconsistency (high below open/close or low above them, or high < low), negative volume, then
    duplicate dates of one symbol with conflicting values (all copies rejected; exact copies collapse).
    """
    frame = raw.reset_index(drop=True).copy()
    if "symbol" not in frame.columns or "date" not in frame.columns:
        raise ValueError("input has no symbol or date column")
    reason = pd.Series(pd.NA, index=frame.index, dtype=object)
    detail = pd.Series(pd.NA, index=frame.index, dtype=object)

    def reject(mask: pd.Series, why: str, what: pd.Series | str) -> None:
        new = mask & reason.isna()
        reason[new] = why
        detail[new] = what[new] if isinstance(what, pd.Series) else what

    symbol = frame["symbol"].astype("string").str.strip().str.upper()
    reject(symbol.isna() | (symbol == ""), "missing_symbol", "symbol is empty")
    dates = pd.to_datetime(frame["date"], errors="coerce", format="mixed")
    reject(dates.isna(), "unparseable_date", "date " + frame["date"].astype(str) + " is not a date")

    values: dict[str, pd.Series] = {}
    for col in (*PRICE_COLS, "volume", *OPTIONAL_NUM_COLS):
        if col not in frame.columns:
            values[col] = pd.Series(np.nan, index=frame.index)
            continue
        text = frame[col]
        num = pd.to_numeric(text, errors="coerce")
        missing = text.isna() | (text.astype(str).str.strip().isin(["", "nan", "NaN", "None", "null"]))
        if col in PRICE_COLS:
            reject(missing, "missing_ohlc", f"{col} is missing")
        bad = num.isna() & ~missing
        reject(bad, "unparseable_number", f"{col}=" + text.astype(str) + " is not a number")
        values[col] = num.astype(float)
    if "volume" not in frame.columns:
        reject(pd.Series(True, index=frame.index), "missing_volume", "no volume column")
    else:
        reject(values["volume"].isna(), "missing_volume", "volume is missing")

    for col in PRICE_COLS:
        reject(values[col] <= 0, "non_positive_price", f"{col}=" + values[col].astype(str) + " <= 0")
    o, h, lo, c = (values[k] for k in PRICE_COLS)
    inconsistent = (h < np.maximum(o, c)) | (lo > np.minimum(o, c)) | (h < lo)
    reject(
        inconsistent,
        "ohlc_inconsistent",
        "open=" + o.astype(str) + " high=" + h.astype(str) + " low=" + lo.astype(str) + " close=" + c.astype(str),
    )
    reject(values["volume"] < 0, "negative_volume", "volume=" + values["volume"].astype(str) + " < 0")

    typed = pd.DataFrame({"symbol": symbol.astype(object), "date": dates.dt.date})
    for col in (*PRICE_COLS, "volume", *OPTIONAL_NUM_COLS):
        typed[col] = values[col]
    typed["adj_close"] = typed["adj_close"].fillna(typed["close"])

    # Duplicate (symbol, date): identical copies collapse to one; conflicting copies are all rejected.
    ok = reason.isna()
    value_cols = [*PRICE_COLS, "volume", *OPTIONAL_NUM_COLS]
    keyed = typed[ok]
    dup_any = keyed.duplicated(["symbol", "date"], keep=False)
    if dup_any.any():
        distinct = keyed[dup_any].drop_duplicates(["symbol", "date", *value_cols])
        conflict_keys = distinct[distinct.duplicated(["symbol", "date"], keep=False)][["symbol", "date"]]
        conflict_keys = set(map(tuple, conflict_keys.to_numpy()))
        is_conflict = pd.Series(
            [(s, d) in conflict_keys for s, d in zip(typed["symbol"], typed["date"], strict=True)],
            index=typed.index,
        )
        reject(is_conflict & ok, "duplicate_conflict", "date " + typed["date"].astype(str) + " appears with different values")
    ok = reason.isna()
    accepted = typed[ok].drop_duplicates(["symbol", "date"]).reset_index(drop=True)
    accepted = accepted[list(CANONICAL_COLS)]
    rejected = pd.DataFrame(
        {
            "symbol": symbol[~ok].astype(object),
            "date": frame.loc[~ok, "date"].astype(str),
            "reason": reason[~ok],
            "detail": detail[~ok].astype(str),
            "raw": _raw_repr(frame[~ok]),
        }
    ).reset_index(drop=True)
    return RowCheckResult(accepted=accepted, rejected=rejected)


def compute_series_checks(
    bars: pd.DataFrame,
    history: pd.DataFrame,
    calendar_sessions: pd.DatetimeIndex,
    cfg: GuardrailSettings,
) -> SeriesCheckResult:
    """Series checks over accepted bars, with `history` (stored bars just before them) as context.

    Flags: sessions missing against the exchange calendar, stale prices (runs of identical closes),
    splits detected in unadjusted data. Return spikes that revert the next session are moved to
    quarantine as likely bad ticks. Filled in by the guardrails work; see tests/unit/marketdata.
    """
    return SeriesCheckResult(flags=empty_flags(), rejected=empty_rejected())
