"""The library's layout: no import cycles, the joint space only through its narrow interface,
never ``training``, and every module importable on its own without loading a backend."""

from __future__ import annotations

import subprocess
import sys

from tests.layout import SRC, cycles, graph, imports, modules

CHECKED = ("xmodal.library", "xmodal.joint")


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_library_and_joint_have_no_import_cycles() -> None:
    checked = {}
    for package in CHECKED:
        checked.update(modules(package))
    assert len(checked) > 20
    assert cycles(graph(checked)) == []


def test_library_reaches_the_joint_space_only_through_its_narrow_interface() -> None:
    for name, path in modules("xmodal.library").items():
        imported = imports(name, path)
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
    names = sorted(modules("xmodal.library"))
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
