"""The MLflow pyfunc faces of the three models: each `predict` is the models/ function the nightly scorer runs.

- `SignalPyfunc`: symbol, date and the raw feature columns (whole cross-sections per date) ->
  `models.signals.compute_signal_scores`: probability, raw_score, base_value, attribution (JSON).
- `RegimePyfunc`: date and the market return `ret` from the first session of history ->
  `models.regimes.compute_regime_frame` with the model's walk-forward schedule and hysteresis thresholds
  (regime, probabilities JSON, regime_probability, raw_regime, regime_age, fit_end, in_sample, ...), plus
  one probability column per state label.
- `ForecastPyfunc`: date, the portfolio `return` from the first session, optionally a boolean `as_of`
  column marking the origins to forecast (default: the last date), and any extra feature columns the
  bundle was trained with -> `models.forecasts.compute_forecast_fan`, champion rows only: as_of,
  horizon_days, method, p01, p05, p50, p95, p99, start_equity, sigma_daily, in_sample.

So a model reviewer who loads `models:/NAME@champion` runs exactly what wrote the night's tables.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

import mlflow.pyfunc
import pandas as pd

from models.forecasts import compute_forecast_fan
from models.regimes import RegimeParams, compute_regime_frame
from models.signals import Calibrator, SignalModel, compute_signal_scores, load_booster

DEFAULT_TOP_K = 5


class SignalPyfunc(mlflow.pyfunc.PythonModel):
    """Calibrated probabilities with attribution; the native model stays reachable as `.signal_model`."""

    def load_context(self, context) -> None:
        meta = json.loads(Path(context.artifacts["meta"]).read_text())
        booster = load_booster(meta["family"], context.artifacts["booster"])
        self.signal_model = SignalModel(
            meta["family"], booster, Calibrator.from_dict(meta["calibrator"]), meta["feature_columns"],
            params=meta.get("params", {}), cs_rank=meta.get("cs_rank", True), meta=meta.get("meta", {}),
        )

    def predict(self, context, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        top_k = int((params or {}).get("top_k", DEFAULT_TOP_K))
        return compute_signal_scores(self.signal_model, model_input, top_k)


class RegimePyfunc(mlflow.pyfunc.PythonModel):
    """Causal filtered state probabilities and the hysteresis regime of every input date."""

    def load_context(self, context) -> None:
        self.params = RegimeParams.from_json(Path(context.artifacts["params"]).read_text(encoding="utf-8"))

    def predict(self, context, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        frame = compute_regime_frame(model_input["date"], model_input["ret"].to_numpy(dtype=float), self.params)
        # one column per state as well, for a reader who wants the numbers rather than the JSON
        probs = pd.DataFrame([json.loads(p) for p in frame["probabilities"]], index=frame.index)
        return pd.concat([frame.drop(columns=["log_density"]), probs[list(self.params.labels)]], axis=1)


class ForecastPyfunc(mlflow.pyfunc.PythonModel):
    """The champion's 5/50/95 (and 1/99) equity percentiles per horizon at the requested as-of dates."""

    def load_context(self, context) -> None:
        with open(context.artifacts["bundle"], "rb") as fh:
            self.bundle = pickle.load(fh)

    def predict(self, context, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        index = pd.DatetimeIndex(pd.to_datetime(model_input["date"]))
        returns = pd.Series(model_input["return"].to_numpy(dtype=float), index=index)
        extra_cols = [c for c in model_input.columns if c not in ("date", "return", "as_of")]
        extra = model_input[extra_cols].set_axis(index).astype(float) if extra_cols else None
        origins = index[model_input["as_of"].to_numpy(dtype=bool)] if "as_of" in model_input else index[-1:]
        fan = compute_forecast_fan(self.bundle, returns, [d.date() for d in origins], extra)
        return fan[fan["champion"]].drop(columns=["champion"]).reset_index(drop=True)


__all__ = ["DEFAULT_TOP_K", "ForecastPyfunc", "RegimePyfunc", "SignalPyfunc"]
