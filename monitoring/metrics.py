"""Custom Evidently metrics Evidently lacks: calibration (ECE with reliability curve, Brier, log-loss), the
monitoring status that leads every report, feature drift grouped worst first, pinball loss, regime durations.

Each calibration metric reads a probability column and a 0/1 label column and ignores rows where either is
missing, so one Evidently Dataset can carry the drift window and the (older, matured) calibration window
side by side: calibration columns are filled only on rows of the calibration window.
"""

from __future__ import annotations

import math
import re
from abc import ABC
from collections.abc import Mapping, Sequence
from typing import Generic, TypeVar

import numpy as np
from evidently import Dataset
from evidently.core.container import MetricContainer
from evidently.core.metric_types import SingleValue, SingleValueCalculation, SingleValueMetric
from evidently.core.report import Context
from evidently.metrics import ValueDrift

from models.metrics import compute_brier, compute_ece, compute_log_loss, compute_reliability
from monitoring.regimes import compute_exit_counts, compute_run_lengths


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


# ---------------------------------------------------------------------------------------------------------
# the status that leads each report


class MonitoringStatus(SingleValueMetric):
    """The model's monitoring status as a number (0 OK, 1 WARN, 2 ALERT) with its reasons.

    Read from a findings dataset, one row per reason: `rank_column` holds the status rank, `status_column`
    its name, `reason_column` the reason. The status lives in the data, not in the metric's parameters, so
    every run's value lands on one series of the workspace dashboard."""

    rank_column: str = "status_rank"
    status_column: str = "status"
    reason_column: str = "reason"


class MonitoringStatusCalculation(SingleValueCalculation[MonitoringStatus]):
    def calculate(self, context: Context, current_data: Dataset, reference_data: Dataset | None):
        m = self.metric
        df = current_data.as_dataframe()
        rank = float(df[m.rank_column].max()) if len(df) else 0.0
        status = str(df[m.status_column].iloc[0]) if len(df) else "OK"
        reasons = [str(r) for r in df[m.reason_column].dropna() if str(r)] if m.reason_column in df else []
        result = self.result(rank)
        result.widget = _status_widgets(status, reasons)
        return result

    def display_name(self) -> str:
        return "Monitoring status (0 OK, 1 WARN, 2 ALERT)"


def _status_widgets(status: str, reasons: Sequence[str]):
    from evidently.legacy.renderers.html_widgets import CounterData, counter, table_data

    head = counter(counters=[CounterData("monitoring status", status),
                             CounterData("findings", str(len(reasons)))], title="Monitoring status")
    rows = [[r] for r in reasons] or [["no finding"]]
    return [head, table_data(column_names=["why"], data=rows, title=f"{status}: the reasons")]


# ---------------------------------------------------------------------------------------------------------
# feature drift, grouped worst first

_FAMILY = re.compile(r"^(.*?[A-Za-z_])\d+$")


def compute_feature_family(name: str) -> str:
    """The family of a feature: its name without the trailing window length (ROC60 -> ROC, KMID2 -> KMID)."""
    found = _FAMILY.match(name)
    return found.group(1) if found else name


def compute_drift_groups(
    scores: Mapping[str, float], thresholds: Mapping[str, float]
) -> list[tuple[str, list[str]]]:
    """Features grouped by family, worst first: groups by their worst score / threshold ratio, features
    within a group likewise (ties by name). Features without a score come last."""

    def ratio(c: str) -> float:
        s, t = scores.get(c), thresholds.get(c)
        if s is None or not t or not math.isfinite(float(s)):
            return -math.inf
        return float(s) / float(t)

    groups: dict[str, list[str]] = {}
    for c in scores.keys() | thresholds.keys():
        groups.setdefault(compute_feature_family(c), []).append(c)
    ordered = [(g, sorted(cols, key=lambda c: (-ratio(c), c))) for g, cols in groups.items()]
    return sorted(ordered, key=lambda gc: (-ratio(gc[1][0]), gc[0]))


class FeatureDriftGroups(MetricContainer):
    """Per-feature ValueDrift (each against its own threshold), shown grouped by feature family, worst group
    first: an overview table, then each group's panels, its worst feature first."""

    columns: list[str]
    method: str
    thresholds: dict[str, float]

    def generate_metrics(self, context: Context):
        return [ValueDrift(column=c, method=self.method, threshold=self.thresholds[c]) for c in self.columns]

    def render(self, context: Context, child_widgets=None):
        from evidently.legacy.renderers.html_widgets import header_text, table_data

        metrics = self.metrics(context)
        by_column = {m.column: w for m, (_, w) in zip(metrics, child_widgets or [], strict=True)}
        scores = {m.column: float(context.get_metric_result(m).value) for m in metrics}
        groups = compute_drift_groups(scores, self.thresholds)
        rows = []
        for g, cols in groups:
            drifted = [c for c in cols if scores[c] >= self.thresholds[c]]
            worst = cols[0]
            rows.append([g, f"{len(drifted)} of {len(cols)}", worst, f"{scores[worst]:.3f}",
                         f"{self.thresholds[worst]:.3f}", ", ".join(drifted) or "-"])
        out = [table_data(
            column_names=["group", "drifted", "worst feature", "its score", "its threshold", "drifted features"],
            data=rows, title=f"Feature drift by group, worst first ({self.method}; score >= threshold drifts)",
        )]
        for (g, cols), row in zip(groups, rows, strict=True):
            out.append(header_text(label=f"{g}: {row[1]} drifted (worst {row[2]} {row[3]} vs {row[4]})"))
            for c in cols:
                out.extend(by_column[c])
        return out


# ---------------------------------------------------------------------------------------------------------
# forecasts


class PinballLoss(SingleValueMetric):
    """Mean pinball loss of a column of per-evaluation losses (its own metric, so that the workspace charts
    it apart from band coverage)."""

    column: str


class PinballLossCalculation(SingleValueCalculation[PinballLoss]):
    def _mean(self, data: Dataset | None) -> float:
        if data is None:
            return float("nan")
        values = data.as_dataframe()[self.metric.column].dropna()
        return float(values.mean()) if len(values) else float("nan")

    def calculate(self, context: Context, current_data: Dataset, reference_data: Dataset | None):
        cur = self.result(self._mean(current_data))
        if reference_data is None:
            return cur
        return cur, self.result(self._mean(reference_data))

    def display_name(self) -> str:
        return f"Mean pinball loss of '{self.metric.column}'"


# ---------------------------------------------------------------------------------------------------------
# regimes


class RegimeStateMix(MetricContainer):
    """Each state's mean filtered probability (Evidently's MeanValue; with `limits`, tested against them), led
    by one chart of the state mix: reference vs current window."""

    columns: list[str]
    """Probability columns, one per state, in the model's state order."""
    states: list[str]
    limits: dict[str, list[float]] = {}
    """Per column: [low, high], the range of the current window's mean that is not drift."""

    def generate_metrics(self, context: Context):
        from evidently.metrics import MeanValue
        from evidently.tests import gte, lte

        out = []
        for c in self.columns:
            lo_hi = self.limits.get(c)
            out.append(MeanValue(column=c, tests=[gte(lo_hi[0]), lte(lo_hi[1])] if lo_hi else []))
        return out

    def render(self, context: Context, child_widgets=None):
        import plotly.graph_objects as go
        from evidently.legacy.renderers.html_widgets import plotly_figure

        cur, ref = [], []
        for m in self.metrics(context):
            cur.append(float(context.get_metric_result(m).value))
            ref.append(float(context.get_reference_metric_result(m.metric_id).value)
                       if context.has_reference else float("nan"))
        fig = go.Figure([go.Bar(name="reference window", x=self.states, y=ref),
                         go.Bar(name="current window", x=self.states, y=cur)])
        for i, c in enumerate(self.columns):
            if c in self.limits:
                lo, hi = self.limits[c]
                fig.add_shape(type="rect", xref="x", yref="y", x0=i - 0.45, x1=i + 0.45, y0=max(lo, 0.0),
                              y1=min(hi, 1.0),
                              line={"dash": "dot", "width": 1}, fillcolor="rgba(0,0,0,0.05)")
        fig.update_layout(barmode="group", yaxis_title="mean filtered probability", yaxis_range=[0, 1])
        title = ("State mix: mean filtered probability per state, reference vs current window "
                 "(dotted box: the range of the current mean that is not drift)")
        widgets = [plotly_figure(title=title, figure=fig)]
        for _, w in child_widgets or []:
            widgets.extend(w)
        return widgets


class RegimeDuration(SingleValueMetric):
    """How long `state` lasts in the label column `column` (rows in date order): sessions spent in it per exit
    from it, the estimate of its expected duration. With no exit in the window, the sessions spent (a lower
    bound). The widget compares the run lengths of the current and the reference window."""

    column: str
    state: str


class RegimeDurationCalculation(SingleValueCalculation[RegimeDuration]):
    def _labels(self, data: Dataset | None):
        if data is None:
            return None
        return data.as_dataframe()[self.metric.column].astype(str).to_numpy()

    def _value(self, labels) -> float:
        if labels is None or len(labels) == 0:
            return float("nan")
        at_risk, exits = compute_exit_counts(labels).get(self.metric.state, (0, 0))
        return float(at_risk) / exits if exits else float(at_risk)

    def calculate(self, context: Context, current_data: Dataset, reference_data: Dataset | None):
        cur_labels, ref_labels = self._labels(current_data), self._labels(reference_data)
        cur = self.result(self._value(cur_labels))
        cur.widget = _duration_widgets(self.display_name(), self.metric.state, cur_labels, ref_labels)
        if reference_data is None:
            return cur
        return cur, self.result(self._value(ref_labels))

    def display_name(self) -> str:
        return f"Duration of regime '{self.metric.state}' (sessions per exit)"


def _duration_widgets(title: str, state: str, cur, ref):
    import plotly.graph_objects as go
    from evidently.legacy.renderers.html_widgets import CounterData, counter, plotly_figure

    counters, lengths = [], {}
    for name, labels in (("current", cur), ("reference", ref)):
        if labels is None:
            continue
        at_risk, exits = compute_exit_counts(labels).get(state, (0, 0))
        per_exit = f"{at_risk / exits:.1f}" if exits else f">= {at_risk}"
        counters.append(CounterData(f"{name}: {exits} exits in {at_risk} sessions", per_exit))
        runs = compute_run_lengths(labels)
        lengths[name] = runs.loc[runs["state"] == state, "length"].to_numpy()
    longest = max((float(v.max()) for v in lengths.values() if len(v)), default=1.0)
    bins = {"start": 0.5, "size": max(1.0, float(np.ceil(longest / 20)))}
    fig = go.Figure([go.Histogram(x=v, name=f"{k} ({len(v)} runs)", histnorm="probability", opacity=0.6, xbins=bins)
                     for k, v in lengths.items() if len(v)])
    fig.update_layout(barmode="overlay", xaxis_title="run length (sessions; the first and last run of a window "
                      "may be cut by its edges)", yaxis_title="share of runs")
    return [counter(counters=counters, title=title),
            plotly_figure(title=f"Run lengths of '{state}': current vs reference", figure=fig)]


__all__ = [
    "BrierScore",
    "ExpectedCalibrationError",
    "FeatureDriftGroups",
    "LogLoss",
    "MonitoringStatus",
    "PinballLoss",
    "RegimeDuration",
    "RegimeStateMix",
    "compute_drift_groups",
    "compute_feature_family",
]
