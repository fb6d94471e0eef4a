"""The host site's ASGI application: Django's own, wrapped so that the API's live endpoint
(`/api/storage/v1/changes`, WebSocket or event stream) reaches the live consumers."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.host_site.settings")
django_application = get_asgi_application()

from kinto_django.notifications.live.routing import live_application  # noqa: E402  (needs the apps loaded)

application = live_application(django_application)
