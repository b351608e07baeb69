"""Import graphs of the package's own modules, read from the source with ``ast`` (top-level
imports, imports inside functions and under TYPE_CHECKING, relative imports resolved), for the
layout tests (``tests/library/test_layout.py``, ``tests/sync/test_layout.py``)."""

from __future__ import annotations

import ast
from pathlib import Path

import xmodal

SRC = Path(xmodal.__file__).resolve().parent.parent


def modules(package: str) -> dict[str, Path]:
    """Every module of ``package`` (dotted name -> its file)."""
    root = SRC / package.replace(".", "/")
    out = {}
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(SRC).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def import_lines(name: str, path: Path) -> list[tuple[str, int]]:
    """``(imported module or name, line)`` of every import of module ``name`` at ``path``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(a.name, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against the importing module's package
                package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
                base = ".".join(package[: len(package) - node.level + 1] + ([base] if base else []))
            found.append((base, node.lineno))
            found += [(f"{base}.{a.name}", node.lineno) for a in node.names]
    return found


def imports(name: str, path: Path) -> set[str]:
    """Every module or name that module ``name`` imports (:func:`import_lines` without lines)."""
    return {target for target, _ in import_lines(name, path)}


def graph(mods: dict[str, Path]) -> dict[str, set[str]]:
    """Edges between the given modules (an import of ``pkg.mod.name`` counts as ``pkg.mod``; a
    module's own parent packages are not edges: Python imports them first anyway)."""
    out: dict[str, set[str]] = {}
    for name, path in mods.items():
        edges = set()
        for target in imports(name, path):
            while target and target not in mods:
                target = target.rpartition(".")[0]
            if target and target != name and not name.startswith(target + "."):
                edges.add(target)
        out[name] = edges
    return out


def cycles(g: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in g[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in g:
        if v not in index:
            visit(v)
    return found
