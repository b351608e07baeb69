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
        help="Also recognise the generated speech with pocketsphinx under a grammar of the "
        "world's phrases, and print the phrase it says.",
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
            from xmodal.features.asr import phrase_grammar
            from xmodal.features.asr import recognise as asr

            grammar = phrase_grammar(list(pipe.phrases().values()))
            said = asr(wave, grammar, dither=1e-3).text
            typer.echo(f"it says: {said!r}" if said else "it says nothing recognisable")
