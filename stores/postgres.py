"""A local PostgreSQL cluster from the Debian `postgresql` binaries (initdb / pg_ctl), for the one-machine
stack rehearsal and the tests: MLflow's backend store, Optuna's studies and Prefect's server live in it.

PostgreSQL refuses to run as root: as root the server runs as the `postgres` system user, so the data
folder must be reachable by that user. The password never appears on a command line (initdb reads it from
a 0600 file that is removed afterwards) nor in a log line."""

from __future__ import annotations

import contextlib
import glob
import os
import secrets
import shutil
import subprocess
import time
from pathlib import Path

from pydantic import SecretStr

from stores.mongo import free_port


class PostgresUnavailable(RuntimeError):
    """The PostgreSQL binaries are missing or the cluster did not start."""


def find_pg_bin(name: str) -> str:
    """`initdb` / `pg_ctl` on PATH, else the newest /usr/lib/postgresql/<version>/bin/<name> (Debian keeps
    the server binaries off PATH)."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
                        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0)
    if candidates:
        return candidates[-1]
    raise PostgresUnavailable(f"{name} not found: install the Debian package `postgresql` (`make postgres`)")


def _as_server_user() -> list[str]:
    """The command prefix that runs a server binary as a non-root user (PostgreSQL refuses root)."""
    if os.geteuid() != 0:
        return []
    runuser = shutil.which("runuser") or "/usr/sbin/runuser"
    return [runuser, "-u", "postgres", "--"]


class LocalPostgresServer:
    """One PostgreSQL cluster in `data_dir` on 127.0.0.1:`port` with a password-protected superuser `user`."""

    def __init__(self, data_dir: Path, port: int | None = None, user: str = "foresight",
                 password: SecretStr | None = None, durable: bool = True):
        self.data_dir = Path(data_dir).resolve()
        self.port = port or free_port()
        self.user = user
        self.password = password or SecretStr(secrets.token_urlsafe(18))
        self.durable = durable
        """False turns fsync off: a throw-away cluster for tests, not one whose data matters."""

    @property
    def log_path(self) -> Path:
        return self.data_dir.parent / f"postgres-{self.port}.log"

    def url(self, database: str, driver: str = "psycopg") -> SecretStr:
        """`postgresql+<driver>://user:password@127.0.0.1:port/database` (a secret)."""
        pw = self.password.get_secret_value()
        return SecretStr(f"postgresql+{driver}://{self.user}:{pw}@127.0.0.1:{self.port}/{database}")

    def _run(self, argv: list[str], **kw) -> subprocess.CompletedProcess:
        return subprocess.run([*_as_server_user(), *argv], capture_output=True, text=True, timeout=120, **kw)

    def _chown(self, path: Path) -> None:
        if os.geteuid() == 0:
            shutil.chown(path, "postgres", "postgres")

    def init(self) -> LocalPostgresServer:
        """initdb with scram-sha-256 password auth (skipped when the folder already holds a cluster)."""
        if (self.data_dir / "PG_VERSION").exists():
            return self
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._chown(self.data_dir)
        pwfile = self.data_dir.parent / f".pgpass-init-{self.port}"
        pwfile.write_text(self.password.get_secret_value() + "\n")
        pwfile.chmod(0o600)
        self._chown(pwfile)
        try:
            out = self._run([find_pg_bin("initdb"), "-D", str(self.data_dir), "-U", self.user, "-E", "UTF8",
                             "--auth=scram-sha-256", f"--pwfile={pwfile}", "--no-instructions",
                             *([] if self.durable else ["--no-sync"])])
        finally:
            pwfile.unlink(missing_ok=True)
        if out.returncode != 0:
            raise PostgresUnavailable(f"initdb failed in {self.data_dir}: {out.stderr.strip()[-500:]} (the folder "
                                      "and its parents must be reachable by the `postgres` user when run as root)")
        return self

    def start(self, timeout_s: float = 60.0) -> LocalPostgresServer:
        """pg_ctl start on 127.0.0.1 only (its socket in the data folder); waits until it accepts logins."""
        self.init()
        options = f"-p {self.port} -k {self.data_dir} -c listen_addresses=127.0.0.1"
        if not self.durable:
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        self.log_path.touch()
        self._chown(self.log_path)
        out = self._run([find_pg_bin("pg_ctl"), "-D", str(self.data_dir), "-l", str(self.log_path), "-o", options,
                         "-w", "-t", str(int(timeout_s)), "start"])
        if out.returncode != 0:
            raise PostgresUnavailable(f"pg_ctl start failed on port {self.port}: {out.stderr.strip()[-500:]}; "
                                      f"see {self.log_path}")
        self._wait_login(timeout_s)
        return self

    def _wait_login(self, timeout_s: float) -> None:
        import psycopg

        deadline = time.monotonic() + timeout_s
        while True:
            try:
                with psycopg.connect(**self._conninfo("postgres"), connect_timeout=3):
                    return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise PostgresUnavailable(f"PostgreSQL on port {self.port} does not accept logins; "
                                              f"see {self.log_path}") from None
                time.sleep(0.2)

    def _conninfo(self, database: str) -> dict:
        return {"host": "127.0.0.1", "port": self.port, "user": self.user,
                "password": self.password.get_secret_value(), "dbname": database}

    def create_database(self, name: str) -> SecretStr:
        """CREATE DATABASE `name` unless it exists; its psycopg URL."""
        import psycopg
        from psycopg import sql

        with psycopg.connect(**self._conninfo("postgres"), autocommit=True) as con:
            exists = con.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
            if not exists:
                con.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.url(name)

    def connect(self, database: str):
        """A psycopg connection to `database` (for checks and tests)."""
        import psycopg

        return psycopg.connect(**self._conninfo(database), autocommit=True)

    def running(self) -> bool:
        out = self._run([find_pg_bin("pg_ctl"), "-D", str(self.data_dir), "status"])
        return out.returncode == 0

    def stop(self) -> None:
        """pg_ctl stop -m fast (committed data stays in the folder)."""
        with contextlib.suppress(PostgresUnavailable, OSError, subprocess.SubprocessError):
            if (self.data_dir / "postmaster.pid").exists():
                self._run([find_pg_bin("pg_ctl"), "-D", str(self.data_dir), "-m", "fast", "-w", "stop"])


__all__ = ["LocalPostgresServer", "PostgresUnavailable", "find_pg_bin"]
