"""The README's map of the code ("How it is built") stays true: every file and folder it
names exists where it says, and every app and engine subpackage is on it."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
NAME = re.compile(r"[\w]+(?:/|\.py)")


def layout_block() -> list[str]:
    section = README.split("\n## How it is built\n", 1)[1]
    return section.split("```\n", 2)[1].splitlines()


def named_paths() -> list[Path]:
    """Each name of the map with its folder, from the indentation (two spaces a level)."""
    paths: list[Path] = []
    folders: dict[int, Path] = {}
    for line in layout_block():
        indent = len(line) - len(line.lstrip(" "))
        names = line.strip().split("  ", 1)[0].split()
        if not names or not all(NAME.fullmatch(name) for name in names):
            continue  # a line of description
        parent = folders.get(indent - 2, ROOT) if indent else ROOT
        for name in names:
            path = parent / name.rstrip("/")
            paths.append(path)
            if name.endswith("/"):
                folders[indent] = path
    return paths


def test_every_name_on_the_map_exists():
    paths = named_paths()
    assert len(paths) > 20
    missing = [str(path.relative_to(ROOT)) for path in paths if not path.exists()]
    assert missing == []


def test_every_app_and_engine_layer_is_on_the_map():
    shown = set(named_paths())
    package = ROOT / "kinto_django"
    for folder in (package, package / "core"):
        for child in folder.iterdir():
            if (child / "__init__.py").exists() and child.name not in ("migrations", "management"):
                assert child in shown, f"{child.relative_to(ROOT)} is not on the README's map"
