"""Uploading a file (spec/07): the record created (201) or updated (200), the attachment
object in the body, `Location`, the stored file and its metadata."""

from __future__ import annotations

import errno
import re
import uuid

import pytest
from django.core.files.storage import filesystem

from kinto_django.attachments.models import StoredFile
from tests import factories
from tests.attachments.conftest import (
    ATTACHMENT,
    RECORD,
    form,
    multipart,
    part,
    sha256,
    stored_files,
    upload,
)

UUID_NAME = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}\.txt")


def fetch(api, location: str):
    """GET a location served by this server (through the test client)."""
    response = api.client.get(location.replace("http://testserver", ""))
    body = b"".join(response.streaming_content) if response.streaming else response.content
    return response, body


def test_upload_creates_the_record_with_its_attachment(api, collection, files_dir):
    response = upload(api, content=b"hello", data={"title": "greeting"})
    assert response.status == 201
    assert response.headers["Location"] == f"http://testserver/v1{RECORD}"
    attachment = response.json
    assert set(attachment) == {"filename", "location", "hash", "mimetype", "size"}
    assert attachment["filename"] == "hello.txt"
    assert attachment["hash"] == sha256(b"hello")
    assert attachment["size"] == 5
    assert attachment["mimetype"] == "text/plain"
    name = attachment["location"].rsplit("/", 1)[1]
    assert UUID_NAME.fullmatch(name)
    assert attachment["location"] == f"http://testserver/v1/attachments/{name}"
    assert stored_files(files_dir) == [name]
    assert (files_dir / name).read_bytes() == b"hello"
    record = api.get(RECORD).json
    assert record["data"]["attachment"] == attachment
    assert record["data"]["title"] == "greeting"
    assert response.headers["ETag"] == f'"{record["data"]["last_modified"]}"'
    served, body = fetch(api, attachment["location"])
    assert served.status_code == 200 and body == b"hello"


def test_upload_on_an_existing_record_updates_it_like_a_patch(api, collection, files_dir):
    factories.record(api, {"title": "kept", "n": 1}, record_id="r1")
    response = upload(api, content=b"v2", filename="v2.json", content_type=None, data={"n": 2})
    assert response.status == 200
    assert response.headers["Location"].endswith(RECORD)
    data = api.get(RECORD).data
    assert data["title"] == "kept" and data["n"] == 2
    assert data["attachment"]["mimetype"] == "application/json"
    assert data["attachment"]["hash"] == sha256(b"v2")


def test_replacing_the_file_deletes_the_previous_one(api, collection, files_dir):
    first = upload(api, content=b"one").json
    second = upload(api, content=b"two", filename="two.txt").json
    assert first["location"] != second["location"]
    assert stored_files(files_dir) == [second["location"].rsplit("/", 1)[1]]
    assert StoredFile.objects.count() == 1


def test_keep_old_files_keeps_the_previous_one(api, collection, files_dir, kinto_settings):
    kinto_settings(attachment_keep_old_files="true")
    first = upload(api, content=b"one").json
    second = upload(api, content=b"two").json
    names = {first["location"].rsplit("/", 1)[1], second["location"].rsplit("/", 1)[1]}
    assert set(stored_files(files_dir)) == names
    assert api.delete(ATTACHMENT).status == 204
    assert set(stored_files(files_dir)) == names


def test_permissions_of_the_form_are_the_records(api, collection):
    response = upload(api, permissions={"read": ["system.Everyone"]})
    assert response.status == 201
    acls = api.get(RECORD).json["permissions"]
    assert acls["read"] == ["system.Everyone"]
    assert acls["write"][0].startswith("basicauth:")
    assert api.as_user(None).get(RECORD).status == 200


def test_data_cannot_forge_the_attachment_nor_the_id(api, collection):
    forged = {"attachment": {"location": "http://evil/x"}, "last_modified": 1}
    created = upload(api, data=forged).json
    assert api.get(RECORD).data["attachment"] == created
    mismatch = upload(api, data={"id": "other"})
    assert mismatch.status == 400
    assert mismatch.json["message"] == "Object id does not match existing object"


def test_the_collection_schema_applies(api, files_dir, kinto_settings):
    kinto_settings(experimental_collection_schema_validation=True)
    schema = {
        "type": "object",
        "properties": {"title": {"type": "string"}, "attachment": {"type": "object"}},
        "required": ["title"],
    }
    factories.collection(api, data={"schema": schema})
    refused = upload(api)
    assert refused.status == 400
    assert "title" in refused.json["message"]
    # The file stored before the record was refused is gone with the refusal.
    assert stored_files(files_dir) == []
    assert StoredFile.objects.count() == 0
    assert api.get(RECORD).status == 404
    assert upload(api, data={"title": "ok"}).status == 201


def test_mimetype_from_the_part_the_extension_or_the_overrides(api, collection, kinto_settings):
    kinto_settings(attachment_extensions="any", attachment_mimetypes=".ftl:application/vnd.fluent")
    cases = [
        ("a.txt", "text/csv", "text/csv"),  # the client's type, as the reference
        ("a.png", None, "image/png"),
        ("a.png", "application/octet-stream", "image/png"),
        ("a.pem", "text/plain", "application/x-pem-file"),  # default override
        ("a.ftl", None, "application/vnd.fluent"),
        ("a.unknownext", None, "application/octet-stream"),
    ]
    for index, (filename, given, expected) in enumerate(cases):
        path = f"{factories.RECORDS}/m{index}/attachment"
        response = upload(api, path, filename=filename, content_type=given)
        assert response.status == 201, response
        assert response.json["mimetype"] == expected, filename


def test_an_empty_file_is_a_file(api, collection):
    response = upload(api, content=b"")
    assert response.status == 201
    assert response.json["size"] == 0
    assert response.json["hash"] == sha256(b"")


def test_several_attachment_parts_the_last_counts(api, collection, files_dir):
    body = multipart(
        part("attachment", b"first", "a.txt", "text/plain"),
        part("attachment", b"second", "b.txt", "text/plain"),
    )
    response = upload(api, body=body)
    assert response.status == 201
    assert response.json["filename"] == "b.txt"
    assert response.json["hash"] == sha256(b"second")
    assert len(stored_files(files_dir)) == 1


def test_folder_randomize_and_filename_pattern(api, collection, files_dir, kinto_settings):
    kinto_settings(attachment_folder="{bucket_id}/{collection_id}")
    located = upload(api).json["location"]
    assert re.search(r"/attachments/shop/orders/[0-9a-f-]{36}\.txt$", located)
    kinto_settings(attachment_folder="", attachment_randomize="false")
    plain = upload(api, f"{factories.RECORDS}/r2/attachment", filename="Report 2024.txt")
    assert plain.json["location"].endswith("/attachments/Report_2024.txt")
    kinto_settings(attachment_randomize="true", attachment_filename_pattern="{rid}-{filename}")
    patterned = upload(api, f"{factories.RECORDS}/r3/attachment", filename="notes.txt")
    assert patterned.json["location"].endswith("/attachments/r3-notes.txt")
    for location in (located, plain.json["location"], patterned.json["location"]):
        assert fetch(api, location)[0].status_code == 200


def test_per_collection_overrides(api, collection, files_dir, kinto_settings):
    kinto_settings(
        attachment_resources_shop_folder="shop-files",
        attachment_resources_shop_orders_randomize="false",
    )
    response = upload(api, filename="invoice.txt")
    assert response.json["location"].endswith("/attachments/shop-files/invoice.txt")
    factories.collection(api, collection_id="other", create_bucket=False)
    other = upload(api, "/buckets/shop/collections/other/records/x/attachment").json
    assert re.search(r"/attachments/shop-files/[0-9a-f-]{36}\.txt$", other["location"])


def test_base_url_setting_makes_the_locations(api, collection, kinto_settings):
    kinto_settings(attachment_base_url="https://cdn.example.com/files")
    location = upload(api).json["location"]
    assert re.fullmatch(r"https://cdn\.example\.com/files/[0-9a-f-]{36}\.txt", location)
    capability = api.get("/").json["capabilities"]["attachments"]
    assert capability["base_url"] == "https://cdn.example.com/files/"
    kinto_settings(attachment_base_url="", attachment_extra_base_url=None)
    relative = upload(api, content=b"x").json["location"]
    assert UUID_NAME.fullmatch(relative)
    assert api.get("/").json["capabilities"]["attachments"]["base_url"] is None
    kinto_settings(attachment_extra_base_url="https://cdn.example.com/x")
    assert (
        api.get("/").json["capabilities"]["attachments"]["base_url"]
        == "https://cdn.example.com/x/"
    )


def test_capability_and_heartbeat(api, files_dir):
    capability = api.get("/").json["capabilities"]["attachments"]
    assert capability["version"] == "9.0.0"
    assert capability["base_url"] == "http://testserver/v1/attachments/"
    heartbeat = api.get("/v1/__heartbeat__")
    assert heartbeat.status == 200
    assert heartbeat.json["attachments"] is True
    assert list(files_dir.rglob("*.txt")) == []  # its probe file is removed


def test_heartbeat_fails_when_the_storage_cannot_be_written(api, files_dir, kinto_settings):
    blocker = files_dir / "not-a-folder"
    blocker.write_bytes(b"")
    kinto_settings(attachment_base_path=str(blocker))
    heartbeat = api.get("/v1/__heartbeat__")
    assert heartbeat.status == 503
    assert heartbeat.json["attachments"] is False


def test_upload_of_a_tombstone_revives_the_record(api, collection):
    factories.record(api, {"old": True}, record_id="r1")
    assert api.delete(RECORD).status == 200
    response = upload(api)
    assert response.status == 201
    assert "old" not in api.get(RECORD).data


@pytest.mark.parametrize("precondition", ['"1"', "*"])
def test_preconditions_are_honoured(api, collection, precondition):
    upload(api)
    header = "If-Match" if precondition != "*" else "If-None-Match"
    response = upload(api, headers={header: precondition})
    assert response.status == 412
    current = api.get(RECORD).json["data"]["last_modified"]
    assert upload(api, headers={"If-Match": f'"{current}"'}).status == 200


def test_the_ledger_names_each_stored_file(api, collection):
    attachment = upload(api).json
    entry = StoredFile.objects.get()
    assert attachment["location"].endswith(entry.name)
    assert entry.uri == RECORD
    assert entry.sha256 == attachment["hash"]
    assert entry.size == attachment["size"]
    assert uuid.UUID(entry.name[:36])
    assert form()  # the default form has a file part


def test_the_personal_bucket_alias(api, files_dir, kinto_settings):
    """Through `/buckets/default`, the body is read as any request to the alias: whole, up
    to `max_request_body_bytes` (413 beyond)."""
    kinto_settings(default_bucket_enabled=True, default_bucket_hmac_secret="secret")
    response = upload(api, "/buckets/default/collections/c/records/r/attachment")
    assert response.status == 201, response
    bucket_id = api.get("/").json["user"]["bucket"]
    record = api.get(f"/buckets/{bucket_id}/collections/c/records/r").data
    assert record["attachment"] == response.json
    kinto_settings(max_request_body_bytes=1000)
    large = upload(api, "/buckets/default/collections/c/records/r/attachment", content=b"x" * 2000)
    assert large.status == 413


def test_a_disk_that_fills_during_the_copy_leaves_no_file_and_no_record(
    api, collection, files_dir, monkeypatch
):
    """The storage's disk fills while the file is written into it: 507, and neither the part
    already written nor a record stays."""

    def fill_the_disk(old_file_name, new_file_name, *args, **kwargs):
        with open(new_file_name, "wb") as half:
            half.write(b"half a file")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(filesystem, "file_move_safe", fill_the_disk)
    response = upload(api, content=b"x" * 1000)
    assert response.status == 507, response
    assert "no storage space left" in response.json["message"]
    assert stored_files(files_dir) == []
    assert api.get(RECORD).status == 404
