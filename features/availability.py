"""What the data can give: feature families a symbol's bars cannot feed, and columns with nothing to learn from.

Close-only data (no open, high, low or volume: the most common kind people have) leaves whole families NULL
(KBAR, the range operators MAX/MIN/RSV/IMAX/IMIN/IMXD, the volume operators), and OHLC columns filled with the
close make them constant. Both are said out loud: by `foresight ingest` and `foresight features` per symbol,
and by training, which drops constant or all-NULL columns with a line naming them. Pure functions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.registry import _parts, get_feature_set

FIELDS = ("open", "high", "low", "volume", "vwap")
"""Bar fields a feature may need besides the close (`vwap`: the source's, or high and low for the typical price)."""

COVERAGE_SQL = """
    SELECT symbol, count(*) AS rows, count(open) AS open, count(high) AS high, count(low) AS low,
           count(volume) AS volume,
           count(*) FILTER (WHERE vwap IS NOT NULL OR (high IS NOT NULL AND low IS NOT NULL)) AS vwap,
           count(*) FILTER (WHERE high > low OR open <> close) AS moves
    FROM bars GROUP BY symbol ORDER BY symbol
"""
"""Per symbol: rows, rows having each field, and rows whose OHLC is not flat (open = high = low = close)."""


def _family(f) -> str:
    """The family of a feature: a rolling operator without its window (`VMA20` -> `VMA`), else its name."""
    return re.sub(r"\d+$", "", f.name) if f.group == "rolling" else f.name


def feature_needs(feature_set: str = "alpha158") -> dict[str, tuple[str, ...]]:
    """Feature name -> bar fields besides the close it needs, for every column of the set(s)."""
    return {f.name: f.needs for n in _parts(feature_set) for f in get_feature_set(n).features}


def compute_field_families(feature_set: str = "alpha158") -> dict[str, list[str]]:
    """Bar field -> the feature families (in the set's order) that need it."""
    out: dict[str, list[str]] = {}
    for n in _parts(feature_set):
        for f in get_feature_set(n).features:
            for field in f.needs:
                fams = out.setdefault(field, [])
                if _family(f) not in fams:
                    fams.append(_family(f))
    return out


@dataclass(frozen=True)
class FamilyGap:
    """Feature families that some symbols' data cannot feed, and why."""

    fields: tuple[str, ...]
    """The bar fields those symbols lack (`missing`), or the OHLC fields that never move (`flat`)."""
    reason: str
    """`missing`: no row of the symbol has these fields (NULL features); `flat`: every bar has open = high = low
    = close, e.g. close-only data filled into OHLC (constant features)."""
    families: tuple[str, ...]
    symbols: tuple[str, ...]

    def describe(self, shown: int = 10) -> str:
        syms = ", ".join(self.symbols[:shown]) + (f" and {len(self.symbols) - shown} more"
                                                   if len(self.symbols) > shown else "")
        what = "NULL" if self.reason == "missing" else "constant"
        cause = f"no {', '.join(self.fields)}" if self.reason == "missing" else "open = high = low = close on every bar"
        return (f"{', '.join(self.families)} features are {what} for {len(self.symbols)} symbol(s) "
                f"({cause}): {syms}")

    def as_dict(self) -> dict:
        return {"fields": list(self.fields), "reason": self.reason, "families": list(self.families),
                "symbols": list(self.symbols)}


def compute_missing_field_gaps(missing: dict[str, tuple[str, ...]], feature_set: str = "alpha158") -> list[FamilyGap]:
    """Group symbols by the fields they lack (symbol -> fields): one gap per distinct set of missing fields,
    with the families those fields feed (fields no feature of the set needs are left out)."""
    families = compute_field_families(feature_set)
    groups: dict[tuple[str, ...], list[str]] = {}
    for sym, fields in sorted(missing.items()):
        used = tuple(f for f in FIELDS if f in fields and f in families)
        if used:
            groups.setdefault(used, []).append(sym)
    gaps = []
    for fields, syms in sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        fams = tuple(dict.fromkeys(f for field in fields for f in families[field]))
        gaps.append(FamilyGap(fields, "missing", fams, tuple(syms)))
    return gaps


def compute_unavailable_families(coverage: pd.DataFrame, feature_set: str = "alpha158") -> list[FamilyGap]:
    """Families a symbol's bars cannot feed, from `coverage` (a COVERAGE_SQL result: symbol, rows, one count per
    field of rows having it, `moves`): fields no row has leave their families NULL; bars that never move
    (open = high = low = close) leave the open/high/low families constant."""
    if coverage.empty:
        return []
    cov = coverage[coverage["rows"] > 0]
    missing = {str(r["symbol"]): tuple(f for f in FIELDS if f in cov.columns and r[f] == 0)
               for _, r in cov.iterrows()}
    gaps = compute_missing_field_gaps(missing, feature_set)
    if "moves" in cov.columns:
        families = compute_field_families(feature_set)
        have_ohl = (cov[["open", "high", "low"]] > 0).all(axis=1)
        flat = cov.loc[have_ohl & (cov["moves"] == 0), "symbol"]
        fams = tuple(dict.fromkeys(f for field in ("open", "high", "low", "vwap") for f in families.get(field, [])))
        if len(flat) and fams:
            gaps.append(FamilyGap(("open", "high", "low"), "flat", fams, tuple(sorted(map(str, flat)))))
    return gaps


def compute_usable_columns(frame: pd.DataFrame, columns: list[str],
                           rows: np.ndarray | None = None) -> tuple[list[str], dict[str, str]]:
    """(columns to train on, in order; dropped column -> why): a column with no value (`all NULL`) or a single
    distinct value (`constant <value>`, NULLs aside) over `frame` (its `rows` only, a boolean mask, when
    given) carries nothing a model can learn from."""
    kept: list[str] = []
    dropped: dict[str, str] = {}
    for col in columns:  # one column at a time: a training frame is too large to copy whole
        values = frame[col].to_numpy(dtype=float, na_value=np.nan)
        if rows is not None:
            values = values[rows]
        values = values[np.isfinite(values)]
        if not len(values):
            dropped[col] = "all NULL"
        elif values.min() == values.max():
            dropped[col] = f"constant {values[0]:.6g}"
        else:
            kept.append(col)
    return kept, dropped


def describe_dropped(dropped: dict[str, str], total: int, shown: int = 12) -> str | None:
    """One line for the log of a training: how many columns were dropped and why (None: none)."""
    if not dropped:
        return None
    null = [c for c, why in dropped.items() if why == "all NULL"]
    const = [c for c, why in dropped.items() if why != "all NULL"]
    parts = []
    for label, cols in (("all NULL", null), ("constant", const)):
        if cols:
            more = f", ... {len(cols) - shown} more" if len(cols) > shown else ""
            parts.append(f"{len(cols)} {label} ({', '.join(cols[:shown])}{more})")
    return f"dropped {len(dropped)} of {total} feature columns with nothing to learn from: " + "; ".join(parts)


def compute_frame_gaps(frame: pd.DataFrame, columns: list[str], feature_set: str) -> list[FamilyGap]:
    """Families a training frame lacks per symbol: a field is missing for a symbol when every column needing
    it is NULL on all of that symbol's rows."""
    needs = feature_needs(feature_set)
    by_field: dict[str, list[str]] = {}
    for col in columns:
        for field in needs.get(col, ()):
            by_field.setdefault(field, []).append(col)
    if not by_field or frame.empty:
        return []
    cols = sorted({c for cs in by_field.values() for c in cs})
    has = frame[cols].notna().groupby(frame["symbol"]).any()
    missing = {str(sym): tuple(f for f in FIELDS if f in by_field and not has.loc[sym, by_field[f]].any())
               for sym in has.index}
    return compute_missing_field_gaps(missing, feature_set)


__all__ = [
    "COVERAGE_SQL",
    "FIELDS",
    "FamilyGap",
    "compute_field_families",
    "compute_frame_gaps",
    "compute_missing_field_gaps",
    "compute_unavailable_families",
    "compute_usable_columns",
    "describe_dropped",
    "feature_needs",
]
