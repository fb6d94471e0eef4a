"""Run the real server, as `bin/serve` does, against a fresh database.

`ServerProcess` gives each server a new database (a SQLite file, or a PostgreSQL database
created for the run when `KINTO_STORAGE_URL` points to PostgreSQL) copied from one migrated
template per test process and settings module (migrating costs seconds, copying a template
a fraction of one), starts gunicorn with
uvicorn workers on the ASGI application (as `bin/serve`) on a free local port, waits for
`/v1/__heartbeat__`, and on `stop()` shuts the whole process group down and drops the
database.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
PORTS_PER_WORKER = 25


def worker_ports() -> range:
    """Ports of this pytest-xdist worker's own (gw0: 9200-9224, gw1: 9225-9249, …): two
    workers never probe the same port, so they cannot both pick it and race to bind it."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    index = int(worker[2:]) if worker[2:].isdigit() else 0
    start = 9200 + PORTS_PER_WORKER * index
    return range(start, start + PORTS_PER_WORKER)


START_TIMEOUT_SECONDS = 60
STOP_TIMEOUT_SECONDS = 10
START_ATTEMPTS = 5


def free_port(ports: range | None = None) -> int:
    """The first port of the range nobody listens on (bound and released to check)."""
    ports = ports or worker_ports()
    for port in ports:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"No free port in {ports.start}-{ports.stop - 1}")


# The Redis of live tests across processes (database 11, keys prefixed per run).
REDIS_URL = "redis://127.0.0.1:6379/11"


def redis_available() -> bool:
    """Whether Redis listens on 127.0.0.1:6379 (tests that need it skip, saying so, if not)."""
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1):
            return True
    except OSError:
        return False


# PostgreSQL's NAMEDATALEN - 1: longer database names are truncated.
MAX_IDENTIFIER_LENGTH = 63


def is_postgresql(url: str) -> bool:
    return urlsplit(url).scheme.split("+")[0] in {"postgres", "postgresql"}


class PostgresDatabase:
    """A database created for one run next to the one `KINTO_STORAGE_URL` names."""

    def __init__(self, url: str, suffix: str = "e2e") -> None:
        parts = urlsplit(url)
        base = unquote(parts.path.lstrip("/")) or "postgres"
        # Each test process (an xdist worker, or another run in the same checkout at the same
        # time) has databases of its own.
        name = f"{base}_{suffix}_p{os.getpid()}"
        if len(name) > MAX_IDENTIFIER_LENGTH:
            # PostgreSQL would cut it silently: two long names could become one.
            digest = hashlib.sha1(name.encode()).hexdigest()[:10]
            name = f"{name[: MAX_IDENTIFIER_LENGTH - 11]}_{digest}"
        self.name = name
        self.url = urlunsplit(parts._replace(path="/" + self.name))
        self.admin_url = urlunsplit(parts._replace(path="/postgres"))

    def _execute(self, sql: str) -> None:
        import psycopg2

        connection = psycopg2.connect(self.admin_url)
        try:
            connection.autocommit = True
            with connection.cursor() as cursor:
                cursor.execute(sql)
        finally:
            connection.close()

    def create(self, template: str | None = None) -> None:
        self.drop()
        copy = f' TEMPLATE "{template}"' if template else ""
        self._execute(f'CREATE DATABASE "{self.name}"{copy}')

    def drop(self) -> None:
        self._execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


# Migrated databases that servers are copied from: (settings module, backend) → a SQLite
# file or a PostgreSQL database name, made once per test process and removed at its exit.
_TEMPLATES: dict[tuple[str, str, str], str] = {}


def manage_command(env: dict[str, str], *args: str) -> str:
    """Run a `manage.py` command; its standard output."""
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout


def drop_if_reachable(database: PostgresDatabase) -> None:
    """Drop a template at exit, unless its server is gone (a cluster a test owned)."""
    import psycopg2

    with contextlib.suppress(psycopg2.OperationalError):
        database.drop()


def forget_templates(storage_url: str) -> None:
    """A PostgreSQL server is going away: its templates must not be used for the next server
    that takes its address."""
    netloc = urlsplit(storage_url).netloc
    for key in [key for key in _TEMPLATES if key[1] == "postgresql" and key[2] == netloc]:
        del _TEMPLATES[key]


def migrated_template(
    django_settings: str, storage_url: str, python_path: tuple[Path, ...] = ()
) -> str:
    """The template database of a settings module on the backend of `storage_url`: migrated,
    with its cache tables, once per test process."""
    backend = "postgresql" if is_postgresql(storage_url) else "sqlite"
    # A template per PostgreSQL server too: a database is copied on its own server only.
    key = (django_settings, backend, urlsplit(storage_url).netloc if backend != "sqlite" else "")
    if key in _TEMPLATES:
        return _TEMPLATES[key]
    env = {k: v for k, v in os.environ.items() if not k.startswith("KINTO_")}
    env["DJANGO_SETTINGS_MODULE"] = django_settings
    if python_path:
        env["PYTHONPATH"] = os.pathsep.join([*map(str, python_path), str(ROOT)])
    slug = "".join(c if c.isalnum() else "_" for c in django_settings)
    if backend == "postgresql":
        database = PostgresDatabase(storage_url, f"tpl_{slug}")
        database.create()
        atexit.register(drop_if_reachable, database)
        env["KINTO_STORAGE_URL"] = database.url
        template = database.name
    else:
        directory = tempfile.mkdtemp(prefix="kinto-template-")
        atexit.register(shutil.rmtree, directory, True)
        template = os.path.join(directory, f"{slug}.sqlite3")
        env["KINTO_STORAGE_URL"] = f"sqlite:///{template}"
    manage_command(env, "migrate", "--noinput")
    manage_command(env, "createcachetable")
    _TEMPLATES[key] = template
    return template


class ServerExited(RuntimeError):
    """The server process ended while starting."""


class ServerProcess:
    """A gunicorn server of the project on 127.0.0.1 (see `bin/serve` for the options).

    Several workers share live events only through Redis: pass `redis_url` in `settings`.
    """

    def __init__(
        self,
        workdir: Path,
        storage_url: str | None = None,
        *,
        workers: int = 3,
        threads: int = 4,
        settings: dict[str, str] | None = None,
        database_suffix: str = "e2e",
        django_settings: str = "kinto_project.settings",
        application: str = "kinto_project.asgi:application",
        api_root: str = "/v1",
        python_path: tuple[Path, ...] = (),
    ) -> None:
        self.workdir = workdir
        # A host site embedding the apps has its own settings, ASGI application and prefix.
        self.django_settings = django_settings
        self.application = application
        self.api_root = api_root
        # A host site's own root, on the path before the checkout (its top-level apps).
        self.python_path = python_path
        self.workers = workers
        self.threads = threads
        self.settings = settings or {}
        requested = storage_url or os.environ.get("KINTO_STORAGE_URL", "")
        self.database: PostgresDatabase | None = None
        if is_postgresql(requested):
            # Servers of one test session that run at the same time need different suffixes.
            self.database = PostgresDatabase(requested, database_suffix)
            self.storage_url = self.database.url
        elif storage_url and urlsplit(storage_url).path.strip("/"):
            # A SQLite file named by the test (on a small disk of its own, say); a bare
            # `sqlite://` means a file of the server's own, as when nothing is given.
            self.storage_url = storage_url
        else:
            self.storage_url = f"sqlite:///{workdir / 'kinto.sqlite3'}"
        # What start() may create: a server given another's database only migrates it.
        self.own_storage_url = self.storage_url
        self.backend = "postgresql" if self.database else "sqlite"
        self.port = 0
        self.process: subprocess.Popen | None = None
        self.log_path = workdir / "server.log"

    @property
    def url(self) -> str:
        """The API root, e.g. `http://127.0.0.1:9130/v1`."""
        return f"http://127.0.0.1:{self.port}{self.api_root}"

    def environ(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("KINTO_")}
        env.update({f"KINTO_{name.upper()}": value for name, value in self.settings.items()})
        env["KINTO_STORAGE_URL"] = self.storage_url
        env["DJANGO_SETTINGS_MODULE"] = self.django_settings
        env["PYTHONUNBUFFERED"] = "1"
        if self.python_path:
            env["PYTHONPATH"] = os.pathsep.join([*map(str, self.python_path), str(ROOT)])
        env["KINTO_THREADS"] = str(self.threads)
        return env

    def manage(self, *args: str) -> str:
        return manage_command(self.environ(), *args)

    def start(self) -> None:
        if self.database is not None:
            # A PostgreSQL database of its own: a copy of the migrated template.
            template = migrated_template(self.django_settings, self.storage_url, self.python_path)
            self.database.create(template=template)
        elif self.storage_url == self.own_storage_url:
            # Its own SQLite file: a copy of the migrated template.
            template = migrated_template(self.django_settings, self.storage_url, self.python_path)
            shutil.copyfile(template, "/" + unquote(urlsplit(self.storage_url).path).lstrip("/"))
        else:
            # Another's database (a second server, a replica): only migrated, as bin/serve does.
            self.manage("migrate", "--noinput")
            self.manage("createcachetable")
        for _ in range(START_ATTEMPTS):
            if self.launch():
                return
        raise RuntimeError(
            f"No port of its own after {START_ATTEMPTS} attempts:\n{self.log_tail()}"
        )

    def launch(self) -> bool:
        """Start gunicorn on a free port; False when the port turned out to be taken (by a
        concurrent test run in the same checkout, between our probe and gunicorn's bind):
        the health check may then be answered by the other server, so success also needs
        our own gunicorn to say it listens on that port."""
        self.port = free_port()
        env = self.environ()
        log_start = self.log_path.stat().st_size if self.log_path.exists() else 0
        # bin/serve's command: uvicorn workers on the ASGI application (HTTP on `threads`
        # threads per worker, WebSocket and event streams at /v1/changes).
        command = [
            str(VENV_BIN / "gunicorn"),
            self.application,
            "--config",
            "python:kinto_project.workers",
            "--bind",
            f"127.0.0.1:{self.port}",
            "--workers",
            str(self.workers),
            "--worker-class",
            "kinto_project.workers.Worker",
            "--keep-alive",
            "5",
            "--access-logfile",
            "-",
            "--graceful-timeout",
            "5",
        ]
        with open(self.log_path, "ab") as log:
            # A session of its own: stop() can signal gunicorn and all its workers at once.
            self.process = subprocess.Popen(
                command,
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            self.wait_until_healthy()
        except ServerExited:
            # Most likely gunicorn could not bind the port: try another one.
            self.stop_process()
            return False
        listening = f"Listening at: http://127.0.0.1:{self.port} "
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline and self.process.poll() is None:
            with open(self.log_path, "rb") as log:
                log.seek(log_start)
                if listening.encode() in log.read():
                    return True
            time.sleep(0.1)
        self.stop_process()
        return False

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def wait_until_healthy(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        last_error: object = None
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise ServerExited(f"The server exited at start-up:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/__heartbeat__", timeout=5) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError) as error:
                last_error = error
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"The server did not answer ({last_error}):\n{self.log_tail()}")

    def __enter__(self) -> ServerProcess:
        """`with ServerProcess(...) as server:` starts it, and stops it (dropping its
        database) when the block ends or the start fails."""
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop gunicorn and its workers, then drop the run's database."""
        self.stop_process()
        if self.database is not None:
            self.database.drop()

    def stop_process(self) -> None:
        if self.process is not None:
            # QUIT is gunicorn's quick shutdown: no waiting for idle keep-alive connections.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGQUIT)
            try:
                self.process.wait(timeout=STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                pass
            # Workers that outlived their master (or a master that hung) are killed too.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=STOP_TIMEOUT_SECONDS)
            self.process = None
