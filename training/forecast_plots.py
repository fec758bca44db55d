"""Figures of the forecast model: fan chart and quantile calibration (written as PNG files)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from marketdata.calendar import sessions
from models.forecasts import METHODS


def save_fan_chart(
    equity: pd.Series, fan: pd.DataFrame, path: Path, history: int = 250, title: str = "Portfolio equity fan"
) -> Path:
    """History of `equity` and, from its last date, the champion's p05-p95 band and p50 per horizon.

    `fan`: rows with horizon_days, p05, p50, p95 (equity units) for the last as-of date.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    hist = equity.iloc[-history:]
    last = pd.Timestamp(hist.index[-1])
    fan = fan.sort_values("horizon_days")
    hmax = int(fan["horizon_days"].max()) if len(fan) else 1
    future = sessions(last + pd.Timedelta(days=1), last + pd.Timedelta(days=hmax * 2 + 15))[:hmax]
    fig, ax = plt.subplots(figsize=(10, 5))
    ax.plot(hist.index, hist.to_numpy(), color="black", lw=1.2, label="equity")
    if len(fan):
        x = [last] + [future[int(h) - 1] for h in fan["horizon_days"] if int(h) <= len(future)]
        start = float(hist.iloc[-1])
        k = len(x) - 1
        lo = [start, *fan["p05"].to_numpy()[:k]]
        mid = [start, *fan["p50"].to_numpy()[:k]]
        hi = [start, *fan["p95"].to_numpy()[:k]]
        ax.fill_between(x, lo, hi, color="tab:blue", alpha=0.25, label="p05-p95")
        ax.plot(x, mid, color="tab:blue", lw=1.5, marker="o", label="p50")
        for xi, h in zip(x[1:], fan["horizon_days"].to_numpy()[:k], strict=False):
            ax.annotate(f"{int(h)}d", (xi, hi[x.index(xi)]), fontsize=8, textcoords="offset points", xytext=(0, 4))
    ax.set_title(title)
    ax.set_ylabel("equity")
    ax.legend(loc="upper left")
    ax.grid(alpha=0.3)
    fig.autofmt_xdate()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return path


def save_calibration_plot(holdout: dict[int, pd.DataFrame], quantiles: dict[int, tuple[float, ...]], path: Path) -> Path:
    """Quantile reliability per horizon: observed share of outcomes below each forecast quantile vs its
    nominal level, for every candidate (the diagonal is perfect calibration)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    hs = sorted(holdout)
    fig, axes = plt.subplots(1, len(hs), figsize=(4 * len(hs), 4), squeeze=False)
    for ax, h in zip(axes[0], hs, strict=True):
        frame = holdout[h]
        ok = frame["common"].to_numpy(dtype=bool) & np.isfinite(frame["y"].to_numpy())
        qs = quantiles[h]
        for m in METHODS:
            obs = [float(np.mean(frame["y"].to_numpy()[ok] <= frame[f"{m}_q{int(round(t * 100)):02d}"].to_numpy()[ok]))
                   for t in qs]
            ax.plot(qs, obs, marker="o", label=m)
        ax.plot([0, 1], [0, 1], color="grey", ls="--", lw=1)
        ax.set_title(f"H={h} (n={int(ok.sum())})")
        ax.set_xlabel("nominal level")
        ax.set_ylabel("observed share below")
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8)
    fig.suptitle("Holdout quantile calibration")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return path


def save_coverage_plot(holdout: dict[int, pd.DataFrame], quantiles: dict[int, tuple[float, ...]], path: Path,
                       window: int = 63) -> Path:
    """Rolling p05-p95 band coverage of each candidate on the holdout (target 0.90), per horizon."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    hs = sorted(holdout)
    fig, axes = plt.subplots(len(hs), 1, figsize=(10, 2.5 * len(hs)), squeeze=False, sharex=True)
    for ax, h in zip(axes[:, 0], hs, strict=True):
        f = holdout[h]
        y = f["y"].to_numpy()
        for m in METHODS:
            inside = (y >= f[f"{m}_q05"].to_numpy()) & (y <= f[f"{m}_q95"].to_numpy())
            s = pd.Series(np.where(np.isfinite(y), inside, np.nan), index=f["date"])
            ax.plot(s.index, s.rolling(window, min_periods=window // 2).mean(), label=m, lw=1)
        ax.axhline(0.9, color="grey", ls="--", lw=1)
        ax.set_ylim(0, 1.02)
        ax.set_ylabel(f"H={h}")
        ax.grid(alpha=0.3)
    axes[0, 0].legend(fontsize=8, loc="lower left")
    axes[0, 0].set_title(f"Rolling {window}-origin band coverage on the holdout (target 0.90)")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return path
