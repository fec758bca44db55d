"""The MLflow pyfunc wrapper of a regime model: filtered probabilities from a return series."""

from __future__ import annotations

import mlflow.pyfunc
import numpy as np
import pandas as pd


class RegimePyfunc(mlflow.pyfunc.PythonModel):
    """predict(DataFrame with `ret`, optional `date`) -> causal filtered probabilities per label + regime."""

    def load_context(self, context) -> None:
        from models.regimes import RegimeParams

        with open(context.artifacts["params"], encoding="utf-8") as fh:
            self.params = RegimeParams.from_json(fh.read())
        self.enter = float(self.params.extra.get("enter_threshold", 0.7))
        self.leave = float(self.params.extra.get("leave_threshold", 0.3))

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        from models.regimes import compute_filtered_probabilities, compute_hysteresis

        mu, sd, tm, sp = self.params.arrays()
        probs, _ = compute_filtered_probabilities(np.asarray(model_input["ret"], dtype=float), mu, sd, tm, sp)
        out = pd.DataFrame(probs, columns=list(self.params.labels), index=model_input.index)
        out["regime"] = np.asarray(self.params.labels, dtype=object)[compute_hysteresis(probs, self.enter, self.leave)]
        return out
