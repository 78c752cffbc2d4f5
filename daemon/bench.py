"""`signd bench`: the real pipeline on a source, timed per stage, beside its peers in one run.

For a video, Holistic alone runs on the same decoded frames in the same process, alternating
round by round with the pipeline, so the throughput ratio is not skewed by what else the
machine was doing at one moment. Several models run the same source in turn.
"""

from __future__ import annotations

import os
import platform
import resource
import statistics
import threading
import time
from dataclasses import replace
from typing import Any

import numpy as np

from .config import RunConfig, SocketConfig
from .errors import InputError
from .events import Event
from .holistic import HolisticExtractor, new_holistic
from .layout import TUTORIAL_1662
from .mqtt_settings import MqttConfig
from .publishers.base import Publisher
from .service import Service
from .sources import make_source
from .sources.video import VideoSource


class DevNullPublisher(Publisher):
    """Serialises every event as stdout would, then discards it: publishing cost without a reader."""

    name = "devnull"

    def __init__(self) -> None:
        self.dropped = 0
        self.count = 0
        self.bytes = 0

    def publish(self, event: Event) -> None:
        self.bytes += len(event.to_json()) + 1
        self.count += 1


def rss_mb() -> float:
    """Resident set size of this process now, MB (Linux)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class _RssSampler(threading.Thread):
    """RSS against windows processed, sampled every 50 ms while the service's pipeline runs."""

    def __init__(self, service: Service) -> None:
        super().__init__(daemon=True, name="signd-bench-rss")
        self.service = service
        self.samples: list[tuple[int, float]] = []
        self.done = threading.Event()

    def _sample(self) -> None:
        if self.service.pipeline is not None:
            self.samples.append((self.service.pipeline.stats.counters.windows, rss_mb()))

    def run(self) -> None:
        while not self.done.wait(0.05):
            self._sample()
        self._sample()

    def growth(self) -> dict[str, float]:
        """RSS once 10% of the windows are through (warm) and at the end."""
        if not self.samples:
            return {}
        total = self.samples[-1][0]
        warm = next((mb for w, mb in self.samples if w >= 0.1 * total), self.samples[0][1])
        end = self.samples[-1][1]
        return {"warm_mb": round(warm, 1), "end_mb": round(end, 1), "growth_mb": round(end - warm, 2)}


def run_pipeline_once(cfg: RunConfig) -> dict[str, Any]:
    """One round: `signd run`'s own supervisor loop, events serialised and discarded. The
    configuration's socket and broker are left out: a bench must not take the running
    daemon's socket, nor publish its signs to the real broker."""
    pub = DevNullPublisher()
    bench_cfg = replace(cfg, source=replace(cfg.source, fast=True), socket=SocketConfig(), mqtt=MqttConfig())
    service = Service(bench_cfg, sinks=[pub])
    sampler = _RssSampler(service)
    sampler.start()
    try:
        service.run()
    finally:
        sampler.done.set()
        sampler.join()
    pipeline = service.pipeline
    assert pipeline is not None
    snap = pipeline.stats.snapshot()
    snap["rss"] = sampler.growth()
    snap["model"] = pipeline.classifier.model.path
    custom = pipeline.classifier.custom
    snap["custom_signs"] = len(custom.signs) if custom is not None else 0
    snap["model_bytes"] = pipeline.classifier.model.size_bytes
    snap["events_published"] = pub.count
    return snap


def _is_video(cfg: RunConfig) -> bool:
    return isinstance(make_source(cfg.source, threading.Event()), VideoSource)


def decode_frames(cfg: RunConfig) -> list[np.ndarray]:
    """Every frame the pipeline would see (same size, RGB), decoded up front."""
    stop = threading.Event()
    src = make_source(replace(cfg.source, fast=True), stop)
    src.open()
    frames = []
    try:
        while (f := src.read()) is not None:
            frames.append(f.image)
    finally:
        src.close()
    return frames


def holistic_alone(frames: list[np.ndarray], model_complexity: int) -> dict[str, Any]:
    """MediaPipe Holistic's own speed on `frames`: `process` only, nothing around it."""
    holistic = new_holistic(model_complexity)
    times = []
    t0 = time.monotonic()
    for rgb in frames:
        t = time.perf_counter()
        holistic.process(rgb)
        times.append((time.perf_counter() - t) * 1e3)
    elapsed = time.monotonic() - t0
    holistic.close()
    v = np.asarray(times)
    return {
        "frames": len(frames),
        "fps": round(len(frames) / elapsed, 2),
        "ms_per_frame": {"p50": round(float(np.percentile(v, 50)), 3), "p95": round(float(np.percentile(v, 95)), 3)},
    }


def graph_alone(frames: list[np.ndarray], model_complexity: int) -> dict[str, Any]:
    """The extractor signd runs, alone: the same graph with two frames in it, no pipeline."""
    extractor = HolisticExtractor(TUTORIAL_1662, model_complexity)
    t0 = time.monotonic()
    for i, rgb in enumerate(frames):
        if i >= extractor.depth:
            extractor.collect()
        extractor.submit(rgb)
    for _ in range(min(extractor.depth, len(frames))):
        extractor.collect()
    elapsed = time.monotonic() - t0
    extractor.close()
    return {"frames": len(frames), "fps": round(len(frames) / elapsed, 2)}


def sequential_loop(cfg: RunConfig) -> dict[str, Any]:
    """The tutorial's loop without the model: decode a frame, run Holistic, one thread."""
    stop = threading.Event()
    src = make_source(replace(cfg.source, fast=True), stop)
    src.open()
    extractor = HolisticExtractor(TUTORIAL_1662, cfg.keypoints.model_complexity)
    n = 0
    t0 = time.monotonic()
    try:
        while (f := src.read()) is not None:
            extractor.extract(f.image)
            n += 1
    finally:
        src.close()
        extractor.close()
    return {"frames": n, "fps": round(n / (time.monotonic() - t0), 2)}


def _merge_timings(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per stage: the median over rounds of each percentile."""
    out: dict[str, Any] = {}
    for stage in runs[0]["timings_ms"]:
        rows = [r["timings_ms"][stage] for r in runs if r["timings_ms"][stage].get("n")]
        if rows:
            out[stage] = {
                k: round(statistics.median(r[k] for r in rows), 4) for k in ("p50", "p95", "max")
            } | {"n": sum(r["n"] for r in rows)}
    return out


NO_CUSTOM_SIGNS = "/nonexistent/signd-bench-no-custom-signs.json"


def bench(cfg: RunConfig, models: list[str | None], rounds: int = 3, baseline: bool = True,
          custom_signs: str | None = None) -> dict[str, Any]:
    """Run the pipeline `rounds` times per model (alternating), plus Holistic alone for videos.
    With `custom_signs` (a file of signs taught with `signd enroll`), each model runs without
    any custom signs and with that file, in turn.

    Holistic alone runs before the first round and after every round, and each round's
    pipeline is compared with the mean of the runs either side of it: on a shared machine the
    load drifts, and a peer measured once, before or after, takes the drift for a difference.
    """
    per_model: dict[str, list[dict[str, Any]]] = {}
    alone: list[dict[str, Any]] = []
    first_fps: list[float] = []
    loops: list[dict[str, Any]] = []
    graphs: list[dict[str, Any]] = []
    frames = decode_frames(cfg) if baseline and _is_video(cfg) else None
    if frames is not None:
        alone.append(holistic_alone(frames, cfg.keypoints.model_complexity))
    if custom_signs and not os.path.isfile(custom_signs):
        raise InputError(f"--custom-signs: not found: {custom_signs}")
    # Without: a file that does not exist is no custom signs (and never one beside the model).
    variants = [NO_CUSTOM_SIGNS, custom_signs] if custom_signs else [cfg.model.custom_signs]
    for _ in range(rounds):
        for m in models:
            for signs in variants:
                snap = run_pipeline_once(replace(cfg, model=replace(cfg.model, path=m or "", custom_signs=signs)))
                key = snap["model"] + (f" + {snap['custom_signs']} custom signs" if custom_signs else "")
                per_model.setdefault(key, []).append(snap)
        first_fps.append(per_model[next(iter(per_model))][-1]["fps"])
        if frames is not None:
            loops.append(sequential_loop(cfg))
            graphs.append(graph_alone(frames, cfg.keypoints.model_complexity))
            alone.append(holistic_alone(frames, cfg.keypoints.model_complexity))
    ratios = [
        round(fps / ((alone[i]["fps"] + alone[i + 1]["fps"]) / 2), 3) for i, fps in enumerate(first_fps)
    ] if alone else []
    report: dict[str, Any] = {
        "source": cfg.source.uri,
        "rounds": rounds,
        "machine": {
            "cpus": os.cpu_count(), "arch": platform.machine(), "python": platform.python_version(),
        },
        "models": [],
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }
    for path, runs in per_model.items():
        last = runs[-1]
        report["models"].append({
            "model": path,
            "model_bytes": last["model_bytes"],
            "runtime": None,
            "frames": last["frames_processed"],
            "windows": last["windows"],
            "events": last["events"],
            "frames_dropped": sum(r["frames_dropped"] for r in runs),
            "events_dropped": sum(r["events_dropped"] for r in runs),
            "fps": [r["fps"] for r in runs],
            "fps_median": statistics.median(r["fps"] for r in runs),
            "timings_ms": _merge_timings(runs),
            "rss": last["rss"],
        })
    if alone:
        report["holistic_alone"] = {
            "fps": [a["fps"] for a in alone],
            "fps_median": statistics.median(a["fps"] for a in alone),
            "ms_per_frame_p50": statistics.median(a["ms_per_frame"]["p50"] for a in alone),
        }
        report["throughput_ratio"] = {"per_round": ratios, "median": statistics.median(ratios)}
        report["graph_alone"] = {
            "fps": [g["fps"] for g in graphs], "fps_median": statistics.median(g["fps"] for g in graphs),
        }
        report["throughput_vs_graph_alone"] = {
            "per_round": [round(f / g["fps"], 3) for f, g in zip(first_fps, graphs, strict=True)],
        }
        report["throughput_vs_graph_alone"]["median"] = statistics.median(
            report["throughput_vs_graph_alone"]["per_round"])
        report["sequential_loop"] = {
            "fps": [x["fps"] for x in loops], "fps_median": statistics.median(x["fps"] for x in loops),
        }
    return report


def format_report(r: dict[str, Any]) -> str:
    lines = [f"signd bench: {r['source']}, {r['rounds']} rounds, {r['machine']['cpus']} cpus {r['machine']['arch']}"]
    for m in r["models"]:
        lines.append(
            f"\nmodel {m['model']} ({m['model_bytes'] / 1024:.0f} KB): {m['frames']} frames, "
            f"{m['windows']} windows, {m['events']} events per round; fps median {m['fps_median']:.1f} "
            f"(rounds {', '.join(f'{v:.1f}' for v in m['fps'])}); dropped frames {m['frames_dropped']}, "
            f"events {m['events_dropped']}"
        )
        lines.append(f"  {'stage':<24}{'p50 ms':>10}{'p95 ms':>10}{'max ms':>10}{'n':>9}")
        for stage, t in m["timings_ms"].items():
            lines.append(f"  {stage:<24}{t['p50']:>10.3f}{t['p95']:>10.3f}{t['max']:>10.3f}{t['n']:>9}")
        if m["rss"]:
            lines.append(
                f"  RSS warm {m['rss']['warm_mb']} MB -> end {m['rss']['end_mb']} MB "
                f"(growth {m['rss']['growth_mb']} MB over {m['windows']} windows)"
            )
    if "holistic_alone" in r:
        h = r["holistic_alone"]
        lines.append(
            f"\nHolistic alone on the same frames: fps median {h['fps_median']:.1f} "
            f"(rounds {', '.join(f'{v:.1f}' for v in h['fps'])}), {h['ms_per_frame_p50']:.1f} ms/frame p50"
        )
        t = r["throughput_ratio"]
        lines.append(
            f"pipeline / Holistic alone throughput: {t['median']:.3f} (rounds {', '.join(str(v) for v in t['per_round'])})"
        )
        g, gr = r["graph_alone"], r["throughput_vs_graph_alone"]
        lines.append(
            f"signd's extractor alone (the same graph, two frames in it): fps median {g['fps_median']:.1f}; "
            f"pipeline / it: {gr['median']:.3f} (rounds {', '.join(str(v) for v in gr['per_round'])})"
        )
        q = r["sequential_loop"]
        lines.append(
            f"decode + Holistic in one thread (the tutorial's loop, no model): fps median {q['fps_median']:.1f}"
        )
    lines.append(f"peak RSS {r['peak_rss_mb']} MB")
    return "\n".join(lines)
