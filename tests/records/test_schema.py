"""JSON-Schema validation of records (spec/08): the switch and capability, the error body and
its `name`, the stored `schema` version, dialects and `$ref`, hostile schemas, the validator
cache, query counts, batch, and a property test against jsonschema's own verdict."""

from __future__ import annotations

import re
import threading
import time
from typing import Any

import jsonschema
import pytest
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from kinto_django.core import schemas
from tests import factories
from tests.conftest import examples

BUCKET = factories.BUCKET
COLLECTION = factories.COLLECTION
RECORDS = factories.RECORDS
RECORD = f"{RECORDS}/r1"

ORDER_SCHEMA = {
    "type": "object",
    "properties": {"item": {"type": "string"}, "qty": {"type": "integer"}},
    "required": ["item"],
}


@pytest.fixture
def validation(kinto_settings) -> None:
    kinto_settings(experimental_collection_schema_validation=True)


@pytest.fixture
def orders(api, validation) -> dict:
    """The collection of spec/08's example, with validation on; returns its data."""
    return factories.collection(api, data={"schema": ORDER_SCHEMA})["data"]


def set_schema(api, schema: dict[str, Any] | None) -> int:
    """Create or replace the collection (with `schema` when given); returns its timestamp."""
    data = {} if schema is None else {"schema": schema}
    return factories.collection(api, data=data)["data"]["last_modified"]


def assert_invalid(response, name: Any, description: str) -> None:
    """A 400 with one detail; its message follows the rule of spec/00."""
    assert response.status == 400, response
    message = description if str(name) in description else f"{name} in body: {description}"
    assert response.json == {
        "code": 400,
        "errno": 107,
        "error": "Invalid parameters",
        "message": message,
        "details": [{"location": "body", "name": name, "description": description}],
    }


def in_thread(function, timeout: float = 10.0) -> Any:
    """Run `function` in a thread; fail (rather than hang the suite) if it does not end.

    The thread has its own database connection: tests using it need `transactional_db`, so
    that it sees their committed objects.
    """
    result: dict[str, Any] = {}

    def target() -> None:
        try:
            result["value"] = function()
        except BaseException as error:  # noqa: BLE001 (re-raised in the test's thread)
            result["error"] = error
        finally:
            connections.close_all()

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout)
    assert not thread.is_alive(), f"still running after {timeout} s"
    if "error" in result:
        raise result["error"]
    return result["value"]


# --- switch and capability ---------------------------------------------------------------------


def test_capability_follows_the_switch(api, kinto_settings):
    assert "schema" not in api.get("/").json["capabilities"]
    kinto_settings(experimental_collection_schema_validation="true")
    capability = api.get("/").json["capabilities"]["schema"]
    assert set(capability) == {"description", "url"}
    assert capability["url"].startswith("https://")


def test_switch_off_validates_nothing(api):
    factories.collection(api, data={"schema": ORDER_SCHEMA})
    api.put(BUCKET, {"data": {"record:schema": {"required": ["title"]}}})
    response = api.post(RECORDS, {"data": {"qty": "three", "schema": "mine"}})
    assert response.status == 201
    assert response.data["schema"] == "mine"
    assert "schema" not in factories.record(api, {"item": "x"})


# --- the error body ------------------------------------------------------------------------------


def test_spec_example(api, orders):
    response = api.post(RECORDS, {"data": {"qty": "three"}})
    assert_invalid(response, "qty", "'three' is not of type 'integer'")


def test_missing_required_property(api, orders):
    response = api.post(RECORDS, {"data": {"qty": 3}})
    description = "'item' is a required property"
    assert_invalid(response, "item", description)


def test_required_names_the_last_listed_property(api, validation):
    """⚠ Quirk replicated: the name is the last item of `required`, whatever is missing."""
    set_schema(api, {"type": "object", "required": ["a", "b"]})
    response = api.post(RECORDS, {"data": {"b": 1}})
    assert_invalid(response, "b", "'a' is a required property")


def test_nested_field_is_named_by_its_last_step(api, validation):
    set_schema(api, {"properties": {"file": {"properties": {"size": {"type": "number"}}}}})
    response = api.post(RECORDS, {"data": {"file": {"size": "big"}}})
    assert_invalid(response, "size", "'big' is not of type 'number'")


def test_array_item_is_named_by_its_index(api, validation):
    set_schema(api, {"properties": {"tags": {"items": {"type": "string"}}}})
    response = api.post(RECORDS, {"data": {"tags": ["a", 3]}})
    assert_invalid(response, 1, "3 is not of type 'string'")


def test_failure_of_the_object_itself_is_named_by_its_keyword(api, validation):
    set_schema(api, {"type": "object", "additionalProperties": False})
    response = api.post(RECORDS, {"data": {"z": 1}})
    assert_invalid(
        response,
        "additionalProperties",
        "Additional properties are not allowed ('z' was unexpected)",
    )


@pytest.mark.parametrize(
    "schema,data,name,description",
    [
        # Keyword values the reference server cannot index (it answers 500).
        (
            {"minProperties": 2},
            {"a": 1},
            "minProperties",
            "{'a': 1} does not have enough properties",
        ),
        (
            {"dependentRequired": {"a": ["b"]}},
            {"a": 1},
            "dependentRequired",
            "'b' is a dependency of 'a'",
        ),
        ({"not": {}}, {}, "not", "{} should not be valid under {}"),
        (
            {"anyOf": [{"required": ["x"]}]},
            {},
            "anyOf",
            "{} is not valid under any of the given schemas",
        ),
        # A string value: its last character, as the reference server.
        ({"type": "array"}, {}, "y", "{} is not of type 'array'"),
    ],
)
def test_names_of_other_object_failures(api, validation, schema, data, name, description):
    set_schema(api, schema)
    response = api.post(RECORDS, {"data": data})
    assert response.status == 400, response
    assert response.json["details"] == [
        {"location": "body", "name": name, "description": description}
    ]


def test_validation_comes_after_authorization(api, orders):
    bob = api.as_user("bob")
    assert bob.post(RECORDS, {"data": {"qty": "three"}}).status == 403
    assert api.as_user(None).post(RECORDS, {"data": {"qty": "three"}}).status == 401
    api.put(
        COLLECTION,
        {"data": {"schema": ORDER_SCHEMA}, "permissions": {"write": ["system.Authenticated"]}},
    )
    assert bob.post(RECORDS, {"data": {"qty": "three"}}).status == 400


# --- what is validated, what is stored -----------------------------------------------------------


def test_valid_record_stores_the_schema_version(api, orders):
    version = orders["last_modified"]
    created = api.post(RECORDS, {"data": {"item": "lamp", "schema": 12}})
    assert created.status == 201
    assert created.data["schema"] == version
    assert api.put(RECORD, {"data": {"item": "desk"}}).data["schema"] == version
    assert api.patch(RECORD, {"data": {"qty": 2}}).data["schema"] == version
    assert api.get(RECORD).data == {
        "id": "r1",
        "item": "desk",
        "qty": 2,
        "schema": version,
        "last_modified": api.get(RECORD).data["last_modified"],
    }


def test_last_modified_and_schema_fields_are_not_validated(api, validation):
    schema = {
        "properties": {"schema": {"type": "string"}, "last_modified": {"type": "string"}},
        "required": ["schema", "last_modified"],
    }
    version = set_schema(api, schema)
    response = api.post(RECORDS, {"data": {"schema": 1, "last_modified": 1234}})
    assert response.status == 201, response
    assert response.data["schema"] == version
    assert response.data["last_modified"] == 1234


def test_empty_schema_stamps_every_record(api, validation):
    version = set_schema(api, {})
    assert factories.record(api, {"anything": [1]})["schema"] == version


def test_collection_without_schema_adds_no_field(api, validation):
    set_schema(api, None)
    assert "schema" not in factories.record(api, {"a": 1})
    assert factories.record(api, {"a": 1, "schema": "kept"})["schema"] == "kept"


def test_patch_validates_the_merged_object(api, orders):
    factories.record(api, {"item": "lamp", "qty": 1}, record_id="r1")
    response = api.patch(
        RECORD, {"data": {"item": None}}, content_type="application/merge-patch+json"
    )
    description = "'item' is a required property"
    assert_invalid(response, "item", description)
    operations = [{"op": "replace", "path": "/data/qty", "value": "two"}]
    response = api.patch(RECORD, operations, content_type="application/json-patch+json")
    assert_invalid(response, "qty", "'two' is not of type 'integer'")
    assert api.patch(RECORD, {"data": {"qty": 2}}).status == 200


def test_refused_write_leaves_everything_untouched(api, orders):
    before = factories.record(api, {"item": "lamp"}, record_id="r1")
    list_etag = api.get(RECORDS).headers["ETag"]
    assert api.put(RECORD, {"data": {"item": 1}}).status == 400
    assert api.patch(RECORD, {"data": {"qty": "x"}}).status == 400
    assert api.post(RECORDS, {"data": {"id": "r2", "qty": "x"}}).status == 400
    assert api.get(RECORD).data == before
    assert api.get(f"{RECORDS}/r2").status == 404
    assert api.get(RECORDS).headers["ETag"] == list_etag


def test_schema_change_revalidates_nothing_until_the_next_write(api, validation):
    first = set_schema(api, {})
    record = factories.record(api, {"a": 1}, record_id="r1")
    assert record["schema"] == first
    second = set_schema(api, {"properties": {"a": {"type": "string"}}})
    assert api.get(RECORD).data == record
    stale = api.get(f"{RECORDS}?lt_schema={second}").data
    assert [r["id"] for r in stale] == ["r1"]
    # The next write validates the whole record against the new version.
    assert_invalid(api.patch(RECORD, {"data": {"b": 1}}), "a", "1 is not of type 'string'")
    assert api.patch(RECORD, {"data": {"a": "x"}}).data["schema"] == second
    assert api.get(f"{RECORDS}?lt_schema={second}").data == []


def test_dropping_the_schema_keeps_the_last_version(api, validation):
    version = set_schema(api, {"properties": {"a": {"type": "string"}}})
    factories.record(api, {"a": "x"}, record_id="r1")
    set_schema(api, None)
    patched = api.patch(RECORD, {"data": {"a": 1}})
    assert patched.status == 200
    assert patched.data["schema"] == version


# --- the id rule ---------------------------------------------------------------------------------


def test_id_is_ignored_unless_the_properties_mention_it(api, validation):
    set_schema(
        api,
        {
            "type": "object",
            "required": ["id", "x"],
            "additionalProperties": False,
            "properties": {"x": {}},
        },
    )
    assert api.put(RECORD, {"data": {"x": 1}}).status == 201
    assert api.post(RECORDS, {"data": {"x": 1}}).status == 201


def test_id_is_validated_when_the_properties_mention_it(api, validation):
    set_schema(
        api,
        {"properties": {"id": {"type": "string", "pattern": "^[0-9]+$"}}, "required": ["id"]},
    )
    assert_invalid(
        api.put(f"{RECORDS}/abc", {"data": {}}), "id", "'abc' does not match '^[0-9]+$'"
    )
    assert_invalid(
        api.post(RECORDS, {"data": {"id": "abc"}}), "id", "'abc' does not match '^[0-9]+$'"
    )
    assert api.put(f"{RECORDS}/123", {"data": {}}).status == 201
    assert api.post(RECORDS, {"data": {"id": "456"}}).status == 201
    assert api.patch(f"{RECORDS}/123", {"data": {"a": 1}}).status == 200
    # Without an id in the body, the generated one is validated (documented deviation).
    response = api.post(RECORDS, {"data": {}})
    assert response.status == 400
    assert response.json["details"][0]["name"] == "id"


# --- the bucket's record:schema ------------------------------------------------------------------


def test_bucket_record_schema_applies_after_the_collection_schema(api, validation):
    factories.bucket(api, data={"record:schema": {"required": ["title"]}})
    set_schema(api, {"properties": {"title": {"minLength": 3}, "qty": {"type": "integer"}}})
    assert_invalid(
        api.post(RECORDS, {"data": {"qty": "x"}}), "qty", "'x' is not of type 'integer'"
    )
    description = "'title' is a required property"
    assert_invalid(api.post(RECORDS, {"data": {}}), "title", description)
    assert_invalid(api.post(RECORDS, {"data": {"title": "ab"}}), "title", "'ab' is too short")
    assert api.post(RECORDS, {"data": {"title": "abc"}}).status == 201


def test_bucket_record_schema_alone_stamps_nothing(api, validation):
    factories.bucket(api, data={"record:schema": {"properties": {"title": {"type": "string"}}}})
    set_schema(api, None)
    assert_invalid(api.post(RECORDS, {"data": {"title": 1}}), "title", "1 is not of type 'string'")
    assert factories.record(api, {"title": "t", "schema": "x"})["schema"] == "x"


# --- dialects and references ---------------------------------------------------------------------


def test_default_dialect_is_2020_12(api, validation):
    set_schema(api, {"properties": {"t": {"prefixItems": [{"type": "string"}]}}})
    assert_invalid(api.post(RECORDS, {"data": {"t": [1]}}), 0, "1 is not of type 'string'")


def test_schema_keyword_chooses_the_dialect(api, validation):
    draft7 = "http://json-schema.org/draft-07/schema#"
    set_schema(
        api, {"$schema": draft7, "properties": {"t": {"prefixItems": [{"type": "string"}]}}}
    )
    assert api.post(RECORDS, {"data": {"t": [1]}}).status == 201
    set_schema(api, {"$schema": draft7, "properties": {"t": {"items": [{"type": "string"}]}}})
    assert_invalid(api.post(RECORDS, {"data": {"t": [1]}}), 0, "1 is not of type 'string'")


def test_unknown_dialect_falls_back_to_the_default(api, validation):
    set_schema(
        api, {"$schema": "http://example.com/nope", "properties": {"a": {"type": "string"}}}
    )
    assert_invalid(api.post(RECORDS, {"data": {"a": 1}}), "a", "1 is not of type 'string'")


def test_schema_invalid_in_its_own_dialect(api, validation):
    """Accepted by the Draft-7 check when stored, refused by 2020-12 when used: a 400 (the
    reference server answers 500)."""
    set_schema(api, {"properties": {"t": {"items": [{"type": "string"}]}}})
    response = api.post(RECORDS, {"data": {"t": [1]}})
    assert response.status == 400
    assert response.json["details"][0]["name"] == "schema"
    assert "properties/t/items" in response.json["details"][0]["description"]


def test_unresolvable_reference(api, validation):
    set_schema(api, {"properties": {"a": {"$ref": "#/definitions/missing"}}})
    assert api.post(RECORDS, {"data": {}}).status == 201  # not reached
    response = api.post(RECORDS, {"data": {"a": 1}})
    assert_invalid(
        response,
        "schema",
        "PointerToNowhere: '/definitions/missing' does not exist within "
        "{'properties': {'a': {'$ref': '#/definitions/missing'}}}",
    )


@pytest.mark.parametrize(
    "ref", ["https://example.com/schema.json", "http://127.0.0.1:1/x", "other.json"]
)
def test_references_outside_the_schema_are_never_fetched(api, validation, monkeypatch, ref):
    def no_network(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the server tried to fetch a schema")

    monkeypatch.setattr("urllib.request.urlopen", no_network)
    monkeypatch.setattr("socket.create_connection", no_network)
    set_schema(api, {"$ref": ref})
    response = api.post(RECORDS, {"data": {}})
    assert_invalid(response, "schema", f"Unresolvable: {ref}")


def test_meta_schemas_resolve_offline(api, validation, monkeypatch):
    monkeypatch.setattr("socket.create_connection", lambda *a, **k: 1 / 0)
    set_schema(api, {"$ref": "http://json-schema.org/draft-07/schema#"})
    assert api.post(RECORDS, {"data": {"type": "object"}}).status == 201
    response = api.post(RECORDS, {"data": {"type": "bogus"}})
    assert response.status == 400
    assert response.json["details"][0]["name"] == "type"


def test_dialect_that_is_not_a_uri(api, validation):
    set_schema(api, {"$schema": "http://[bad", "required": ["a"]})
    assert_invalid(api.post(RECORDS, {"data": {}}), "a", "'a' is a required property")
    set_schema(api, {"properties": {"a": {"$schema": "http://[bad", "type": "string"}}})
    response = api.post(RECORDS, {"data": {"a": 1}})
    assert response.status == 400
    assert response.json["details"][0]["name"] == "schema"


@pytest.mark.parametrize(
    "divisor,number,valid",
    [
        (0.5, 10**400, True),
        (0.3, 10**400, False),
        (10**400, 1.5, False),
        (10**400, 10**401, True),
    ],
)
def test_multiple_of_beyond_float_range(api, validation, divisor, number, valid):
    """jsonschema divides in floating point first, which overflows (the reference answers 500)."""
    set_schema(api, {"properties": {"n": {"multipleOf": divisor}}})
    response = api.post(RECORDS, {"data": {"n": number}})
    assert response.status == (201 if valid else 400), response
    if not valid:
        assert response.json["details"][0]["name"] == "n"


def test_format_is_not_asserted(api, validation):
    set_schema(api, {"properties": {"e": {"format": "email"}, "d": {"format": "date"}}})
    assert api.post(RECORDS, {"data": {"e": "nope", "d": "x"}}).status == 201


# --- hostile schemas and records -----------------------------------------------------------------


@pytest.fixture
def short_timeout(transactional_db, kinto_settings, validation) -> None:
    """A short validation deadline, for requests run in a thread (see `in_thread`)."""
    kinto_settings(schema_validation_timeout_seconds=0.2)


def assert_too_long(response) -> None:
    assert_invalid(
        response, "schema", "Validation against the schema took longer than 0.2 seconds"
    )


CATASTROPHIC = "^(a|aa)+$"
EVIL_STRING = "a" * 64 + "!"


def test_nested_quantifiers_do_not_backtrack_forever(short_timeout, api):
    set_schema(api, {"properties": {"s": {"pattern": "^(a+)+$"}}})
    response = in_thread(lambda: api.post(RECORDS, {"data": {"s": "a" * 32 + "!"}}))
    assert_invalid(response, "s", f"'{'a' * 32}!' does not match '^(a+)+$'")


@pytest.mark.parametrize(
    "pattern,value,matches",
    [
        ("^ab{e<=1}$", "ab{e<=1}", True),  # literal for `re`, fuzzy matching for `regex`
        ("^ab{e<=1}$", "ac", False),
        ("^a{s", "a{s", True),  # an error for `regex`
        ("^x{}$", "x{}", True),
        ("^a{2}b{,1}$", "aab", True),
        ("^a{2}$", "a{2}", False),
        ("(?<=a)b", "ab", True),
        ("\\d", "٣", True),  # Unicode digits, as `re`
    ],
)
def test_patterns_mean_what_they_mean_to_re(api, validation, pattern, value, matches):
    """Patterns run on the `regex` module, with the meaning Python's `re` gives them (which
    the Draft-7 check of stored schemas accepted)."""
    set_schema(api, {"properties": {"s": {"pattern": pattern}}})
    assert bool(re.search(pattern, value)) == matches
    assert api.post(RECORDS, {"data": {"s": value}}).status == (201 if matches else 400)


@pytest.mark.parametrize(
    "schema,data",
    [
        ({"properties": {"s": {"pattern": CATASTROPHIC}}}, {"s": EVIL_STRING}),
        ({"patternProperties": {CATASTROPHIC: {}}}, {EVIL_STRING: 1}),
        (
            {"patternProperties": {CATASTROPHIC: {}}, "additionalProperties": False},
            {EVIL_STRING: 1},
        ),
        (
            {"unevaluatedProperties": False, "patternProperties": {CATASTROPHIC: {}}},
            {EVIL_STRING: 1},
        ),
        ({"propertyNames": {"pattern": CATASTROPHIC}}, {EVIL_STRING: 1}),
        # A nested dialect switch keeps the bound.
        (
            {
                "properties": {
                    "s": {
                        "$schema": "http://json-schema.org/draft-07/schema#",
                        "pattern": CATASTROPHIC,
                    }
                }
            },
            {"s": EVIL_STRING},
        ),
    ],
)
def test_catastrophic_patterns_are_stopped(short_timeout, api, schema, data):
    set_schema(api, schema)
    assert_too_long(in_thread(lambda: api.post(RECORDS, {"data": data})))
    # The same patterns still work on ordinary values.
    ordinary = {key.replace(EVIL_STRING, "aaaa"): "aaaa" for key in data}
    assert api.post(RECORDS, {"data": ordinary}).status == 201


def test_exponential_combinators_are_stopped(short_timeout, api):
    depth = 30
    defs = {
        f"d{i}": {"anyOf": [{"$ref": f"#/$defs/d{i + 1}"}, {"$ref": f"#/$defs/d{i + 1}"}]}
        for i in range(depth)
    }
    defs[f"d{depth}"] = {"type": "string"}
    set_schema(api, {"properties": {"a": {"$ref": "#/$defs/d0"}}, "$defs": defs})
    assert_too_long(in_thread(lambda: api.post(RECORDS, {"data": {"a": 1}})))


def test_reference_loop_is_a_400(short_timeout, api):
    set_schema(api, {"$ref": "#"})
    response = in_thread(lambda: api.post(RECORDS, {"data": {}}))
    assert_invalid(response, "schema", "Validation against the schema recursed without end")


def test_unique_items_is_linear(short_timeout, api):
    set_schema(api, {"properties": {"l": {"uniqueItems": True}}})
    items = [{"n": i} for i in range(30000)]
    started = time.monotonic()
    assert in_thread(lambda: api.post(RECORDS, {"data": {"l": items}})).status == 201
    duplicated = [*items, {"n": 0}]
    response = in_thread(lambda: api.post(RECORDS, {"data": {"l": duplicated}}))
    assert response.status == 400
    assert response.json["details"][0]["name"] == "l"
    assert response.json["details"][0]["description"].endswith("has non-unique elements")
    assert time.monotonic() - started < 10  # quadratic: 9·10^8 comparisons


@pytest.mark.parametrize(
    "items,unique",
    [
        ([1, 1.0], False),
        ([1, True], True),
        ([0, False], True),
        ([{"a": [1]}, {"a": [1.0]}], False),
        ([[1, 2], [2, 1]], True),
        ([None, {}, [], ""], True),
    ],
)
def test_unique_items_follows_json_equality(api, validation, items, unique):
    set_schema(api, {"properties": {"l": {"uniqueItems": True}}})
    assert api.post(RECORDS, {"data": {"l": items}}).status == (201 if unique else 400)


# --- cost --------------------------------------------------------------------------------------


def test_validator_is_compiled_once_per_schema(api, validation, monkeypatch):
    compiled: list[dict] = []
    compile_schema = schemas._compile

    def counting(schema: dict) -> Any:
        compiled.append(schema)
        return compile_schema(schema)

    monkeypatch.setattr(schemas, "_compile", counting)
    # A schema no other test uses, so that the per-process cache cannot already hold it.
    schema = {"properties": {"n": {"type": "integer", "minimum": time.time_ns()}}}
    set_schema(api, schema)
    before = schemas.cache_info()
    for index in range(5):
        assert api.put(f"{RECORDS}/r{index}", {"data": {"n": 10**30}}).status == 201
    assert len(compiled) == 1
    assert schemas.cache_info()["hits"] - before["hits"] == 4
    # A new version of the schema is compiled once too.
    set_schema(api, {**schema, "required": ["n"]})
    for index in range(3):
        assert api.patch(f"{RECORDS}/r{index}", {"data": {"m": 1}}).status == 200
    assert len(compiled) == 2


def test_cache_is_bounded():
    cache = schemas.ValidatorCache(max_entries=3, max_bytes=100)
    for index in range(5):
        cache.get((index,), 10, schemas._Compiled)
    assert cache.info()["entries"] == 3
    cache.get(("big",), 85, schemas._Compiled)
    assert cache.info()["entries"] == 2  # 10 + 85 bytes fit, not 10 + 10 + 85


def count_queries(function) -> int:
    with CaptureQueriesContext(connection) as queries:
        function()
    return len(queries)


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH"])
def test_schemas_add_no_query(api, validation, method):
    factories.collection(api)
    factories.record(api, {"title": "abc"}, record_id="r1")
    body = {"data": {"title": "abcd"}}
    path = RECORDS if method == "POST" else RECORD
    without = count_queries(lambda: api.request(method, path, body))
    api.put(BUCKET, {"data": {"record:schema": {"required": ["title"]}}})
    set_schema(api, {"properties": {"title": {"minLength": 3}}})
    with_schemas = count_queries(lambda: api.request(method, path, body))
    assert with_schemas == without


# --- batch ---------------------------------------------------------------------------------------


def test_batch_validates_each_sub_request(api, orders):
    version = orders["last_modified"]
    response = api.post(
        "/batch",
        {
            "defaults": {"method": "POST", "path": RECORDS},
            "requests": [
                {"body": {"data": {"item": "good"}}},
                {"body": {"data": {"item": 1}}},
                {"method": "PUT", "path": RECORD, "body": {"data": {"item": "fine"}}},
            ],
        },
    )
    statuses = [item["status"] for item in response.json["responses"]]
    assert statuses == [201, 400, 201]
    failed = response.json["responses"][1]["body"]
    assert failed["message"] == "item in body: 1 is not of type 'string'"
    assert len(api.get(RECORDS).data) == 2
    assert {r["schema"] for r in api.get(RECORDS).data} == {version}


def test_batch_sees_a_schema_changed_by_an_earlier_sub_request(api, orders):
    response = api.post(
        "/batch",
        {
            "requests": [
                {"method": "POST", "path": RECORDS, "body": {"data": {"item": "x", "n": 1}}},
                {
                    "method": "PATCH",
                    "path": COLLECTION,
                    "body": {"data": {"schema": {"properties": {"n": {"type": "string"}}}}},
                },
                {"method": "POST", "path": RECORDS, "body": {"data": {"n": 1}}},
                {"method": "POST", "path": RECORDS, "body": {"data": {"n": "1"}}},
            ]
        },
    )
    responses = response.json["responses"]
    assert [item["status"] for item in responses] == [201, 200, 400, 201]
    assert responses[3]["body"]["data"]["schema"] == responses[1]["body"]["data"]["last_modified"]


# --- agreement with jsonschema ------------------------------------------------------------------

FIELDS = ["a", "b", "c"]
JSON_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 5),
    st.sampled_from([0.5, -1.5, 2.0, 10**20]),
    st.sampled_from(["", "a", "ab", "abc", "b1", "aaa!", "0"]),
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(FIELDS), inner, max_size=3)
    ),
    max_leaves=6,
)
TYPES = st.sampled_from(["null", "boolean", "integer", "number", "string", "array", "object"])


def subschemas(depth: int) -> st.SearchStrategy:
    keywords: dict[str, st.SearchStrategy] = {
        "type": TYPES | st.lists(TYPES, min_size=1, max_size=3, unique=True),
        "minimum": st.integers(-3, 3),
        "exclusiveMaximum": st.integers(-3, 3),
        "multipleOf": st.sampled_from([1, 2, 0.5]),
        "minLength": st.integers(0, 3),
        "maxLength": st.integers(0, 3),
        "pattern": st.sampled_from(["^a", "b", "^[a-z]+$", "^(a+)+$", "\\d"]),
        "enum": st.lists(JSON_SCALARS, min_size=1, max_size=3),
        "const": JSON_VALUES,
        "minItems": st.integers(0, 2),
        "maxItems": st.integers(0, 2),
        "uniqueItems": st.booleans(),
        "required": st.lists(st.sampled_from(FIELDS), max_size=3, unique=True),
        "minProperties": st.integers(0, 2),
        "dependentRequired": st.dictionaries(
            st.sampled_from(FIELDS), st.lists(st.sampled_from(FIELDS), unique=True), max_size=2
        ),
    }
    if depth > 0:
        inner = subschemas(depth - 1)
        keywords.update(
            {
                "properties": st.dictionaries(st.sampled_from(FIELDS), inner, max_size=2),
                "patternProperties": st.dictionaries(
                    st.sampled_from(["^a", "b$"]), inner, max_size=1
                ),
                "additionalProperties": st.booleans() | inner,
                "items": inner,
                "contains": inner,
                "not": inner,
                "anyOf": st.lists(inner, min_size=1, max_size=2),
                "allOf": st.lists(inner, min_size=1, max_size=2),
                "oneOf": st.lists(inner, min_size=1, max_size=2),
            }
        )
    return st.lists(st.sampled_from(sorted(keywords)), max_size=3, unique=True).flatmap(
        lambda names: st.fixed_dictionaries({name: keywords[name] for name in names})
    )


RECORD_DATA = st.dictionaries(st.sampled_from(FIELDS), JSON_VALUES, max_size=3)


@pytest.fixture
def agreement(api, validation) -> Any:
    factories.collection(api)
    return api


@hypothesis_settings(
    max_examples=examples(150),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(schema=subschemas(2), data=RECORD_DATA)
def test_verdicts_agree_with_jsonschema(agreement, schema, data):
    api = agreement
    assert api.put(COLLECTION, {"data": {"schema": schema}}).status == 200
    expected = jsonschema.Draft202012Validator(schema).is_valid(data)
    response = api.put(RECORD, {"data": data})
    assert response.status < 500, response
    assert response.status in (200, 201, 400), response
    assert (response.status != 400) == expected, (schema, data, response.json)
    if response.status == 400:
        assert response.json["errno"] == 107
        [detail] = response.json["details"]
        assert detail["location"] == "body"
        assert isinstance(detail["description"], str)
