"""List filters (spec/03 and the `_since`/`_before`/`_to` part of spec/02), over HTTP.

Every behaviour shared by the four resources is run against buckets, collections, groups and
records. A small oracle of the spec's comparison rules (type rank null < string < number <
boolean < array < object < missing) checks the database's answers, with examples and with
hypothesis-generated filter values.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from tests import factories
from tests.conftest import examples

LIST_PATHS = {
    "bucket": "/buckets",
    "collection": "/buckets/shop/collections",
    "group": "/buckets/shop/groups",
    "record": "/buckets/shop/collections/orders/records",
}


class Resource:
    """A list endpoint of one resource type, with helpers to fill and query it."""

    def __init__(self, api: Any, kind: str) -> None:
        self.api = api
        self.kind = kind
        self.path = LIST_PATHS[kind]
        if kind == "record":
            factories.collection(api)
        elif kind in ("collection", "group"):
            factories.bucket(api)

    def create(self, object_id: str, data: dict[str, Any] | None = None) -> dict[str, Any]:
        response = self.api.put(f"{self.path}/{object_id}", {"data": data or {}})
        assert response.status == 201, response
        return response.data

    def fill(self, objects: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        return {object_id: self.create(object_id, data) for object_id, data in objects.items()}

    def delete(self, object_id: str) -> dict[str, Any]:
        response = self.api.delete(f"{self.path}/{object_id}")
        assert response.status == 200, response
        return response.data

    def get(self, query: str = "", **kwargs: Any):
        return self.api.get(f"{self.path}?{query}" if query else self.path, **kwargs)

    def head(self, query: str = "", **kwargs: Any):
        return self.api.head(f"{self.path}?{query}" if query else self.path, **kwargs)

    def list(self, query: str = "") -> list[dict[str, Any]]:
        response = self.get(query)
        assert response.status == 200, response
        return response.data

    def ids(self, query: str = "") -> list[str]:
        return [obj["id"] for obj in self.list(query)]

    def id_set(self, query: str = "") -> set[str]:
        ids = self.ids(query)
        assert len(ids) == len(set(ids)), ids
        return set(ids)


@pytest.fixture(params=sorted(LIST_PATHS))
def resource(request: Any, api: Any) -> Resource:
    return Resource(api, request.param)


@pytest.fixture
def records(api: Any) -> Resource:
    return Resource(api, "record")


def check_cases(resource: Resource, cases: list[tuple[str, set[str]]]) -> None:
    """Run a table of `(query, expected ids)` on one dataset; report every mismatch."""
    failures = []
    for query, expected in cases:
        found = resource.id_set(query)
        if found != expected:
            failures.append((query, sorted(found), sorted(expected)))
    assert not failures, failures


def q(name: str, value: Any) -> str:
    """`name=<value as JSON>`, percent-encoded."""
    return f"{name}={quote(json.dumps(value), safe='')}"


# --- an oracle of the spec's comparison rules ------------------------------------------------

MISSING = object()


def rank(value: Any) -> int:
    if value is MISSING:
        return 6
    if value is None:
        return 0
    if isinstance(value, bool):
        return 3
    if isinstance(value, str):
        return 1
    if isinstance(value, (int, float)):
        return 2
    return 4 if isinstance(value, list) else 5


def compare(stored: Any, given: Any) -> int | None:
    """-1/0/1 as the spec orders `stored` against `given`; None when the order of two
    arrays or two objects is not specified (only their equality is)."""
    if rank(stored) != rank(given):
        return -1 if rank(stored) < rank(given) else 1
    if rank(stored) in (0, 6):
        return 0
    if rank(stored) in (4, 5):
        return 0 if stored == given else None
    return (stored > given) - (stored < given)


ORACLE = {
    "eq": lambda c: c == 0,
    "not": lambda c: c != 0,
    "lt": lambda c: c < 0,
    "gt": lambda c: c > 0,
    "min": lambda c: c >= 0,
    "max": lambda c: c <= 0,
}


def expected_ids(objects: dict[str, dict[str, Any]], operator: str, value: Any) -> set[str] | None:
    """Ids the spec says `<operator>_v=<value>` matches, or None when not specified."""
    matched = set()
    for object_id, data in objects.items():
        stored = data.get("v", MISSING)
        if operator in ("in", "exclude"):
            hits = [compare(stored, item) for item in value]
            if None in hits:
                return None
            found = 0 in hits
            if found == (operator == "in"):
                matched.add(object_id)
            continue
        order = compare(stored, value)
        if order is None:
            if operator in ("eq", "not"):
                order = 1  # different arrays/objects: unequal, order unspecified
            else:
                return None
        if ORACLE[operator](order):
            matched.add(object_id)
    return matched


RANKED = {
    "n-null": {"v": None},
    "s-empty": {"v": ""},
    "s-digit": {"v": "3"},
    "s-upper": {"v": "ABC"},
    "s-lower": {"v": "abc"},
    "s-accent": {"v": "été"},
    "i-neg": {"v": -1},
    "i-zero": {"v": 0},
    "i-two": {"v": 2},
    "f-two-half": {"v": 2.5},
    "i-ten": {"v": 10},
    "b-false": {"v": False},
    "b-true": {"v": True},
    "a-empty": {"v": []},
    "a-ints": {"v": [1, 2]},
    "o-empty": {"v": {}},
    "o-one": {"v": {"a": 1}},
    "missing": {"w": 1},
}


@pytest.fixture
def ranked(resource: Resource) -> Resource:
    resource.objects = resource.fill(RANKED)
    return resource


TYPE_RANK_CASES = [
    # The spec's own example: gt_v=2 matches 2.5, booleans, arrays, objects and missing.
    (
        "gt_v=2",
        {"f-two-half", "i-ten", "b-false", "b-true", "a-empty", "a-ints"}
        | {"o-empty", "o-one", "missing"},
    ),
    ("v=2", {"i-two"}),
    ('v="3"', {"s-digit"}),
    ("v=3", set()),
    ("v=2.0", {"i-two"}),
    ("v=null", {"n-null"}),
    ("v=true", {"b-true"}),
    ("v=false", {"b-false"}),
    ("v=[1,2]", {"a-ints"}),
    ("v=[]", {"a-empty"}),
    ('v={"a":1}', {"o-one"}),
    ("v=abc", {"s-lower"}),
    ("v=ABC", {"s-upper"}),
    ("eq_v=2", {"i-two"}),
    ("lt_v=0", {"n-null", "s-empty", "s-digit", "s-upper", "s-lower", "s-accent", "i-neg"}),
    ("max_v=null", {"n-null"}),
    ("lt_v=null", set()),
    # Strings in code-point order: "3" < "ABC" < "abc" < "été".
    ('gt_v="ABC"', set(RANKED) - {"n-null", "s-empty", "s-digit", "s-upper"}),
    ('lt_v="abc"', {"n-null", "s-empty", "s-digit", "s-upper"}),
    ('min_v="abc"', set(RANKED) - {"n-null", "s-empty", "s-digit", "s-upper"}),
    ("gt_v=true", {"a-empty", "a-ints", "o-empty", "o-one", "missing"}),
    (
        "lt_v=false",
        set(RANKED) - {"b-false", "b-true", "a-empty", "a-ints"} - {"o-empty", "o-one", "missing"},
    ),
    ("min_v=true", {"b-true", "a-empty", "a-ints", "o-empty", "o-one", "missing"}),
    ("not_v=2", set(RANKED) - {"i-two"}),
    ("not_v=null", set(RANKED) - {"n-null"}),
]


def test_comparisons_follow_the_type_rank(ranked: Resource) -> None:
    check_cases(ranked, TYPE_RANK_CASES)


def test_a_missing_field_is_greater_than_everything(resource: Resource) -> None:
    resource.fill({"present": {"v": 1}, "absent": {}, "nested": {"v": {"w": 1}}})
    operators = {"eq": False, "lt": False, "max": False, "in": False}
    operators |= {"not": True, "gt": True, "min": True, "exclude": True}
    for operator, matches_missing in operators.items():
        value = "1" if operator not in ("in", "exclude") else "1,2"
        ids = resource.id_set(f"{operator}_v={value}")
        assert ("absent" in ids) is matches_missing, operator
        # A dotted path through a non-object (here a number) is a missing field too.
        dotted = resource.id_set(f"{operator}_v.w={value}")
        assert ("present" in dotted) is matches_missing, operator
        assert ("nested" in dotted) is (operator in ("eq", "max", "in", "min")), operator


@pytest.mark.parametrize(
    "operator", ["like", "contains", "contains_any"], ids=["like", "contains", "contains_any"]
)
def test_a_missing_field_never_matches_like_or_contains(resource: Resource, operator: str) -> None:
    resource.fill({"present": {"v": ["a"]}, "absent": {}})
    ids = resource.id_set(f"{operator}_v=" + ("*" if operator == "like" else '"a"'))
    assert ids == {"present"}


def test_like_on_a_missing_field_is_false_but_on_a_string_wildcard_matches(
    resource: Resource,
) -> None:
    resource.fill({"text": {"v": "anything"}, "empty": {"v": ""}, "absent": {}})
    assert resource.id_set("like_v=*") == {"text", "empty"}


DOTTED = {
    "deep": {"address": {"city": "Paris", "geo": {"lat": 48}}},
    "shallow": {"address": {"city": "Lyon"}},
    "scalar": {"address": "Paris"},
    "list": {"address": [{"city": "Paris"}]},
    "none": {},
}


DOTTED_PATHS_CASES = [
    ("address.city=Paris", {"deep"}),
    ("not_address.city=Paris", {"shallow", "scalar", "list", "none"}),
    ("address.geo.lat=48", {"deep"}),
    ("gt_address.geo.lat=1", {"deep", "shallow", "scalar", "list", "none"}),
    ("has_address.city=true", {"deep", "shallow"}),
    ("has_address.city=false", {"scalar", "list", "none"}),
    ("like_address.city=l*", {"shallow"}),
    ('in_address.city="Lyon","Nice"', {"shallow"}),
    ('address={"city":"Lyon"}', {"shallow"}),
    # Path components are object keys, never array indexes.
    ("address.0.city=Paris", set()),
]


def test_dotted_paths(resource: Resource) -> None:
    resource.fill(DOTTED)
    check_cases(resource, DOTTED_PATHS_CASES)


OPERATOR_PREFIXES_CASES = [
    # Only the listed prefixes are operators: `madmax_status` is a field name.
    ("madmax_status=1", {"madmax"}),
    ("not_done=1", {"madmax", "literal", "open"}),
    ("eq_not_done=1", {"literal"}),
    ("eq_done=1", {"done"}),
    ("done=1", {"done"}),
    # The longest prefix wins: contains_any_ is not contains_ on `any_tags`.
    ('contains_any_tags=["x","z"]', {"done", "open"}),
    ('contains_tags=["x","z"]', {"open"}),
]


def test_operator_prefixes(resource: Resource) -> None:
    resource.fill(
        {
            "madmax": {"madmax_status": 1},
            "literal": {"not_done": 1},
            "done": {"done": 1, "tags": ["x"]},
            "open": {"done": 0, "tags": ["x", "y", "z"], "any_tags": ["x", "z"]},
        }
    )
    check_cases(resource, OPERATOR_PREFIXES_CASES)


COERCION_CASES = [
    ("qty=2", {"number"}),
    ('qty="2"', {"string"}),
    ("name=Ana", {"ana"}),
    ('name="Ana"', {"ana"}),
    ("flag=true", {"flag"}),
    ('flag="true"', {"flag-text"}),
    ("x=null", {"null"}),
    ('tags=["a"]', {"tags"}),
    ('meta={"k":1}', {"meta"}),
    ('meta={"k":1,"j":2}', set()),
]


def test_values_are_json_when_they_parse(resource: Resource) -> None:
    resource.fill(
        {
            "number": {"qty": 2},
            "string": {"qty": "2"},
            "ana": {"name": "Ana"},
            "flag": {"flag": True},
            "flag-text": {"flag": "true"},
            "null": {"x": None},
            "tags": {"tags": ["a"]},
            "meta": {"meta": {"k": 1}},
        }
    )
    check_cases(resource, COERCION_CASES)


LIKE_CASES = [
    ("like_title=wor", {"hello", "upper", "world"}),
    ("like_title=WOR", {"hello", "upper", "world"}),
    ("like_title=hello*", {"hello"}),
    ("like_title=*world", {"hello", "upper", "world"}),
    ("like_title=h*o*d", {"hello"}),
    ("like_title=world", {"hello", "upper", "world"}),
    ('like_title="world"', {"hello", "upper", "world"}),
    (
        "like_title=*",
        {"hello", "upper", "world", "percent", "under", "digits", "empty"} | {"number"},
    ),
    ("like_title=xyz", set()),
    # `*` is the only wildcard: SQL's own `%` and `_` are plain characters.
    ("like_title=%25", {"percent"}),
    ("like_title=_", {"under"}),
    ("like_title=a_b", {"under"}),
    ("like_title=%5C", set()),
    # Numbers match their decimal text.
    ('like_title="42"', {"digits", "number"}),
    ('like_title="4*"', {"number"}),
    ('like_title="*2"', {"digits", "number"}),
]


def test_like(resource: Resource) -> None:
    resource.fill(
        {
            "hello": {"title": "Hello World"},
            "upper": {"title": "WORLD"},
            "world": {"title": "the world"},
            "percent": {"title": "100%"},
            "under": {"title": "a_b"},
            "digits": {"title": "1042"},
            "number": {"title": 42},
            "empty": {"title": ""},
            "null": {"title": None},
            "absent": {},
        }
    )
    check_cases(resource, LIKE_CASES)


def test_like_ignores_case_beyond_ascii(resource: Resource) -> None:
    resource.fill({"summer": {"title": "Été à Paris"}, "other": {"title": "ete"}})
    assert resource.id_set(q("like_title", "éTÉ")) == {"summer"}
    assert resource.id_set(q("like_title", "À P*")) == set()
    assert resource.id_set(q("like_title", "*À P*")) == {"summer"}
    assert resource.id_set(q("like_title", "ETE")) == {"other"}


def test_like_on_ids(resource: Resource) -> None:
    resource.fill({"alpha": {}, "Alphabet": {}, "beta": {}})
    assert resource.id_set("like_id=alpha") == {"alpha", "Alphabet"}
    assert resource.id_set("like_id=a*a") == {"alpha"}
    assert resource.id_set("like_id=*ta") == {"beta"}


HAS_CASES = [
    ("has_v=true", {"value", "null", "false"}),
    ("has_v=1", {"value", "null", "false"}),
    ("has_v=false", {"absent"}),
    ("has_v=0", {"absent"}),
    ('has_v="false"', {"absent"}),
    ("has_id=true", {"value", "null", "false", "absent"}),
    ("has_id=false", set()),
]


def test_has(resource: Resource) -> None:
    resource.fill({"value": {"v": 1}, "null": {"v": None}, "false": {"v": False}, "absent": {}})
    check_cases(resource, HAS_CASES)


CONTAINS_CASES = [
    ('contains_tags="a"', {"ab", "abc"}),
    ("contains_tags=a", {"ab", "abc"}),
    ('contains_tags=["a","b"]', {"ab", "abc"}),
    ('contains_tags=["a","c"]', {"abc"}),
    ('contains_tags=["a","z"]', set()),
    ("contains_tags=[]", {"ab", "abc", "empty", "mixed"}),
    ("contains_tags=1", {"mixed"}),
    ('contains_tags="1"', set()),
    ("contains_tags=null", {"mixed"}),
    ('contains_tags={"k":1}', {"mixed"}),
    ('contains_tags=[["n"]]', {"mixed"}),
    ('contains_any_tags=["c","z"]', {"abc"}),
    ('contains_any_tags=["b",1]', {"ab", "abc", "mixed"}),
    ("contains_any_tags=[]", set()),
    ('contains_any_tags="a"', {"ab", "abc"}),
    # Not an array: no match, not an error.
    ('contains_text="a"', set()),
    ('contains_any_text="a"', set()),
]


def test_contains(resource: Resource) -> None:
    resource.fill(
        {
            "ab": {"tags": ["a", "b"], "text": "a"},
            "abc": {"tags": ["c", "b", "a"]},
            "empty": {"tags": []},
            "mixed": {"tags": [1, None, {"k": 1}, ["n"], "b"]},
            "string": {"tags": "a b"},
            "absent": {},
        }
    )
    check_cases(resource, CONTAINS_CASES)


IN_AND_EXCLUDE_CASES = [
    ('in_v="a","b"', {"a", "b"}),
    ("in_v=a,b", {"a", "b"}),
    ('in_v=1,"1",true', {"one", "one-text", "true"}),
    ("in_v=null", {"null"}),
    ("in_v=", set()),
    ('exclude_v="a","b"', {"one", "one-text", "true", "null", "absent"}),
    ("exclude_v=1,null", {"a", "b", "one-text", "true", "absent"}),
    ('in_id="a","b","zz"', {"a", "b"}),
    ('exclude_id="a","b"', {"one", "one-text", "true", "null", "absent"}),
    ("in_id=a,b", {"a", "b"}),
    ('id="a"', {"a"}),
    ("id=a", {"a"}),
    ('not_id="a"', {"b", "one", "one-text", "true", "null", "absent"}),
]


def test_in_and_exclude(resource: Resource) -> None:
    resource.fill(
        {
            "a": {"v": "a"},
            "b": {"v": "b"},
            "one": {"v": 1},
            "one-text": {"v": "1"},
            "true": {"v": True},
            "null": {"v": None},
            "absent": {},
        }
    )
    check_cases(resource, IN_AND_EXCLUDE_CASES)


def test_plain_numeric_id_filter_is_a_string(resource: Resource) -> None:
    resource.fill({"1": {}, "2": {}})
    assert resource.id_set("id=1") == {"1"}
    assert resource.id_set('in_id="1","2"') == {"1", "2"}
    assert resource.id_set('gt_id="1"') == {"2"}


def test_filters_are_anded(resource: Resource) -> None:
    resource.fill(
        {
            "match": {"status": "open", "qty": 3},
            "closed": {"status": "closed", "qty": 3},
            "few": {"status": "open", "qty": 1},
        }
    )
    assert resource.id_set('status="open"&min_qty=2') == {"match"}
    assert resource.id_set("status=open&status=closed") == set()


def test_repeated_filters_all_apply(resource: Resource) -> None:
    resource.fill({str(n): {"n": n} for n in range(6)})
    assert resource.id_set("gt_n=1&lt_n=4") == {"2", "3"}


def test_fields_that_are_not_names_match_nothing(resource: Resource) -> None:
    resource.fill({"one": {"a-b": 1}, "two": {}})
    for query in ("a-b=1", "not_a-b=1", "has_a-b=false", "exclude_a-b=2", "like_a-b=*"):
        assert resource.id_set(query) == set(), query


def test_paths_deeper_than_the_limit_match_nothing(resource: Resource, kinto_settings) -> None:
    kinto_settings(max_field_path_depth=2)
    resource.fill({"deep": {"a": {"b": {"c": 1}}}, "flat": {"a": {"b": 1}}})
    assert resource.id_set("a.b=1") == {"flat"}
    assert resource.id_set("a.b.c=1") == set()
    assert resource.id_set("not_a.b.c=1") == set()


def test_unknown_directives_are_ignored(resource: Resource) -> None:
    resource.fill({"one": {}})
    assert resource.ids("_whatever=1&_=2") == ["one"]


def test_deleted_filter_without_timestamp_filter_lists_no_tombstones(
    resource: Resource,
) -> None:
    resource.fill({"alive": {}, "gone": {}})
    resource.delete("gone")
    assert resource.ids("deleted=true") == []
    assert resource.ids() == ["alive"]


# --- tombstones and timestamps (spec/02) ---------------------------------------------------


@pytest.fixture
def history(resource: Resource, kinto_settings) -> Resource:
    """alive (qty 1), then gone (deleted), then late (qty 2).

    A deleted bucket keeps no ACL, so only callers who may read every bucket see its
    tombstone: grant that here, as a sync server would.
    """
    kinto_settings(bucket_read_principals="system.Authenticated")
    resource.fill({"alive": {"qty": 1}, "gone": {"qty": 5}})
    resource.tombstone = resource.delete("gone")
    resource.late = resource.create("late", {"qty": 2})
    resource.alive_ts = resource.list("id=alive")[0]["last_modified"]
    return resource


def test_since_lists_tombstones(history: Resource) -> None:
    data = history.list(f"_since={history.alive_ts}")
    assert data == [history.late, history.tombstone]
    assert history.tombstone == {
        "id": "gone",
        "last_modified": history.tombstone["last_modified"],
        "deleted": True,
    }


TIMESTAMP_FILTERS = [
    "_since=0",
    '_since="0"',
    "_before={after}",
    "_to={after}",
    "gt_last_modified=0",
    "min_last_modified=0",
    "not_last_modified=0",
    "lt_last_modified={after}",
    "max_last_modified={after}",
    "last_modified={gone}",
    "in_last_modified={gone}",
    "exclude_last_modified=0",
]


def test_any_filter_on_last_modified_includes_tombstones(history: Resource) -> None:
    gone = history.tombstone["last_modified"]
    for query in TIMESTAMP_FILTERS:
        query = query.format(after=history.late["last_modified"] + 1, gone=gone)
        assert "gone" in history.ids(query), query


def test_tombstones_are_judged_on_their_own_fields(history: Resource) -> None:
    assert history.id_set("_since=0&qty=1") == {"alive"}
    assert history.id_set("_since=0&not_qty=1") == {"gone", "late"}
    assert history.id_set("_since=0&deleted=true") == {"gone"}
    assert history.id_set("_since=0&has_deleted=false") == {"alive", "late"}
    assert history.id_set("_since=0&gt_qty=1") == {"gone", "late"}


def test_before_and_since_bound_the_timestamps(history: Resource) -> None:
    tombstone_ts = history.tombstone["last_modified"]
    assert history.ids(f"_since={history.alive_ts}&_before={history.late['last_modified']}") == [
        "gone"
    ]
    assert history.ids(f'_before="{tombstone_ts}"') == ["alive"]
    assert history.ids(f"last_modified={tombstone_ts}") == ["gone"]
    assert history.ids(f"in_last_modified={tombstone_ts},{history.alive_ts}") == [
        "gone",
        "alive",
    ]
    assert history.ids(f"exclude_last_modified={tombstone_ts}") == ["late", "alive"]


def test_to_is_a_deprecated_alias_of_before(history: Resource) -> None:
    response = history.get(f"_to={history.late['last_modified']}")
    assert [obj["id"] for obj in response.data] == ["gone", "alive"]
    alert = json.loads(response.headers["Alert"])
    assert alert["code"] == "soft-eol"
    assert alert["message"] == "_to is now deprecated, you should use _before instead"
    assert "url" in alert
    assert "Alert" not in history.get(f"_before={history.late['last_modified']}").headers


def test_null_since_means_not_given(history: Resource) -> None:
    assert history.ids("_since=null") == ["late", "alive"]


def test_head_counts_never_include_tombstones(history: Resource) -> None:
    response = history.head("_since=0")
    assert response.status == 200
    assert response.headers["Total-Objects"] == response.headers["Total-Records"] == "2"
    assert history.head("_since=0&deleted=true").headers["Total-Objects"] == "0"
    assert history.head("qty=2").headers["Total-Records"] == "1"


def test_fields_on_tombstones(history: Resource) -> None:
    # Tombstones keep their `deleted` flag whatever `_fields` says (spec/02 allows the fix):
    # without it a client would take them for live objects.
    data = history.list("_since=0&_fields=qty")
    assert data[1] == history.tombstone
    assert data[0] == {"id": "late", "last_modified": history.late["last_modified"], "qty": 2}
    with_flag = history.list("_since=0&_fields=deleted")
    assert with_flag[1]["deleted"] is True


# --- _fields ---------------------------------------------------------------------------------


FIELDS_CASES = [
    ("title", {"title": "t"}),
    ("title,qty", {"title": "t", "qty": 3}),
    ("meta.a", {"meta": {"a": {"b": 1, "c": 2}}}),
    ("meta.a.b", {"meta": {"a": {"b": 1}}}),
    ("meta.a.b,meta.d", {"meta": {"a": {"b": 1}, "d": 4}}),
    ("meta.a.b,meta.a", {"meta": {"a": {"b": 1, "c": 2}}}),
    ("meta.a,meta.a.b", {"meta": {"a": {"b": 1, "c": 2}}}),
    ("unknown", {}),
    ("title.x", {}),
    ("id", {}),
    ("title,,", {"title": "t"}),
]


def test_fields_keeps_only_the_requested_fields(resource: Resource) -> None:
    created = resource.create(
        "one", {"title": "t", "qty": 3, "meta": {"a": {"b": 1, "c": 2}, "d": 4}}
    )
    ident = {"id": "one", "last_modified": created["last_modified"]}
    for fields, expected in FIELDS_CASES:
        assert resource.list(f"_fields={fields}") == [{**expected, **ident}], fields


def test_fields_on_object_get(resource: Resource) -> None:
    created = resource.create("one", {"title": "t", "meta": {"a": 1, "b": 2}})
    response = resource.api.get(f"{resource.path}/one?_fields=meta.a")
    assert response.status == 200
    assert response.data == {
        "meta": {"a": 1},
        "id": "one",
        "last_modified": created["last_modified"],
    }
    # spec/03: `permissions` of an object response is unaffected by `_fields`.
    assert response.json["permissions"]["write"]


# --- validation errors -----------------------------------------------------------------------


def invalid(name: str | None, description: str, message: str | None = None) -> dict:
    if message is None:
        if name is not None and name in description:
            message = description
        elif name is not None:
            message = f"{name} in querystring: {description}"
        else:
            message = f"querystring: {description}"
    return {
        "code": 400,
        "errno": 107,
        "error": "Invalid parameters",
        "message": message,
        "details": [{"location": "querystring", "name": name, "description": description}],
    }


def invalid_value(name: str) -> dict:
    return invalid(name, f"Invalid value for {name}")


FAR_FUTURE = 99999999999999  # year 5138
NOW_ISH = 1700000000000


INVALID_CASES = [
    ("like_code=42", invalid_value("like_code")),
    ("like_code=true", invalid_value("like_code")),
    ("like_code=null", invalid_value("like_code")),
    ("like_code=[1]", invalid_value("like_code")),
    ("in_id=1,2", invalid_value("in_id")),
    ('in_id="a",2', invalid_value("in_id")),
    ("exclude_id=1", invalid_value("exclude_id")),
    ("contains_id=1", invalid("contains_id", "Field 'id' is not an array")),
    ('contains_any_id="a"', invalid("contains_any_id", "Field 'id' is not an array")),
    ("contains_last_modified=1", invalid_value("contains_last_modified")),
    ("contains_any_last_modified=[1]", invalid_value("contains_any_last_modified")),
    ("like_last_modified=1", invalid_value("like_last_modified")),
    ('like_last_modified="1"', invalid_value("like_last_modified")),
    ("gt_last_modified=abc", invalid_value("gt_last_modified")),
    ("gt_last_modified=-1", invalid_value("gt_last_modified")),
    ("gt_last_modified=1.5", invalid_value("gt_last_modified")),
    ("gt_last_modified=true", invalid_value("gt_last_modified")),
    ("gt_last_modified=null", invalid_value("gt_last_modified")),
    ("gt_last_modified=", invalid_value("gt_last_modified")),
    (f"gt_last_modified={FAR_FUTURE}", invalid_value("gt_last_modified")),
    ("not_last_modified=abc", invalid_value("not_last_modified")),
    ("in_last_modified=1,a", invalid_value("in_last_modified")),
    ("exclude_last_modified=-5", invalid_value("exclude_last_modified")),
    ("has_last_modified=true", invalid_value("has_last_modified")),
    ("has_last_modified=false", invalid_value("has_last_modified")),
    ("last_modified=abc", invalid("last_modified", '"abc" is not a number')),
    ('last_modified="abc"', invalid("last_modified", '"abc" is not a number')),
    ("last_modified=true", invalid("last_modified", '"true" is not a number')),
    ("last_modified=-1", invalid("last_modified", "-1 is less than minimum value 0")),
    ("last_modified=", invalid_value("last_modified")),
    ("last_modified=null", invalid_value("last_modified")),
    (f"last_modified={FAR_FUTURE}", invalid_value("last_modified")),
    ("_since=abc", invalid("_since", '"abc" is not a number')),
    ('_since="abc"', invalid("_since", '"abc" is not a number')),
    ('_since="1.5"', invalid("_since", '"1.5" is not a number')),
    ("_since=[1]", invalid("_since", '"[1]" is not a number')),
    ("_since=-1", invalid("_since", "-1 is less than minimum value 0")),
    ("_since=-1.5", invalid("_since", "-1 is less than minimum value 0")),
    ("_since=", invalid_value("_since")),
    (f"_since={FAR_FUTURE}", invalid_value("_since")),
    (
        "_since=9223372036854775809",
        invalid("_since", "9223372036854775809 is greater than maximum value 9223372036854775808"),
    ),
    ("_before=abc", invalid("_before", '"abc" is not a number')),
    ("_before=-1", invalid("_before", "-1 is less than minimum value 0")),
    ("_before=", invalid_value("_before")),
    ("_to=abc", invalid("_to", '"abc" is not a number')),
    (f"_to={FAR_FUTURE}", invalid_value("_to")),
    ("v=a%00b", invalid("v", "Invalid character 0x00")),
    ("v%00=1", invalid("v\x00", "Invalid character 0x00")),
    ('v="a\\u0000b"', invalid("v", "Invalid character 0x00")),
    ('in_v="a","\\u0000"', invalid("in_v", "Invalid character 0x00")),
]


def test_invalid_filters(resource: Resource) -> None:
    failures = []
    for query, body in INVALID_CASES:
        for response in (resource.get(query), resource.api.delete(f"{resource.path}?{query}")):
            if response.status != 400 or response.json != body:
                failures.append((query, response.status, response.json))
        head = resource.head(query)
        if head.status != 400:
            failures.append((query, "HEAD", head.status))
    assert not failures, failures


@pytest.mark.parametrize("query", ["v=%ff", "%ff=1", "_fields=%C3%28", "_sort=%80"])
def test_invalid_utf8_in_the_querystring(resource: Resource, query: str) -> None:
    response = resource.get(query)
    assert response.status == 400
    assert response.json["errno"] == 107
    assert response.json["code"] == 400
    assert "UTF-8" in response.json["message"]


NUMERIC_TIMESTAMP_CASES = [
    ("_since=1.5", {"alive", "late", "gone"}),
    ("_since=1e3", {"alive", "late", "gone"}),
    ('_since="1000"', {"alive", "late", "gone"}),
    (f"_since={NOW_ISH}.9", {"alive", "late", "gone"}),
    ("last_modified=1e3", set()),
]


def test_timestamp_directives_accept_numbers(history: Resource) -> None:
    check_cases(history, NUMERIC_TIMESTAMP_CASES)


@pytest.mark.parametrize("query", ["v=%22%5Cud800%22", 'v=["%5Cudfff"]'])
def test_unstorable_strings_are_refused(resource: Resource, query: str) -> None:
    response = resource.get(query)
    assert response.status == 400
    assert response.json["errno"] == 107


EXTREME_QUERIES = [
    "v=99999999999999999999999",
    "gt_v=99999999999999999999999",
    "v=-99999999999999999999999",
    "in_v=1,99999999999999999999999",
    "contains_v=99999999999999999999999",
    "v=1e308",
    "v=1e999",
    "v=" + "[" * 40 + "]" * 40,
    "in_v=" + ",".join(str(n) for n in range(1000)),
    "exclude_v=" + ",".join(str(n) for n in range(1000)),
    "contains_any_v=[" + ",".join(str(n) for n in range(1000)) + "]",
]


def test_extreme_values_never_fail(resource: Resource) -> None:
    resource.fill({"big": {"v": 99999999999999999999999}, "small": {"v": 1}})
    for query in EXTREME_QUERIES:
        assert resource.get(query).status in (200, 400), query
        assert resource.head(query).status in (200, 400), query


def test_huge_integers_compare_exactly_enough(resource: Resource) -> None:
    resource.fill({"big": {"v": 99999999999999999999999}, "small": {"v": 1}})
    assert resource.id_set("gt_v=99999999999999") == {"big"}
    assert resource.id_set("lt_v=99999999999999999999999999") == {"big", "small"}


def test_too_many_in_values(resource: Resource, kinto_settings) -> None:
    kinto_settings(max_filter_values=3)
    assert resource.get("in_v=1,2,3").status == 200
    response = resource.get("in_v=1,2,3,4")
    assert response.status == 400
    assert response.json["details"][0]["name"] == "in_v"


# --- property: the database agrees with the spec's oracle -----------------------------------

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**53), max_value=2**53),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\x00"), max_size=6),
    st.sampled_from(["", "A", "a", "Z", "z", "3", "10", "été", "É"]),
)
QUERY_VALUES = st.one_of(SCALARS, st.sampled_from([[], [1, 2], {}, {"a": 1}]))
OPERATORS = st.sampled_from(sorted(ORACLE))


@pytest.fixture
def oracle_dataset(resource: Resource) -> Resource:
    objects = {
        **RANKED,
        "i-big": {"v": 2**53},
        "f-small": {"v": -0.25},
        "s-z": {"v": "z"},
        "s-ten": {"v": "10"},
        "s-upper-e": {"v": "É"},
    }
    resource.fill(objects)
    resource.objects = objects
    return resource


@hypothesis_settings(
    max_examples=examples(60),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(operator=OPERATORS, value=QUERY_VALUES)
def test_comparisons_agree_with_the_oracle(
    oracle_dataset: Resource, operator: str, value: Any
) -> None:
    expected = expected_ids(oracle_dataset.objects, operator, value)
    if expected is None:
        return
    assert oracle_dataset.id_set(q(f"{operator}_v", value)) == expected


@hypothesis_settings(
    max_examples=examples(30),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    operator=st.sampled_from(["in", "exclude"]),
    values=st.lists(SCALARS.filter(lambda v: not isinstance(v, str) or "," not in v), max_size=4),
)
def test_in_and_exclude_agree_with_the_oracle(
    oracle_dataset: Resource, operator: str, values: list
) -> None:
    expected = expected_ids(oracle_dataset.objects, operator, values)
    raw = ",".join(quote(json.dumps(v), safe="") for v in values)
    assert oracle_dataset.id_set(f"{operator}_v={raw}") == expected


@hypothesis_settings(
    max_examples=examples(40),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    name=st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=12),
    value=st.text(alphabet=st.characters(codec="utf-8"), max_size=12),
)
def test_arbitrary_parameters_never_fail(resource: Resource, name: str, value: str) -> None:
    query = f"{quote(name, safe='')}={quote(value, safe='')}"
    response = resource.get(query)
    assert response.status in (200, 400), (query, response)


def test_unencoded_utf8_in_the_query_string_is_read_as_utf8(api):
    factories.collection(api)
    factories.record(api, {"title": "été"})
    factories.record(api, {"title": "hiver"})
    raw = api.get(factories.RECORDS + "?title=été")
    encoded = api.get(factories.RECORDS + "?title=%C3%A9t%C3%A9")
    assert raw.status == encoded.status == 200
    assert [r["title"] for r in raw.data] == [r["title"] for r in encoded.data] == ["été"]
