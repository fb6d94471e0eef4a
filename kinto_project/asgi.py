"""ASGI entry point: HTTP, WebSocket and Server-Sent Events in one server (`bin/serve` runs it
under gunicorn with uvicorn workers).

`/v1/changes` (WebSocket, or `Accept: text/event-stream`) goes to the live consumers; every
other request goes to the WSGI application through a pool of `KINTO_THREADS` threads (a2wsgi).
Django's own ASGI handler would run the synchronous views one at a time per process.
"""

import os

from a2wsgi import WSGIMiddleware
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kinto_project.settings")
wsgi_application = get_wsgi_application()

from notifications.routing import live_application  # noqa: E402  (needs the apps loaded)

application = live_application(
    WSGIMiddleware(wsgi_application, workers=int(os.environ.get("KINTO_THREADS", "4")))
)
