"""Hostile input: every request stays bounded and is refused with a protocol error, never a 5xx.

Each test sends input an attacker or a broken client could send, and checks that the answer
is the status the protocol gives (400, 404, 413...) with the error body `{code, errno,
error, message}` (spec/00), and that a refused write left nothing behind.

Limits under test (settings, see the README section "Limits"):

* `max_request_body_bytes` (5 MiB): a larger body is a 413, errno 107.
* `max_json_depth` (32 nested objects/arrays, the body itself included): deeper bodies, filter
  values and pagination tokens are a 400; so is anything the JSON parser cannot nest.
* `max_querystring_length` (16384 characters) and `max_query_params` (100): 400.
* `max_sort_fields` (10 entries in `_sort`): 400.
* `max_filter_values` (1000 values in one `in_`/`exclude_`): 400 above, answered below.
* `max_field_path_depth` (10 dotted levels): deeper paths in filters, `_sort` and `_fields`
  match nothing; they are not an error.
* `max_id_length` / `max_record_id_length` (64 / 128 characters): 400 "Invalid object id".
* Strings holding NUL (`\\u0000`) or a lone surrogate (`\\ud800`) cannot be stored: 400
  wherever they appear (body keys and values, filter values, tokens).
* Numbers: integers of any size round-trip exactly (2**64 + 1, 10**4000); numbers a float
  cannot hold (1e400) and `NaN`/`Infinity` are a 400. A forced `last_modified` must be an
  integer between 0 and 2**53 - 1 (400 otherwise); timestamps in the query string must be
  before now + 24 hours (400 otherwise).
"""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import quote

import pytest

from tests import factories

BUCKET = factories.BUCKET
COLLECTION = factories.COLLECTION
GROUP = f"{BUCKET}/groups/staff"
RECORDS = factories.RECORDS
RECORD = f"{RECORDS}/r1"

# resource → (list path, path of an existing object, a data field that resource may hold)
RESOURCES = {
    "bucket": ("/buckets", BUCKET),
    "collection": (f"{BUCKET}/collections", COLLECTION),
    "group": (f"{BUCKET}/groups", GROUP),
    "record": (RECORDS, RECORD),
}
ALL_RESOURCES = pytest.mark.parametrize("resource", list(RESOURCES))
WRITES = [
    ("PUT", "application/json"),
    ("PATCH", "application/json"),
    ("PATCH", "application/merge-patch+json"),
]
ERRNOS = {104, 107, 109, 110, 111, 114, 115, 116, 121, 122, 201, 202, 999}
INVALID_TOKEN = "querystring: _token has invalid content"


def assert_error(response: Any, status: int, errno: int = 107, message: bool = True) -> dict:
    """The protocol error body (spec/00) with the expected status."""
    assert response.status == status, response
    body = response.json
    assert isinstance(body, dict), response
    assert body["code"] == status
    assert body["errno"] == errno
    assert isinstance(body["error"], str) and body["error"]
    if message:
        assert isinstance(body["message"], str) and body["message"]
    return body


def assert_refused(response: Any, *statuses: int) -> dict:
    """A 4xx among `statuses`, with a well-formed error body."""
    assert response.status in statuses, response
    body = response.json
    assert isinstance(body, dict), response
    assert body["code"] == response.status
    assert body["errno"] in ERRNOS
    assert isinstance(body["error"], str) and body["error"]
    return body


def assert_not_5xx(response: Any) -> None:
    assert response.status < 500, response
    if response.status >= 400:
        assert_refused(response, response.status)


def nested(depth: int, leaf: str = "1", opener: str = '{"a":', closer: str = "}") -> bytes:
    """`depth` containers around `leaf`, as raw JSON (no Python recursion to build it)."""
    return (opener * depth + leaf + closer * depth).encode()


def token(payload: Any) -> str:
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return quote(base64.b64encode(raw).decode())


@pytest.fixture
def objects(api: Any) -> dict[str, dict]:
    """One object of each type; returns what GET answers for each (to compare later)."""
    factories.collection(api)
    factories.group(api, "staff", members=["bob"])
    factories.record(api, {"n": 1, "title": "one"}, record_id="r1")
    return {resource: api.get(path).json for resource, (_, path) in RESOURCES.items()}


def assert_absent(api: Any, plural: str, object_id: str) -> None:
    """The list does not hold `object_id` (a missing bucket reads as 403, so ask the list)."""
    assert object_id not in [item["id"] for item in api.get(plural).data]


def assert_unchanged(api: Any, objects: dict[str, dict]) -> None:
    """Nothing was written: every object reads exactly as before (data, timestamp, ACLs)."""
    for resource, (_, path) in RESOURCES.items():
        assert api.get(path).json == objects[resource], resource


# --- Deep JSON ---------------------------------------------------------------------------


DEEP_BODIES = [
    b'{"data": ' + nested(10_000) + b"}",
    b'{"data": {"a": ' + nested(10_000, "1", "[", "]") + b"}}",
    nested(10_000, "{}", '{"data":', "}"),
    b'{"permissions": {"read": ' + nested(10_000, '"x"', "[", "]") + b"}}",
]


@ALL_RESOURCES
def test_nesting_ten_thousand_deep_is_refused(api, objects, resource):
    for body in DEEP_BODIES:
        for method, content_type in WRITES:
            path = RESOURCES[resource][1]
            assert_error(api.request(method, path, raw=body, content_type=content_type), 400)
    assert_unchanged(api, objects)


@ALL_RESOURCES
def test_deep_body_on_create_writes_nothing(api, objects, resource):
    plural = RESOURCES[resource][0]
    body = b'{"data": {"id": "deep", "a": ' + nested(5_000) + b"}}"
    assert_error(api.post(plural, raw=body), 400)
    assert_absent(api, plural, "deep")


@pytest.mark.parametrize("depth,status", [(32, 201), (33, 400)])
def test_max_json_depth_counts_every_container(api, objects, depth, status):
    # The body object and `data` are the first two levels.
    body = b'{"data": {"list": ' + nested(depth - 2, "0", "[", "]") + b"}}"
    response = api.put(f"{RECORDS}/depth", raw=body)
    assert response.status == status, response
    if status == 400:
        assert_error(response, 400)
        assert "32" in response.json["message"]
        assert_absent(api, RECORDS, "depth")


def test_max_json_depth_is_a_setting(api, objects, kinto_settings):
    kinto_settings(max_json_depth=3)
    assert api.put(f"{RECORDS}/d", raw=b'{"data": {"a": [1]}}').status == 201
    assert_error(api.put(f"{RECORDS}/d", raw=b'{"data": {"a": [[1]]}}'), 400)
    assert api.get(f"{RECORDS}/d").data["a"] == [1]


def test_deep_filter_values_are_refused(api, objects):
    deep = "[" * 33 + "]" * 33
    assert_error(api.get(f"{RECORDS}?n={deep}"), 400)
    assert_error(api.get(f"{RECORDS}?contains_n={deep}"), 400)
    # Too deep for the JSON parser itself: the value is then a plain string.
    deeper = "[" * 5000 + "]" * 5000
    response = api.get(f"{RECORDS}?n={deeper}")
    assert response.status == 200, response
    assert response.data == []


# --- Body size ---------------------------------------------------------------------------


def padded_body(size: int) -> bytes:
    """A valid record body of exactly `size` bytes."""
    head, tail = b'{"data": {"pad": "', b'"}}'
    return head + b"x" * (size - len(head) - len(tail)) + tail


def test_body_over_the_default_limit_is_413(api, objects):
    limit = 5 * 1024 * 1024
    assert_error(api.put(f"{RECORDS}/huge", raw=padded_body(limit + 1)), 413)
    assert_absent(api, RECORDS, "huge")
    assert_error(api.patch(RECORD, raw=padded_body(limit + 1)), 413)
    assert_unchanged(api, objects)


def test_body_just_under_the_default_limit_is_accepted(api, objects):
    limit = 5 * 1024 * 1024
    response = api.put(f"{RECORDS}/big", raw=padded_body(limit))
    assert response.status == 201, response
    assert len(api.get(f"{RECORDS}/big").data["pad"]) > limit - 100
    # Same size, broken JSON: a clean 400.
    broken = padded_body(limit)[:-1] + b" "
    assert_error(api.put(f"{RECORDS}/broken", raw=broken), 400)


@pytest.mark.parametrize("path", [RECORD, f"{RECORDS}/new", "/batch", RECORDS])
def test_body_limit_is_a_setting(api, objects, kinto_settings, path):
    kinto_settings(max_request_body_bytes=1000)
    method = "POST" if path in ("/batch", RECORDS) else "PUT"
    body = padded_body(1001)
    if path == "/batch":
        body = b'{"requests": [{"path": "/buckets/x", "method": "PUT"}], "defaults": {"body": {"data": {"pad": "'
        body += b"x" * 1000 + b'"}}}}'
    assert_error(api.request(method, path, raw=body), 413)
    assert_unchanged(api, objects)
    assert api.get(RECORDS).data == [objects["record"]["data"]]
    assert_error(api.get("/buckets/x"), 403, 121)
    assert api.put(f"{RECORDS}/ok", raw=padded_body(1000)).status == 201


# --- Numbers -----------------------------------------------------------------------------

HUGE = {"i63": 2**63, "u64": 2**64 + 1, "neg": -(2**64 + 1), "googol": 10**4000}


def huge_body(extra: str = "") -> bytes:
    fields = ", ".join(f'"{name}": {value}' for name, value in HUGE.items())
    nested_list = f'"nested": {{"list": [{2**64 + 1}, {{"deep": {10**100}}}]}}'
    return f'{{"data": {{{fields}, {nested_list}{extra}}}}}'.encode()


@ALL_RESOURCES
def test_huge_integers_round_trip_exactly(api, objects, resource):
    plural, path = RESOURCES[resource]
    extra = ', "members": []' if resource == "group" else ""
    response = api.put(path, raw=huge_body(extra))
    assert response.status == 200, response
    for data in (response.data, api.get(path).data):
        for name, value in HUGE.items():
            assert data[name] == value and isinstance(data[name], int), name
        assert data["nested"] == {"list": [2**64 + 1, {"deep": 10**100}]}
    listed = {item["id"]: item for item in api.get(plural).data}
    assert listed[path.rsplit("/", 1)[1]]["u64"] == 2**64 + 1
    assert listed[path.rsplit("/", 1)[1]]["googol"] == 10**4000


def test_huge_integers_in_filters_and_merges(api, objects):
    assert api.put(f"{RECORDS}/big", raw=huge_body()).status == 201
    for query in (
        f"u64={2**64 + 1}",
        f"i63={2**63}",
        f"googol={10**4000}",
        f"in_u64=1,{2**64 + 1}",
    ):
        response = api.get(f"{RECORDS}?{query}")
        assert response.status == 200, (query, response)
        assert [item["id"] for item in response.data] == ["big"], query
    for query in (
        f"gt_u64={2**64}",
        f"lt_neg={-(2**64)}",
        f"min_googol={10**3999}",
        f"not_u64={2**70}",
        f"contains_nested={2**64 + 1}",
        f"exclude_u64={2**65},{2**66}",
        f"_sort=-u64,googol&_limit=1&n={2**64}",
    ):
        assert_not_5xx(api.get(f"{RECORDS}?{query}"))
    response = api.patch(
        f"{RECORDS}/big",
        raw=b'{"data": {"more": %d}}' % (3**200),
        content_type="application/merge-patch+json",
    )
    assert response.status == 200, response
    assert api.get(f"{RECORDS}/big").data["more"] == 3**200
    assert api.get(f"{RECORDS}/big").data["googol"] == 10**4000


def test_integer_too_long_for_the_parser_is_refused(api, objects):
    assert_error(api.put(f"{RECORDS}/x", raw=b'{"data": {"n": 1%s}}' % (b"0" * 5000)), 400)
    assert_absent(api, RECORDS, "x")


@ALL_RESOURCES
def test_out_of_range_forced_last_modified_is_refused(api, objects, resource):
    plural, path = RESOURCES[resource]
    for value in (2**63, 2**64 + 1, -1, 2**53):
        for method in ("PUT", "PATCH"):
            body = b'{"data": {"last_modified": %d}}' % value
            assert_error(api.request(method, path, raw=body), 400)
        body = b'{"data": {"id": "forced", "last_modified": %d}}' % value
        assert_error(api.post(plural, raw=body), 400)
    assert_absent(api, plural, "forced")
    assert_unchanged(api, objects)


def test_largest_forced_last_modified_is_served(api, objects):
    response = api.put(f"{RECORDS}/late", {"data": {"last_modified": 2**53 - 1}})
    assert response.status == 201, response
    assert response.headers["ETag"] == f'"{2**53 - 1}"'
    assert response.headers["Last-Modified"] == "Fri, 31 Dec 9999 23:59:59 GMT"
    listing = api.get(RECORDS)
    assert listing.status == 200 and listing.headers["ETag"] == f'"{2**53 - 1}"'
    assert api.head(RECORDS).status == 200


def test_huge_cache_expires_does_not_break_anonymous_reads(api, anonymous, objects):
    response = api.patch(
        COLLECTION,
        {"data": {"cache_expires": 2**64}, "permissions": {"read": ["system.Everyone"]}},
    )
    assert response.status in (200, 400), response
    assert_not_5xx(anonymous.get(RECORDS))
    assert_not_5xx(anonymous.get(RECORD))


@pytest.mark.parametrize(
    "param", ["_since", "_before", "_to", "gt_last_modified", "last_modified", "in_last_modified"]
)
def test_huge_timestamps_in_query_are_refused(api, objects, param):
    for value in (2**63, 2**64 + 1, 10**40):
        assert_error(api.get(f"{RECORDS}?{param}={value}"), 400)
        assert_error(api.get(f'{RECORDS}?{param}="{value}"'), 400)
        assert_error(api.delete(f"{RECORDS}?{param}={value}"), 400)
    assert_unchanged(api, objects)


@ALL_RESOURCES
def test_huge_last_modified_on_delete_is_refused(api, objects, resource):
    for value in (2**63, 2**64 + 1, 10**40):
        assert_error(api.delete(f"{RESOURCES[resource][1]}?last_modified={value}"), 400)
    assert_unchanged(api, objects)


def test_huge_limit_is_accepted_or_refused_cleanly(api, objects):
    for value in (2**63, 2**64 + 1, 10**40):
        response = api.get(f"{RECORDS}?_limit={value}")
        if value > 2**63:
            assert_error(response, 400)
        else:
            assert response.status in (200, 400), response
            assert_not_5xx(response)


@ALL_RESOURCES
def test_huge_precondition_values(api, objects, resource):
    plural, path = RESOURCES[resource]
    for value in (2**63, 2**64 + 1, 10**30):
        if_match = {"If-Match": f'"{value}"'}
        # Never equal to a real timestamp: the precondition fails (or the value is refused).
        assert_refused(api.get(path, headers=if_match), 400, 412)
        assert_refused(api.get(plural, headers=if_match), 400, 412)
        assert_refused(api.put(path, {"data": {"x": 1}}, headers=if_match), 400, 412)
        assert_refused(api.patch(path, {"data": {"x": 1}}, headers=if_match), 400, 412)
        assert_refused(api.delete(path, headers=if_match), 400, 412)
        assert_refused(api.delete(plural, headers=if_match), 400, 412)
        if_none_match = {"If-None-Match": f'"{value}"'}
        for response in (
            api.get(path, headers=if_none_match),
            api.get(plural, headers=if_none_match),
        ):
            assert response.status in (200, 400), response
            assert_not_5xx(response)
    assert_unchanged(api, objects)


@ALL_RESOURCES
def test_non_finite_numbers_in_bodies_are_refused(api, objects, resource):
    plural, path = RESOURCES[resource]
    for literal in (b"1e400", b"-1e400", b"NaN", b"Infinity", b"-Infinity", b"1E99999"):
        for method, content_type in WRITES:
            body = b'{"data": {"x": [%s]}}' % literal
            assert_error(api.request(method, path, raw=body, content_type=content_type), 400)
        body = b'{"data": {"id": "nan", "x": %s}}' % literal
        assert_error(api.post(plural, raw=body), 400)
    assert_absent(api, plural, "nan")
    assert_unchanged(api, objects)


def test_non_finite_numbers_in_filters_are_strings(api, objects):
    for value in ("1e400", "NaN", "Infinity", "-Infinity", "[1e400]"):
        for operator in ("", "lt_", "in_", "contains_", "like_", "not_"):
            response = api.get(f"{RECORDS}?{operator}n={quote(value)}")
            assert response.status == 200, (value, operator, response)


# --- NUL and lone surrogates -------------------------------------------------------------

UNSTORABLE = [r"\u0000", r"\ud800", r"\udfff", r"a\ud83dz"]


BODY_TEMPLATES = [
    '{"data": {"k": "%s"}}',
    '{"data": {"k%s": 1}}',
    '{"data": {"k": {"deep": ["x", "%s"]}}}',
    '{"data": {"k": [{"%s": null}]}}',
    '{"permissions": {"read": ["alice%s"]}}',
]


@ALL_RESOURCES
@pytest.mark.parametrize("char", UNSTORABLE)
def test_unstorable_characters_in_bodies_are_refused(api, objects, resource, char):
    plural, path = RESOURCES[resource]
    for template in BODY_TEMPLATES:
        body = (template % char).encode()
        for method, content_type in WRITES:
            response = api.request(method, path, raw=body, content_type=content_type)
            assert_error(response, 400)
        assert_error(
            api.post(plural, raw=body.replace(b'{"data": {', b'{"data": {"id": "bad", ')), 400
        )
    assert_absent(api, plural, "bad")
    assert_unchanged(api, objects)


@pytest.mark.parametrize("char", UNSTORABLE)
def test_unstorable_characters_in_json_patch_are_refused(api, objects, char):
    for operations in (
        '[{"op": "add", "path": "/data/k", "value": "%s"}]',
        '[{"op": "add", "path": "/data/k%s", "value": 1}]',
        '[{"op": "add", "path": "/permissions/read/a%s"}]',
    ):
        response = api.patch(
            RECORD, raw=(operations % char).encode(), content_type="application/json-patch+json"
        )
        assert_error(response, 400)
    assert_unchanged(api, objects)


@pytest.mark.parametrize("char", UNSTORABLE)
def test_unstorable_characters_in_ids_are_refused(api, objects, char):
    for plural, _ in RESOURCES.values():
        body = ('{"data": {"id": "a' + char + 'b"}}').encode()
        assert_error(api.post(plural, raw=body), 400)
    assert_unchanged(api, objects)


@ALL_RESOURCES
def test_unstorable_bytes_in_url_ids_are_refused(api, objects, resource):
    plural = RESOURCES[resource][0]
    for encoded in ("%00", "a%00b", "%ED%A0%80", "%FF", "%C0%AF", "a%E2%82"):
        for method in ("GET", "PUT", "PATCH", "DELETE"):
            body = {"data": {"x": 1}} if method in ("PUT", "PATCH") else None
            assert_refused(api.request(method, f"{plural}/{encoded}", body), 400, 403)
        assert_error(api.put(f"{plural}/{encoded}", {"data": {}}), 400)
    assert_unchanged(api, objects)


@pytest.mark.parametrize(
    "template",
    [
        'n="%s"',
        'in_n="a","%s"',
        'exclude_n="%s"',
        'like_title="%s"',
        'contains_n=["%s"]',
        'contains_any_n=["%s"]',
        'n={"%s": 1}',
        'not_n=["%s"]',
        'id="%s"',
        'in_id="%s"',
    ],
)
def test_unstorable_characters_in_filter_values_are_refused(api, objects, template):
    for char in (r"\u0000", r"\ud800", r"\udc00"):
        query = quote(template % char, safe="=")
        assert_error(api.get(f"{RECORDS}?{query}"), 400)
        assert_error(api.delete(f"{RECORDS}?{query}"), 400)
    assert_unchanged(api, objects)


def test_nul_in_the_query_string_is_refused(api, objects):
    for query in ("n=%00", "n%00=1", "in_n=1,%00", "like_n=%00", "_since=%00"):
        assert_error(api.get(f"{RECORDS}?{query}"), 400)
        assert_error(api.delete(f"{RECORDS}?{query}"), 400)
    for query in ("_sort=a%00b", "_fields=a%00", "_sort=-%00"):
        response = api.get(f"{RECORDS}?{query}")
        assert response.status in (200, 400), response
        assert_not_5xx(response)
    assert_unchanged(api, objects)


# --- Invalid UTF-8 -----------------------------------------------------------------------


def test_invalid_utf8_in_the_query_string_is_refused(api, objects):
    for query in ("a=%ff", "%ff=1", "_sort=%ff", "_token=%ff", "in_n=%c3%28", "n=%ed%a0%80"):
        for response in (
            api.get(f"{RECORDS}?{query}"),
            api.get(f"{RECORD}?{query}"),
            api.delete(f"{RECORDS}?{query}"),
            api.delete(f"{RECORD}?{query}"),
        ):
            assert_error(response, 400)
    assert_unchanged(api, objects)


INVALID_UTF8_BODIES = [
    b'{"data": {"k": "\xff"}}',
    b'{"data": {"\xc3\x28": 1}}',
    b'{"data": {"k": "\xed\xa0\x80"}}',
    b'{"data": {"k": "caf\xe9"}}',
]


@ALL_RESOURCES
def test_invalid_utf8_in_bodies_is_refused(api, objects, resource):
    plural, path = RESOURCES[resource]
    for body in INVALID_UTF8_BODIES:
        for method, content_type in WRITES:
            assert_error(api.request(method, path, raw=body, content_type=content_type), 400)
        assert_error(api.post(plural, raw=body), 400)
    assert_error(api.post("/batch", raw=b'{"requests": [], "x": "\xff"}'), 400)
    assert_unchanged(api, objects)
    assert len(api.get(plural).data) == 1


# --- Query string size -------------------------------------------------------------------


def test_too_many_query_parameters_are_refused(api, objects):
    assert api.get(RECORDS + "?" + "&".join(f"f{i}=1" for i in range(100))).status == 200
    for count in (101, 3000):
        query = "&".join(f"f{i}=1" for i in range(count))
        assert_error(api.get(f"{RECORDS}?{query}"), 400)
        assert_error(api.delete(f"{RECORDS}?{query}"), 400)
    assert_error(api.get(RECORDS + "?" + "&".join(["a"] * 5000)), 400)
    assert_unchanged(api, objects)


def test_query_parameter_limit_is_a_setting(api, objects, kinto_settings):
    kinto_settings(max_query_params=3)
    assert api.get(f"{RECORDS}?a=1&b=2&c=3").status == 200
    assert_error(api.get(f"{RECORDS}?a=1&b=2&c=3&d=4"), 400)


def test_too_long_query_string_is_refused(api, objects):
    assert api.get(f"{RECORDS}?title={'x' * 16000}").status == 200
    assert_error(api.get(f"{RECORDS}?title={'x' * 16385}"), 400)
    assert_error(api.delete(f"{RECORDS}?title={'x' * 100_000}"), 400)
    assert_error(api.get(f"{RECORD}?_fields={'x' * 100_000}"), 400)
    assert_unchanged(api, objects)


def test_thousands_of_sort_fields_are_refused(api, objects):
    assert api.get(RECORDS + "?_sort=" + ",".join(f"f{i}" for i in range(10))).status == 200
    for count in (11, 3000):
        assert_error(api.get(RECORDS + "?_sort=" + ",".join(f"f{i}" for i in range(count))), 400)
    assert_error(api.delete(RECORDS + "?_sort=" + ",".join(["-n"] * 3000)), 400)
    assert_unchanged(api, objects)


@pytest.mark.parametrize("operator", ["in", "exclude"])
def test_huge_in_list(api, objects, operator):
    factories.record(api, {"n": 999}, record_id="r999")
    values = ",".join(str(i) for i in range(1000))
    response = api.get(f"{RECORDS}?{operator}_n={values}")
    assert response.status == 200, response
    expected = {"r1", "r999"} if operator == "in" else set()
    assert {item["id"] for item in response.data} == expected
    ids = ",".join(f'"r{i}"' for i in range(1000))
    response = api.get(f"{RECORDS}?{operator}_id={ids}")
    assert response.status == 200, response
    assert {item["id"] for item in response.data} == (expected if operator == "in" else set())
    for many in (f"{values},1000", ",".join(["1"] * 5000)):
        assert_error(api.get(f"{RECORDS}?{operator}_n={many}"), 400)
        assert_error(api.delete(f"{RECORDS}?{operator}_n={many}"), 400)
    assert len(api.get(RECORDS).data) == 2


def test_huge_contains_list(api, objects):
    factories.record(api, {"tags": list(range(5))}, record_id="tagged")
    values = json.dumps(list(range(1000)))
    assert api.get(f"{RECORDS}?contains_tags={values}").data == []
    response = api.get(f"{RECORDS}?contains_any_tags={values}")
    assert [item["id"] for item in response.data] == ["tagged"]
    many = json.dumps(list(range(3000)))
    assert_not_5xx(api.get(f"{RECORDS}?contains_any_tags={many}"))
    assert_not_5xx(api.get(f"{RECORDS}?contains_tags={many}"))


def test_filter_value_limit_is_a_setting(api, objects, kinto_settings):
    kinto_settings(max_filter_values=3)
    assert api.get(f"{RECORDS}?in_n=1,2,3").status == 200
    assert_error(api.get(f"{RECORDS}?in_n=1,2,3,4"), 400)


# --- Ids, URLs and headers ---------------------------------------------------------------


@pytest.mark.parametrize(
    "resource,limit",
    [("bucket", 64), ("collection", 64), ("group", 64), ("record", 128)],
)
def test_id_length_limits(api, objects, resource, limit):
    plural = RESOURCES[resource][0]
    body = {"data": {"members": []}} if resource == "group" else None
    assert api.put(f"{plural}/{'a' * limit}", body).status == 201
    for length in (limit + 1, 100_000):
        long_id = "b" * length
        assert_error(api.put(f"{plural}/{long_id}", body), 400)
        assert_error(api.post(plural, {"data": {"id": long_id}}), 400)
        for method in ("GET", "PATCH", "DELETE"):
            response = api.request(method, f"{plural}/{long_id}", {"data": {}})
            # A missing bucket grants nothing: its id is checked after authorization.
            assert_refused(response, 400, 403) if resource == "bucket" else assert_error(
                response, 400
            )
    assert {item["id"] for item in api.get(plural).data} == {
        "a" * limit,
        objects[resource]["data"]["id"],
    }


def test_very_long_parent_ids(api, objects):
    long_id = "p" * 100_000
    for path in (
        f"/buckets/{long_id}/collections/c",
        f"/buckets/{long_id}/collections",
        f"/buckets/shop/collections/{long_id}/records",
        f"/buckets/shop/collections/{long_id}/records/r1",
        f"/buckets/{long_id}/groups/g",
    ):
        for method in ("GET", "PUT", "DELETE"):
            response = api.request(method, path, {"data": {}} if method == "PUT" else None)
            assert_refused(response, 400, 403, 404, 405)
    assert_unchanged(api, objects)


def test_very_long_urls(api, objects):
    assert_error(api.get("/" + "x/" * 50_000 + "y"), 404, 111)
    assert_error(api.get(f"/buckets/shop/nothing/{'z' * 100_000}"), 404, 111)
    response = api.get(f"/{'v' * 100_000}")
    assert_not_5xx(response)


@pytest.mark.parametrize("path", ["/nope%0A", f"{BUCKET}/collections//records/%0A", "/x%0D%0Ay"])
def test_control_characters_in_unknown_urls(api, objects, path):
    assert_error(api.get(path), 404, 111)


def test_redirects_never_copy_control_characters_into_headers(api, objects):
    response = api.get("/buckets/a%0D%0Ab%20%C3%A9/?q=%0A&r=%C3%A9")
    assert response.status == 307, response
    assert response.headers["Location"] == (
        "http://testserver/v1/buckets/a%0D%0Ab%20%C3%A9?q=%0A&r=%C3%A9"
    )
    response = api.post("/batch", {"requests": [{"path": "/buckets/a\nb/?q=\n"}]})
    assert response.status == 200, response
    assert_not_5xx(response)


@pytest.mark.parametrize(
    "header,value,status",
    [
        ("If-Match", "x" * 100_000, 400),
        ("If-Match", '"' + "9" * 100_000 + '"', 400),
        ("If-None-Match", '"' + "1" * 10_000, 400),
        ("Response-Behavior", "light" * 20_000, 400),
        ("Content-Type", "application/" + "j" * 100_000, 415),
        ("Accept", "text/" + "h" * 100_000, 406),
        ("Authorization", "Basic " + "QQ==" * 50_000, 401),
        ("Authorization", "Bearer " + "t" * 100_000, 401),
    ],
)
def test_very_long_header_values(api, objects, header, value, status):
    response = api.patch(RECORD, {"data": {"n": 2}}, headers={header: value})
    assert_error(response, status, 104 if status == 401 else 107)
    assert_unchanged(api, objects)


def test_very_long_unknown_header_is_ignored(api, objects):
    response = api.get(RECORD, headers={"X-Junk": "j" * 1_000_000, "Origin": "o" * 100_000})
    assert response.status == 200, response


# --- Dotted field paths ------------------------------------------------------------------

DEEP_PATH = ".".join(["a"] * 1000)


@pytest.mark.parametrize(
    "query,expected",
    [
        (f"{DEEP_PATH}=1", []),
        (f"has_{DEEP_PATH}=true", []),
        (f"has_{DEEP_PATH}=false", []),
        (f"not_{DEEP_PATH}=1", []),
        (f"in_{DEEP_PATH}=1,2", []),
        (f"like_{DEEP_PATH}=x", []),
        (f"contains_{DEEP_PATH}=1", []),
        (f"_sort={DEEP_PATH},-{DEEP_PATH}", ["r1"]),
        (f"_fields={DEEP_PATH}", ["r1"]),
    ],
)
def test_dotted_paths_a_thousand_deep_match_nothing(api, objects, query, expected):
    response = api.get(f"{RECORDS}?{query}")
    assert response.status == 200, response
    assert [item["id"] for item in response.data] == expected


def test_max_field_path_depth(api, objects):
    data: Any = 1
    for _ in range(12):
        data = {"a": data}
    factories.record(api, data, record_id="deep")
    within = ".".join(["a"] * 10)
    beyond = ".".join(["a"] * 11)
    assert [r["id"] for r in api.get(f"{RECORDS}?has_{within}=true").data] == ["deep"]
    assert api.get(f"{RECORDS}?has_{beyond}=true").data == []
    response = api.get(f"{RECORDS}?_fields={DEEP_PATH}&id=deep")
    assert response.data == [{"id": "deep", "last_modified": response.data[0]["last_modified"]}]


# --- Pagination tokens -------------------------------------------------------------------

BAD_TOKENS = {
    "not-base64": "%%%",
    "truncated": "eyJ",
    "binary": quote(base64.b64encode(b"\xff\xfe\x00").decode()),
    "invalid-utf8": token(b'{"last_object": {"x": "\xff"}, "offset": 1, "nonce": "n"}'),
    "list": token([]),
    "string": token("x"),
    "null": token(None),
    "empty-object": token({}),
    "last-object-list": token({"last_object": [], "offset": 1, "nonce": "n"}),
    "last-object-string": token({"last_object": "x", "offset": 1, "nonce": "n"}),
    "timestamp-string": token({"last_object": {"last_modified": "x"}, "offset": 1, "nonce": "n"}),
    "timestamp-list": token({"last_object": {"last_modified": [1]}, "offset": 1, "nonce": "n"}),
    "timestamp-null": token({"last_object": {"last_modified": None}, "offset": 1, "nonce": "n"}),
    "timestamp-float": token({"last_object": {"last_modified": 1.5}, "offset": 1, "nonce": "n"}),
    "timestamp-bool": token({"last_object": {"last_modified": True}, "offset": 1, "nonce": "n"}),
    "timestamp-huge": token({"last_object": {"last_modified": 2**64}, "offset": 1, "nonce": "n"}),
    "timestamp-negative": token({"last_object": {"last_modified": -1}, "offset": 1, "nonce": "n"}),
    "id-list": token({"last_object": {"id": [1]}, "offset": 1, "nonce": "n"}),
    "id-number": token({"last_object": {"id": 1}, "offset": 1, "nonce": "n"}),
    "nul": token({"last_object": {"id": "\u0000"}, "offset": 1, "nonce": "n"}),
    "nul-value": token({"last_object": {"n": "a\u0000"}, "offset": 1, "nonce": "n"}),
    "nul-key": token({"last_object": {"n\u0000": 1}, "offset": 1, "nonce": "n"}),
    "surrogate": token(b'{"last_object": {"n": "\\ud800"}, "offset": 1, "nonce": "n"}'),
    "nan": token(b'{"last_object": {"n": NaN}, "offset": 1, "nonce": "n"}'),
    "inf": token(b'{"last_object": {"n": 1e400}, "offset": 1, "nonce": "n"}'),
    "deep": token(b'{"last_object": {"n": ' + nested(40, "1", "[", "]") + b'}, "offset": 1}'),
    "very-deep": token(b'{"last_object": {"n": ' + nested(5000, "1", "[", "]") + b"}}"),
    "offset-string": token({"last_object": {}, "offset": "1", "nonce": "n"}),
    "offset-negative": token({"last_object": {}, "offset": -1, "nonce": "n"}),
    "nonce-number": token({"last_object": {}, "offset": 1, "nonce": 1}),
}


@pytest.mark.parametrize("name", list(BAD_TOKENS))
def test_malformed_tokens_are_refused(api, objects, name):
    for sort in ("", "&_sort=n", "&_sort=id", "&_sort=-last_modified,title"):
        response = api.get(f"{RECORDS}?_token={BAD_TOKENS[name]}{sort}")
        assert assert_error(response, 400)["message"] == INVALID_TOKEN
    response = api.delete(f"{RECORDS}?_token={BAD_TOKENS[name]}&_sort=n")
    assert assert_error(response, 400)["message"] == INVALID_TOKEN
    assert api.get(RECORDS).data == [objects["record"]["data"]]


@pytest.mark.parametrize(
    "last_object",
    [
        {"n": 2**64 + 1, "last_modified": 1},
        {"n": 10**4000},
        {"n": {"nested": [1, {"x": None}]}, "title": ["a"]},
        {"n": -(2**70), "id": "r0"},
        {"last_modified": 2**63 - 1, "id": "z" * 1000},
        {DEEP_PATH: 1, "n": "x"},
    ],
)
def test_odd_but_wellformed_tokens_never_fail(api, objects, last_object):
    encoded = token({"last_object": last_object, "offset": 1, "nonce": "pagination-token-x"})
    for sort in ("n", "-n", "title,-n", "id", DEEP_PATH):
        response = api.get(f"{RECORDS}?_sort={sort}&_token={encoded}")
        assert response.status == 200, (sort, response)
        assert isinstance(response.data, list)


# --- Wrong JSON types --------------------------------------------------------------------

WRONG_BODIES = [
    b"[]",
    b"[{}]",
    b'"data"',
    b"1",
    b"true",
    b"null",
    b'{"data": []}',
    b'{"data": [{}]}',
    b'{"data": "x"}',
    b'{"data": 1}',
    b'{"data": true}',
    b'{"permissions": []}',
    b'{"permissions": "read"}',
    b'{"permissions": 1}',
    b'{"permissions": {"read": [[]]}}',
    b'{"permissions": {"read": [{}]}}',
    b'{"permissions": {"read": [1]}}',
    b'{"permissions": {"read": [true]}}',
    b'{"permissions": {"read": [null]}}',
    b'{"permissions": {"read": "alice"}}',
    b'{"permissions": {"read": 1}}',
    b'{"permissions": {"read": {"a": "a"}}}',
    b'{"permissions": {"nope": []}}',
    b'{"permissions": {"read": [""]}}',
    b'{"data": {}, "extra": 1}',
    b'{"data": {}, "permissions": {}, "data ": {}}',
]


@ALL_RESOURCES
@pytest.mark.parametrize("method,content_type", WRITES)
def test_wrong_json_types_are_refused(api, objects, resource, method, content_type):
    path = RESOURCES[resource][1]
    for body in WRONG_BODIES:
        response = api.request(method, path, raw=body, content_type=content_type)
        assert_error(response, 400)
    assert_unchanged(api, objects)


@ALL_RESOURCES
def test_wrong_json_types_on_create_write_nothing(api, objects, resource):
    plural = RESOURCES[resource][0]
    for body in WRONG_BODIES:
        assert_error(api.post(plural, raw=body), 400)
    assert len(api.get(plural).data) == 1
    assert_unchanged(api, objects)


@pytest.mark.parametrize(
    "resource,data",
    [
        ("group", {"members": {}}),
        ("group", {"members": "bob"}),
        ("group", {"members": [1]}),
        ("group", {"members": [[]]}),
        ("group", {"members": [None]}),
        ("collection", {"cache_expires": "1"}),
        ("collection", {"cache_expires": [1]}),
        ("collection", {"schema": 1}),
        ("collection", {"schema": []}),
        ("bucket", {"record:schema": "x"}),
    ]
    + [(resource, {"id": bad}) for resource in RESOURCES for bad in (1, [], {}, None, True)],
)
def test_wrong_types_of_server_fields_are_refused(api, objects, resource, data):
    path = RESOURCES[resource][1]
    for method, content_type in WRITES:
        if None in data.values() and content_type == "application/merge-patch+json":
            continue  # there, null removes the field: nothing wrong is sent
        response = api.request(method, path, {"data": data}, content_type=content_type)
        assert_error(response, 400)
    assert_unchanged(api, objects)


# --- JSON Patch --------------------------------------------------------------------------

JSON_PATCH = "application/json-patch+json"


def json_patch(api: Any, operations: Any) -> Any:
    raw = operations if isinstance(operations, bytes) else json.dumps(operations).encode()
    return api.patch(RECORD, raw=raw, content_type=JSON_PATCH)


@pytest.mark.parametrize(
    "operations",
    [
        {},
        [1],
        [[]],
        [None],
        [{}],
        [{"op": "add"}],
        [{"op": 1, "path": "/data/x", "value": 1}],
        [{"op": "add", "path": 1, "value": 1}],
        [{"op": "add", "path": "data/x", "value": 1}],
        [{"op": "add", "path": "/data/x/y/z", "value": 1}],
        [{"op": "remove", "path": "/data/missing"}],
        [{"op": "replace", "path": "/data", "value": []}],
        [{"op": "replace", "path": "/data", "value": "x"}],
        [{"op": "remove", "path": "/data"}],
        [{"op": "replace", "path": "/permissions", "value": []}],
        [{"op": "add", "path": "/permissions/read", "value": [1]}],
        [{"op": "add", "path": "/permissions/nope/alice"}],
        [{"op": "move", "from": "/data", "path": "/data/x"}],
        [{"op": "copy", "from": "/nowhere", "path": "/data/x"}],
        [{"op": "test", "path": "/data/n", "value": 2}],
        [{"op": "add", "path": "/data/id", "value": 5}],
        [
            {"op": "add", "path": "/data/x", "value": 1},
            {"op": "test", "path": "/data/x", "value": 2},
        ],
        [{"op": "add", "path": "/data/" + "/".join(["a"] * 1000), "value": 1}],
        [{"op": "add", "path": "/data/x", "value": 1}] * 3 + [{"op": "remove", "path": "/nope"}],
    ],
)
def test_invalid_json_patches_are_refused(api, objects, operations):
    assert_error(json_patch(api, operations), 400)
    assert_unchanged(api, objects)


def test_json_patch_with_thousands_of_operations(api, objects):
    operations = [{"op": "add", "path": f"/data/k{i}", "value": i} for i in range(5000)]
    response = json_patch(api, operations)
    assert_not_5xx(response)
    if response.status == 200:
        assert api.get(RECORD).data["k4999"] == 4999
    else:
        assert_error(response, 400)
        assert_unchanged(api, objects)
    failing = [{"op": "add", "path": f"/data/z{i}", "value": i} for i in range(5000)]
    failing.append({"op": "test", "path": "/data/n", "value": "no"})
    assert_error(json_patch(api, failing), 400)
    assert "z0" not in api.get(RECORD).data


def test_json_patch_cannot_nest_beyond_the_depth_limit(api, objects):
    # Each operation adds one level: the result would be 200 levels deep.
    operations = [{"op": "add", "path": "/data" + "/a" * i, "value": {}} for i in range(1, 200)]
    assert_error(json_patch(api, operations), 400)
    # Grafting a deep value under a deep path is refused the same way.
    deep_value: Any = 1
    for _ in range(25):
        deep_value = {"a": deep_value}
    response = json_patch(api, [{"op": "add", "path": "/data/deep", "value": deep_value}])
    assert response.status == 200, response
    graft = [{"op": "add", "path": "/data/deep" + "/a" * 20, "value": deep_value}]
    assert_error(json_patch(api, graft), 400)
    assert api.get(RECORD).data["deep"] == deep_value


def test_json_patch_copies_cannot_blow_up(api, objects):
    # Each copy doubles the document: 17 copies of 100 bytes would make 13 MB out of a body
    # of 1 kB (and 40 copies would exhaust the memory), beyond max_request_body_bytes.
    operations = [{"op": "add", "path": "/data/c", "value": ["x" * 100]}]
    operations += [{"op": "copy", "from": "/data/c", "path": "/data/c/-"} for _ in range(17)]
    body = assert_error(json_patch(api, operations), 400)
    assert body["message"].startswith("body: JSON Patch operation failed")
    assert_unchanged(api, objects)
    # A few copies are fine.
    assert json_patch(api, operations[:4]).status == 200
    assert len(api.get(RECORD).data["c"]) == 4


# --- Batch -------------------------------------------------------------------------------

BAD_BATCHES = [
    b"[]",
    b'"requests"',
    b"{}",
    b'{"requests": {}}',
    b'{"requests": "x"}',
    b'{"requests": [1]}',
    b'{"requests": [[]]}',
    b'{"requests": [null]}',
    b'{"requests": [{}]}',
    b'{"requests": [{"path": 1}]}',
    b'{"requests": [{"path": null}]}',
    b'{"requests": [{"path": "buckets"}]}',
    b'{"requests": [{"path": "/", "method": "get"}]}',
    b'{"requests": [{"path": "/", "method": 1}]}',
    b'{"requests": [{"path": "/", "method": ["GET"]}]}',
    b'{"requests": [{"path": "/", "headers": []}]}',
    b'{"requests": [{"path": "/", "headers": {"a": 1}}]}',
    b'{"requests": [{"path": "/", "headers": {"a": {"b": "c"}}}]}',
    b'{"requests": [{"path": "/", "body": []}]}',
    b'{"requests": [{"path": "/", "body": "x"}]}',
    b'{"requests": [{"path": "/", "junk": 1}]}',
    b'{"requests": [], "defaults": 1}',
    b'{"requests": [], "defaults": {"junk": 1}}',
    b'{"requests": [{"path": "/"}], "defaults": {"path": 1}}',
    b'{"requests": [{}], "defaults": {"body": []}}',
    b'{"requests": [{"path": "/"}], "defaults": {"headers": {"x": []}}}',
    b'{"requests": [], "other": []}',
    b'{"requests": [{"path": "/batch", "method": "POST"}]}',
    b'{"requests": [{"path": "/v1/batch?x=1", "method": "POST"}]}',
    b'{"requests": [{"path": "/\\u0000"}]}',
    b'{"requests": [{"path": "/\\ud800"}]}',
    b'{"requests": [{"path": "/", "headers": {"If-Match": "\\u0000"}}]}',
    b'{"requests": [{"path": "/", "body": {"data": {"x": NaN}}}]}',
    b'{"requests": ' + nested(5000, "[]", "[", "]") + b"}",
    b'{"requests": [{"path": "/", "body": ' + nested(40, "{}") + b"}]}",
]


@pytest.mark.parametrize("body", BAD_BATCHES)
def test_batch_with_nested_garbage_is_refused(api, objects, body):
    prefix = b'{"requests": [{"path": "/buckets/written", "method": "PUT"}'
    assert_error(api.post("/batch", raw=body), 400)
    if body.startswith(b'{"requests": [{'):
        # A valid first sub-request must not run when the batch itself is refused.
        combined = prefix + b", " + body[len(b'{"requests": [') :]
        assert_error(api.post("/batch", raw=combined), 400)
    assert_error(api.get("/buckets/written"), 403, 121)
    assert_unchanged(api, objects)


def test_batch_over_the_request_limit_is_refused(api, objects):
    requests = [{"path": f"/buckets/b{i}", "method": "PUT"} for i in range(26)]
    assert_error(api.post("/batch", {"requests": requests}), 400)
    assert_error(api.get("/buckets/b0"), 403, 121)


@pytest.mark.parametrize(
    "sub",
    [
        {"path": "/buckets/%ff"},
        {"path": "/buckets/%00", "method": "PUT"},
        {"path": "/buckets/\u00e9\u20ac", "method": "PUT"},
        {"path": "/buckets?n=%ff"},
        {"path": f"{RECORDS}?_token=%%%"},
        {"path": f"{RECORDS}?n=%22%5Cud800%22"},
        {"path": f"/buckets/{'x' * 100_000}"},
        {"path": "/" + "../" * 100 + "etc/passwd"},
        {"path": "/buckets/shop", "method": "TRACE"},
        {"path": RECORD, "method": "PATCH", "body": {"data": []}},
        {"path": RECORD, "method": "PUT", "body": {"data": {"last_modified": 2**63}}},
        {"path": RECORD, "method": "PUT", "body": {"permissions": {"read": [[]]}}},
        {"path": RECORD, "headers": {"If-Match": "x" * 10_000}},
        {"path": RECORD, "headers": {"If-None-Match": "\u20ac"}},
        {"path": RECORD, "headers": {"Authorization": "Basic \u20ac\u20ac"}},
        {"path": RECORD, "method": "PUT", "headers": {"Content-Type": "text/html"}, "body": {}},
        {"path": RECORD, "method": "PATCH", "headers": {"Response-Behavior": "x"}, "body": {}},
    ],
)
def test_batch_reports_bad_subrequests_inline(api, objects, sub):
    response = api.post("/batch", {"requests": [sub]})
    assert response.status == 200, response
    (item,) = response.json["responses"]
    assert 400 <= item["status"] < 500, item
    body = item["body"]
    assert body["code"] == item["status"]
    assert body["errno"] in ERRNOS
    assert isinstance(body["error"], str)
    assert_unchanged(api, objects)


@pytest.mark.parametrize(
    "path", ["/", "/buckets", "/buckets/shop/collections/c/records", "/accounts"]
)
@pytest.mark.parametrize("credentials", ["a\x00:b\x00", "a:b\x00", "\x00:\x00"])
def test_credentials_holding_nul_are_nobodys(anonymous, kinto_settings, path, credentials):
    """A user name or password with NUL names nobody (PostgreSQL refuses NUL in any string):
    the caller is anonymous, never a 5xx."""
    import base64

    kinto_settings(auth_policies="account basicauth", account_create_principals="system.Everyone")
    token = base64.b64encode(credentials.encode()).decode()
    response = anonymous.get(path, headers={"Authorization": f"Basic {token}"})
    assert response.status < 500, response
    if path == "/":
        assert "user" not in response.json
    else:
        assert response.status in (401, 404)
