"""Unit tests of the pure parsing in `kinto_django.core.query`: values, operators, sorts, tokens, fields."""

from __future__ import annotations

import base64
import json
import math
import time
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kinto_django.core.query import parse_list_query
from kinto_django.core.query.fields import project_fields
from kinto_django.core.query.filters import Filter, like_pattern, parse_filter, split_operator
from kinto_django.core.query.params import (
    coerce,
    parse_limit,
    parse_number,
    parse_timestamp,
    querystring_params,
)
from kinto_django.core.query.sorting import Sort, parse_sort, value_at
from kinto_django.core.query.sql import MISSING
from kinto_django.core.query.tokens import encode_token, parse_token, token_object
from kinto_django.errors import KintoError

JSON_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\x00")),
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=5), children, max_size=4)
    ),
    max_leaves=12,
)
ANY_TEXT = st.text(alphabet=st.characters(codec="utf-8"), max_size=40)


def error_body(error: KintoError) -> dict[str, Any]:
    return error.body()


# --- value coercion --------------------------------------------------------------------------


@given(ANY_TEXT)
def test_coerce_never_raises(raw: str) -> None:
    coerce(raw)


@given(JSON_VALUES)
def test_coerce_reads_json(value: Any) -> None:
    assert coerce(json.dumps(value)) == value


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("2", 2),
        ('"2"', "2"),
        ("Ana", "Ana"),
        ("true", True),
        ("null", None),
        ('["a"]', ["a"]),
        ('{"k":1}', {"k": 1}),
        ("", ""),
        ("NaN", "NaN"),
        ("Infinity", "Infinity"),
        ("1e999", "1e999"),
        ("[" * 5000, "[" * 5000),
        ("99999999999999999999999", 99999999999999999999999),
    ],
)
def test_coerce_examples(raw: str, value: Any) -> None:
    assert coerce(raw) == value
    assert type(coerce(raw)) is type(value)


# --- operators ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("param", "operator", "field"),
    [
        ("qty", "eq", "qty"),
        ("eq_qty", "eq", "qty"),
        ("not_done", "not", "done"),
        ("eq_not_done", "eq", "not_done"),
        ("madmax_status", "eq", "madmax_status"),
        ("contains_any_tags", "contains_any", "tags"),
        ("contains_tags", "contains", "tags"),
        ("contains_any_", "contains", "any_"),
        ("in_", "eq", "in_"),
        ("not_", "eq", "not_"),
        ("min_a.b", "min", "a.b"),
        ("exclude_id", "exclude", "id"),
        ("like_x", "like", "x"),
        ("has_x", "has", "x"),
        ("lt_x", "lt", "x"),
        ("gt_x", "gt", "x"),
        ("max_x", "max", "x"),
        ("in_x", "in", "x"),
    ],
)
def test_split_operator(param: str, operator: str, field: str) -> None:
    assert split_operator(param) == (operator, field)


@given(ANY_TEXT, ANY_TEXT)
def test_parse_filter_raises_only_protocol_errors(param: str, raw: str) -> None:
    try:
        parsed = parse_filter(param, raw)
    except KintoError as error:
        body = error_body(error)
        assert body["code"] == 400
        assert body["errno"] == 107
        assert body["details"][0]["location"] == "querystring"
    else:
        assert isinstance(parsed, Filter)
        assert parsed.param == param


@given(ANY_TEXT)
def test_parsing_a_whole_query_raises_only_protocol_errors(query: str) -> None:
    try:
        params = querystring_params(query)
        parse_list_query(params)
    except KintoError as error:
        assert error.status == 400


def test_filter_values() -> None:
    parse = parse_filter
    assert parse("in_v", '1,"a",,null').value == [1, "a", None]
    assert parse("in_v", "").value == []
    assert parse("id", "1").value == "1"
    assert parse("id", "1.50").value == "1.50"
    assert parse("id", '"1"').value == "1"
    assert parse("has_v", "0").value is False
    assert parse("has_v", "false").value is False
    assert parse("has_v", '"false"').value is False
    assert parse("has_v", "yes").value is True
    assert parse("has_v", "null").value is True
    assert parse("contains_v", "1").value == [1]
    assert parse("contains_v", "[1,2]").value == [1, 2]
    assert parse("contains_any_v", '"a"').value == ["a"]
    assert parse("like_v", '"42"').value == "42"
    assert parse("last_modified", '"12"').value == 12
    assert parse("last_modified", "12.9").value == 12
    assert parse("gt_last_modified", '"12"').value == 12
    assert parse("in_last_modified", '12,"13"').value == [12, 13]
    assert parse("has_last_modified", "1").value is True
    assert parse("has_last_modified", "0").value is False


@pytest.mark.parametrize(
    ("param", "raw", "description"),
    [
        ("like_v", "42", "Invalid value for like_v"),
        ("in_id", "1,2", "Invalid value for in_id"),
        ("contains_id", "1", "Field 'id' is not an array"),
        ("contains_last_modified", "1", "Invalid value for contains_last_modified"),
        ("like_last_modified", '"1"', "Invalid value for like_last_modified"),
        ("has_last_modified", "true", "Invalid value for has_last_modified"),
        ("gt_last_modified", "1.5", "Invalid value for gt_last_modified"),
        ("last_modified", "x", '"x" is not a number'),
        ("last_modified", "-3", "-3 is less than minimum value 0"),
        ("v", "a\x00", "Invalid character 0x00"),
        ("v", '"\\u0000"', "Invalid character 0x00"),
        ("v", '"\\ud800"', "Invalid character 0xD800"),
    ],
)
def test_filter_errors(param: str, raw: str, description: str) -> None:
    with pytest.raises(KintoError) as raised:
        parse_filter(param, raw)
    assert raised.value.details == [
        {"location": "querystring", "name": param, "description": description}
    ]


# --- integers and timestamps --------------------------------------------------------------


@given(st.integers(min_value=0, max_value=2**63))
def test_parse_number_reads_integers(value: int) -> None:
    assert parse_number("_limit", str(value)) == value
    assert parse_number("_limit", f'"{value}"') == value


@given(st.floats(min_value=0, max_value=2**62))
def test_parse_number_truncates_numbers(value: float) -> None:
    assert parse_number("_limit", repr(value)) == math.trunc(value)


@given(ANY_TEXT)
def test_parse_number_raises_only_protocol_errors(raw: str) -> None:
    try:
        value = parse_number("_since", raw)
    except KintoError as error:
        assert error.details[0]["name"] == "_since"
    else:
        assert value is None or 0 <= value <= 2**63


@pytest.mark.parametrize(
    ("raw", "description"),
    [
        ("x", '"x" is not a number'),
        ('"x"', '"x" is not a number'),
        ('"1.5"', '"1.5" is not a number'),
        ("true", '"true" is not a number'),
        ("1e999", '"1e999" is not a number'),
        ("-1", "-1 is less than minimum value 0"),
        ("-2.5", "-2 is less than minimum value 0"),
        (str(2**63 + 1), f"{2**63 + 1} is greater than maximum value {2**63}"),
    ],
)
def test_parse_number_errors(raw: str, description: str) -> None:
    with pytest.raises(KintoError) as raised:
        parse_number("_limit", raw)
    assert raised.value.details[0]["description"] == description


def test_empty_and_null_directives() -> None:
    assert parse_limit("") is None
    assert parse_limit("null") is None
    assert parse_limit("0") is None
    assert parse_timestamp("_since", "null", strict_number_message=True) is None
    for raw in ("", " "):
        with pytest.raises(KintoError) as raised:
            parse_timestamp("_since", raw, strict_number_message=True)
        assert raised.value.message == "Invalid value for _since"


def test_timestamps_are_bounded_by_tomorrow() -> None:
    soon = int(time.time() * 1000) + 3600 * 1000
    assert parse_timestamp("_since", str(soon), strict_number_message=True) == soon
    late = int(time.time() * 1000) + 25 * 3600 * 1000
    for param, strict in (("_since", True), ("last_modified", True), ("gt_last_modified", False)):
        with pytest.raises(KintoError) as raised:
            parse_timestamp(param, str(late), strict_number_message=strict)
        assert raised.value.message == f"Invalid value for {param}"


# --- sorting ------------------------------------------------------------------------------


def test_parse_sort() -> None:
    assert parse_sort("a,-b,+c.d") == [
        Sort("a", False),
        Sort("b", True),
        Sort("c.d", False),
    ]
    assert parse_sort("a-b, x ,,-,+,--y,é") == [Sort("x", False), Sort("é", False)]


def test_default_sort_tie_breaker() -> None:
    assert parse_list_query([]).sort == [Sort("last_modified", True)]
    assert parse_list_query([("_sort", "a")]).sort == [
        Sort("a", False),
        Sort("last_modified", True),
    ]
    assert parse_list_query([("_sort", "last_modified,a")]).sort == [
        Sort("last_modified", False),
        Sort("a", False),
    ]


@given(st.lists(st.from_regex(r"[-+]?[a-z]{1,3}(\.[a-z]{1,3})?", fullmatch=True), max_size=8))
def test_parse_sort_keeps_well_formed_entries(entries: list[str]) -> None:
    parsed = parse_sort(",".join(entries))
    assert [("-" if s.descending else "") + s.field for s in parsed] == [
        e.lstrip("+") for e in entries
    ]


# --- tombstones ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "tombstones"),
    [
        ([], False),
        ([("deleted", "true")], False),
        ([("_since", "0")], True),
        ([("_before", "1")], True),
        ([("_to", "1")], True),
        ([("_since", "null")], False),
        ([("last_modified", "1")], True),
        ([("not_last_modified", "1")], True),
        ([("in_last_modified", "1")], True),
        ([("_sort", "last_modified")], False),
    ],
)
def test_tombstones_only_with_a_timestamp_filter(params, tombstones: bool) -> None:
    assert parse_list_query(params).includes_tombstones is tombstones


# --- tokens -------------------------------------------------------------------------------

TOKEN_VALUES = st.dictionaries(
    st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\x00"), max_size=8),
    st.recursive(
        st.one_of(
            st.none(),
            st.booleans(),
            st.integers(min_value=-(2**70), max_value=2**70),
            st.floats(allow_nan=False, allow_infinity=False),
            st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\x00")),
        ),
        lambda children: st.one_of(st.lists(children, max_size=3)),
        max_leaves=6,
    ),
    max_size=5,
).map(lambda d: {k: v for k, v in d.items() if k not in ("id", "last_modified")})


@given(
    TOKEN_VALUES,
    st.integers(min_value=0, max_value=2**62),
    st.integers(min_value=0, max_value=2**53),
)
def test_tokens_round_trip(last_object: dict, offset: int, timestamp: int) -> None:
    last_object = {**last_object, "id": "r1", "last_modified": timestamp}
    token = encode_token(last_object, offset)
    assert token.isascii()
    decoded = parse_token(token)
    assert decoded["last_object"] == last_object
    assert decoded["offset"] == offset
    assert decoded["nonce"].startswith("pagination-token-")
    # A `+` that reached us as a space (an unencoded query string) still decodes.
    assert parse_token(token.replace("+", " "))["last_object"] == last_object


def test_tokens_are_unique() -> None:
    assert encode_token({}, 0) != encode_token({}, 0)


@given(ANY_TEXT)
def test_parse_token_raises_only_protocol_errors(raw: str) -> None:
    try:
        parse_token(raw)
    except KintoError as error:
        assert error.message == "querystring: _token has invalid content"


@given(st.binary(max_size=60))
def test_parse_token_rejects_arbitrary_bytes(raw: bytes) -> None:
    token = base64.b64encode(raw).decode()
    with pytest.raises(KintoError):
        parse_token(token)


@given(JSON_VALUES)
def test_parse_token_rejects_other_json(value: Any) -> None:
    token = base64.b64encode(json.dumps(value).encode()).decode()
    try:
        decoded = parse_token(token)
    except KintoError:
        return
    assert set(decoded) == {"last_object", "offset", "nonce"}


def test_token_object_remembers_sort_fields() -> None:
    obj = {"id": "a", "last_modified": 5, "qty": 2, "meta": {"rank": [1]}, "other": 1}
    sort = [Sort("qty", True), Sort("meta.rank", False), Sort("missing", False)]
    sort.append(Sort("last_modified", True))
    assert token_object(obj, sort) == {"qty": 2, "meta.rank": [1], "last_modified": 5}


# --- fields -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        (["a"], {"a": {"b": 1, "c": 2}}),
        (["a.b"], {"a": {"b": 1}}),
        (["a.b", "d"], {"a": {"b": 1}, "d": [1]}),
        (["a.x"], {}),
        (["d.0"], {}),
        (["a.b.c"], {}),
    ],
)
def test_project_fields(fields: list[str], expected: dict) -> None:
    obj = {"id": "x", "last_modified": 1, "a": {"b": 1, "c": 2}, "d": [1]}
    assert project_fields(obj, fields) == {**expected, "id": "x", "last_modified": 1}
    assert obj == {"id": "x", "last_modified": 1, "a": {"b": 1, "c": 2}, "d": [1]}


def test_project_fields_keeps_the_tombstone_flag() -> None:
    tombstone = {"id": "x", "last_modified": 1, "deleted": True}
    assert project_fields(tombstone, ["qty"]) == tombstone
    live = {"id": "x", "last_modified": 1, "deleted": True, "qty": 1}
    assert project_fields(live, ["qty"]) == {"id": "x", "last_modified": 1, "qty": 1}


@given(JSON_VALUES, st.lists(st.from_regex(r"[a-c](\.[a-c]){0,2}", fullmatch=True), max_size=4))
def test_project_fields_never_adds_data(value: Any, fields: list[str]) -> None:
    obj = {"a": value, "b": {"c": value}, "id": "x", "last_modified": 1}
    projected = project_fields(obj, fields)
    for name in fields:
        found = value_at(projected, name)
        if found is not MISSING:
            assert found == value_at(obj, name)


# --- like patterns and query strings ------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "pattern"),
    [
        ("abc", "%abc%"),
        ("a*c", "a%c"),
        ("*", "%"),
        ("100%", "%100\\%%"),
        ("a_b", "%a\\_b%"),
        ("a\\b", "%a\\\\b%"),
    ],
)
def test_like_pattern(value: str, pattern: str) -> None:
    assert like_pattern(value) == pattern


def test_querystring_params() -> None:
    assert querystring_params("a=1&b=&c=%22x%22") == [("a", "1"), ("b", ""), ("c", '"x"')]
    with pytest.raises(KintoError) as raised:
        querystring_params("a=%ff")
    assert raised.value.status == 400
    assert raised.value.errno == 107


def test_querystring_limits(settings) -> None:
    settings.KINTO = {**settings.KINTO, "max_querystring_length": 15, "max_query_params": 2}
    with pytest.raises(KintoError):
        querystring_params("a=" + "x" * 20)
    with pytest.raises(KintoError):
        querystring_params("a=1&b=2&c=3")
    assert querystring_params("a=1&b=2") == [("a", "1"), ("b", "2")]
