"""Buckets, collections and groups in the Django admin (see core/admin.py)."""

from django.contrib import admin

from buckets.models import Bucket, Collection, Group
from core.admin import ResourceAdmin

admin.site.register([Bucket, Collection, Group], ResourceAdmin)
