"""ASGI entry point (uvicorn or gunicorn with an ASGI worker)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kinto_project.settings")
application = get_asgi_application()
