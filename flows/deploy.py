"""Prefect deployments with their cron schedules (New York time), served by `foresight deploy`."""

from __future__ import annotations

from dataclasses import dataclass

from prefect import serve
from prefect.schedules import Cron

from flows.monitor import monitor_flow
from flows.nightly import nightly
from flows.train import train_signals_flow

TIMEZONE = "America/New_York"


@dataclass(frozen=True)
class Schedule:
    """One deployment: flow name, deployment name, cron and what it does."""

    flow: str
    name: str
    cron: str
    description: str


SCHEDULES: tuple[Schedule, ...] = (
    # 17:30, an hour and a half after the close: the daily bars are out, and features are ready well before the
    # feature-pipeline deadline (OperationsSettings.features_deadline, 19:00 New York).
    Schedule("nightly", "nightly", "30 17 * * 1-5", "weekdays 17:30 New York, after the close"),
    Schedule("train-signals", "train-signals-weekly", "0 6 * * 6", "Saturdays 06:00 New York"),
    Schedule("monitor", "monitor-daily", "0 7 * * *", "every day 07:00 New York"),
)


FLOWS = {"nightly": nightly, "train-signals": train_signals_flow, "monitor": monitor_flow}


def build_deployments(schedules: tuple[Schedule, ...] = SCHEDULES, nightly_source: str = "sample",
                      nightly_path: str | None = None) -> list:
    """`RunnerDeployment`s for `flow.serve`-style serving; inspectable without any server.
    `nightly_source`: where the nightly ingest reads new bars (sample | csv | alphavantage | none)."""
    return [
        FLOWS[s.flow].to_deployment(
            name=s.name, schedule=Cron(s.cron, timezone=TIMEZONE), description=s.description, tags=["foresight"],
            parameters={"source": nightly_source, "path": nightly_path} if s.flow == "nightly" else None,
        )
        for s in schedules
    ]


def serve_deployments(nightly_source: str = "sample", nightly_path: str | None = None) -> None:
    """Register the deployments with the Prefect API (PREFECT_API_URL) and run their schedules until stopped."""
    serve(*build_deployments(nightly_source=nightly_source, nightly_path=nightly_path))


__all__ = ["FLOWS", "SCHEDULES", "TIMEZONE", "Schedule", "build_deployments", "serve_deployments"]
