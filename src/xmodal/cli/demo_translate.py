"""The translation stages of ``xmodal demo``: fit, judge, and speak one held-out clip.

The pipeline chosen on val (the structured model; docs/studies.md) is fitted in a worker
process through the same code as ``xmodal train translate`` while the demo builds its memory
library and judges the vocoder ceilings, then judged on the test and held-out clips through
the same code as ``xmodal eval translate``, with a process per core speaking and judging. One
held-out clip is then spoken to ``said.wav`` with a picture of what was said (``said.png``). A
rerun reuses finished runs and judgements.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

# the best pipeline on val (docs/studies.md); `--model` of train translate
DEMO_MODEL = "structured"
SPLITS = ("test", "heldout")
# clips of each pair the demo judges: all 2 test clips of a seen pair, 8 of the 20 held-out clips
# of an unseen one (judging is a third of the demo's time; `xmodal eval translate` judges all)
JUDGE_PER_PAIR = 8
QUICK_ENCODER = "efficientnet-lite0-spatial:image_size=64,crop=1.0,grid=2"


def demo_config(quick: bool = False) -> Any:
    """The demo's :class:`TranslationConfig`: ``xmodal train translate --model structured``'s
    defaults, or for a smoke run (numbers mean nothing) the thesis study's quick pipeline with a
    small spatial encoder (the structured model reads its position map) and 30 steps."""
    from xmodal.evaluation.studies.thesis import ThesisStudyConfig
    from xmodal.training.loop import TrainConfig
    from xmodal.translate import model_config

    if not quick:
        return model_config(DEMO_MODEL)
    steps = TrainConfig(max_steps=30, batch_size=32, eval_every=15, log_every=5)
    base = dataclasses.replace(ThesisStudyConfig.quick().pipeline, video_encoder=QUICK_ENCODER,
                               structured_train=steps)  # fmt: skip
    return model_config(DEMO_MODEL, base)


def config_digest(config: Any) -> str:
    """12 hex digits of a :class:`TranslationConfig`'s settings: the demo keys its run and its
    cached ceilings by them, so a rerun after the defaults change (a new voice, encoder or
    training length) fits and judges anew instead of reusing results of other settings."""
    import hashlib
    import json

    from xmodal.config import to_dict

    text = json.dumps(to_dict(config), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def run_dir(translate_dir: Path, config: Any) -> Path:
    """Where the demo fits ``config``: ``translate_dir/structured-<config digest>``."""
    return translate_dir / f"{DEMO_MODEL}-{config_digest(config)}"


def _fit(world: str, run: str, config: dict[str, Any], seed: int) -> str:
    """A worker's job: fit a pipeline into ``run`` (a finished one is reused)."""
    from xmodal.config import from_dict
    from xmodal.translate import PIPELINE_FILE, TranslationConfig, TranslationPipeline

    if not (Path(run) / PIPELINE_FILE).is_file():
        cfg = from_dict(TranslationConfig, config)
        TranslationPipeline.fit(world, run, cfg, seed=seed, progress=False)
    return run


def start_fit(pool: Any, world: Path, run: Path, config: Any, *, seed: int = 0) -> Any:
    """Submit the fit of ``config``'s pipeline to ``pool`` (a future of the run directory)."""
    from xmodal.config import to_dict

    return pool.submit(_fit, str(world), str(run), to_dict(config), seed)


def judge_run(world: Path, run: Path, splits: tuple[str, ...] = SPLITS, *,
              workers: int | None = None, per_pair: int | None = JUDGE_PER_PAIR,
              progress: bool = True) -> dict[str, Any]:  # fmt: skip
    """Judge the first ``per_pair`` clips of each pair of a fitted run's ``splits`` as
    ``xmodal eval translate --per-pair`` does, into ``run/eval/``, with ``workers`` processes
    speaking and judging (default: every core); a finished judgement is reused.

    Returns:
        ``{"label", "splits": {split: eval translate's scores}}``.
    """
    from xmodal.translate.evaluate import evaluate_translation
    from xmodal.utils import default_workers, read_json

    out = run / "eval"
    done = read_json(out / "results.json") if (out / "results.json").is_file() else None
    if done is None or set(done["splits"]) != set(splits) or done.get("per_pair") != per_pair:
        done = evaluate_translation(run, world, out, splits, ceilings=False,
                                    workers=workers or default_workers(), per_pair=per_pair,
                                    progress=progress)  # fmt: skip
    return {"label": done["label"], "splits": {s: done["splits"][s] for s in splits}}


def judge_ceilings(world: Path, out: Path, config: Any, *, splits: tuple[str, ...] = SPLITS,
                   per_pair: int | None = JUDGE_PER_PAIR,
                   progress: bool = True) -> dict[str, Any]:  # fmt: skip
    """Both listeners' vocoder ceilings of the clips :func:`judge_run` judges (cached in
    ``out/ceilings-<config digest>-<per_pair>.json``: they depend on the voice); the clips' own
    audio is judged by ``xmodal eval translate``, not in the demo (it costs a minute of the
    demo's five)."""
    from xmodal.translate import load_clip_features
    from xmodal.translate.judges import ceiling_scores
    from xmodal.utils import read_json, write_json

    path = out / f"ceilings-{config_digest(config)}-{per_pair or 'all'}.json"
    if path.is_file():
        return read_json(path)
    feats = load_clip_features(world, config, progress=False)
    ceilings = {s: ceiling_scores(feats, s, config, own_audio=False, progress=progress,
                                  per_pair=per_pair) for s in splits}  # fmt: skip
    write_json(path, ceilings)
    return ceilings


def speak_clip(run: Path, world: Path, clip: dict[str, Any], out: Path) -> dict[str, Any]:
    """Speak one clip with a fitted run: ``said.wav``, what each judge heard, and ``said.png``
    (frames, predicted and canonical log-mel) in ``out``.

    Returns:
        ``{"wav", "png", "heard": {judge: transcript}, "canonical": phrase}``.
    """
    from xmodal.media import write_wav
    from xmodal.translate import CanonicalVoice, TranslationPipeline
    from xmodal.translate.evaluate import plot_clip
    from xmodal.translate.judges import JUDGES, Listener
    from xmodal.translate.speech import canonical_logmel
    from xmodal.types import Modality

    pipe = TranslationPipeline.load(run)
    said = pipe.translate_file(world / clip["path"])
    write_wav(out / "said.wav", said.wave, 16000)
    listener = Listener(pipe.meta["world"])
    heard = {judge: listener.hear(said.wave, judge).text for judge in JUDGES}
    pair = (clip["object"], clip["action"])
    voice = CanonicalVoice.build(pipe.meta["world"], pipe.config.canonical)
    canonical = canonical_logmel(voice, pipe.encoder(Modality.AUDIO), pair,
                                 pipe.config.speech_steps)  # fmt: skip
    title = f"{clip['id']}: {pair[0]}, {pair[1]} (held out) → {pipe.label}"
    png = plot_clip(out / "said.png", said.frames, said.logmel, canonical, heard=heard, title=title)
    return {"wav": out / "said.wav", "png": png, "heard": heard,
            "canonical": listener.phrases[pair]}  # fmt: skip


def pick_heldout_clip(world_dir: Path) -> dict[str, Any]:
    """The first held-out (knife, rotate) clip, else the first held-out clip."""
    from xmodal.data.manifest import read_manifest

    rows = [r for r in read_manifest(world_dir) if r["split"] == "heldout"]
    if not rows:
        raise ValueError(f"{world_dir}: the world has no held-out clips")
    knife = [r for r in rows if (r["object"], r["action"]) == ("knife", "rotate")]
    return (knife or rows)[0]
