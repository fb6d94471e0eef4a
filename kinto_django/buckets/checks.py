"""System checks of the buckets app's settings."""

from __future__ import annotations

from typing import Any

from django.core import checks

from kinto_django.buckets.default_bucket import default_bucket_enabled
from kinto_django.conf import kinto_settings


@checks.register(checks.Tags.security)
def check_personal_bucket_key(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """An empty `default_bucket_hmac_secret` (the reference's default, kept for the ids of
    existing installations) lets anybody compute a user's personal bucket id."""
    if not default_bucket_enabled() or kinto_settings.raw.get("default_bucket_hmac_secret") != "":
        return []
    return [
        checks.Warning(
            "default_bucket_hmac_secret is empty: anybody can compute another user's personal "
            "bucket id and create that bucket first (its owner is then refused, not handed it).",
            hint="Unset it (ids are then keyed from userid_hmac_secret) once the personal "
            "buckets' data has moved to buckets under the new ids.",
            id="kinto_buckets.W001",
        )
    ]
