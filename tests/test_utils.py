import os
import stat

import numpy as np
import pytest

from xmodal.utils import atomic_path, read_jsonl, write_json, write_jsonl


def test_atomic_path_renames_only_on_success(tmp_path):
    target = tmp_path / "out.txt"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []  # no temp file left behind
    with atomic_path(target) as tmp:
        assert tmp.parent == tmp_path and tmp.suffix == ".txt"
        tmp.write_text("whole")
    assert target.read_text() == "whole"


def test_atomic_files_get_the_usual_mode(tmp_path):
    umask = os.umask(0)
    os.umask(umask)
    write_json(tmp_path / "a.json", {"x": 1})
    assert stat.S_IMODE((tmp_path / "a.json").stat().st_mode) == 0o666 & ~umask


def test_jsonl_round_trip_and_torn_last_line(tmp_path):
    rows = [{"a": np.int64(1), "b": np.arange(2)}, {"a": 2, "b": []}]
    write_jsonl(tmp_path / "m.jsonl", rows)
    assert read_jsonl(tmp_path / "m.jsonl") == [{"a": 1, "b": [0, 1]}, {"a": 2, "b": []}]
    with (tmp_path / "m.jsonl").open("a") as f:
        f.write('{"a": 3, "b"')  # a writer killed mid-line
    assert len(read_jsonl(tmp_path / "m.jsonl")) == 2
