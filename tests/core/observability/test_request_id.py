"""`X-Request-Id` on every response: the client's (or proxy's) when sane, else generated;
readable by browser scripts; shared by a batch and its sub-requests."""

from __future__ import annotations

import uuid

import pytest

from tests import factories


def test_generated_when_absent(anonymous):
    first = anonymous.get("/v1/").headers["X-Request-Id"]
    second = anonymous.get("/v1/").headers["X-Request-Id"]
    assert uuid.UUID(first) and uuid.UUID(second)
    assert first != second


@pytest.mark.parametrize(
    "sent", ["abc-123", "Root=1-67891233-abcdef012345678912345678", "a" * 128, "x.y_z:1/2+3=@"]
)
def test_a_sane_incoming_id_is_kept(anonymous, sent):
    assert anonymous.get("/v1/", headers={"X-Request-Id": sent}).headers["X-Request-Id"] == sent


@pytest.mark.parametrize(
    "sent", ["a" * 129, "has space", "semi;colon", 'quote"d', "new\\nline", "é", "<script>"]
)
def test_an_insane_incoming_id_is_replaced(anonymous, sent):
    answered = anonymous.get("/v1/", headers={"X-Request-Id": sent}).headers["X-Request-Id"]
    assert answered != sent
    assert uuid.UUID(answered)


def test_on_errors_too(api):
    response = api.get("/buckets/unknown", headers={"X-Request-Id": "err-1"})
    assert response.status == 403
    assert response.headers["X-Request-Id"] == "err-1"
    unknown = api.get("/v1/no/such/path")
    assert unknown.status == 404 and uuid.UUID(unknown.headers["X-Request-Id"])


def test_exposed_to_browsers(api):
    factories.collection(api)
    origin = {"Origin": "https://app.example.com"}
    for path in ("/", f"{factories.RECORDS}", "/buckets/shop", "/batch"):
        method = "POST" if path == "/batch" else "GET"
        body = {"requests": []} if path == "/batch" else None
        response = api.request(method, path, body, headers=origin)
        exposed = [h.strip() for h in response.headers["Access-Control-Expose-Headers"].split(",")]
        assert "X-Request-Id" in exposed, path
    preflight = api.request(
        "OPTIONS",
        factories.RECORDS,
        headers={
            **origin,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "X-Request-Id",
        },
        user=None,
    )
    assert preflight.status == 200
    assert "X-Request-Id" in preflight.headers["Access-Control-Allow-Headers"]


def test_batch_sub_requests_share_the_batch_id(api):
    factories.collection(api)
    batch = {
        "requests": [
            {"method": "PUT", "path": f"{factories.RECORDS}/a"},
            {"method": "GET", "path": f"{factories.RECORDS}/missing"},
            {"method": "GET", "path": "/", "headers": {"X-Request-Id": "sub-own"}},
        ]
    }
    response = api.post("/batch", batch, headers={"X-Request-Id": "batch-9"})
    assert response.headers["X-Request-Id"] == "batch-9"
    ids = [sub["headers"]["X-Request-Id"] for sub in response.json["responses"]]
    assert ids == ["batch-9"] * 3


def test_batch_without_incoming_id_shares_the_generated_one(api):
    response = api.post("/batch", {"requests": [{"path": "/"}, {"path": "/buckets"}]})
    batch_id = response.headers["X-Request-Id"]
    assert uuid.UUID(batch_id)
    assert {sub["headers"]["X-Request-Id"] for sub in response.json["responses"]} == {batch_id}
