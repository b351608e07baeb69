"""Tests for xmodal.media: round trips through H.264/AAC/WAV, resampling, rotation, bad inputs."""

from __future__ import annotations

import pickle
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import soundfile

from xmodal.media import (
    MediaError,
    RawAudioFormat,
    probe,
    read_audio,
    read_video,
    write_mp4,
    write_wav,
)

SR = 16000
FPS = 8
T, H, W = 16, 64, 96
# One solid colour per frame, far apart so a decoded frame maps back to exactly one of them.
COLOURS = np.array([[(i * 37) % 256, (100 + i * 71) % 256, (200 - i * 13) % 256] for i in range(T)])


def sine(freq: float, seconds: float, amplitude: float = 0.5, sr: int = SR) -> np.ndarray:
    return (amplitude * np.sin(2 * np.pi * freq * np.arange(round(seconds * sr)) / sr)).astype(
        np.float32
    )


def frame_indices(video: np.ndarray) -> list[int]:
    """For each decoded frame, the index of the nearest original solid colour."""
    means = video.reshape(len(video), -1, 3).mean(axis=1)  # (T, 3)
    return np.abs(means[:, None, :] - COLOURS[None, :, :]).sum(-1).argmin(1).tolist()


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """2 s clip: 16 solid-colour 64x96 frames at 8 fps + a 440 Hz sine at 16 kHz."""
    frames = np.broadcast_to(COLOURS[:, None, None, :], (T, H, W, 3)).astype(np.uint8)
    path = tmp_path_factory.mktemp("clip") / "clip.mp4"
    write_mp4(path, frames, FPS, sine(440, 2.0), SR)
    return path


def test_round_trip_probe(clip: Path) -> None:
    info = probe(clip)
    assert info.path == clip and "mp4" in info.format_name
    assert info.duration == pytest.approx(2.0, abs=0.05)
    assert info.has_video and info.has_audio
    v, a = info.video, info.audio
    assert (v.width, v.height, v.fps, v.n_frames, v.codec, v.rotation) == (W, H, 8.0, 16, "h264", 0)
    assert v.duration == pytest.approx(2.0, abs=1e-3)
    assert (a.sample_rate, a.channels, a.codec) == (SR, 1, "aac")
    assert a.duration == pytest.approx(2.0, abs=0.05)
    assert sorted(p.name for p in clip.parent.iterdir()) == ["clip.mp4"]  # no temp file left


def test_round_trip_video_keeps_frames_and_colours(clip: Path) -> None:
    video = read_video(clip)
    assert video.shape == (T, H, W, 3) and video.dtype == np.uint8
    means = video.reshape(T, -1, 3).mean(axis=1)
    np.testing.assert_allclose(means, COLOURS, atol=6)  # H.264 + 4:2:0 are lossy
    assert frame_indices(video) == list(range(T))


def test_round_trip_audio_is_the_sine(clip: Path) -> None:
    audio = read_audio(clip, SR)
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert abs(len(audio) - 2 * SR) <= 0.01 * SR  # AAC priming and tail padding trimmed
    spectrum = np.abs(np.fft.rfft(audio))
    assert np.argmax(spectrum) * SR / len(audio) == pytest.approx(440, abs=2)
    assert np.sqrt(np.mean(audio**2)) == pytest.approx(0.5 / np.sqrt(2), rel=0.1)
    # at another rate the length scales and the tone stays put
    audio8k = read_audio(clip, 8000)
    assert abs(len(audio8k) - 16000) <= 400
    assert np.argmax(np.abs(np.fft.rfft(audio8k))) * 8000 / len(audio8k) == pytest.approx(
        440, abs=2
    )


def test_read_video_resamples_by_timestamp(clip: Path) -> None:
    down = read_video(clip, fps=4)
    assert down.shape == (8, H, W, 3)
    assert frame_indices(down) == list(range(0, T, 2))
    up = read_video(clip, fps=16)
    assert up.shape == (32, H, W, 3)
    assert frame_indices(up) == [i // 2 for i in range(32)]
    odd = read_video(clip, fps=3)  # t_k = k/3 -> latest frame at or before: floor(8 k / 3)
    assert frame_indices(odd) == [(8 * k) // 3 for k in range(6)]


def test_read_video_size_and_range(clip: Path) -> None:
    small = read_video(clip, size=(32, 48))
    assert small.shape == (T, 32, 48, 3)
    assert frame_indices(small) == list(range(T))
    part = read_video(clip, start=0.5, end=1.0)
    assert frame_indices(part) == [4, 5, 6, 7]
    part_fps = read_video(clip, fps=4, start=0.5, end=1.5)
    assert frame_indices(part_fps) == [4, 6, 8, 10]
    assert frame_indices(read_video(clip, fps=2, max_frames=3)) == [0, 4, 8]
    assert read_video(clip, start=5.0).shape == (0, H, W, 3)
    with pytest.raises(ValueError, match="fps"):
        read_video(clip, fps=0)


def test_read_audio_range_matches_full_read(clip: Path) -> None:
    full = read_audio(clip)
    part = read_audio(clip, start=0.5, end=1.25)
    assert len(part) == round(0.75 * SR)
    np.testing.assert_allclose(part, full[SR // 2 : SR // 2 + len(part)], atol=0.02)


def test_write_mp4_pads_odd_sizes_and_writes_silent_clips(tmp_path: Path) -> None:
    frames = np.full((4, 63, 95, 3), 128, dtype=np.uint8)
    path = tmp_path / "odd.mp4"
    write_mp4(path, frames, 4)
    info = probe(path)
    assert (info.video.height, info.video.width, info.video.n_frames) == (64, 96, 4)
    assert not info.has_audio
    with pytest.raises(MediaError, match="no audio stream") as err:
        read_audio(path)
    assert err.value.path == path
    with pytest.raises(ValueError, match="uint8"):
        write_mp4(tmp_path / "bad.mp4", frames.astype(np.float32), 4)
    with pytest.raises(ValueError, match="preset"):
        write_mp4(tmp_path / "bad.mp4", frames, 4, preset="fastest")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["odd.mp4"]


def test_write_mp4_is_byte_deterministic(tmp_path: Path) -> None:
    """The same frames always give the same file (x264's mbtree assembly did not, see write_mp4)."""
    import cv2

    rng = np.random.default_rng(0)
    y, x = np.mgrid[:64, :64]
    clips = []
    for seed in range(6):  # a moving disc over a gradient, with a little noise
        background = (np.stack([x * 2 + seed, y * 3, x + y], -1) % 256).astype(np.uint8)
        frames = []
        for t in range(8):
            f = background.copy()
            cv2.circle(f, (10 + 5 * t, 20 + 3 * t), 9, (200, 50, 50), -1, lineType=cv2.LINE_AA)
            frames.append(np.clip(f + rng.normal(0, 3, f.shape), 0, 255).astype(np.uint8))
        clips.append(np.stack(frames))  # (8, 64, 64, 3)
    for i, frames in enumerate(clips):
        first = tmp_path / f"{i}.mp4"
        write_mp4(first, frames, 8)
        for again in range(3):
            write_mp4(tmp_path / "again.mp4", frames, 8)
            assert (tmp_path / "again.mp4").read_bytes() == first.read_bytes(), (i, again)


def test_write_wav_round_trip(tmp_path: Path) -> None:
    audio = sine(1000, 0.5, amplitude=0.8)
    path = tmp_path / "tone.wav"
    write_wav(path, audio, SR)
    assert soundfile.info(path).subtype == "PCM_16"
    back = read_audio(path, SR)
    assert back.shape == audio.shape
    np.testing.assert_allclose(back, audio, atol=1e-4)  # 16-bit quantisation only
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tone.wav"]


def test_stereo_downmix_is_the_channel_mean_and_stays_in_range(tmp_path: Path) -> None:
    left, right = sine(300, 0.5, 0.99), sine(300, 0.5, 0.5)
    path = tmp_path / "stereo.wav"
    soundfile.write(path, np.stack([left, right], axis=1), SR, subtype="FLOAT")
    mono = read_audio(path, SR)
    np.testing.assert_allclose(mono, (left + right) / 2, atol=1e-5)
    assert np.abs(mono).max() <= 1.0


# ----------------------------------------------------------------------------- bad inputs


def _truncated(src: Path, dst: Path) -> Path:
    data = src.read_bytes()
    dst.write_bytes(data[: int(len(data) * 0.3)])
    return dst


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("missing", "no such file"),
        ("directory", "directory"),
        ("empty", "empty file"),
        ("text", "not a readable media file"),
        ("truncated_moov_at_end", "not a readable media file"),
        ("truncated_moov_at_start", "truncated file"),
    ],
)
@pytest.mark.parametrize("reader", [probe, read_video, read_audio])
def test_bad_inputs_raise_media_error(
    tmp_path: Path, shared_media: Path, capfd: pytest.CaptureFixture[str], case, reason, reader
) -> None:
    path = {
        "missing": tmp_path / "missing.mp4",
        "directory": tmp_path,
        "empty": tmp_path / "empty.mp4",
        "text": tmp_path / "notes.mp4",
        "truncated_moov_at_end": tmp_path / "chaplin_cut.mp4",
        "truncated_moov_at_start": tmp_path / "fire2_cut.mp4",
    }[case]
    if case == "empty":
        path.touch()
    elif case == "text":
        path.write_text("this is a text file, not a video\n" * 20)
    elif case == "truncated_moov_at_end":
        _truncated(shared_media / "mx01_moviepy_chaplin.mp4", path)
    elif case == "truncated_moov_at_start":
        _truncated(shared_media / "mx02_moviepy_fire2.mp4", path)
    with pytest.raises(MediaError) as err:
        reader(path)
    assert err.value.path == path
    assert str(path) in str(err.value) and reason in err.value.reason
    assert str(err.value) == f"{path}: {err.value.reason}"
    assert capfd.readouterr().err == ""  # FFmpeg's log stays quiet


def test_media_error_pickles() -> None:
    err = pickle.loads(pickle.dumps(MediaError("/x/y.mp4", "empty file")))
    assert (err.path, err.reason, str(err)) == (
        Path("/x/y.mp4"),
        "empty file",
        "/x/y.mp4: empty file",
    )


def test_audio_only_file_has_no_video(tmp_path: Path) -> None:
    path = tmp_path / "speech.wav"
    write_wav(path, sine(200, 0.3))
    assert probe(path).video is None
    with pytest.raises(MediaError, match="no video stream"):
        read_video(path)


def test_raw_audio_format_checks() -> None:
    with pytest.raises(ValueError, match="sample_format"):
        RawAudioFormat(sample_format="s16")
    with pytest.raises(ValueError, match="channels"):
        RawAudioFormat(channels=0)


# ----------------------------------------------------------------------------- real files


def test_fire2_comes_out_in_display_orientation(shared_media: Path) -> None:
    path = shared_media / "mx02_moviepy_fire2.mp4"
    info = probe(path)
    assert info.video.rotation == 180
    assert (info.video.width, info.video.height, info.video.n_frames) == (1280, 720, 25)
    assert info.video.fps == pytest.approx(10.505, abs=1e-3)
    with av.open(str(path)) as container:  # the coded (upside-down) first frame
        coded = next(container.decode(video=0)).to_ndarray(format="rgb24")
    video = read_video(path, max_frames=2)
    assert video.shape == (2, 720, 1280, 3)
    np.testing.assert_array_equal(video[0], np.rot90(coded, 2))
    assert not np.array_equal(video[0], coded)
    assert read_video(path, fps=5, size=(36, 64)).shape == (12, 36, 64, 3)  # ceil(2.38 * 5)


def test_quarter_turn_rotation_swaps_sides(tmp_path: Path) -> None:
    image = np.zeros((32, 48, 3), dtype=np.uint8)
    image[:8, :8] = 255  # bright top-left corner of the coded frame
    path = tmp_path / "portrait.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=Fraction(4))
        stream.width, stream.height, stream.pix_fmt = 48, 32, "yuv420p"
        stream.set_display_rotation(90)  # counter-clockwise, as VideoFrame.rotation reads it
        for i in range(2):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts = i
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    info = probe(path)
    assert (info.video.rotation, info.video.width, info.video.height) == (270, 32, 48)
    video = read_video(path)
    assert video.shape == (2, 48, 32, 3)
    turned = np.rot90(image, 1)  # counter-clockwise: the corner ends bottom-left
    assert np.abs(video[0].astype(int) - turned).mean() < 3
    assert video[0, -4:, :4].mean() > 200 and video[0, :4, :4].mean() < 30
    assert read_video(path, size=(24, 16)).shape == (2, 24, 16, 3)


def test_attached_picture_is_not_video(shared_media: Path) -> None:
    path = shared_media / "mx05_moviepy_with-attached-pic.mp3"
    info = probe(path)
    assert info.video is None and not info.has_video and info.has_audio
    assert info.audio.duration == pytest.approx(1.0, abs=0.05)
    with pytest.raises(MediaError, match="no video stream") as err:
        read_video(path)
    assert err.value.path == path
    assert len(read_audio(path)) / SR == pytest.approx(1.0, abs=0.05)


def test_webm_without_container_duration(shared_media: Path) -> None:
    path = shared_media / "mx04_moviepy_no_duration.webm"
    info = probe(path)
    assert info.duration == pytest.approx(4.94, abs=0.05)
    assert info.video.duration == pytest.approx(4.94, abs=0.05)
    assert info.video.n_frames == 74 and info.video.codec == "vp9"
    assert info.audio.duration == pytest.approx(4.87, abs=0.05)
    assert read_video(path, fps=2, size=(18, 32)).shape == (10, 18, 32, 3)  # ceil(4.938 * 2)
    assert len(read_audio(path)) / SR == pytest.approx(4.86, abs=0.05)


def test_8bit_wav_and_24bit_flac_decode_alike(shared_media: Path) -> None:
    u8 = read_audio(shared_media / "mx14_speechrecognition_mono_8bit.wav")
    flac = read_audio(shared_media / "mx15_speechrecognition_stereo_24bit.flac")
    for audio in (u8, flac):
        assert audio.dtype == np.float32 and audio.ndim == 1
        assert np.abs(audio).max() <= 1.0 and np.abs(audio).max() > 0.3
        assert abs(audio.mean()) < 0.01  # unsigned 8-bit is centred, not offset by +0.5
    assert len(u8) == len(flac) == pytest.approx(2.745 * SR, abs=2)
    assert np.corrcoef(u8, flac)[0, 1] > 0.99  # the same utterance


def test_raw_pcm_needs_its_format(shared_media: Path) -> None:
    path = shared_media / "mx12_pocketsphinx_goforward.raw"
    with pytest.raises(MediaError, match="headerless raw PCM") as err:
        read_audio(path)
    assert err.value.path == path and "RawAudioFormat" in err.value.reason
    audio = read_audio(path, raw=RawAudioFormat(sample_rate=16000, channels=1))
    assert len(audio) == path.stat().st_size // 2
    expected = np.fromfile(path, dtype="<i2").astype(np.float32) / 32768
    np.testing.assert_allclose(audio, expected, atol=1e-6)
    info = probe(path, raw=RawAudioFormat())
    assert info.audio.sample_rate == 16000 and info.duration == pytest.approx(len(audio) / SR)
    assert len(read_audio(path, 8000, raw=RawAudioFormat())) == pytest.approx(len(audio) / 2, abs=2)


def test_write_mp4_streams_frames_from_an_iterable(tmp_path: Path) -> None:
    """Frames from a generator give the same file as the same frames in one array."""
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (6, 33, 47, 3), dtype=np.uint8)  # odd sides: padded per frame
    write_mp4(tmp_path / "array.mp4", frames, 8)
    write_mp4(tmp_path / "stream.mp4", (f for f in frames), 8)
    assert (tmp_path / "stream.mp4").read_bytes() == (tmp_path / "array.mp4").read_bytes()
    with pytest.raises(ValueError, match="at least one frame"):
        write_mp4(tmp_path / "bad.mp4", iter([]), 8)
    with pytest.raises(ValueError, match="frame 2 is"):
        write_mp4(tmp_path / "bad.mp4", [frames[0], frames[1], frames[2, :20]], 8)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["array.mp4", "stream.mp4"]
