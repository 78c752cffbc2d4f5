"""signd check-config: run every check `signd run` makes before it captures a frame, then say so."""

from __future__ import annotations

import argparse

from signd.daemon.assemble import preflight
from signd.daemon.config import DEFAULT_CONFIG_PATH, load_config

NAME = "check-config"
HELP = ("validate a TOML configuration (unknown keys, types, ranges) and everything it names: "
        "the model, the source, the socket's group, the broker's password and TLS files")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", nargs="?", default=DEFAULT_CONFIG_PATH, help=f"default {DEFAULT_CONFIG_PATH}")


def run(args: argparse.Namespace) -> int:
    cfg = load_config(args.config)
    checked = preflight(cfg)
    checked.source.close()
    c = checked.classifier
    print(f"{args.config}: ok (source {cfg.source.uri}, model {c.model.path}: {', '.join(c.labels)})")
    return 0
