"""``xmodal translate``: a silent clip in, its spoken description out (a WAV)."""

from __future__ import annotations

from pathlib import Path

import typer


def translate(
    clip: Path = typer.Argument(..., help="Video file to describe (its audio is not used)."),
    model: Path = typer.Option(
        ..., "--model", help="Translation run directory (xmodal demo or xmodal study thesis)."
    ),
    output: Path = typer.Option(Path("said.wav"), "-o", "--output", help="WAV file to write."),
    recognise: bool = typer.Option(
        False,
        "--recognise",
        help="Also have both listeners hear the generated speech (pocketsphinx under a grammar "
        "of the world's phrases, Whisper tiny.en free) and print what each heard.",
    ),
) -> None:
    """Translate a video clip into speech: video features → β-VAE latents → Seq2Seq log-mel →
    Griffin–Lim waveform, written as a 16 kHz WAV."""
    from xmodal.cli._common import user_errors

    with user_errors(ImportError):
        if not clip.is_file():
            raise FileNotFoundError(f"{clip}: no such video file")
        from xmodal.media import write_wav
        from xmodal.translate import TranslationPipeline

        pipe = TranslationPipeline.load(model)
        wave = pipe.translate_clip(clip)
        write_wav(output, wave, 16000)
        typer.echo(f"wrote {output} ({len(wave) / 16000:.2f} s) with {pipe.label}")
        if recognise:
            from xmodal.translate.judges import JUDGES, Listener

            listener = Listener(pipe.meta["world"])
            for judge in JUDGES:
                said = listener.hear(wave, judge).text
                typer.echo(f"{judge} hears: {said!r}" if said else f"{judge} hears nothing")
