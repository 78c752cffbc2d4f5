"""The kiosk under load: does the page keep up with 30 skeletons a second, and does the daemon
run as fast with the kiosk watching as without?

Everything is real: `signd run`, `signd kiosk` and headless Chromium on the page, each its
own process, on this machine's cores (as on a Pi, where the browser shares the board).

1. Keeping up. The daemon replays a recording at 30 fps; the kiosk and the page are attached.
   Over a window of --seconds, three counters: skeletons the daemon sent the kiosk (/stats
   `lines.keypoints`), skeletons the kiosk passed to the page (its per-page `sent`), and
   skeletons the page received and drew on its canvas (window.kiosk.stats, counted in the
   page's requestAnimationFrame callback). Also the page's draw time and the delay from a
   skeleton's arrival to its drawing.
2. Throughput. One daemon runs a source as fast as it can (--fast): a video through MediaPipe
   (the real pipeline) and a keypoint recording (no MediaPipe: the worst case for the
   per-frame stream's cost). Measuring windows cycle through three conditions (each goes
   first in turn), so all see the same machine at nearly the same moment: "without" (no kiosk
   process, the browser on about:blank), "kiosk" (`signd kiosk` attached, its event stream read
   by a plain client: the daemon's own extra work) and "kiosk+page" (the page live in
   Chromium: also the browser's competition for the cores). Frames per second come from the daemon's own `status` events (frames
   and uptime) read by a client that watches only status, present in both; the daemon's CPU
   time per frame comes from /proc, which other processes' load disturbs far less.

    python bench/kiosk_load.py [--cycles 6] [--seconds 8] [--video PATH] [--niceness N] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the tests' process helpers: one way to run each piece

from daemonkit import Client, Daemon, wait_until  # noqa: E402
from kiosk_browser import Chromium  # noqa: E402
from kiosk_kit import EventStream, KioskProcess, http_get  # noqa: E402

SHARED = Path(os.environ.get("SIGND_SHARED_DATA", ROOT.parent / "shared" / "data"))


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of these processes so far (Linux /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
            total += (int(fields[11]) + int(fields[12])) / tick
        except (OSError, IndexError, ValueError):
            pass
    return total


def pids_with(needle: str) -> list[int]:
    """Processes whose command line holds `needle` (Chromium's renderer and GPU processes)."""
    out = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                if needle in p.joinpath("cmdline").read_bytes().decode("utf-8", "replace"):
                    out.append(int(p.name))
            except OSError:
                pass
    return out


class Rig:
    """A daemon (with a client watching its status), and the kiosk and a browser page when attached."""

    niceness: int | None = None
    """[keypoints] niceness for the daemon; None keeps its default."""

    def __init__(self, tmp: Path, daemon_args: list[str]) -> None:
        self.tmp = Path(tempfile.mkdtemp(dir=tmp))
        self.sock = str(self.tmp / "events.sock")
        cfg = self.tmp / "signd.toml"
        keypoints = "" if self.niceness is None else f"[keypoints]\nniceness = {self.niceness}\n"
        cfg.write_text("[socket]\nheartbeat = 1.0\n" + keypoints)
        self.daemon = Daemon(self.tmp, "--config", str(cfg), "--socket", self.sock, *daemon_args)
        self.kiosk: KioskProcess | None = None
        self.browser: Chromium | None = None
        self.page = None
        self.reader: EventStream | None = None
        self.status = None
        try:
            self.daemon.wait_ready(120)
            self.status = Client(self.sock)  # watches gesture/status/error only: no per-frame stream
            self.browser = Chromium(self.tmp)
            self.page = self.browser.open("about:blank")
        except BaseException:
            self.close()
            raise

    def attach(self, page: bool = True) -> None:
        """Start the kiosk and put its page in the browser (or, page=False, a plain reader of
        its event stream); returns once skeletons flow to it."""
        assert self.page is not None
        self.kiosk = KioskProcess(self.sock)
        self.kiosk.wait_ready()
        if page:
            self.page.send("Page.navigate", {"url": self.kiosk.url})
            self.page.wait_for("window.kiosk && kiosk.stats.drawn > 0 && "
                               "document.getElementById('state').dataset.state === 'connected'", 60)
        else:
            self.reader = EventStream(self.kiosk.port)
            if not self.reader.wait_for(lambda evs: any(e.get("type") == "keypoints" for e in evs), 60):
                raise RuntimeError("no skeleton reached the event-stream reader")

    def detach(self) -> None:
        assert self.page is not None and self.kiosk is not None
        if self.reader is not None:
            self.reader.close()
            self.reader = None
        else:
            self.page.send("Page.navigate", {"url": "about:blank"})
            self.page.wait_for("location.href === 'about:blank'", 30)
        self.kiosk.stop()
        self.kiosk = None

    def kiosk_stats(self) -> dict:
        assert self.kiosk is not None
        return json.loads(http_get(self.kiosk.port, "/stats")[2])

    def page_stats(self) -> dict:
        assert self.page is not None
        return self.page.eval("kiosk.summary()")

    def cpu(self) -> dict[str, float]:
        out = {"daemon": cpu_seconds([self.daemon.proc.pid])}
        if self.kiosk:
            out["kiosk"] = cpu_seconds([self.kiosk.proc.pid])
        if self.browser:
            out["chromium"] = cpu_seconds(pids_with(f"--user-data-dir={self.browser.profile}"))
        return out

    def next_status(self, after: int = 0, timeout: float = 30.0) -> dict:
        """The first status event beyond the `after` already seen."""
        assert self.status is not None
        if not wait_until(lambda: len(self.status.of_type("status")) > after, timeout):
            raise RuntimeError(f"no status event within {timeout} s:\n{self.daemon.stderr[-2000:]}")
        return self.status.of_type("status")[-1]

    def close(self) -> None:
        if self.browser:
            self.browser.close()
        if self.kiosk:
            self.kiosk.stop()
        if self.status:
            self.status.close()
        self.daemon.stop()


def keeping_up(tmp: Path, source: str, model: str, seconds: float) -> dict:
    rig = Rig(tmp, ["--source", source, "--model", model, "--repeat", "1000"])
    try:
        rig.attach()
        k0, p0, c0, t0 = rig.kiosk_stats(), rig.page_stats(), rig.cpu(), time.monotonic()
        time.sleep(seconds)
        k1, p1, c1, t1 = rig.kiosk_stats(), rig.page_stats(), rig.cpu(), time.monotonic()
        errors = rig.page.problems()
    finally:
        rig.close()
    el = t1 - t0

    def delta(a: dict, b: dict, *path: str) -> int:
        for key in path:
            a, b = a.get(key, {}), b.get(key, {})
        return (b or 0) - (a or 0)

    sent_daemon = delta(k0, k1, "lines", "keypoints")
    to_page = k1["pages"][0]["sent"].get("keypoints", 0) - k0["pages"][0]["sent"].get("keypoints", 0)
    received = p1["keypoints"] - p0["keypoints"]
    drawn = p1["drawn"] - p0["drawn"]
    return {
        "seconds": round(el, 2),
        "daemon_to_kiosk_per_s": round(sent_daemon / el, 2),
        "kiosk_to_page_per_s": round(to_page / el, 2),
        "page_received_per_s": round(received / el, 2),
        "page_drawn_per_s": round(drawn / el, 2),
        "drawn_of_sent": round(drawn / sent_daemon, 4) if sent_daemon else None,
        "kiosk_thinned": delta(k0, k1, "coalesced", "keypoints"),
        "kiosk_skipped_slow_page": k1["skipped_slow_page"] - k0["skipped_slow_page"],
        "page_skipped": p1["skipped"] - p0["skipped"],
        "page_draw_ms": p1["drawMs"], "page_arrival_to_draw_ms": p1["lagMs"],
        "page_arrival_gap_ms": p1["gapMs"],
        "cpu_percent": {k: round(100 * (c1[k] - c0[k]) / el, 1) for k in c1},
        "page_errors": errors,
    }


def window(rig: Rig, seconds: float) -> dict:
    """Frames per second and daemon CPU per frame between two fresh status events."""
    assert rig.status is not None
    s0 = rig.next_status(len(rig.status.of_type("status")))
    c0 = rig.cpu()["daemon"]
    time.sleep(seconds)
    s1 = rig.next_status(len(rig.status.of_type("status")))
    c1 = rig.cpu()["daemon"]
    frames, el = s1["frames"] - s0["frames"], s1["uptime_s"] - s0["uptime_s"]
    return {"fps": round(frames / el, 2), "frames": frames, "seconds": round(el, 1),
            "daemon_cpu_ms_per_frame": round(1e3 * (c1 - c0) / frames, 4) if frames else None}


CONDITIONS = ("without", "kiosk", "kiosk+page")
"""without: no kiosk, the browser on about:blank. kiosk: `signd kiosk` attached, its stream read
by a plain client (the daemon's work, without a browser competing for the cores). kiosk+page:
`signd kiosk` attached and the page live in Chromium (everything a Pi kiosk runs)."""


def throughput(tmp: Path, name: str, daemon_args: list[str], cycles: int, seconds: float) -> dict:
    rig = Rig(tmp, daemon_args)
    runs: dict[str, list[dict]] = {c: [] for c in CONDITIONS}
    try:
        for i in range(cycles):
            order = CONDITIONS[i % 3:] + CONDITIONS[: i % 3]  # each condition goes first in turn
            for cond in order:
                if cond != "without":
                    rig.attach(page=cond == "kiosk+page")
                res = window(rig, seconds)
                if cond != "without":
                    rig.detach()
                runs[cond].append(res)
                print(f"  {name} cycle {i + 1} {cond:>10}: {res['fps']:9.1f} fps, "
                      f"daemon {res['daemon_cpu_ms_per_frame']} ms CPU/frame", file=sys.stderr)
    finally:
        rig.close()
    med = {c: statistics.median(x["fps"] for x in v) for c, v in runs.items()}
    cpu = {c: statistics.median(x["daemon_cpu_ms_per_frame"] for x in v) for c, v in runs.items()}
    # Within a cycle the three windows are minutes apart at most: ratios to that cycle's
    # "without" cancel most of the drift in the machine's other load.
    cyc = {c: round(statistics.median(w["fps"] / wo["fps"] for w, wo in zip(runs[c], runs["without"], strict=True)), 3)
           for c in CONDITIONS[1:]}
    return {"source": name, "cycles": cycles, "seconds": seconds, "runs": runs, "median_fps": med,
            "ratio_of_medians": {c: round(med[c] / med["without"], 3) for c in CONDITIONS[1:]},
            "median_cycle_ratio": cyc,
            "median_daemon_cpu_ms_per_frame": cpu,
            "cpu_per_frame_ratio": {c: round(cpu[c] / cpu["without"], 3) for c in CONDITIONS[1:]}}


def synthetic_inputs(tmp: Path) -> tuple[str, str]:
    from modelkit import save_npz, synthetic_recording, train_tflite

    rec = synthetic_recording()
    return str(save_npz(rec, tmp / "synthetic.npz")), str(train_tflite(rec, tmp / "synthetic.tflite", epochs=60))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cycles", type=int, default=6, help="cycles of the three conditions per source")
    ap.add_argument("--seconds", type=float, default=8.0, help="length of each measuring window")
    ap.add_argument("--model", help="a .tflite model (default: a small one trained here on a synthetic recording)")
    ap.add_argument("--recording", help="a keypoint .npz to replay (default: a real signer from ../shared, else synthetic)")
    ap.add_argument("--video", help="a video for the MediaPipe runs (default ../shared/data/videos/hello.mp4)")
    ap.add_argument("--parts", default="keeping,video,replay",
                    help="what to run, comma-separated: keeping (up at 30 fps), video, replay (throughput)")
    ap.add_argument("--niceness", type=int, help="[keypoints] niceness of the daemon (default: its own)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    Rig.niceness = args.niceness
    # Stopped early: unwind, so that every daemon, kiosk and browser started here is stopped too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))

    tmp = Path(tempfile.mkdtemp(prefix="kiosk-bench-"))
    npz, model = synthetic_inputs(tmp)
    model = args.model or model
    signer = SHARED / "signers" / "jonathanroddy.npz"
    recording = args.recording or (str(signer) if signer.exists() else npz)
    video = args.video or str(SHARED / "videos" / "hello.mp4")

    parts = set(args.parts.split(","))
    report: dict = {"cpus": os.cpu_count(), "load_avg_at_start": os.getloadavg()[0], "throughput": [],
                    "niceness": args.niceness}
    if "keeping" in parts:
        print(f"1. keeping up: {Path(recording).name} at 30 fps, kiosk + headless Chromium", file=sys.stderr)
        report["keeping_up"] = keeping_up(tmp, recording, model, max(args.seconds, 15.0))
    print("2. throughput without / with the kiosk", file=sys.stderr)
    if "video" in parts and Path(video).exists():
        report["throughput"].append(throughput(tmp, f"{Path(video).name} (MediaPipe, --fast)",
                                               ["--source", video, "--model", model, "--fast", "--repeat", "100000"],
                                               args.cycles, args.seconds))
    if "replay" in parts:
        report["throughput"].append(throughput(tmp, f"{Path(recording).name} (replay, --fast)",
                                               ["--source", recording, "--model", model, "--fast", "--repeat", "100000"],
                                               args.cycles, args.seconds))
    report["load_avg_at_end"] = os.getloadavg()[0]

    if args.json:
        print(json.dumps(report, indent=1))
        return 0
    k = report.get("keeping_up")
    if k:
        g = k["page_arrival_gap_ms"]
        print(f"\nkeeping up ({k['seconds']} s at 30 fps): daemon -> kiosk {k['daemon_to_kiosk_per_s']}/s, "
              f"kiosk -> page {k['kiosk_to_page_per_s']}/s, page received {k['page_received_per_s']}/s, "
              f"drew {k['page_drawn_per_s']}/s ({100 * (k['drawn_of_sent'] or 0):.1f}% of what the daemon sent)")
        print(f"  kiosk thinned {k['kiosk_thinned']}, skipped for a slow page {k['kiosk_skipped_slow_page']}; "
              f"page skipped {k['page_skipped']}")
        print(f"  page draw ms p50 {k['page_draw_ms']['p50']} p95 {k['page_draw_ms']['p95']}; "
              f"arrival -> drawn ms p50 {k['page_arrival_to_draw_ms']['p50']} p95 {k['page_arrival_to_draw_ms']['p95']}")
        print(f"  gap between arrivals at the page ms p5 {g['p5']} p50 {g['p50']} p95 {g['p95']}")
        print(f"  CPU %: {k['cpu_percent']}; page errors: {k['page_errors'] or 'none'}")
    for t in report["throughput"]:
        print(f"\nthroughput, {t['source']}: {t['cycles']} cycles of three {t['seconds']:g} s windows")
        for cond in CONDITIONS:
            fps = ", ".join(f"{x['fps']:.1f}" for x in t["runs"][cond])
            line = (f"  {cond:>10}: median {t['median_fps'][cond]:.1f} fps ({fps}); "
                    f"daemon CPU {t['median_daemon_cpu_ms_per_frame'][cond]:.4g} ms/frame")
            if cond != "without":
                line += (f"; / without: fps {t['ratio_of_medians'][cond]:.3f} (medians), "
                         f"{t['median_cycle_ratio'][cond]:.3f} (per cycle), CPU/frame {t['cpu_per_frame_ratio'][cond]:.3f}")
            print(line)
    print(f"\n{report['cpus']} CPUs; load average {report['load_avg_at_start']:.1f} at start, {report['load_avg_at_end']:.1f} at end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
