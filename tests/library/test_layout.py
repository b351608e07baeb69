"""The library's layout: no import cycles, the joint space only through its narrow interface,
never ``training``, and every module importable on its own without loading a backend."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import xmodal

SRC = Path(xmodal.__file__).resolve().parent.parent
CHECKED = ("xmodal.library", "xmodal.joint")


def _modules(package: str) -> dict[str, Path]:
    root = SRC / package.replace(".", "/")
    out = {}
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(SRC).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def _imports(name: str, path: Path) -> set[str]:
    """Every module ``name`` imports: top level, inside functions and under TYPE_CHECKING."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
                base = ".".join(package[: len(package) - node.level + 1] + ([base] if base else []))
            found.add(base)
            found.update(f"{base}.{a.name}" for a in node.names)
    return found


def _graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    """Edges between the given modules (an import of ``pkg.mod.name`` counts as ``pkg.mod``; a
    module's own parent packages are not edges: Python imports them first anyway)."""
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        edges = set()
        for target in _imports(name, path):
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != name and not name.startswith(target + "."):
                edges.add(target)
        graph[name] = edges
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
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

    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_library_and_joint_have_no_import_cycles() -> None:
    modules = {}
    for package in CHECKED:
        modules.update(_modules(package))
    assert len(modules) > 20
    assert _cycles(_graph(modules)) == []


def test_library_reaches_the_joint_space_only_through_its_narrow_interface() -> None:
    for name, path in _modules("xmodal.library").items():
        imported = _imports(name, path)
        assert not any(
            m == "xmodal.training" or m.startswith("xmodal.training.") for m in imported
        ), name
        joint = {m for m in imported if m == "xmodal.joint" or m.startswith("xmodal.joint.")}
        if name == "xmodal.library.joint":
            assert joint == {"xmodal.joint", "xmodal.joint.JointSpace"}
        else:
            assert not joint, f"{name} imports {sorted(joint)}: use xmodal.library.joint"
        assert not any(m.startswith("xmodal.translate") for m in imported), name


def test_every_library_module_imports_alone_without_a_backend_or_a_model() -> None:
    names = sorted(_modules("xmodal.library"))
    code = (
        "import importlib, sys\n"
        f"for name in {names!r}:\n"
        "    importlib.import_module(name)\n"
        "heavy = ('torch', 'lancedb', 'psycopg', 'xmodal.training', 'xmodal.joint')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    env = {"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
