"""Dependencies point one way (STYLE §1): the foundation imports nothing of the package,
`permissions` only the foundation, the engine's domain only those, its HTTP layer the domain,
query compilation and observability, the operator tools whatever is below them; the resource
apps the engine (records their parent app, history the containers it records, attachments the records they go with), and
`notifications` no other app. Only the wiring (app configs, the URLconf, commands) sees
everything. Read from the imports of every module, function-level ones included."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "kinto_django"

FOUNDATION = {"foundation"}
PERMISSIONS = FOUNDATION | {"permissions"}
DOMAIN = PERMISSIONS | {"core.domain"}
BELOW_API = DOMAIN | {"core.query", "core.observability"}
ENGINE = BELOW_API | {"core.api"}
OPERATOR_TOOLS = ENGINE | {"core.admin", "core.backup", "core.retention", "core.openapi"}
ALLOWED: dict[str, set[str]] = {
    "foundation": set(),
    "permissions": FOUNDATION,
    "core.domain": PERMISSIONS,
    "core.query": DOMAIN,
    "core.observability": DOMAIN | {"core.query"},
    "core.api": BELOW_API,
    "core.admin": ENGINE,
    "core.backup": ENGINE,
    "core.retention": ENGINE,
    "core.openapi": ENGINE,
    "core.wiring": OPERATOR_TOOLS,
    "accounts": OPERATOR_TOOLS,
    "buckets": OPERATOR_TOOLS,
    "records": OPERATOR_TOOLS | {"buckets"},
    "history": OPERATOR_TOOLS | {"buckets", "records"},
    "attachments": OPERATOR_TOOLS | {"records"},
    "notifications": OPERATOR_TOOLS,
}
ENGINE_PARTS = ("api", "query", "admin", "backup", "retention", "openapi", "observability")
WIRING = ("apps", "urls", "management", "migrations", "checks")


def layer(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1 or parts[1] in ("conf", "errors", "jsonutil", "version"):
        return "foundation"
    if parts[1] != "core":
        return parts[1]
    if len(parts) > 2 and parts[2] in ENGINE_PARTS:
        return f"core.{parts[2]}"
    if len(parts) > 2 and parts[2] in WIRING:
        return "core.wiring"
    return "core.domain"


def imports() -> list[tuple[str, str, str]]:
    """(importing module, its layer, imported module) for every import of the package."""
    found = []
    for path in PACKAGE.rglob("*.py"):
        module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        module = module.removesuffix(".__init__")
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("kinto"):
                names = [f"{node.module}.{alias.name}" for alias in node.names]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names if alias.name.startswith("kinto")]
            else:
                continue
            found += [(module, layer(module), name) for name in names]
    return found


IMPORTS = imports()


def test_the_package_never_imports_the_standalone_project():
    assert [(m, name) for m, _, name in IMPORTS if name.startswith("kinto_project")] == []


@pytest.mark.parametrize("source", sorted(ALLOWED))
def test_dependencies_point_one_way(source):
    wrong = sorted(
        (module, name)
        for module, module_layer, name in IMPORTS
        if module_layer == source
        and name.startswith("kinto_django.")
        and layer(name) not in ALLOWED[source] | {source}
    )
    assert wrong == []
