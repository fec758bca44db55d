"""Services over the precomputed tables and the ServiceFactory that registers them.

Routes, flows and the backtest ask the factory for a service by name; every service reads through a
`reader` (a `SnapshotReader` in the API, a `WarehouseReader` on the command line) whose `cursor()`
yields a DuckDB connection on one consistent state. Every query is parameterised.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import duckdb
import numpy as np
import pandas as pd

from backtest.config import BacktestSettings
from backtest.runner import load_backtest_runs, run_backtest
from foresight.settings import Settings
from models.forecasts import ForecastSettings
from models.metrics import compute_auc, compute_daily_rank_ic, compute_ece, compute_reliability
from monitoring.indicators import load_leading_indicators
from monitoring.store import load_latest_monitoring
from scoring.forecasts import load_forecast_kpis
from scoring.regimes import load_current_regime, load_regime_history
from scoring.signals import load_signal, load_signal_cross_section
from stores.jsonable import to_jsonable
from stores.warehouse import Warehouse

SYMBOL_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9.\-]{0,15}$"
_SYMBOL_RE = re.compile(SYMBOL_PATTERN)


class NotFoundError(LookupError):
    """The asked-for symbol, date or record does not exist (the API answers 404)."""


class Reader(Protocol):
    def cursor(self): ...  # a context manager yielding a duckdb connection


def normalise_symbol(symbol: str) -> str:
    """Validate a ticker (letters, digits, '.', '-'; at most 16 chars) and upper-case it."""
    if not _SYMBOL_RE.match(symbol or ""):
        raise ValueError(f"malformed symbol {symbol!r}")
    return symbol.upper()


def _tables(con: duckdb.DuckDBPyConnection) -> set[str]:
    return {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    return [d[0] for d in con.execute(f"SELECT * FROM {table} LIMIT 0").description]


def _known_tables(reader: Reader, con: duckdb.DuckDBPyConnection) -> frozenset[str] | set[str]:
    """The reader's cached table set when it has one (immutable snapshots), else ask the connection."""
    tables = getattr(reader, "tables", None)
    return tables() if callable(tables) else _tables(con)


def _memo(reader: Reader, key: Any, compute: Callable[[], Any]) -> Any:
    """Per-snapshot memo when the reader has one (immutable snapshots), else compute every time."""
    memo = getattr(reader, "memo", None)
    return memo(key, compute) if callable(memo) else compute()


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any]) -> list[dict[str, Any]]:
    cur = con.execute(sql, params)
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]


def _json(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.date | dt.datetime) else value


class MarketDataService:
    """Bars and data-quality flags."""

    def __init__(self, reader: Reader):
        self.reader = reader

    def symbols(self) -> list[str]:
        with self.reader.cursor() as con:
            return [r[0] for r in con.execute("SELECT DISTINCT symbol FROM bars ORDER BY symbol").fetchall()]

    def known_symbol(self, con: duckdb.DuckDBPyConnection, symbol: str) -> bool:
        return bool(con.execute("SELECT count(*) FROM bars WHERE symbol = ?", [symbol]).fetchall()[0][0])

    def bars(self, symbol: str, start: dt.date | None = None, end: dt.date | None = None) -> list[dict[str, Any]]:
        symbol = normalise_symbol(symbol)
        with self.reader.cursor() as con:
            rows = _rows(
                con,
                """
                SELECT symbol, date, open, high, low, close, adj_close, volume FROM bars
                WHERE symbol = ? AND (? IS NULL OR date >= ?) AND (? IS NULL OR date <= ?) ORDER BY date
                """,
                [symbol, start, start, end, end],
            )
        if not rows:
            raise NotFoundError(f"no bars for symbol {symbol!r} in the requested range")
        return rows

    def quality(self, symbol: str | None = None) -> list[dict[str, Any]]:
        with self.reader.cursor() as con:
            if "data_quality" not in _known_tables(self.reader, con):
                return []
            return _rows(
                con,
                'SELECT symbol, date, "check", severity, detail FROM data_quality '
                "WHERE (? IS NULL OR symbol = ?) ORDER BY date DESC LIMIT 500",
                [symbol, symbol],
            )

    def last_bar_date(self) -> dt.date | None:
        with self.reader.cursor() as con:
            if "bars" not in _known_tables(self.reader, con):
                return None
            return con.execute("SELECT max(date) FROM bars").fetchall()[0][0]


class MLSignalService:
    """Precomputed D1 signals: one symbol's latest (or dated) signal and the ranked cross-section."""

    def __init__(self, reader: Reader):
        self.reader = reader
        self._latest_lock = threading.Lock()

    @staticmethod
    def _shape(row: dict[str, Any]) -> dict[str, Any]:
        attribution = _json(row.get("attribution"))
        return {
            "symbol": row["symbol"],
            "date": _iso(row["date"]),
            "probability": row["probability"],
            "raw_score": row.get("raw_score"),
            "base_value": row.get("base_value"),
            "model_name": row["model_name"],
            "model_version": str(row["model_version"]),
            "attribution": attribution if attribution is not None else [],
            "run_id": row.get("run_id"),
            "scored_at": _iso(row.get("scored_at")),
        }

    def latest_date(self) -> dt.date | None:
        with self.reader.cursor() as con:
            if "signals" not in _known_tables(self.reader, con):
                return None
            return con.execute("SELECT max(date) FROM signals").fetchall()[0][0]

    def signal(self, symbol: str, date: dt.date | None = None) -> dict[str, Any]:
        """The signal of `symbol` at `date` (default: its latest); the most recently scored version wins."""
        symbol = normalise_symbol(symbol)
        with self.reader.cursor() as con:
            if date is None and callable(getattr(self.reader, "memo", None)):
                # One query gives the newest date's cross-section: after a publish, the first asks of 500
                # symbols cost one query instead of 500 (the lock: one thread computes it, the rest wait).
                with self._latest_lock:
                    latest = _memo(self.reader, ("latest_signals",), lambda: self._latest_signals(con))
                if symbol in latest:
                    return latest[symbol]
            return _memo(self.reader, ("signal", symbol, date), lambda: self._signal(con, symbol, date))

    def latest_symbols(self) -> list[str]:
        """The symbols scored on the newest date (each one's `signal(symbol)` is its row of that date)."""
        with self.reader.cursor() as con:
            with self._latest_lock:
                latest = _memo(self.reader, ("latest_signals",), lambda: self._latest_signals(con))
            return sorted(latest)

    def _latest_signals(self, con: duckdb.DuckDBPyConnection) -> dict[str, dict[str, Any]]:
        """symbol -> its signal on the newest date, the row `_signal(symbol, None)` picks for every symbol
        scored on that date (a symbol whose latest date is older is not in it)."""
        if "signals" not in _known_tables(self.reader, con):
            return {}
        _, rows = load_signal_cross_section(con)
        return {r["symbol"]: self._shape(r) for r in rows}

    def _signal(self, con: duckdb.DuckDBPyConnection, symbol: str, date: dt.date | None) -> dict[str, Any]:
        if "signals" not in _known_tables(self.reader, con):
            raise NotFoundError("no signals published yet: run `foresight score`")
        row = load_signal(con, symbol, date)
        if row is None:
            known = con.execute("SELECT count(*) FROM signals WHERE symbol = ?", [symbol]).fetchall()[0][0]
            if not known:
                raise NotFoundError(f"unknown symbol {symbol!r}: no signals for it")
            raise NotFoundError(f"no signal for {symbol} on {date}")
        return self._shape(row)

    def cross_section(self, date: dt.date | None = None, top: int | None = None) -> dict[str, Any]:
        """All symbols' signals of one date (default: the latest), ranked by probability."""
        with self.reader.cursor() as con:
            return _memo(self.reader, ("cross_section", date, top), lambda: self._cross_section(con, date, top))

    def _cross_section(self, con: duckdb.DuckDBPyConnection, date: dt.date | None, top: int | None) -> dict[str, Any]:
        if "signals" not in _known_tables(self.reader, con):
            raise NotFoundError("no signals published yet: run `foresight score`")
        asked = date
        date, rows = load_signal_cross_section(con, date, top)
        if date is None:
            raise NotFoundError("no signals published yet: run `foresight score`")
        if not rows:
            raise NotFoundError(f"no signals on {asked}")
        items = [{**self._shape(r), "rank": i + 1} for i, r in enumerate(rows)]
        return {"date": _iso(date), "count": len(items), "signals": items}


class RegimeService:
    """D2 regimes mirrored in DuckDB: the label of a date and the history."""

    def __init__(self, reader: Reader, universe: str = "default"):
        self.reader = reader
        self.universe = universe

    @staticmethod
    def _shape(row: dict[str, Any]) -> dict[str, Any]:
        return {
            "date": _iso(row["date"]),
            "universe": row["universe"],
            "regime": row["regime"],
            "probabilities": _json(row.get("probabilities")),
            "model_name": row.get("model_name"),
            "model_version": None if row.get("model_version") is None else str(row["model_version"]),
            "scored_at": _iso(row.get("scored_at")),
        }

    def _check(self, con: duckdb.DuckDBPyConnection) -> None:
        if "regimes" not in _known_tables(self.reader, con):
            raise NotFoundError("no regimes published yet: run `foresight train regimes` then `foresight score`")

    def current(self, date: dt.date | None = None) -> dict[str, Any]:
        """The regime at `date` (default: the latest scored date); filtered, never smoothed."""
        with self.reader.cursor() as con:
            self._check(con)
            row = load_current_regime(con, self.universe, date)
        if row is None or (date is not None and row["date"] != date):
            raise NotFoundError(f"no regime for {date or 'any date'} (universe {self.universe})")
        return self._shape(row)

    def history(self, start: dt.date | None = None, end: dt.date | None = None) -> dict[str, Any]:
        with self.reader.cursor() as con:
            self._check(con)
            rows = load_regime_history(con, self.universe, start, end).to_dict("records")
        if not rows:
            raise NotFoundError(f"no regimes between {start} and {end}")
        return {"start": rows[0]["date"].isoformat(), "end": rows[-1]["date"].isoformat(), "count": len(rows),
                "regimes": [self._shape(r) for r in rows]}


class PortfolioService:
    """D3: the portfolio's percentile equity forecasts and their evaluation (also registered as
    ForecastService)."""

    def __init__(self, reader: Reader, portfolio: str = "equal_weight", cfg: ForecastSettings | None = None):
        self.reader = reader
        self.portfolio = portfolio
        self.cfg = cfg or ForecastSettings(portfolio=portfolio)

    def forecast(self, horizon: int | None = None, as_of: dt.date | None = None) -> dict[str, Any]:
        """The latest (or `as_of`) forecast of every horizon, or of `horizon` only."""
        with self.reader.cursor() as con:
            if "forecasts" not in _known_tables(self.reader, con):
                raise NotFoundError("no forecasts published yet: run `foresight train forecasts` then `foresight score`")
            # `method` (which candidate or baseline is the champion) and `matures_on` where the table has them.
            extra = [c for c in ("method", "matures_on") if c in _columns(con, "forecasts")]
            rows = _rows(
                con,
                f"""
                SELECT as_of, portfolio, horizon_days, p05, p50, p95, start_equity, model_name, model_version
                       {"".join(", " + c for c in extra)}
                FROM forecasts
                WHERE portfolio = ? AND as_of = coalesce(?, (SELECT max(as_of) FROM forecasts WHERE portfolio = ?))
                  AND (? IS NULL OR horizon_days = ?)
                ORDER BY horizon_days
                """,
                [self.portfolio, as_of, self.portfolio, horizon, horizon],
            )
        if not rows:
            what = f"horizon {horizon}" if horizon is not None else "any horizon"
            raise NotFoundError(f"no forecast for portfolio {self.portfolio!r} at {what}")
        return {
            "as_of": _iso(rows[0]["as_of"]),
            "portfolio": self.portfolio,
            "forecasts": [
                {k: (str(v) if k == "model_version" and v is not None else _iso(v)) for k, v in r.items()
                 if k not in ("as_of", "portfolio")}
                for r in rows
            ],
        }

    def kpis(self) -> dict[str, Any]:
        """The forecast KPIs (scoring.forecasts.load_forecast_kpis): coverage, tail rates, pinball skill and
        PIT per horizon on out-of-sample evaluations, the 1-day VaR backtest (Kupiec, Christoffersen, Basel
        zone) and the realised max drawdown's percentile. Once per snapshot."""
        with self.reader.cursor() as con:
            return _memo(self.reader, ("forecast_kpis", self.portfolio), lambda: to_jsonable(
                load_forecast_kpis(con, self.portfolio, self.cfg.var_window, self.cfg)))

    def coverage(self) -> dict[str, Any]:
        """Per horizon: evaluations, band coverage, mean pinball and the last evaluated as-of (from `kpis`)."""
        return {h: {"horizon_days": int(h), "n": row["n"], "coverage": row["coverage"], "pinball": row["pinball"],
                    "last_as_of": row["last_as_of"]}
                for h, row in self.kpis()["coverage"].items()}


class BacktestService:
    """Backtests over precomputed signals: run one (needs the warehouse writer) and read stored runs."""

    def __init__(self, reader: Reader, settings: Settings | None = None):
        self.reader = reader
        self.settings = settings

    def runs(self, limit: int = 20) -> list[dict[str, Any]]:
        with self.reader.cursor() as con:
            return _memo(self.reader, ("backtest_runs", limit), lambda: to_jsonable(load_backtest_runs(con, limit)))

    def latest(self) -> dict[str, Any] | None:
        runs = self.runs(1)
        return runs[0] if runs else None

    def run(self, cfg=None):
        """Backtest with `cfg` (default: settings.backtest); stores the run; returns (run_id, result)."""

        if self.settings is None:
            raise RuntimeError("BacktestService.run needs the Settings (warehouse path, reports dir)")
        cfg = cfg or getattr(self.settings, "backtest", None) or BacktestSettings()
        return run_backtest(Warehouse(self.settings.duckdb_path), cfg, self.settings.reports_dir)


def compute_lagging_indicators(forecast: dict[str, Any] | None, backtest: dict[str, Any] | None) -> dict[str, Any]:
    """The outcomes the leading indicators should foretell, in the same shape (name -> {value, unit, target,
    status}): the strategy's Sharpe delta vs its baseline, and the 1-day 99% VaR exceptions against the
    realised drawdown's percentile in the forecast distribution."""
    out: dict[str, Any] = {}
    if backtest and backtest.get("sharpe_delta") is not None:
        lo = (backtest.get("sharpe_delta_ci") or [None, None])[0]
        out["sharpe_delta_vs_baseline"] = {
            "value": backtest["sharpe_delta"], "unit": "", "target": 0.0,
            "status": "OK" if lo is not None and lo > 0 else "WARN" if backtest["sharpe_delta"] > 0 else "ALERT",
            "ci": backtest.get("sharpe_delta_ci"), "model_version": backtest.get("model_version")}
    var = (forecast or {}).get("var") or {}
    if var.get("basel_exceptions") is not None:
        zone = var.get("basel_zone")
        out["var99_exceptions"] = {
            "value": var["basel_exceptions"], "unit": f"in {var.get('basel_window')} sessions", "target": None,
            "status": {"green": "OK", "yellow": "WARN", "red": "ALERT"}.get(zone, "WARN"), "basel_zone": zone}
    if var.get("max_drawdown_percentile") is not None:
        pct = var["max_drawdown_percentile"]
        out["drawdown_percentile"] = {
            "value": pct, "unit": "percentile", "target": 95.0, "status": "OK" if pct <= 95 else "WARN",
            "realized_max_drawdown": var.get("realized_max_drawdown")}
    return out


class DashboardService:
    """KPI panels: signals, current regime metadata, forecast coverage, backtest, pipeline freshness,
    monitoring (newest status per model)."""

    def __init__(self, factory: ServiceFactory):
        self.factory = factory

    def kpis(self) -> dict[str, Any]:
        """Every panel, computed once per snapshot."""
        with self.factory.reader.cursor():
            return _memo(self.factory.reader, ("kpis",), self._kpis)

    def _kpis(self) -> dict[str, Any]:
        f = self.factory
        reader = f.reader
        panels: dict[str, Any] = {}
        with reader.cursor() as con:
            tables = _known_tables(reader, con)
            if "signals" in tables:
                r = _rows(
                    con,
                    """
                    SELECT max(date) AS latest_date,
                           count(DISTINCT symbol) FILTER (WHERE date = (SELECT max(date) FROM signals)) AS symbols,
                           arg_max(model_version, scored_at) AS model_version, max(scored_at) AS scored_at,
                           avg(probability) FILTER (WHERE date = (SELECT max(date) FROM signals)) AS mean_probability
                    FROM signals
                    """,
                    [],
                )[0]
                panels["signals"] = {k: (str(v) if k == "model_version" and v is not None else _iso(v))
                                     for k, v in r.items()}
            if "pipeline_runs" in tables:
                last = _rows(
                    con,
                    "SELECT run_id, flow, as_of, started_at, finished_at, status, message FROM pipeline_runs "
                    "ORDER BY started_at DESC LIMIT 1",
                    [],
                )
                panels["pipeline"] = {k: _iso(v) for k, v in last[0].items()} if last else None
            bars_last = con.execute("SELECT max(date) FROM bars").fetchall()[0][0] if "bars" in tables else None
            panels["monitoring"] = []
            if "monitoring_runs" in tables:
                panels["monitoring"] = [{k: _iso(v) for k, v in row.items()} for row in load_latest_monitoring(con)]
            # Operating indicators measured each night (monitoring.indicators): name -> {value, unit, target,
            # status, ...}; their history stays in `operating_indicators`.
            panels["leading_indicators"] = (to_jsonable(load_leading_indicators(con))
                                            if "operating_indicators" in tables else {})
        try:
            regime = f.get("RegimeService").current()
        except NotFoundError:
            regime = None
        info = reader.info() if hasattr(reader, "info") else None
        panels["freshness"] = {
            "bars_last_date": _iso(bars_last),
            "signals_last_date": panels.get("signals", {}).get("latest_date"),
            "snapshot_published_at": info.published_at if info else None,
        }
        portfolio = f.get("PortfolioService")
        panels["forecast"] = portfolio.kpis()
        panels["forecast_coverage"] = portfolio.coverage()
        latest_bt = f.get("BacktestService").latest()
        panels["backtest"] = (
            {k: latest_bt.get(k) for k in ("run_id", "strategy", "sharpe", "baseline_sharpe", "sharpe_delta",
                                          "sharpe_delta_ci", "psr", "max_drawdown", "end_date", "model_version")}
            if latest_bt else None
        )
        panels["lagging_indicators"] = compute_lagging_indicators(panels["forecast"], latest_bt)
        return {"regime": regime, "panels": panels}

    def regime_summary(self, last: int = 250) -> dict[str, Any]:
        """The regime now, since when it has held (consecutive scored dates with the same label) and the
        label of each of the last `last` dates (the history strip)."""
        reader = self.factory.reader
        with reader.cursor():
            return _memo(reader, ("regime_summary", last), lambda: self._regime_summary(last))

    def _regime_summary(self, last: int) -> dict[str, Any]:
        regimes = self.factory.get("RegimeService")
        current = regimes.current()
        history = regimes.history()["regimes"]
        labels = [r["regime"] for r in history]
        run = 0
        for label in reversed(labels):
            if label != current["regime"]:
                break
            run += 1
        since = history[len(history) - run]["date"] if run else current["date"]
        strip = [{"date": r["date"], "regime": r["regime"],
                  "probability": (r["probabilities"] or {}).get(r["regime"]) if isinstance(r["probabilities"], dict)
                  else None} for r in history[-last:]]
        return {"regime": current, "since": since, "duration_sessions": run, "history": strip}

    def signal_skill(self, horizon: int | None = None, last_sessions: int = 250) -> dict[str, Any]:
        """The served signal model's skill on matured signals: AUC of (forward return > 0) and mean daily
        rank IC per month, and the reliability curve + ECE over the last `last_sessions` matured dates.
        The forward return of date t spans the `horizon` sessions after t, from `bars.adj_close`."""
        reader = self.factory.reader
        signals_cfg = getattr(self.factory.settings, "signals", None)
        h = horizon or (signals_cfg.horizon if signals_cfg is not None else 5)
        with reader.cursor() as con:
            return _memo(reader, ("signal_skill", h, last_sessions),
                         lambda: self._signal_skill(con, h, last_sessions))

    def _signal_skill(self, con: duckdb.DuckDBPyConnection, h: int, last_sessions: int) -> dict[str, Any]:
        empty = {"horizon": h, "months": [], "reliability": [], "ece": None, "n_calibration": 0,
                 "calibration_start": None, "calibration_end": None}
        if not {"signals", "bars"} <= _known_tables(self.factory.reader, con):
            return empty
        frame = con.execute(
            """
            WITH s AS (
                SELECT symbol, date, probability FROM signals
                QUALIFY row_number() OVER (PARTITION BY symbol, date ORDER BY scored_at DESC, model_version DESC) = 1
            ), b AS (
                SELECT symbol, date,
                       lead(adj_close, ?) OVER (PARTITION BY symbol ORDER BY date) / adj_close - 1 AS fwd_return
                FROM bars
            )
            SELECT s.date, s.symbol, s.probability, b.fwd_return
            FROM s JOIN b USING (symbol, date) WHERE b.fwd_return IS NOT NULL ORDER BY s.date, s.symbol
            """,
            [h],
        ).df()
        if frame.empty:
            return empty
        frame["date"] = pd.to_datetime(frame["date"])
        frame["y"] = (frame["fwd_return"] > 0).astype(int)
        months = []
        for month, g in frame.groupby(frame["date"].dt.to_period("M")):
            ic = compute_daily_rank_ic(g["date"], g["probability"].to_numpy(), g["fwd_return"].to_numpy())
            both = g["y"].nunique() == 2
            months.append({
                "month": str(month), "n": int(len(g)),
                "auc": compute_auc(g["y"].to_numpy(), g["probability"].to_numpy()) if both else None,
                "ic": float(ic.mean()) if len(ic) else None,
            })
        dates = np.sort(frame["date"].unique())[-last_sessions:]
        recent = frame[frame["date"] >= dates[0]]
        curve = compute_reliability(recent["y"].to_numpy(), recent["probability"].to_numpy(), n_bins=10)
        return {
            "horizon": h,
            "months": months,
            "reliability": to_jsonable(curve.to_dict("records")),
            "ece": float(compute_ece(recent["y"].to_numpy(), recent["probability"].to_numpy(), n_bins=10)),
            "n_calibration": int(len(recent)),
            "calibration_start": pd.Timestamp(dates[0]).date().isoformat(),
            "calibration_end": pd.Timestamp(dates[-1]).date().isoformat(),
        }

    def forecast_fan(self, last: int = 250) -> dict[str, Any]:
        """The realised equity of the portfolio (the start equity of each forecast origin, last `last`
        origins) and the latest 5/50/95 fan per horizon with the model (or baseline method) that made it."""
        reader = self.factory.reader
        with reader.cursor() as con:
            return _memo(reader, ("forecast_fan", last), lambda: self._forecast_fan(con, last))

    def _forecast_fan(self, con: duckdb.DuckDBPyConnection, last: int) -> dict[str, Any]:
        portfolio = self.factory.get("PortfolioService").portfolio
        fan = self.factory.get("PortfolioService").forecast()
        realised = _rows(
            con,
            """
            SELECT as_of AS date, arg_min(start_equity, horizon_days) AS equity FROM forecasts
            WHERE portfolio = ? GROUP BY as_of ORDER BY as_of DESC LIMIT ?
            """,
            [portfolio, last],
        )
        as_of = dt.date.fromisoformat(fan["as_of"])
        bands = []
        for row in fan["forecasts"]:
            target = row.get("matures_on") or np.busday_offset(as_of, int(row["horizon_days"]), roll="forward")
            bands.append({**row, "target_date": _iso(pd.Timestamp(target).date())})
        return {"as_of": fan["as_of"], "portfolio": portfolio, "forecasts": bands,
                "realised": [{"date": _iso(r["date"]), "equity": r["equity"]} for r in reversed(realised)]}

    def symbol_history(self, symbol: str, last: int = 250) -> dict[str, Any]:
        """One symbol's last `last` sessions: adjusted close, and its signal with attribution per date
        (the most recently scored version of each date)."""
        symbol = normalise_symbol(symbol)
        reader = self.factory.reader
        with reader.cursor() as con:
            return _memo(reader, ("symbol_history", symbol, last), lambda: self._symbol_history(con, symbol, last))

    def _symbol_history(self, con: duckdb.DuckDBPyConnection, symbol: str, last: int) -> dict[str, Any]:
        tables = _known_tables(self.factory.reader, con)
        prices = _rows(con, "SELECT date, adj_close AS close FROM bars WHERE symbol = ? ORDER BY date DESC LIMIT ?",
                       [symbol, last]) if "bars" in tables else []
        signals = _rows(
            con,
            """
            SELECT date, probability, raw_score, attribution, model_version FROM signals WHERE symbol = ?
            QUALIFY row_number() OVER (PARTITION BY date ORDER BY scored_at DESC, model_version DESC) = 1
            ORDER BY date DESC LIMIT ?
            """,
            [symbol, last],
        ) if "signals" in tables else []
        if not prices and not signals:
            raise NotFoundError(f"unknown symbol {symbol!r}: no bars and no signals for it")
        return {
            "symbol": symbol,
            "prices": [{"date": _iso(r["date"]), "close": r["close"]} for r in reversed(prices)],
            "signals": [{"date": _iso(r["date"]), "probability": r["probability"], "raw_score": r["raw_score"],
                         "model_version": str(r["model_version"]), "attribution": _json(r["attribution"]) or []}
                        for r in reversed(signals)],
        }

    def monitoring_report(self, model: str) -> Path:
        """The newest kept Evidently HTML report of `model` (the path the monitoring run recorded)."""
        for row in self.kpis()["panels"].get("monitoring") or []:
            if row.get("model") == model:
                if row.get("html_path"):
                    return Path(row["html_path"])
                raise NotFoundError(f"the newest report of {model!r} ({row.get('date')}) kept no HTML")
        raise NotFoundError(f"no monitoring run for model {model!r}")


class ServiceFactory:
    """A small registry: name -> builder; services are built once, on first use."""

    def __init__(self, reader: Reader, settings: Settings | None = None):
        self.reader = reader
        self.settings = settings
        self._builders: dict[str, Callable[[ServiceFactory], Any]] = {}
        self._instances: dict[str, Any] = {}

    def register(self, name: str, builder: Callable[[ServiceFactory], Any]) -> None:
        self._builders[name] = builder
        self._instances.pop(name, None)

    def alias(self, name: str, target: str) -> None:
        """`name` resolves to the same instance as `target`."""
        self.register(name, lambda f: f.get(target))

    def get(self, name: str) -> Any:
        if name not in self._instances:
            if name not in self._builders:
                raise KeyError(f"no service {name!r}; registered: {sorted(self._builders)}")
            self._instances[name] = self._builders[name](self)
        return self._instances[name]

    @property
    def names(self) -> list[str]:
        return sorted(self._builders)

    @classmethod
    def default(cls, reader: Reader, settings: Settings | None = None) -> ServiceFactory:
        """The six services: market data, signals, regimes, portfolio (also as ForecastService), dashboard,
        backtest."""
        f = cls(reader, settings)
        universe = settings.universe if settings else "default"
        forecasts = settings.forecasts if settings else ForecastSettings()
        f.register("MarketDataService", lambda f: MarketDataService(f.reader))
        f.register("MLSignalService", lambda f: MLSignalService(f.reader))
        f.register("RegimeService", lambda f: RegimeService(f.reader, universe))
        f.register("PortfolioService", lambda f: PortfolioService(f.reader, forecasts.portfolio, forecasts))
        f.alias("ForecastService", "PortfolioService")
        f.register("DashboardService", lambda f: DashboardService(f))
        f.register("BacktestService", lambda f: BacktestService(f.reader, f.settings))
        return f


__all__ = [
    "SYMBOL_PATTERN",
    "BacktestService",
    "DashboardService",
    "MLSignalService",
    "MarketDataService",
    "NotFoundError",
    "PortfolioService",
    "RegimeService",
    "ServiceFactory",
    "compute_lagging_indicators",
    "normalise_symbol",
]
