"""What this server is: name, version and source of the `kinto-django` distribution.

Read from the installed package's metadata (`pip install` of the repository), or from
`pyproject.toml` when the server runs from a checkout that was never installed, so the
version has one source of truth.
"""

from __future__ import annotations

import functools
import tomllib
from importlib import metadata
from pathlib import Path

DISTRIBUTION = "kinto-django"
# The checkout's `pyproject.toml` (the nearest folder above this module that has one).
PYPROJECT = next(
    (
        folder / "pyproject.toml"
        for folder in Path(__file__).resolve().parents
        if (folder / "pyproject.toml").is_file()
    ),
    Path("pyproject.toml"),
)


@functools.cache
def package_info() -> dict[str, str | None]:
    """`{"name", "version", "source"}` of the distribution (`source` may be None)."""
    try:
        meta = metadata.metadata(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return _checkout_info()
    urls = dict(entry.partition(",")[::2] for entry in meta.get_all("Project-URL") or [])
    return {"name": meta["Name"], "version": meta["Version"], "source": _source(urls)}


def _checkout_info() -> dict[str, str | None]:
    try:
        project = tomllib.loads(PYPROJECT.read_text())["project"]
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return {"name": DISTRIBUTION, "version": "unknown", "source": None}
    return {
        "name": project.get("name", DISTRIBUTION),
        "version": project.get("version", "unknown"),
        "source": _source(project.get("urls", {})),
    }


def _source(urls: dict[str, str]) -> str | None:
    """The repository address among a project's URLs (`Source`, else `Homepage`)."""
    by_label = {label.strip().lower(): url.strip() for label, url in urls.items()}
    return by_label.get("source") or by_label.get("homepage")


def project_version() -> str:
    """The version the API reports: the `project_version` setting, else the package's."""
    from kinto_django.conf import kinto_settings

    return kinto_settings.project_version or package_info()["version"] or "unknown"
