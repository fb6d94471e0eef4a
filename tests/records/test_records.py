"""What only records do: UUID ids, the collection looked up before authorization on writes,
anything JSON in data (spec/01)."""

from __future__ import annotations

import uuid

from tests import factories


def test_generated_ids_are_lowercase_uuid4(api):
    factories.collection(api)
    for _ in range(5):
        record_id = api.post(factories.RECORDS).data["id"]
        parsed = uuid.UUID(record_id)
        assert parsed.version == 4
        assert record_id == str(parsed)


def test_any_simple_string_is_a_record_id(api):
    factories.collection(api)
    for record_id in ("a", "A-b_c", "0", "x" * 128):
        assert api.put(f"{factories.RECORDS}/{record_id}").status == 201


def test_data_round_trips(api):
    factories.collection(api)
    data = {
        "big": 2**70,
        "float": 1.25,
        "nested": {"list": [1, "two", None, {"three": 3}], "empty": {}},
        "unicode": "été ☃",
        "slash": "a/b",
        "null": None,
        "bool": False,
    }
    created = api.post(factories.RECORDS, {"data": data})
    assert created.status == 201
    assert b"a/b" in created.content  # forward slashes are not escaped
    fetched = api.get(f"{factories.RECORDS}/{created.data['id']}").data
    assert {k: v for k, v in fetched.items() if k in data} == data


def test_records_of_other_collections_are_separate(api):
    factories.collection(api, collection_id="one")
    factories.collection(api, collection_id="two", create_bucket=False)
    api.put("/buckets/shop/collections/one/records/r", {"data": {"n": 1}})
    assert api.get("/buckets/shop/collections/two/records/r").status == 404
    assert api.get("/buckets/shop/collections/two/records").data == []


def test_writing_a_record_does_not_touch_the_collection(api):
    factories.collection(api)
    before = api.get("/buckets/shop/collections/orders").json
    factories.record(api, {"n": 1})
    assert api.get("/buckets/shop/collections/orders").json == before
