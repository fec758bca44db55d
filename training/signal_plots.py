"""Figures of a signal training: reliability diagram, feature importance and the Optuna history."""

from __future__ import annotations

from typing import Any

import pandas as pd


def compute_signal_figures(reliability: dict[str, pd.DataFrame], ece: float, importance: pd.Series,
                           family: str, trials: pd.DataFrame) -> dict[str, Any]:
    """Matplotlib figures by artifact name: `reliability` maps a curve name to `models.metrics.compute_reliability`
    output (holdout), `importance` is normalised feature importance, `trials` Optuna's trials frame."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figs = {}
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot([0, 1], [0, 1], "k:", lw=1, label="perfect")
    for name, rel in reliability.items():
        ax.plot(rel["mean_probability"], rel["observed_frequency"], "o-", label=name)
    ax.set(xlabel="predicted probability", ylabel="observed frequency",
           title=f"reliability (holdout, ECE {ece:.4f})")
    ax.legend()
    figs["reliability_diagram.png"] = fig
    fig, ax = plt.subplots(figsize=(6, 6))
    top = importance.head(20)[::-1]
    ax.barh(top.index, top.values)
    ax.set(title=f"feature importance ({family})", xlabel="share")
    fig.tight_layout()
    figs["feature_importance.png"] = fig
    fig, ax = plt.subplots(figsize=(6, 4))
    done = trials[trials["state"] == "COMPLETE"]
    ax.plot(done["number"], done["value"], "o", label="trial")
    ax.plot(done["number"], done["value"].cummin(), "-", label="best so far")
    ax.set(xlabel="trial", ylabel="mean fold log-loss", title="Optuna history")
    ax.legend()
    figs["optuna_history.png"] = fig
    return figs


__all__ = ["compute_signal_figures"]
