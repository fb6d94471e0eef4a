"""The project's Redis channel layer survives idle reads: its blocking pops wait 5 s at a
time, so the Redis client's read timeout must be longer (redis-py 8 defaults to 5 s, which
made every idle receive of the live hub fail and log an error)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.server import REDIS_URL, redis_available

ROOT = Path(__file__).resolve().parents[3]


pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not redis_available(), reason="needs Redis on 127.0.0.1:6379"),
]

IDLE_RECEIVE = """
import asyncio, django
django.setup()
from channels.layers import get_channel_layer

async def main():
    layer = get_channel_layer()
    channel = await layer.new_channel()
    try:
        await asyncio.wait_for(layer.receive(channel), 7)
    except asyncio.TimeoutError:
        print("idle")  # nothing came, and nothing failed
    await layer.send(channel, {"type": "ping"})
    print((await layer.receive(channel))["type"])

asyncio.run(main())
"""


def test_an_idle_receive_waits_instead_of_failing():
    env = {k: v for k, v in os.environ.items() if not k.startswith("KINTO_")}
    env.update(
        DJANGO_SETTINGS_MODULE="kinto_project.settings",
        KINTO_REDIS_URL=REDIS_URL,
        KINTO_REDIS_PREFIX=f"kinto-idle-{os.getpid()}",
        KINTO_STORAGE_URL="sqlite:///:memory:",
    )
    done = subprocess.run(
        [sys.executable, "-c", IDLE_RECEIVE],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["idle", "ping"]
