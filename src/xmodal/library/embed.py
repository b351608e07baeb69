"""How a file becomes segments and vectors: the frozen encoders, the joint space, the windows.

A video or recording is cut into windows of ``segment_seconds`` (a tail shorter than
``min_tail_seconds`` joins the window before it) and decoded in chunks of ``chunk_seconds`` so
memory stays bounded on long files. Per window:

* ``video-frozen``: the frozen video encoder (EfficientNet-Lite0) on ``frames_per_segment``
  frames sampled at the centres of equal sub-spans, mean-pooled, L2-normalised;
* ``audio-frozen``: per-band mean and standard deviation of the log-mel spectrogram, centred
  across bands and L2-normalised (the recording's spectral shape);
* the **transcript** (Whisper tiny.en, :func:`xmodal.features.asr.transcribe`, once per chunk;
  each word goes to the window holding its midpoint) as the segment's text, searched by full
  text, and ``text-frozen`` (MiniLM) of it;
* ``joint`` (when the library has a trained joint space): the mean of the window's video, audio
  and transcript embeddings in the joint space, L2-normalised;
* its **visual tags** (:mod:`xmodal.library.tagging`): the video encoder's ImageNet classes and
  ``face`` from the same frames, their words for full text, and ``tags-frozen`` (MiniLM of the
  tags).

A note (text or Markdown in any common encoding, PDF, Word, HTML: :mod:`xmodal.library.notes`)
is one segment, or several (paragraphs packed up to ``note_chunk_chars``, never across a page
or heading) when long, each with its place ("page 3"); it gets ``text-frozen`` and ``joint``
(text) vectors. YAML front matter (a leading ``---`` block) may give ``date:`` (the entry's
created time) and ``tags:``.

The library's model id names the encoders and the joint model (:meth:`Embedder.model_id`), so
a library is always searched and extended with the encoders it was built with.
"""

from __future__ import annotations

import functools
import math
import os
import re
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from xmodal.features.tags import Tag, TaggerConfig, VisualTagger
from xmodal.library.faces import segment_faces
from xmodal.library.joint import JointModel, open_space
from xmodal.library.notes import chunk_parts, read_note
from xmodal.library.records import Entry, Face, LibraryError, LibraryMeta, Segment
from xmodal.library.tagging import TAG_SPACE, segment_tags, tag_vectors
from xmodal.library.thumbs import Pictures, peaks
from xmodal.types import Modality

if TYPE_CHECKING:
    from xmodal.features.base import Encoder


VIDEO_SPACE, AUDIO_SPACE, TEXT_SPACE, JOINT_SPACE = (
    "video-frozen", "audio-frozen", "text-frozen", "joint",
)  # fmt: skip
PRIMARY_SPACE: dict[Modality, str] = {
    Modality.VIDEO: VIDEO_SPACE, Modality.AUDIO: AUDIO_SPACE, Modality.TEXT: TEXT_SPACE,
}  # fmt: skip
MODEL_PREFIX = "xmodal-library/1"
_LOAD_LOCK = threading.RLock()  # loads encoders and joint spaces one at a time
_SILENCE = 1e-3  # peak amplitude below which a chunk is not sent to speech recognition


def _media_suffixes() -> tuple[str, ...]:
    from xmodal.data.folder import AUDIO_EXTENSIONS, VIDEO_EXTENSIONS

    return tuple(VIDEO_EXTENSIONS) + tuple(AUDIO_EXTENSIONS)


MEDIA_SUFFIXES: tuple[str, ...] = _media_suffixes()


@dataclass
class IngestConfig:
    """How files become segments and vectors.

    The encoder names are part of the library's model id (changing them needs a reindex);
    the other fields may differ between runs.
    """

    segment_seconds: float = 5.0  # window length of audio/video segments
    min_tail_seconds: float = 0.5  # a last window shorter than this joins the one before
    frames_per_segment: int = 4  # frames sampled per window for the video vector
    frame_short_side: int = 256  # decode frames with at most this shorter side (encoder crops)
    chunk_seconds: float = 60.0  # decode + transcribe this much media at a time (memory bound)
    transcribe: bool = True  # speech recognition (Whisper tiny.en) of audio tracks
    note_chunk_chars: int = 1500  # notes longer than this are split at paragraphs
    video_encoder: str = "efficientnet-lite0"  # frozen per-frame encoder (xmodal.features name)
    text_encoder: str = "minilm"  # frozen sentence encoder
    audio_encoder: str | None = "logmel"  # frozen audio encoder for "audio-frozen" (None: off)
    commit_every: int = 32  # entries per store commit
    commit_seconds: float = 5.0  # ... or commit what is ready after this many seconds
    tags: bool = True  # visual tags of video segments (ImageNet head + faces, same frames)
    faces: bool = True  # faces of video segments, described for people (dlib, same frames)
    speaking: bool = False  # decide whether a segment's one face says its words (lip model)
    tagger: TaggerConfig = field(default_factory=TaggerConfig)  # tag thresholds

    def __post_init__(self) -> None:
        if not self.segment_seconds > 0:
            raise ValueError(f"segment_seconds must be > 0, got {self.segment_seconds}")
        if not 0 <= self.min_tail_seconds < self.segment_seconds:
            raise ValueError("min_tail_seconds must be in [0, segment_seconds)")
        if self.frames_per_segment < 1:
            raise ValueError(f"frames_per_segment must be >= 1, got {self.frames_per_segment}")
        if self.frame_short_side < 32:
            raise ValueError(f"frame_short_side must be >= 32, got {self.frame_short_side}")
        if self.chunk_seconds < self.segment_seconds:
            raise ValueError("chunk_seconds must be >= segment_seconds")
        if self.note_chunk_chars < 100:
            raise ValueError(f"note_chunk_chars must be >= 100, got {self.note_chunk_chars}")
        if self.commit_every < 1 or self.commit_seconds < 0:
            raise ValueError("commit_every must be >= 1 and commit_seconds >= 0")


# ----------------------------------------------------------------------------- the embedder


def _unit(x: np.ndarray) -> np.ndarray:
    """L2-normalise the last axis (zero rows stay zero)."""
    x = np.asarray(x, dtype=np.float32)
    norm = np.linalg.norm(x, axis=-1, keepdims=True)
    return (x / np.maximum(norm, 1e-12)).astype(np.float32)


@functools.lru_cache(maxsize=16)
def shared_encoder(name: str) -> Encoder:
    """One encoder per name and process, so every library opened here shares loaded weights
    (they load on first use)."""
    from xmodal import features

    return features.get(name)


def parse_model_id(model_id: str) -> tuple[dict[str, str | None], str | None]:
    """Split a library model id into encoder names per role and the joint model id.

    Args:
        model_id: as written by :meth:`Embedder.model_id`, e.g.
            ``"xmodal-library/1;video=efficientnet-lite0(efficientnet-lite0-224);text=minilm
            (minilm-l6-v2);audio=logmel(...);joint=joint-0123456789ab"``.

    Returns:
        ``({"video": name, "text": name, "audio": name or None}, joint id or None)``.

    Raises:
        LibraryError: not an id written by this module.
    """
    parts = model_id.split(";")
    if parts[0] != MODEL_PREFIX:
        raise LibraryError(
            f"the library's model id {model_id!r} was not written by xmodal's library ingest "
            f"({MODEL_PREFIX}); run `xmodal library reindex` to re-embed it"
        )
    values = dict(p.partition("=")[::2] for p in parts[1:])
    names: dict[str, str | None] = {}
    for role in ("video", "text", "audio"):
        raw = values.get(role, "none")
        names[role] = None if raw == "none" else re.sub(r"\([^()]*\)$", "", raw)
    joint = values.get("joint", "none")
    return names, (None if joint == "none" else joint)


class Embedder:
    """Frozen encoders (+ an optional joint space) that turn files and queries into vectors.

    Encoders load lazily on first use (:meth:`ready`). Several threads may encode with one
    embedder at once (concurrent searches beside an ingest): the weights are only read.

    Args:
        config: encoder names and segmentation settings.
        joint: a loaded joint space, or its run directory, or None.
    """

    def __init__(self, config: IngestConfig, joint: JointModel | str | os.PathLike | None = None):
        self.config = config
        self.video: Encoder = shared_encoder(config.video_encoder)
        self.text: Encoder = shared_encoder(config.text_encoder)
        self.audio: Encoder | None = (
            shared_encoder(config.audio_encoder) if config.audio_encoder else None
        )
        for enc, m in ((self.video, Modality.VIDEO), (self.text, Modality.TEXT),
                       (self.audio, Modality.AUDIO)):  # fmt: skip
            if enc is not None and enc.modality is not m:
                raise ValueError(f"encoder {enc.id!r} reads {enc.modality}, not {m}")
        if joint is None or not isinstance(joint, str | os.PathLike):
            self._joint, self.joint_dir = joint, None
        else:
            self._joint, self.joint_dir = None, Path(joint)
        self.tagger: VisualTagger | None = (
            VisualTagger(self.video, config.tagger) if config.tags else None
        )
        self._describer: Any = None  # the face describer, made on first use

    @property
    def describer(self) -> Any:
        """The :class:`~xmodal.features.identity.FaceDescriber` (dlib's models load on first
        use; ingest asks for it only with ``config.faces``)."""
        if self._describer is None:
            from xmodal.features.identity import FaceDescriber

            with _LOAD_LOCK:
                if self._describer is None:
                    self._describer = FaceDescriber()
        return self._describer

    # ------------------------------------------------------------------ identity

    @property
    def joint(self) -> JointModel | None:
        """The joint space (loaded on first use, once even when threads ask at once), or None."""
        if self._joint is None and self.joint_dir is not None:
            with _LOAD_LOCK:
                if self._joint is None:
                    self._joint = open_space(self.joint_dir)
        return self._joint

    @staticmethod
    def ready(encoder: Encoder) -> Encoder:
        """``encoder`` with its weights loaded: once, even when several threads ask at once
        (concurrent searches, an upload's ingest beside them)."""
        if not encoder.loaded:
            with _LOAD_LOCK:
                encoder.load()
        return encoder

    def spec(self) -> tuple[IngestConfig, str | None] | None:
        """What rebuilds this embedder in another process, ``(config, joint run directory)``;
        None when its joint space was given in memory without a run directory."""
        if not self.has_joint:
            return self.config, None
        run = self.joint_dir if self.joint_dir is not None else self.joint.run_dir  # type: ignore[union-attr]
        return None if run is None else (self.config, str(run))

    @property
    def has_joint(self) -> bool:
        return self._joint is not None or self.joint_dir is not None

    def model_id(self) -> str:
        """``xmodal-library/1;video=NAME(ID);text=NAME(ID);audio=NAME(ID)|none;joint=ID|none``."""
        c = self.config
        parts = [
            MODEL_PREFIX,
            f"video={c.video_encoder}({self.video.id})",
            f"text={c.text_encoder}({self.text.id})",
            f"audio={c.audio_encoder}({self.audio.id})" if self.audio else "audio=none",
            f"joint={self.joint.model_id}" if self.has_joint else "joint=none",  # type: ignore[union-attr]
        ]
        return ";".join(parts)

    def spaces(self) -> dict[str, int]:
        """Embedding space name -> width."""
        spaces = {VIDEO_SPACE: self.video.dim, TEXT_SPACE: self.text.dim}
        if self.audio is not None:
            spaces[AUDIO_SPACE] = 2 * self.audio.dim
        if self.has_joint:
            spaces[JOINT_SPACE] = self.joint.width  # type: ignore[union-attr]
        if self.tagger is not None:
            spaces[TAG_SPACE] = self.text.dim
        return spaces

    def meta(self) -> LibraryMeta:
        """The library meta these vectors belong to."""
        return LibraryMeta(model_id=self.model_id(), spaces=self.spaces())

    def required_spaces(self, modality: Modality) -> set[str]:
        """Spaces at least one segment of a fully embedded entry of ``modality`` has."""
        primary = PRIMARY_SPACE[modality]
        if primary == AUDIO_SPACE and self.audio is None:
            primary = TEXT_SPACE
        return {primary} | ({JOINT_SPACE} if self.has_joint else set())

    # ------------------------------------------------------------------ primitives

    def frame_features(self, clips: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Per-frame features of several frame stacks: ``B x (T_i, H, W, 3)`` -> ``(T_i, D)``."""
        if not clips:
            return []
        self.ready(self.video)
        return list(self.video.extract_batch(list(clips)))

    def audio_features(self, wave: np.ndarray) -> np.ndarray:
        """Frozen audio features ``(T, D)`` of a 16 kHz waveform (the audio encoder's rate)."""
        assert self.audio is not None
        return self.ready(self.audio).extract(np.asarray(wave, np.float32))

    @staticmethod
    def audio_vector(feats: np.ndarray) -> np.ndarray:
        """``(T, D)`` log-mel -> ``(2D,)`` unit vector: per-band mean and std, band-centred."""
        v = np.concatenate([feats.mean(axis=0), feats.std(axis=0)])  # (2D,)
        return _unit(v - v.mean())

    def joint_vectors(
        self,
        video: Sequence[np.ndarray | None],
        audio: Sequence[np.ndarray | None],
        text: Sequence[np.ndarray | None],
        frames: Sequence[np.ndarray | None] | None = None,
    ) -> list[np.ndarray | None]:
        """Fused joint vectors of segments (mean of their modality embeddings, unit norm).

        Args:
            video: per segment, frozen per-frame features ``(T, Dv)`` of ``self.video`` or None.
            audio: per segment, frozen audio features ``(T, Da)`` of ``self.audio`` or None.
            text: per segment, ``(Dt,)`` features of ``self.text`` or None.
            frames: per segment, the frames themselves (needed when the joint space's video
                encoder differs from ``self.video``).

        Returns:
            Per segment, a ``(E,)`` unit vector, or None when it has no modality the space has.
        """
        space = self.joint
        assert space is not None
        n = len(video)
        sums = [np.zeros(space.width, np.float32) for _ in range(n)]
        counts = [0] * n
        inputs: dict[Modality, list[tuple[int, np.ndarray]]] = {m: [] for m in Modality}
        for m, items, mine in ((Modality.VIDEO, video, self.video),
                               (Modality.AUDIO, audio, self.audio),
                               (Modality.TEXT, text, self.text)):  # fmt: skip
            enc = space.encoders.get(m)
            if enc is None:
                continue
            for i, x in enumerate(items):
                if x is None:
                    continue
                if mine is not None and enc.id == mine.id:
                    inputs[m].append((i, x))
                elif m is Modality.VIDEO and frames is not None and frames[i] is not None:
                    inputs[m].append((i, self.ready(enc).extract(frames[i])))
                elif m is Modality.TEXT:
                    continue  # a text encoder mismatch is handled by the caller (raw text)
        for m, pairs in inputs.items():
            if not pairs:
                continue
            emb = space.encode_features(m, [x for _, x in pairs])  # (b, E)
            for (i, _), e in zip(pairs, emb, strict=True):
                sums[i] += e
                counts[i] += 1
        return [_unit(s) if c else None for s, c in zip(sums, counts, strict=True)]

    # ------------------------------------------------------------------ whole files

    def frame_size(self, width: int, height: int) -> tuple[int, int] | None:
        """Decode size ``(H, W)`` with the shorter side at most ``frame_short_side``."""
        short = min(width, height)
        if short <= self.config.frame_short_side or short == 0:
            return None
        scale = self.config.frame_short_side / short
        return max(1, round(height * scale)), max(1, round(width * scale))

    def embed_media(
        self,
        path: Path,
        entry_id: str,
        spans: Sequence[tuple[float, float]] | None = None,
        texts: Sequence[str] | None = None,
        pictures: Pictures | None = None,
    ) -> tuple[Entry, list[Segment]]:
        """Embed a video or audio file.

        Args:
            path: the file.
            entry_id: its content hash.
            spans: keep these segment ``(start, end)`` (reindex); None cuts new windows.
            texts: the segments' stored transcripts (with ``spans``); no recognition then.
            pictures: filled with the segments' thumbnails (video) or the waveform (audio),
                from the frames and audio decoded here (:mod:`xmodal.library.thumbs`).

        Returns:
            The entry and its segments with vectors.

        Raises:
            MediaError: a corrupt, truncated or unsupported file.
        """
        from xmodal.media import MediaError, probe

        info = probe(path)
        cfg = self.config
        if spans is None:
            duration = info.duration
            if duration is None or duration <= 0:
                duration = max(
                    (s.duration or 0.0) for s in (info.video, info.audio) if s is not None
                )
            if not duration or duration <= 0:
                raise MediaError(path, "the file has no duration (no decodable frames/samples)")
            spans = windows(duration, cfg.segment_seconds, cfg.min_tail_seconds)
        spans = [(float(a), float(b)) for a, b in spans]
        modality = Modality.VIDEO if info.has_video else Modality.AUDIO
        n = len(spans)
        frames: list[np.ndarray | None] = [None] * n
        vfeats: list[np.ndarray | None] = [None] * n
        afeats: list[np.ndarray | None] = [None] * n
        seg_texts = list(texts) if texts is not None else [""] * n
        words_all: list[str] = []
        for idx in self._chunks(n):
            c0, c1 = spans[idx[0]][0], spans[idx[-1]][1]
            if info.has_video:
                self._chunk_frames(path, info, spans, idx, frames)
            if info.has_audio:
                envelope = None if pictures is None or info.has_video else pictures.envelope
                words = self._chunk_audio(path, spans, idx, afeats, seg_texts, c0, c1,
                                          transcribe=texts is None,
                                          envelope=envelope)  # fmt: skip
                words_all += words
        have = [i for i in range(n) if frames[i] is not None]
        for i, f in zip(have, self.frame_features([frames[i] for i in have]), strict=True):
            vfeats[i] = f
        if modality is Modality.VIDEO and not have:
            raise MediaError(path, "no decodable video frames")
        faces: list[list[Face] | None] = [None] * n
        if modality is Modality.VIDEO and self.config.faces:
            faces = segment_faces(self.describer, frames, pictures)
        if pictures is not None:
            pictures.add_frames(frames)
            pictures.finish(video=modality is Modality.VIDEO)
        segments = self._segments(entry_id, spans, seg_texts, frames, vfeats, afeats,
                                  tagged=modality is Modality.VIDEO)  # fmt: skip
        for segment, seen in zip(segments, faces, strict=True):
            segment.faces = seen
        if modality is Modality.VIDEO and self.config.faces and self.config.speaking:
            from xmodal.library.speaking import decidable, mark_speakers, speaking_segments

            ask = [decidable(t, f) for t, f in zip(seg_texts, faces, strict=True)]
            mark_speakers(faces, speaking_segments(path, spans, ask))
        stat = path.stat()
        entry = Entry(
            id=entry_id,
            path=str(path),
            modality=modality,
            created=stat.st_mtime,
            modified=stat.st_mtime,
            duration=float(spans[-1][1]),
            text=" ".join(words_all) if texts is None else " ".join(t for t in texts if t),
        )
        return entry, segments

    def draw(
        self, path: Path, spans: Sequence[tuple[float, float]], faces: bool = False
    ) -> Pictures:
        """The pictures of a stored video or recording (``library reindex --thumbnails``):
        the same frames and audio ingest decodes for them, chunk by chunk, and nothing else;
        with ``faces``, a video's faces too (``Pictures.seen``; ``reindex --faces``).

        Raises:
            MediaError: a missing, corrupt or unsupported file.
        """
        from xmodal.media import probe, read_audio

        info = probe(path)
        spans = [(float(a), float(b)) for a, b in spans]
        pictures = Pictures()
        frames: list[np.ndarray | None] = [None] * len(spans)
        if faces and info.has_video:
            pictures.seen = [None] * len(spans)
        for idx in self._chunks(len(spans)):
            if info.has_video:
                self._chunk_frames(path, info, spans, idx, frames)
                pictures.add_frames(frames, idx)
                if pictures.seen is not None:
                    found = segment_faces(self.describer, [frames[i] for i in idx], pictures, idx)
                    for i, seen in zip(idx, found, strict=True):
                        pictures.seen[i] = seen
                for i in idx:
                    frames[i] = None  # memory stays bounded on long files
            elif info.has_audio:
                c0, c1 = spans[idx[0]][0], spans[idx[-1]][1]
                pictures.envelope.append(peaks(read_audio(path, 16000, start=c0, end=c1), 16000))
        pictures.finish(video=info.has_video)
        return pictures

    def _chunks(self, n: int) -> Iterator[list[int]]:
        """The indices of ``n`` windows, ``chunk_seconds`` of media at a time (decoded and
        transcribed together, so memory stays bounded on long files)."""
        per_chunk = max(1, int(self.config.chunk_seconds // self.config.segment_seconds))
        for c in range(0, n, per_chunk):
            yield list(range(c, min(n, c + per_chunk)))

    def _chunk_frames(
        self,
        path: Path,
        info: Any,
        spans: list[tuple[float, float]],
        idx: list[int],
        out: list[np.ndarray | None],
    ) -> None:
        """Decode ``frames_per_segment`` frames for each window in ``idx`` into ``out``."""
        from xmodal.media import read_video

        cfg = self.config
        span_len = min(cfg.segment_seconds, max(spans[-1][1], 1e-3))
        fps = cfg.frames_per_segment / span_len
        c0, c1 = spans[idx[0]][0], spans[idx[-1]][1]
        size = self.frame_size(info.video.width, info.video.height)
        stack = read_video(path, fps=fps, size=size, start=c0 + 0.5 / fps, end=c1)  # (T,H,W,3)
        if len(stack) == 0:
            stack = read_video(path, size=size, start=c0, end=c1, max_frames=1)
        if len(stack) == 0:
            return
        times = c0 + (np.arange(len(stack)) + 0.5) / fps  # (T,) sample times
        for i in idx:
            a, b = spans[i]
            inside = np.flatnonzero((times >= a) & (times < b))
            if len(inside) == 0:  # a short window between samples: its nearest frame
                inside = np.array([int(np.argmin(np.abs(times - (a + b) / 2)))])
            out[i] = stack[inside]

    def _chunk_audio(
        self,
        path: Path,
        spans: list[tuple[float, float]],
        idx: list[int],
        afeats: list[np.ndarray | None],
        texts: list[str],
        c0: float,
        c1: float,
        transcribe: bool,
        envelope: list[np.ndarray] | None = None,
    ) -> list[str]:
        """Decode one chunk of audio: per-window features, and (optionally) the transcript
        and (into ``envelope``) its peak amplitudes for the waveform.

        Returns:
            The chunk's transcript as Whisper wrote it (cased, punctuated), as a one-item list
            (empty when nothing was said or nothing was transcribed).
        """
        from xmodal.media import read_audio

        sr = 16000
        wave = read_audio(path, sample_rate=sr, start=c0, end=c1)  # (N,)
        if envelope is not None:
            envelope.append(peaks(wave, sr))
        if self.audio is not None:
            rate = int(getattr(self.audio, "sample_rate", sr))
            if rate != sr:
                raise ValueError(f"audio encoder {self.audio.id} must read 16 kHz audio")
            for i in idx:
                a, b = spans[i]
                piece = wave[round((a - c0) * sr) : round((b - c0) * sr)]
                if len(piece) >= 2:
                    afeats[i] = self.audio_features(piece)
        said: list[str] = []
        if transcribe and self.config.transcribe and len(wave) and np.abs(wave).max() > _SILENCE:
            from xmodal.features.asr import transcribe as whisper

            transcript = whisper(wave, sample_rate=sr)
            per_window: dict[int, list[str]] = {i: [] for i in idx}
            for w in transcript.words:
                mid = c0 + (w.start + w.end) / 2
                i = next((j for j in idx if spans[j][0] <= mid < spans[j][1]), idx[-1])
                per_window[i].append(w.word)
            for i in idx:
                texts[i] = " ".join(per_window[i])
            said = [transcript.text] if transcript.text else []
        return said

    def _segments(
        self,
        entry_id: str,
        spans: list[tuple[float, float]],
        texts: list[str],
        frames: list[np.ndarray | None],
        vfeats: list[np.ndarray | None],
        afeats: list[np.ndarray | None],
        tagged: bool = False,
    ) -> list[Segment]:
        """Vectors of every space for each window (and its tags, when ``tagged``), as segments."""
        n = len(spans)
        tags: list[list[Tag] | None] = [None] * n
        texts_of_tags = [""] * n
        tvecs: list[np.ndarray | None] = [None] * n
        if tagged and self.tagger is not None:
            tags, texts_of_tags = segment_tags(self.tagger, vfeats, frames)  # type: ignore[assignment]
            tvecs = tag_vectors(tags, self.ready(self.text), self.tagger)
        spoken = [i for i in range(n) if texts[i].strip()]
        tfeat: list[np.ndarray | None] = [None] * n
        if spoken:
            raw = self.ready(self.text).extract([texts[i] for i in spoken])  # (b, Dt)
            for i, row in zip(spoken, raw, strict=True):
                tfeat[i] = row
        joint: list[np.ndarray | None] = [None] * n
        if self.has_joint:
            joint = self.joint_vectors(vfeats, afeats, tfeat, frames)
        segments = []
        for i, (a, b) in enumerate(spans):
            vectors: dict[str, np.ndarray] = {}
            if vfeats[i] is not None:
                vectors[VIDEO_SPACE] = _unit(vfeats[i].mean(axis=0))  # type: ignore[union-attr]
            if afeats[i] is not None:
                vectors[AUDIO_SPACE] = self.audio_vector(afeats[i])  # type: ignore[arg-type]
            if tfeat[i] is not None:
                vectors[TEXT_SPACE] = _unit(tfeat[i])  # type: ignore[arg-type]
            if joint[i] is not None:
                vectors[JOINT_SPACE] = joint[i]  # type: ignore[assignment]
            if tvecs[i] is not None:
                vectors[TAG_SPACE] = tvecs[i]  # type: ignore[assignment]
            segments.append(
                Segment(entry_id, i, a, b, texts[i], vectors, tags[i], texts_of_tags[i])
            )
        return segments

    def read_note(self, path: Path, entry_id: str) -> tuple[Entry, list[str], list[str]]:
        """Read a note file (:func:`~xmodal.library.notes.read_note`) and chunk it.

        Returns:
            ``(entry, chunks, places)``: the entry (its text the chunks joined by blank
            lines), the segment texts and each one's place.

        Raises:
            MediaError: unreadable, binary, a broken document, or no text to index.
        """
        from xmodal.media import MediaError

        note = read_note(path)
        chunks, places = chunk_parts(note.parts, self.config.note_chunk_chars)
        if not chunks:
            raise MediaError(path, "empty note (no text to index)")
        stat = path.stat()
        entry = Entry(
            id=entry_id,
            path=str(path),
            modality=Modality.TEXT,
            created=note.created or stat.st_mtime,
            modified=stat.st_mtime,
            duration=None,
            text="\n\n".join(chunks),
            tags=list(note.tags),
            encoding=note.encoding,
        )
        return entry, chunks, places

    def embed_note(
        self,
        path: Path,
        entry_id: str,
        chunks: Sequence[str] | None = None,
        places: Sequence[str] | None = None,
        first: int = 0,
    ) -> tuple[Entry, list[Segment]]:
        """Embed a note (text, Markdown, PDF, Word, HTML): its chunks' ``text-frozen`` and
        ``joint`` vectors.

        Args:
            path: the note file.
            entry_id: its content hash.
            chunks: the segment texts when known (a reindex, or one part of a big note split
                across workers); else the file is read (:meth:`read_note`).
            places: the chunks' places (with ``chunks``; default ``""`` each).
            first: the first chunk's segment index (a part of a split note).

        Returns:
            ``(entry, segments)``; with ``chunks`` given, the entry describes only them (its
            text is theirs) and callers keep the entry they have.

        Raises:
            MediaError: unreadable, binary, a broken document, or empty.
        """
        if chunks is None:
            entry, chunks, places = self.read_note(path, entry_id)
        else:
            chunks = list(chunks)
            stat = path.stat() if path.exists() else None
            created = stat.st_mtime if stat else time.time()
            entry = Entry(id=entry_id, path=str(path), modality=Modality.TEXT, created=created,
                          modified=created, duration=None, text="\n\n".join(chunks))  # fmt: skip
        places = list(places) if places is not None else [""] * len(chunks)
        tfeat = self.ready(self.text).extract(chunks)  # (S, Dt)
        joint: list[np.ndarray | None] = [None] * len(chunks)
        if self.has_joint and Modality.TEXT in self.joint.encoders:  # type: ignore[union-attr]
            space = self.joint
            assert space is not None
            if space.encoders[Modality.TEXT].id == self.text.id:
                emb = space.encode_features(Modality.TEXT, list(tfeat))
            else:
                emb = space.encode_text(chunks)
            joint = list(_unit(emb))
        segments = []
        for i, (chunk, place, row) in enumerate(zip(chunks, places, tfeat, strict=True)):
            vectors = {TEXT_SPACE: _unit(row)}
            if joint[i] is not None:
                vectors[JOINT_SPACE] = joint[i]  # type: ignore[assignment]
            segments.append(Segment(entry_id, first + i, 0.0, 0.0, chunk, vectors, place=place))
        return entry, segments

    def text_only_segments(self, entry_id: str, segments: Sequence[Segment]) -> list[Segment]:
        """Rebuild only the text vectors of stored segments (their media file is gone); their
        tags are kept (and their ``tags-frozen`` vectors rebuilt from them)."""
        tvecs: list[np.ndarray | None] = [None] * len(segments)
        if self.tagger is not None:
            tvecs = tag_vectors([s.tags for s in segments], self.ready(self.text), self.tagger)
        texts = [s.text for s in segments]
        spoken = [i for i, t in enumerate(texts) if t.strip()]
        text = self.ready(self.text)
        tfeat = text.extract([texts[i] for i in spoken]) if spoken else np.zeros((0, 1))
        joint: list[np.ndarray | None] = [None] * len(segments)
        if spoken and self.has_joint and Modality.TEXT in self.joint.encoders:  # type: ignore[union-attr]
            space = self.joint
            assert space is not None
            emb = space.encode_features(Modality.TEXT, list(tfeat))
            for i, e in zip(spoken, emb, strict=True):
                joint[i] = _unit(e)
        out = []
        by_i = dict(zip(spoken, tfeat, strict=True))
        for i, s in enumerate(segments):
            vectors: dict[str, np.ndarray] = {}
            if i in by_i:
                vectors[TEXT_SPACE] = _unit(by_i[i])
            if joint[i] is not None:
                vectors[JOINT_SPACE] = joint[i]  # type: ignore[assignment]
            if tvecs[i] is not None:
                vectors[TAG_SPACE] = tvecs[i]  # type: ignore[assignment]
            out.append(Segment(entry_id, s.index, s.start, s.end, s.text, vectors, s.tags,
                               s.tag_text, s.place))  # fmt: skip
        return out


# ----------------------------------------------------------------------------- helpers


def windows(duration: float, seconds: float, min_tail: float = 0.5) -> list[tuple[float, float]]:
    """Cut ``[0, duration)`` into windows of ``seconds``; a tail shorter than ``min_tail``
    joins the window before it.

    Returns:
        ``[(start, end), ...]`` covering the duration exactly (at least one window).
    """
    duration = float(duration)
    n = max(1, math.ceil(duration / seconds - 1e-9))
    edges = [i * seconds for i in range(n)] + [duration]
    if n > 1 and duration - edges[-2] < min_tail:
        del edges[-2]
    return [(edges[i], edges[i + 1]) for i in range(len(edges) - 1)]
