"""The repository is a pip-installable package: a wheel built from it holds every app with
its migrations and management commands, and a site that installs only the wheel (no
checkout on its path) configures, migrates and serves the API."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
APPS = ["core", "permissions", "buckets", "records", "accounts", "history", "notifications"]
PACKAGE = "kinto_django"

pytestmark = pytest.mark.e2e


def run(*command: str, cwd: Path, env: dict | None = None) -> str:
    done = subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def tree(root: Path) -> set[str]:
    """Every path under the checkout, but the virtualenv, git's and the tests' working files."""
    skipped = {".git", ".venv", "var", "__pycache__", ".pytest_cache", ".hypothesis"}
    paths = set()
    for directory, names, files in os.walk(root):
        names[:] = [name for name in names if name not in skipped]
        paths.update(os.path.relpath(os.path.join(directory, n), root) for n in names + files)
    return paths


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, set[str], set[str]]:
    """A wheel built from the checkout itself, and the checkout's files before and after."""
    before = tree(ROOT)
    out = tmp_path_factory.mktemp("wheel")
    run(
        sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
        "--wheel-dir", str(out), str(ROOT), cwd=out,
    )  # fmt: skip
    (wheel,) = out.glob("kinto_django-*.whl")
    return wheel, before, tree(ROOT)


@pytest.fixture(scope="module")
def wheel(built) -> Path:
    return built[0]


def test_building_writes_nothing_into_the_checkout(built):
    _, before, after = built
    assert after - before == set()


def test_the_wheel_holds_the_apps_and_no_tests(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    packages = {name.split("/")[0] for name in names if not name.startswith("kinto_django-")}
    # One distinctive top-level package: a site's own `core` or `accounts` never clashes, and
    # the standalone project (`kinto_project`) is not part of it.
    assert packages == {PACKAGE}
    for app in APPS:
        assert f"{PACKAGE}/{app}/apps.py" in names
    for migration in ["core/migrations/0001_initial.py", "records/migrations/0001_initial.py"]:
        assert f"{PACKAGE}/{migration}" in names
    assert f"{PACKAGE}/core/management/commands/kinto_backup.py" in names
    metadata = next(n for n in names if n.endswith(".dist-info/METADATA"))
    text = zipfile.ZipFile(wheel).read(metadata).decode()
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert f"Version: {version}" in text
    # The runtime dependencies are requirements.txt's.
    assert "Requires-Dist: django-guardian" in text
    # Licensed as the reference server (Apache-2.0), the license file shipped; typed.
    assert "License-Expression: Apache-2.0" in text
    assert any(name.endswith(".dist-info/licenses/LICENSE") for name in names)
    assert f"{PACKAGE}/py.typed" in names
    assert "Requires-Dist: pytest" not in text
    # The standalone server's stack is an extra: a site that embeds the apps does not get it.
    assert "Provides-Extra: server" in text
    # So is the PostgreSQL driver: a site keeps its own (psycopg 3 or 2).
    for name in ("gunicorn", "psycopg2-binary", "whitenoise"):
        lines = [line for line in text.splitlines() if line.startswith(f"Requires-Dist: {name}")]
        assert lines and all(line.endswith("extra == 'server'") for line in lines), lines


def test_a_site_runs_from_the_installed_wheel_alone(wheel, tmp_path):
    target = tmp_path / "site-packages"
    run(
        sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
        "--target", str(target), str(wheel), cwd=tmp_path,
    )  # fmt: skip
    # The site: tests/host_site copied out of the checkout, next to nothing else of it. Its
    # own top-level `core` and `accounts` sit beside the installed `kinto_django`.
    site = tmp_path / "site"
    shutil.copytree(ROOT / "tests" / "host_site", site)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("KINTO_")},
        "PYTHONPATH": f"{site}{os.pathsep}{target}",
        "DJANGO_SETTINGS_MODULE": "hostsite.settings",
        "KINTO_STORAGE_URL": f"sqlite:///{tmp_path / 'site.sqlite3'}",
    }
    script = (
        "import kinto_django, django; from django.test import Client; django.setup(); "
        "from django.core.management import call_command; "
        "call_command('migrate', verbosity=0); call_command('createcachetable'); "
        "import core, accounts; from django.contrib.auth import get_user_model; "
        "print(kinto_django.__file__); "
        "print(core.__file__, accounts.__file__, get_user_model()._meta.label); "
        "response = Client().get('/api/storage/v1/__version__'); "
        "print(response.status_code, response.json()['name'], response.json()['version'], "
        "kinto_django.__version__)"
    )
    output = run(sys.executable, "-c", script, cwd=tmp_path, env=env).split("\n")
    assert output[0].startswith(str(target))
    # `import core` and `import accounts` are the site's own, and so is the user model.
    assert output[1] == f"{site}/core/__init__.py {site}/accounts/__init__.py accounts.User"
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert output[2] == f"200 kinto-django {version} {version}"
