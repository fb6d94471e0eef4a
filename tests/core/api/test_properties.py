"""Property-based tests: junk input never produces a 5xx, and every error has the protocol body.

Hypothesis generates ids (path segments), query strings (filters with every operator, `_sort`,
`_limit`, `_token`, `_since`...), headers (`If-Match`, `If-None-Match`, `Content-Type`,
`Accept`, `Response-Behavior`, `Authorization`), bodies (random JSON, random bytes, envelopes
with random `data`/`permissions`, JSON-Patch operation lists) in the three content types,
batch bodies and pagination tokens. Whatever the server answers must be below 500, and any
answer of 400 or more must be `{"code": <the status>, "errno": <an errno of spec/00 that goes
with that status>, "error": <a string>, "message"?: <a string>}`.

The objects every example works on are created once per test function: examples share them
(and may modify them), which is fine since only the shape of the answers is checked.
"""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from tests import factories
from tests.conftest import examples

BUCKET = factories.BUCKET
COLLECTION = factories.COLLECTION
RECORDS = factories.RECORDS
RECORD = f"{RECORDS}/r1"
GROUP = f"{BUCKET}/groups/staff"
OBJECT_PATHS = [BUCKET, COLLECTION, GROUP, RECORD]
LIST_PATHS = ["/buckets", f"{BUCKET}/collections", f"{BUCKET}/groups", RECORDS]

# errno → the statuses it may come with (spec/00; 413 is this server's body-size limit).
ERRNO_STATUSES = {
    104: {401},
    107: {400, 406, 413, 415},
    109: {400},
    110: {404},
    111: {404},
    114: {412},
    115: {405},
    116: {404},
    121: {403},
    122: {409},
    201: {503},
    202: {410},
    999: {500},
}

PROPERTIES = hypothesis_settings(
    max_examples=examples(120),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def check_answer(status: int, body: Any, method: str = "GET") -> None:
    """Below 500; a ≥ 400 answer carries the protocol's error body."""
    assert status < 500, (status, body)
    if status < 400 or method == "HEAD":
        return
    assert isinstance(body, dict), (status, body)
    assert body["code"] == status, body
    errno = body["errno"]
    assert isinstance(errno, int) and not isinstance(errno, bool), body
    assert status in ERRNO_STATUSES.get(errno, ()), body
    assert isinstance(body["error"], str) and body["error"], body
    if "message" in body:
        assert isinstance(body["message"], str), body


def check(response: Any, method: str = "GET") -> None:
    check_answer(response.status, response.json, method)
    if response.status == 200 and isinstance(response.json, dict) and "responses" in response.json:
        for item in response.json["responses"]:
            check_answer(item["status"], item["body"], "HEAD" if item["body"] == "" else "GET")


# --- Strategies --------------------------------------------------------------------------

# Characters that cannot be stored (NUL, lone surrogates), mixed into every generated text.
NASTY = st.sampled_from(["\x00", "\ud800", "\udfff", "\ufffe", "é", "€", "𝄞", "/", "%", ",", '"'])
TEXT = st.text(
    alphabet=st.one_of(st.characters(codec="utf-8"), NASTY, st.sampled_from(".-_*")), max_size=12
)
INTEGERS = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, -1, 2**53 - 1, 2**53, 2**63 - 1, 2**63, 2**64 + 1, 10**4000]),
)
SCALARS = st.one_of(
    st.none(), st.booleans(), INTEGERS, st.floats(allow_nan=False, allow_infinity=False), TEXT
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(TEXT, children, max_size=4)
    ),
    max_leaves=12,
)
FIELD_NAMES = st.one_of(
    st.sampled_from(["id", "last_modified", "n", "title", "a.b", "deleted", "members", "schema"]),
    TEXT,
    st.integers(min_value=1, max_value=40).map(lambda depth: ".".join(["a"] * depth)),
)


def dumps(value: Any) -> str:
    """JSON text (surrogates escaped), with literals the stdlib would refuse on input too."""
    return json.dumps(value)


def encode(text: str) -> str:
    """Percent-encode any text, lone surrogates included (they become invalid UTF-8)."""
    return quote(text.encode("utf-8", "surrogatepass"), safe="")


def raw_bytes(data: bytes) -> str:
    return "".join(f"%{byte:02X}" for byte in data)


SEGMENTS = st.one_of(
    TEXT.map(encode),
    st.binary(max_size=12).map(raw_bytes),
    st.sampled_from(["shop", "orders", "r1", "staff", "default", "..", ".", "%2F", "a" * 200]),
    st.integers(min_value=1, max_value=300).map(lambda n: "x" * n),
)

OPERATORS = st.sampled_from(
    ["", "eq_", "not_", "lt_", "gt_", "min_", "max_", "in_", "exclude_", "like_", "has_"]
    + ["contains_", "contains_any_"]
)
DIRECTIVES = st.sampled_from(["_sort", "_limit", "_token", "_since", "_before", "_to", "_fields"])
VALUES = st.one_of(
    TEXT,
    JSON_VALUES.map(dumps),
    INTEGERS.map(str),
    INTEGERS.map(lambda i: f'"{i}"'),
    st.lists(JSON_VALUES.map(dumps), max_size=5).map(",".join),
    st.lists(st.sampled_from(["n", "-n", "+title", "id", "-last_modified", "a.b", ""])).map(
        ",".join
    ),
)


def token_text(payload: Any) -> str:
    raw = payload if isinstance(payload, bytes) else dumps(payload).encode()
    return base64.b64encode(raw).decode()


# Tokens this server could have made, but for the remembered values: they reach the database.
WELLFORMED_TOKENS = st.fixed_dictionaries(
    {
        "last_object": st.dictionaries(FIELD_NAMES, JSON_VALUES, max_size=3).flatmap(
            lambda values: st.fixed_dictionaries(
                {},
                optional={
                    "id": TEXT,
                    "last_modified": st.integers(min_value=0, max_value=2**63 - 1),
                },
            ).map(lambda columns: {**values, **columns})
        ),
        "offset": st.integers(min_value=0, max_value=100),
        "nonce": TEXT,
    }
).map(token_text)
TOKENS = st.one_of(
    WELLFORMED_TOKENS,
    WELLFORMED_TOKENS,
    TEXT,
    st.binary(max_size=40).map(lambda b: base64.b64encode(b).decode()),
    JSON_VALUES.map(token_text),
    st.fixed_dictionaries(
        {},
        optional={
            "last_object": st.one_of(
                st.dictionaries(FIELD_NAMES, JSON_VALUES, max_size=4), JSON_VALUES
            ),
            "offset": st.one_of(INTEGERS, JSON_VALUES),
            "nonce": st.one_of(TEXT, JSON_VALUES),
        },
    ).map(token_text),
)


@st.composite
def query_strings(draw: Any) -> str:
    parts: list[str] = []
    for _ in range(draw(st.integers(min_value=0, max_value=4))):
        kind = draw(st.sampled_from(["filter", "directive", "token", "raw"]))
        if kind == "filter":
            name = draw(OPERATORS) + draw(FIELD_NAMES)
            parts.append(f"{encode(name)}={encode(draw(VALUES))}")
        elif kind == "directive":
            parts.append(f"{draw(DIRECTIVES)}={encode(draw(VALUES))}")
        elif kind == "token":
            parts.append(f"_token={encode(draw(TOKENS))}")
        else:
            parts.append(draw(st.binary(max_size=10)).hex() + "=" + raw_bytes(draw(st.binary())))
    return "&".join(parts)


HEADER_VALUES = st.one_of(
    st.text(alphabet=st.characters(max_codepoint=255, exclude_characters="\r\n"), max_size=30),
    st.sampled_from(["*", '"*"', '""', '"1"', "1", '"-1"', 'W/"1"', '"1", "2"', " "]),
    INTEGERS.map(lambda i: f'"{i}"'),
)
CONTENT_TYPES = st.one_of(
    st.sampled_from(
        [
            "application/json",
            "application/merge-patch+json",
            "application/json-patch+json",
            "application/json; charset=latin-1",
            "APPLICATION/JSON",
            "text/plain",
            "multipart/form-data; boundary=x",
            "application/x-www-form-urlencoded",
            "",
            ";",
        ]
    ),
    HEADER_VALUES,
)
AUTHORIZATIONS = st.one_of(
    HEADER_VALUES,
    st.binary(max_size=30).map(lambda b: "Basic " + base64.b64encode(b).decode()),
    st.tuples(TEXT, TEXT).map(
        lambda up: (
            "Basic "
            + base64.b64encode(f"{up[0]}:{up[1]}".encode("utf-8", "surrogatepass")).decode()
        )
    ),
    st.sampled_from(["Basic", "Basic ", "Bearer", "Bearer x", "Basic Og==", "Basic ===="]),
)
HEADERS = st.fixed_dictionaries(
    {},
    optional={
        "If-Match": HEADER_VALUES,
        "If-None-Match": HEADER_VALUES,
        "Accept": st.one_of(
            HEADER_VALUES,
            st.sampled_from(["*/*", "application/json;q=0", "text/html", "application/*"]),
        ),
        "Response-Behavior": st.one_of(
            HEADER_VALUES, st.sampled_from(["full", "light", "diff", "LIGHT"])
        ),
        "Authorization": AUTHORIZATIONS,
        "Origin": HEADER_VALUES,
    },
)
METHODS = st.sampled_from(["GET", "HEAD", "PUT", "PATCH", "DELETE", "POST"])

ENVELOPES = st.fixed_dictionaries(
    {},
    optional={
        "data": st.one_of(st.dictionaries(FIELD_NAMES, JSON_VALUES, max_size=5), JSON_VALUES),
        "permissions": st.one_of(
            st.dictionaries(
                st.sampled_from(["read", "write", "create", "record:create", "nope"]) | TEXT,
                st.one_of(st.lists(st.one_of(TEXT, JSON_VALUES), max_size=3), JSON_VALUES),
                max_size=3,
            ),
            JSON_VALUES,
        ),
    },
)
PATCH_OPERATIONS = st.lists(
    st.fixed_dictionaries(
        {
            "op": st.one_of(
                st.sampled_from(["add", "remove", "replace", "move", "copy", "test"]), TEXT
            )
        },
        optional={
            "path": st.one_of(
                st.lists(st.sampled_from(["data", "permissions", "read", "n", "-", "0", "a"])).map(
                    lambda tokens: "/" + "/".join(tokens)
                ),
                TEXT,
                JSON_VALUES,
            ),
            "from": st.sampled_from(["/data", "/data/n", "/permissions/read", "/nope", "", "x"]),
            "value": JSON_VALUES,
        },
    )
    | JSON_VALUES,
    max_size=6,
)
BODIES = st.one_of(
    ENVELOPES.map(dumps),
    JSON_VALUES.map(dumps),
    PATCH_OPERATIONS.map(dumps),
    st.binary(max_size=60).map(lambda b: b.decode("latin-1")),
    st.sampled_from(["", "{", "[", '{"data": NaN}', '{"data": {"x": 1e400}}', "\ufeff{}"]),
)

SUB_REQUESTS = st.one_of(
    st.fixed_dictionaries(
        {},
        optional={
            "path": st.one_of(
                st.sampled_from(OBJECT_PATHS + LIST_PATHS + ["/", "/batch", "/nope"]),
                st.tuples(st.sampled_from(LIST_PATHS), SEGMENTS).map("/".join),
                st.tuples(st.sampled_from(LIST_PATHS), query_strings()).map("?".join),
                TEXT,
                JSON_VALUES,
            ),
            "method": st.one_of(
                METHODS, st.sampled_from(["get", "TRACE", "OPTIONS"]), JSON_VALUES
            ),
            "headers": st.one_of(HEADERS, st.dictionaries(TEXT, JSON_VALUES, max_size=2)),
            "body": st.one_of(ENVELOPES, JSON_VALUES),
        },
    ),
    JSON_VALUES,
)
BATCHES = st.one_of(
    st.fixed_dictionaries(
        {"requests": st.one_of(st.lists(SUB_REQUESTS, max_size=4), JSON_VALUES)},
        optional={"defaults": SUB_REQUESTS},
    ),
    JSON_VALUES,
)


# --- Fixtures ----------------------------------------------------------------------------


@pytest.fixture
def api(api: Any) -> Any:
    """The usual client, with one object of each type. Hypothesis runs every example of a
    test inside one call of the test function, so these are created once per test."""
    factories.collection(api)
    factories.group(api, "staff", members=["bob"])
    factories.record(api, {"n": 1, "title": "one"}, record_id="r1")
    return api


def object_paths(bucket: str, collection: str, object_id: str) -> list[str]:
    return [
        f"/buckets/{object_id}",
        f"/buckets/{bucket}/collections/{object_id}",
        f"/buckets/{bucket}/groups/{object_id}",
        f"/buckets/{bucket}/collections/{collection}/records/{object_id}",
        f"/buckets/{bucket}/collections/{collection}/records",
    ]


# --- Properties --------------------------------------------------------------------------


@PROPERTIES
@given(
    object_id=SEGMENTS,
    bucket=st.one_of(st.just("shop"), SEGMENTS),
    collection=st.one_of(st.just("orders"), SEGMENTS),
    method=METHODS,
)
def test_junk_ids_never_fail(api, object_id, bucket, collection, method):
    for path in object_paths(bucket, collection, object_id):
        body = {"data": {"x": 1}} if method in ("PUT", "PATCH", "POST") else None
        check(api.request(method, path, body), method)


@PROPERTIES
@given(query=query_strings(), target=st.sampled_from([RECORDS, RECORD, "/buckets", GROUP]))
def test_junk_query_strings_never_fail(api, query, target):
    for method in ("GET", "HEAD"):
        check(api.request(method, f"{target}?{query}"), method)
    # Only bob's own objects could go: the list stays for the next examples.
    check(api.as_user("bob").delete(f"{target}?{query}"), "DELETE")
    check(api.as_user(None).get(f"{target}?{query}"))


FILTER_VALUES = st.one_of(
    JSON_VALUES.map(dumps),
    INTEGERS.map(str),
    st.lists(st.one_of(INTEGERS.map(str), JSON_VALUES.map(dumps)), min_size=1, max_size=4).map(
        ",".join
    ),
    TEXT,
)


@PROPERTIES
@given(
    filters=st.lists(st.tuples(OPERATORS, FIELD_NAMES, FILTER_VALUES), min_size=1, max_size=3),
    sort=st.lists(
        st.tuples(st.sampled_from(["", "-", "+"]), FIELD_NAMES).map("".join), max_size=3
    ).map(",".join),
)
def test_wellformed_filters_reach_the_database_and_never_fail(api, filters, sort):
    """Mostly valid queries, so that the SQL of every operator runs on odd values."""
    query = "&".join(
        f"{encode(operator + name)}={encode(value)}" for operator, name, value in filters
    )
    query += f"&_sort={encode(sort)}"
    for method in ("GET", "HEAD"):
        check(api.request(method, f"{RECORDS}?{query}"), method)
    check(api.as_user("bob").delete(f"{RECORDS}?{query}"), "DELETE")


@PROPERTIES
@given(query=query_strings(), method=st.sampled_from(["GET", "DELETE"]))
def test_junk_query_strings_on_deletable_lists_never_fail(api, query, method):
    for path in (RECORDS, f"{BUCKET}/groups"):
        check(api.request(method, f"{path}?{query}"), method)
    if method == "DELETE":
        factories.record(api, {"n": 1, "title": "one"}, record_id="r1")


@PROPERTIES
@given(
    headers=HEADERS,
    content_type=CONTENT_TYPES,
    method=METHODS,
    path=st.sampled_from(OBJECT_PATHS + LIST_PATHS),
    body=st.one_of(st.none(), ENVELOPES.map(dumps)),
)
def test_junk_headers_never_fail(api, headers, content_type, method, path, body):
    raw = body.encode() if body is not None else None
    response = api.request(method, path, headers=headers, content_type=content_type, raw=raw)
    check(response, method)


@PROPERTIES
@given(
    body=BODIES,
    method=st.sampled_from(["PUT", "PATCH", "POST"]),
    content_type=st.sampled_from(
        ["application/json", "application/merge-patch+json", "application/json-patch+json"]
    ),
    index=st.integers(min_value=0, max_value=3),
)
def test_junk_bodies_never_fail(api, body, method, content_type, index):
    path = (LIST_PATHS if method == "POST" else OBJECT_PATHS)[index]
    raw = body.encode("utf-8", "surrogatepass")
    check(api.request(method, path, raw=raw, content_type=content_type), method)


@PROPERTIES
@given(operations=PATCH_OPERATIONS, index=st.integers(min_value=0, max_value=3))
def test_junk_json_patches_never_fail(api, operations, index):
    raw = dumps(operations).encode()
    response = api.patch(OBJECT_PATHS[index], raw=raw, content_type="application/json-patch+json")
    check(response, "PATCH")


@PROPERTIES
@given(batch=BATCHES)
def test_junk_batches_never_fail(api, batch):
    check(api.post("/batch", raw=dumps(batch).encode()), "POST")


@PROPERTIES
@given(
    token=TOKENS,
    sort=st.sampled_from(["", "n", "-n", "title,-n", "id", "-last_modified", "a.b,-id"]),
    limit=st.sampled_from(["", "1", "2", "0"]),
)
def test_junk_tokens_never_fail(api, token, sort, limit):
    if not hasattr(api, "second"):
        api.second = factories.record(api, {"n": 2, "title": "two"}, record_id="r2")
    query = f"_token={encode(token)}&_sort={sort}&_limit={limit}"
    for method in ("GET", "HEAD"):
        response = api.request(method, f"{RECORDS}?{query}")
        check(response, method)
        if method == "GET" and response.status >= 400:
            assert response.status == 400, response
    check(api.as_user("bob").delete(f"{RECORDS}?{query}"), "DELETE")


@PROPERTIES
@given(st.data())
def test_following_pages_with_junk_sorts_never_fails(api, data):
    if not hasattr(api, "pages"):
        for index, value in enumerate([None, "x", 2**64 + 1, [1], {"a": 1}, True, 1.5]):
            factories.record(api, {"n": value, "title": str(index)}, record_id=f"p{index}")
        api.pages = True
    sort = data.draw(
        st.lists(
            st.sampled_from(["n", "-n", "title", "-title", "id", "-id", "missing"]), max_size=3
        )
    )
    response = api.get(f"{RECORDS}?_limit=2&_sort={','.join(sort)}")
    pages = 0
    while response.status == 200 and "Next-Page" in response.headers and pages < 10:
        response = api.get(response.headers["Next-Page"].replace("http://testserver", ""))
        pages += 1
    check(response)
    assert response.status == 200, response
