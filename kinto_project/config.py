"""Turn `KINTO_*` environment variables and an optional INI file into raw setting values.

Names follow the reference server's settings (see the README's configuration table): the INI
file named by `KINTO_INI` holds them in a `[kinto]` section (`paginate_by = 100`), or in an
`[app:main]` section with a `kinto.` prefix, so existing deployment files keep working.
Environment variables win over the file: `KINTO_PAGINATE_BY=100`.
"""

from __future__ import annotations

import configparser
import os
from collections.abc import Mapping

ENV_PREFIX = "KINTO_"
# Variables read by the project itself rather than passed to the apps.
PROJECT_VARIABLES = {
    "ini",
    "secret_key",
    "debug",
    "production",
    "allowed_hosts",
    "cache_url",
    "log_level",
    "conn_max_age",
    # Read by the project's settings, bin/serve or the server itself, not by the apps.
    "storage_url",
    "database_url",
    "redis_prefix",
    "workers",
    "threads",
    "bind",
    "commit",
}


# Reference INI keys that live outside the `kinto.` prefix.
INI_ALIASES = {"multiauth.policies": "auth_policies"}


def normalize(name: str) -> str:
    """Setting names are case-insensitive; dashes and dots become underscores."""
    return name.strip().lower().replace("-", "_").replace(".", "_")


def read_ini(path: str) -> dict[str, str]:
    """Read the `[kinto]` section, or `kinto.*` keys of `[app:main]`, of an INI file."""
    parser = configparser.ConfigParser(interpolation=None)
    with open(path, encoding="utf-8") as handle:
        parser.read_file(handle)
    values: dict[str, str] = {}
    if parser.has_section("app:main"):
        for key, value in parser.items("app:main"):
            if key.startswith("kinto."):
                values[normalize(key[len("kinto.") :])] = value
            elif key in INI_ALIASES:
                values.setdefault(INI_ALIASES[key], value)
    if parser.has_section("kinto"):
        for key, value in parser.items("kinto"):
            values[normalize(key)] = value
    return values


def load(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """All configured values, INI file first, then environment variables on top."""
    environ = os.environ if environ is None else environ
    values: dict[str, str] = {}
    ini_path = environ.get("KINTO_INI")
    if ini_path:
        values.update(read_ini(ini_path))
    for key, value in environ.items():
        if key.startswith(ENV_PREFIX):
            values[normalize(key[len(ENV_PREFIX) :])] = value
    return values


def as_bool(value: object) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in {"1", "true", "yes", "on"}


def as_list(value: object) -> list[str]:
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value]
    return [part for part in str(value).replace(",", " ").split() if part]
