"""The schedules fire on a real Prefect server: `prefect server start` on loopback with its own PREFECT_HOME,
`foresight serve` registers the deployments, the server's scheduler creates the nightly's runs at the cron's
next times (New York time), and a run started from the deployment completes through the serving process.

This is what broke with SQLAlchemy 2.1 under prefect 3.8.8: the scheduler service failed on every loop and
no run was ever scheduled, while the deployments still listed their cron text."""

from __future__ import annotations

import datetime as dt
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest

from flows.deploy import SCHEDULES, TIMEZONE
from foresight.settings import Settings
from stores.warehouse import Warehouse
from tests.unit.foresight.serving_data import SYMBOLS, ensure_contract_tables, write_night

ROOT = Path(__file__).resolve().parents[2]
SERVER_START_S = 180  # a cold `prefect server start` takes 20-30 s on a busy 2-core machine
SCHEDULED_WITHIN_S = 90
RUN_WITHIN_S = 240
NIGHTLY = next(s for s in SCHEDULES if s.flow == "nightly")

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(what: str, timeout: float, probe, every: float = 0.5):
    """Call `probe` until it returns something truthy; fail naming `what` after `timeout` seconds."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        got = probe()
        if got:
            return got, time.monotonic() - t0
        time.sleep(every)
    pytest.fail(f"{what}: nothing after {timeout:.0f} s")


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def next_cron_times(hour: int, minute: int, weekdays: set[int], after: dt.datetime, n: int) -> list[dt.datetime]:
    """The next `n` New York wall-clock times `hour:minute` on `weekdays` (Mon=0) after `after`, in UTC."""
    tz = ZoneInfo(TIMEZONE)
    day = after.astimezone(tz).date()
    out: list[dt.datetime] = []
    while len(out) < n:
        t = dt.datetime.combine(day, dt.time(hour, minute), tz)
        if day.weekday() in weekdays and t > after:
            out.append(t.astimezone(dt.UTC))
        day += dt.timedelta(days=1)
    return out


@pytest.fixture(scope="module")
def prefect_server(tmp_path_factory):
    """`prefect server start` on a free loopback port with a throw-away PREFECT_HOME; yields the API URL."""
    home = tmp_path_factory.mktemp("prefect-home")
    port = _free_port()
    env = {**os.environ, "PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
           "PREFECT_LOGGING_LEVEL": "WARNING"}
    env.pop("PREFECT_API_URL", None)
    log = (home / "server.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1",
                             "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    api = f"http://127.0.0.1:{port}/api"

    def healthy():
        if proc.poll() is not None:
            pytest.fail(f"prefect server exited: {(home / 'server.log').read_text()[-2000:]}")
        try:
            return httpx.get(f"{api}/health", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        _, took = _wait("prefect server health", SERVER_START_S, healthy)
        print(f"prefect server healthy after {took:.1f} s")
        yield api, home
    finally:
        _stop(proc)
        log.close()


def test_nightly_schedule_creates_runs_and_a_deployment_run_completes(prefect_server, tmp_path):
    api, prefect_home = prefect_server
    # Given a small warehouse with one stored night, served by `foresight serve` against that server
    fhome = tmp_path / "home"
    wh = Warehouse(Settings(home=fhome).duckdb_path)
    ensure_contract_tables(wh)
    write_night(wh, dt.date(2025, 12, 30))
    env = {**os.environ, "PREFECT_API_URL": api, "PREFECT_HOME": str(prefect_home), "FORESIGHT_HOME": str(fhome),
           "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path}/mlruns/mlflow.db", "PYTHONPATH": str(ROOT),
           "PREFECT_RUNNER_POLL_FREQUENCY": "2"}
    log_path = tmp_path / "serve.log"
    log = log_path.open("w")
    t0 = time.monotonic()
    serve = subprocess.Popen([sys.executable, "-m", "foresight.cli", "serve", "--source", "none"], env=env,
                             stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, start_new_session=True)
    client = httpx.Client(base_url=api, timeout=10)
    try:
        def deployment():
            if serve.poll() is not None:
                pytest.fail(f"foresight serve exited: {log_path.read_text()[-3000:]}")
            r = client.post("/deployments/filter", json={"deployments": {"name": {"any_": [NIGHTLY.name]}}})
            return r.json() if r.status_code == 200 else None

        (dep,), took_deploy = _wait("the nightly deployment", 120, deployment)
        registered_at = dt.datetime.now(dt.UTC)
        assert dep["schedules"][0]["schedule"]["cron"] == NIGHTLY.cron
        assert dep["schedules"][0]["schedule"]["timezone"] == TIMEZONE

        # When the server's scheduler has run, then the nightly has scheduled runs at the cron's next times
        def scheduled():
            r = client.post("/flow_runs/filter", json={
                "deployments": {"id": {"any_": [dep["id"]]}},
                "flow_runs": {"state": {"type": {"any_": ["SCHEDULED"]}}}, "sort": "EXPECTED_START_TIME_ASC"})
            return r.json() if r.status_code == 200 and r.json() else None

        runs, took_schedule = _wait("scheduled runs of the nightly deployment", SCHEDULED_WITHIN_S, scheduled, 1)
        minute, hour, _, _, dow = NIGHTLY.cron.split()
        weekdays = {(int(d) - 1) % 7 for d in range(int(dow.split("-")[0]), int(dow.split("-")[1]) + 1)}
        expected = next_cron_times(int(hour), int(minute), weekdays, registered_at - dt.timedelta(minutes=5),
                                   len(runs))
        got = [dt.datetime.fromisoformat(r["expected_start_time"]) for r in runs]
        assert got == expected, f"scheduled {got}, the cron's next times are {expected}"
        assert all(t.astimezone(ZoneInfo(TIMEZONE)).hour == int(hour) for t in got)
        assert all(r["deployment_id"] == dep["id"] for r in runs)

        # When a run is started from the deployment (as the UI's "Run" button does)
        def create():
            # The sqlite-backed server answers 503 while its scheduler holds the database: ask again.
            r = client.post(f"/deployments/{dep['id']}/create_flow_run", json={"parameters": {
                "source": "none", "skip": ["features", "signals", "regimes", "forecasts", "evaluation", "monitoring"]}})
            assert r.status_code in (201, 503), r.text
            return r.json() if r.status_code == 201 else None

        created, _ = _wait("a flow run created from the deployment", 60, create, 1)
        run_id = created["id"]

        def finished():
            state = client.get(f"/flow_runs/{run_id}").json()["state"]
            return state if state["type"] in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED") else None

        state, took_run = _wait("the deployment's flow run", RUN_WITHIN_S, finished, 1)
        # Then the serving process ran it to completion, and the night is in the warehouse
        assert state["type"] == "COMPLETED", f"{state}\n{log_path.read_text()[-3000:]}"
        with wh.session(read_only=True) as con:
            rows = con.execute("SELECT status, as_of FROM pipeline_runs").fetchall()
            published = con.execute("SELECT count(*) FROM signals").fetchall()[0][0]
        assert rows == [("ok", dt.date(2025, 12, 30))]
        assert published == len(SYMBOLS)
        # and the run page holds the flow's own INFO lines (Prefect's loggers stay at WARNING)
        logs = client.post("/logs/filter", json={"logs": {"flow_run_id": {"any_": [run_id]}}}).json()
        assert any("nightly as of 2025-12-30" in entry["message"] for entry in logs), [e["message"] for e in logs]
        print(f"timings: deployment registered {took_deploy:.1f} s after `foresight serve` started, scheduled "
              f"runs {took_schedule:.1f} s after that, deployment run completed in {took_run:.1f} s; "
              f"total {time.monotonic() - t0:.1f} s")
    finally:
        client.close()
        _stop(serve)
        log.close()
