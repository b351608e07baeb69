"""The sync application's layout: ``xmodal.sync`` never imports ``xmodal.evaluation`` (the
evaluation studies import sync, not the other way), and its modules import each other without
a cycle. Imports inside functions count too."""

from __future__ import annotations

import ast
from pathlib import Path

import xmodal.sync

ROOT = Path(xmodal.sync.__file__).resolve().parent


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = ("xmodal", "sync", *path.relative_to(ROOT).with_suffix("").parts)
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def _imports(name: str, path: Path) -> list[tuple[str, int]]:
    """``(imported module or name, line)`` of every import: top level and inside functions."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(a.name, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against the importing module's package
                package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
                package = package[: len(package) - node.level + 1]
                base = ".".join(package + ([base] if base else []))
            found.append((base, node.lineno))
            found += [(f"{base}.{a.name}", node.lineno) for a in node.names]
    return found


def _graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    """Edges between sync modules (``xmodal.sync.mod.name`` counts as ``xmodal.sync.mod``; the
    package itself is not an edge: Python imports it first anyway)."""
    graph = {}
    for name, path in modules.items():
        edges = set()
        for target, _ in _imports(name, path):
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != name and not name.startswith(target + "."):
                edges.add(target)
        graph[name] = edges
    return graph


def _find_cycle(graph: dict[str, set[str]]) -> list[str]:
    """One import cycle as ``[a, b, ..., a]``, or ``[]`` when the graph is acyclic."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(v: str) -> list[str]:
        state[v] = 1
        path.append(v)
        for w in sorted(graph[v]):
            if state.get(w) == 1:
                return path[path.index(w) :] + [w]
            if w not in state and (cycle := visit(w)):
                return cycle
        state[v] = 2
        path.pop()
        return []

    for v in sorted(graph):
        if v not in state and (cycle := visit(v)):
            return cycle
    return []


def test_sync_never_imports_evaluation():
    bad = [
        f"{path.relative_to(ROOT.parent)}:{line}: {target}"
        for name, path in _modules().items()
        for target, line in _imports(name, path)
        if target == "xmodal.evaluation" or target.startswith("xmodal.evaluation.")
    ]
    assert not bad, "xmodal.sync imports xmodal.evaluation:\n" + "\n".join(bad)


def test_no_import_cycle_among_sync_modules():
    graph = _graph(_modules())
    # the graph is real: function-level imports and relative imports are seen
    assert "xmodal.sync.syncnet" in graph["xmodal.sync.check"]  # inside check_video
    assert "xmodal.sync.common" in graph["xmodal.sync.check"]
    cycle = _find_cycle(graph)
    assert not cycle, "import cycle: " + " -> ".join(cycle)


def test_the_checks_see_what_they_look_for(tmp_path):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "a.py").write_text(
        "def f():\n    from xmodal.evaluation.sync import FPS\n    from .b import g\n"
    )
    assert ("xmodal.evaluation.sync", 2) in _imports("xmodal.sync.a", pkg / "a.py")
    assert ("xmodal.sync.b.g", 3) in _imports("xmodal.sync.a", pkg / "a.py")
    ring = {"x": {"y"}, "y": {"z"}, "z": {"x"}, "w": set()}
    assert _find_cycle(ring) == ["x", "y", "z", "x"]
    assert _find_cycle({"x": {"y"}, "y": set()}) == []
