"""signd listen: print the daemon's events as JSON lines; reconnects when the daemon restarts."""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
import threading

from signd.daemon.listener import DEFAULT_SOCKET, listen
from signd.daemon.protocol import STREAM_TYPES

NAME = "listen"
HELP = "print events from a running daemon's socket (reconnects with backoff)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("socket", nargs="?", default=DEFAULT_SOCKET, help=f"Unix socket path or tcp://HOST:PORT (default {DEFAULT_SOCKET})")
    p.add_argument("--types", help=f"comma-separated event types to watch ({', '.join(STREAM_TYPES)}; default gesture,status,error)")
    p.add_argument("--min-score", type=float, help="only gestures at least this sure (0..1)")
    p.add_argument("--count", type=int, help="exit after this many gesture events")


def run(args: argparse.Namespace) -> int:
    commands = []
    if args.types or args.min_score is not None:
        watch: dict = {"cmd": "watch"}
        if args.types:
            watch["types"] = [t.strip() for t in args.types.split(",") if t.strip()]
        if args.min_score is not None:
            watch["min_score"] = args.min_score
        commands.append(watch)
    stop = threading.Event()
    for s in (signal.SIGINT, signal.SIGTERM):
        signal.signal(s, lambda *_: stop.set())
    seen = 0

    def on_line(line: str) -> bool:
        nonlocal seen
        sys.stdout.write(line + "\n")
        sys.stdout.flush()
        if args.count is not None:
            with contextlib.suppress(ValueError):
                seen += json.loads(line).get("type") == "gesture"
            return seen >= args.count
        return False

    listen(args.socket, on_line, stop, commands)
    return 0
