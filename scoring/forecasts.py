"""Nightly forecast scoring and evaluation: publish the champion's fan, score every matured forecast.

Timing: a forecast made at `as_of` uses bars with date <= as_of. Its outcome is the portfolio equity at
the H-th session of the equity series after as_of; the evaluation row is written only once that session
is in the warehouse and not after the evaluation date, so nothing is scored before it matures. Writes
are keyed upserts: a re-run changes nothing.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from features.series import load_extra_features, load_portfolio_returns
from marketdata.calendar import sessions
from models.forecasts import (
    BASELINES,
    METHODS,
    ForecastSettings,
    compute_equity,
    compute_forecast_fan,
    compute_simulated_drawdowns,
)
from models.metrics import compute_pit, pinball_loss
from models.risk import compute_var_report, drawdown_percentile, max_drawdown
from registry.core import CHAMPION, FORECAST_MODEL, NoChampionError
from registry.forecasts import load_forecast_model
from stores.warehouse import transaction, upsert, utcnow

EVAL_LEVELS = (0.05, 0.5, 0.95)


# -- loading --------------------------------------------------------------------------------------------
def _session_after(as_of: dt.date, horizon: int, calendar: str) -> dt.date | None:
    days = sessions(as_of, as_of + dt.timedelta(days=horizon * 2 + 15), calendar)
    later = days[days > pd.Timestamp(as_of)]
    return later[horizon - 1].date() if len(later) >= horizon else None


# -- pure shaping ---------------------------------------------------------------------------------------
def compute_forecast_rows(
    fan: pd.DataFrame,
    portfolio: str,
    model_version: str,
    run_id: str | None,
    calendar: str = "XNYS",
    now: dt.datetime | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(forecasts, forecast_candidates) rows from `models.forecasts.compute_forecast_fan` output: the
    champion's percentiles with the session they mature on, and every candidate's."""
    if fan.empty:
        return pd.DataFrame(), pd.DataFrame()
    now = now or _now()
    q = fan
    cand = q[["as_of", "horizon_days", "method", "p01", "p05", "p50", "p95", "p99", "start_equity", "champion"]]
    cand = cand.assign(portfolio=portfolio, model_version=str(model_version), created_at=now)
    champ = q[q["champion"]].copy()
    cache: dict[tuple[dt.date, int], dt.date | None] = {}
    matures = []
    for a, h in zip(champ["as_of"], champ["horizon_days"], strict=True):
        key = (a, int(h))
        if key not in cache:
            cache[key] = _session_after(a, int(h), calendar)
        matures.append(cache[key])
    fc = pd.DataFrame({
        "as_of": champ["as_of"].to_numpy(),
        "portfolio": portfolio,
        "horizon_days": champ["horizon_days"].astype(int).to_numpy(),
        "p05": champ["p05"].to_numpy(), "p50": champ["p50"].to_numpy(), "p95": champ["p95"].to_numpy(),
        "start_equity": champ["start_equity"].to_numpy(),
        "model_name": FORECAST_MODEL, "model_version": str(model_version),
        "method": champ["method"].to_numpy(),
        "p01": champ["p01"].to_numpy(), "p99": champ["p99"].to_numpy(),
        "sigma_daily": champ["sigma_daily"].to_numpy(),
        "matures_on": matures,
        "in_sample": champ["in_sample"].astype(bool).to_numpy(),
        "run_id": run_id,
        "created_at": now,
    })
    return fc.reset_index(drop=True), cand.reset_index(drop=True)


def compute_evaluations(
    forecasts: pd.DataFrame,
    candidates: pd.DataFrame,
    equity: pd.Series,
    eval_date: dt.date,
    now: dt.datetime | None = None,
) -> pd.DataFrame:
    """Evaluation rows for the forecasts matured by `eval_date`: the H-th session of `equity` after
    as_of exists and is <= eval_date. Realised equity = start_equity x E[matured] / E[as_of], so a
    re-based equity index does not move outcomes. Pinball is in units of start equity."""
    if forecasts.empty:
        return pd.DataFrame()
    now = now or _now()
    eq = equity[pd.DatetimeIndex(equity.index) <= pd.Timestamp(eval_date)]
    dates = pd.DatetimeIndex(eq.index)
    values = eq.to_numpy()
    fc = forecasts.copy()
    pos = dates.get_indexer(pd.to_datetime(fc["as_of"]))
    target = pos + fc["horizon_days"].to_numpy().astype(int)
    ok = (pos >= 0) & (target < len(dates))
    fc = fc[ok].copy()
    if fc.empty:
        return pd.DataFrame()
    pos, target = pos[ok], target[ok]
    start = fc["start_equity"].to_numpy()
    realized = start * values[target] / values[pos]
    rel = realized / start
    out = pd.DataFrame({
        "as_of": fc["as_of"].to_numpy(), "portfolio": fc["portfolio"].to_numpy(),
        "horizon_days": fc["horizon_days"].to_numpy().astype(int), "realized": realized,
        "p05": fc["p05"].to_numpy(), "p50": fc["p50"].to_numpy(), "p95": fc["p95"].to_numpy(),
    })
    out["covered"] = (realized >= out["p05"]) & (realized <= out["p95"])
    pins = {}
    for lvl, tau in zip(("p05", "p50", "p95"), EVAL_LEVELS, strict=True):
        pins[lvl] = pinball_loss(rel, fc[lvl].to_numpy() / start, tau)
    out["pinball"] = np.mean(np.column_stack(list(pins.values())), axis=1)
    out["evaluated_at"] = now
    out["realized_on"] = dates[target].date
    out["start_equity"] = start
    out["model_name"] = fc["model_name"].to_numpy()
    out["model_version"] = fc["model_version"].astype(str).to_numpy()
    out["method"] = fc["method"].to_numpy()
    for lvl in ("p05", "p50", "p95"):
        out[f"pinball_{lvl}"] = pins[lvl]
    has_tails = fc["p01"].notna().to_numpy() & fc["p99"].notna().to_numpy()
    pit = compute_pit(realized, fc[["p05", "p50", "p95"]].to_numpy(), EVAL_LEVELS)
    if has_tails.any():
        pit5 = compute_pit(realized, fc[["p01", "p05", "p50", "p95", "p99"]].to_numpy(), (0.01, 0.05, 0.5, 0.95, 0.99))
        pit = np.where(has_tails, pit5, pit)
    out["pit"] = pit
    out["below_p05"] = realized < out["p05"].to_numpy()
    out["above_p95"] = realized > out["p95"].to_numpy()
    out["breach_99"] = np.where(has_tails, realized < fc["p01"].to_numpy(), None)
    # Candidates' pinball at the same origins (skill vs baselines from what was actually published).
    for m in METHODS:
        out[f"pinball_{m}"] = np.nan
    if candidates is not None and not candidates.empty:
        keys = ["as_of", "horizon_days"]
        for m in METHODS:
            c = candidates[candidates["method"] == m][[*keys, "p05", "p50", "p95", "start_equity"]]
            merged = out[keys].merge(c, on=keys, how="left")
            cs = merged["start_equity"].to_numpy()
            loss = np.mean(np.column_stack([
                pinball_loss(rel, merged[lvl].to_numpy() / cs, tau)
                for lvl, tau in zip(("p05", "p50", "p95"), EVAL_LEVELS, strict=True)
            ]), axis=1)
            out[f"pinball_{m}"] = loss
    sig = fc["sigma_daily"].to_numpy() if "sigma_daily" in fc else np.full(len(fc), np.nan)
    h = fc["horizon_days"].to_numpy().astype(float)
    out["width_ratio"] = np.log(fc["p95"].to_numpy() / fc["p05"].to_numpy()) / (sig * np.sqrt(h))
    out["in_sample"] = fc["in_sample"].astype(bool).to_numpy() if "in_sample" in fc else False
    return out.reset_index(drop=True)


def _non_overlapping(frame: pd.DataFrame) -> pd.DataFrame:
    """Greedy origins whose outcome windows do not overlap: the next origin is on/after the last outcome."""
    keep, last = [], None
    for i, (a, r) in enumerate(zip(frame["as_of"], frame["realized_on"], strict=True)):
        if last is None or a >= last:
            keep.append(i)
            last = r
    return frame.iloc[keep]


def compute_forecast_summary(evals: pd.DataFrame, include_in_sample: bool = False) -> dict[str, Any]:
    """Per horizon: coverage and each tail's rate at non-overlapping origins (and over all origins),
    mean pinball, pinball skill vs both baselines (1 - L_champion / L_baseline), PIT mean, and the
    median interval width relative to sigma*sqrt(H) (the Gaussian band is 3.29)."""
    if evals is None or evals.empty:
        return {}
    ev = evals if include_in_sample else evals[~evals["in_sample"].fillna(False).astype(bool)]
    out: dict[str, Any] = {}
    for h, g in ev.sort_values("as_of").groupby("horizon_days"):
        no = _non_overlapping(g)
        row = {
            "n": int(len(g)),
            "coverage": float(g["covered"].mean()),
            "lower_tail_rate": float(g["below_p05"].mean()),
            "upper_tail_rate": float(g["above_p95"].mean()),
            "n_non_overlapping": int(len(no)),
            "coverage_non_overlapping": float(no["covered"].mean()),
            "lower_tail_rate_non_overlapping": float(no["below_p05"].mean()),
            "upper_tail_rate_non_overlapping": float(no["above_p95"].mean()),
            "pinball": float(g["pinball"].mean()),
            "pit_mean": float(g["pit"].mean()),
            "width_ratio_median": float(g["width_ratio"].median()),
            "last_as_of": g["as_of"].max().isoformat() if hasattr(g["as_of"].max(), "isoformat") else None,
        }
        for b in BASELINES:
            col = g[f"pinball_{b}"].dropna()
            base = float(col.mean()) if len(col) else float("nan")
            row[f"pinball_{b}"] = base
            row[f"skill_vs_{b}"] = 1.0 - row["pinball"] / base if base and base == base else None
        out[str(int(h))] = row
    return out


def compute_var_kpis(
    evals: pd.DataFrame,
    var_horizon: int = 1,
    window: int = 250,
    returns: pd.Series | None = None,
    cfg: ForecastSettings | None = None,
) -> dict[str, Any] | None:
    """Kupiec / Christoffersen p-values (whole record) and the Basel zone (last `window` sessions) from
    the evaluated 1-day forecasts. With the portfolio `returns`, also the realised max drawdown of the
    last `window` sessions and its percentile among stationary-bootstrap paths drawn from the returns
    known before that window began."""

    if evals is None or evals.empty:
        return None
    g = evals[(evals["horizon_days"] == var_horizon)].sort_values("as_of")
    g = g[~g["in_sample"].fillna(False).astype(bool)] if len(g[~g["in_sample"].fillna(False)]) >= 20 else g
    if g.empty or "p01" not in g:
        return None
    start = g["start_equity"].to_numpy()
    pnl = g["realized"].to_numpy() / start - 1.0
    var95 = 1.0 - g["p05"].to_numpy() / start
    var99 = 1.0 - g["p01"].to_numpy() / start
    rep = compute_var_report(pnl, var95, var99, None, window)
    rep["first_as_of"] = g["as_of"].min().isoformat()
    rep["last_as_of"] = g["as_of"].max().isoformat()
    if returns is not None and len(g):
        tail = g.iloc[-window:]
        tail_pnl = pnl[-window:]
        first = pd.Timestamp(tail["as_of"].iloc[0])
        end_pos = int(np.searchsorted(pd.DatetimeIndex(returns.index), first, side="right")) - 1
        sims = compute_simulated_drawdowns(returns, end_pos, len(tail_pnl), cfg or ForecastSettings())
        realized = max_drawdown(tail_pnl)
        rep["realized_max_drawdown"] = realized
        rep["max_drawdown_window"] = int(len(tail_pnl))
        if len(sims):
            rep["max_drawdown_percentile"] = drawdown_percentile(realized, sims)
            rep["simulated_mdd_p50"] = float(np.median(sims))
            rep["simulated_mdd_p95"] = float(np.quantile(sims, 0.95))
    return rep


# -- I/O ------------------------------------------------------------------------------------------------
def _now() -> dt.datetime:
    return utcnow()


def save_forecasts(
    con, forecasts: pd.DataFrame, candidates: pd.DataFrame, overwrite: bool = False
) -> tuple[int, int]:
    """Upsert the champion rows and the candidates' rows; returns (rows written, candidate rows written).

    A published forecast is a record: a row already stored from another model version is kept unless
    `overwrite` (its evaluation is then refreshed by the next evaluation run).
    """
    if forecasts.empty:
        return 0, 0
    if not overwrite:
        keys = ["as_of", "portfolio", "horizon_days"]
        stored = con.execute(
            "SELECT as_of, portfolio, horizon_days, model_version AS stored_version FROM forecasts "
            "WHERE portfolio IN (SELECT unnest(?)) AND as_of BETWEEN ? AND ?",
            [sorted(forecasts["portfolio"].unique().tolist()), min(forecasts["as_of"]), max(forecasts["as_of"])],
        ).df()
        if not stored.empty:
            stored["as_of"] = pd.to_datetime(stored["as_of"]).dt.date
            m = forecasts.merge(stored, on=keys, how="left")
            keep = (m["stored_version"].isna() | (m["stored_version"] == m["model_version"])).to_numpy()
            kept_keys = forecasts.loc[keep, keys]
            forecasts = forecasts[keep]
            candidates = candidates.merge(kept_keys, on=keys, how="inner")[candidates.columns]
            if forecasts.empty:
                return 0, 0
    with transaction(con):
        a = upsert(con, "forecasts", forecasts, ["as_of", "portfolio", "horizon_days"],
                   ignore_in_compare=["created_at", "run_id"])
        b = upsert(con, "forecast_candidates", candidates, ["as_of", "portfolio", "horizon_days", "method"],
                   ignore_in_compare=["created_at"])
    return a.written, b.written


def save_evaluations(con, evals: pd.DataFrame) -> int:
    if evals.empty:
        return 0
    with transaction(con):
        res = upsert(con, "forecast_evaluations", evals, ["as_of", "portfolio", "horizon_days"],
                     ignore_in_compare=["evaluated_at"])
    return res.written


def load_forecasts(con, portfolio: str, unevaluated_only: bool = False, as_of: dt.date | None = None) -> pd.DataFrame:
    sql = "SELECT f.* FROM forecasts f WHERE f.portfolio = ? AND (CAST(? AS DATE) IS NULL OR f.as_of <= ?)"
    if unevaluated_only:
        # not evaluated yet, or evaluated against a forecast that was since overwritten
        sql += """ AND NOT EXISTS (SELECT 1 FROM forecast_evaluations e WHERE e.portfolio = f.portfolio
                   AND e.as_of = f.as_of AND e.horizon_days = f.horizon_days
                   AND e.model_version IS NOT DISTINCT FROM f.model_version AND e.p05 = f.p05
                   AND e.p50 = f.p50 AND e.p95 = f.p95)"""
    return con.execute(sql + " ORDER BY as_of, horizon_days", [portfolio, as_of, as_of]).df()


def load_evaluations(con, portfolio: str) -> pd.DataFrame:
    ev = con.execute(
        """SELECT e.*, f.p01, f.p99 FROM forecast_evaluations e LEFT JOIN forecasts f USING (as_of, portfolio, horizon_days)
           WHERE e.portfolio = ? ORDER BY e.as_of, e.horizon_days""",
        [portfolio],
    ).df()
    if not ev.empty:
        ev["as_of"] = pd.to_datetime(ev["as_of"]).dt.date
        ev["realized_on"] = pd.to_datetime(ev["realized_on"]).dt.date
    return ev


def _has_tables(con) -> bool:
    names = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    return {"forecasts", "forecast_evaluations"} <= names


def load_latest_forecast(con, portfolio: str, horizon: int | None = None) -> dict[str, Any] | None:
    """The latest published fan of `portfolio` (every horizon, or `horizon` only), or None.

    {"as_of", "portfolio", "forecasts": [{horizon_days, p05, p50, p95, p01, p99, start_equity,
    matures_on, model_name, model_version, method}]}.
    """
    if not _has_tables(con):
        return None
    rows = con.execute(
        """
        SELECT as_of, horizon_days, p05, p50, p95, p01, p99, start_equity, matures_on, model_name,
               model_version, method
        FROM forecasts
        WHERE portfolio = ? AND (CAST(? AS INTEGER) IS NULL OR horizon_days = ?)
          AND as_of = (SELECT max(as_of) FROM forecasts WHERE portfolio = ?
                       AND (CAST(? AS INTEGER) IS NULL OR horizon_days = ?))
        ORDER BY horizon_days
        """,
        [portfolio, horizon, horizon, portfolio, horizon, horizon],
    ).df()
    if rows.empty:
        return None
    fcs = []
    for r in rows.to_dict("records"):
        fcs.append({
            k: (None if isinstance(v, float) and np.isnan(v) else
                pd.Timestamp(v).date().isoformat() if isinstance(v, dt.date | pd.Timestamp) else v)
            for k, v in r.items() if k != "as_of"
        })
    as_of = rows["as_of"].iloc[0]
    return {"as_of": pd.Timestamp(as_of).date().isoformat(), "portfolio": portfolio, "forecasts": fcs}


def load_forecast_kpis(
    con, portfolio: str, window: int = 250, cfg: ForecastSettings | None = None
) -> dict[str, Any]:
    """KPI panel: coverage/tails/skill/width per horizon (out-of-sample evaluations) and the 1-day VaR
    backtest (Kupiec, Christoffersen, Basel zone over the last `window` sessions, realised max drawdown
    percentile). `cfg` gives the portfolio's weights (None = equal weight over the universe)."""
    if not _has_tables(con):
        return {"coverage": {}, "var": None, "var_zone": None, "n_evaluations": 0}
    ev = load_evaluations(con, portfolio)
    summary = compute_forecast_summary(ev)
    if not summary and not ev.empty:
        summary = compute_forecast_summary(ev, include_in_sample=True)
    cfg = cfg or ForecastSettings(portfolio=portfolio)
    returns = None
    if not ev.empty:
        try:
            returns = load_portfolio_returns(con, cfg)
        except ValueError:
            returns = None
    var = compute_var_kpis(ev, cfg.var_horizon, window, returns, cfg)
    return {
        "coverage": summary,
        "var": var,
        "var_zone": var.get("basel_zone") if var else None,
        "n_evaluations": int(len(ev)),
    }


# -- use cases ------------------------------------------------------------------------------------------
@dataclass
class ForecastRunReport:
    """What a scoring / backfill / evaluation run did."""

    portfolio: str
    as_of: str | None = None
    model_version: str | None = None
    forecasts_written: int = 0
    candidates_written: int = 0
    evaluations_written: int = 0
    as_of_dates: int = 0
    status: str = "ok"
    message: str = ""
    champions: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)


def _load_model(ctx):
    loaded = load_forecast_model(ctx.mlflow)
    if loaded is None:
        raise NoChampionError(FORECAST_MODEL, CHAMPION, "run `foresight train forecasts` first")
    return loaded


def _score_dates(
    ctx, dates: list[dt.date] | None, as_of: dt.date | None, loaded=None, overwrite: bool = False
) -> ForecastRunReport:
    cfg: ForecastSettings = ctx.settings.forecasts
    loaded = loaded or _load_model(ctx)
    bundle = loaded.bundle
    wh = ctx.warehouse
    wh.migrate()
    with wh.session() as con:
        returns = load_portfolio_returns(con, bundle.cfg, as_of)
        if dates is None:
            dates = [returns.index[-1].date()]
        extra = load_extra_features(con, bundle.cfg, ctx.settings.universe)
        fan = compute_forecast_fan(bundle, returns, dates, extra)
        run_id = uuid.uuid4().hex[:12]
        fc, cand = compute_forecast_rows(fan, cfg.portfolio, loaded.version, run_id, ctx.settings.calendar)
        n_fc, n_cand = save_forecasts(con, fc, cand, overwrite)
    report = ForecastRunReport(
        portfolio=cfg.portfolio, as_of=str(max(dates)) if dates else None, model_version=loaded.version,
        forecasts_written=n_fc, candidates_written=n_cand,
        as_of_dates=int(fc["as_of"].nunique()) if not fc.empty else 0,
        champions={str(h): hm.champion for h, hm in bundle.horizons.items()},
    )
    if fc.empty:
        report.status, report.message = "empty", "no session with enough history at the requested date(s)"
    return report


def run_score_forecasts(ctx, as_of: dt.date | None = None) -> ForecastRunReport:
    """Publish the champion's fan for `as_of` (default: the latest session in `bars`), every horizon.

    Uses bars with date <= as_of only; when as_of is not a session, the last session before it.
    """
    return _score_dates(ctx, None, as_of)


def run_evaluate_forecasts(ctx, as_of: dt.date | None = None) -> ForecastRunReport:
    """Write `forecast_evaluations` for every stored forecast matured by `as_of` (default: latest bar)
    and not yet evaluated. Idempotent."""
    cfg: ForecastSettings = ctx.settings.forecasts
    wh = ctx.warehouse
    wh.migrate()
    with wh.session() as con:
        fc = load_forecasts(con, cfg.portfolio, unevaluated_only=True, as_of=as_of)
        if fc.empty:
            return ForecastRunReport(portfolio=cfg.portfolio, as_of=str(as_of) if as_of else None,
                                     message="nothing to evaluate")
        fc["as_of"] = pd.to_datetime(fc["as_of"]).dt.date
        returns = load_portfolio_returns(con, cfg, as_of)
        eval_date = as_of or returns.index[-1].date()
        cand = con.execute(
            "SELECT * FROM forecast_candidates WHERE portfolio = ? AND as_of <= ?", [cfg.portfolio, eval_date]
        ).df()
        if not cand.empty:
            cand["as_of"] = pd.to_datetime(cand["as_of"]).dt.date
        ev = compute_evaluations(fc, cand, compute_equity(returns), eval_date)
        n = save_evaluations(con, ev)
    return ForecastRunReport(portfolio=cfg.portfolio, as_of=str(eval_date), evaluations_written=n,
                             message=f"{len(fc)} open forecasts, {n} matured and evaluated")


def run_backfill_forecasts(
    ctx,
    start: dt.date | None = None,
    end: dt.date | None = None,
    sessions: int | None = None,
    overwrite: bool = False,
) -> ForecastRunReport:
    """Forecasts at every session in [start, end] (default: the last `sessions` or
    `settings.forecasts.backfill_sessions` sessions up to the latest bar) with the current champion,
    then the evaluation of all that matured. Each as-of uses bars <= as_of only; as-of dates inside the
    boosters' training origins are flagged in_sample (kept out of the KPIs). Dates already published by
    another model version keep their record unless `overwrite`."""
    cfg: ForecastSettings = ctx.settings.forecasts
    loaded = _load_model(ctx)
    with ctx.warehouse.session(read_only=True) as con:
        dates_all = [d.date() for d in load_portfolio_returns(con, loaded.bundle.cfg, end).index]
    if start is not None:
        dates = [d for d in dates_all if d >= start]
    else:
        dates = dates_all[-(sessions or cfg.backfill_sessions):]
    if not dates:
        return ForecastRunReport(portfolio=cfg.portfolio, status="empty", message="no sessions in range")
    report = _score_dates(ctx, dates, end, loaded, overwrite)
    ev = run_evaluate_forecasts(ctx, end)
    report.evaluations_written = ev.evaluations_written
    return report


__all__ = [
    "ForecastRunReport",
    "compute_evaluations",
    "compute_forecast_rows",
    "compute_forecast_summary",
    "compute_var_kpis",
    "load_evaluations",
    "load_forecast_kpis",
    "load_forecasts",
    "load_latest_forecast",
    "run_backfill_forecasts",
    "run_evaluate_forecasts",
    "run_score_forecasts",
    "save_evaluations",
    "save_forecasts",
]
