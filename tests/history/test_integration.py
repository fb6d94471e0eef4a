"""The history among the other features: its settings as deployments write them, start-up
checks, `/permissions`, the flush endpoint."""

from __future__ import annotations

import pytest

from kinto_django.history import checks
from kinto_project import config
from tests import factories
from tests.history.conftest import entries


def test_reference_setting_names(tmp_path):
    ini = tmp_path / "kinto.ini"
    ini.write_text(
        "[app:main]\n"
        "kinto.includes = kinto.plugins.history\n"
        "kinto.history.exclude_user_ids = account:bot\n"
        "kinto.history.auto_trim_max_count = 500\n"
    )
    values = config.load(
        {"KINTO_INI": str(ini), "KINTO_HISTORY_EXCLUDE_RESOURCES": "/buckets/tmp"}
    )
    assert values == {
        "ini": str(ini),
        "includes": "kinto.plugins.history",
        "history_exclude_user_ids": "account:bot",
        "history_auto_trim_max_count": "500",
        "history_exclude_resources": "/buckets/tmp",
    }


@pytest.mark.parametrize(
    ("values", "error"),
    [
        ({"history_exclude_resources": "buckets/b"}, "kinto_history.E001"),
        ({"history_exclude_resources": "/buckets/b/records/r"}, "kinto_history.E001"),
        ({"history_exclude_resources": "/buckets/b/collections/c/groups/g"}, "kinto_history.E001"),
        ({"history_exclude_resources": "/buckets//collections/c"}, "kinto_history.E001"),
        ({"history_auto_trim_threshold": "-1"}, "kinto_history.E002"),
    ],
)
def test_settings_are_checked_at_startup(kinto_settings, values, error):
    kinto_settings(**values)
    assert [message.id for message in checks.check_history_settings()] == [error]


def test_valid_settings_pass_the_checks(kinto_settings):
    kinto_settings(
        history_exclude_resources="/buckets/b /buckets/b/collections/c /buckets/b/groups/g "
        "/buckets/b/collections/c/records/r",
        history_auto_trim_threshold="0",
    )
    assert checks.check_history_settings() == []


def test_entries_are_never_listed_by_the_permissions_endpoint(history, kinto_settings):
    kinto_settings(experimental_permissions_endpoint=True)
    factories.collection(history, permissions={"read": ["system.Everyone"]})
    assert len(entries(history)) == 2
    response = history.get("/permissions")
    assert response.status == 200
    assert {entry["resource_name"] for entry in response.data} == {
        "root",
        "bucket",
        "collection",
    }


def test_flush_erases_the_history(history, kinto_settings):
    kinto_settings(flush_endpoint_enabled=True)
    factories.collection(history)
    assert history.post("/v1/__flush__", user=None).status == 202
    factories.bucket(history)
    assert [entry["uri"] for entry in entries(history)] == ["/buckets/shop"]
