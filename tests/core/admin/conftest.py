"""Fixtures of the admin tests: a logged-in superuser, and helpers to reach admin pages."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from kinto_django.core.models import ResourceModel


@pytest.fixture
def staff(db: Any) -> Client:
    """A browser logged into the admin as the superuser `staff` (principal `django:staff`)."""
    user = get_user_model().objects.create_superuser("staff", password="staff-pw")
    client = Client()
    client.force_login(user)
    return client


def admin_url(model: type[ResourceModel], view: str, *args: Any) -> str:
    """`admin_url(Record, "change", pk)` → `/admin/kinto_records/record/<pk>/change/`."""
    opts = model._meta
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_{view}", args=args)


def form_errors(response: Any) -> dict[str, list[str]]:
    """The errors of the admin form a refused POST shows again (field → messages)."""
    assert response.status_code == 200, response.status_code
    form = response.context["adminform"].form
    return {name or "__all__": list(messages) for name, messages in form.errors.items()}
