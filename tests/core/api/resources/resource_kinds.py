"""The four resource types as test parameters: where they live and what they add to data.

`kind` (a fixture, see `tests/core/api/resources/test_resources_*.py`) creates the parent of the list
(nothing for buckets, the `shop` bucket for collections and groups, `shop/orders` for
records) so that a test can work on `kind.plural` and `kind.path(id)` directly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests import factories


@dataclass(frozen=True)
class Kind:
    name: str
    plural: str
    setup: Callable[[Any], None]
    acl_names: tuple[str, ...]
    # Fields the server adds to the data of every object of this type.
    defaults: dict[str, Any] = field(default_factory=dict)

    def path(self, object_id: str) -> str:
        return f"{self.plural}/{object_id}"

    def data(self, **fields: Any) -> dict[str, Any]:
        """What `data` holds for an object created with `fields` (without id/last_modified)."""
        return {**self.defaults, **fields}

    def __str__(self) -> str:
        return self.name


def _no_parent(api: Any) -> None:
    return None


def _bucket(api: Any) -> None:
    factories.bucket(api)


def _collection(api: Any) -> None:
    factories.collection(api)


KINDS = {
    "bucket": Kind(
        "bucket", "/buckets", _no_parent, ("read", "write", "collection:create", "group:create")
    ),
    "collection": Kind(
        "collection", "/buckets/shop/collections", _bucket, ("read", "write", "record:create")
    ),
    "group": Kind("group", "/buckets/shop/groups", _bucket, ("read", "write"), {"members": []}),
    "record": Kind("record", factories.RECORDS, _collection, ("read", "write")),
}


def kind_fixture(request: Any, api: Any) -> Kind:
    kind = KINDS[request.param]
    kind.setup(api)
    return kind


kind = pytest.fixture(params=list(KINDS))(kind_fixture)


def user_id(api: Any, user: str) -> str:
    """The user id (`basicauth:…`) the server gives to `user`."""
    return api.as_user(user).get("/").json["user"]["id"]


def data_without_meta(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k not in ("id", "last_modified")}
