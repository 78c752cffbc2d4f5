"""The file of custom signs: what `signd enroll` writes and the daemon reads.

One JSON object (docs/enroll.md):

    {"format": "signd-custom-signs/1", "descriptor": "signd-v1-mean/1",
     "signs": [{"name": "toilet", "adapts": false, "threshold": 3.1,
                "examples": [[28 numbers], ...], "source": "camera:0", "created": "..."}]}

`adapts` marks extra examples of a built-in sign (one person's way of signing it): they
give that sign's events. A file is replaced whole (temporary file, then rename), so a reader
never sees half of one; a file that is not one is refused with a line naming the culprit.
"""

from __future__ import annotations

import json
import math
import os
import re
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from signd.daemon.errors import DataError, OutputError
from signd.daemon.textfile import read_text
from signd.models.manifest import default_file_mode

from . import descriptor

FORMAT = "signd-custom-signs/1"
MAX_BYTES = 16 << 20  # a hundred signs of 50 examples are ~5 MB; more is not a signs file
NAME_RULE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
NOT_SIGNS = ("blank", "rest", "other", "nothing", "none", "idle")
MIN_EXAMPLES = 3


@dataclass(frozen=True)
class CustomSign:
    name: str
    examples: np.ndarray
    """(n, descriptor.SIZE) float32: one descriptor per example window."""
    threshold: float
    """A window within this distance of an example (after the background's projection) is this sign."""
    adapts: bool = False
    source: str = ""
    created: str = ""
    background: str = ""
    """The id of the background it was fitted with (`Background.id`): its threshold is in
    that background's units."""


@dataclass
class CustomSigns:
    signs: list[CustomSign] = field(default_factory=list)

    def names(self) -> list[str]:
        return [s.name for s in self.signs]

    def get(self, name: str) -> CustomSign | None:
        return next((s for s in self.signs if s.name == name), None)

    def put(self, sign: CustomSign) -> None:
        """Add `sign`, replacing one of the same name."""
        self.signs = [s for s in self.signs if s.name != sign.name] + [sign]

    def remove(self, name: str) -> bool:
        before = len(self.signs)
        self.signs = [s for s in self.signs if s.name != name]
        return len(self.signs) < before


def check_name(name: str) -> str | None:
    """Why `name` cannot be a label, or None."""
    if not NAME_RULE.match(name):
        return (f"{name!r} cannot be a sign's name: use 1-32 lower-case letters, digits, '-' or '_', "
                "starting with a letter or digit")
    if name in NOT_SIGNS:
        return f"{name!r} is what signd calls no sign at all; pick another name"
    return None


def _bad(path: Path, where: str, why: str) -> DataError:
    return DataError(f"{path}: {where}: {why}" if where else f"{path}: {why}")


def _sign(path: Path, i: int, obj: object) -> CustomSign:
    where = f"signs[{i}]"
    if not isinstance(obj, dict):
        raise _bad(path, where, "not an object")
    unknown = set(obj) - {"name", "adapts", "threshold", "examples", "source", "created", "background"}
    if unknown:
        raise _bad(path, f"{where}.{sorted(unknown)[0]}", "unknown key")
    name = obj.get("name")
    if not isinstance(name, str) or check_name(name):
        raise _bad(path, f"{where}.name", check_name(name) if isinstance(name, str) else "missing or not a string")
    thr = obj.get("threshold")
    if isinstance(thr, bool) or not isinstance(thr, (int, float)) or not math.isfinite(thr) or thr <= 0:
        raise _bad(path, f"{where}.threshold", f"{thr!r} is not a positive number")
    try:
        ex = np.asarray(obj.get("examples"), dtype=np.float32)
    except (TypeError, ValueError):
        raise _bad(path, f"{where}.examples", "not a list of lists of numbers") from None
    if ex.ndim != 2 or ex.shape[1] != descriptor.SIZE or len(ex) < MIN_EXAMPLES or not np.isfinite(ex).all():
        raise _bad(path, f"{where}.examples",
                   f"expected at least {MIN_EXAMPLES} rows of {descriptor.SIZE} finite numbers, got shape {list(ex.shape)}")
    adapts = obj.get("adapts", False)
    if not isinstance(adapts, bool):
        raise _bad(path, f"{where}.adapts", f"{adapts!r} is not true or false")
    return CustomSign(name, ex, float(thr), adapts, str(obj.get("source", "")), str(obj.get("created", "")),
                      str(obj.get("background", "")))


def load_signs(path: str | os.PathLike[str]) -> CustomSigns:
    """The custom signs in `path`; an empty set when it does not exist; DataError when it is
    not a custom-signs file (truncated, edited by hand, another descriptor)."""
    p = Path(path)
    if not os.path.lexists(p):
        return CustomSigns()
    text = read_text(p, "custom signs", DataError, MAX_BYTES)
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _bad(p, "", f"not JSON (line {exc.lineno}: {exc.msg}); truncated?") from None
    except RecursionError:
        raise _bad(p, "", "not JSON that can be read (values nested too deeply)") from None
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        raise _bad(p, "format", f"expected {FORMAT!r}")
    if obj.get("descriptor") != descriptor.NAME:
        raise _bad(p, "descriptor", f"{obj.get('descriptor')!r}: this signd matches {descriptor.NAME!r}; enroll the signs again")
    raw = obj.get("signs")
    if not isinstance(raw, list):
        raise _bad(p, "signs", "missing or not a list")
    signs = [_sign(p, i, s) for i, s in enumerate(raw)]
    names = [s.name for s in signs]
    dup = next((n for n in names if names.count(n) > 1), None)
    if dup:
        raise _bad(p, "signs", f"{dup!r} appears twice")
    return CustomSigns(signs)


def _as_json(s: CustomSign) -> dict[str, object]:
    d = asdict(s)
    d["examples"] = [[round(float(v), 5) for v in row] for row in s.examples]
    return d


def save_signs(path: str | os.PathLike[str], signs: CustomSigns) -> Path:
    """Replace `path` whole: written beside it, then renamed over it."""
    p = Path(path)
    text = json.dumps({"format": FORMAT, "descriptor": descriptor.NAME,
                       "signs": [_as_json(s) for s in signs.signs]}, separators=(",", ":")) + "\n"
    tmp: str | None = None
    try:
        # A name of its own (two enrolls at once must not write into one temporary file), and
        # the mode open() would give, as for the model's manifest.
        fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", dir=p.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, default_file_mode())
        os.replace(tmp, p)
    except OSError as exc:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        raise OutputError(f"{p}: cannot write the custom signs ({exc.strerror or exc})") from None
    return p
