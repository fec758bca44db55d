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


FLOWS = {
    "nightly": ("flows.nightly", "nightly"),
    "train-signals": ("flows.train", "train_signals_flow"),
    "monitor": ("flows.monitor", "monitor_flow"),
}


def _flow(name: str):
    import importlib

    module, attr = FLOWS[name]
    try:
        return getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        raise RuntimeError(f"flow {name!r} ({module}.{attr}) is not available in this build: {exc}") from exc


def build_deployments(schedules: tuple[Schedule, ...] = SCHEDULES, nightly_source: str = "sample",
                      nightly_path: str | None = None) -> list:
    """`RunnerDeployment`s for `flow.serve`-style serving; inspectable without any server.
    `nightly_source`: where the nightly ingest reads new bars (sample | csv | alphavantage | none)."""
    from prefect.schedules import Cron

    flows = {s.flow: _flow(s.flow) for s in schedules}
    return [
        flows[s.flow].to_deployment(
            name=s.name, schedule=Cron(s.cron, timezone=TIMEZONE), description=s.description, tags=["foresight"],
            parameters={"source": nightly_source, "path": nightly_path} if s.flow == "nightly" else None,
        )
        for s in schedules
    ]


def serve_deployments(nightly_source: str = "sample", nightly_path: str | None = None) -> None:
    """Register the deployments with the Prefect API (PREFECT_API_URL) and run their schedules until stopped."""
    from prefect import serve

    serve(*build_deployments(nightly_source=nightly_source, nightly_path=nightly_path))


__all__ = ["FLOWS", "SCHEDULES", "TIMEZONE", "Schedule", "build_deployments", "serve_deployments"]
