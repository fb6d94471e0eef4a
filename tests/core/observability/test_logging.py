"""One structured `kinto.request.summary` line per request, as JSON with `log_format=json`."""

from __future__ import annotations

import json
import logging
import sys

import pytest

from kinto_django.core.observability.logging import JSONFormatter, RequestIdFilter
from tests import factories
from tests.conftest import PASSWORD

SUMMARY = "kinto.request.summary"


@pytest.fixture
def summaries(caplog):
    """The summary records logged so far (a list, filled as requests are made)."""
    caplog.set_level(logging.INFO, logger=SUMMARY)

    def records() -> list[logging.LogRecord]:
        return [record for record in caplog.records if record.name == SUMMARY]

    return records


def test_an_error_is_summarised_with_its_errno_user_and_timings(api, summaries):
    factories.collection(api)
    response = api.get(
        f"{factories.RECORDS}/nope",
        headers={"User-Agent": "kinto-http/11", "X-Request-Id": "trace-42"},
    )
    assert response.status == 404
    record = summaries()[-1]
    fields = record.fields
    assert fields["method"] == "GET"
    assert fields["path"] == "/v1/buckets/shop/collections/orders/records/nope"
    assert fields["route"] == "record-object"
    assert fields["status"] == 404
    assert fields["errno"] == response.json["errno"] == 110
    assert fields["user_id"].startswith("basicauth:")
    assert fields["request_id"] == "trace-42" == response.headers["X-Request-Id"]
    assert fields["agent"] == "kinto-http/11"
    assert fields["duration_ms"] > 0
    assert fields["db_ms"] > 0 and fields["db_queries"] >= 1
    assert fields["duration_ms"] >= fields["db_ms"]

    line = JSONFormatter().format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["logger"] == SUMMARY and entry["level"] == "INFO"
    assert entry["time"].endswith("+00:00")
    assert {k: entry[k] for k in fields} == fields
    assert "GET /v1/buckets/shop/collections/orders/records/nope 404" in entry["message"]
    # Never the credentials.
    assert PASSWORD not in line and "Basic " not in line


def test_a_batch_logs_each_sub_request_then_itself(api, summaries):
    """An operator sees what a batch ran (an amplification attempt too): one line per
    sub-request, marked as such and with the batch's request id, then the batch's own."""
    factories.collection(api)
    before = len(summaries())
    batch = {
        "requests": [{"method": "PUT", "path": f"{factories.RECORDS}/r{i}"} for i in range(3)]
        + [{"method": "GET", "path": "/buckets/shop/"}]  # followed through a redirect
    }
    response = api.post("/batch", batch, headers={"X-Request-Id": "batch-7"})
    assert response.status == 200
    lines = [record.fields for record in summaries()[before:]]
    assert [(f["route"], f["status"], f.get("subrequest_of")) for f in lines] == [
        ("record-object", 201, "batch"),
        ("record-object", 201, "batch"),
        ("record-object", 201, "batch"),
        ("not-found", 307, "batch"),
        ("bucket-object", 200, "batch"),
        ("batch", 200, None),
    ]
    assert {f["request_id"] for f in lines} == {"batch-7"}
    assert all(f["user_id"].startswith("basicauth:") for f in lines)
    assert lines[-1]["db_queries"] > 3


def test_anonymous_and_unauthenticated_requests_have_no_user(anonymous, summaries):
    assert anonymous.get("/v1/").status == 200
    assert summaries()[-1].fields["user_id"] is None


def test_records_logged_while_serving_carry_the_request_id(api, kinto_settings, caplog):
    """Any line logged during a request (here a failed login) names the request."""
    kinto_settings(auth_policies="account", account_create_principals="system.Everyone")
    assert api.put("/accounts/ana", {"data": {"password": "right"}}, user=None).status == 201
    caplog.handler.addFilter(RequestIdFilter())
    response = api.get("/", user=("ana", "wrong"), headers={"X-Request-Id": "login-7"})
    assert response.status == 200
    failed = [r for r in caplog.records if r.getMessage() == "Failed login for account 'ana'"]
    assert [r.request_id for r in failed] == ["login-7"]
    assert json.loads(JSONFormatter().format(failed[0]))["request_id"] == "login-7"
    # Outside a request, no id.
    logging.getLogger("kinto.test").warning("idle")
    assert caplog.records[-1].request_id is None


def test_json_formatter_keeps_tracebacks_on_one_line():
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed %s", ("op",), None)
        record.exc_info = sys.exc_info()
    line = JSONFormatter().format(record)
    entry = json.loads(line)
    assert "\n" not in line
    assert entry["message"] == "failed op"
    assert "ValueError: boom" in entry["exception"]
