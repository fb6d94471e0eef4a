"""History entries and the outbox: listed, searched and filtered, never edited."""

from __future__ import annotations

import pytest

from kinto_django.history.models import HistoryEntry
from kinto_django.notifications.models import OutboxEntry
from tests import factories
from tests.core.admin.conftest import admin_url


@pytest.fixture
def shop(api, kinto_settings):
    kinto_settings(
        history_enabled=True,
        event_listeners="hook",
        # Never delivered in these tests: entries stay pending.
        event_listeners_hook_use="webhook",
        event_listeners_hook_url="http://127.0.0.1:9/unreachable",
        event_listeners_hook_secret="hook-secret",
    )
    factories.collection(api)
    factories.record(api, {"item": "lamp"}, record_id="lamp")
    return api


def test_history_is_listed_searched_and_read_only(staff, shop):
    url = admin_url(HistoryEntry, "changelist")
    page = staff.get(url)
    assert page.status_code == 200
    assert len(page.context["cl"].result_list) == 3
    found = staff.get(url, {"q": "lamp"}).context["cl"].result_list
    assert [entry.data["uri"] for entry in found] == [
        "/buckets/shop/collections/orders/records/lamp"
    ]
    entry = found[0]
    detail = staff.get(admin_url(HistoryEntry, "change", entry.pk))
    assert detail.status_code == 200
    assert not detail.context["has_change_permission"]
    assert "&quot;lamp&quot;" in detail.content.decode()
    assert staff.get(admin_url(HistoryEntry, "add")).status_code == 403
    assert staff.post(admin_url(HistoryEntry, "change", entry.pk), {}).status_code == 403
    assert (
        staff.post(admin_url(HistoryEntry, "delete", entry.pk), {"post": "yes"}).status_code == 403
    )
    assert HistoryEntry.objects.count() == 3


def test_outbox_shows_its_backlog(staff, shop):
    assert OutboxEntry.objects.pending().count() == 3
    url = admin_url(OutboxEntry, "changelist")
    page = staff.get(url)
    assert page.status_code == 200
    assert "hook: 3 pending since" in page.context["subtitle"]
    assert len(staff.get(url, {"delivery": "done"}).context["cl"].result_list) == 0
    found = staff.get(url, {"q": "records/lamp"}).context["cl"].result_list
    assert [entry.payload["action"] for entry in found] == ["create"]
    entry = found[0]
    assert staff.get(admin_url(OutboxEntry, "change", entry.pk)).status_code == 200
    assert (
        staff.post(admin_url(OutboxEntry, "delete", entry.pk), {"post": "yes"}).status_code == 403
    )
    assert OutboxEntry.objects.count() == 3
