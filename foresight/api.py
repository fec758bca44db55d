"""The read-only HTTP API: FastAPI routes over the precomputed tables, served from read snapshots."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from foresight.services import SYMBOL_PATTERN, NotFoundError, ServiceFactory
from foresight.settings import Settings
from stores.snapshots import SnapshotReader, SnapshotUnavailable, snapshot_dir

_ATTRIBUTION_EXAMPLE = [
    {"feature": "ret_10d", "value": -0.041, "contribution": 0.112},
    {"feature": "vol_21d", "value": 0.018, "contribution": -0.034},
    {"feature": "other", "value": None, "contribution": 0.006},
]
_SIGNAL_EXAMPLE = {
    "symbol": "SYM001", "date": "2025-12-30", "probability": 0.571, "raw_score": 0.285, "base_value": 0.201,
    "model_name": "foresight-signal", "model_version": "3", "attribution": _ATTRIBUTION_EXAMPLE,
    "run_id": "5f1c0a9e2b7d", "scored_at": "2025-12-31T03:31:12",
}


class ErrorOut(BaseModel):
    error: str = Field(examples=["not_found"])
    detail: str = Field(examples=["unknown symbol 'ZZZ': no signals for it"])


class SignalOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_SIGNAL_EXAMPLE]}, protected_namespaces=())

    symbol: str
    date: dt.date
    probability: float = Field(description="P(forward return over H sessions > 0)")
    raw_score: float | None = Field(None, description="log-odds of the base model: base_value + sum(attribution)")
    base_value: float | None = Field(None, description="the model's expected raw score (attribution baseline)")
    model_name: str
    model_version: str
    attribution: Any = Field(description="top-k (feature, value, contribution in log-odds) plus an `other` term")
    run_id: str | None = None
    scored_at: dt.datetime | None = None


class RankedSignalOut(SignalOut):
    rank: int


class CrossSectionOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"date": "2025-12-30", "count": 1, "signals": [{**_SIGNAL_EXAMPLE, "rank": 1}]}
    ]})

    date: dt.date
    count: int
    signals: list[RankedSignalOut]


class RegimeOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "date": "2025-12-30", "universe": "default", "regime": "calm_bull",
        "probabilities": {"calm_bull": 0.82, "neutral": 0.15, "high_vol_bear": 0.03},
        "model_name": "foresight-regime", "model_version": "2", "scored_at": "2025-12-31T03:32:40",
    }]}, protected_namespaces=())

    date: dt.date
    universe: str
    regime: Any
    probabilities: Any = None
    model_name: str | None = None
    model_version: str | None = None
    scored_at: dt.datetime | None = None


class RegimeHistoryOut(BaseModel):
    start: dt.date
    end: dt.date
    count: int
    regimes: list[RegimeOut]


class HorizonForecastOut(BaseModel):
    model_config = ConfigDict(protected_namespaces=())

    horizon_days: int
    p05: float
    p50: float
    p95: float
    start_equity: float | None = None
    model_name: str | None = None
    model_version: str | None = None


class ForecastOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "as_of": "2025-12-30", "portfolio": "equal_weight",
        "forecasts": [{"horizon_days": 21, "p05": 0.93, "p50": 1.01, "p95": 1.08, "start_equity": 1.0,
                       "model_name": "foresight-forecast", "model_version": "1"}],
    }]})

    as_of: dt.date
    portfolio: str
    forecasts: list[HorizonForecastOut]


class KPIsOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "regime": {"date": "2025-12-30", "universe": "default", "regime": "calm_bull",
                   "probabilities": {"calm_bull": 0.82}, "model_name": "foresight-regime", "model_version": "2"},
        "panels": {
            "signals": {"latest_date": "2025-12-30", "symbols": 50, "model_version": "3", "mean_probability": 0.51},
            "freshness": {"bars_last_date": "2025-12-30", "signals_last_date": "2025-12-30",
                          "snapshot_published_at": "2025-12-31T03:33:05"},
            "forecast_coverage": {"21": {"n": 240, "coverage": 0.91, "pinball": 0.011}},
            "backtest": {"sharpe": 1.4, "baseline_sharpe": 0.8, "sharpe_delta": 0.6},
            "monitoring": [{"model": "foresight-signal", "version": "3", "date": "2025-12-30", "status": "OK",
                            "drift_share": 0.05, "ece": 0.012, "ece_reference": 0.010, "drifted_features": [],
                            "html_path": "/home/.foresight/reports/foresight-signal/2025-12-30/report.html"}],
        },
    }]})

    regime: dict[str, Any] | None
    panels: dict[str, Any]


class HealthOut(BaseModel):
    status: str = Field(examples=["ok"])
    snapshot: dict[str, Any] | None = None


def _factory(request: Request) -> ServiceFactory:
    return request.app.state.factory


Factory = Annotated[ServiceFactory, Depends(_factory)]
Symbol = Annotated[str, PathParam(pattern=SYMBOL_PATTERN, max_length=16, examples=["SYM001"],
                                  description="ticker: letters, digits, '.', '-'")]
OptDate = Annotated[dt.date | None, Query(description="ISO date (YYYY-MM-DD); default: the latest",
                                          examples=["2025-12-30"])]
_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorOut, "description": "unknown symbol or date"},
    422: {"description": "malformed symbol, date or parameter"},
    503: {"model": ErrorOut, "description": "no read snapshot published yet"},
}


def create_app(settings: Settings | None = None, factory: ServiceFactory | None = None) -> FastAPI:
    """The API over `factory` (default: the services on the newest snapshot under FORESIGHT_HOME)."""
    if factory is None:
        settings = settings or Settings()
        factory = ServiceFactory.default(SnapshotReader(snapshot_dir(settings.home)), settings)
    app = FastAPI(
        title="Foresight",
        version="0.1.0",
        description="Read-only access to precomputed signals (D1), regimes (D2) and forecasts (D3). "
        "Served from immutable snapshots published by the nightly batch.",
    )
    app.state.factory = factory

    @app.exception_handler(NotFoundError)
    async def _not_found(_: Request, exc: NotFoundError) -> JSONResponse:
        return JSONResponse(status_code=404, content={"error": "not_found", "detail": str(exc)})

    @app.exception_handler(SnapshotUnavailable)
    async def _unavailable(_: Request, exc: SnapshotUnavailable) -> JSONResponse:
        return JSONResponse(status_code=503, content={"error": "unavailable", "detail": str(exc)})

    @app.exception_handler(ValueError)
    async def _bad_value(_: Request, exc: ValueError) -> JSONResponse:
        return JSONResponse(status_code=422, content={"error": "invalid", "detail": str(exc)})

    @app.get("/health", response_model=HealthOut, tags=["meta"], responses={503: {"model": HealthOut}})
    def health(f: Factory) -> Any:
        """Liveness and the snapshot being served."""
        reader = f.reader
        info = reader.info() if hasattr(reader, "info") else None
        if info is None and isinstance(reader, SnapshotReader):
            return JSONResponse(status_code=503, content={"status": "no_snapshot", "snapshot": None})
        snap = None if info is None else {
            "file": info.path.name, "published_at": info.published_at, "as_of": info.as_of, "tables": info.tables
        }
        return {"status": "ok", "snapshot": snap}

    @app.get("/signals/{symbol}", response_model=SignalOut, tags=["signals"], responses=_ERRORS)
    def signal(f: Factory, symbol: Symbol, date: OptDate = None) -> Any:
        """One symbol's signal: probability, model name/version and attribution (latest date by default)."""
        return f.get("MLSignalService").signal(symbol, date)

    @app.get("/signals", response_model=CrossSectionOut, tags=["signals"], responses=_ERRORS)
    def cross_section(
        f: Factory,
        date: OptDate = None,
        top: Annotated[int | None, Query(ge=1, le=100_000, description="keep the top N", examples=[10])] = None,
    ) -> Any:
        """The cross-section of one date ranked by probability (highest first)."""
        return f.get("MLSignalService").cross_section(date, top)

    @app.get("/market-data/regime", response_model=RegimeOut, tags=["regimes"], responses=_ERRORS)
    def regime(f: Factory, date: OptDate = None) -> Any:
        """The market regime label and state probabilities of a date (filtered, never smoothed)."""
        return f.get("RegimeService").current(date)

    @app.get("/market-data/regime/history", response_model=RegimeHistoryOut, tags=["regimes"], responses=_ERRORS)
    def regime_history(
        f: Factory,
        start: Annotated[dt.date | None, Query(examples=["2025-01-02"])] = None,
        end: Annotated[dt.date | None, Query(examples=["2025-12-30"])] = None,
    ) -> Any:
        """Regimes between start and end (inclusive)."""
        if start and end and start > end:
            raise ValueError(f"start {start} is after end {end}")
        return f.get("RegimeService").history(start, end)

    @app.get("/portfolio/forecast", response_model=ForecastOut, tags=["portfolio"], responses=_ERRORS)
    def forecast(
        f: Factory,
        horizon: Annotated[int | None, Query(ge=1, le=2520, description="sessions ahead", examples=[21])] = None,
    ) -> Any:
        """The latest p05 / p50 / p95 equity forecasts of the portfolio."""
        return f.get("PortfolioService").forecast(horizon)

    @app.get("/dashboard/kpis", response_model=KPIsOut, tags=["dashboard"], responses=_ERRORS)
    def kpis(f: Factory) -> Any:
        """KPI panels with the current regime metadata alongside."""
        return f.get("DashboardService").kpis()

    @app.get("/backtest/runs", tags=["backtest"], responses=_ERRORS)
    def backtest_runs(
        f: Factory, limit: Annotated[int, Query(ge=1, le=200)] = 10
    ) -> list[dict[str, Any]]:
        """The latest stored backtest reports (`foresight backtest` writes them)."""
        return f.get("BacktestService").runs(limit)

    return app


__all__ = ["create_app"]
