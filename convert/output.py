"""Where a converted model goes: checked before the work starts, written whole or not at all."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from signd.daemon.errors import ConfigError, SigndError
from signd.models.manifest import Manifest, default_file_mode, manifest_path, manifest_text

EX_CANTCREAT = 73  # sysexits(3): cannot create (user) output file


class OutputError(SigndError):
    """The output cannot be written (missing folder, no permission, a folder in the way)."""

    exit_code = EX_CANTCREAT


def check_output(out: str | os.PathLike[str], source: str | os.PathLike[str] | None = None) -> Path:
    """The output path, once it is known that the model and its manifest can be written there."""
    p = Path(out)
    if p.suffix != ".tflite":
        raise ConfigError(f"output {p}: the name must end in .tflite (its manifest goes beside it as {p.stem}.json)")
    folder = p.parent if str(p.parent) else Path(".")
    if not folder.is_dir():
        raise OutputError(f"output folder does not exist: {folder}")
    # Try it: permission bits say nothing for root, a read-only mount or /proc.
    try:
        fd, probe = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".probe", dir=folder)
    except OSError as exc:
        raise OutputError(f"output folder is not writable ({exc.strerror or exc}): {folder}") from None
    os.close(fd)
    os.unlink(probe)
    for target in (p, manifest_path(p)):
        if target.is_dir():
            raise OutputError(f"output path is a folder: {target}")
    if source is not None and Path(source).resolve() == p.resolve():
        raise ConfigError(f"output {p} is the input model")
    return p


def _temp_beside(path: Path, data: bytes) -> str:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, default_file_mode())
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return tmp


def write_model(out: Path, content: bytes, manifest: Manifest) -> Path:
    """Write `out` and its manifest through temporary files and renames; returns the manifest path."""
    mpath = manifest_path(out)
    temps: list[str] = []
    try:
        temps.append(_temp_beside(out, content))
        temps.append(_temp_beside(mpath, manifest_text(manifest).encode()))
        os.replace(temps[0], out)
        os.replace(temps[1], mpath)
    except OSError as exc:
        raise OutputError(f"cannot write {out}: {exc.strerror or exc}") from None
    finally:
        for t in temps:
            Path(t).unlink(missing_ok=True)
    return mpath
