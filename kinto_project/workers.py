"""The gunicorn worker class of `bin/serve` (uvicorn, tuned for live fan-out), and the server
hooks: `bin/serve` loads this module as gunicorn's configuration (`-c python:…`)."""

import os
from typing import Any

from uvicorn_worker import UvicornWorker


class Worker(UvicornWorker):
    """uvicorn under gunicorn, without WebSocket compression (permessage-deflate).

    Compressing every message once per subscriber took about half of the CPU of a live
    fan-out (each connection has its own compressor, and its own memory for it); change
    messages are small JSON objects.
    """

    CONFIG_KWARGS = {**UvicornWorker.CONFIG_KWARGS, "ws_per_message_deflate": False}


def child_exit(server: Any, worker: Any) -> None:
    """gunicorn hook, in the arbiter: a worker ended. In prometheus_client's multi-process
    mode its counters stay in the scrape; its live gauge values must go."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


# gunicorn 27's control socket is one path per user (`~/.gunicorn/gunicorn.ctl`), shared by
# every server started on the machine: two servers side by side (an API node and a read-only
# node) would take it from each other. Nothing here uses it.
control_socket_disable = True
