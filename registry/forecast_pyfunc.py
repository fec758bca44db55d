"""pyfunc face of the forecast bundle (imported only when logging or loading through mlflow.pyfunc)."""

from __future__ import annotations

import pickle

import mlflow.pyfunc


class ForecastPyfunc(mlflow.pyfunc.PythonModel):
    """predict(DataFrame[date, return]) -> the champion's log-return quantiles at the last date."""

    def load_context(self, context):
        with open(context.artifacts["bundle"], "rb") as fh:
            self.bundle = pickle.load(fh)

    def predict(self, context, model_input, params=None):
        import pandas as pd

        from models.forecasts import compute_forecast_quantiles

        r = pd.Series(model_input["return"].to_numpy(), index=pd.to_datetime(model_input["date"]))
        out = compute_forecast_quantiles(self.bundle, r, [r.index[-1]])
        return out[out["champion"]].reset_index(drop=True)
