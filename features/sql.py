"""SQL text of the feature and label queries (pure string building, no connection)."""

from __future__ import annotations

import re

from features.definitions import MARKET_VOL_WINDOWS, FeatureDef, FeatureSetDef

_ADJUSTED_PX = """
    SELECT b.symbol, b.date,
           b.open * f AS open, b.high * f AS high, b.low * f AS low, b.adj_close AS close,
           coalesce(b.vwap, (b.high + b.low + b.close) / 3.0) * f AS vwap,
           b.volume / f AS volume
    FROM (SELECT *, adj_close / close AS f FROM {bars}) b
    JOIN {scope} s ON b.symbol = s.symbol AND (s.read_from IS NULL OR b.date >= s.read_from)
"""
"""Adjusted prices as Qlib's collectors make them: price x factor, volume / factor, factor = adj_close / close.
The VWAP falls back to the typical price (high + low + close) / 3 when the source gives none."""


def finite(expr: str) -> str:
    """Non-finite results (NaN from 0/0, +-inf) are stored as NULL: one missing marker for every consumer."""
    return f"CASE WHEN isfinite({expr}) THEN {expr} END"


def guarded(f: FeatureDef) -> str:
    """A feature's SQL, NULL on a row lacking a field it needs (a blank open, high, low or volume in the source)."""
    if not f.needs:
        return f.sql
    return f"CASE WHEN {' AND '.join(f'{c} IS NOT NULL' for c in f.needs)} THEN {f.sql} END"


def _select(cols: tuple[str, ...] | list[str]) -> str:
    return ",\n           ".join(cols)


def _windows(fs: FeatureSetDef, extra: dict[str, str] | None = None) -> str:
    spec = dict(extra or {})
    spec.update(fs.windows)
    return ", ".join(f"{k} AS ({v})" for k, v in spec.items())


_GROUP_COLS = r"\b(close|rn|high|low|lv|cr|vr|volume|wv|adc|adv|up|dn|vbad)\b"


def _grouped_item(item: str) -> str | None:
    """One stage-s3 window item rewritten as an aggregate over the lookback rows L of a target row T.

    Window `agg(x) OVER w{d}` over the d rows ending at T equals `agg(L.x) FILTER (WHERE L.rn > T.rn - d)`
    once L holds T's preceding rows; None for items computed per row (see `build_feature_select`).
    """
    expr, alias = item.rsplit(" AS ", 1)
    m = re.fullmatch(r"least\(rn, (\d+)\)", expr)
    if m:
        return f"least(any_value(T.rn), {m.group(1)}) AS {alias}"
    m = re.fullmatch(r"(\w+) - coalesce\(lag\(\1, (\d+)\) OVER ws, 0\)", expr)
    if m:  # running count differences: the window sum of the per-row indicator
        src = {"cum_up": "up", "cum_dn": "dn", "cum_bad": "vbad"}[m.group(1)]
        return f"sum(L.{src}) FILTER (WHERE L.rn > T.rn - {m.group(2)}) AS {alias}"
    m = re.fullmatch(r"list_sort\(list\((\w+)\) OVER w(\d+)\)", expr)
    if m:
        return f"list_sort(list(L.{m.group(1)}) FILTER (WHERE L.rn > T.rn - {m.group(2)})) AS {alias}"
    m = re.fullmatch(r"(.*) OVER w(\d+)", expr)
    if not m:
        raise ValueError(f"no grouped form for {item!r}")
    agg, d = m.group(1), m.group(2)
    flt = f"FILTER (WHERE L.rn > T.rn - {d})"
    if agg == "rank(ORDER BY close)":
        return f"count(*) FILTER (WHERE L.rn > T.rn - {d} AND L.close < T.close) + 1 AS {alias}"
    if agg == "rank(ORDER BY close DESC)":
        return f"count(*) FILTER (WHERE L.rn > T.rn - {d} AND L.close > T.close) + 1 AS {alias}"
    if agg == "arg_max(rn, high)":  # first occurrence among ties, as the window form and numpy
        return f"arg_max(L.rn, {{'v': L.high, 'r': -L.rn}}) {flt} AS {alias}"
    if agg == "arg_min(rn, low)":
        return f"arg_min(L.rn, {{'v': L.low, 'r': L.rn}}) {flt} AS {alias}"
    qualified = re.sub(_GROUP_COLS, r"L.\1", agg)
    return f"{qualified} {flt} AS {alias}"


def build_feature_select(fs: FeatureSetDef, bars: str = "bars", scope: str = "_fs_scope",
                         grouped: bool = False) -> str:
    """SELECT symbol, date, feature_set, <columns> for the rows of `scope` (symbol, read_from, target_from).

    Rows from `read_from` (NULL = the symbol's first bar) are read, rows from `target_from` are returned:
    a row's values depend on bars of dates <= its date only (every window is `... PRECEDING AND CURRENT ROW`).
    """
    px = _ADJUSTED_PX.format(bars=bars, scope=scope)
    outs = ",\n       ".join(f'{finite(guarded(f))} AS "{f.name}"' for f in fs.features)
    ws = "ws AS (PARTITION BY symbol ORDER BY date)"
    wc = "wc AS (PARTITION BY symbol ORDER BY date ROWS UNBOUNDED PRECEDING)"
    if not fs.cross_sectional and grouped:
        # Nightly form, same values: the window aggregates of the target rows only, as grouped aggregates over
        # each target's lookback rows (the window form computes them for every lookback row and drops them).
        # Needs every target to have max(windows) rows before it in `read_from`, or its first bar.
        s2 = f"SELECT *, {_select(fs.s2)} FROM s1 WINDOW {wc}" if fs.s2 else "SELECT * FROM s1"
        reach = max(int(w.split("BETWEEN ")[1].split(" ")[0]) for w in fs.windows.values())
        aggs = _select([_grouped_item(i) for i in fs.s3])
        return f"""
WITH px AS ({px}),
s1 AS (SELECT *, {_select(fs.s1)} FROM px WINDOW {ws}),
s2 AS ({s2}),
tgt AS (SELECT s2.* FROM s2 JOIN {scope} t ON s2.symbol = t.symbol
        WHERE t.target_from IS NULL OR s2.date >= t.target_from),
agg AS (
    SELECT T.symbol AS _symbol, T.rn AS _rn,
           {aggs}
    FROM tgt T JOIN s2 L ON L.symbol = T.symbol AND L.rn <= T.rn AND L.rn > T.rn - {reach + 1}
    GROUP BY T.symbol, T.rn
),
s3 AS (SELECT * FROM tgt JOIN agg ON tgt.symbol = agg._symbol AND tgt.rn = agg._rn)
SELECT s3.symbol, s3.date, '{fs.name}' AS feature_set,
       {outs}
FROM s3
"""
    if not fs.cross_sectional:
        s2 = f"SELECT *, {_select(fs.s2)} FROM s1 WINDOW {wc}" if fs.s2 else "SELECT * FROM s1"
        return f"""
WITH px AS ({px}),
s1 AS (SELECT *, {_select(fs.s1)} FROM px WINDOW {ws}),
s2 AS ({s2}),
s3 AS (SELECT *, {_select(fs.s3)} FROM s2 WINDOW {ws}, {_windows(fs)})
SELECT s3.symbol, s3.date, '{fs.name}' AS feature_set,
       {outs}
FROM s3 JOIN {scope} t ON s3.symbol = t.symbol
WHERE t.target_from IS NULL OR s3.date >= t.target_from
"""
    # Cross-sectional: universe means per date over every symbol read, then universe vol over dates.
    ret_ks = [c.split(" AS ")[-1] for c in fs.s1 if " AS ret" in c]
    umeans = ", ".join(f"avg({r}) AS u{r}" for r in ret_ks)

    uvol = ", ".join(
        f"stddev_samp(uret1) OVER (ORDER BY date ROWS BETWEEN {k - 1} PRECEDING AND CURRENT ROW) AS uvol{k}, "
        f"count(uret1) OVER (ORDER BY date ROWS BETWEEN {k - 1} PRECEDING AND CURRENT ROW) AS uvol_n{k}"
        for k in MARKET_VOL_WINDOWS
    )
    return f"""
WITH px AS ({px}),
s1 AS (SELECT *, {_select(fs.s1)} FROM px WINDOW {ws}),
u AS (SELECT date, {umeans} FROM s1 GROUP BY date),
uv AS (SELECT *, {uvol} FROM u),
s2 AS (SELECT s1.*, uv.* EXCLUDE (date) FROM s1 JOIN uv USING (date)),
s3 AS (SELECT *, {_select(fs.s3)} FROM s2 WINDOW {_windows(fs)})
SELECT s3.symbol, s3.date, '{fs.name}' AS feature_set,
       {outs}
FROM s3 JOIN {scope} t ON s3.symbol = t.symbol
WHERE t.target_from IS NULL OR s3.date >= t.target_from
"""


def build_label_select(horizons: tuple[int, ...], entry_lag: int, bars: str = "bars",
                       scope: str = "_lb_scope") -> str:
    """SELECT symbol, date, horizon, fwd_return, label, entry_lag for the rows of `scope`.

    fwd_return(t, H) = adj_close[t + lag + H] / adj_close[t + lag] - 1 in the symbol's own sessions;
    NULL (never partial) when the exit session is not stored yet, i.e. for the last H + lag sessions.
    """
    parts = []
    for h in horizons:
        parts.append(
            f"SELECT symbol, date, {int(h)} AS horizon, "
            f"lead(adj_close, {entry_lag + h}) OVER ws / lead(adj_close, {entry_lag}) OVER ws - 1 AS fwd_return "
            f"FROM px WINDOW ws AS (PARTITION BY symbol ORDER BY date)"
        )
    union = "\nUNION ALL\n".join(parts)
    return f"""
WITH px AS (
    SELECT b.symbol, b.date, b.adj_close FROM {bars} b
    JOIN {scope} s ON b.symbol = s.symbol AND (s.read_from IS NULL OR b.date >= s.read_from)
),
fr AS ({union})
SELECT fr.symbol, fr.date, fr.horizon, fr.fwd_return,
       CASE WHEN fr.fwd_return IS NULL THEN NULL WHEN fr.fwd_return > 0 THEN 1 ELSE 0 END AS label,
       {int(entry_lag)} AS entry_lag
FROM fr JOIN {scope} t ON fr.symbol = t.symbol
WHERE t.read_from IS NULL OR fr.date >= t.read_from
"""


__all__ = ["build_feature_select", "build_label_select"]
