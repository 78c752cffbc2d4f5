"""signd bench: per-stage timings, throughput, drops and memory of the real pipeline."""

from __future__ import annotations

import argparse
import json
import logging

from signd.daemon.bench import bench, format_report

from .run import add_source_arguments, config_from_args

NAME = "bench"
HELP = "measure the real pipeline on a source: p50/p95 per stage, throughput, drops, RSS"


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_source_arguments(p)
    p.add_argument("--compare-model", action="append", default=[], metavar="MODEL",
                   help="also run this model on the same source, alternating rounds (repeatable)")
    p.add_argument("--custom-signs", metavar="FILE",
                   help="also run each model with these custom signs (signd enroll), alternating with none")
    p.add_argument("--rounds", type=int, default=3, help="rounds per model, alternating (default 3)")
    p.add_argument("--no-baseline", action="store_true", help="skip Holistic alone (videos only)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")


def run(args: argparse.Namespace) -> int:
    cfg = config_from_args(args)
    # The service's own per-run lines would drown the report.
    for name in ("signd.daemon.assemble", "signd.daemon.service"):
        logging.getLogger(name).setLevel(logging.WARNING)
    report = bench(cfg, [cfg.model.path or None, *args.compare_model], rounds=args.rounds,
                   baseline=not args.no_baseline, custom_signs=args.custom_signs)
    print(json.dumps(report, indent=1) if args.json else format_report(report), flush=True)
    return 0
