"""The gunicorn worker class of `bin/serve`: uvicorn, tuned for live fan-out."""

from uvicorn_worker import UvicornWorker


class Worker(UvicornWorker):
    """uvicorn under gunicorn, without WebSocket compression (permessage-deflate).

    Compressing every message once per subscriber took about half of the CPU of a live
    fan-out (each connection has its own compressor, and its own memory for it); change
    messages are small JSON objects.
    """

    CONFIG_KWARGS = {**UvicornWorker.CONFIG_KWARGS, "ws_per_message_deflate": False}
