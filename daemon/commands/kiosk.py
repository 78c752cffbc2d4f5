"""signd kiosk: a full-screen page of recognised signs on loopback, fed live by the daemon."""

from __future__ import annotations

import argparse

from signd.daemon.listener import DEFAULT_SOCKET

NAME = "kiosk"
HELP = "serve a live full-screen page of recognised signs on 127.0.0.1 (for a kiosk browser)"


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port number 0..65535 (0 = any free port), got {text!r}")
    return port


def _aspect(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.replace("/", ":").split(":"))
        if w > 0 and h > 0:
            return w, h
    except ValueError:
        pass
    raise argparse.ArgumentTypeError(f"expected WIDTH:HEIGHT such as 4:3 or 16:9, got {text!r}")


def add_arguments(p: argparse.ArgumentParser) -> None:
    from signd.daemon.kiosk.server import KioskConfig

    d = KioskConfig(socket=DEFAULT_SOCKET)
    p.add_argument("--socket", default=DEFAULT_SOCKET, help=f"the daemon's event socket: a path or tcp://HOST:PORT (default {DEFAULT_SOCKET})")
    p.add_argument("--port", type=_port, default=d.port, help=f"port on 127.0.0.1 (default {d.port}; 0 = any free port, logged at start)")
    p.add_argument("--aspect", type=_aspect, default=d.aspect, metavar="W:H", help="the camera image's aspect ratio, for the skeleton (default 4:3, as 640x480)")
    p.add_argument("--no-mirror", dest="mirror", action="store_false", help="draw the skeleton as the camera sees it, not mirrored")


def run(args: argparse.Namespace) -> int:
    from signd.daemon.kiosk.server import KioskConfig, run_kiosk

    return run_kiosk(KioskConfig(socket=args.socket, port=args.port, aspect=args.aspect, mirror=args.mirror))
