"""Files follow their records: removed with the record, its collection or its bucket (after
commit, unless `keep_old_files`), left by the flush; metadata that ordinary writes may not
change; history, events, backups and the admin see attachments like any record data."""

from __future__ import annotations

import io
import json

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import transaction
from django.test import Client

from kinto_django.attachments.models import StoredFile
from kinto_django.core import actions
from kinto_django.core.context import ActionContext
from kinto_django.core.signals import resource_changed
from kinto_django.permissions.identity import ANONYMOUS
from kinto_django.records.models import Record
from tests import factories
from tests.attachments.conftest import ATTACHMENT, RECORD, stored_files, upload

MODIFIED = "Attachment metadata cannot be modified."


def test_remove_sets_null_and_deletes_the_file(api, collection, files_dir):
    upload(api, data={"title": "t"})
    response = api.delete(ATTACHMENT)
    assert response.status == 204
    assert response.content == b""
    assert "Content-Type" not in response.headers
    data = api.get(RECORD).data
    assert data["attachment"] is None and data["title"] == "t"
    assert stored_files(files_dir) == []
    assert StoredFile.objects.count() == 0
    assert api.delete(ATTACHMENT).status == 204  # again: nothing left to remove


@pytest.mark.parametrize(
    "path",
    [RECORD, factories.COLLECTION, factories.BUCKET],
    ids=["record", "collection", "bucket"],
)
def test_deleting_the_record_or_what_holds_it_deletes_the_files(api, collection, files_dir, path):
    upload(api)
    upload(api, f"{factories.RECORDS}/r2/attachment")
    factories.collection(api, collection_id="other", create_bucket=False)
    kept = upload(api, "/buckets/shop/collections/other/records/x/attachment").json
    assert len(stored_files(files_dir)) == 3
    assert api.delete(path).status == 200
    remaining = stored_files(files_dir)
    if path == factories.BUCKET:
        assert remaining == []
    else:
        assert kept["location"].rsplit("/", 1)[1] in remaining
        assert len(remaining) == (2 if path == RECORD else 1)


def test_deleting_a_list_of_records_deletes_their_files(api, collection, files_dir):
    upload(api)
    upload(api, f"{factories.RECORDS}/r2/attachment")
    assert api.delete(factories.RECORDS).status == 200
    assert stored_files(files_dir) == []


def test_keep_old_files_per_collection_on_deletion(api, collection, files_dir, kinto_settings):
    kinto_settings(attachment_resources_shop_orders_keep_old_files="true")
    upload(api)
    assert api.delete(factories.BUCKET).status == 200
    assert len(stored_files(files_dir)) == 1


def test_a_deletion_rolled_back_keeps_the_file(api, collection, files_dir):
    """Files go once the deletion has committed: a rolled-back one leaves them."""
    upload(api)
    with pytest.raises(RuntimeError), transaction.atomic():
        record = Record.objects.get(object_id="r1")
        actions.delete_object(ActionContext(ANONYMOUS), record)
        assert StoredFile.objects.count() == 0  # forgotten inside the transaction...
        raise RuntimeError("rolled back")
    assert StoredFile.objects.count() == 1  # ... and back with the rollback
    assert len(stored_files(files_dir)) == 1
    assert api.get(RECORD).data["attachment"]["size"] == 5


def test_flush_leaves_the_files(api, collection, files_dir, kinto_settings):
    kinto_settings(flush_endpoint_enabled=True)
    upload(api)
    assert api.post("/v1/__flush__").status == 202
    assert len(stored_files(files_dir)) == 1
    assert StoredFile.objects.count() == 0


def test_ordinary_writes_may_not_change_the_metadata(api, collection):
    attachment = upload(api, data={"title": "t"}).json
    forged = {**attachment, "location": "http://evil.example.com/x.txt"}
    for response in (
        api.patch(RECORD, {"data": {"attachment": forged}}),
        api.patch(RECORD, {"data": {"attachment": None}}),
        api.put(RECORD, {"data": {"attachment": forged}}),
        api.patch(
            RECORD,
            [{"op": "replace", "path": "/data/attachment/size", "value": 1}],
            content_type="application/json-patch+json",
        ),
    ):
        assert response.status == 400, response
        assert response.json["errno"] == 999
        assert response.json["message"] == MODIFIED
    assert api.get(RECORD).data["attachment"] == attachment
    batch = api.post(
        "/batch",
        {
            "requests": [
                {
                    "method": "PATCH",
                    "path": f"/v1{RECORD}",
                    "body": {"data": {"attachment": forged}},
                }
            ]
        },
    )
    assert batch.json["responses"][0]["status"] == 400
    # The same value, or other fields, are fine; leaving it out of a PUT drops it.
    assert api.patch(RECORD, {"data": {"attachment": attachment, "n": 1}}).status == 200
    assert api.put(RECORD, {"data": {"title": "new"}}).status == 200
    assert "attachment" not in api.get(RECORD).data


def test_setting_the_metadata_from_null_is_allowed(api, collection):
    upload(api)
    api.delete(ATTACHMENT)
    response = api.patch(RECORD, {"data": {"attachment": {"location": "x"}}})
    assert response.status == 200
    assert factories.record(api, {"attachment": {"location": "y"}}, record_id="r9")


def test_a_forged_location_never_deletes_another_records_file(api, collection, files_dir):
    victim = upload(api, content=b"victim's").json
    thief = api.as_user("mallory")
    api.patch(factories.COLLECTION, {"permissions": {"record:create": ["system.Authenticated"]}})
    path = f"{factories.RECORDS}/stolen"
    assert thief.put(path, {"data": {"attachment": victim}}).status == 201
    assert thief.delete(f"{path}/attachment").status == 204
    assert thief.delete(path).status == 200
    assert (files_dir / victim["location"].rsplit("/", 1)[1]).read_bytes() == b"victim's"


def test_the_history_records_attachment_changes(api, collection, kinto_settings):
    kinto_settings(history_enabled=True)
    attachment = upload(api).json
    api.delete(ATTACHMENT)
    entries = api.get("/buckets/shop/history?resource_name=record").data
    assert [entry["action"] for entry in entries] == ["update", "create"]
    assert entries[1]["target"]["data"]["attachment"] == attachment
    assert entries[0]["target"]["data"]["attachment"] is None


def test_events_carry_the_record_change(api, collection):
    received = []

    def receiver(sender, payload, impacted_objects, **kwargs):
        received.append((payload, impacted_objects))

    resource_changed.connect(receiver)
    try:
        attachment = upload(api).json
        api.delete(ATTACHMENT)
    finally:
        resource_changed.disconnect(receiver)
    records = [(p, i) for p, i in received if p["resource_name"] == "record"]
    assert [p["action"] for p, _ in records] == ["create", "update"]
    assert records[0][0]["uri"] == RECORD
    assert records[0][1][0]["new"]["attachment"] == attachment
    assert records[1][1][0]["old"]["attachment"] == attachment
    assert records[1][1][0]["new"]["attachment"] is None


def test_backups_hold_the_metadata(api, collection, tmp_path):
    attachment = upload(api).json
    target = tmp_path / "backup.jsonl"
    call_command("kinto_backup", "--output", str(target), "--quiet")
    lines = [json.loads(line) for line in target.read_text().splitlines() if line.strip()]
    records = [line for line in lines if line.get("kind") == "record"]
    assert any(record.get("data", {}).get("attachment") == attachment for record in records), (
        records
    )


def test_the_admin_links_to_the_file(api, collection):
    attachment = upload(api).json
    user = get_user_model().objects.create_superuser("staff", password="pw")
    browser = Client()
    browser.force_login(user)
    listing = browser.get("/admin/kinto_records/record/")
    assert listing.status_code == 200
    assert f'href="{attachment["location"]}"'.encode() in listing.content
    record = Record.objects.get(object_id="r1")
    page = browser.get(f"/admin/kinto_records/record/{record.pk}/change/")
    assert page.status_code == 200
    assert f'href="{attachment["location"]}"'.encode() in page.content
    files = browser.get("/admin/kinto_attachments/storedfile/")
    assert files.status_code == 200
    assert attachment["location"].rsplit("/", 1)[1].encode() in files.content


def test_orphans_command(api, collection, files_dir, kinto_settings):
    kept = upload(api).json
    (files_dir / "left-over.txt").write_bytes(b"orphan")
    (files_dir / "sub").mkdir()
    (files_dir / "sub" / "deep.txt").write_bytes(b"orphan")
    # A record restored from a backup names a file the ledger does not know.
    restored = files_dir / "restored.txt"
    restored.write_bytes(b"restored")
    factories.record(
        api,
        {"attachment": {"location": "http://testserver/v1/attachments/restored.txt"}},
        record_id="r2",
    )
    out, err = io.StringIO(), io.StringIO()
    call_command("kinto_attachments_orphans", "--grace-seconds", "0", stdout=out, stderr=err)
    assert out.getvalue().split() == ["left-over.txt", "sub/deep.txt"]
    assert "dry run" in err.getvalue()
    assert len(stored_files(files_dir)) == 4
    # Young files are left alone (an upload may be between its store and its commit).
    young = io.StringIO()
    call_command("kinto_attachments_orphans", stdout=young, stderr=io.StringIO())
    assert young.getvalue() == ""
    call_command(
        "kinto_attachments_orphans",
        "--grace-seconds",
        "0",
        "--delete",
        stdout=io.StringIO(),
        stderr=err,
    )
    assert "Deleted 2 orphan file(s) of 4." in err.getvalue()
    assert stored_files(files_dir) == sorted([kept["location"].rsplit("/", 1)[1], "restored.txt"])


def test_orphans_command_lists_records_whose_file_is_missing(api, collection, files_dir):
    present = upload(api).json
    gone = upload(api, f"{factories.RECORDS}/r2/attachment").json
    (files_dir / gone["location"].rsplit("/", 1)[1]).unlink()
    out, err = io.StringIO(), io.StringIO()
    call_command("kinto_attachments_orphans", "--missing", stdout=out, stderr=err)
    assert out.getvalue().splitlines() == [f"{factories.RECORDS}/r2\t{gone['location']}"]
    assert "1 record(s) whose file is missing." in err.getvalue()
    assert present["location"] not in out.getvalue()


def test_the_admin_cannot_change_the_metadata_either(api, collection):
    attachment = upload(api).json
    user = get_user_model().objects.create_superuser("staff", password="pw")
    browser = Client()
    browser.force_login(user)
    record = Record.objects.get(object_id="r1")
    url = f"/admin/kinto_records/record/{record.pk}/change/"

    def save(data):
        return browser.post(
            url,
            {
                "data": json.dumps(data),
                "permissions": json.dumps(api.get(RECORD).json["permissions"]),
                "seen_last_modified": Record.objects.get(pk=record.pk).last_modified,
                "_save": "Save",
            },
        )

    refused = save({"attachment": {**attachment, "size": 1}})
    assert refused.status_code == 200
    assert MODIFIED.encode() in refused.content
    assert api.get(RECORD).data["attachment"] == attachment
    assert save({"attachment": attachment, "note": "ok"}).status_code == 302
    assert api.get(RECORD).data["note"] == "ok"
