"""A slow, obvious pandas re-implementation of Qlib's operators and Alpha158DL, plus the market features.

It follows qlib/data/ops.py and qlib/data/_libs/rolling.pyx line by line (pandas rolling with min_periods=1,
np.maximum/np.minimum for Greater/Less, the np.isclose(std, 0, atol=2e-5) masks of Rsquare and Corr), one
symbol at a time. Two documented departures of the store are applied at the end, as the store does:
non-finite values become NaN, and CORD is NaN for windows containing the day after a zero-volume day.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

WINDOWS = (5, 10, 20, 30, 60)


# -- Qlib operators -----------------------------------------------------------------------------------------

def Ref(s, d):
    return s.shift(d)


def Mean(s, d):
    return s.rolling(d, min_periods=1).mean()


def Sum(s, d):
    return s.rolling(d, min_periods=1).sum()


def _windows(s: pd.Series, d: int) -> np.ndarray:
    """Row t holds the values t-d+1 .. t (NaN before the series starts): min_periods=1 windows."""
    a = np.concatenate([np.full(d - 1, np.nan), s.to_numpy(dtype=float)])
    return np.lib.stride_tricks.sliding_window_view(a, d)


def Std(s, d):
    # two-pass over each window (pandas' online rolling variance drifts by ~1e-9 after large values leave)
    w = _windows(s, d)
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        n = (~np.isnan(w)).sum(axis=1)
        m = np.nanmean(w, axis=1, keepdims=True) if w.size else w
        ss = np.nansum((w - m) ** 2, axis=1)
        out = np.where(n >= 2, np.sqrt(ss / (n - 1)), np.nan)
    return pd.Series(out, index=s.index)


def Max(s, d):
    return s.rolling(d, min_periods=1).max()


def Min(s, d):
    return s.rolling(d, min_periods=1).min()


def Quantile(s, d, q):
    return s.rolling(d, min_periods=1).quantile(q)


def Rank(s, d):
    return s.rolling(d, min_periods=1).rank(pct=True)


def IdxMax(s, d):
    return s.rolling(d, min_periods=1).apply(lambda x: x.argmax() + 1, raw=True)


def IdxMin(s, d):
    return s.rolling(d, min_periods=1).apply(lambda x: x.argmin() + 1, raw=True)


def Greater(a, b):
    return np.maximum(a, b)


def Less(a, b):
    return np.minimum(a, b)


def _regression(s: pd.Series, d: int, what: str) -> pd.Series:
    """Least squares of the window's values on their positions 1..n (the obvious loop)."""
    y_all = s.to_numpy(dtype=float)
    out = np.full(len(y_all), np.nan)
    for t in range(len(y_all)):
        y = y_all[max(0, t - d + 1): t + 1]
        x = np.arange(1, len(y) + 1, dtype=float)
        if len(y) < 2:
            continue
        xm, ym = x.mean(), y.mean()
        sxx = ((x - xm) ** 2).sum()
        sxy = ((x - xm) * (y - ym)).sum()
        syy = ((y - ym) ** 2).sum()
        slope = sxy / sxx
        if what == "slope":
            out[t] = slope
        elif what == "rsquare":
            out[t] = sxy * sxy / (sxx * syy) if syy > 0 else np.nan
        else:
            out[t] = y[-1] - (ym + slope * (x[-1] - xm))
    return pd.Series(out, index=s.index)


def Slope(s, d):
    return _regression(s, d, "slope")


def Rsquare(s, d):
    r = _regression(s, d, "rsquare")
    r[np.isclose(Std(s, d), 0, atol=2e-05)] = np.nan
    return r


def Resi(s, d):
    return _regression(s, d, "resi")


def Corr(a, b, d):
    # pairwise-complete two-pass correlation per window (what pandas' rolling corr computes, minus its drift)
    wa, wb = _windows(a, d), _windows(b, d)
    ok = ~(np.isnan(wa) | np.isnan(wb))
    wa, wb = np.where(ok, wa, np.nan), np.where(ok, wb, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        n = ok.sum(axis=1)
        da = wa - np.nanmean(wa, axis=1, keepdims=True)
        db = wb - np.nanmean(wb, axis=1, keepdims=True)
        r = np.nansum(da * db, axis=1) / np.sqrt(np.nansum(da * da, axis=1) * np.nansum(db * db, axis=1))
    r = pd.Series(np.where(n >= 2, r, np.nan), index=a.index)
    r[np.isclose(Std(a, d), 0, atol=2e-05) | np.isclose(Std(b, d), 0, atol=2e-05)] = np.nan
    return r


# -- Alpha158DL ---------------------------------------------------------------------------------------------

def alpha158_one(g: pd.DataFrame) -> pd.DataFrame:
    """Alpha158 of one symbol's adjusted bars (columns open, high, low, close, vwap, volume), by date."""
    o, h, lo, c, vw, v = (g[k] for k in ("open", "high", "low", "close", "vwap", "volume"))
    f: dict[str, pd.Series] = {}
    f["KMID"] = (c - o) / o
    f["KLEN"] = (h - lo) / o
    f["KMID2"] = (c - o) / (h - lo + 1e-12)
    f["KUP"] = (h - Greater(o, c)) / o
    f["KUP2"] = (h - Greater(o, c)) / (h - lo + 1e-12)
    f["KLOW"] = (Less(o, c) - lo) / o
    f["KLOW2"] = (Less(o, c) - lo) / (h - lo + 1e-12)
    f["KSFT"] = (2 * c - h - lo) / o
    f["KSFT2"] = (2 * c - h - lo) / (h - lo + 1e-12)
    f["OPEN0"], f["HIGH0"], f["LOW0"], f["VWAP0"] = o / c, h / c, lo / c, vw / c
    up = (c > Ref(c, 1)).astype(float)
    dn = (c < Ref(c, 1)).astype(float)
    dc = c - Ref(c, 1)
    dv = v - Ref(v, 1)
    wv = (c / Ref(c, 1) - 1).abs() * v
    cord_y = np.log(v / Ref(v, 1) + 1)
    bad = (Ref(v, 1) == 0).astype(float)
    ops = {
        "ROC": lambda d: Ref(c, d) / c,
        "MA": lambda d: Mean(c, d) / c,
        "STD": lambda d: Std(c, d) / c,
        "BETA": lambda d: Slope(c, d) / c,
        "RSQR": lambda d: Rsquare(c, d),
        "RESI": lambda d: Resi(c, d) / c,
        "MAX": lambda d: Max(h, d) / c,
        "MIN": lambda d: Min(lo, d) / c,
        "QTLU": lambda d: Quantile(c, d, 0.8) / c,
        "QTLD": lambda d: Quantile(c, d, 0.2) / c,
        "RANK": lambda d: Rank(c, d),
        "RSV": lambda d: (c - Min(lo, d)) / (Max(h, d) - Min(lo, d) + 1e-12),
        "IMAX": lambda d: IdxMax(h, d) / d,
        "IMIN": lambda d: IdxMin(lo, d) / d,
        "IMXD": lambda d: (IdxMax(h, d) - IdxMin(lo, d)) / d,
        "CORR": lambda d: Corr(c, np.log(v + 1), d),
        "CORD": lambda d: Corr(c / Ref(c, 1), cord_y, d).where(Sum(bad, d).fillna(0) == 0),
        "CNTP": lambda d: Mean(up, d),
        "CNTN": lambda d: Mean(dn, d),
        "CNTD": lambda d: Mean(up, d) - Mean(dn, d),
        "SUMP": lambda d: Sum(Greater(dc, 0), d) / (Sum(dc.abs(), d) + 1e-12),
        "SUMN": lambda d: Sum(Greater(-dc, 0), d) / (Sum(dc.abs(), d) + 1e-12),
        "SUMD": lambda d: (Sum(Greater(dc, 0), d) - Sum(Greater(-dc, 0), d)) / (Sum(dc.abs(), d) + 1e-12),
        "VMA": lambda d: Mean(v, d) / (v + 1e-12),
        "VSTD": lambda d: Std(v, d) / (v + 1e-12),
        "WVMA": lambda d: Std(wv, d) / (Mean(wv, d) + 1e-12),
        "VSUMP": lambda d: Sum(Greater(dv, 0), d) / (Sum(dv.abs(), d) + 1e-12),
        "VSUMN": lambda d: Sum(Greater(-dv, 0), d) / (Sum(dv.abs(), d) + 1e-12),
        "VSUMD": lambda d: (Sum(Greater(dv, 0), d) - Sum(Greater(-dv, 0), d)) / (Sum(dv.abs(), d) + 1e-12),
    }
    with np.errstate(divide="ignore", invalid="ignore"):
        for name, fn in ops.items():
            for d in WINDOWS:
                f[f"{name}{d}"] = fn(d)
    out = pd.DataFrame(f)
    return out.replace([np.inf, -np.inf], np.nan)


def adjusted(bars: pd.DataFrame) -> pd.DataFrame:
    """Qlib-style adjustment: prices x (adj_close / close), volume / factor, VWAP else typical price."""
    b = bars.sort_values(["symbol", "date"]).reset_index(drop=True).copy()
    fac = b["adj_close"] / b["close"]
    vwap = b["vwap"].astype(float).where(b["vwap"].notna(), (b["high"] + b["low"] + b["close"]) / 3.0)
    return pd.DataFrame({
        "symbol": b["symbol"], "date": pd.to_datetime(b["date"]),
        "open": b["open"] * fac, "high": b["high"] * fac, "low": b["low"] * fac, "close": b["adj_close"],
        "vwap": vwap * fac, "volume": b["volume"] / fac,
    })


def reference_alpha158(bars: pd.DataFrame) -> pd.DataFrame:
    a = adjusted(bars)
    parts = []
    for sym, g in a.groupby("symbol", sort=True):
        g = g.reset_index(drop=True)
        f = alpha158_one(g)
        f.insert(0, "date", g["date"])
        f.insert(0, "symbol", sym)
        parts.append(f)
    return pd.concat(parts, ignore_index=True)


def reference_market(bars: pd.DataFrame) -> pd.DataFrame:
    a = adjusted(bars)
    g = a.groupby("symbol", sort=False)["close"]
    for k in (1, 5, 21):
        a[f"ret{k}"] = a["close"] / g.shift(k) - 1
    u = a.groupby("date")[["ret1", "ret5", "ret21"]].mean().sort_index()
    out = a[["symbol", "date"]].copy()
    for k in (1, 5, 21):
        out[f"MKT_RELRET{k}"] = a[f"ret{k}"] - a["date"].map(u[f"ret{k}"])
    for k in (5, 21, 63):
        vol = u["ret1"].rolling(k, min_periods=k).std() * np.sqrt(252)
        out[f"MKT_VOL{k}"] = a["date"].map(vol)
    a["uret1"] = a["date"].map(u["ret1"])
    for k in (21, 63):
        beta = np.full(len(a), np.nan)
        for _sym, idx in a.groupby("symbol", sort=False).indices.items():
            x_all = a["uret1"].to_numpy()[idx]
            y_all = a["ret1"].to_numpy()[idx]
            for j in range(len(idx)):
                x, y = x_all[max(0, j - k + 1): j + 1], y_all[max(0, j - k + 1): j + 1]
                ok = ~(np.isnan(x) | np.isnan(y))
                if ok.sum() == k:
                    xm, ym = x.mean(), y.mean()
                    beta[idx[j]] = ((x - xm) * (y - ym)).sum() / ((x - xm) ** 2).sum()
        out[f"MKT_BETA{k}"] = beta
    return out.sort_values(["symbol", "date"]).reset_index(drop=True)


def reference_labels(bars: pd.DataFrame, horizons=(1, 5, 21), entry_lag: int = 1) -> pd.DataFrame:
    b = bars.sort_values(["symbol", "date"]).reset_index(drop=True)
    g = b.groupby("symbol", sort=False)["adj_close"]
    parts = []
    for h in horizons:
        fr = g.shift(-(entry_lag + h)) / g.shift(-entry_lag) - 1
        parts.append(pd.DataFrame({"symbol": b["symbol"], "date": pd.to_datetime(b["date"]), "horizon": h,
                                   "fwd_return": fr}))
    return pd.concat(parts, ignore_index=True)
