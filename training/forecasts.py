"""Use case `run_train_forecasts`: train, compare, plot, register and promote the forecast model."""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from features.series import load_extra_features, load_portfolio_returns
from models.forecasts import (
    ForecastBundle,
    ForecastSettings,
    compute_equity,
    compute_forecast_fan,
    compute_holdout_metrics,
    compute_holdout_var_report,
    train_forecast_models,
)
from registry.core import CHAMPION
from registry.forecasts import PROMOTION_METRIC, load_forecast_model, log_forecast_model
from stores.jsonable import to_jsonable
from training.forecast_plots import save_calibration_plot, save_coverage_plot, save_fan_chart
from training.promotion import compute_forecast_promotion, record_promotion


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
    promotion: str = ""
    report_path: str | None = None
    timings_s: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)


def run_train_forecasts(ctx, on_step: Callable[[str], None] | None = None) -> ForecastTrainReport:
    """Train the candidates on the warehouse's portfolio equity, pick per-horizon champions on the
    holdout, log figures and the bundle to MLflow as `foresight-forecast`, and decide champion /
    challenger (training.promotion.compute_forecast_promotion). The backfill of the new champion's
    history is scoring's (flows.train.run_forecast_training runs both)."""
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
    last = compute_forecast_fan(bundle, returns, [returns.index[-1]], extra)
    fan = last[last["champion"]]
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
        holdout_json.write_text(json.dumps(to_jsonable({"holdout": holdout, "var": var}), indent=2), encoding="utf-8")
        timings["plots_var"] = time.perf_counter() - t1
        t2 = time.perf_counter()
        champion = load_forecast_model(ctx.mlflow, CHAMPION)
        version, run_id = log_forecast_model(
            ctx.mlflow, result,
            run_params={**cfg.model_dump(mode="json"), "n_sessions": len(returns),
                        "data_end": str(bundle.data_end), "train_end": str(bundle.train_end)},
            figures=figures, extra_artifacts={"holdout": holdout_json},
        )
        champion_skill = None
        if champion is not None:
            champion_skill = _champion_metric(champion.bundle)
        hold_dates = [f["date"] for f in result.holdout.values() if len(f)]
        window = (str(min(x.min() for x in hold_dates).date()), str(max(x.max() for x in hold_dates).date())) \
            if hold_dates else (str(bundle.train_end), str(bundle.data_end))
        decision = record_promotion(ctx.mlflow, compute_forecast_promotion(
            result.metrics.get(PROMOTION_METRIC, 0.0), champion_skill, new_version=version,
            champion_version=None if champion is None else champion.version, margin=cfg.promotion_margin,
            window=window, rows=int(sum(hm.holdout_n for hm in bundle.horizons.values())),
        ))
        timings["register"] = time.perf_counter() - t2
        reports = ctx.settings.reports_dir / "forecasts"
        reports.mkdir(parents=True, exist_ok=True)
        for p in figures.values():
            (reports / p.name).write_bytes(p.read_bytes())
    step(f"registered foresight-forecast v{version} as {decision.alias}: {decision.reason}")
    return ForecastTrainReport(
        model_version=version, run_id=run_id, alias=decision.alias, portfolio=cfg.portfolio,
        data_end=str(bundle.data_end), train_end=str(bundle.train_end),
        champions={str(h): hm.champion for h, hm in bundle.horizons.items()},
        holdout=to_jsonable(holdout), notes=bundle.notes, var=to_jsonable(var) if var else None,
        promotion=decision.describe(), timings_s=timings,
    )


def _champion_metric(bundle: ForecastBundle) -> float:
    """The champion's own holdout skill, as it was measured when it was trained."""
    return float(compute_holdout_metrics(bundle.horizons).get(PROMOTION_METRIC, 0.0))


def save_train_report(report: ForecastTrainReport, reports_dir: Path) -> Path:
    """Write `report` as reports_dir/forecasts/train_report.json; returns the path."""
    out = reports_dir / "forecasts" / "train_report.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    report.report_path = str(out)
    out.write_text(json.dumps(to_jsonable(report.as_dict()), indent=2, default=str), encoding="utf-8")
    return out


__all__ = ["ForecastTrainReport", "run_train_forecasts", "save_train_report"]
