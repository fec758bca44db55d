"""Prefect deployments with their cron schedules (New York time), served by `foresight deploy`."""

from __future__ import annotations

from dataclasses import dataclass

TIMEZONE = "America/New_York"


@dataclass(frozen=True)
class Schedule:
    """One deployment: flow name, deployment name, cron and what it does."""

    flow: str
    name: str
    cron: str
    description: str


SCHEDULES: tuple[Schedule, ...] = (
    Schedule("nightly", "nightly", "30 22 * * 1-5", "weekdays 22:30 New York, after the close"),
    Schedule("train-signals", "train-signals-weekly", "0 6 * * 6", "Saturdays 06:00 New York"),
    Schedule("monitor", "monitor-daily", "0 7 * * *", "every day 07:00 New York"),
)


def build_deployments(schedules: tuple[Schedule, ...] = SCHEDULES) -> list:
    """`RunnerDeployment`s for `flow.serve`-style serving; inspectable without any server."""
    from prefect.schedules import Cron

    from flows.nightly import monitor, nightly, train_signals

    flows = {"nightly": nightly, "train-signals": train_signals, "monitor": monitor}
    return [
        flows[s.flow].to_deployment(
            name=s.name, schedule=Cron(s.cron, timezone=TIMEZONE), description=s.description, tags=["foresight"]
        )
        for s in schedules
    ]


def serve_deployments() -> None:
    """Register the deployments with the Prefect API (PREFECT_API_URL) and run their schedules until stopped."""
    from prefect import serve

    serve(*build_deployments())


__all__ = ["SCHEDULES", "TIMEZONE", "Schedule", "build_deployments", "serve_deployments"]
