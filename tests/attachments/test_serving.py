"""The files this server serves (`attachment.base_url` unset): type, length, ETag, ranges,
and nothing outside the storage."""

from __future__ import annotations

import pytest

from tests.attachments.conftest import upload

CONTENT = bytes(range(256)) * 40  # 10240 bytes


@pytest.fixture
def served(api, collection):
    location = upload(api, content=CONTENT, filename="data.png", content_type="image/png").json[
        "location"
    ]
    return location.replace("http://testserver", "")


def body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def test_whole_file(anonymous, served):
    response = anonymous.client.get(served)
    assert response.status_code == 200
    assert body(response) == CONTENT
    assert response["Content-Type"] == "image/png"
    assert response["Content-Length"] == str(len(CONTENT))
    assert response["Accept-Ranges"] == "bytes"
    assert response["ETag"].startswith('"')
    assert "Last-Modified" in response
    assert "sandbox" in response["Content-Security-Policy"]
    assert response["X-Content-Type-Options"] == "nosniff"


def test_head(anonymous, served):
    response = anonymous.client.head(served)
    assert response.status_code == 200
    assert response["Content-Length"] == str(len(CONTENT))
    assert body(response) == b""


def test_etag_revalidation(anonymous, served):
    etag = anonymous.client.get(served)["ETag"]
    again = anonymous.client.get(served, headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert body(again) == b""
    other = anonymous.client.get(served, headers={"If-None-Match": '"other"'})
    assert other.status_code == 200


@pytest.mark.parametrize(
    "header, start, end",
    [
        ("bytes=0-99", 0, 99),
        ("bytes=10000-", 10000, 10239),
        ("bytes=-40", 10200, 10239),
        ("bytes=10200-99999", 10200, 10239),
    ],
)
def test_single_ranges(anonymous, served, header, start, end):
    response = anonymous.client.get(served, headers={"Range": header})
    assert response.status_code == 206
    assert body(response) == CONTENT[start : end + 1]
    assert response["Content-Range"] == f"bytes {start}-{end}/{len(CONTENT)}"
    assert response["Content-Length"] == str(end - start + 1)


def test_unsatisfiable_and_ignored_ranges(anonymous, served):
    past = anonymous.client.get(served, headers={"Range": "bytes=20000-"})
    assert past.status_code == 416
    assert past["Content-Range"] == f"bytes */{len(CONTENT)}"
    several = anonymous.client.get(served, headers={"Range": "bytes=0-1,5-6"})
    assert several.status_code == 200 and body(several) == CONTENT
    stale = anonymous.client.get(served, headers={"Range": "bytes=0-1", "If-Range": '"old"'})
    assert stale.status_code == 200
    etag = anonymous.client.get(served)["ETag"]
    fresh = anonymous.client.get(served, headers={"Range": "bytes=0-1", "If-Range": etag})
    assert fresh.status_code == 206


@pytest.mark.parametrize(
    "path",
    [
        "/v1/attachments/../../etc/passwd",
        "/v1/attachments/%2e%2e/%2e%2e/etc/passwd",
        "/v1/attachments/..%2f..%2fetc%2fpasswd",
        "/v1/attachments//etc/passwd",
        "/v1/attachments/nope.txt",
        "/v1/attachments/heartbeat",
    ],
)
def test_nothing_outside_the_storage(anonymous, collection, files_dir, path):
    (files_dir.parent / "secret.txt").write_bytes(b"secret")
    response = anonymous.client.get(path)
    assert response.status_code in (404, 400), response.status_code
    content = body(response)
    assert b"root:" not in content and b"secret" not in content


def test_writes_to_a_file_url_are_refused(api, served):
    assert api.client.post(served).status_code == 405
    assert api.client.delete(served).status_code == 405


def test_the_proxy_can_send_the_files(anonymous, served, kinto_settings):
    kinto_settings(attachment_accel_redirect_prefix="/protected-files/")
    response = anonymous.client.get(served)
    assert response.status_code == 200
    assert body(response) == b""
    name = served.rsplit("/", 1)[1]
    assert response["X-Accel-Redirect"] == f"/protected-files/{name}"
    assert response["Content-Type"] == "image/png"
    assert "sandbox" in response["Content-Security-Policy"]
    assert anonymous.client.get("/v1/attachments/missing.png").status_code == 404
