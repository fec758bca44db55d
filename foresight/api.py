"""The read-only HTTP API: FastAPI routes over the precomputed tables, served from read snapshots."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Query, Request
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi_offline import FastAPIOffline
from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from foresight.auth import TokenAuth
from foresight.dashboard import mount_dashboard
from foresight.http_cache import SnapshotResponseCache, frozen_heap
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
_NO_NAMESPACE = ConfigDict(protected_namespaces=())


def _as_utc(value: dt.datetime) -> dt.datetime:
    """Stored timestamps are naive UTC; say so on the wire (RFC 3339 wants an offset)."""
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value


UtcDateTime = Annotated[dt.datetime, AfterValidator(_as_utc)]


class ErrorOut(BaseModel):
    """The one error body of every 4xx / 5xx answer."""

    error: str = Field(description="machine-readable kind: not_found, invalid, unavailable, method_not_allowed, "
                       "internal, ...", examples=["not_found"])
    detail: str = Field(description="what was wrong, for a person", examples=["unknown symbol 'ZZZ': no signals for it"])


class AttributionOut(BaseModel):
    feature: str = Field(description="feature name, or `other` for the sum of the remaining features")
    value: float | None = Field(None, description="the feature's value on that date (None for `other`)")
    contribution: float = Field(description="contribution to the raw score, in log-odds")


class SignalOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_SIGNAL_EXAMPLE]}, protected_namespaces=())

    symbol: str = Field(description="ticker, upper case")
    date: dt.date = Field(description="the session the signal was computed for (uses bars with date <= it)")
    probability: float = Field(description="P(forward return over H sessions > 0)")
    raw_score: float | None = Field(None, description="log-odds of the base model: base_value + sum(attribution)")
    base_value: float | None = Field(None, description="the model's expected raw score (attribution baseline)")
    model_name: str = Field(description="MLflow registered model that scored it")
    model_version: str = Field(description="its registered version")
    attribution: list[AttributionOut] = Field(
        description="top-k (feature, value, contribution in log-odds) plus an `other` term")
    run_id: str | None = Field(None, description="the scoring run that wrote the row")
    scored_at: UtcDateTime | None = Field(None, description="when the row was written (UTC)")


class RankedSignalOut(SignalOut):
    rank: int = Field(description="1 = highest probability of the date")


class CrossSectionOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"date": "2025-12-30", "count": 1, "signals": [{**_SIGNAL_EXAMPLE, "rank": 1}]}
    ]})

    date: dt.date = Field(description="the session of the cross-section")
    count: int = Field(description="number of signals returned")
    signals: list[RankedSignalOut] = Field(description="ranked by probability, highest first")


class RegimeOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "date": "2025-12-30", "universe": "default", "regime": "calm_bull",
        "probabilities": {"calm_bull": 0.82, "neutral": 0.15, "high_vol_bear": 0.03},
        "model_name": "foresight-regime", "model_version": "2", "scored_at": "2025-12-31T03:32:40",
    }]}, protected_namespaces=())

    date: dt.date = Field(description="the session the regime was filtered for (data up to and including it)")
    universe: str = Field(description="the universe the regime describes")
    regime: str = Field(description="label of the most probable state")
    probabilities: dict[str, float] | None = Field(None, description="filtered state probabilities by label")
    model_name: str | None = Field(None, description="MLflow registered model that scored it")
    model_version: str | None = Field(None, description="its registered version")
    scored_at: UtcDateTime | None = Field(None, description="when the row was written (UTC)")


class RegimeHistoryOut(BaseModel):
    start: dt.date = Field(description="first date returned")
    end: dt.date = Field(description="last date returned")
    count: int = Field(description="number of dates")
    regimes: list[RegimeOut] = Field(description="one regime per date, oldest first")


class HorizonForecastOut(BaseModel):
    model_config = _NO_NAMESPACE

    horizon_days: int = Field(description="sessions ahead")
    p05: float = Field(description="5th percentile of portfolio equity at the horizon")
    p50: float = Field(description="median of portfolio equity at the horizon")
    p95: float = Field(description="95th percentile of portfolio equity at the horizon")
    start_equity: float | None = Field(None, description="portfolio equity at as_of (the fan's origin)")
    model_name: str | None = Field(None, description="MLflow registered model that published the fan")
    model_version: str | None = Field(None, description="its registered version")
    method: str | None = Field(None, description="the champion candidate at this horizon: a learned model "
                               "(e.g. lightgbm_cqr) or a baseline (gaussian, bootstrap)")
    matures_on: dt.date | None = Field(None, description="the session the horizon ends on")


class ForecastOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "as_of": "2025-12-30", "portfolio": "equal_weight",
        "forecasts": [{"horizon_days": 21, "p05": 0.93, "p50": 1.01, "p95": 1.08, "start_equity": 1.0,
                       "model_name": "foresight-forecast", "model_version": "1", "method": "gaussian"}],
    }]})

    as_of: dt.date = Field(description="forecast origin (uses data up to and including it)")
    portfolio: str = Field(description="portfolio name")
    forecasts: list[HorizonForecastOut] = Field(description="one fan per horizon, shortest first")


class SignalsPanel(BaseModel):
    model_config = ConfigDict(extra="allow", protected_namespaces=())

    latest_date: dt.date | None = Field(None, description="newest scored date")
    symbols: int | None = Field(None, description="symbols scored on that date")
    model_version: str | None = Field(None, description="version of the most recent scoring")
    scored_at: UtcDateTime | None = Field(None, description="time of the most recent scoring (UTC)")
    mean_probability: float | None = Field(None, description="mean probability on the newest date")


class FreshnessPanel(BaseModel):
    model_config = ConfigDict(extra="allow")

    bars_last_date: dt.date | None = Field(None, description="newest market-data session")
    signals_last_date: dt.date | None = Field(None, description="newest signal date")
    snapshot_published_at: str | None = Field(None, description="when the served snapshot was published (UTC)")


class CoverageOut(BaseModel):
    model_config = ConfigDict(extra="allow")

    horizon_days: int | None = Field(None, description="sessions ahead")
    n: int | None = Field(None, description="matured forecasts counted (the last 250)")
    coverage: float | None = Field(None, description="share of realised equity inside [p05, p95] (target 0.90)")
    pinball: float | None = Field(None, description="mean pinball loss over p05/p50/p95, in return units")
    last_as_of: dt.date | None = Field(None, description="newest matured origin counted")


class BacktestPanel(BaseModel):
    model_config = ConfigDict(extra="allow", protected_namespaces=())

    run_id: str | None = Field(None, description="the stored backtest run")
    strategy: str | None = Field(None, description="strategy over the precomputed signals")
    sharpe: float | None = Field(None, description="annualised Sharpe ratio, net of costs")
    baseline_sharpe: float | None = Field(None, description="annualised Sharpe of the baseline (equal weight)")
    sharpe_delta: float | None = Field(None, description="sharpe - baseline_sharpe")
    sharpe_delta_ci: list[float | None] | None = Field(None, description="confidence interval of the delta [low, high]")
    psr: float | None = Field(None, description="probabilistic Sharpe ratio vs 0")
    max_drawdown: float | None = Field(None, description="largest peak-to-trough loss (fraction)")
    end_date: dt.date | None = Field(None, description="last session of the backtest")
    model_version: str | None = Field(None, description="signal model version backtested")


class MonitoringOut(BaseModel):
    model_config = ConfigDict(extra="allow", protected_namespaces=())

    model: str = Field(description="registered model watched")
    version: str | None = Field(None, description="its version")
    date: dt.date | None = Field(None, description="monitoring date")
    status: str = Field(description="OK, WARN or ALERT")
    reasons: str | None = Field(None, description="why the status is what it is")
    drift_share: float | None = Field(None, description="share of features whose distribution drifted")
    ece: float | None = Field(None, description="expected calibration error on the current window")
    ece_reference: float | None = Field(None, description="ECE on the reference window")
    coverage: float | None = Field(None, description="forecast band coverage (forecast model)")
    pinball: float | None = Field(None, description="mean pinball loss (forecast model)")
    prediction_drift: float | None = Field(None, description="drift score of the predictions")
    drifted_features: list[str] = Field(default_factory=list, description="features that drifted, worst first")
    report_path: str | None = Field(None, description="folder of the run's summary.json / report.json")
    json_path: str | None = Field(None, description="the Evidently JSON report")
    html_path: str | None = Field(None, description="the Evidently HTML report while it is kept "
                                  "(open it at /dashboard/reports/{model})")
    created_at: UtcDateTime | None = Field(None, description="when the monitoring row was written (UTC)")


class PipelinePanel(BaseModel):
    model_config = ConfigDict(extra="allow")

    run_id: str | None = Field(None, description="the nightly run")
    flow: str | None = Field(None, description="Prefect flow name")
    as_of: dt.date | None = Field(None, description="the session it processed")
    started_at: UtcDateTime | None = Field(None, description="start (UTC)")
    finished_at: UtcDateTime | None = Field(None, description="end (UTC)")
    status: str | None = Field(None, description="ok / failed / running")
    message: str | None = Field(None, description="what it said")


class KPIPanels(BaseModel):
    model_config = ConfigDict(extra="allow")

    signals: SignalsPanel | None = Field(None, description="the newest signals")
    freshness: FreshnessPanel | None = Field(None, description="how current the served data is")
    forecast_coverage: dict[str, CoverageOut] = Field(default_factory=dict,
                                                      description="band coverage and pinball by horizon (days)")
    backtest: BacktestPanel | None = Field(None, description="the newest stored backtest")
    monitoring: list[MonitoringOut] = Field(default_factory=list, description="newest status per model")
    pipeline: PipelinePanel | None = Field(None, description="the newest nightly pipeline run")
    forecast: dict[str, Any] | None = Field(
        None, description="forecast KPIs: `coverage` (per horizon: coverage, tail rates, pinball, skill vs the "
        "baselines), `var` (1-day VaR backtest: Kupiec / Christoffersen p-values, Basel zone, realised max "
        "drawdown and its percentile), `var_zone` (green / yellow / red), `n_evaluations`")
    leading_indicators: dict[str, Any] | None = Field(
        None, description="operating indicators measured every night (feature-pipeline SLA and its compliance over "
        "20 / 60 nights, regime refresh latency from the close and from ingest, freshness of each product, signal "
        "AUC / rank IC of the newest version): name -> {value, unit, target, status, as_of, ...}")
    lagging_indicators: dict[str, Any] | None = Field(
        None, description="the outcomes: Sharpe delta vs the baseline, 1-day 99% VaR exceptions (Basel zone), "
        "realised drawdown percentile: name -> {value, unit, target, status, ...}")


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

    regime: RegimeOut | None = Field(description="the current regime (None before any regime is scored)")
    panels: KPIPanels = Field(description="the KPI panels")


class HealthOut(BaseModel):
    status: str = Field(description="ok, or no_snapshot before the first publish", examples=["ok"])
    snapshot: dict[str, Any] | None = Field(
        None, description="the snapshot served: file, published_at, as_of, tables (row count per table)")


class BacktestRunOut(BaseModel):
    model_config = ConfigDict(extra="allow")

    run_id: str = Field(description="the stored run")
    created_at: str = Field(description="when it was stored (UTC)")
    strategy: str | None = Field(None, description="strategy over the precomputed signals")
    params: dict[str, Any] | None = Field(None, description="the BacktestSettings used")
    start_date: dt.date | None = Field(None, description="first session")
    end_date: dt.date | None = Field(None, description="last session")
    n_symbols: int | None = Field(None, description="symbols traded")
    n_sessions: int | None = Field(None, description="sessions simulated")
    cost_bps: float | None = Field(None, description="one-way cost in basis points")
    sharpe: float | None = Field(None, description="annualised Sharpe, net of costs")
    baseline_sharpe: float | None = Field(None, description="annualised Sharpe of the baseline")
    sharpe_delta: float | None = Field(None, description="sharpe - baseline_sharpe")
    sharpe_delta_ci: list[float | None] | None = Field(None, description="confidence interval of the delta")
    psr: float | None = Field(None, description="probabilistic Sharpe ratio vs 0")
    psr_vs_baseline: float | None = Field(None, description="probabilistic Sharpe ratio vs the baseline's")
    turnover: float | None = Field(None, description="mean daily turnover")
    break_even_bps: float | None = Field(None, description="cost at which the strategy ties the baseline")
    max_drawdown: float | None = Field(None, description="largest peak-to-trough loss (fraction)")
    max_drawdown_sessions: int | None = Field(None, description="its length in sessions")
    baseline_max_drawdown: float | None = Field(None, description="the baseline's largest drawdown")
    sharpe_by_cost: dict[str, Any] | None = Field(None, description="Sharpe, baseline and delta by cost (bps)")
    per_year: dict[str, Any] | None = Field(None, description="Sharpe, baseline and delta by calendar year")
    per_regime: dict[str, Any] | None = Field(None, description="Sharpe, baseline and delta by regime")


class RegimeStripOut(BaseModel):
    date: dt.date = Field(description="session")
    regime: str = Field(description="label of the most probable state")
    probability: float | None = Field(None, description="probability of that label")


class RegimeSummaryOut(BaseModel):
    regime: RegimeOut = Field(description="the regime now")
    since: dt.date = Field(description="first date of the current run of the same label")
    duration_sessions: int = Field(description="scored sessions the current label has held")
    history: list[RegimeStripOut] = Field(description="the last sessions' labels, oldest first (the history strip)")


class SkillMonthOut(BaseModel):
    month: str = Field(description="calendar month, YYYY-MM")
    n: int = Field(description="matured signals in the month")
    auc: float | None = Field(None, description="AUC of probability vs (forward return > 0)")
    ic: float | None = Field(None, description="mean daily Spearman rank IC of probability vs forward return")


class ReliabilityBinOut(BaseModel):
    bin_lower: float = Field(description="lower bound of the probability bin")
    bin_upper: float = Field(description="upper bound")
    count: int = Field(description="signals in the bin")
    mean_probability: float = Field(description="mean predicted probability")
    observed_frequency: float = Field(description="share whose forward return was > 0")


class SignalSkillOut(BaseModel):
    horizon: int = Field(description="H: the forward return spans the H sessions after the signal date")
    months: list[SkillMonthOut] = Field(description="AUC / IC per month, oldest first")
    reliability: list[ReliabilityBinOut] = Field(description="reliability curve over the calibration window")
    ece: float | None = Field(None, description="expected calibration error over the calibration window")
    n_calibration: int = Field(description="matured signals in the calibration window")
    calibration_start: dt.date | None = Field(None, description="first date of the calibration window")
    calibration_end: dt.date | None = Field(None, description="last date of the calibration window")


class FanHorizonOut(HorizonForecastOut):
    target_date: dt.date = Field(description="the session the horizon ends on (matures_on, else business days)")


class EquityPointOut(BaseModel):
    date: dt.date = Field(description="forecast origin")
    equity: float = Field(description="realised portfolio equity on that date")


class ForecastFanOut(BaseModel):
    as_of: dt.date = Field(description="origin of the latest fan")
    portfolio: str = Field(description="portfolio name")
    forecasts: list[FanHorizonOut] = Field(description="the latest 5/50/95 fan per horizon")
    realised: list[EquityPointOut] = Field(description="realised equity before the fan, oldest first")


class SymbolSignalOut(BaseModel):
    model_config = _NO_NAMESPACE

    date: dt.date = Field(description="signal date")
    probability: float = Field(description="P(forward return over H sessions > 0)")
    raw_score: float | None = Field(None, description="log-odds")
    model_version: str = Field(description="version that scored it")
    attribution: list[AttributionOut] = Field(description="top-k contributions plus `other`, in log-odds")


class PricePointOut(BaseModel):
    date: dt.date = Field(description="session")
    close: float | None = Field(None, description="adjusted close")


class SymbolHistoryOut(BaseModel):
    symbol: str = Field(description="ticker, upper case")
    prices: list[PricePointOut] = Field(description="adjusted close per session, oldest first")
    signals: list[SymbolSignalOut] = Field(description="signal and attribution per date, oldest first")


async def _factory(request: Request) -> ServiceFactory:
    # async: resolved on the event loop, not handed to the thread pool and back for an attribute read
    return request.app.state.factory


Factory = Annotated[ServiceFactory, Depends(_factory)]
Symbol = Annotated[str, PathParam(pattern=SYMBOL_PATTERN, max_length=16, examples=["SYM001"],
                                  description="ticker: letters, digits, '.', '-'")]
OptDate = Annotated[dt.date | None, Query(description="ISO date (YYYY-MM-DD); default: the latest",
                                          examples=["2025-12-30"])]
_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorOut, "description": "unknown symbol or date"},
    422: {"model": ErrorOut, "description": "malformed symbol, date or parameter"},
    503: {"model": ErrorOut, "description": "no read snapshot published yet"},
}


def _validation_detail(exc: RequestValidationError) -> str:
    parts = []
    for e in exc.errors():
        where = ".".join(str(x) for x in e.get("loc", ()) if x != "body")
        parts.append(f"{where}: {e.get('msg', 'invalid')}" if where else str(e.get("msg", "invalid")))
    return "; ".join(parts) or "invalid request"


def _error(status: int, error: str, detail: str) -> JSONResponse:
    return JSONResponse(status_code=status, content={"error": error, "detail": detail})


_HTTP_ERRORS = {404: "not_found", 405: "method_not_allowed", 406: "not_acceptable", 415: "unsupported_media_type"}


def create_app(settings: Settings | None = None, factory: ServiceFactory | None = None) -> FastAPI:
    """The API over `factory` (default: the services on the newest snapshot under FORESIGHT_HOME)."""
    if factory is None:
        settings = settings or Settings()
        factory = ServiceFactory.default(SnapshotReader(snapshot_dir(settings.home)), settings)
    # FastAPIOffline serves Swagger UI and ReDoc from the package's own files: /docs works offline.
    app = FastAPIOffline(
        lifespan=frozen_heap,
        title="Foresight",
        version="0.1.0",
        description="Read-only access to precomputed signals (D1), regimes (D2) and forecasts (D3). "
        "Served from immutable snapshots published by the nightly batch; every answer is computed once per "
        "snapshot. Every error is `{\"error\", \"detail\"}`. The analyst's page is at `/`.",
    )
    app.state.factory = factory

    @app.exception_handler(NotFoundError)
    async def _not_found(_: Request, exc: NotFoundError) -> JSONResponse:
        return _error(404, "not_found", str(exc))

    @app.exception_handler(SnapshotUnavailable)
    async def _unavailable(_: Request, exc: SnapshotUnavailable) -> JSONResponse:
        return _error(503, "unavailable", str(exc))

    @app.exception_handler(ValueError)
    async def _bad_value(_: Request, exc: ValueError) -> JSONResponse:
        return _error(422, "invalid", str(exc))

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return _error(422, "invalid", _validation_detail(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse(status_code=exc.status_code, headers=exc.headers,
                            content={"error": _HTTP_ERRORS.get(exc.status_code, "http_error"), "detail": str(exc.detail)})

    @app.exception_handler(Exception)
    async def _internal(_: Request, exc: Exception) -> JSONResponse:
        return _error(500, "internal", f"internal error ({type(exc).__name__})")

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

    @app.get("/signals/{symbol}/history", response_model=SymbolHistoryOut, tags=["signals"], responses=_ERRORS)
    def signal_history(
        f: Factory, symbol: Symbol,
        last: Annotated[int, Query(ge=1, le=2520, description="sessions back from the newest")] = 250,
    ) -> Any:
        """One symbol's adjusted close and its signal with attribution over time (the symbol page)."""
        return f.get("DashboardService").symbol_history(symbol, last)

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
        start: Annotated[dt.date | None, Query(description="first date (inclusive)", examples=["2025-01-02"])] = None,
        end: Annotated[dt.date | None, Query(description="last date (inclusive)", examples=["2025-12-30"])] = None,
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
        """The latest p05 / p50 / p95 equity forecasts of the portfolio, and which model made each."""
        return f.get("PortfolioService").forecast(horizon)

    @app.get("/dashboard/kpis", response_model=KPIsOut, tags=["dashboard"], responses=_ERRORS)
    def kpis(f: Factory) -> Any:
        """KPI panels with the current regime metadata alongside."""
        return f.get("DashboardService").kpis()

    @app.get("/dashboard/regime", response_model=RegimeSummaryOut, tags=["dashboard"], responses=_ERRORS)
    def regime_summary(f: Factory) -> Any:
        """The regime now, how long it has lasted and the history strip."""
        return f.get("DashboardService").regime_summary()

    @app.get("/dashboard/signal-skill", response_model=SignalSkillOut, tags=["dashboard"], responses=_ERRORS)
    def signal_skill(f: Factory) -> Any:
        """The signal model's AUC / IC trend by month and its calibration on matured signals."""
        return f.get("DashboardService").signal_skill()

    @app.get("/dashboard/forecast-fan", response_model=ForecastFanOut, tags=["dashboard"], responses=_ERRORS)
    def forecast_fan(f: Factory) -> Any:
        """The latest 5/50/95 fan per horizon with the realised equity before it."""
        return f.get("DashboardService").forecast_fan()

    @app.get("/dashboard/reports/{model}", tags=["dashboard"], response_class=FileResponse,
             responses={200: {"content": {"text/html": {}}, "description": "the Evidently HTML report"}, **_ERRORS})
    def monitoring_report(
        f: Factory,
        model: Annotated[str, PathParam(pattern=r"^[a-z0-9][a-z0-9_.\-]{0,63}$", examples=["foresight-signal"],
                                        description="registered model name")],
    ) -> Any:
        """The newest Evidently HTML report of a model (the one its monitoring status links to)."""
        path = f.get("DashboardService").monitoring_report(model)
        if not path.is_file():
            raise NotFoundError(f"the report of {model!r} was collected: {path.name} is gone")
        return FileResponse(path, media_type="text/html")

    @app.get("/backtest/runs", response_model=list[BacktestRunOut], tags=["backtest"], responses=_ERRORS)
    def backtest_runs(
        f: Factory, limit: Annotated[int, Query(ge=1, le=200, description="newest N runs")] = 10
    ) -> Any:
        """The latest stored backtest reports (`foresight backtest` writes them)."""
        return f.get("BacktestService").runs(limit)

    mount_dashboard(app)
    if isinstance(factory.reader, SnapshotReader):
        app.add_middleware(SnapshotResponseCache, reader=factory.reader, warm_paths=lambda: warm_paths(factory))
    if settings is not None and settings.api.token is not None:
        # Added last, so it runs first: a request without the token never reaches a route or the cache.
        app.add_middleware(TokenAuth, token=settings.api.token)
    return app


WARM_ROUTES = ("/dashboard/kpis", "/health")
"""Answered on a new snapshot before it is served, with every symbol's latest signal. The other routes are
prepared when they were asked on the snapshot served before (the cache's `warm_hot`): heavy panels nobody
opens (the signal skill's months of AUC) are not computed for nothing while readers are being served."""


def warm_paths(factory: ServiceFactory) -> list[str]:
    """The paths prepared on a newly published snapshot before it is served: `WARM_ROUTES` and
    `/signals/{symbol}` of every symbol scored on its newest date. Runs on that snapshot."""
    try:
        symbols = factory.get("MLSignalService").latest_symbols()
    except NotFoundError:
        symbols = []
    return [*WARM_ROUTES, *(f"/signals/{s}" for s in symbols)]


__all__ = ["WARM_ROUTES", "ErrorOut", "create_app", "warm_paths"]
