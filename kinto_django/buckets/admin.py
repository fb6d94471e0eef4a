"""Buckets, collections and groups in the Django admin (see core/admin.py)."""

from django.contrib import admin

from kinto_django.buckets.models import Bucket, Collection, Group
from kinto_django.core.admin.resources import ResourceAdmin

admin.site.register([Bucket, Collection, Group], ResourceAdmin)
