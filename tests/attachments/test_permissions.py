"""Who may upload and remove (spec/07): `write` on an existing record, `record:create` on
the collection for a new one. Anonymous callers get 401, others 403, and a refused caller's
body is never stored."""

from __future__ import annotations

import pytest

from tests import factories
from tests.attachments.conftest import ATTACHMENT, RECORD, stored_files, upload

READER, WRITER, CREATOR, STRANGER = "reader", "writer", "creator", "stranger"


def principal(api, user: str) -> str:
    return api.as_user(user).get("/").json["user"]["id"]


@pytest.fixture
def shared(api, collection, files_dir):
    """r1 exists (attached by alice), readable by `reader`, writable by `writer`; `creator`
    may create records in the collection."""
    upload(api, content=b"original")
    api.patch(
        RECORD,
        {"permissions": {"read": [principal(api, READER)], "write": [principal(api, WRITER)]}},
    )
    api.patch(factories.COLLECTION, {"permissions": {"record:create": [principal(api, CREATOR)]}})
    return files_dir


def files(folder):
    return len(stored_files(folder))


@pytest.mark.parametrize(
    "user, status",
    [(None, 401), (STRANGER, 403), (READER, 403), (CREATOR, 403), (WRITER, 200)],
)
def test_upload_on_an_existing_record(api, shared, user, status):
    response = upload(api.as_user(user), content=b"new")
    assert response.status == status, response
    expected = b"new" if status == 200 else b"original"
    assert api.get(RECORD).data["attachment"]["size"] == len(expected)
    assert files(shared) == 1


@pytest.mark.parametrize(
    "user, status",
    [(None, 401), (STRANGER, 403), (READER, 403), (WRITER, 403), (CREATOR, 201)],
)
def test_upload_creating_a_record(api, shared, user, status):
    path = f"{factories.RECORDS}/new/attachment"
    response = upload(api.as_user(user), path)
    assert response.status == status, response
    assert api.get(f"{factories.RECORDS}/new").status == (200 if status == 201 else 404)
    assert files(shared) == (2 if status == 201 else 1)


@pytest.mark.parametrize(
    "user, status",
    [(None, 401), (STRANGER, 403), (READER, 403), (CREATOR, 403), (WRITER, 204)],
)
def test_remove(api, shared, user, status):
    response = api.as_user(user).delete(ATTACHMENT)
    assert response.status == status, response
    attachment = api.get(RECORD).data["attachment"]
    assert (attachment is None) == (status == 204)
    assert files(shared) == (0 if status == 204 else 1)


def test_a_refused_upload_is_not_read(api, shared):
    """A stranger's 50 MB body is refused before it is read (the storage never sees it)."""
    response = upload(api.as_user(STRANGER), content=b"x" * (5 * 1024 * 1024))
    assert response.status == 403
    assert files(shared) == 1


def test_everyone_may_create_when_the_collection_says_so(api, shared, anonymous):
    api.patch(factories.COLLECTION, {"permissions": {"record:create": ["system.Everyone"]}})
    response = upload(anonymous, f"{factories.RECORDS}/anon/attachment")
    assert response.status == 201
    acls = api.get(f"{factories.RECORDS}/anon").json["permissions"]
    assert acls["write"] == ["system.Everyone"]


def test_remove_on_a_missing_record_creates_it_with_a_null_attachment(api, shared):
    """As the reference: 204, and the record exists with `attachment: null`."""
    path = f"{factories.RECORDS}/ghost"
    assert api.as_user(STRANGER).delete(f"{path}/attachment").status == 403
    assert api.delete(f"{path}/attachment").status == 204
    assert api.get(path).data["attachment"] is None
