"""Choosing the canonical voice on val: candidate strings, and a tiny choice end to end."""

from __future__ import annotations

import json

import pytest

from xmodal.data.objects import WorldConfig, generate
from xmodal.translate import CanonicalSpeechConfig
from xmodal.translate.voices import parse_candidate


def test_parse_candidate():
    c = parse_candidate("en-us+m3:150:phrase")
    assert (c.voice, c.variant, c.rate, c.layout) == ("en-us", "m3", 150, "phrase")
    c = parse_candidate("en:130", CanonicalSpeechConfig(layout="slots", pitch=40))
    assert (c.voice, c.variant, c.rate, c.layout, c.pitch) == ("en", None, 130, "slots", 40)
    for bad in ("en", ":150", "en:fast"):
        with pytest.raises(ValueError, match="voice candidate"):
            parse_candidate(bad)
    with pytest.raises(ValueError, match="layout"):
        parse_candidate("en:150:words")


@pytest.mark.slow
def test_choose_voice_on_val_pairs(tmp_path):
    from xmodal.data.manifest import read_manifest
    from xmodal.translate.voices import choose_voice

    world = tmp_path / "world"
    generate(world, WorldConfig(size=30, seed=5), workers=2, progress=False)
    val = {f"{r['object']}:{r['action']}" for r in read_manifest(world) if r["split"] == "val"}
    heldout = {f"{r['object']}:{r['action']}" for r in read_manifest(world)
               if r["split"] == "heldout"}  # fmt: skip
    out = tmp_path / "voices"
    results = choose_voice(world, out, ("en:150:phrase", "en-us:175:slots"), speech_steps=100,
                           progress=False)  # fmt: skip
    assert set(results["pairs"]) == val and not val & heldout
    assert set(results["candidates"]) == {"en:150:phrase", "en-us:175:slots"}
    scores = results["candidates"]
    best = results["best"]
    assert all(scores[best]["vocoded"]["whisper"]["both"] >= s["vocoded"]["whisper"]["both"]
               for s in scores.values())  # fmt: skip
    for s in scores.values():
        assert 0.0 <= s["raw_whisper"]["both"] <= 1.0
        assert s["vocoded"]["grammar"]["clips"] == len(val)
    assert json.loads((out / "results.json").read_text())["best"] == best
    assert f"**{best}**" in (out / "report.md").read_text()


def test_unknown_voice_is_refused_before_any_judging(tmp_path, monkeypatch):
    from xmodal.translate import judges
    from xmodal.translate.voices import choose_voice

    world = tmp_path / "world"
    generate(world, WorldConfig(size=30, seed=5), workers=2, progress=False)
    heard = []
    monkeypatch.setattr(judges.Listener, "hear", lambda self, w, j: heard.append(j))
    with pytest.raises(ValueError, match="voice candidate 'xx-nope:150:slots': unknown espeak"):
        choose_voice(world, tmp_path / "v", ("en:150:slots", "xx-nope:150:slots"), progress=False)
    assert heard == [] and not (tmp_path / "v").exists()
