"""Fixtures shared by every test module: where the shared data is, and a way to skip without it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("SIGND_SHARED_DATA", ROOT.parent / "shared" / "data"))

# TensorFlow and MediaPipe are chatty on stderr; tests read stderr for error lines.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("GLOG_minloglevel", "2")


def shared_path(*parts: str) -> Path:
    """A path under ../shared/data; the calling test is skipped when it is absent."""
    p = SHARED_DATA.joinpath(*parts)
    if not p.exists():
        pytest.skip(f"shared data not available: {p} (tests that need ../shared/data skip without it)")
    return p


@pytest.fixture(scope="session")
def shared_data() -> Path:
    return shared_path()
