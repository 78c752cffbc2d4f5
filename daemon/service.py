"""`signd run` as a service: publishers, systemd notifications, heartbeats, reload and stop.

Readiness is honest: READY=1 goes out once the configuration is valid, the model is loaded,
checked on its golden inputs and warmed, the event socket listens and the first frame has
been through extraction. WATCHDOG=1 goes out only while frames progress (or while a vanished
camera is being reopened, which is the daemon doing its job). SIGHUP reloads the configuration
and the model, checking the new model before it replaces the old one; SIGTERM says `bye` to
socket clients and exits 0.
"""

from __future__ import annotations

import logging
import signal
import time
from collections.abc import Sequence
from dataclasses import asdict, replace
from types import FrameType
from typing import Any

import numpy as np

from . import __version__, startup_signals
from .assemble import build_pipeline, load_classifier, preflight, recognition
from .classifier import Classifier
from .config import RunConfig, load_config
from .errors import SigndError
from .keypoint_recorder import KeypointRecorder, RecordTarget, StreamInfo
from .pipeline import Pipeline
from .protocol import PROTOCOL_VERSION, DescribeEvent, ErrorEvent, HelloEvent, StatusEvent
from .publishers import StdoutPublisher
from .publishers.base import Publisher
from .publishers.mqtt import MqttPublisher
from .publishers.socket import SocketPublisher
from .systemd import Notifier, listen_fds, watchdog_interval

log = logging.getLogger(__name__)

# Changing these needs a restart: the reload keeps them and says so.
_RESTART_ONLY = ("source", "keypoints", "socket", "mqtt")


def model_info(c: Classifier) -> dict[str, Any]:
    return {
        "name": c.name, "sha256": c.sha256, "labels": c.labels, "layout": c.layout.name,
        "features": c.features, "quantization": c.manifest.quantization, "path": c.model.path,
        "runtime": f"{c.model.runtime.name} {c.model.runtime.version}",
        "custom_signs": [{"name": s.name, "adapts": s.adapts, "examples": len(s.examples)}
                         for s in (c.custom.signs if c.custom is not None else [])],
    }


class Service:
    """The one supervisor loop: `signd run`, `signd bench` and the Pi check all run it.

    `sinks` are where events go besides the socket and the broker the configuration names;
    by default standard output (`bench` gives a sink that only counts)."""

    def __init__(self, cfg: RunConfig, config_path: str | None = None, overrides: dict[str, Any] | None = None,
                 sinks: Sequence[Publisher] | None = None, record: RecordTarget | None = None) -> None:
        self.cfg = cfg
        self.record = record
        self.config_path = config_path
        self.overrides = overrides or {}
        self.notifier = Notifier()
        self.state = "starting"
        self.pipeline: Pipeline | None = None
        self.publishers: list[Publisher] = list(sinks) if sinks is not None else [StdoutPublisher()]
        self.socket: SocketPublisher | None = None
        self._reloads = 0
        self._stopped_by: int | None = None

    # -- what clients are told --------------------------------------------------------------

    def hello(self) -> HelloEvent:
        assert self.pipeline is not None
        return HelloEvent(PROTOCOL_VERSION, __version__, model_info(self.pipeline.classifier), self.cfg.source.uri)

    def status(self) -> StatusEvent:
        p = self.pipeline
        assert p is not None
        c = p.stats.counters
        lat = p.stats.timings["latency"].values()
        return StatusEvent(
            state=self.state,
            fps=round(p.stats.fps(), 2),
            latency_ms={
                "p50": round(float(np.percentile(lat, 50)), 2) if lat.size else 0.0,
                "p95": round(float(np.percentile(lat, 95)), 2) if lat.size else 0.0,
            },
            frames=c.frames_processed, dropped_frames=c.frames_dropped, windows=c.windows,
            events=c.events, dropped_events=c.events_dropped + sum(pub.dropped for pub in self.publishers),
            clients=self.socket.client_count if self.socket else 0,
            camera=p.source.state, uptime_s=round(time.monotonic() - p.stats.started, 1),
            model=p.classifier.name,
        )

    def describe(self) -> DescribeEvent:
        assert self.pipeline is not None
        return DescribeEvent(__version__, PROTOCOL_VERSION, model_info(self.pipeline.classifier),
                             self.cfg.source.uri, asdict(self.cfg))

    # -- lifecycle ----------------------------------------------------------------------------

    def _add_publishers(self) -> None:
        fds = listen_fds()
        if self.cfg.socket.path or self.cfg.socket.tcp or fds:
            self.socket = SocketPublisher(self.cfg.socket, self.hello, self.status, self.describe, fds)
            self.publishers.append(self.socket)
        if self.cfg.mqtt.url:
            self.publishers.append(MqttPublisher(self.cfg.mqtt, self.hello, self.status))

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        if signum == signal.SIGHUP:
            self._reloads += 1  # done by the loop, once the pipeline runs
            return
        if self._stopped_by is None:
            self._stopped_by = signum
        if self.pipeline is not None:
            self.pipeline.request_stop()

    def _drops(self, queue: int) -> str:
        """Events lost, in all and where: the publishing queue, then each sink that lost some."""
        where = [("publishing queue", queue)] + [(pub.name, pub.dropped) for pub in self.publishers]
        lost = [f"{name} {n}" for name, n in where if n]
        return f"dropped {sum(n for _, n in where)}" + (f": {', '.join(lost)}" if lost else "")

    def _status_line(self) -> str:
        s = self.status()
        return (f"{s.state}: {s.fps:.1f} fps, {s.events} events, {s.clients} clients, "
                f"{s.dropped_frames} frames dropped, camera {s.camera}")

    def run(self) -> int:
        self.notifier.status("starting: loading the model")
        # Handlers first: a signal while the model loads and MediaPipe starts is kept for later
        # (SIGHUP held since the command line started: startup_signals), never lost.
        handlers = {s: signal.signal(s, self._on_signal) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
        for signum in startup_signals.take():
            self._on_signal(signum, None)
        record_error: SigndError | None = None
        try:
            checked = preflight(self.cfg)  # what check-config checks, and nothing less
            try:
                self._add_publishers()
            except BaseException:
                checked.source.close()
                raise
            self.pipeline = p = build_pipeline(self.cfg, self.publishers, checked=checked)
            if self._stopped_by is not None:  # stopped while starting: nothing ran, nothing to say
                p.source.close()
                log.info("stopped by %s while starting", signal.Signals(self._stopped_by).name)
                return 0
            if self.record is not None:
                src = p.source
                p.recorder = KeypointRecorder(self.record, StreamInfo(p.layout, src.fps, src.live, src.describe()))
            for pub in self.publishers:
                pub.start()
            if self.socket:
                log.info("serving events on %s", ", ".join(self.socket.addresses))
            p.start()
            self._loop(p)
            # Still under our handlers: a second SIGTERM or Ctrl-C while the file is written
            # does not cut it short.
            record_error = self._save_recording(p)
        finally:
            for s, h in handlers.items():
                signal.signal(s, h)
            self.notifier.close()
        c = p.stats.counters
        log.info("frames %d (dropped %d), windows %d, events %d (%s), %.1f fps%s", c.frames_processed,
                 c.frames_dropped, c.windows, c.events, self._drops(c.events_dropped), p.stats.fps(),
                 f"; {p.recorder.summary()}" if p.recorder is not None else "")
        if p.error is not None:
            if record_error is not None:
                log.error("%s", record_error)
            if isinstance(p.error, SigndError):
                raise p.error
            raise RuntimeError(f"pipeline stage failed: {p.error!r}") from p.error
        if record_error is not None:
            raise record_error
        return 0

    def _save_recording(self, p: Pipeline) -> SigndError | None:
        """Write the keypoint recording, whatever ended the run; its error is raised once the
        summary line is out."""
        if p.recorder is None:
            return None
        try:
            p.recorder.save()  # nothing recorded, nothing written: the summary line says so
        except SigndError as exc:
            return exc
        return None

    def _loop(self, p: Pipeline) -> None:
        heartbeat = self.cfg.socket.heartbeat
        watchdog = watchdog_interval()
        next_beat = time.monotonic() + heartbeat
        next_dog = time.monotonic()
        frames_at_dog = -1
        while not p.wait(0.05):
            if p.stop_event.is_set() or self._stopped_by is not None:
                break
            while self._reloads:
                self._reloads -= 1
                self.reload(p)
            now = time.monotonic()
            if self.state == "starting" and p.first_frame.is_set():
                self.state = "running"
                self.notifier.send("READY=1", f"STATUS={self._status_line()}")
                log.info("ready")
            if watchdog and now >= next_dog:
                frames = p.stats.counters.frames_processed
                if frames != frames_at_dog or p.source.state == "reopening":
                    self.notifier.send("WATCHDOG=1")
                frames_at_dog, next_dog = frames, now + watchdog
            if now >= next_beat:
                next_beat = now + heartbeat
                p.post(self.status())
                if self.state == "running":
                    self.notifier.status(self._status_line())
        self.state = "stopping"
        if self._stopped_by is not None:
            log.info("stopped by %s", signal.Signals(self._stopped_by).name)
        self.notifier.send("STOPPING=1", "STATUS=stopping")
        p.request_stop()
        p.join()  # the publishing thread closes every publisher: socket clients get `bye`

    def reload(self, p: Pipeline) -> None:
        """SIGHUP: new configuration and model, checked before they replace the running ones."""
        self.notifier.send("RELOADING=1", f"MONOTONIC_USEC={time.monotonic_ns() // 1000}", "STATUS=reloading")
        log.info("reloading the configuration and the model")
        try:
            cfg = load_config(self.config_path, self.overrides)
            classifier = load_classifier(cfg)
            if not classifier.accepts(p.layout):
                raise SigndError(f"the new model needs {classifier.layout.name} keypoints; the source gives {p.layout.name}")
            rec = recognition(cfg, classifier)
        except Exception as exc:  # a reload never ends the service, whatever the new files hold
            why = str(exc) if isinstance(exc, SigndError) else f"{type(exc).__name__}: {exc}"
            msg = f"reload failed, still running the previous model: {why}"
            log.error(msg, exc_info=log.isEnabledFor(logging.DEBUG) and not isinstance(exc, SigndError))
            p.post(ErrorEvent("reload_failed", msg))
        else:
            for section in _RESTART_ONLY:
                if getattr(cfg, section) != getattr(self.cfg, section):
                    log.warning("[%s] changed: that takes a restart (systemctl restart signd)", section)
            cfg = replace(cfg, **{section: getattr(self.cfg, section) for section in _RESTART_ONLY})
            self.cfg = cfg
            p.swap_classifier(classifier, rec)
            log.info("now running model %s (%s); window: %s", classifier.model.path, classifier.sha256[:12],
                     rec.describe(classifier.window))
            p.post(self.hello())
        self.notifier.send("READY=1", f"STATUS={self._status_line()}")


def run_service(cfg: RunConfig, config_path: str | None = None, overrides: dict[str, Any] | None = None,
                record: RecordTarget | None = None) -> int:
    return Service(cfg, config_path, overrides or {}, record=record).run()
