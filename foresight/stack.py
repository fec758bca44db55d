"""The team's stack on one machine, for a rehearsal over loopback (`foresight stack up` / `down`):
PostgreSQL (MLflow's backend store, Optuna's studies, Prefect's database), the MLflow tracking server with
a shared artifact root, the Prefect server, a Dask scheduler and workers, MongoDB (SecantusDB) for regimes,
and the read API behind a token. docs/deploy.md says which process runs where on a desk's machines.

Secrets (the database password, the API token) go to processes through their environment and to people
through `stack.env` (mode 0600), never through a command line, a log line or the console."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import SecretStr

from stores.mongo import LocalMongoServer, free_port
from stores.postgres import LocalPostgresServer

DATABASES = ("mlflow", "optuna", "prefect")
REPO_ROOT = Path(__file__).resolve().parents[1]


def _bin(name: str) -> str:
    """A console script of this virtualenv (mlflow, prefect, dask, foresight)."""
    local = Path(sys.executable).parent / name
    return str(local) if local.exists() else name


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """This environment, telemetry off, with this repository importable (Dask workers unpickle our code)."""
    env = dict(os.environ)
    env.update({"MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "1", "PREFECT_SERVER_ANALYTICS_ENABLED": "false"})
    path = env.get("PYTHONPATH", "")
    if str(REPO_ROOT) not in path.split(os.pathsep):
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), path) if p)
    env.update(extra or {})
    return env


def start_process(argv: list[str], log_path: Path, env: dict[str, str]) -> subprocess.Popen:
    """Start `argv` in its own process group (so `stop_process` ends its children too), output to a log."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        return subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                                start_new_session=True)


def _proc_stat(pid: int) -> tuple[str, int] | None:
    """(state, process group) of `pid` from /proc, or None when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return None
    return fields[0], int(fields[2])


def process_alive(pid: int, group: bool = False) -> bool:
    """True while `pid` (with `group`: any process of the group it leads) runs; a zombie, which only waits
    for its parent to collect its exit code, counts as gone."""
    stat = _proc_stat(pid)
    if stat is not None and stat[0] != "Z":
        return True
    if not group:
        return False
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            member = _proc_stat(int(entry.name))
            if member is not None and member[1] == pid and member[0] != "Z":
                return True
    return False


def stop_processes(pids: list[int], timeout_s: float = 20.0) -> None:
    """SIGTERM every process (and the group it leads, if it leads one: a Dask nanny's workers, uvicorn's
    children) at once, then SIGKILL what is left after `timeout_s`."""
    groups = {}
    for pid in pids:
        stat = _proc_stat(pid)
        if stat is not None:
            groups[pid] = stat[1] == pid

    def send(pid: int, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            (os.killpg if groups[pid] else os.kill)(pid, sig)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)  # collect our own children so they do not linger as zombies

    alive = list(groups)
    for sig, wait in ((signal.SIGTERM, timeout_s), (signal.SIGKILL, 5.0)):
        for pid in alive:
            send(pid, sig)
        deadline = time.monotonic() + wait
        while alive and time.monotonic() < deadline:
            time.sleep(0.2)
            for pid in alive:
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(pid, os.WNOHANG)
            alive = [pid for pid in alive if process_alive(pid, groups[pid])]
        if not alive:
            return


def stop_process(pid: int, timeout_s: float = 20.0) -> None:
    """`stop_processes` for one process."""
    stop_processes([pid], timeout_s)


def wait_until(check: Callable[[], bool], what: str, timeout_s: float, proc: subprocess.Popen | None = None,
               log_path: Path | None = None) -> None:
    """Poll `check` until it is true; fail with the log's path when the process exits or time runs out."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what} exited with code {proc.returncode}; see {log_path}")
        with contextlib.suppress(Exception):
            if check():
                return
        time.sleep(0.5)
    raise RuntimeError(f"{what} not ready after {timeout_s:.0f} s; see {log_path}")


def http_ok(url: str, headers: dict[str, str] | None = None, accept: tuple[int, ...] = (200,)) -> bool:
    import httpx

    return httpx.get(url, timeout=2.0, headers=headers).status_code in accept


@dataclass
class Launched:
    """Processes just started, and how to tell they are ready (`wait` polls it)."""

    name: str
    procs: list[subprocess.Popen]
    ready: Callable[[], bool]
    log_path: Path
    timeout_s: float = 180.0

    def wait(self) -> Launched:
        wait_until(self.ready, self.name, self.timeout_s, self.procs[-1], self.log_path)
        return self


def launch_mlflow_server(backend: SecretStr, artifacts: Path, port: int, log_path: Path) -> Launched:
    """`mlflow server` on 127.0.0.1:`port` with `backend` (e.g. PostgreSQL) as its backend store and
    `artifacts` as the shared artifact root it serves (`mlflow-artifacts:/`). The backend URI travels in
    MLFLOW_BACKEND_STORE_URI, not on the command line, which every user of the machine can read."""
    artifacts.mkdir(parents=True, exist_ok=True)
    env = child_env({"MLFLOW_BACKEND_STORE_URI": backend.get_secret_value()})
    proc = start_process([_bin("mlflow"), "server", "--host", "127.0.0.1", "--port", str(port),
                          "--artifacts-destination", str(artifacts), "--workers", "1"], log_path, env)
    return Launched("MLflow server", [proc], lambda: http_ok(f"http://127.0.0.1:{port}/health"), log_path)


def start_mlflow_server(backend: SecretStr, artifacts: Path, port: int, log_path: Path) -> subprocess.Popen:
    """`launch_mlflow_server` and wait until it answers."""
    return launch_mlflow_server(backend, artifacts, port, log_path).wait().procs[0]


def launch_prefect_server(database: SecretStr, port: int, log_path: Path, auth: SecretStr | None = None) -> Launched:
    """`prefect server start` on 127.0.0.1:`port` with its database in PostgreSQL (asyncpg driver); with
    `auth` (`user:password`) its API and UI ask for HTTP basic auth (clients set PREFECT_API_AUTH_STRING)."""
    url = database.get_secret_value().replace("postgresql+psycopg://", "postgresql+asyncpg://")
    extra = {"PREFECT_API_DATABASE_CONNECTION_URL": url, "PREFECT_UI_ENABLED": "true",
             "PREFECT_LOGGING_LEVEL": "WARNING"}
    if auth is not None:
        extra["PREFECT_SERVER_API_AUTH_STRING"] = auth.get_secret_value()
    proc = start_process([_bin("prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
                         log_path, child_env(extra))
    # /api/health answers without the auth string: it says the server is up, nothing more.
    return Launched("Prefect server", [proc], lambda: http_ok(f"http://127.0.0.1:{port}/api/health"), log_path)


def launch_dask(scheduler_port: int, workers: int, log_dir: Path) -> Launched:
    """A Dask scheduler on 127.0.0.1 and `workers` single-threaded worker processes (one nanny process
    that keeps them alive); they import this repository."""
    env = child_env()
    address = f"tcp://127.0.0.1:{scheduler_port}"
    sched = start_process([_bin("dask"), "scheduler", "--host", "127.0.0.1", "--port", str(scheduler_port),
                           "--no-dashboard"], log_dir / "dask-scheduler.log", env)
    worker = start_process([_bin("dask"), "worker", address, "--nworkers", str(workers), "--nthreads", "1",
                            "--host", "127.0.0.1", "--no-dashboard", "--local-directory", str(log_dir / "dask")],
                           log_dir / "dask-worker.log", env)

    def ready() -> bool:
        from distributed import Client

        with Client(address, timeout="3s") as client:
            return len(client.scheduler_info(n_workers=-1)["workers"]) >= workers

    return Launched("Dask cluster", [sched, worker], ready, log_dir / "dask-worker.log")


@dataclass
class StackState:
    """What `stack up` started (pids and ports; no secret): `stack down` reads it back."""

    home: str
    pids: dict[str, int] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)
    postgres_data: str | None = None
    urls: dict[str, str] = field(default_factory=dict)

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.__dict__, indent=2))

    @classmethod
    def load(cls, path: Path) -> StackState | None:
        return cls(**json.loads(path.read_text())) if path.exists() else None


def stack_dir(home: Path) -> Path:
    return Path(home).resolve() / "stack"


def write_env_file(path: Path, values: dict[str, str]) -> None:
    """`export NAME='value'` lines, readable by this user only (they hold the password and the token)."""
    path.touch(mode=0o600)
    path.chmod(0o600)
    path.write_text("".join(f"export {k}='{v}'\n" for k, v in values.items()))


def stack_up(home: Path, workers: int = 2, prefect: bool = True, api: bool = True,
             on_step: Callable[[str], None] = lambda _m: None) -> StackState:
    """Start every process of the stack on loopback under `home`/stack; returns what was started. A process
    that fails to start stops the ones already started."""
    root = stack_dir(home)
    state_path = root / "state.json"
    old = StackState.load(state_path)
    if old is not None and old.pids:
        raise RuntimeError(f"a stack is already recorded in {state_path}: run `foresight stack down` first")
    logs = root / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    root.chmod(0o755)  # PostgreSQL run as root becomes `postgres`: it must get through to its data folder
    state = StackState(home=str(Path(home).resolve()))
    secret_file = root / "postgres.secret"
    if secret_file.exists():
        password = SecretStr(secret_file.read_text().strip())
    else:
        password = SecretStr(secrets.token_urlsafe(18))
        secret_file.touch(mode=0o600)
        secret_file.write_text(password.get_secret_value())
    token = SecretStr(secrets.token_urlsafe(24))
    prefect_auth = SecretStr(f"foresight:{secrets.token_urlsafe(18)}")
    try:
        on_step("PostgreSQL")
        pg = LocalPostgresServer(root / "postgres", password=password).start()
        state.postgres_data, state.ports["postgres"] = str(pg.data_dir), pg.port
        state.save(state_path)
        urls = {name: pg.create_database(name) for name in DATABASES}

        on_step("MongoDB (SecantusDB)")
        mongo = LocalMongoServer(root / "mongo", command=_bin("secantusd-py")).start()
        state.pids["mongo"], state.ports["mongo"] = mongo.process.pid, mongo.port
        state.save(state_path)

        # The servers start side by side (each spends most of its start-up creating its tables).
        launched: list[Launched] = []
        on_step("MLflow tracking server")
        state.ports["mlflow"] = free_port()
        launched.append(launch_mlflow_server(urls["mlflow"], root / "artifacts", state.ports["mlflow"],
                                             logs / "mlflow.log"))
        state.pids["mlflow"] = launched[-1].procs[0].pid
        if prefect:
            on_step("Prefect server")
            state.ports["prefect"] = free_port()
            launched.append(launch_prefect_server(urls["prefect"], state.ports["prefect"], logs / "prefect.log",
                                                  prefect_auth))
            state.pids["prefect"] = launched[-1].procs[0].pid
        on_step(f"Dask scheduler and {workers} workers")
        state.ports["dask"] = free_port()
        launched.append(launch_dask(state.ports["dask"], workers, logs))
        state.pids["dask-scheduler"], state.pids["dask-workers"] = (p.pid for p in launched[-1].procs)
        state.save(state_path)

        env = {
            "FORESIGHT_HOME": state.home,
            "MLFLOW_TRACKING_URI": f"http://127.0.0.1:{state.ports['mlflow']}",
            "FORESIGHT_OPTUNA__STORAGE": urls["optuna"].get_secret_value(),
            "FORESIGHT_EXECUTOR__SCHEDULER_ADDRESS": f"tcp://127.0.0.1:{state.ports['dask']}",
            "FORESIGHT_MONGODB_URI": mongo.uri,
            "FORESIGHT_API__TOKEN": token.get_secret_value(),
        }
        if prefect:
            env["PREFECT_API_URL"] = f"http://127.0.0.1:{state.ports['prefect']}/api"
            env["PREFECT_API_AUTH_STRING"] = prefect_auth.get_secret_value()
        write_env_file(root / "stack.env", env)

        if api:
            on_step("read API (token required)")
            state.ports["api"] = port = free_port()
            proc = start_process([_bin("foresight"), "api", "--host", "127.0.0.1", "--port", str(port)],
                                 logs / "api.log", child_env(env))
            state.pids["api"] = proc.pid
            state.save(state_path)
            # 503 is an answer too: the API is up and says no snapshot is published yet.
            launched.append(Launched("read API", [proc], lambda: http_ok(
                f"http://127.0.0.1:{port}/health", accept=(200, 503)), logs / "api.log", 90.0))
        for item in launched:
            on_step(f"waiting for {item.name}")
            item.wait()
    except BaseException:
        stack_down(home)
        raise
    state.urls = {
        "mlflow": f"http://127.0.0.1:{state.ports['mlflow']}",
        "dask": f"tcp://127.0.0.1:{state.ports['dask']}",
        "postgres": f"127.0.0.1:{state.ports['postgres']}",
        "mongo": f"127.0.0.1:{state.ports['mongo']}",
    }
    if prefect:
        state.urls["prefect"] = f"http://127.0.0.1:{state.ports['prefect']}"
    if api:
        state.urls["api"] = f"http://127.0.0.1:{state.ports['api']}"
    state.save(state_path)
    return state


def stack_down(home: Path) -> list[str]:
    """Stop what `stack up` recorded (API, Dask, Prefect, MLflow, MongoDB, then PostgreSQL); data stays."""
    root = stack_dir(home)
    state = StackState.load(root / "state.json")
    if state is None:
        return []
    stopped = [name for name in ("api", "dask-workers", "dask-scheduler", "prefect", "mlflow", "mongo")
               if name in state.pids]
    stop_processes([state.pids[name] for name in stopped])
    if state.postgres_data:
        LocalPostgresServer(Path(state.postgres_data), port=state.ports.get("postgres")).stop()
        stopped.append("postgres")
    (root / "state.json").unlink(missing_ok=True)
    (root / "mongo.port").unlink(missing_ok=True)
    return stopped


def stack_status(home: Path) -> dict[str, object]:
    """Each recorded process: its pid and whether it is alive."""
    state = StackState.load(stack_dir(home) / "state.json")
    if state is None:
        return {"running": False}
    alive = {}
    for name, pid in state.pids.items():
        alive[name] = process_alive(pid, group=True)
    if state.postgres_data:
        alive["postgres"] = LocalPostgresServer(Path(state.postgres_data), port=state.ports.get("postgres")).running()
    return {"running": True, "alive": alive, "urls": state.urls, "ports": state.ports,
            "env_file": str(stack_dir(home) / "stack.env")}


__all__ = ["Launched", "StackState", "child_env", "launch_dask", "launch_mlflow_server", "launch_prefect_server",
           "process_alive", "stack_down", "stack_status", "stack_up", "start_mlflow_server", "stop_process", "stop_processes"]
