"""The translation stages of ``xmodal demo``: fit, judge, and speak one held-out clip.

The pipeline chosen on val (the raw-feature baseline; docs/studies.md) is fitted in a worker
process through the same code as ``xmodal train translate`` and judged on the test and held-out
clips through the same code as ``xmodal eval translate``, while the demo builds its memory
library; the ceilings are judged once, in the demo's process. One held-out clip is then spoken
to ``said.wav`` with a picture of what was said (``said.png``). A rerun reuses finished runs
and judgements.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

DEMO_MODEL = "raw"  # the best pipeline on val (docs/studies.md); `--model` of train translate
SPLITS = ("test", "heldout")


def demo_config(quick: bool = False) -> Any:
    """The demo's :class:`TranslationConfig`: the defaults, or tiny models on 8×8 pixels for a
    smoke run (numbers mean nothing)."""
    from xmodal.training.loop import TrainConfig
    from xmodal.translate import TranslationConfig

    if not quick:
        return TranslationConfig(source="raw")
    loop = TrainConfig(max_steps=30, batch_size=32, eval_every=15, log_every=5)
    return TranslationConfig(source="raw", video_encoder="pixels:height=8,width=8", video_fps=None,
                             video_pca=8, audio_pca=4, speech_steps=40, griffin_lim_iters=8,
                             vae_train=loop, translator_train=loop)  # fmt: skip


def _fit_and_judge(world: str, run: str, config: dict[str, Any], seed: int,
                   splits: tuple[str, ...]) -> dict[str, Any]:  # fmt: skip
    """One worker's job: fit a pipeline (or reuse a finished one) and judge its speech."""
    from xmodal.config import from_dict
    from xmodal.translate import PIPELINE_FILE, TranslationConfig, TranslationPipeline
    from xmodal.translate.evaluate import evaluate_translation
    from xmodal.utils import read_json

    report = Path(run) / "eval" / "results.json"
    if report.is_file():
        return read_json(report)
    if not (Path(run) / PIPELINE_FILE).is_file():
        cfg = from_dict(TranslationConfig, config)
        TranslationPipeline.fit(world, run, cfg, seed=seed, progress=False)
    return evaluate_translation(run, world, Path(run) / "eval", splits, ceilings=False,
                                progress=False)  # fmt: skip


def start_fit_and_judge(pool: Any, world: Path, run: Path, config: Any, *, seed: int = 0,
                        splits: tuple[str, ...] = SPLITS) -> Any:  # fmt: skip
    """Submit the fit and the judging of ``config``'s pipeline to ``pool``; the future's result
    is what ``xmodal eval translate`` writes (``run/eval/results.json``)."""
    from xmodal.config import to_dict

    return pool.submit(_fit_and_judge, str(world), str(run), to_dict(config), seed, splits)


def judge_ceilings(world: Path, out: Path, config: Any, *, splits: tuple[str, ...] = SPLITS,
                   progress: bool = True) -> dict[str, Any]:  # fmt: skip
    """Both listeners' ceilings of ``splits`` (cached in ``out/ceilings.json``)."""
    from xmodal.translate import load_clip_features
    from xmodal.translate.judges import ceiling_scores
    from xmodal.utils import read_json, write_json

    path = out / "ceilings.json"
    if path.is_file():
        return read_json(path)
    feats = load_clip_features(world, config, progress=False)
    ceilings = {s: ceiling_scores(feats, s, config, progress=progress) for s in splits}
    write_json(path, ceilings)
    return ceilings


def speak_clip(run: Path, world: Path, clip: dict[str, Any], out: Path) -> dict[str, Any]:
    """Speak one clip with a fitted run: ``said.wav``, what each judge heard, and ``said.png``
    (frames, predicted and canonical log-mel) in ``out``.

    Returns:
        ``{"wav", "png", "heard": {judge: transcript}, "canonical": phrase}``.
    """
    from xmodal.data.manifest import read_dataset_info
    from xmodal.features.preprocess import segment
    from xmodal.media import read_video, write_wav
    from xmodal.translate import CanonicalVoice, TranslationPipeline
    from xmodal.translate.evaluate import plot_clip
    from xmodal.translate.judges import JUDGES, Listener
    from xmodal.types import Modality

    pipe = TranslationPipeline.load(run)
    path = world / clip["path"]
    frames = read_video(path, fps=pipe.config.video_fps)
    logmel = pipe.translate_features([pipe.encoder(Modality.VIDEO).extract(frames)])[0]
    wave = pipe.speak(logmel, float(clip["duration"]))
    write_wav(out / "said.wav", wave, 16000)
    info = read_dataset_info(world)
    listener = Listener(info)
    heard = {judge: listener.hear(wave, judge).text for judge in JUDGES}
    pair = (clip["object"], clip["action"])
    voice = CanonicalVoice.build(info, pipe.config.canonical)
    enc = pipe.encoder(Modality.AUDIO)
    canonical = segment(enc.extract(voice.render(*pair)), pipe.config.speech_steps)
    title = f"{clip['id']}: {pair[0]}, {pair[1]} (held out) → {pipe.label}"
    png = plot_clip(out / "said.png", frames, logmel, canonical, heard=heard, title=title)
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
