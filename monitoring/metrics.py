"""Custom Evidently metrics for calibration (ECE with reliability curve, Brier, log-loss) Evidently lacks.

Each metric reads a probability column and a 0/1 label column and ignores rows where either is missing,
so one Evidently Dataset can carry the drift window and the (older, matured) calibration window side by
side: calibration columns are filled only on rows of the calibration window.
"""

from __future__ import annotations

from abc import ABC
from typing import Generic, TypeVar

from evidently import Dataset
from evidently.core.metric_types import SingleValue, SingleValueCalculation, SingleValueMetric
from evidently.core.report import Context

from models.metrics import compute_brier, compute_ece, compute_log_loss, compute_reliability


class _CalibrationMetric(SingleValueMetric):
    """A score of `probability_column` against `label_column` over the rows where both are present."""

    probability_column: str
    label_column: str
    n_bins: int = 10


class ExpectedCalibrationError(_CalibrationMetric):
    """Expected calibration error (equal-width bins); the widget draws the reliability curve."""


class BrierScore(_CalibrationMetric):
    """Mean squared error of the probability."""


class LogLoss(_CalibrationMetric):
    """Mean negative log-likelihood of the labels."""


def _frame(data: Dataset | None, m: _CalibrationMetric):
    if data is None:
        return None
    df = data.as_dataframe()
    if m.probability_column not in df or m.label_column not in df:
        return None
    return df[[m.probability_column, m.label_column]].dropna()


TCal = TypeVar("TCal", bound=_CalibrationMetric)


class _CalibrationCalculation(SingleValueCalculation[TCal], Generic[TCal], ABC):
    _score = staticmethod(compute_brier)
    _title = ""

    def _value(self, df) -> float:
        m = self.metric
        if df is None or df.empty:
            return float("nan")
        return float(self._score(df[m.label_column], df[m.probability_column]))

    def calculate(self, context: Context, current_data: Dataset, reference_data: Dataset | None):
        cur = _frame(current_data, self.metric)
        ref = _frame(reference_data, self.metric)
        cur_result = self.result(self._value(cur))
        if reference_data is None:
            return cur_result
        return cur_result, self.result(self._value(ref))

    def display_name(self) -> str:
        return f"{self._title} of '{self.metric.probability_column}'"


class BrierScoreCalculation(_CalibrationCalculation[BrierScore]):
    _score = staticmethod(compute_brier)
    _title = "Brier score"


class LogLossCalculation(_CalibrationCalculation[LogLoss]):
    _score = staticmethod(compute_log_loss)
    _title = "Log-loss"


class ExpectedCalibrationErrorCalculation(_CalibrationCalculation[ExpectedCalibrationError]):
    _title = "Expected calibration error"

    def _value(self, df) -> float:
        m = self.metric
        if df is None or df.empty:
            return float("nan")
        return compute_ece(df[m.label_column], df[m.probability_column], m.n_bins)

    def calculate(self, context: Context, current_data: Dataset, reference_data: Dataset | None):
        out = super().calculate(context, current_data, reference_data)
        cur_result = out[0] if isinstance(out, tuple) else out
        ref_result = out[1] if isinstance(out, tuple) else None
        cur_result.widget = _reliability_widgets(
            self.display_name(), self.metric, _frame(current_data, self.metric),
            _frame(reference_data, self.metric), cur_result, ref_result,
        )
        return out


def _reliability_widgets(title, m: _CalibrationMetric, cur, ref, cur_result: SingleValue, ref_result):
    import plotly.graph_objects as go
    from evidently.legacy.renderers.html_widgets import CounterData, counter, plotly_figure

    counters = [CounterData.float("current ECE", cur_result.value, 4)]
    if ref_result is not None:
        counters.append(CounterData.float("reference ECE", ref_result.value, 4))
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="perfect", line={"dash": "dot"}))
    for name, df in (("reference", ref), ("current", cur)):
        if df is None or df.empty:
            continue
        curve = compute_reliability(df[m.label_column], df[m.probability_column], m.n_bins)
        fig.add_trace(
            go.Scatter(
                x=curve["mean_probability"], y=curve["observed_frequency"], mode="lines+markers", name=name,
                text=[f"n={n}" for n in curve["count"]],
            )
        )
    fig.update_layout(xaxis_title="mean predicted probability", yaxis_title="observed frequency")
    return [
        counter(counters=counters, title=title),
        plotly_figure(title="Reliability curve: current vs reference", figure=fig),
    ]


__all__ = ["BrierScore", "ExpectedCalibrationError", "LogLoss"]
