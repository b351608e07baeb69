"""The two listeners: reading object and action off a transcript, tallies on known values, and
both judges on real speech (a canonical rendering and its vocoded copy)."""

from __future__ import annotations

import numpy as np
import pytest

from xmodal.data.objects import TEMPLATES
from xmodal.translate import CanonicalSpeechConfig, CanonicalVoice
from xmodal.translate.judges import Heard, Listener, action_words, canonical_scores, tally

INFO = {
    "objects": ["pen", "phone", "spoon", "knife", "fork"],
    "actions": ["left", "right", "up", "down", "rotate"],
    "templates": {a: list(t) for a, t in TEMPLATES.items()},
    "duration": 2.0,
}


def test_action_words_are_the_words_only_one_action_uses():
    words = action_words(INFO)
    assert words["left"] == {"left"} and words["right"] == {"right"}
    assert words["up"] == {"up", "lift"} and words["down"] == {"down", "lower"}
    assert words["rotate"] == {"rotate", "turn", "around", "spin", "rotates"}
    with pytest.raises(ValueError, match="share every word"):
        Listener({**INFO, "templates": {**INFO["templates"], "left": ["move the {o} right"]}})


def test_parse_reads_the_first_object_and_action_word():
    listener = Listener(INFO)
    assert listener.parse("Rotate the knife.") == Heard("Rotate the knife.", "knife", "rotate")
    assert listener.parse("Move the eyes right.") == Heard("Move the eyes right.", None, "right")
    assert listener.parse("lower the fork, then the pen") == Heard(
        "lower the fork, then the pen", "fork", "down"
    )
    assert listener.parse("") == Heard("", None, None)


def test_tally_counts_object_action_and_both_per_pair():
    heard = [Heard("a", "knife", "rotate"), Heard("b", "pen", "rotate"), Heard("c", None, "up"),
             Heard("a", "knife", "rotate")]  # fmt: skip
    truths = [("knife", "rotate"), ("knife", "rotate"), ("fork", "up"), ("knife", "rotate")]
    t = tally(heard, truths)
    assert t["clips"] == 4
    assert t["object"] == pytest.approx(2 / 4) and t["action"] == 1.0
    assert t["both"] == pytest.approx(2 / 4)
    knife = t["per_pair"]["knife:rotate"]
    assert knife["clips"] == 3 and knife["both"] == pytest.approx(2 / 3)
    assert knife["heard"] == {"a": 2, "b": 1}
    assert t["per_pair"]["fork:up"]["both"] == 0.0 and t["per_pair"]["fork:up"]["action"] == 1.0
    with pytest.raises(ValueError, match="transcripts for"):
        tally(heard[:1], truths)


@pytest.mark.slow
def test_both_judges_hear_a_canonical_phrase_and_its_vocoded_copy():
    """Real speech: pocketsphinx and Whisper hear 'rotate the spoon' in the phrase rendering;
    silence is heard as nothing by either."""
    from xmodal.features import get

    listener = Listener(INFO)
    voice = CanonicalVoice.build(INFO, CanonicalSpeechConfig(voice="en", rate=150,
                                                             layout="phrase"))  # fmt: skip
    wave = voice.render("spoon", "rotate")
    for judge in ("grammar", "whisper"):
        heard = listener.hear(wave, judge)
        assert (heard.object, heard.action) == ("spoon", "rotate"), (judge, heard)
    assert listener.hear(np.zeros(32000, np.float32), "whisper").object is None
    truths = [("spoon", "rotate"), ("spoon", "rotate"), ("pen", "up")]
    scores = canonical_scores(listener, voice, get("logmel"), truths, 200, 32)
    for judge in ("grammar", "whisper"):
        assert scores[judge]["clips"] == 3
        assert scores[judge]["per_pair"]["spoon:rotate"]["clips"] == 2
    assert scores["grammar"]["both"] == 1.0
    with pytest.raises(ValueError, match="unknown judge"):
        listener.hear(wave, "human")


@pytest.mark.slow
def test_judging_in_worker_processes_hears_what_judging_here_does(monkeypatch):
    """Speaking log-mel and judging it in a pool of workers, a few clips a task, gives the
    same transcripts in the same order as doing it in this process."""
    from xmodal.features import get
    from xmodal.translate import judges
    from xmodal.translate.speech import canonical_logmel
    from xmodal.workers import worker_pool

    monkeypatch.setattr(judges, "CHUNK", 2)  # 3 tasks for 5 clips
    listener = Listener(INFO)
    voice = CanonicalVoice.build(INFO, CanonicalSpeechConfig(voice="en", rate=150,
                                                             layout="phrase"))  # fmt: skip
    enc = get("logmel")
    pairs = [("spoon", "rotate"), ("pen", "up"), ("fork", "left"), ("knife", "down"),
             ("phone", "right")]  # fmt: skip
    said = [(canonical_logmel(voice, enc, p, 100), 2.0) for p in pairs]
    here = judges.hear_all(listener, said, ("grammar",), speech=(enc, 32))
    with worker_pool(2) as pool:
        there = judges.hear_all(listener, said, ("grammar",), speech=(enc, 32), pool=pool)
    assert [h.text for h in there["grammar"]] == [h.text for h in here["grammar"]]
    assert [(h.object, h.action) for h in here["grammar"]] == pairs
