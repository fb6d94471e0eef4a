"""Engine settings: defaults, type coercion and a lazy accessor over `settings.KINTO`.

Values may arrive as strings (environment, INI file) or already typed (tests, a host site's
settings module). Nothing is read at import time, so `override_settings(KINTO=...)` works.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings as django_settings
from django.core.signals import setting_changed


def as_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in {"1", "true", "yes", "on"}


def as_int_or_none(value: Any) -> int | None:
    if value is None or (isinstance(value, str) and value.strip().lower() in {"", "none", "null"}):
        return None
    return int(value)


def as_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, (list, tuple, set)):
        return [str(v) for v in value]
    return [part for part in str(value).replace(",", " ").split() if part]


def as_str_or_none(value: Any) -> str | None:
    if value is None or value == "":
        return None
    return str(value)


DEFAULTS: dict[str, tuple[Any, Callable[[Any], Any]]] = {
    # Core protocol
    "readonly": (False, as_bool),
    "batch_max_requests": (25, as_int_or_none),
    # Sub-requests one batch may run, each redirect it follows included (0 = no limit).
    "batch_max_subrequests": (100, int),
    # How long a writing batch may hold its locks before it stops, rolled back (0 = no limit).
    "batch_max_lock_seconds": (5.0, float),
    "paginate_by": (None, as_int_or_none),
    "storage_max_fetch_size": (10000, int),
    # PostgreSQL: a statement running longer, or waiting longer for a lock, is cancelled and
    # its request answers 503 with Retry-After (milliseconds; 0 = no limit).
    "storage_statement_timeout_ms": (0, int),
    "storage_lock_timeout_ms": (30000, int),
    "pagination_token_validity_seconds": (600, int),
    "explicit_permissions": (True, as_bool),
    "experimental_collection_schema_validation": (False, as_bool),
    "project_name": ("kinto", str),
    # Unset: the version of the installed package (core.version).
    "project_version": (None, as_str_or_none),
    "project_docs": ("https://kinto.readthedocs.io/en/stable/api/", str),
    "http_api_version": ("1.23", str),
    "http_host": (None, as_str_or_none),
    "http_scheme": (None, as_str_or_none),
    "error_info_link": ("https://kinto.readthedocs.io/en/stable/community.html", str),
    "version_json_path": ("version.json", str),
    # HTTP details
    "cors_origins": (["*"], as_list),
    "cors_max_age_seconds": (3600, as_int_or_none),
    "backoff": (None, as_int_or_none),
    "backoff_percentage": (None, as_int_or_none),
    "retry_after_seconds": (3, int),
    "eos": (None, as_str_or_none),
    "eos_message": (None, as_str_or_none),
    "eos_url": (None, as_str_or_none),
    "trailing_slash_redirect_enabled": (True, as_bool),
    "trailing_slash_redirect_ttl_seconds": (3600, int),
    "version_prefix_redirect_enabled": (True, as_bool),
    "version_prefix_redirect_ttl_seconds": (-1, int),
    "root_cache_expires_seconds": (86400, int),
    "heartbeat_timeout_seconds": (10, float),
    # Limits that keep a single request bounded (documented in the README).
    "max_request_body_bytes": (5 * 1024 * 1024, int),
    "max_json_depth": (32, int),
    "max_querystring_length": (16384, int),
    "max_query_params": (100, int),
    "max_sort_fields": (10, int),
    "max_filter_values": (1000, int),
    "max_like_wildcards": (16, int),
    "max_field_path_depth": (10, int),
    "max_id_length": (64, int),
    "max_record_id_length": (128, int),
    "max_account_id_length": (128, int),
    "schema_max_bytes": (256 * 1024, int),
    "schema_validation_timeout_seconds": (1.0, float),
    # Identity
    "auth_policies": (["basicauth"], as_list),
    "userid_hmac_secret": ("", str),
    "bucket_create_principals": (["system.Authenticated"], as_list),
    # History plugin (history/; on with `history_enabled` or `includes`)
    "history_exclude_resources": ([], as_list),
    "history_exclude_user_ids": ([], as_list),
    "history_auto_trim_max_count": (-1, int),
    "history_auto_trim_threshold": (100, int),
    "history_auto_trim_user_ids": ([], as_list),
}


# Settings named by a pattern (`<type>_<perm>_principals`, `<route>_<method>_enabled`,
# `<bucket>_<collection>_record_cache_expires_seconds`, a listener's options).
SETTING_FAMILIES = ("_principals", "_enabled", "_cache_expires_seconds")
SETTING_PREFIXES = ("event_listeners_",)
# Settings the apps read besides `DEFAULTS` (each app declares its own: `declare_settings`).
DECLARED_SETTINGS: set[str] = {"includes", "experimental_permissions_endpoint"}
# Prefixes of settings families an app reads (per-resource overrides, backend options).
DECLARED_PREFIXES: set[str] = set()


def declare_settings(*names: str, prefixes: tuple[str, ...] = ()) -> None:
    """Make names (and families of names by their prefix) known to the unknown-settings
    check (an app's own settings)."""
    DECLARED_SETTINGS.update(names)
    DECLARED_PREFIXES.update(prefixes)


def known_setting(name: str) -> bool:
    """Whether some part of the package reads a `KINTO` key of this name."""
    return (
        name in DEFAULTS
        or name in DECLARED_SETTINGS
        or name.endswith(SETTING_FAMILIES)
        or name.startswith(SETTING_PREFIXES)
        or any(name.startswith(prefix) for prefix in DECLARED_PREFIXES)
    )


class KintoSettings:
    """Attribute access to `settings.KINTO`, typed and defaulted, recomputed after changes."""

    def __init__(self) -> None:
        self._cache: dict[str, Any] = {}

    @property
    def raw(self) -> dict[str, Any]:
        return getattr(django_settings, "KINTO", {}) or {}

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        if name not in DEFAULTS:
            raise AttributeError(f"Unknown engine setting {name!r}")
        return self.get(name)

    def get(
        self, name: str, default: Any = None, coerce: Callable[[Any], Any] | None = None
    ) -> Any:
        """A setting by name; dynamic names (`record_read_principals`…) take a default here."""
        try:
            return self._cache[name]
        except KeyError:
            pass
        if name in DEFAULTS:
            default, coerce = DEFAULTS[name]
        elif coerce is None:
            coerce = guess_coercion(name)
        raw = self.raw
        value = coerce(raw[name]) if name in raw and raw[name] is not None else default
        self._cache[name] = value
        return value

    def principals(self, name: str) -> list[str]:
        """A `*_principals` setting as a list (empty when unset)."""
        return self.get(name, [], as_list)

    def reset(self) -> None:
        self._cache.clear()


def guess_coercion(name: str) -> Callable[[Any], Any]:
    if name.endswith("_principals"):
        return as_list
    if name.endswith("_seconds"):
        return as_int_or_none
    if name.endswith("_enabled"):
        return as_bool
    return lambda value: value


kinto_settings = KintoSettings()


def plugin_enabled(setting: str, module: str) -> bool:
    """An optional feature switched on by its `<feature>_enabled` setting or, as in the
    reference server's configuration files, by naming its module in `includes`."""
    return kinto_settings.get(setting, False, as_bool) or module in kinto_settings.get(
        "includes", [], as_list
    )


def _reset(*, setting: str, **kwargs: Any) -> None:
    if setting == "KINTO":
        kinto_settings.reset()


setting_changed.connect(_reset)
