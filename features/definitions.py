"""Feature definitions as data: name, Qlib expression, SQL expression, and the per-window aggregates they use.

Each feature set is a pipeline of four SELECT stages over the bars of one symbol, ordered by date:

1. `px`  adjusted prices (`adj_close / close` applied to open/high/low/close/vwap, volume divided by it);
2. `s1`  row number and lags (`lag(close, d)`);
3. `s2`  per-row derived series (up/down flags, price and volume changes, log volume ...);
4. `s3`  rolling aggregates, one named WINDOW per window length (ROWS BETWEEN d-1 PRECEDING AND CURRENT ROW);

and a final projection computing each feature from `s3`. The SQL text of every stage is part of the
definition hash, so any change to a formula changes the hash (see `features.registry`).

Conventions copied from Qlib (qlib/data/ops.py, qlib/data/_libs/rolling.pyx, Alpha158DL):
rolling operators use min_periods=1 (partial windows at the start of a series), NaN inputs are skipped,
Std is the sample standard deviation (ddof=1, NULL for one value), Slope/Rsquare/Resi regress the value
on its position in the window, Rank is pandas' rolling `rank(pct=True)` (average rank of the last value /
count), IdxMax/IdxMin are the 1-based position of the first max/min in the window, Rsquare and Corr are
NULL where a rolling std is ~0 (|std| <= 2e-5, Qlib's `np.isclose(std, 0, atol=2e-5)`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

WINDOWS: tuple[int, ...] = (5, 10, 20, 30, 60)
"""Alpha158 rolling windows."""


@dataclass(frozen=True)
class FeatureDef:
    """One output column: its name, the Qlib expression it reproduces, and its SQL over stage `s3`
    (the builder stores non-finite results as NULL)."""

    name: str
    qlib: str
    sql: str
    group: str
    note: str = ""
    needs: tuple[str, ...] = ()
    """Bar fields besides the close it reads (open, high, low, volume, vwap): NULL on a row where one is NULL."""


@dataclass(frozen=True)
class FeatureSetDef:
    """A named, versioned feature set: its SQL stages and its output columns in order."""

    name: str
    version: int
    description: str
    features: tuple[FeatureDef, ...]
    s1: tuple[str, ...]
    s2: tuple[str, ...]
    s3: tuple[str, ...]
    windows: dict[str, str] = field(default_factory=dict)
    lookback: int = 0
    """Rows before the first target row that every target row's value can depend on."""
    cross_sectional: bool = False
    """True when a row depends on other symbols' bars of the same dates (universe means)."""

    @property
    def columns(self) -> list[str]:
        return [f.name for f in self.features]


def _nz(expr: str) -> str:
    """Qlib's np.isclose(x, 0, atol=2e-5) test, false for NULL (NaN is not close to 0)."""
    return f"coalesce(abs({expr}) <= 2e-5, false)"


# ---------------------------------------------------------------------------------------------------------
# Alpha158
# ---------------------------------------------------------------------------------------------------------

_A158_S1 = (
    "row_number() OVER ws AS rn",
    "lag(close, 1) OVER ws AS c1",
    "lag(volume, 1) OVER ws AS v1",
    *(f"lag(close, {d}) OVER ws AS c_lag{d}" for d in WINDOWS),
    *(f"lag(volume, {d}) OVER ws AS v_lag{d}" for d in WINDOWS),
    "first_value(close) OVER ws AS c_first",
    "first_value(volume) OVER ws AS v_first",
    # numpy comparisons with NaN are False, so the first row counts as neither up nor down (CNTP/CNTN)
    "CASE WHEN close > lag(close, 1) OVER ws THEN 1 ELSE 0 END AS up",
    "CASE WHEN close < lag(close, 1) OVER ws THEN 1 ELSE 0 END AS dn",
    # Log($volume/Ref($volume,1)+1) is +inf or NaN after a zero-volume day: flagged, its windows give NULL
    "CASE WHEN lag(volume, 1) OVER ws = 0 THEN 1 ELSE 0 END AS vbad",
)

_A158_S2 = (
    # |x - Ref(x, 1)|, NULL on the first row as in numpy; the window sums of Greater(+-dx, 0) follow from it and
    # the telescoping sum of dx (see _sums)
    "abs(close - c1) AS adc",
    "abs(volume - v1) AS adv",
    "abs(close / c1 - 1) * volume AS wv",
    "ln(volume + 1) AS lv",
    "close / c1 AS cr",
    "CASE WHEN v1 > 0 THEN ln(volume / v1 + 1) END AS vr",
    # integer running counts: a window count is an exact difference of two of them (cheaper than a window sum)
    "sum(up) OVER wc AS cum_up",
    "sum(dn) OVER wc AS cum_dn",
    "sum(vbad) OVER wc AS cum_bad",
)


_LIST_QUANTILE_MAX_WINDOW = 5
"""DuckDB's windowed quantile is ~3x slower on 5-row frames than sorting the frame's list; from 10 rows on it wins."""


def _quantile_agg(d: int) -> str:
    if d <= _LIST_QUANTILE_MAX_WINDOW:
        return f"list_sort(list(close) OVER w{d}) AS l_{d}"
    return f"quantile_cont(close, [0.2, 0.8]) OVER w{d} AS q_{d}"


def _quantile(d: int, q: float) -> str:
    """Quantile q of close in the window, linear interpolation (pandas rolling quantile / quantile_cont)."""
    if d > _LIST_QUANTILE_MAX_WINDOW:
        return f"q_{d}[{1 if q == 0.2 else 2}]"
    pos = f"((len(l_{d}) - 1) * {q})"
    i = f"(floor({pos})::INTEGER + 1)"
    return f"(l_{d}[{i}] + ({pos} - floor({pos})) * (l_{d}[least({i} + 1, len(l_{d}))] - l_{d}[{i}]))"


def _a158_s3(d: int) -> tuple[str, ...]:
    w = f"w{d}"
    return (
        f"least(rn, {d}) AS n_{d}",
        *(f"{c} - coalesce(lag({c}, {d}) OVER ws, 0) AS {c}_{d}" for c in ("cum_up", "cum_dn", "cum_bad")),
        f"avg(close) OVER {w} AS ma_{d}",
        f"stddev_samp(close) OVER {w} AS sd_{d}",
        # regression on the row position: var_samp of n consecutive integers is n(n+1)/12, so slope and
        # R^2 follow from one covariance and the close std
        f"covar_samp(close, rn) OVER {w} AS cov_{d}",
        f"max(high) OVER {w} AS hi_{d}",
        f"min(low) OVER {w} AS lo_{d}",
        _quantile_agg(d),
        f"rank(ORDER BY close) OVER {w} AS rka_{d}",
        f"rank(ORDER BY close DESC) OVER {w} AS rkd_{d}",
        # DuckDB keeps the first row among ties, as numpy's argmax does (a test with tied prices checks it)
        f"arg_max(rn, high) OVER {w} AS imax_rn_{d}",
        f"arg_min(rn, low) OVER {w} AS imin_rn_{d}",
        f"corr(close, lv) OVER {w} AS corr_{d}",
        f"stddev_samp(lv) OVER {w} AS sd_lv_{d}",
        f"corr(cr, vr) OVER {w} AS cord_{d}",
        f"stddev_samp(cr) OVER {w} AS sd_cr_{d}",
        f"stddev_samp(vr) OVER {w} AS sd_vr_{d}",
        f"sum(adc) OVER {w} AS adc_{d}",
        f"avg(volume) OVER {w} AS vma_{d}",
        f"stddev_samp(volume) OVER {w} AS vsd_{d}",
        f"stddev_samp(wv) OVER {w} AS wvsd_{d}",
        f"avg(wv) OVER {w} AS wvma_{d}",
        f"sum(adv) OVER {w} AS adv_{d}",
    )


_OHL = ("open", "high", "low")

_KBAR = (
    ("KMID", "($close-$open)/$open", "(close - open) / open", ("open",)),
    ("KLEN", "($high-$low)/$open", "(high - low) / open", _OHL),
    ("KMID2", "($close-$open)/($high-$low+1e-12)", "(close - open) / (high - low + 1e-12)", _OHL),
    ("KUP", "($high-Greater($open, $close))/$open", "(high - greatest(open, close)) / open", ("open", "high")),
    ("KUP2", "($high-Greater($open, $close))/($high-$low+1e-12)",
     "(high - greatest(open, close)) / (high - low + 1e-12)", _OHL),
    ("KLOW", "(Less($open, $close)-$low)/$open", "(least(open, close) - low) / open", ("open", "low")),
    ("KLOW2", "(Less($open, $close)-$low)/($high-$low+1e-12)", "(least(open, close) - low) / (high - low + 1e-12)",
     _OHL),
    ("KSFT", "(2*$close-$high-$low)/$open", "(2 * close - high - low) / open", _OHL),
    ("KSFT2", "(2*$close-$high-$low)/($high-$low+1e-12)", "(2 * close - high - low) / (high - low + 1e-12)",
     ("high", "low")),
)

_PRICE = (
    ("OPEN0", "$open/$close", "open / close", "", ("open",)),
    ("HIGH0", "$high/$close", "high / close", "", ("high",)),
    ("LOW0", "$low/$close", "low / close", "", ("low",)),
    ("VWAP0", "$vwap/$close", "vwap / close",
     "VWAP from the source when present, else the typical price (high + low + close) / 3.", ("vwap",)),
)

_ROLLING_NEEDS: dict[str, tuple[str, ...]] = {
    "MAX": ("high",), "MIN": ("low",), "RSV": ("high", "low"), "IMAX": ("high",), "IMIN": ("low",),
    "IMXD": ("high", "low"), "CORR": ("volume",), "CORD": ("volume",), "VMA": ("volume",), "VSTD": ("volume",),
    "WVMA": ("volume",), "VSUMP": ("volume",), "VSUMN": ("volume",), "VSUMD": ("volume",),
}
"""Rolling operators reading more than the close; a row missing one of these fields gets NULL (its window
would otherwise mix days with and without the field)."""


def _rolling(d: int) -> list[tuple[str, str, str, str]]:
    """(name, qlib expression, SQL, note) of the 29 rolling operators for window d, in Qlib's order."""
    rsv_den = f"(hi_{d} - lo_{d} + 1e-12)"
    # Qlib's IdxMax is 1-based within the (possibly partial) window of n = least(rn, d) rows
    imax = f"(imax_rn_{d} - rn + n_{d})"
    imin = f"(imin_rn_{d} - rn + n_{d})"
    var_pos = f"(n_{d} * (n_{d} + 1) / 12.0)"
    slope = f"(cov_{d} / {var_pos})"
    r2 = f"(cov_{d} * cov_{d} / ({var_pos} * sd_{d} * sd_{d}))"
    rank_pct = f"((rka_{d} + n_{d} - rkd_{d} + 1) / 2.0 / n_{d})"
    # Sum(Greater(dx, 0)) = (Sum(|dx|) + Sum(dx)) / 2 and Sum(dx) telescopes to x - x[window start - 1] (the
    # series' first value while the window is partial): one window aggregate per series instead of three
    sum_dc = f"(close - coalesce(c_lag{d}, c_first))"
    sum_dv = f"(volume - coalesce(v_lag{d}, v_first))"
    gain, loss = f"((adc_{d} + {sum_dc}) / 2)", f"((adc_{d} - {sum_dc}) / 2)"
    vgain, vloss = f"((adv_{d} + {sum_dv}) / 2)", f"((adv_{d} - {sum_dv}) / 2)"
    sum_den = f"(adc_{d} + 1e-12)"
    vsum_den = f"(adv_{d} + 1e-12)"
    corr_nan = f"{_nz(f'sd_{d}')} OR {_nz(f'sd_lv_{d}')}"
    cord_nan = f"cum_bad_{d} > 0 OR {_nz(f'sd_cr_{d}')} OR {_nz(f'sd_vr_{d}')}"
    return [
        ("ROC", f"Ref($close, {d})/$close", f"c_lag{d} / close", ""),
        ("MA", f"Mean($close, {d})/$close", f"ma_{d} / close", ""),
        ("STD", f"Std($close, {d})/$close", f"sd_{d} / close", ""),
        ("BETA", f"Slope($close, {d})/$close", f"{slope} / close", "OLS slope of close on its position in the window."),
        ("RSQR", f"Rsquare($close, {d})", f"CASE WHEN NOT {_nz(f'sd_{d}')} THEN {r2} END",
         "NULL where the rolling std of close is ~0 (Qlib)."),
        ("RESI", f"Resi($close, {d})/$close",
         f"(close - (ma_{d} + {slope} * (n_{d} - 1) / 2.0)) / close",
         "Residual of the last point of the window regression."),
        ("MAX", f"Max($high, {d})/$close", f"hi_{d} / close", ""),
        ("MIN", f"Min($low, {d})/$close", f"lo_{d} / close", ""),
        ("QTLU", f"Quantile($close, {d}, 0.8)/$close", f"{_quantile(d, 0.8)} / close", "Linear interpolation (pandas)."),
        ("QTLD", f"Quantile($close, {d}, 0.2)/$close", f"{_quantile(d, 0.2)} / close", "Linear interpolation (pandas)."),
        ("RANK", f"Rank($close, {d})", rank_pct, "Average rank of today's close in the window / count."),
        ("RSV", f"($close-Min($low, {d}))/(Max($high, {d})-Min($low, {d})+1e-12)", f"(close - lo_{d}) / {rsv_den}",
         ""),
        ("IMAX", f"IdxMax($high, {d})/{d}", f"{imax} / {d}.0", "First occurrence of the max, 1-based."),
        ("IMIN", f"IdxMin($low, {d})/{d}", f"{imin} / {d}.0", "First occurrence of the min, 1-based."),
        ("IMXD", f"(IdxMax($high, {d})-IdxMin($low, {d}))/{d}", f"({imax} - {imin}) / {d}.0", ""),
        ("CORR", f"Corr($close, Log($volume+1), {d})", f"CASE WHEN NOT ({corr_nan}) THEN corr_{d} END",
         "NULL where either rolling std is ~0 (Qlib), e.g. constant volume."),
        ("CORD", f"Corr($close/Ref($close,1), Log($volume/Ref($volume, 1)+1), {d})",
         f"CASE WHEN NOT ({cord_nan}) THEN cord_{d} END",
         "NULL for windows containing a day after a zero-volume day (Qlib gives inf/NaN there)."),
        ("CNTP", f"Mean($close>Ref($close, 1), {d})", f"cum_up_{d} / n_{d}", "The first row counts as not up."),
        ("CNTN", f"Mean($close<Ref($close, 1), {d})", f"cum_dn_{d} / n_{d}", "The first row counts as not down."),
        ("CNTD", f"Mean($close>Ref($close, 1), {d})-Mean($close<Ref($close, 1), {d})", f"(cum_up_{d} - cum_dn_{d}) / n_{d}", ""),
        ("SUMP", f"Sum(Greater($close-Ref($close, 1), 0), {d})/(Sum(Abs($close-Ref($close, 1)), {d})+1e-12)",
         f"{gain} / {sum_den}", ""),
        ("SUMN", f"Sum(Greater(Ref($close, 1)-$close, 0), {d})/(Sum(Abs($close-Ref($close, 1)), {d})+1e-12)",
         f"{loss} / {sum_den}", ""),
        ("SUMD", f"(Sum(Greater($close-Ref($close, 1), 0), {d})-Sum(Greater(Ref($close, 1)-$close, 0), {d}))"
         f"/(Sum(Abs($close-Ref($close, 1)), {d})+1e-12)", f"{sum_dc} / {sum_den}", ""),
        ("VMA", f"Mean($volume, {d})/($volume+1e-12)", f"vma_{d} / (volume + 1e-12)",
         "Zero volume today gives a huge finite value, as in Qlib."),
        ("VSTD", f"Std($volume, {d})/($volume+1e-12)", f"vsd_{d} / (volume + 1e-12)", ""),
        ("WVMA", f"Std(Abs($close/Ref($close, 1)-1)*$volume, {d})/(Mean(Abs($close/Ref($close, 1)-1)*$volume, {d})"
         "+1e-12)", f"wvsd_{d} / (wvma_{d} + 1e-12)", ""),
        ("VSUMP", f"Sum(Greater($volume-Ref($volume, 1), 0), {d})/(Sum(Abs($volume-Ref($volume, 1)), {d})+1e-12)",
         f"{vgain} / {vsum_den}", ""),
        ("VSUMN", f"Sum(Greater(Ref($volume, 1)-$volume, 0), {d})/(Sum(Abs($volume-Ref($volume, 1)), {d})+1e-12)",
         f"{vloss} / {vsum_den}", ""),
        ("VSUMD", f"(Sum(Greater($volume-Ref($volume, 1), 0), {d})-Sum(Greater(Ref($volume, 1)-$volume, 0), {d}))"
         f"/(Sum(Abs($volume-Ref($volume, 1)), {d})+1e-12)", f"{sum_dv} / {vsum_den}", ""),
    ]


def _alpha158() -> FeatureSetDef:
    feats: list[FeatureDef] = []
    feats += [FeatureDef(n, q, s, "kbar", needs=needs) for n, q, s, needs in _KBAR]
    feats += [FeatureDef(n, q, s, "price", note, needs) for n, q, s, note, needs in _PRICE]
    # Qlib orders the rolling block operator by operator, each over all windows
    per_window = {d: _rolling(d) for d in WINDOWS}
    for i, (op, *_rest) in enumerate(per_window[WINDOWS[0]]):
        for d in WINDOWS:
            _op, q, s, note = per_window[d][i]
            feats.append(FeatureDef(f"{op}{d}", q, s, "rolling", note, _ROLLING_NEEDS.get(op, ())))
    s3: list[str] = []
    for d in WINDOWS:
        s3 += _a158_s3(d)
    windows = {f"w{d}": f"PARTITION BY symbol ORDER BY date ROWS BETWEEN {d - 1} PRECEDING AND CURRENT ROW"
               for d in WINDOWS}
    return FeatureSetDef(
        name="alpha158",
        version=2,
        description="Microsoft Qlib's Alpha158 (Alpha158DL): 9 kbar, 4 price, 29 rolling operators x 5 windows.",
        features=tuple(feats),
        s1=_A158_S1,
        s2=_A158_S2,
        s3=tuple(s3),
        windows=windows,
        lookback=max(WINDOWS),
    )


# ---------------------------------------------------------------------------------------------------------
# Market context: the symbol against its universe (equal-weighted mean of the symbols trading that day)
# ---------------------------------------------------------------------------------------------------------

MARKET_RET_WINDOWS: tuple[int, ...] = (1, 5, 21)
MARKET_VOL_WINDOWS: tuple[int, ...] = (5, 21, 63)
MARKET_BETA_WINDOWS: tuple[int, ...] = (21, 63)

_MKT_S1 = (
    "row_number() OVER ws AS rn",
    *(f"close / lag(close, {k}) OVER ws - 1 AS ret{k}" for k in MARKET_RET_WINDOWS),
)


def _market() -> FeatureSetDef:
    feats: list[FeatureDef] = []
    for k in MARKET_RET_WINDOWS:
        feats.append(FeatureDef(
            f"MKT_RELRET{k}", f"$close/Ref($close,{k})-1 - CSMean($close/Ref($close,{k})-1)",
            f"ret{k} - uret{k}", "market",
            f"{k}-session return minus the equal-weighted universe mean of the same return on that date."))
    for k in MARKET_VOL_WINDOWS:
        feats.append(FeatureDef(
            f"MKT_VOL{k}", f"Std(CSMean($close/Ref($close,1)-1), {k}) * sqrt(252)",
            f"CASE WHEN uvol_n{k} = {k} THEN uvol{k} * sqrt(252) END", "market",
            f"Annualised realised volatility of the universe mean daily return over {k} sessions (full window only)."))
    for k in MARKET_BETA_WINDOWS:
        feats.append(FeatureDef(
            f"MKT_BETA{k}", f"Slope of $close/Ref($close,1)-1 on CSMean(...) over {k} sessions",
            f"CASE WHEN beta_n{k} = {k} THEN beta{k} END", "market",
            f"OLS beta of the symbol's daily return on the universe mean return over {k} sessions (full window)."))
    s3: list[str] = []
    for k in MARKET_BETA_WINDOWS:
        s3 += [f"regr_slope(ret1, uret1) OVER b{k} AS beta{k}", f"regr_count(ret1, uret1) OVER b{k} AS beta_n{k}"]
    windows = {f"b{k}": f"PARTITION BY symbol ORDER BY date ROWS BETWEEN {k - 1} PRECEDING AND CURRENT ROW"
               for k in MARKET_BETA_WINDOWS}
    return FeatureSetDef(
        name="market",
        version=1,
        description="Market context: return relative to the universe, universe realised vol, beta to the universe.",
        features=tuple(feats),
        s1=_MKT_S1,
        s2=(),
        s3=tuple(s3),
        windows=windows,
        lookback=max(*MARKET_VOL_WINDOWS, *MARKET_BETA_WINDOWS, *MARKET_RET_WINDOWS),
        cross_sectional=True,
    )


FEATURE_SETS: dict[str, FeatureSetDef] = {fs.name: fs for fs in (_alpha158(), _market())}

__all__ = ["FEATURE_SETS", "WINDOWS", "FeatureDef", "FeatureSetDef"]
