"""Helpers shared by CLI commands: turning library errors into one clear line and an exit code."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator

import typer


@contextlib.contextmanager
def user_errors(*error_types: type[BaseException]) -> Iterator[None]:
    """Turn the given exception types (plus ``MediaError``/``FileNotFoundError``/``ValueError``)
    into a one-line ``error: ...`` on stderr and exit code 2, never a traceback.

    Args:
        *error_types: extra exception classes a command expects from the layer it drives.
    """
    from xmodal.media import MediaError

    handled = (MediaError, FileNotFoundError, ValueError, *error_types)
    try:
        yield
    except handled as exc:  # noqa: B902 - the tuple is built above
        print(f"error: {exc}", file=sys.stderr)
        raise typer.Exit(code=2) from None
