"""Pre-processing guardrails: row checks (reject to quarantine) and series checks (flag in data_quality).

Everything here is pure: frames in, frames out. The ingest use case writes the results.
"""

from __future__ import annotations

import json
from collections.abc import Callable
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


def _parse_dates(col: pd.Series) -> pd.Series:
    """ISO dates fast; anything else parsed element by element; unparseable -> NaT."""
    if pd.api.types.is_datetime64_any_dtype(col.dtype):
        parsed = col
    else:
        parsed = pd.to_datetime(col, errors="coerce", format="ISO8601")
        retry = parsed.isna() & col.notna()
        if retry.any():
            parsed = parsed.copy()
            parsed[retry] = pd.to_datetime(col[retry].astype(str), errors="coerce", format="mixed")
    if getattr(parsed.dt, "tz", None) is not None:
        parsed = parsed.dt.tz_localize(None)
    return parsed


def compute_row_checks(raw: pd.DataFrame) -> RowCheckResult:
    """Parse and validate input rows; each rejected row carries the first reason it failed.

    Checks in order: unparseable date, missing OHLC, unparseable number, non-positive price, OHLC
    inconsistency (high below open/close or low above them, or high < low), negative volume, then
    duplicate dates of one symbol with conflicting values (all copies rejected; exact copies collapse).
    Accepted rows have the canonical columns, upper-case symbols and `date` as datetime64 at midnight.
    """
    frame = raw.reset_index(drop=True)
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
    codes, uniques = pd.factorize(frame["symbol"], use_na_sentinel=True)
    clean = pd.Series(uniques, dtype=object).astype("string").str.strip().str.upper()
    # A trailing None makes code -1 (a missing symbol) map to None.
    lookup = np.append(clean.to_numpy(dtype=object, na_value=None), None)
    symbol = pd.Series(lookup[codes], index=frame.index, dtype=object)
    reject(symbol.isna() | (symbol == ""), "missing_symbol", "symbol is empty")
    dates = _parse_dates(frame["date"])
    reject(dates.isna(), "unparseable_date", lambda m: "date " + frame.loc[m, "date"].astype(str) + " is not a date")

    values: dict[str, pd.Series] = {}
    for col in (*PRICE_COLS, "volume", *OPTIONAL_NUM_COLS):
        if col not in frame.columns:
            values[col] = pd.Series(np.nan, index=frame.index)
            continue
        raw_col = frame[col]
        if pd.api.types.is_numeric_dtype(raw_col.dtype) and not pd.api.types.is_bool_dtype(raw_col.dtype):
            num = raw_col.astype(float)
            missing = num.isna()
        else:
            num = pd.to_numeric(raw_col, errors="coerce")
            missing = raw_col.isna()
            unparsed = num.isna() & ~missing
            if unparsed.any():
                blank = raw_col[unparsed].astype(str).str.strip().isin(["", "nan", "NaN", "None", "null", "NA"])
                missing = missing | blank.reindex(frame.index, fill_value=False)
        if col in PRICE_COLS:
            reject(missing, "missing_ohlc", f"{col} is missing")
        bad = num.isna() & ~missing
        reject(bad, "unparseable_number", lambda m, col=col: f"{col}=" + frame.loc[m, col].astype(str) + " is not a number")
        values[col] = num.astype(float)
    if "volume" not in frame.columns:
        reject(pd.Series(True, index=frame.index), "missing_volume", "no volume column")
    else:
        reject(values["volume"].isna(), "missing_volume", "volume is missing")

    for col in PRICE_COLS:
        reject(values[col] <= 0, "non_positive_price", lambda m, col=col: f"{col}=" + values[col][m].astype(str) + " <= 0")
    o, h, lo, c = (values[k] for k in PRICE_COLS)
    inconsistent = (h < np.maximum(o, c)) | (lo > np.minimum(o, c)) | (h < lo)
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
    typed["adj_close"] = typed["adj_close"].fillna(typed["close"])

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
               lambda m: "date " + typed.loc[m, "date"].astype(str) + " appears with different values")
    ok = pending
    accepted = typed[ok] if not ok.all() else typed
    if dup_any.any():
        accepted = accepted.drop_duplicates(["symbol", "date"])
    accepted = accepted[list(CANONICAL_COLS)].reset_index(drop=True)
    bad = ~ok
    rejected = pd.DataFrame(
        {
            "symbol": symbol[bad].astype(object),
            "date": frame.loc[bad, "date"].astype(str),
            "reason": reason[bad],
            "detail": pd.Series(detail[bad], dtype=object).astype(str).to_numpy(),
            "raw": _raw_repr(frame[bad]),
        }
    ).reset_index(drop=True) if bad.any() else empty_rejected()
    return RowCheckResult(accepted=accepted, rejected=rejected)


SERIES_COLS = ("symbol", "date", "close", "adj_close", "split_coefficient")
SERIES_CHECKS = ("missing_session", "non_session_date", "stale_price", "split", "spike_reverted")
"""The `check` values compute_series_checks writes to data_quality."""


def _fmt_dates(values: np.ndarray) -> pd.Series:
    return pd.Series(pd.DatetimeIndex(values).strftime("%Y-%m-%d"), dtype=object)


def _flag_frame(symbol: np.ndarray, dates: np.ndarray, check: str, severity: str, detail) -> pd.DataFrame:
    n = len(symbol)
    return pd.DataFrame(
        {
            "symbol": pd.Series(symbol, dtype=object),
            "date": pd.Series(pd.DatetimeIndex(dates).date, dtype=object),
            "check": pd.Series([check] * n, dtype=object),
            "severity": pd.Series([severity] * n, dtype=object),
            "detail": pd.Series(detail, dtype=object).reset_index(drop=True) if n else pd.Series(dtype=object),
        }
    )


def _num(s: pd.Series) -> pd.Series:
    return s.map(lambda v: f"{v:.6g}")


def compute_series_checks(
    bars: pd.DataFrame,
    history: pd.DataFrame | None,
    calendar_sessions: pd.DatetimeIndex,
    cfg: GuardrailSettings,
) -> SeriesCheckResult:
    """Series checks over accepted bars, with `history` (stored bars just before them) as context.

    Flags (one row per symbol, date, check) are raised only where the batch is involved:
    - `missing_session`: a session of `calendar_sessions` with no accepted bar inside the symbol's span
      (first bar of history or batch .. last bar), for gaps that end in the batch; one flag per missing
      date (a date whose row was rejected, by the row checks or as a spike, counts as missing);
    - `non_session_date`: a batch bar dated on a day the exchange was closed;
    - `stale_price`: a run of at least `cfg.stale_run_sessions` identical closes, flagged at its first date;
    - `split`: the close ratio to the previous session is near a split ratio while the adjusted close
      does not jump (or the series has no adjustment at all), or a `split_coefficient` other than 1;
    - `spike_reverted`: a return beyond `cfg.spike_sigma` robust sigmas (and `cfg.spike_min_abs_return`)
      that the next session gives back; the row is also returned in `rejected` (a likely bad tick).
      This includes the last history bar when the batch's first bar reverts it: the caller retracts it.
    Vectorised over all symbols: no Python loop over rows or symbols.
    """
    if bars.empty:
        return SeriesCheckResult(flags=empty_flags(), rejected=empty_rejected())
    cols = [c for c in SERIES_COLS if c in bars.columns]
    new = bars[cols].assign(_new=True)
    parts = [new]
    if history is not None and not history.empty:
        hist = history[history["symbol"].isin(new["symbol"].unique())]
        parts.append(hist[[c for c in cols if c in hist.columns]].assign(_new=False))
    df = pd.concat(parts, ignore_index=True) if len(parts) > 1 else new.reset_index(drop=True)
    for c in ("adj_close", "split_coefficient"):
        if c not in df.columns:
            df[c] = np.nan
    df["date"] = pd.to_datetime(df["date"]).astype("datetime64[ns]")
    df["adj_close"] = df["adj_close"].astype(float).fillna(df["close"].astype(float))
    # The batch wins over stored history on the same date.
    df = df.sort_values(["symbol", "date", "_new"], kind="stable")
    df = df.drop_duplicates(["symbol", "date"], keep="last").reset_index(drop=True)

    sym = df["symbol"].to_numpy(dtype=object)
    dates = df["date"].to_numpy(dtype="datetime64[ns]")
    is_new = df["_new"].to_numpy(dtype=bool)
    close = df["close"].to_numpy(dtype=float)
    adj = df["adj_close"].to_numpy(dtype=float)
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

    prev_close, prev_adj = prev(close), prev(adj)
    with np.errstate(divide="ignore", invalid="ignore"):
        ret = np.log(close / prev_close)
        adj_ret = np.log(adj / prev_adj)
    next_ret = np.full(n, np.nan)
    next_ret[:-1] = ret[1:]
    next_ret[last] = np.nan

    flags: list[pd.DataFrame] = []

    # -- stale prices: runs of identical closes ------------------------------------------------------
    same_close = close == prev_close
    run_id = np.cumsum(~same_close) - 1
    run_len = np.bincount(run_id)
    run_has_new = np.bincount(run_id, weights=is_new.astype(float)) > 0
    run_first = np.flatnonzero(~same_close)
    run_last = np.r_[run_first[1:] - 1, n - 1]
    stale = (run_len >= cfg.stale_run_sessions) & run_has_new
    if stale.any():
        rf, rl = run_first[stale], run_last[stale]
        flags.append(
            _flag_frame(
                sym[rf], dates[rf], "stale_price", "warning",
                "close " + _num(pd.Series(close[rf])) + " unchanged for " + pd.Series(run_len[stale]).astype(str)
                + " sessions (" + _fmt_dates(dates[rf]) + ".." + _fmt_dates(dates[rl]) + ")",
            )
        )

    # -- reverted return spikes (bad ticks) ------------------------------------------------------------
    r = pd.Series(ret)
    med = r.groupby(group).transform("median").to_numpy()
    mad = pd.Series(np.abs(ret - med)).groupby(group).transform("median").to_numpy()
    sigma = 1.4826 * mad
    abs_ret = np.abs(ret)
    with np.errstate(invalid="ignore"):
        # The last stored bar before the batch is checked too: a tick on the latest day of one run
        # can only be seen to revert in the next run (the ingest then retracts it from `bars`).
        next_new = np.zeros(n, dtype=bool)
        next_new[:-1] = is_new[1:] & ~last[:-1]
        spike = (
            (is_new | next_new)
            & (abs_ret >= cfg.spike_min_abs_return)
            & (abs_ret > cfg.spike_sigma * np.nan_to_num(sigma, nan=0.0))
            & (np.sign(next_ret) == -np.sign(ret))
            & (np.abs(next_ret) >= cfg.spike_revert_fraction * abs_ret)
        )
    # -- calendar: missing sessions and bars on closed days ------------------------------------------
    cal = np.asarray(pd.DatetimeIndex(calendar_sessions).values, dtype="datetime64[ns]")
    if len(cal):
        pos = np.searchsorted(cal, dates)
        on_cal = (pos < len(cal)) & (cal[np.minimum(pos, len(cal) - 1)] == dates)
        in_range = (dates >= cal[0]) & (dates <= cal[-1])
        off = is_new & in_range & ~on_cal
        if off.any():
            flags.append(
                _flag_frame(sym[off], dates[off], "non_session_date", "warning",
                            "bar dated " + _fmt_dates(dates[off]) + " but the exchange was closed")
            )
        # A bar quarantined as a bad tick leaves its session without a bar: that is missing too.
        idx = np.flatnonzero(on_cal & ~spike)
        if len(idx) > 1:
            p, s_, nw = pos[idx], sym[idx], is_new[idx]
            same = np.zeros(len(idx), dtype=bool)
            same[1:] = s_[1:] == s_[:-1]
            gap = np.zeros(len(idx), dtype=np.int64)
            gap[1:] = p[1:] - p[:-1] - 1
            gap[~same | ~nw] = 0
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

    # -- splits in unadjusted data ---------------------------------------------------------------------
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = prev_close / close
    ratios = np.asarray(cfg.split_ratios, dtype=float)
    rel = np.abs(ratio[:, None] / ratios[None, :] - 1.0)
    best = np.argmin(np.where(np.isnan(rel), np.inf, rel), axis=1)
    near = rel[np.arange(n), best] <= cfg.split_tolerance
    adjusted_symbol = np.bincount(group, weights=(np.abs(adj - close) > 1e-9 * np.abs(close)).astype(float)) > 0
    has_adj = adjusted_symbol[group]
    coef = df["split_coefficient"].to_numpy(dtype=float)
    by_coef = is_new & ~np.isnan(coef) & (np.abs(coef - 1.0) > 1e-9)
    by_adj = is_new & near & has_adj & (np.abs(adj_ret) < cfg.split_adj_max_move) & ~by_coef
    by_raw = is_new & near & ~has_adj & ~by_coef
    # A "split" undone the next session is a bad tick (the spike check owns it), not a split.
    after_spike = np.zeros(n, dtype=bool)
    after_spike[1:] = spike[:-1]
    split_rows = (by_coef | by_adj | by_raw) & ~spike & ~after_spike
    by_coef, by_adj, by_raw = by_coef & split_rows, by_adj & split_rows, by_raw & split_rows
    if split_rows.any():
        ratio_txt = _num(pd.Series(ratio))
        kind = pd.Series(np.where(ratios[best] >= 1, "forward", "reverse"))
        detail = pd.Series("", index=range(n), dtype=object)
        detail[by_coef] = "split_coefficient " + _num(pd.Series(coef))[by_coef] + " reported; close ratio " + ratio_txt[by_coef]
        detail[by_adj] = (
            "close ratio " + ratio_txt[by_adj] + " (" + kind[by_adj] + " split) while adjusted close moved "
            + _num(pd.Series(np.round(100 * adj_ret, 2)))[by_adj] + "%: close is unadjusted"
        )
        detail[by_raw] = (
            "close ratio " + ratio_txt[by_raw] + " matches a " + kind[by_raw]
            + " split and the series has no adjustment: adjust before use"
        )
        severity = np.where(by_coef, "info", "warning")
        f = _flag_frame(sym[split_rows], dates[split_rows], "split", "warning", detail[split_rows])
        f["severity"] = severity[split_rows]
        flags.append(f)

    rejected = empty_rejected()
    if spike.any():
        sp = np.flatnonzero(spike)
        detail = (
            "close " + _num(pd.Series(close[sp])) + " after " + _num(pd.Series(prev_close[sp]))
            + " (" + _num(pd.Series(np.round(ret[sp] / np.maximum(sigma[sp], 1e-12), 1))) + " robust sigma), "
            + "next session back to " + _num(pd.Series(close[sp + 1]))
        )
        flags.append(_flag_frame(sym[sp], dates[sp], "spike_reverted", "error", detail))
        keys = pd.DataFrame({"symbol": sym[sp], "_d": dates[sp], "_detail": detail.to_numpy()})
        source_rows = bars
        if history is not None and not history.empty and (~is_new[sp]).any():
            source_rows = pd.concat(
                [bars, history[[c for c in bars.columns if c in history.columns]]], ignore_index=True
            )
        raw_rows = source_rows.assign(_d=pd.to_datetime(source_rows["date"]).astype("datetime64[ns]")).merge(
            keys, on=["symbol", "_d"], how="inner"
        ).drop_duplicates(["symbol", "_d"])
        rejected = pd.DataFrame(
            {
                "symbol": raw_rows["symbol"].astype(object),
                "date": _fmt_dates(raw_rows["_d"].to_numpy()),
                "reason": "spike_reverted",
                "detail": raw_rows["_detail"].astype(object),
                "raw": _raw_repr(raw_rows.drop(columns=["_d", "_detail"])),
            }
        ).reset_index(drop=True)

    out = pd.concat(flags, ignore_index=True) if flags else empty_flags()
    out = out.sort_values(["symbol", "date", "check"], kind="stable").reset_index(drop=True)
    return SeriesCheckResult(flags=out, rejected=rejected)
