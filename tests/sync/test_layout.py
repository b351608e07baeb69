"""The sync application's layout: ``xmodal.sync`` never imports ``xmodal.evaluation`` (the
evaluation studies import sync, not the other way), and its modules import each other without
a cycle. Imports inside functions count too."""

from __future__ import annotations

from tests.layout import SRC, cycles, graph, import_lines, modules


def test_sync_never_imports_evaluation():
    bad = [
        f"{path.relative_to(SRC)}:{line}: {target}"
        for name, path in modules("xmodal.sync").items()
        for target, line in import_lines(name, path)
        if target == "xmodal.evaluation" or target.startswith("xmodal.evaluation.")
    ]
    assert not bad, "xmodal.sync imports xmodal.evaluation:\n" + "\n".join(bad)


def test_no_import_cycle_among_sync_modules():
    g = graph(modules("xmodal.sync"))
    # the graph is real: function-level imports and relative imports are seen
    assert "xmodal.sync.syncnet" in g["xmodal.sync.check"]  # inside check_video
    assert "xmodal.sync.common" in g["xmodal.sync.check"]
    found = cycles(g)
    assert not found, "import cycles: " + "; ".join(" -> ".join(c) for c in found)


def test_the_checks_see_what_they_look_for(tmp_path):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "a.py").write_text(
        "def f():\n    from xmodal.evaluation.sync import FPS\n    from .b import g\n"
    )
    assert ("xmodal.evaluation.sync", 2) in import_lines("xmodal.sync.a", pkg / "a.py")
    assert ("xmodal.sync.b.g", 3) in import_lines("xmodal.sync.a", pkg / "a.py")
    ring = {"x": {"y"}, "y": {"z"}, "z": {"x"}, "w": set()}
    assert cycles(ring) == [["x", "y", "z"]]
    assert cycles({"x": {"y"}, "y": set()}) == []
