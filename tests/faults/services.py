"""PostgreSQL and Redis servers that the fault tests own, so that they can stop, restart and
starve them without touching the machine's shared services.

`PostgresCluster` runs `initdb` into a temporary directory and serves it on a free local
port (as the `postgres` system user when the tests run as root: PostgreSQL refuses to run as
root). `RedisServer` runs `redis-server` without persistence on a free local port. Both can
be stopped and started again on the same port, which is what an outage looks like to the
server under test.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from tests.e2e.server import forget_templates, free_port

START_TIMEOUT_SECONDS = 30


def postgres_bindir() -> Path | None:
    """The directory of `initdb` and `pg_ctl` (Debian keeps them out of the PATH)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=_version_key)
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _version_key(path: str) -> int:
    part = path.split("/")[4]
    return int(part) if part.isdigit() else 0


def as_postgres_user() -> list[str]:
    """The command prefix that runs a PostgreSQL program as a user it accepts."""
    if os.geteuid() != 0:
        return []
    return ["runuser", "-u", "postgres", "--"]


def missing_postgres_tools() -> str | None:
    """Why a private cluster cannot be made here, or None."""
    if postgres_bindir() is None:
        return "initdb not found"
    if os.geteuid() == 0 and not shutil.which("runuser"):
        return "running as root without runuser"
    return None


class PostgresCluster:
    """A PostgreSQL server of its own: `url()`, `stop()`, `start()`, `restart()`, `kill()`."""

    def __init__(self, **settings: str) -> None:
        self.bindir = postgres_bindir()
        self.directory = Path(tempfile.mkdtemp(prefix="kinto-faults-pg-"))
        self.data = self.directory / "data"
        self.log = self.directory / "postgres.log"
        self.port = free_port()
        # Durability is not what these tests break; fsync off keeps a restart quick.
        self.settings = {"fsync": "off", "max_connections": "100", **settings}
        if os.geteuid() == 0:
            shutil.chown(self.directory, "postgres", "postgres")
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")

    def _run(self, program: str, *args: str) -> str:
        assert self.bindir is not None
        return subprocess.run(
            [*as_postgres_user(), str(self.bindir / program), *args],
            check=True,
            capture_output=True,
            text=True,
            timeout=120,
        ).stdout

    def url(self, database: str = "kinto") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def options(self) -> str:
        settings = {
            "port": str(self.port),
            "listen_addresses": "127.0.0.1",
            "unix_socket_directories": str(self.directory),
            **self.settings,
        }
        return " ".join(f"-c {name}={value}" for name, value in settings.items())

    def start(self, **settings: str) -> None:
        """Start (again, on the same port), with `settings` changed from now on."""
        self.settings.update(settings)
        self._run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", self.options(), "-w",
            "-t", str(START_TIMEOUT_SECONDS), "start",
        )  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def restart(self, **settings: str) -> None:
        self.stop()
        self.start(**settings)

    def kill(self) -> None:
        """SIGKILL the postmaster, as a crash or the OOM killer would (its backends end too
        once they notice; the next start runs crash recovery)."""
        pid = int((self.data / "postmaster.pid").read_text().split()[0])
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline and self.accepts_connections():
            time.sleep(0.1)
        # Orphaned backends may hold the shared memory a little longer.
        while time.monotonic() < deadline and self._backends_alive():
            time.sleep(0.1)
        with contextlib.suppress(FileNotFoundError):
            (self.data / "postmaster.pid").unlink()

    def _backends_alive(self) -> bool:
        result = subprocess.run(
            ["pgrep", "-f", f"postgres: .*{self.port}|{self.data}"],
            capture_output=True,
            text=True,
        )
        return bool(result.stdout.strip())

    def accepts_connections(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return True
        except OSError:
            return False

    def query(self, sql: str, database: str = "postgres") -> list[tuple]:
        import psycopg2

        connection = psycopg2.connect(self.url(database))
        try:
            connection.autocommit = True
            with connection.cursor() as cursor:
                cursor.execute(sql)
                return cursor.fetchall() if cursor.description else []
        finally:
            connection.close()

    def remove(self) -> None:
        forget_templates(self.url())
        with contextlib.suppress(subprocess.CalledProcessError, FileNotFoundError):
            self.stop("immediate")
        shutil.rmtree(self.directory, ignore_errors=True)


class RedisServer:
    """A Redis of its own: `url(db)`, `stop()`, `start()`.

    Its data is kept in an append-only file written at every command, as a deployment that
    uses Redis as a durable queue must configure it: what was pushed before a kill is still
    there after the restart.
    """

    def __init__(self) -> None:
        self.port = free_port()
        self.directory = Path(tempfile.mkdtemp(prefix="kinto-faults-redis-"))
        self.process: subprocess.Popen | None = None
        self.start()

    def url(self, database: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                "redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                "--save", "", "--appendonly", "yes", "--appendfsync", "always",
                "--dir", str(self.directory),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        """SIGKILL: connections drop at once, as when Redis crashes or its host goes."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)
