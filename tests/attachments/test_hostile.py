"""What a hostile client sends: names that try to leave the storage, NUL and control
characters, very long names, HTML served back; each once a hole somewhere."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.attachments.conftest import (
    multipart,
    part,
    stored_files,
    upload,
)
from tests.conftest import examples

TRAVERSALS = [
    "../../etc/passwd.txt",
    "..\\..\\windows\\win.ini.txt",
    "/etc/passwd.txt",
    "....//....//x.txt",
    "%2e%2e%2fx.txt",
    "a/../../b.txt",
]


@pytest.mark.parametrize("filename", TRAVERSALS)
@pytest.mark.parametrize("randomize", ["true", "false"])
def test_client_names_never_reach_a_path(
    api, collection, files_dir, kinto_settings, filename, randomize
):
    kinto_settings(attachment_randomize=randomize, attachment_folder="{bucket_id}")
    response = upload(api, filename=filename)
    assert response.status == 201, response
    assert response.json["filename"] == filename  # the original, as metadata only
    files = stored_files(files_dir)
    assert len(files) == 1
    stored = files_dir / files[0]
    assert stored.resolve().is_relative_to(files_dir.resolve())
    assert files[0].startswith("shop/")
    assert ".." not in files[0] and "\\" not in files[0]
    assert not list(files_dir.parent.glob("*.txt"))


def test_filename_pattern_cannot_escape(api, collection, files_dir, kinto_settings):
    kinto_settings(attachment_filename_pattern="{filename}")
    response = upload(api, filename="../../../escape.txt")
    assert response.status == 201
    assert stored_files(files_dir) == ["escape.txt"]


@pytest.mark.parametrize("filename", ["a\x00b.txt", "a\nb.txt", "a\x1fb.txt"])
def test_control_characters_in_names_are_refused(api, collection, files_dir, filename):
    response = upload(api, body=multipart(part("attachment", b"x", filename)))
    assert response.status == 400, response
    assert stored_files(files_dir) == []


def test_very_long_names(api, collection, files_dir, kinto_settings):
    refused = upload(api, filename="a" * 300 + ".txt")
    assert refused.status == 400
    assert refused.json["message"] == "body: Filename is longer than 255 characters."
    kinto_settings(attachment_randomize="false")
    accepted = upload(api, filename="b" * 250 + ".txt")
    assert accepted.status == 201
    assert all(len(name) < 200 for name in stored_files(files_dir))


def test_unicode_names_are_kept_as_metadata(api, collection, files_dir, kinto_settings):
    kinto_settings(attachment_randomize="false")
    filename = "résumé ☃.txt"
    body = multipart(
        b"Content-Disposition: form-data; name=\"attachment\"; filename*=UTF-8''r%C3%A9sum%C3%A9%20%E2%98%83.txt\r\n"
        + b"\r\nx"
    )
    response = upload(api, body=body)
    assert response.status == 201, response
    assert response.json["filename"] == filename
    assert stored_files(files_dir)[0].isascii()


def test_html_uploaded_as_text_is_not_served_as_a_page(api, anonymous, collection):
    location = upload(
        api, content=b"<script>alert(1)</script>", filename="x.txt", content_type="text/html"
    ).json["location"]
    response = anonymous.client.get(location.replace("http://testserver", ""))
    assert response["Content-Type"] == "text/plain"
    assert "sandbox" in response["Content-Security-Policy"]
    assert response["X-Content-Type-Options"] == "nosniff"


def test_svg_is_sandboxed(api, anonymous, collection):
    location = upload(api, content=b"<svg onload='alert(1)'/>", filename="x.svg").json["location"]
    response = anonymous.client.get(location.replace("http://testserver", ""))
    assert response["Content-Type"] == "image/svg+xml"
    assert "sandbox" in response["Content-Security-Policy"]


def test_a_forged_content_disposition_name(api, collection, files_dir):
    body = multipart(part('attachment"; filename="../../x.txt', b"x"))
    response = upload(api, body=body)
    assert response.status in (201, 400)
    assert all(".." not in name for name in stored_files(files_dir))


@settings(max_examples=examples(100), suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(filename=st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=80))
def test_any_filename_never_gives_a_500_nor_escapes(api, collection, files_dir, filename):
    # The same collection and folder for every example (function-scoped fixtures).
    encoded = filename.replace("\\", "\\\\").replace('"', '\\"')
    header = f'Content-Disposition: form-data; name="attachment"; filename="{encoded}"\r\n'
    response = upload(api, body=multipart(header.encode() + b"\r\nx"))
    assert response.status < 500, response
    for name in stored_files(files_dir):
        assert (files_dir / name).resolve().is_relative_to(files_dir.resolve())
