"""The host site's ASGI application, composed as the README's "Embed in your Django site"
tells a site to: its HTTP requests through the package's WSGI bridge, the storage API's
live endpoint (`/api/storage/v1/changes`, WebSocket or event stream) beside the site's own
WebSocket consumer (`/ws/echo`)."""

import os

from channels.routing import ProtocolTypeRouter, URLRouter
from django.core.wsgi import get_wsgi_application
from django.urls import path, re_path

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hostsite.settings")
wsgi_application = get_wsgi_application()

# These need the apps loaded.
from core.consumers import EchoConsumer  # noqa: E402

from kinto_django.core.api.bridge import WSGIBridge  # noqa: E402
from kinto_django.notifications.live import routing as live  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": URLRouter(
            [*live.http_urlpatterns, re_path(r"", WSGIBridge(wsgi_application, threads=4))]
        ),
        "websocket": URLRouter(
            [*live.websocket_urlpatterns, path("ws/echo", EchoConsumer.as_asgi())]
        ),
        "lifespan": live.lifespan,
    }
)
