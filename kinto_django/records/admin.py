"""Records in the Django admin (see core/admin.py)."""

from django.contrib import admin

from kinto_django.core.admin.resources import ResourceAdmin
from kinto_django.records.models import Record

admin.site.register(Record, ResourceAdmin)
