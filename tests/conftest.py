"""Fixtures shared by the whole suite."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from tests.postgres import postgres_url  # noqa: F401 - the session's PostgreSQL server

REPO_ROOT = Path(__file__).resolve().parents[1]


def _shared_media_dir() -> Path:
    env = os.environ.get("XMODAL_TEST_MEDIA")
    return Path(env) if env else REPO_ROOT.parent / "shared" / "media"


@pytest.fixture(scope="session")
def shared_media() -> Path:
    """The folder of real recordings and clips (``../shared/media`` beside the checkout).

    Under CI (``CI=true``) a missing folder is an error, elsewhere the test is skipped.
    """
    path = _shared_media_dir()
    if not path.is_dir():
        if os.environ.get("CI") == "true":
            pytest.fail(f"real test media not found at {path} (set XMODAL_TEST_MEDIA)")
        pytest.skip(f"real test media not found at {path} (set XMODAL_TEST_MEDIA)")
    return path


@pytest.fixture
def rng() -> np.random.Generator:
    """A fixed-seed NumPy generator."""
    return np.random.default_rng(0)


@pytest.fixture(autouse=True)
def _torch_seed_and_threads():
    """Seed torch, and run on one thread: tiny models are fastest that way on this shared
    2-core machine (a 2-thread step of a tiny model was measured 20x slower)."""
    try:
        import torch
    except ImportError:  # pragma: no cover
        yield
        return
    torch.manual_seed(0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
