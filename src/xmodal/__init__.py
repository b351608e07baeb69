"""xmodal: one latent space for video, audio and text.

Layers (arrows point one way): media -> data -> features -> models -> training -> evaluation,
and features -> library -> server. The CLI (``xmodal``) is a thin layer over all of them.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from xmodal.types import Modality

if TYPE_CHECKING:
    from xmodal.joint import JointSpace

__all__ = ["Modality", "__version__", "load"]
__version__ = "0.1.0"


def load(run_dir: str | os.PathLike[str]) -> JointSpace:
    """Load a trained joint space (``xmodal train joint``) from its run directory.

    >>> space = xmodal.load("runs/joint")
    >>> space.encode_text(["rotate the knife"]).shape    # (1, space.width), unit norm

    Imports torch only when called, so ``import xmodal`` stays light.
    """
    from xmodal.joint import JointSpace

    return JointSpace.load(run_dir)
