"""The S3 path: files in an S3-compatible store through django-storages, tested against a
real S3 server (moto in server mode, on 127.0.0.1, started for this module)."""

from __future__ import annotations

import hashlib
import socket
import subprocess
import sys
import time
import uuid

import pytest
import requests

from kinto_django.attachments.models import StoredFile
from tests import factories
from tests.attachments.conftest import ATTACHMENT, RECORD, upload

boto3 = pytest.importorskip("boto3")
pytest.importorskip("moto")
pytest.importorskip("storages")

CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def s3_server():
    """moto's S3 server on a free local port (stopped at the end of the module)."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                requests.get(url, timeout=1)
                break
            except requests.ConnectionError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("moto server did not start") from None
                time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def bucket(s3_server, kinto_settings, files_dir):
    """A new S3 bucket, and the settings that store attachments there."""
    name = f"kinto-{uuid.uuid4().hex[:12]}"
    client = boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1", **CREDENTIALS)
    client.create_bucket(Bucket=name)
    kinto_settings(
        attachment_storage="s3",
        attachment_s3_bucket_name=name,
        attachment_s3_endpoint_url=s3_server,
        attachment_s3_region_name="us-east-1",
        attachment_aws_access_key="testing",  # the reference's names work too
        attachment_aws_secret_key="testing",
    )
    return client, name


def objects(bucket) -> dict[str, bytes]:
    client, name = bucket
    listed = client.list_objects_v2(Bucket=name).get("Contents", [])
    return {
        item["Key"]: client.get_object(Bucket=name, Key=item["Key"])["Body"].read()
        for item in listed
        if not item["Key"].startswith("heartbeat/")
    }


def test_upload_fetch_and_remove_on_s3(api, bucket, files_dir):
    factories.collection(api)
    content = b"stored in S3 " * 1000
    attachment = upload(api, content=content, filename="doc.txt").json
    assert attachment["hash"] == hashlib.sha256(content).hexdigest()
    stored = objects(bucket)
    assert list(stored.values()) == [content]
    name = next(iter(stored))
    assert attachment["location"] == f"http://testserver/v1/attachments/{name}"
    assert list(files_dir.iterdir()) == []  # nothing on the local disk
    # The server's file URL sends clients to the store.
    served = api.client.get(attachment["location"].replace("http://testserver", ""))
    assert served.status_code == 302
    assert requests.get(served["Location"], timeout=10).content == content
    # Replaced, then removed: the store follows.
    second = upload(api, content=b"v2").json
    assert list(objects(bucket).values()) == [b"v2"]
    assert api.delete(ATTACHMENT).status == 204
    assert objects(bucket) == {}
    assert StoredFile.objects.count() == 0
    assert second["location"] != attachment["location"]


def test_record_and_collection_deletions_on_s3(api, bucket):
    factories.collection(api)
    upload(api)
    upload(api, f"{factories.RECORDS}/r2/attachment")
    assert len(objects(bucket)) == 2
    assert api.delete(RECORD).status == 200
    assert len(objects(bucket)) == 1
    assert api.delete(factories.COLLECTION).status == 200
    assert objects(bucket) == {}


def test_folder_and_base_url_on_s3(api, bucket, kinto_settings, s3_server):
    _, name = bucket
    kinto_settings(
        attachment_folder="{bucket_id}/{collection_id}",
        attachment_base_url=f"{s3_server}/{name}/",
    )
    factories.collection(api)
    attachment = upload(api, content=b"public").json
    key = next(iter(objects(bucket)))
    assert key.startswith("shop/orders/")
    assert attachment["location"] == f"{s3_server}/{name}/{key}"
    assert api.get("/").json["capabilities"]["attachments"]["base_url"] == f"{s3_server}/{name}/"


def test_heartbeat_on_s3(api, bucket, kinto_settings):
    assert api.get("/v1/__heartbeat__").json["attachments"] is True
    kinto_settings(attachment_s3_bucket_name="no-such-bucket")
    heartbeat = api.get("/v1/__heartbeat__")
    assert heartbeat.status == 503
    assert heartbeat.json["attachments"] is False
