"""The host site's ASGI application: Django's own, with the API's live endpoint
(`/api/storage/v1/changes`, WebSocket or event stream) routed to the live consumers."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.host_site.settings")
django_application = get_asgi_application()

from kinto_django.notifications.live import routing  # noqa: E402  (needs the apps loaded)

application = routing.application(django_application)
