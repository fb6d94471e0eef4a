"""List filters of the admin: tombstones, and each ancestor (bucket, collection...)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.contrib import admin
from django.db import models
from django.http import HttpRequest

from kinto_django.core import actions, chain
from kinto_django.core.admin.forms import parent_choices
from kinto_django.core.models import ResourceModel

# How many parents a list filter offers (the search box finds the others).
MAX_FILTER_CHOICES = 200


class TombstoneFilter(admin.SimpleListFilter):
    """Live objects by default; tombstones (deleted) on request."""

    title = "state"
    parameter_name = "state"
    CHOICES = ((None, "Live"), ("deleted", "Tombstones"), ("all", "All"))

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(value, label) for value, label in self.CHOICES if value]

    def choices(self, changelist: Any) -> Iterator[dict[str, Any]]:
        for value, label in self.CHOICES:
            yield {
                "selected": self.value() == value,
                "query_string": changelist.get_query_string(
                    {self.parameter_name: value} if value else {}, [self.parameter_name]
                ),
                "display": label,
            }

    def queryset(self, request: HttpRequest, queryset: models.QuerySet) -> models.QuerySet:
        if self.value() == "all":
            return queryset
        return queryset.filter(deleted=self.value() == "deleted")


def ancestor_filters(model: type[ResourceModel]) -> list[type[admin.SimpleListFilter]]:
    """One list filter per level above `model` (bucket, then collection for records)."""
    return [
        parent_filter(ancestor, lookup)
        for ancestor, lookup in reversed(chain.ancestor_lookups(model))
    ]


def parent_filter(parent_model: type[ResourceModel], lookup: str) -> type[admin.SimpleListFilter]:
    name = parent_model.resource_name

    class ParentFilter(admin.SimpleListFilter):
        title = name
        parameter_name = name

        def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[int, str]]:
            parents = parent_choices(parent_model)
            # Narrowed to the selected ancestor (a bucket's collections).
            for ancestor in chain.parent_models(parent_model):
                selected = request.GET.get(ancestor.resource_name)
                if selected and selected.isdigit():
                    parents = parents.filter(
                        **{ancestor_lookup(parent_model, ancestor): int(selected)}
                    )
            return [(p.pk, p.uri) for p in parents[:MAX_FILTER_CHOICES]]

        def queryset(self, request: HttpRequest, queryset: models.QuerySet) -> models.QuerySet:
            value = self.value()
            if value and value.isdigit():
                return queryset.filter(**{lookup: int(value)})
            return queryset

    return ParentFilter


def ancestor_lookup(model: type[ResourceModel], ancestor: type[ResourceModel]) -> str:
    return dict(chain.ancestor_lookups(model))[ancestor]


def descendants(
    model: type[ResourceModel], prefix: str = ""
) -> Iterator[tuple[type[ResourceModel], str]]:
    """Types below `model` and the lookup from each to it (what a deletion purges)."""
    for child in actions.children_of(model):
        lookup = f"{child.parent_field}__{prefix}" if prefix else child.parent_field
        yield child, lookup
        yield from descendants(child, lookup)
