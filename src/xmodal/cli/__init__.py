"""The ``xmodal`` command line: a thin Typer app; each command calls one layer's function.

Every command group lives in its own module and keeps heavy imports (torch, av, ...) inside
the command functions, so ``xmodal --help`` stays fast.
"""

from __future__ import annotations

import typer

from xmodal.cli import data as _data
from xmodal.cli import demo as _demo
from xmodal.cli import eval as _eval
from xmodal.cli import features as _features
from xmodal.cli import library as _library
from xmodal.cli import people as _people
from xmodal.cli import serve as _serve
from xmodal.cli import study as _study
from xmodal.cli import sync as _sync
from xmodal.cli import train as _train
from xmodal.cli import translate as _translate

app = typer.Typer(
    name="xmodal",
    help=(
        "One latent space for video, audio and text: translate a silent clip into speech, "
        "retrieve across modalities, check audio-visual sync, and search a memory library."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(_data.app, name="data")
app.command("demo")(_demo.demo)
app.add_typer(_features.app, name="features")
app.add_typer(_library.app, name="library")
_library.app.add_typer(_people.app, name="people")
app.command("serve")(_serve.serve)
app.add_typer(_train.app, name="train")
app.add_typer(_eval.app, name="eval")
app.add_typer(_sync.app, name="sync")
app.add_typer(_study.app, name="study")
app.command("translate")(_translate.translate)


def main() -> None:
    """Console-script entry point."""
    app()
