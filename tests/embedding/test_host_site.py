"""The apps embedded in another Django site (tests/host_site), end to end.

The site runs as a real server (gunicorn with uvicorn workers on its own ASGI application),
with the API mounted under `/api/storage/v1/`. The official client talks to that prefix as
the site's own users (session login) and with the API's own authentication (accounts, Basic
auth); the site's pages, login and admin keep working beside the API.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import uuid
from collections.abc import Iterator

import pytest
import requests
import websockets
from kinto_http import BearerTokenAuth, Client, KintoException

from tests.e2e.server import REDIS_URL, ROOT, ServerProcess, redis_available

# The site's root directory: its top-level `core` and `accounts` apps, its `hostsite` project.
SITE_ROOT = ROOT / "tests" / "host_site"

pytestmark = pytest.mark.e2e

PREFIX = "/api/storage/v1"
TIMEOUT = 10


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    # Several server processes share live events through Redis; without it, one process.
    redis = {"redis_url": REDIS_URL, "redis_prefix": f"host-{uuid.uuid4().hex[:8]}"}
    process = ServerProcess(
        tmp_path_factory.mktemp("host-site"),
        workers=2 if redis_available() else 1,
        settings=redis if redis_available() else {},
        database_suffix="host",
        django_settings="hostsite.settings",
        application="hostsite.asgi:application",
        python_path=(SITE_ROOT,),
        api_root=PREFIX,
    )
    with process:
        process.manage("createcachetable", "site_cache")
        yield process


SITE_USERS = ("alice", "carol")


def create_site_user(site: ServerProcess, name: str) -> str:
    """A user of the site itself, made as its operators would (the e-mail and the date its
    user model requires); the key of its DRF token."""
    script = (
        "import datetime; from django.contrib.auth import get_user_model; "
        "from rest_framework.authtoken.models import Token; "
        f"user = get_user_model().objects.create_user({name!r}, email='{name}@example.com', "
        "password='site-pw', member_since=datetime.date(2026, 1, 1)); "
        "print(Token.objects.create(user=user).key)"
    )
    return site.manage("shell", "--no-imports", "-c", script).strip()


def delete_site_user(site: ServerProcess, name: str) -> None:
    script = (
        "from django.contrib.auth import get_user_model; "
        f"get_user_model().objects.get(username={name!r}).delete()"
    )
    site.manage("shell", "--no-imports", "-c", script)


@pytest.fixture(scope="module")
def site_users(site: ServerProcess) -> dict[str, str]:
    """The site's users and their API tokens."""
    return {name: create_site_user(site, name) for name in SITE_USERS}


def token_client(site: ServerProcess, key: str) -> Client:
    """A script or app of the site's, with the site's own DRF token."""
    return Client(server_url=site.url, auth=BearerTokenAuth(key, type="Token"))


class SessionAuth(requests.auth.AuthBase):
    """A browser's credentials on the site: the session cookie, and the CSRF token that its
    pages hand to their scripts (here, read from the `csrftoken` cookie)."""

    def __init__(self, cookies: requests.cookies.RequestsCookieJar, csrf: bool = True) -> None:
        self.cookies = cookies
        self.csrf = csrf

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.prepare_cookies(self.cookies)
        if self.csrf:
            request.headers["X-CSRFToken"] = self.cookies["csrftoken"]
        return request


def site_login(site: ServerProcess, username: str, login: str | None = None) -> requests.Session:
    """Sign in through the site's own login form, as a person would (with `login`, an
    e-mail address for instance, instead of the username)."""
    browser = requests.Session()
    base = f"http://127.0.0.1:{site.port}"
    form = browser.get(f"{base}/accounts/login/", timeout=TIMEOUT)
    assert form.status_code == 200
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text).group(1)
    signed_in = browser.post(
        f"{base}/accounts/login/",
        data={
            "username": login or username,
            "password": "site-pw",
            "csrfmiddlewaretoken": token,
        },
        headers={"Referer": f"{base}/accounts/login/"},
        timeout=TIMEOUT,
    )
    assert signed_in.status_code == 200 and f"Signed in as {username}" in signed_in.text
    return browser


def session_client(site: ServerProcess, username: str, **kwargs) -> Client:
    browser = site_login(site, username)
    return Client(server_url=site.url, auth=SessionAuth(browser.cookies), **kwargs)


def basic(user: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:secret".encode()).decode()


def test_the_api_answers_under_the_prefix_and_the_site_keeps_its_pages(site):
    base = f"http://127.0.0.1:{site.port}"
    root = requests.get(f"{site.url}/", timeout=TIMEOUT)
    assert root.status_code == 200
    assert root.json()["url"] == f"{site.url}/"
    assert root.json()["http_api_version"] == "1.23"
    assert "history" in root.json()["capabilities"]
    # An optional app the site did not install is absent, routes and all (with the app, the
    # route would answer 405 to a GET).
    assert "attachments" not in root.json()["capabilities"]
    no_attachments = requests.get(
        f"{site.url}/buckets/b/collections/c/records/r/attachment", timeout=TIMEOUT
    )
    assert no_attachments.status_code == 404
    assert no_attachments.json()["errno"] == 111
    # The API's own conventions apply under the prefix: JSON errors, protocol headers.
    missing = requests.get(f"{site.url}/nowhere", timeout=TIMEOUT)
    assert missing.status_code == 404
    assert missing.json()["errno"] == 111
    assert "Content-Security-Policy" in missing.headers
    # The site's own pages are left alone: HTML, its own 404, no API headers.
    home = requests.get(f"{base}/", timeout=TIMEOUT)
    assert home.status_code == 200 and "<title>Host site</title>" in home.text
    assert "Content-Security-Policy" not in home.headers
    not_found = requests.get(f"{base}/nowhere", timeout=TIMEOUT)
    assert not_found.status_code == 404
    assert not_found.headers["Content-Type"].startswith("text/html")
    # No standalone-server redirects: `/v1/` is not this site's.
    assert requests.get(f"{base}/v1/", timeout=TIMEOUT, allow_redirects=False).status_code == 404
    assert requests.get(f"{base}/admin/login/", timeout=TIMEOUT).status_code == 200
    version = requests.get(f"{site.url}/__version__", timeout=TIMEOUT).json()
    assert version["name"] == "kinto-django"


def test_site_users_are_principals_of_the_official_client(site, site_users):
    alice = session_client(site, "alice")
    assert alice.server_info()["user"]["id"] == "django:alice"
    bucket = f"b-{uuid.uuid4().hex[:10]}"
    alice.create_bucket(id=bucket)
    alice.create_collection(id="notes", bucket=bucket)
    for number in range(12):
        alice.create_record(data={"n": number}, bucket=bucket, collection="notes")
    # 12 records on pages of 5: the client follows `Next-Page` links, which keep the prefix.
    records = alice.get_records(bucket=bucket, collection="notes")
    assert sorted(record["n"] for record in records) == list(range(12))
    assert alice.get_bucket(id=bucket)["permissions"]["write"] == ["django:alice"]

    # Another site user sees nothing until alice shares the collection with her.
    carol = session_client(site, "carol")
    with pytest.raises(KintoException) as refused:
        carol.get_records(bucket=bucket, collection="notes")
    assert refused.value.response.status_code == 403
    alice.patch_collection(id="notes", bucket=bucket, permissions={"read": ["django:carol"]})
    assert len(carol.get_records(bucket=bucket, collection="notes")) == 12


def test_a_session_write_needs_the_sites_csrf_token(site, site_users):
    browser = site_login(site, "alice")
    response = requests.put(
        f"{site.url}/buckets/b-csrf",
        auth=SessionAuth(browser.cookies, csrf=False),
        timeout=TIMEOUT,
    )
    assert response.status_code == 403
    assert response.json()["message"].startswith("CSRF Failed")
    # A read needs no token; the site's user is recognised.
    whoami = requests.get(
        f"{site.url}/", auth=SessionAuth(browser.cookies, csrf=False), timeout=TIMEOUT
    )
    assert whoami.json()["user"]["id"] == "django:alice"


def test_the_apis_own_authentication_works_next_to_the_sites(site, site_users):
    # An account of the API (open sign-up on this site), used with the official client.
    name = f"dave-{uuid.uuid4().hex[:6]}"
    created = requests.put(
        f"{site.url}/accounts/{name}", json={"data": {"password": "pw-of-dave"}}, timeout=TIMEOUT
    )
    assert created.status_code == 201, created.text
    dave = Client(server_url=site.url, auth=(name, "pw-of-dave"))
    assert dave.server_info()["user"]["id"] == f"account:{name}"
    bucket = f"b-{uuid.uuid4().hex[:10]}"
    dave.create_bucket(id=bucket, permissions={"read": ["django:alice"]})
    # Plain Basic auth users too.
    erin = Client(server_url=site.url, auth=("erin", "secret"))
    assert erin.server_info()["user"]["id"].startswith("basicauth:")
    # A site user reads what an account shared with her.
    alice = session_client(site, "alice")
    assert alice.get_bucket(id=bucket)["data"]["id"] == bucket
    # History under the prefix lists the writes of all three kinds of users.
    history = requests.get(
        f"{site.url}/buckets/{bucket}/history", auth=(name, "pw-of-dave"), timeout=TIMEOUT
    )
    assert history.status_code == 200
    assert [entry["user_id"] for entry in history.json()["data"]] == [f"account:{name}"]


def test_live_changes_under_the_prefix(site):
    erin = requests.Session()
    erin.auth = ("erin", "secret")
    bucket = f"b-{uuid.uuid4().hex[:10]}"
    assert erin.put(f"{site.url}/buckets/{bucket}", timeout=TIMEOUT).status_code == 201
    erin.put(f"{site.url}/buckets/{bucket}/collections/notes", timeout=TIMEOUT)
    records = f"/buckets/{bucket}/collections/notes/records"

    async def scenario() -> dict:
        url = site.url.replace("http://", "ws://") + "/changes"
        async with websockets.connect(
            url, additional_headers={"Authorization": basic("erin")}
        ) as socket:
            assert json.loads(await socket.recv())["type"] == "hello"
            await socket.send(json.dumps({"type": "subscribe", "id": "s", "resource": records}))
            assert json.loads(await socket.recv())["type"] == "subscribed"
            await asyncio.to_thread(
                erin.put, f"{site.url}{records}/r1", json={"data": {"x": 1}}, timeout=TIMEOUT
            )
            while True:
                message = json.loads(await asyncio.wait_for(socket.recv(), TIMEOUT))
                if message["type"] == "change":
                    return message

    change = asyncio.run(scenario())
    assert (change["action"], change["id"], change["data"]["x"]) == ("create", "r1", 1)


def test_live_changes_for_the_sites_logged_in_users(site, site_users):
    browser = site_login(site, "alice")
    cookie = "; ".join(f"{name}={value}" for name, value in browser.cookies.items())
    origin = f"http://127.0.0.1:{site.port}"
    url = site.url.replace("http://", "ws://") + "/changes"

    async def hello(headers: dict[str, str]) -> dict:
        async with websockets.connect(url, additional_headers=headers) as socket:
            return json.loads(await asyncio.wait_for(socket.recv(), TIMEOUT))

    # A page of the site itself connects as its user (browsers send the cookie and Origin).
    own = asyncio.run(hello({"Cookie": cookie, "Origin": origin}))
    assert own == {"type": "hello", "user_id": "django:alice"}
    # A page of another site gets the user's cookie attached by the browser, but no identity.
    foreign = asyncio.run(hello({"Cookie": cookie, "Origin": "http://evil.example"}))
    assert foreign == {"type": "hello", "user_id": None}


def test_the_sites_own_websocket_consumer_beside_the_apis_live_endpoint(site):
    echo_url = f"ws://127.0.0.1:{site.port}/ws/echo"
    changes_url = site.url.replace("http://", "ws://") + "/changes"

    async def scenario() -> None:
        async with (
            websockets.connect(echo_url) as echo,
            websockets.connect(changes_url) as changes,
        ):
            await echo.send("ping")
            assert await asyncio.wait_for(echo.recv(), TIMEOUT) == "echo: ping"
            hello = json.loads(await asyncio.wait_for(changes.recv(), TIMEOUT))
            assert hello == {"type": "hello", "user_id": None}

    asyncio.run(scenario())


def test_event_streams_under_the_prefix_and_plain_gets_to_the_api(site):
    erin = requests.Session()
    erin.auth = ("erin", "secret")
    bucket = f"b-{uuid.uuid4().hex[:10]}"
    assert erin.put(f"{site.url}/buckets/{bucket}", timeout=TIMEOUT).status_code == 201
    params = {"resource": f"/buckets/{bucket}/collections"}
    with erin.get(
        f"{site.url}/changes",
        params=params,
        headers={"Accept": "text/event-stream"},
        stream=True,
        timeout=TIMEOUT,
    ) as stream:
        assert stream.status_code == 200
        assert stream.headers["Content-Type"] == "text/event-stream; charset=utf-8"
        lines = stream.iter_lines()
        assert next(lines) == b"retry: 1000"
        assert next(lines) == b""
        subscribed = json.loads(next(lines).removeprefix(b"data: "))
        assert subscribed["type"] == "subscribed" and subscribed["subscription"] == "stream"
    # Without asking for a stream, the request reaches the API (through the site's HTTP
    # application), which says how to subscribe.
    plain = erin.get(f"{site.url}/changes", params=params, timeout=TIMEOUT)
    assert plain.status_code == 406 and plain.json()["errno"] == 107


def test_a_batch_runs_as_the_sites_logged_in_user(site, site_users):
    """kinto-http's batches (and kinto.js's sync, which pushes through `/batch`) as a
    logged-in site user: every sub-request is the user's, and its URLs are absolute."""
    alice = session_client(site, "alice")
    bucket = f"b-{uuid.uuid4().hex[:10]}"
    with alice.batch() as batch:
        batch.create_bucket(id=bucket)
        batch.create_collection(id="notes", bucket=bucket)
        for number in range(3):
            batch.create_record(data={"n": number}, bucket=bucket, collection="notes")
    bodies = batch.results()
    assert len(bodies) == 5 and all("data" in body for body in bodies), bodies
    assert alice.get_bucket(id=bucket)["permissions"]["write"] == ["django:alice"]
    records = alice.get_records(bucket=bucket, collection="notes")
    assert sorted(record["n"] for record in records) == [0, 1, 2]
    # A sub-request's Next-Page is an absolute URL under the site's prefix.
    response = requests.post(
        f"{site.url}/batch",
        json={"requests": [{"path": f"/buckets/{bucket}/collections/notes/records?_limit=1"}]},
        auth=SessionAuth(site_login(site, "alice").cookies),
        timeout=TIMEOUT,
    )
    (page,) = response.json()["responses"]
    assert page["status"] == 200
    assert page["headers"]["Next-Page"].startswith(f"http://127.0.0.1:{site.port}{PREFIX}/")


def test_site_users_signed_in_by_e_mail_and_with_tokens_are_the_same_principal(site, site_users):
    """However the site authenticates its user (its login form with the e-mail address, its
    DRF token), the API sees the one principal `django:<username>`."""
    browser = site_login(site, "carol", login="carol@example.com")
    by_session = Client(server_url=site.url, auth=SessionAuth(browser.cookies))
    assert by_session.server_info()["user"]["id"] == "django:carol"
    assert token_client(site, site_users["carol"]).server_info()["user"]["id"] == "django:carol"
    # A wrong token is nobody (anonymous), as any failed credentials.
    assert "user" not in token_client(site, "0" * 40).server_info()


def test_a_token_client_batches_and_shares_with_other_site_users(site, site_users):
    carol = token_client(site, site_users["carol"])
    bucket = f"b-{uuid.uuid4().hex[:10]}"
    with carol.batch() as batch:
        batch.create_bucket(id=bucket)
        batch.create_collection(id="notes", bucket=bucket, permissions={"read": ["django:alice"]})
        for number in range(3):
            batch.create_record(data={"n": number}, bucket=bucket, collection="notes")
    assert len(batch.results()) == 5
    assert carol.get_bucket(id=bucket)["permissions"]["write"] == ["django:carol"]
    alice = session_client(site, "alice")
    records = alice.get_records(bucket=bucket, collection="notes")
    assert sorted(record["n"] for record in records) == [0, 1, 2]


def test_a_deleted_site_user_is_forgotten_and_a_new_one_of_the_name_inherits_nothing(
    site, site_users
):
    name = f"dora{uuid.uuid4().hex[:6]}"
    dora = token_client(site, create_site_user(site, name))
    alice = session_client(site, "alice")
    bucket = f"b-{uuid.uuid4().hex[:10]}"
    alice.create_bucket(id=bucket)
    alice.create_group(id="team", bucket=bucket, data={"members": [f"django:{name}"]})
    alice.create_collection(id="shared", bucket=bucket, permissions={"read": [f"django:{name}"]})
    alice.create_collection(
        id="team-notes", bucket=bucket, permissions={"read": [f"/buckets/{bucket}/groups/team"]}
    )
    for collection in ("shared", "team-notes"):
        assert dora.get_records(bucket=bucket, collection=collection) == []

    delete_site_user(site, name)
    assert alice.get_group(id="team", bucket=bucket)["data"]["members"] == []
    acls = alice.get_collection(id="shared", bucket=bucket)["permissions"]
    assert f"django:{name}" not in acls.get("read", [])

    newcomer = token_client(site, create_site_user(site, name))
    for collection in ("shared", "team-notes"):
        with pytest.raises(KintoException) as refused:
            newcomer.get_records(bucket=bucket, collection=collection)
        assert refused.value.response.status_code == 403, collection


def test_the_sites_user_and_group_tables_hold_only_the_sites_rows(site, site_users):
    """Sharing with every kind of principal, and groups of them, adds nothing to the site's
    tables (its user model could not even hold a row made of a username alone)."""
    alice = session_client(site, "alice")
    bucket = f"b-{uuid.uuid4().hex[:10]}"
    principals = ["account:someone", "basicauth:0123", "django:nobody-yet"]
    alice.create_bucket(id=bucket, permissions={"read": [*principals, "system.Everyone"]})
    alice.create_group(id="all", bucket=bucket, data={"members": principals})
    assert Client(server_url=site.url, auth=("erin", "secret")).get_bucket(id=bucket)
    script = (
        "import json; from django.contrib.auth import get_user_model; "
        "from django.contrib.auth.models import Group; "
        "print(json.dumps([list(get_user_model().objects.values_list('username', flat=True)), "
        "Group.objects.count()]))"
    )
    users, groups = json.loads(site.manage("shell", "--no-imports", "-c", script))
    assert all(":" not in name for name in users), users
    assert set(SITE_USERS) <= set(users)
    assert groups == 0
