"""The code's shape, checked: imports go one way (from a higher layer to a lower one, never
back), no two modules import each other at load time, and no module grows past 500 lines
without saying why at its top.

Layers, lowest first (a module may import its own layer and those below):

    settings, logging, metrics  <  models, db  <  adapters  <  services  <  runtime
    <  api  <  state  <  components  <  pages  <  worker, cli, the app module

`runtime` builds the configured adapters for the processes above it; `api` holds the HTTP
routes beside Reflex's (cookies, redirects, webhooks), which the page states use, never the
other way round."""

from __future__ import annotations

import ast
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "stylestudio"
MAX_LINES = 500
# A module past MAX_LINES says why in a comment among its first lines, for example:
#   # Over 500 lines: one offline pipeline whose steps share private helpers.
REASON_MARK = "# Over 500 lines:"

LAYERS: tuple[tuple[str, ...], ...] = (
    ("settings", "log_redaction", "log_output", "metrics"),
    ("models", "db"),
    ("adapters",),
    ("services",),
    ("runtime",),
    ("api",),
    ("state",),
    ("components",),
    ("pages",),
    ("worker", "cli", "production", "web_entry", "stylestudio", "__init__"),
)


def layer_of(module: str) -> int:
    """`stylestudio.services.billing.credits` -> the index of the layer holding `services`."""
    parts = module.split(".")
    top = parts[1] if len(parts) > 1 else "__init__"
    for index, names in enumerate(LAYERS):
        if top in names:
            return index
    raise AssertionError(f"{module}: not in any layer; add it to LAYERS")


@dataclass(frozen=True)
class Import:
    importer: str
    imported: str
    line: int
    at_load: bool  # at module level (not inside a function, not only for type checking)


def module_name(path: Path, root: Path) -> str:
    rel = path.relative_to(root.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports_of(path: Path, root: Path, known: set[str]) -> Iterable[Import]:
    """Every import of a module of the package, with whether it runs at load time."""
    name = module_name(path, root)
    is_package = path.name == "__init__.py"
    tree = ast.parse(path.read_text(), filename=str(path))

    def resolve(node: ast.ImportFrom) -> list[str]:
        if node.level:
            base = name.split(".") if is_package else name.split(".")[:-1]
            base = base[: len(base) - (node.level - 1)]
            prefix = ".".join([*base, node.module] if node.module else base)
        else:
            prefix = node.module or ""
        found = []
        for alias in node.names:
            candidate = f"{prefix}.{alias.name}"
            found.append(candidate if candidate in known else prefix)
        return found

    def visit(nodes: list[ast.stmt], at_load: bool) -> Iterable[Import]:
        for node in nodes:
            if isinstance(node, ast.Import):
                for alias in node.names:
                    yield Import(name, alias.name, node.lineno, at_load)
            elif isinstance(node, ast.ImportFrom):
                for target in resolve(node):
                    yield Import(name, target, node.lineno, at_load)
            elif isinstance(node, ast.If) and _is_type_checking(node):
                yield from visit(node.body, False)
                yield from visit(node.orelse, at_load)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                yield from visit(list(ast.walk(node))[1:], False)  # type: ignore[arg-type]
            elif isinstance(node, ast.ClassDef):
                yield from visit(node.body, at_load)
            elif isinstance(node, (ast.If, ast.Try, ast.With)):
                children: list[ast.stmt] = [
                    c for c in ast.iter_child_nodes(node) if isinstance(c, ast.stmt)
                ]
                for handler in getattr(node, "handlers", []):
                    children.extend(handler.body)
                yield from visit(children, at_load)

    yield from (i for i in visit(tree.body, True) if i.imported.split(".")[0] == root.name)


def package_imports(root: Path) -> list[Import]:
    files = sorted(root.rglob("*.py"))
    known = {module_name(f, root) for f in files}
    found: list[Import] = []
    for path in files:
        found.extend(imports_of(path, root, known))
    return found


def upward_imports(imports: list[Import]) -> list[str]:
    return [
        f"{i.importer}:{i.line} imports {i.imported}"
        for i in imports
        if layer_of(i.imported) > layer_of(i.importer)
    ]


def load_time_cycles(imports: list[Import]) -> list[list[str]]:
    """Cycles among imports that run when a module loads (Tarjan's strongly connected parts;
    a package importing its own submodules is not a cycle)."""
    graph: dict[str, set[str]] = {}
    for i in imports:
        if not i.at_load or i.imported == i.importer:
            continue
        if i.importer.startswith(i.imported + ".") or i.imported.startswith(i.importer + "."):
            continue  # a package and its own modules
        graph.setdefault(i.importer, set()).add(i.imported)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                connect(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            part = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                part.append(top)
                if top == node:
                    break
            if len(part) > 1:
                cycles.append(sorted(part))

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return cycles


def long_modules(root: Path) -> list[str]:
    found = []
    for path in sorted(root.rglob("*.py")):
        lines = path.read_text().splitlines()
        if len(lines) > MAX_LINES and not any(
            line.startswith(REASON_MARK) and len(line) > len(REASON_MARK) + 10
            for line in lines[:15]
        ):
            found.append(f"{path.relative_to(root.parent)}: {len(lines)} lines")
    return found


# --------------------------------------------------------------------------- the tree


def test_imports_go_from_higher_layers_to_lower_ones() -> None:
    assert upward_imports(package_imports(PACKAGE)) == []


def test_no_import_cycle_when_modules_load() -> None:
    assert load_time_cycles(package_imports(PACKAGE)) == []


def test_no_module_over_500_lines_without_a_reason() -> None:
    assert long_modules(PACKAGE) == []


# --------------------------------------------------------------------------- the checks can fail


def _plant(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "stylestudio"
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_a_planted_upward_import_is_found(tmp_path: Path) -> None:
    root = _plant(
        tmp_path,
        {
            "__init__.py": "",
            "services/__init__.py": "",
            "services/billing/__init__.py": "",
            "services/billing/credits.py": "def spend(): ...\n",
            "state/__init__.py": "",
            "state/studio.py": "from stylestudio.services.billing import credits\n",
            # A service reaching up into a page state, inside a function: still refused.
            "services/leak.py": "def f():\n    from stylestudio.state.studio import x\n",
        },
    )
    assert upward_imports(package_imports(root)) == [
        "stylestudio.services.leak:2 imports stylestudio.state.studio"
    ]


def test_a_planted_cycle_is_found(tmp_path: Path) -> None:
    root = _plant(
        tmp_path,
        {
            "__init__.py": "",
            "services/__init__.py": "",
            "services/a.py": "from stylestudio.services import b\n",
            "services/b.py": "from . import c\n",
            "services/c.py": "from stylestudio.services.a import thing\n",
            # Only for the type checker, or inside a function: not a load-time cycle.
            "services/d.py": (
                "from typing import TYPE_CHECKING\n"
                "if TYPE_CHECKING:\n    from stylestudio.services import e\n"
            ),
            "services/e.py": "def f():\n    from stylestudio.services import d\n",
        },
    )
    assert load_time_cycles(package_imports(root)) == [
        ["stylestudio.services.a", "stylestudio.services.b", "stylestudio.services.c"]
    ]


def test_a_long_module_needs_its_reason(tmp_path: Path) -> None:
    body = "x = 1\n" * (MAX_LINES + 1)
    root = _plant(
        tmp_path,
        {
            "long.py": body,
            "explained.py": f"{REASON_MARK} one pipeline whose steps share helpers.\n" + body,
        },
    )
    assert long_modules(root) == [f"stylestudio/long.py: {MAX_LINES + 1} lines"]


@pytest.mark.parametrize(
    ("module", "layer"),
    [("stylestudio.settings", 0), ("stylestudio.services.billing.credits", 3), ("stylestudio", 9)],
)
def test_layers_of_modules(module: str, layer: int) -> None:
    assert layer_of(module) == layer
