"""Live filters match exactly what the same filters select in a list request (spec/03)."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest

from kinto_django.core.query.filters import parse_filter
from kinto_django.notifications.live.groups import (
    BUCKETS,
    MEMBERSHIP,
    bucket_group,
    collection_group,
    groups_of_event,
)
from kinto_django.notifications.live.matching import matches
from tests import factories

RECORDS = factories.RECORDS

VALUES = [
    None,
    "",
    "abc",
    "ABC",
    "b",
    "3",
    0,
    2,
    2.5,
    -1,
    True,
    False,
    [],
    ["a", 2],
    ["b"],
    {},
    {"k": 1},
]

FILTERS = [
    ("v", "2"),
    ("v", '"3"'),
    ("v", "true"),
    ("v", "null"),
    ("v", '["a",2]'),
    ("v", '{"k":1}'),
    ("eq_v", "abc"),
    ("not_v", "2"),
    ("not_v", "null"),
    ("lt_v", "2"),
    ("gt_v", "2"),
    ("min_v", "2"),
    ("max_v", "2"),
    ("lt_v", '"b"'),
    ("gt_v", '"ABC"'),
    ("min_v", "true"),
    ("max_v", "false"),
    ("gt_v", "null"),
    ("in_v", "2,abc,true"),
    ("in_v", "null"),
    ("exclude_v", "2,abc"),
    ("has_v", "true"),
    ("has_v", "false"),
    ("like_v", "b"),
    ("like_v", "a*c"),
    ("like_v", '"2"'),
    ("contains_v", '"a"'),
    ("contains_v", '["a",2]'),
    ("contains_any_v", '["b",2]'),
    ("v.k", "1"),
    ("has_v.k", "true"),
    ("id", "r3"),
    ("in_id", '"r1","r2"'),
]


@pytest.fixture
def stored(api):
    factories.collection(api)
    for index, value in enumerate(VALUES):
        factories.record(api, {"v": value}, record_id=f"r{index}")
    factories.record(api, {"other": 1}, record_id="missing")
    return api.get(RECORDS).data


@pytest.mark.parametrize("param, raw", FILTERS)
def test_live_filters_select_what_a_list_request_selects(api, stored, param, raw):

    response = api.get(f"{RECORDS}?{urlencode({param: raw})}")
    assert response.status == 200, response
    selected = {obj["id"] for obj in response.data}
    flt = parse_filter(param, raw)
    assert {obj["id"] for obj in stored if matches(obj, [flt])} == selected


def test_tombstones_always_match():
    tombstone = {"id": "r1", "last_modified": 1, "deleted": True}
    assert matches(tombstone, [parse_filter("status", "paid")])


def test_events_go_to_the_groups_of_their_objects():
    record = {"resource_name": "record", "bucket_id": "b", "collection_id": "c"}
    assert groups_of_event(record, [{"new": {"id": "r"}}]) == [
        bucket_group("b"),
        collection_group("b", "c"),
    ]
    # A batch creating two collections: one merged event, both collections' groups.
    collections = {"resource_name": "collection", "bucket_id": "b", "collection_id": "c1"}
    assert groups_of_event(collections, [{"new": {"id": "c1"}}, {"new": {"id": "c2"}}]) == [
        bucket_group("b"),
        collection_group("b", "c1"),
        collection_group("b", "c2"),
    ]
    bucket = {"resource_name": "bucket"}
    assert groups_of_event(bucket, [{"new": {"id": "b"}}]) == [BUCKETS, bucket_group("b")]
    group = {"resource_name": "group", "bucket_id": "b", "group_id": "g"}
    assert groups_of_event(group, [{"new": {"id": "g"}}]) == [bucket_group("b"), MEMBERSHIP]
    assert groups_of_event({"resource_name": "account"}, [{"new": {"id": "a"}}]) == []
    # Group names stay within the channel layers' limits whatever the ids.
    assert len(collection_group("x" * 64, "y" * 64)) < 100
