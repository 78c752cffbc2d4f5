"""Child processes that may die: the converter and the runtime probes.

A child gets a job file naming its items (each with an "id") and answers with JSON lines on
stdout: `start` before an item, `done` after it. If the child dies between the two, the item
it was on is answered here with the cause (signal and the last line of its stderr), and a new
child takes the items that are left. So a converter abort or a runtime segfault costs one
item, not the run.
"""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

log = logging.getLogger(__name__)

# Lines of a child's stderr that say why it died, best first.
_CAUSES = ("LLVM ERROR", "Check failed", "Fatal Python error")
_FRAME = re.compile(r'File "([^"]+)", line (\d+) in (\S+)')
_GLOG = re.compile(r"^[IWEF]\d{4} ")  # TensorFlow's own log lines: noise here


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    env.setdefault("GLOG_minloglevel", "2")
    env["PYTHONUNBUFFERED"] = "1"
    return env


def describe_exit(returncode: int, stderr_text: str) -> str:
    """'killed by SIGSEGV: <telling stderr line>' or 'exited with status 1: ...'."""
    if returncode < 0:
        try:
            how = f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            how = f"killed by signal {-returncode}"
    else:
        how = f"exited with status {returncode}"
    lines = [ln.strip() for ln in stderr_text.splitlines() if ln.strip()]
    detail = ""
    for cause in _CAUSES:
        hits = [ln for ln in lines if ln.startswith(cause) or cause in ln]
        if hits:
            detail = hits[0]
            break
    if detail.startswith("Fatal Python error"):
        # faulthandler lists the Python frames, innermost first: name the one that crashed.
        frames = [m for ln in lines if (m := _FRAME.search(ln))]
        if frames:
            path, line, func = frames[0].groups()
            detail += f" in {func} ({'/'.join(path.split('/')[-2:])}:{line})"
    if not detail:
        plain = [ln for ln in lines if not _GLOG.match(ln)]
        detail = plain[-1] if plain else ""
    detail = detail[:300]
    return f"{how}: {detail}" if detail else how


class Child:
    """`python -m module JOB.json` with JSON events on stdout and stderr kept in a temp file."""

    def __init__(self, module: str, job: dict[str, Any], workdir: Path) -> None:
        fd, path = tempfile.mkstemp(prefix="job-", suffix=".json", dir=workdir)
        with os.fdopen(fd, "w") as f:
            json.dump(job, f)
        self._stderr: IO[bytes] = tempfile.TemporaryFile(dir=workdir)  # noqa: SIM115 (closed by close())
        self.proc = subprocess.Popen(
            [sys.executable, "-X", "faulthandler", "-m", module, path],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr,
            text=True, env=child_env(),
        )

    def events(self) -> Any:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                event = json.loads(line)
            except ValueError:
                continue  # not ours: a library that printed despite the redirect
            if isinstance(event, dict) and "event" in event:
                yield event

    def send(self, message: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(message) + "\n")
        self.proc.stdin.flush()

    def stderr_text(self) -> str:
        self._stderr.seek(0)
        return self._stderr.read().decode("utf-8", "replace")

    def finish(self) -> int:
        try:
            if self.proc.stdin:
                self.proc.stdin.close()
        except BrokenPipeError:
            pass
        return self.proc.wait()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.finish()

    def close(self) -> None:
        self._stderr.close()


class ChildFailed(Exception):
    """The child died or refused before any item: nothing to resume."""


def run_items(
    module: str,
    make_job: Callable[[list[dict[str, Any]], bool], dict[str, Any]],
    items: list[dict[str, Any]],
    on_event: Callable[[dict[str, Any], Child], None],
    workdir: Path,
) -> dict[str, dict[str, Any]]:
    """Run `items` through child processes of `module`; the final event of each item by id.

    `make_job(remaining, first)` builds the job; `on_event` sees every event (it may reply
    through the child, or raise to stop everything: the child is killed first). A child that
    dies before its first item raises ChildFailed with the cause.
    """
    results: dict[str, dict[str, Any]] = {}
    first = True
    while True:
        remaining = [it for it in items if it["id"] not in results]
        if not remaining:
            return results
        child = Child(module, make_job(remaining, first), workdir)
        current: str | None = None
        progressed = False
        try:
            for event in child.events():
                kind = event["event"]
                if kind == "start":
                    current = event["id"]
                elif kind == "done":
                    results[event["id"]] = event
                    current = None
                    progressed = True
                on_event(event, child)
            code = child.finish()
        except BaseException:
            child.kill()
            child.close()
            raise
        cause = describe_exit(code, child.stderr_text())
        child.close()
        if current is not None:
            results[current] = {"event": "done", "id": current, "crashed": True, "error": cause}
            log.debug("child %s died on %s: %s", module, current, cause)
        elif not progressed and remaining:
            raise ChildFailed(cause if code != 0 else f"{module} stopped before its first item")
        first = False
