"""`signd`: a thin command line over the library. Each subcommand is a module in
`signd.daemon.commands` with NAME, HELP, add_arguments(parser) and run(args) -> exit code."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import pkgutil
import sys
from collections.abc import Sequence

from . import commands, startup_signals
from .errors import EX_SOFTWARE, SigndError
from .logging_setup import setup_logging

log = logging.getLogger("signd")

SERVICE_COMMANDS = ("run", "bench")
"""The commands that run the service, which handles SIGHUP (a reload)."""


def _command_modules() -> list:
    mods = []
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda i: i.name):
        if not info.name.startswith("_"):
            mods.append(importlib.import_module(f"{commands.__name__}.{info.name}"))
    return mods


def build_parser() -> tuple[argparse.ArgumentParser, dict]:
    from . import __version__
    parser = argparse.ArgumentParser(
        prog="signd", description="A camera becomes a sign-language sensor: one event per sign."
    )
    parser.add_argument("--version", action="version", version=f"signd {__version__}")
    parser.add_argument(
        "--log-level", default=os.environ.get("SIGND_LOG_LEVEL"),
        choices=["debug", "info", "warning", "error"],
        help="stderr log level (default: info, or log_level of the config file)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    runners = {}
    for mod in _command_modules():
        p = sub.add_parser(mod.NAME, help=mod.HELP, description=mod.HELP)
        mod.add_arguments(p)
        runners[mod.NAME] = mod.run
    return parser, runners


def main(argv: Sequence[str] | None = None) -> int:
    startup_signals.hold()
    parser, runners = build_parser()
    args = parser.parse_args(argv)
    if args.command not in SERVICE_COMMANDS:
        startup_signals.release()
    if not args.command:
        parser.print_help(sys.stderr)
        return 2
    setup_logging(args.log_level or "info")
    try:
        return int(runners[args.command](args) or 0)
    except SigndError as exc:
        print(f"signd {args.command}: error: {exc}", file=sys.stderr, flush=True)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader of our stdout went away (e.g. `| head`): not an error of ours.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception:
        log.exception("internal error")
        return EX_SOFTWARE


if __name__ == "__main__":
    sys.exit(main())
