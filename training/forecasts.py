"""Use case `run_train_forecasts`: train, compare, plot, register the forecast model; optional backfill."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from models.forecasts import ForecastSettings


@dataclass
class ForecastTrainReport:
    """What a training run produced: version, alias, per-horizon champions and holdout numbers."""

    model_version: str
    run_id: str
    alias: str
    portfolio: str
    data_end: str
    train_end: str
    champions: dict[str, str]
    holdout: dict[str, dict]
    notes: list[str]
    var: dict | None = None
    backfill: dict | None = None
    kpis: dict | None = None
    report_path: str | None = None
    timings_s: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


def _json_safe(obj):
    if isinstance(obj, dict):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, float | np.floating):
        return None if not np.isfinite(obj) else float(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    return obj


def run_train_forecasts(
    ctx,
    backfill_sessions: int | None = None,
    on_step: Callable[[str], None] | None = None,
    overwrite: bool = False,
) -> ForecastTrainReport:
    """Train the candidates on the warehouse's portfolio equity, pick per-horizon champions on the
    holdout, log figures and the bundle to MLflow as `foresight-forecast` (champion / challenger alias),
    then backfill the last `backfill_sessions` (None = settings; 0 = none) and evaluate what matured.
    Dates already published by an earlier version keep their record unless `overwrite`."""
    import time

    from models.forecasts import (
        compute_equity,
        compute_forecast_quantiles,
        compute_holdout_var_report,
        train_forecast_models,
    )
    from registry.forecasts import log_forecast_model
    from scoring.forecasts import (
        compute_forecast_rows,
        load_extra_features,
        load_forecast_kpis,
        load_portfolio_returns,
        run_backfill_forecasts,
    )
    from training.forecast_plots import save_calibration_plot, save_coverage_plot, save_fan_chart

    step = on_step or (lambda _msg: None)
    cfg: ForecastSettings = ctx.settings.forecasts
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    ctx.warehouse.migrate()
    with ctx.warehouse.session(read_only=True) as con:
        returns = load_portfolio_returns(con, cfg)
        extra = load_extra_features(con, cfg, ctx.settings.universe)
    step(f"portfolio {cfg.portfolio}: {len(returns)} sessions to {returns.index[-1].date()}")
    result = train_forecast_models(returns, cfg, extra)
    timings["train"] = time.perf_counter() - t0
    step("candidates compared on the holdout")
    t1 = time.perf_counter()
    var = compute_holdout_var_report(result, returns, cfg)
    result.var_report = var
    if var:
        result.metrics.update({
            "var95_kupiec_p": var["var95"]["kupiec_p"], "var99_kupiec_p": var["var99"]["kupiec_p"],
            "var95_cc_p": var["var95"]["cc_p"], "var99_cc_p": var["var99"]["cc_p"],
            "var99_basel_exceptions": var["basel_exceptions"],
            "max_drawdown_percentile": var["max_drawdown_percentile"] if var["max_drawdown_percentile"] is not None else float("nan"),
        })
    bundle = result.bundle
    equity = compute_equity(returns)
    last = compute_forecast_quantiles(bundle, returns, [returns.index[-1]], extra)
    fan, _ = compute_forecast_rows(last, equity, cfg.portfolio, "preview", None, ctx.settings.calendar)
    quantiles = {h: hm.quantiles for h, hm in bundle.horizons.items()}
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        figures = {
            "fan": save_fan_chart(equity, fan[fan["horizon_days"] != cfg.var_horizon] if len(fan) > 1 else fan,
                                  d / "fan_chart.png", title=f"{cfg.portfolio}: equity and forecast fan"),
            "calibration": save_calibration_plot(result.holdout, quantiles, d / "calibration.png"),
            "coverage": save_coverage_plot(result.holdout, quantiles, d / "rolling_coverage.png"),
        }
        holdout_json = d / "holdout_summary.json"
        holdout = {
            str(h): {
                "champion": hm.champion, "n": hm.holdout_n, "pinball": hm.holdout_pinball,
                "coverage": hm.holdout_coverage, "tails": hm.holdout_tails, "skill": hm.skill, "note": hm.note,
            }
            for h, hm in bundle.horizons.items()
        }
        holdout_json.write_text(json.dumps(_json_safe({"holdout": holdout, "var": var}), indent=2), encoding="utf-8")
        timings["plots_var"] = time.perf_counter() - t1
        t2 = time.perf_counter()
        version, run_id, alias = log_forecast_model(
            ctx.mlflow, result,
            run_params={**cfg.model_dump(mode="json"), "n_sessions": len(returns),
                        "data_end": str(bundle.data_end), "train_end": str(bundle.train_end)},
            figures=figures, extra_artifacts={"holdout": holdout_json}, margin=cfg.promotion_margin,
        )
        timings["register"] = time.perf_counter() - t2
        reports = ctx.settings.reports_dir / "forecasts"
        reports.mkdir(parents=True, exist_ok=True)
        for p in figures.values():
            (reports / p.name).write_bytes(p.read_bytes())
    step(f"registered foresight-forecast v{version} as {alias}")
    report = ForecastTrainReport(
        model_version=version, run_id=run_id, alias=alias, portfolio=cfg.portfolio,
        data_end=str(bundle.data_end), train_end=str(bundle.train_end),
        champions={str(h): hm.champion for h, hm in bundle.horizons.items()},
        holdout=_json_safe(holdout), notes=bundle.notes, var=_json_safe(var) if var else None,
    )
    n_back = cfg.backfill_sessions if backfill_sessions is None else backfill_sessions
    if n_back > 0:
        t3 = time.perf_counter()
        back = run_backfill_forecasts(ctx, sessions=n_back, overwrite=overwrite)
        report.backfill = back.to_dict()
        timings["backfill"] = time.perf_counter() - t3
        with ctx.warehouse.session(read_only=True) as con:
            report.kpis = _json_safe(load_forecast_kpis(con, cfg.portfolio, cfg.var_window, cfg))
        step(f"backfilled {back.as_of_dates} sessions, {back.evaluations_written} evaluations")
    report.timings_s = timings
    out = ctx.settings.reports_dir / "forecasts" / "train_report.json"
    out.write_text(json.dumps(_json_safe(report.to_dict()), indent=2, default=str), encoding="utf-8")
    report.report_path = str(out)
    return report


__all__ = ["ForecastTrainReport", "run_train_forecasts"]
