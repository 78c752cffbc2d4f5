"""A model on labelled video clips through the real pipeline (`signd evaluate --videos`).

Each clip runs exactly as `signd run --source CLIP --fast` runs it (the same preflight and
pipeline: MediaPipe Holistic in its own process, the window, the model, the smoothing); only
the sink differs, a list instead of standard output. Verdicts, per clip:

- one sign the model knows (a label that is not a rest label): `right` when there is at least
  one event and every event is that sign (a held sign may fire more than once), `wrong` when
  some event is another sign, `none` when there is no event;
- one sign the model does not know: `silent` when there is no event, else `fired`;
- several signs (a sentence): the events' labels against the list by Levenshtein distance;
  `right` when it is 0, else `wrong`. `distance_known` is the distance to the list without the
  signs the model does not know, what the model could have got right.
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from signd.daemon.assemble import build_pipeline, load_classifier, preflight, recognition
from signd.daemon.config import RunConfig, load_config
from signd.daemon.errors import DataError, InputError, SigndError
from signd.daemon.events import Event, GestureEvent
from signd.daemon.publishers.base import Publisher
from signd.daemon.textfile import read_text

MANIFEST = "MANIFEST.tsv"
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v")
_MANIFEST_MAX_BYTES = 1 << 20


@dataclass(frozen=True)
class Clip:
    path: Path
    signs: tuple[str, ...]
    name: str
    """As the manifest (or the folder) names it: what the report shows."""


@dataclass(frozen=True)
class ClipEvent:
    label: str
    frame: int
    score: float


@dataclass(frozen=True)
class ClipResult:
    file: str
    signs: tuple[str, ...]
    kind: str
    """known (one sign of the model's), other (one sign it lacks) or sentence (several)."""
    events: tuple[ClipEvent, ...]
    verdict: str
    distance: int | None
    distance_known: int | None
    frames: int
    seconds: float

    @property
    def labels(self) -> list[str]:
        return [e.label for e in self.events]


@dataclass(frozen=True)
class VideoReport:
    model: str
    labels: tuple[str, ...]
    rest_labels: tuple[str, ...]
    clips: tuple[ClipResult, ...]

    def summary(self) -> dict[str, Any]:
        def share(n: int, of: int) -> float | None:
            return round(n / of, 4) if of else None

        by = {k: [c for c in self.clips if c.kind == k] for k in ("known", "other", "sentence")}
        right = sum(c.verdict == "right" for c in by["known"])
        fired = sum(c.verdict == "fired" for c in by["other"])
        sent_right = sum(c.verdict == "right" for c in by["sentence"])
        return {
            "known": {"clips": len(by["known"]), "right": right, "share_right": share(right, len(by["known"]))},
            "other": {"clips": len(by["other"]), "fired": fired, "share_fired": share(fired, len(by["other"]))},
            "sentence": {"clips": len(by["sentence"]), "right": sent_right,
                         "mean_distance": share(sum(c.distance or 0 for c in by["sentence"]), len(by["sentence"]))},
        }

    def to_dict(self) -> dict[str, Any]:
        return {"mode": "videos", "model": self.model, "labels": list(self.labels),
                "rest_labels": list(self.rest_labels), "clips": [asdict(c) for c in self.clips],
                "summary": self.summary()}


def edit_distance(a: Sequence[str], b: Sequence[str]) -> int:
    """Levenshtein distance between two label sequences (insert, delete, substitute: 1 each)."""
    prev = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        cur = [i]
        for j, y in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x != y)))
        prev = cur
    return prev[-1]


def judge(signs: Sequence[str], events: Sequence[str], known: set[str]) -> tuple[str, str, int | None, int | None]:
    """(kind, verdict, distance, distance_known) of a clip listing `signs` that gave `events`."""
    if len(signs) > 1:
        d = edit_distance(events, signs)
        return "sentence", "right" if d == 0 else "wrong", d, edit_distance(events, [s for s in signs if s in known])
    sign = signs[0]
    if sign not in known:
        return "other", "fired" if events else "silent", None, None
    if not events:
        return "known", "none", None, None
    return "known", "right" if all(e == sign for e in events) else "wrong", None, None


def _read_manifest(path: Path) -> list[Clip]:
    text = read_text(path, "manifest", DataError, _MANIFEST_MAX_BYTES)
    rows = [(n, line.rstrip("\r").split("\t")) for n, line in enumerate(text.split("\n"), 1)
            if line.strip() and not line.startswith("#")]
    if not rows:
        raise DataError(f"{path}: empty manifest (expected a header row: file, signs, source)")
    header = [c.strip().lower() for c in rows[0][1]]
    missing = [c for c in ("file", "signs") if c not in header]
    if missing:
        raise DataError(f"{path}: the header row has no column {' or '.join(missing)} "
                        f"(tab-separated: file, signs, source; got {', '.join(header)})")
    fi, si = header.index("file"), header.index("signs")
    clips = []
    for row, (line, cells) in enumerate(rows[1:], 1):
        where = f"{path}: row {row} (line {line})"
        if len(cells) <= max(fi, si) or not cells[fi].strip():
            got = "\t".join(cells)
            raise DataError(f"{where}: expected tab-separated file and signs, got {got!r}")
        name, signs = cells[fi].strip(), tuple(re.split(r"[\s,]+", cells[si].strip()))
        if signs == ("",):
            raise DataError(f"{where}: {name} lists no sign")
        clip = path.parent / name
        if not clip.is_file():
            raise InputError(f"{where}: clip not found: {clip}")
        clips.append(Clip(clip, signs, name))
    if not clips:
        raise DataError(f"{path}: the manifest lists no clips")
    return clips


def load_clips(videos: str | Path) -> list[Clip]:
    """The clips of a MANIFEST.tsv, or of a folder (its MANIFEST.tsv if it has one, else its
    videos named by sign: `hello.mp4`, `hello-2.mp4` and `hello_anna.mp4` are all `hello`)."""
    path = Path(videos)
    if not path.exists():
        raise InputError(f"--videos: not found: {path}")
    if path.is_file():
        return _read_manifest(path)
    if (path / MANIFEST).exists():
        return _read_manifest(path / MANIFEST)
    files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES)
    if not files:
        raise InputError(f"{path}: no clips (expected {MANIFEST}, or videos named by sign such as "
                         f"hello.mp4, hello-2.mp4: {', '.join(VIDEO_SUFFIXES)})")
    return [Clip(p, (re.split(r"[-_]", p.stem, maxsplit=1)[0],), p.name) for p in files]


class _Collect(Publisher):
    """The pipeline's sink for an evaluation: keeps the gesture events, in order."""

    name = "evaluate"

    def __init__(self) -> None:
        self.dropped = 0
        self.events: list[GestureEvent] = []

    def wants(self, event: Event) -> bool:
        return isinstance(event, GestureEvent)

    def publish(self, event: Event) -> None:
        assert isinstance(event, GestureEvent)
        self.events.append(event)


def clip_events(cfg: RunConfig) -> tuple[list[GestureEvent], int]:
    """The gesture events of `cfg`'s source and the frames it processed, as `signd run` would
    give them (the caller sets `source.fast`)."""
    sink = _Collect()
    pipeline = build_pipeline(cfg, [sink], checked=preflight(cfg))
    pipeline.start()
    try:
        # Waiting in slices keeps Ctrl-C deliverable to this (the main) thread.
        while not pipeline.wait(0.1):
            pass
    finally:
        pipeline.request_stop()
        pipeline.join()
    if pipeline.error is not None:
        if isinstance(pipeline.error, SigndError):
            raise pipeline.error
        raise RuntimeError(f"pipeline stage failed: {pipeline.error!r}") from pipeline.error
    return sink.events, pipeline.stats.counters.frames_processed


def evaluate_videos(videos: str | Path, model: str | None = None, progress: bool | None = None) -> VideoReport:
    """Run every clip of `videos` (see `load_clips`) through `model` (default: the shipped
    one); `progress` draws a bar on stderr (default: when stderr is a terminal)."""
    from tqdm import tqdm

    clips = load_clips(videos)
    base = load_config(None, {"model": {"path": model}} if model else None)
    # Loaded here once so that a bad model fails before the first clip; each clip's preflight
    # loads it again, exactly as `signd run` does (a few milliseconds).
    classifier = load_classifier(base)
    rest = tuple(recognition(base, classifier).smoothing.rest_labels)
    known = set(classifier.labels) - set(rest)
    results = []
    show = sys.stderr.isatty() if progress is None else progress
    with tqdm(clips, desc="evaluate", unit="clip", file=sys.stderr, leave=False,
              disable=not show) as bar:
        for clip in bar:
            bar.set_postfix_str(clip.name)
            t0 = time.monotonic()
            cfg = replace(base, source=replace(base.source, uri=str(clip.path), fast=True))
            events, frames = clip_events(cfg)
            labels = [e.label for e in events]
            kind, verdict, dist, dist_known = judge(clip.signs, labels, known)
            results.append(ClipResult(
                clip.name, clip.signs, kind, tuple(ClipEvent(e.label, e.frame, e.score) for e in events),
                verdict, dist, dist_known, frames, round(time.monotonic() - t0, 2)))
    return VideoReport(str(classifier.model.path), tuple(classifier.labels), rest, tuple(results))


def format_report(report: VideoReport) -> str:
    """The text form: one row per clip, then the shares."""
    rows = [("clip", "signs", "kind", "events", "verdict", "frames", "seconds")]
    for c in report.clips:
        verdict = c.verdict
        if c.distance is not None:
            verdict += f" (distance {c.distance}, {c.distance_known} on known signs)"
        rows.append((c.file, " ".join(c.signs), c.kind, " ".join(c.labels) or "-", verdict,
                     str(c.frames), f"{c.seconds:.1f}"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [f"model {report.model} (labels {', '.join(report.labels)}; rest, never events: "
             f"{', '.join(report.rest_labels) or '-'})"]
    lines += ["  " + "  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    s = report.summary()

    def frac(n: int, of: int) -> str:
        return f"{n}/{of} ({n / of:.0%})" if of else "no clips"

    lines.append(f"known signs right: {frac(s['known']['right'], s['known']['clips'])}; "
                 f"other signs fired: {frac(s['other']['fired'], s['other']['clips'])}")
    if s["sentence"]["clips"]:
        lines.append(f"sentences right: {frac(s['sentence']['right'], s['sentence']['clips'])}, "
                     f"mean edit distance {s['sentence']['mean_distance']:.2f}")
    return "\n".join(lines)
