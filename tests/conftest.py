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


def signd_cmd() -> list[str]:
    """The installed `signd` console script (the one beside this Python)."""
    import shutil
    import sys

    exe = Path(sys.executable).parent / "signd"
    return [str(exe)] if exe.exists() else [shutil.which("signd") or "signd"]


def run_signd(*args: str, timeout: float = 120, **kw):
    """Run `signd ARGS` to completion; returns the CompletedProcess (text mode)."""
    import subprocess

    return subprocess.run([*signd_cmd(), *args], capture_output=True, text=True, timeout=timeout, **kw)


@pytest.fixture(scope="session")
def synthetic_rec():
    from modelkit import synthetic_recording

    return synthetic_recording()


@pytest.fixture(scope="session")
def synthetic_npz(tmp_path_factory, synthetic_rec) -> Path:
    from modelkit import save_npz

    return save_npz(synthetic_rec, tmp_path_factory.mktemp("data") / "synthetic.npz")


@pytest.fixture(scope="session")
def synthetic_model(tmp_path_factory, synthetic_rec) -> Path:
    """A small float32 model fit to the synthetic recording (258 layout), with manifest."""
    from modelkit import train_tflite

    return train_tflite(synthetic_rec, tmp_path_factory.mktemp("models") / "synthetic.tflite", epochs=60)


@pytest.fixture(scope="session")
def signer_model(tmp_path_factory) -> Path:
    """A small model fit to one shared signer (jonathanroddy), pose + hands."""
    from signd.daemon.recordings import load_npz

    from modelkit import train_tflite

    rec = load_npz(shared_path("signers", "jonathanroddy.npz"))
    return train_tflite(rec, tmp_path_factory.mktemp("models") / "jonathanroddy.tflite")
