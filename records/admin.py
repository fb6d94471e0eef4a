"""Records in the Django admin (see core/admin.py)."""

from django.contrib import admin

from core.admin import ResourceAdmin
from records.models import Record

admin.site.register(Record, ResourceAdmin)
