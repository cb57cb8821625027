"""Layering: the domain (models, services, adapters) never depends on the web framework, and
the schema is owned by Alembic alone (nothing calls create_all)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "stylestudio"
DOMAIN_LAYERS = ("models", "services", "adapters")


def _python_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.py") if "__pycache__" not in p.parts)


def _is_reflex(module: str) -> bool:
    top = module.split(".", 1)[0]
    return top == "reflex" or top.startswith("reflex_")


def reflex_imports(source: str) -> list[str]:
    """Every `import reflex...` / `from reflex... import` / `import reflex_*` in `source`."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [f"import {a.name}" for a in node.names if _is_reflex(a.name)]
        elif (
            isinstance(node, ast.ImportFrom)
            and node.level == 0
            and node.module
            and _is_reflex(node.module)
        ):
            found.append(f"from {node.module} import ...")
    return found


def create_all_calls(source: str) -> list[int]:
    """Line numbers of every call to `create_all(...)` (as a method or a bare name)."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if name == "create_all":
                lines.append(node.lineno)
    return lines


def test_the_checks_recognise_what_they_forbid() -> None:
    # Guards against a checker that silently finds nothing.
    bad = (
        "import reflex as rx\n"
        "import reflex_chakra\n"
        "from reflex.state import State\n"
        "def f():\n"
        "    import reflex.components\n"
        "SQLModel.metadata.create_all(engine)\n"
        "create_all(engine)\n"
    )
    assert reflex_imports(bad) == [
        "import reflex",
        "import reflex_chakra",
        "from reflex.state import ...",
        "import reflex.components",
    ]
    assert create_all_calls(bad) == [6, 7]
    fine = "import reflexive\nfrom .reflex import x\n# create_all(engine)\ns = 'create_all('\n"
    assert reflex_imports(fine) == []
    assert create_all_calls(fine) == []


@pytest.mark.parametrize("layer", DOMAIN_LAYERS)
def test_domain_layer_does_not_import_reflex(layer: str) -> None:
    files = _python_files(PACKAGE / layer)
    assert files, f"no Python files found under stylestudio/{layer}"
    offenders = {
        str(path.relative_to(PACKAGE.parent)): found
        for path in files
        if (found := reflex_imports(path.read_text(encoding="utf-8")))
    }
    assert offenders == {}


def test_nothing_in_the_app_calls_create_all() -> None:
    files = _python_files(PACKAGE)
    assert len(files) > 10
    offenders = {
        str(path.relative_to(PACKAGE.parent)): lines
        for path in files
        if (lines := create_all_calls(path.read_text(encoding="utf-8")))
    }
    assert offenders == {}, "the schema comes from Alembic migrations only"
