"""The README's table of operator tasks stays true: every `manage.py` command and option it
names exists, every endpoint answers, and every link leads to a heading that exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.core.management import get_commands, load_command_class

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def operations_rows() -> list[list[str]]:
    section = README.split("\n## Operations\n", 1)[1].split("\n### ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ")][1:]
    return [[cell.strip() for cell in row.strip("|").split("|")] for row in rows]


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(markdown: str) -> set[str]:
    return {slug(line.lstrip("#")) for line in markdown.splitlines() if line.startswith("#")}


ROWS = operations_rows()
COMMANDS = [
    match
    for _task, command, _details in ROWS
    for match in re.findall(r"`manage\.py ([a-z_]+)([^`]*)`", command)
]


def test_the_table_covers_the_operator_tasks():
    table = " ".join(" ".join(row) for row in ROWS).lower()
    for task in ["upgrade", "back up", "tombstones", "history", "metrics", "health", "/admin/"]:
        assert task in table, task
    assert len(COMMANDS) >= 10


@pytest.mark.parametrize(("name", "arguments"), COMMANDS, ids=[name for name, _ in COMMANDS])
def test_each_command_and_option_exists(name, arguments):
    commands = get_commands()
    assert name in commands, f"manage.py {name} is not a command"
    parser = load_command_class(commands[name], name).create_parser("manage.py", name)
    known = {option for action in parser._actions for option in action.option_strings}
    for option in re.findall(r"--[a-z-]+", arguments):
        assert option in known, f"manage.py {name} has no {option}"


# The heartbeat checks the database from threads of its own: committed data, real connections.
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "path", sorted({p for row in ROWS for p in re.findall(r"`GET (/v1/[\w_]+)`", row[1])})
)
def test_each_endpoint_answers(anonymous, path):
    assert anonymous.get(path).status == 200


def test_each_link_leads_to_a_heading():
    for _task, _command, details in ROWS:
        for target in re.findall(r"\]\(([^)]+)\)", details):
            document, _, anchor = target.partition("#")
            text = (ROOT / document).read_text() if document else README
            if anchor:
                assert anchor in anchors(text), f"no heading #{anchor} in {document or 'README'}"
