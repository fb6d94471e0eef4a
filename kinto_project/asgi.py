"""ASGI entry point: HTTP, WebSocket and Server-Sent Events in one server (`bin/serve` runs it
under gunicorn with uvicorn workers).

`/v1/changes` (WebSocket, or `Accept: text/event-stream`) goes to the live consumers; every
other request goes to the WSGI application through a pool of `KINTO_THREADS` threads
(`kinto_django.core.api.bridge`). Django's own ASGI handler would run the synchronous views
one at a time per process.
"""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kinto_project.settings")
wsgi_application = get_wsgi_application()

from kinto_django.core.api.bridge import WSGIBridge  # noqa: E402  (needs the apps loaded)
from kinto_django.notifications.live import routing  # noqa: E402

http_application = WSGIBridge(wsgi_application, threads=int(os.environ.get("KINTO_THREADS", "4")))
application = routing.application(http_application)
