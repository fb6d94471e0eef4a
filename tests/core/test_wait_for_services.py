"""`manage.py kinto_wait_for_services` (run by bin/serve before `migrate`): a server started
before its database waits for it, saying so, instead of failing at its first query."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def forward_later(port: int, target: tuple[str, int], delay: float) -> threading.Thread:
    """After `delay` seconds, accept connections on `port` and relay them to `target`: a
    database that comes up late."""

    def pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            sink.close()

    def serve() -> None:
        time.sleep(delay)
        listener = socket.create_server(("127.0.0.1", port))
        listener.settimeout(20)
        try:
            while True:
                client, _ = listener.accept()
                upstream = socket.create_connection(target)
                threading.Thread(target=pipe, args=(client, upstream), daemon=True).start()
                threading.Thread(target=pipe, args=(upstream, client), daemon=True).start()
        except OSError:
            listener.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return thread


def wait_command(storage_url: str, timeout: float) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KINTO_")}
    env.update(KINTO_STORAGE_URL=storage_url, DJANGO_SETTINGS_MODULE="kinto_project.settings")
    return subprocess.run(
        [sys.executable, "manage.py", "kinto_wait_for_services", "--timeout", str(timeout),
         "--interval", "0.3"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_waits_for_a_database_that_comes_up_late():
    if not os.environ.get("KINTO_STORAGE_URL", "").startswith("postgres"):
        pytest.skip("needs PostgreSQL (KINTO_STORAGE_URL=postgresql://…)")
    port = free_port()
    forward_later(port, ("127.0.0.1", 5432), delay=1.5)
    started = time.monotonic()
    done = wait_command(f"postgresql://postgres@127.0.0.1:{port}/postgres", timeout=20)
    assert done.returncode == 0, done.stderr
    assert time.monotonic() - started >= 1.5
    assert "Waiting for the database (attempt 1)" in done.stderr
    assert "The database answers." in done.stderr


def test_gives_up_with_a_clear_message():
    port = free_port()  # nothing listens there
    done = wait_command(f"postgresql://postgres@127.0.0.1:{port}/postgres", timeout=1)
    assert done.returncode != 0
    assert "The database did not answer within 1 s" in done.stderr
