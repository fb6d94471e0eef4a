"""Every refusal of the attachment endpoint, with the reference's status, errno and message
(spec/07), and what a refusal leaves behind: nothing."""

from __future__ import annotations

import pytest

from kinto_django import jsonutil
from tests import factories
from tests.attachments.conftest import (
    ATTACHMENT,
    MULTIPART,
    RECORD,
    form,
    multipart,
    part,
    stored_files,
    upload,
)


def assert_error(response, status: int, errno: int, message: str) -> None:
    assert response.status == status, response
    assert response.json["errno"] == errno, response.json
    assert response.json["message"] == message, response.json


def test_not_multipart(api, collection):
    refused = api.post(ATTACHMENT, {"data": {}})
    assert_error(refused, 400, 107, "Content-Type should be multipart/form-data")
    assert refused.json["error"] == "Bad Request"
    bare = api.post(ATTACHMENT, raw=b"xx", content_type="")
    assert_error(bare, 400, 107, "Content-Type should be multipart/form-data")
    no_boundary = api.post(ATTACHMENT, raw=form(), content_type="multipart/form-data")
    assert_error(no_boundary, 400, 107, "Content-Type should be multipart/form-data")


def test_attachment_missing(api, collection):
    only_data = upload(api, body=multipart(part("data", b"{}")))
    assert_error(only_data, 400, 109, "Attachment missing.")
    empty = api.post(ATTACHMENT, raw=multipart(), content_type=MULTIPART)
    assert_error(empty, 400, 109, "Attachment missing.")


def test_unknown_part(api, collection, files_dir):
    body = multipart(part("attachment", b"x", "a.txt"), part("foo", b"bar"))
    assert_error(upload(api, body=body), 400, 109, "body: 'foo' not in ('data', 'permissions')")
    # An unknown part before the file: refused before the file is read.
    body = multipart(part("other", b"x", "a.txt"), part("attachment", b"x", "a.txt"))
    assert_error(upload(api, body=body), 400, 109, "body: 'other' not in ('data', 'permissions')")
    assert stored_files(files_dir) == []


@pytest.mark.parametrize("filename", ["", None])
def test_filename_required(api, collection, filename):
    body = multipart(part("attachment", b"x", filename))
    refused = upload(api, body=body)
    assert_error(refused, 400, 107, "body: Filename is required.")
    assert refused.json["details"] == [
        {"location": "body", "name": None, "description": "Filename is required."}
    ]


@pytest.mark.parametrize("filename", ["a.exe", "noext", ".txt", "a.txt.sh", "a.", "a.php"])
def test_extension_not_allowed(api, collection, files_dir, filename):
    assert_error(upload(api, filename=filename), 400, 107, "body: File extension is not allowed.")
    assert stored_files(files_dir) == []
    assert api.get(RECORD).status == 404


def test_extension_groups_and_lists(api, collection, kinto_settings):
    assert upload(api, filename="A.TXT").status == 201  # extensions compare lower-cased
    kinto_settings(attachment_extensions="default+video")
    assert upload(api, filename="clip.mp4").status == 200
    kinto_settings(attachment_extensions="pdf txt")
    assert upload(api, filename="a.pdf").status == 200
    assert upload(api, filename="a.png").status == 400
    kinto_settings(attachment_extensions="any")
    assert upload(api, filename="noext").status == 200
    kinto_settings(attachment_extensions="default", attachment_resources_shop_extensions="any")
    assert upload(api, filename="tool.exe").status == 200


def test_file_over_the_size_limit(api, collection, files_dir, kinto_settings):
    kinto_settings(attachment_max_size_bytes=10)
    refused = upload(api, content=b"x" * 20)
    assert_error(refused, 400, 107, "body: File size (20 bytes) exceeds the limit (10 bytes).")
    assert stored_files(files_dir) == []
    assert upload(api, content=b"x" * 10).status == 201


def test_size_limit_per_bucket_and_collection(api, collection, kinto_settings):
    kinto_settings(
        attachment_max_size_bytes=100,
        attachment_resources_shop_max_size_bytes=10,
    )
    assert upload(api, content=b"x" * 20).status == 400
    kinto_settings(attachment_resources_shop_orders_max_size_bytes=0)  # no limit
    assert upload(api, content=b"x" * 200).status == 201


def test_request_larger_than_the_limit_allows_is_refused_before_reading(
    api, collection, kinto_settings
):
    kinto_settings(attachment_max_size_bytes=10, max_request_body_bytes=100)
    body = form(content=b"x" * 70 * 1024)
    refused = upload(api, body=body)
    assert refused.status == 413
    assert refused.json["errno"] == 107


@pytest.mark.parametrize("field", ["data", "permissions"])
def test_invalid_json(api, collection, files_dir, field):
    refused = upload(api, **{field: b"{bad"})
    assert refused.status == 400
    assert refused.json["errno"] == 109
    assert refused.json["message"].startswith(f"body: {field} is not valid JSON (")
    assert stored_files(files_dir) == []


def test_data_and_permissions_must_be_objects_of_known_names(api, collection):
    refused = upload(api, data=[1])
    assert refused.status == 400 and refused.json["errno"] == 107
    unknown = upload(api, permissions={"foo": ["x"]})
    assert unknown.status == 400
    assert unknown.json["details"][0]["name"] == "permissions"
    bad_principal = upload(api, permissions={"read": [1]})
    assert bad_principal.status == 400


def test_a_text_part_too_large(api, collection, kinto_settings):
    kinto_settings(max_request_body_bytes=1000)
    refused = upload(api, data=b'{"a": "' + b"x" * 2000 + b'"}')
    assert refused.status == 413


@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH", "HEAD"])
def test_other_methods(api, collection, method):
    response = api.request(method, ATTACHMENT)
    assert response.status == 405
    if method != "HEAD":
        assert response.json["errno"] == 115
    assert "POST" in response.headers["Allow"] and "DELETE" in response.headers["Allow"]


def test_readonly_server(api, collection, kinto_settings):
    kinto_settings(readonly=True)
    assert upload(api).status == 405
    assert api.delete(ATTACHMENT).status == 405


def test_missing_parents_and_invalid_ids(api, collection):
    missing = upload(api, "/buckets/shop/collections/nope/records/r/attachment")
    assert missing.status == 404
    assert missing.json["details"] == {"id": "nope", "resource_name": "collection"}
    invalid = upload(api, f"{factories.RECORDS}/a%20b/attachment")
    assert invalid.status == 400
    assert invalid.json["message"] == "path: Invalid object id"


def test_attachment_uploads_in_a_batch_are_refused(api, collection):
    batch = api.post(
        "/batch",
        {"requests": [{"method": "POST", "path": f"/v1{ATTACHMENT}", "body": {"data": {}}}]},
    )
    assert batch.status == 200
    sub = batch.json["responses"][0]
    assert sub["status"] == 400
    assert sub["body"]["message"] == "body: Attachments cannot be uploaded in a batch request."


def test_malformed_multipart(api, collection, files_dir):
    truncated = form()[:-30]
    response = upload(api, body=truncated)
    # A body cut inside its last part is not a complete form: either refused, or the
    # part that did arrive is complete (Django's parser ends at the body's end).
    assert response.status in (201, 400)
    garbage = upload(api, body=b"--nope\r\n\r\n\x00\x01")
    assert garbage.status == 400
    assert garbage.json["message"] == "Attachment missing."


def test_invalid_json_is_checked_after_the_file_rules(api, collection):
    """The reference's order: the file's own problems first."""
    body = form(filename="a.exe", data=b"{bad")
    assert upload(api, body=body).json["message"] == "body: File extension is not allowed."


def test_dumps_helper():
    assert jsonutil.dumps({"a": 1}) == b'{"a":1}'
