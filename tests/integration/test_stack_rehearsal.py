"""`foresight stack up` / `down`: the whole multi-process stack on this machine over loopback, for real.
The nightly flow runs unchanged against its Prefect server (on PostgreSQL), every listener asks for its
credential, no secret is printed, and `down` leaves no process behind."""

from __future__ import annotations

import base64
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx
import pytest

from foresight.stack import StackState, process_alive

pytestmark = pytest.mark.slow


def _cli(args: list[str], env: dict[str, str], timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "foresight.cli", *args], env=env, text=True, capture_output=True,
                          timeout=timeout)


def _env_file(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text().splitlines():
        name, _, value = line.removeprefix("export ").partition("=")
        out[name] = shlex.split(value)[0]
    return out


@pytest.fixture(scope="module")
def stack():
    """`foresight stack up` in a fresh FORESIGHT_HOME (0755: PostgreSQL run as root becomes `postgres`)."""
    home = Path(tempfile.mkdtemp(prefix="foresight-stack-"))
    home.chmod(0o755)
    env = {**os.environ, "FORESIGHT_HOME": str(home), "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    for key in ("PREFECT_API_URL", "MLFLOW_TRACKING_URI", "FORESIGHT_API__TOKEN"):
        env.pop(key, None)
    up = _cli(["stack", "up", "--workers", "2"], env)
    state = StackState.load(home / "stack" / "state.json")
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        yield {"home": home, "env": env, "up": up, "state": state,
               "settings": _env_file(home / "stack" / "stack.env")}
    finally:
        down = _cli(["stack", "down"], env, timeout=180)
        assert down.returncode == 0, down.stderr
        if state is not None:
            # Stopped cleanly: no process of the stack is left
            assert not [name for name, pid in state.pids.items() if process_alive(pid, group=True)]
        shutil.rmtree(home, ignore_errors=True)


def test_every_listener_is_up_on_loopback_and_asks_for_its_credential(stack):
    s, state = stack["settings"], stack["state"]
    assert set(state.pids) == {"mongo", "mlflow", "prefect", "dask-scheduler", "dask-workers", "api"}
    assert all(url.startswith(("http://127.0.0.1:", "tcp://127.0.0.1:", "127.0.0.1:")) for url in state.urls.values())
    assert httpx.get(f"{state.urls['mlflow']}/health", timeout=10).status_code == 200
    # Prefect: basic auth with the stack's auth string (its /api/health stays open, like ours)
    flows = f"{state.urls['prefect']}/api/flows/filter"
    auth = "Basic " + base64.b64encode(s["PREFECT_API_AUTH_STRING"].encode()).decode()
    assert httpx.post(flows, json={}, timeout=10).status_code == 401
    assert httpx.post(flows, json={}, headers={"Authorization": auth}, timeout=10).status_code == 200
    # The read API: the token, or nothing but /health
    api = state.urls["api"]
    assert httpx.get(f"{api}/signals", timeout=10).status_code == 401
    with_token = httpx.get(f"{api}/signals", headers={"Authorization": f"Bearer {s['FORESIGHT_API__TOKEN']}"},
                           timeout=10)
    assert with_token.status_code != 401
    # Dask: the scheduler and its two workers
    from distributed import Client

    with Client(s["FORESIGHT_EXECUTOR__SCHEDULER_ADDRESS"], timeout="20s") as client:
        assert len(client.scheduler_info(n_workers=-1)["workers"]) == 2
    # The settings file holds the secrets; only its owner can read it; the console never showed them
    assert (stack["home"] / "stack" / "stack.env").stat().st_mode & 0o077 == 0
    password = s["FORESIGHT_OPTUNA__STORAGE"].split(":")[2].split("@")[0]
    printed = stack["up"].stdout + stack["up"].stderr
    for secret in (password, s["FORESIGHT_API__TOKEN"], s["PREFECT_API_AUTH_STRING"]):
        assert secret not in printed
    for log in (stack["home"] / "stack" / "logs").glob("*.log"):
        assert password not in log.read_text(errors="replace"), log


def test_the_nightly_flow_runs_unchanged_on_the_stack(stack):
    import psycopg

    # Given the stack's settings (what `source stack.env` gives a shell) and a tiny sample market
    env = {**stack["env"], **stack["settings"], "FORESIGHT_SAMPLE__N_SYMBOLS": "3", "FORESIGHT_SAMPLE__N_YEARS": "1"}
    # When the nightly flow runs its ingest and publish (no model is trained in this test)
    steps = ["features", "signals", "regimes", "forecasts", "evaluation", "monitoring"]
    night = _cli(["score", "--source", "sample", *[a for s in steps for a in ("--skip", s)]], env)
    assert night.returncode == 0, night.stdout + night.stderr
    # Then the Prefect server recorded the completed flow run in PostgreSQL
    url = stack["settings"]["FORESIGHT_OPTUNA__STORAGE"].replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url.rsplit("/", 1)[0] + "/prefect") as con:
        runs = con.execute("SELECT f.name, r.state_type FROM flow_run r JOIN flow f ON f.id = r.flow_id").fetchall()
    assert ("nightly", "COMPLETED") in runs
    # And the API behind its token serves the published snapshot
    api, token = stack["state"].urls["api"], stack["settings"]["FORESIGHT_API__TOKEN"]
    health = httpx.get(f"{api}/health", timeout=10).json()
    assert health["status"] == "ok" and health["snapshot"]["tables"]
    assert httpx.get(f"{api}/signals", headers={"Authorization": f"Bearer {token}"}, timeout=10).status_code in (200, 404)
