"""Small real-looking daily markets for the guardrail tests: a market factor, sector factors, consistent OHLC
whose intraday range covers the move, and volume that rises with |return|; plus the events to plant in them."""

from __future__ import annotations

import numpy as np
import pandas as pd

from marketdata.calendar import sessions


def make_market(symbols: tuple[str, ...] = ("AAA", "BBB", "CCC", "DDD", "EEE", "FFF"), n: int = 120,
                start: str = "2008-05-01", seed: int = 0, sectors: dict[str, str] | None = None,
                shocks: dict[tuple[str, int], float] | None = None,
                volume_boost: dict[tuple[str, int], float] | None = None) -> pd.DataFrame:
    """Bars of `symbols` over `n` XNYS sessions from `start`: log returns = beta x market + sector + idio noise.

    `shocks[(symbol, i)]` replaces the log return of session i (the path after it moves with it, as a true
    price does); `volume_boost[(symbol, i)]` multiplies that session's volume. Columns as the csv source gives
    them after the row checks: symbol, date, open, high, low, close, adj_close, volume.
    """
    rng = np.random.default_rng(seed)
    days = sessions(start, pd.Timestamp(start) + pd.Timedelta(days=2 * n + 30))[:n]
    market = rng.normal(0.0002, 0.012, n)
    sector_f = {s: rng.normal(0, 0.012, n) for s in set((sectors or {}).values())}
    frames = []
    for j, sym in enumerate(symbols):
        beta = 0.8 + 0.1 * (j % 5)
        r = beta * market + rng.normal(0, 0.01, n)
        if sectors and sym in sectors:
            r = r + sector_f[sectors[sym]]
        for (s, i), v in (shocks or {}).items():
            if s == sym:
                r[i] = v
        close = (20 + 10 * j) * np.exp(np.cumsum(r))
        prev = np.r_[close[0] / np.exp(r[0]), close[:-1]]
        # the open gaps by a third of the day's move; the rest trades through the session
        open_ = prev * np.exp(r / 3)
        wick = np.abs(rng.normal(0, 0.004, n))
        high = np.maximum(open_, close) * (1 + wick)
        low = np.minimum(open_, close) * (1 - wick)
        volume = np.round(1e6 * (1 + j) * np.exp(rng.normal(0, 0.15, n)) * (1 + 8 * np.abs(r)))
        for (s, i), m in (volume_boost or {}).items():
            if s == sym:
                volume[i] = np.round(volume[i] * m)
        frames.append(pd.DataFrame({"symbol": sym, "date": days, "open": open_, "high": high, "low": low,
                                    "close": close, "adj_close": close, "volume": volume}))
    return pd.concat(frames, ignore_index=True)


def crisis(symbols, day: int, down: float = -0.17, up: float = 0.15, volume: float = 3.0):
    """(shocks, volume_boost) for a market-wide crash of `down` on session `day` that `up` reverts the next:
    2008-10-15 style (the market fell ~9%, a bank 17%, and bounced)."""
    shocks, boost = {}, {}
    for k, s in enumerate(symbols):
        shocks[(s, day)] = np.log1p(down) + 0.005 * (k % 3 - 1)
        shocks[(s, day + 1)] = np.log1p(up) - 0.003 * (k % 2)
        boost[(s, day)] = boost[(s, day + 1)] = volume
    return shocks, boost


def bad_tick(bars: pd.DataFrame, symbol: str, day: int, factor: float = 10.0) -> pd.DataFrame:
    """Every price field of one session of `symbol` mis-scaled by `factor` (a decimal slip), volume untouched."""
    out = bars.copy()
    rows = out.index[out["symbol"] == symbol]
    i = rows[day]
    out.loc[i, ["open", "high", "low", "close", "adj_close"]] *= factor
    return out


def as_text(bars: pd.DataFrame) -> pd.DataFrame:
    """The bars as a CSV in Alpha Vantage columns gives them: text, `timestamp`, `adjusted_close`."""
    out = pd.DataFrame({"timestamp": pd.to_datetime(bars["date"]).dt.strftime("%Y-%m-%d"), "symbol": bars["symbol"]})
    for col, name in (("open", "open"), ("high", "high"), ("low", "low"), ("close", "close"),
                      ("adj_close", "adjusted_close")):
        out[name] = bars[col].map(lambda v: "" if pd.isna(v) else f"{v:.4f}")
    out["volume"] = bars["volume"].map(lambda v: "" if pd.isna(v) else str(int(v)))
    return out
