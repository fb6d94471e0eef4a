"""How the server runs beside others on one machine."""

from __future__ import annotations

import pytest
import requests

from tests.e2e.server import ServerProcess

pytestmark = pytest.mark.e2e


def test_servers_side_by_side_share_no_control_socket(tmp_path, monkeypatch):
    """gunicorn 27 binds a control socket at one path per user, which two servers on one
    machine would take from each other: the project's configuration turns it off."""
    monkeypatch.setenv("HOME", str(tmp_path))
    first = ServerProcess(tmp_path / "a", workers=1, database_suffix="side-a")
    second = ServerProcess(tmp_path / "b", workers=1, database_suffix="side-b")
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with first, second:
        for server in (first, second):
            assert requests.get(f"{server.url}/__heartbeat__", timeout=10).status_code == 200
        assert not (tmp_path / ".gunicorn").exists() or not any((tmp_path / ".gunicorn").iterdir())
