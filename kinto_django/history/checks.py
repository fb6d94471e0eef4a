"""Start-up checks of the history settings (spec/10)."""

from __future__ import annotations

from typing import Any

from django.core.checks import Error, register

from kinto_django.conf import kinto_settings


@register()
def check_history_settings(app_configs: Any = None, **kwargs: Any) -> list:
    """Excluded resources must be object URIs (a typo would silently record everything)."""
    from kinto_django.history.recording import uri_parts

    problems: list = []
    try:
        excluded = kinto_settings.history_exclude_resources
        threshold = kinto_settings.history_auto_trim_threshold
    except (TypeError, ValueError):
        return problems  # reported by the engine's own check of every setting
    for uri in excluded:
        if uri_parts(uri) is None:
            problems.append(
                Error(
                    f"history.exclude_resources: {uri!r} is not the URI of a bucket, "
                    "collection, group or record (e.g. /buckets/b/collections/c)",
                    id="kinto_history.E001",
                )
            )
    if threshold < 0:
        problems.append(
            Error("history.auto_trim_threshold must not be negative", id="kinto_history.E002")
        )
    return problems
