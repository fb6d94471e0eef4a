"""What `GET /` advertises: capabilities, extra settings, user fields and health checks.

Features register here from their app's `ready()` so that the root view and the heartbeat
never import the apps (dependencies point towards `core`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kinto_django.conf import kinto_settings


@dataclass
class Feature:
    """An optional feature: shown when `enabled()` says so."""

    name: str
    description: str
    url: str
    enabled: Callable[[], bool]
    extras: Callable[[], dict[str, Any]] = field(default=lambda: {})
    settings: Callable[[], dict[str, Any]] = field(default=lambda: {})
    user_extras: Callable[[Any], dict[str, Any]] | None = None
    heartbeat: Callable[[], bool] | None = None
    # Extras that depend on the request (absolute URLs built from its host), given the
    # Django request of `GET /`.
    request_extras: Callable[[Any], dict[str, Any]] | None = None


FEATURES: dict[str, Feature] = {}


def register(feature: Feature) -> None:
    FEATURES[feature.name] = feature


def active() -> list[Feature]:
    return [feature for feature in FEATURES.values() if feature.enabled()]


def enabled(request: Any = None) -> dict[str, dict[str, Any]]:
    """The capabilities of `GET /`, with the extras that `request` decides when given."""
    return {
        feature.name: {
            "description": feature.description,
            "url": feature.url,
            **feature.extras(),
            **(
                feature.request_extras(request)
                if feature.request_extras is not None and request is not None
                else {}
            ),
        }
        for feature in active()
    }


def public_settings() -> dict[str, Any]:
    values: dict[str, Any] = {}
    for feature in active():
        values.update(feature.settings())
    return values


def user_extras(identity: Any) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for feature in active():
        if feature.user_extras is not None:
            values.update(feature.user_extras(identity))
    return values


def heartbeats() -> dict[str, Callable[[], bool]]:
    return {
        feature.name: feature.heartbeat for feature in active() if feature.heartbeat is not None
    }


register(
    Feature(
        name="basicauth",
        description="Very basic authentication sessions. Not for production use.",
        url="http://kinto.readthedocs.io/en/stable/api/1.x/authentication.html",
        enabled=lambda: "basicauth" in kinto_settings.auth_policies,
    )
)
