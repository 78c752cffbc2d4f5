"""signd evaluate: accuracy of a model per signer, or leave-one-signer-out of architectures;
with --stream, events counted on sequences played back to back with rest between them."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from signd.daemon.config import WindowConfig
from signd.daemon.errors import ConfigError, InputError

NAME = "evaluate"
HELP = ("measure a model on recordings (accuracy per signer, confusion matrix), or "
        "leave-one-signer-out cross-validation of architectures (--loso)")

log = logging.getLogger("signd.evaluate")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("items", nargs="+", metavar="MODEL_OR_DATA",
                   help="MODEL DATA... (a .tflite with its manifest, then recordings), or with "
                        "--loso only DATA... (MP_Data folders or signer .npz files, one signer each)")
    p.add_argument("--loso", metavar="ARCH[,ARCH]",
                   help="leave-one-signer-out over DATA for these architectures (default, "
                        "tutorial), trained with the same seed on the same folds")
    p.add_argument("--held-out", nargs="+", default=[], metavar="DATA",
                   help="with --loso: signers kept out of every fold, tested on a model trained "
                        "on all of DATA (e.g. a signer with a sign the others lack)")
    p.add_argument("--classes", default="hello,iloveyou,thanks",
                   help="with --loso: the signs of the protocol (default: hello,iloveyou,thanks)")
    p.add_argument("--folds", help="with --loso: only hold out these signers (comma-separated names)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epochs", type=int, help="with --loso: epochs per fold (see signd train --epochs)")
    p.add_argument("--stream", action="store_true",
                   help="also play each signer's sequences back to back with rest between them "
                        "through the runtime's window and smoothing, counting events")
    p.add_argument("--stride", type=int, help="stream: classify every N frames (as `signd run --stride`)")
    p.add_argument("--fps", type=float, help="stream: frames per second (default: the recordings' 30)")
    p.add_argument("--rest-seconds", type=float, help="stream: seconds of rest before each sign")
    p.add_argument("--json", action="store_true", help="print the results as one JSON object")
    p.add_argument("--plots", metavar="DIR", help="write PNG plots (confusion, per signer, curves)")
    p.add_argument("--card", metavar="DIR",
                   help="with --loso: store the results as DIR/evaluation.json and rewrite the "
                        "model card DIR/README.md from it and the model's manifest")


def _stream_settings(args: argparse.Namespace):  # noqa: ANN202 - a models type, imported lazily
    from signd.models.stream import StreamSettings

    given = {k: v for k, v in (("fps", args.fps), ("rest_seconds", args.rest_seconds)) if v is not None}
    if given.get("fps", 1.0) <= 0 or given.get("rest_seconds", 0.0) < 0 or (args.stride or 1) < 1:
        raise ConfigError("--stride must be >= 1, --fps > 0 and --rest-seconds >= 0")
    return StreamSettings(seed=args.seed, **given)


def _window(args: argparse.Namespace) -> WindowConfig:
    """The recognizer's window settings as `signd run` takes them: only --stride is given here."""
    return WindowConfig(stride=args.stride) if args.stride is not None else WindowConfig()


def run(args: argparse.Namespace) -> int:
    from signd.models import evaluation_runs as runs
    from signd.models.plots import confusion, per_signer, training_curves

    if args.loso:
        archs = [a.strip() for a in args.loso.split(",") if a.strip()]
        bad = [a for a in archs if a not in ("default", "tutorial")]
        if bad or not archs:
            raise ConfigError(f"--loso takes default and/or tutorial, got {args.loso!r}")
        if len(args.items) < 2:
            raise InputError("--loso needs at least two signers (DATA...)")
        result = runs.loso_run(
            args.items, archs, held_out=args.held_out,
            classes=tuple(c for c in args.classes.replace(",", " ").split() if c),
            seed=args.seed, epochs=args.epochs,
            folds=[f for f in (args.folds or "").split(",") if f] or None,
            stream=_stream_settings(args) if args.stream else None, window=_window(args),
        )
    else:
        if args.held_out or args.card:
            raise ConfigError("--held-out and --card go with --loso")
        model, data = args.items[0], args.items[1:]
        if not data:
            raise InputError("give recordings to evaluate the model on: signd evaluate MODEL DATA...")
        result = runs.model_run(model, data, stream=_stream_settings(args) if args.stream else None,
                                window=_window(args))
    if args.plots:
        out = Path(args.plots)
        for name, rep in result["accuracy"].items():
            confusion(rep["confusion"], rep["labels"], out / f"confusion-{name}.png", f"{name}: all signers")
        per_signer({name: {s["signer"]: s["accuracy"] for s in rep["signers"]}
                    for name, rep in result["accuracy"].items()},
                   out / "per-signer.png", "sequence accuracy per signer")
        for arch, hist in result.get("histories", {}).items():
            training_curves({f"without {k}": v for k, v in hist.items()}, out / f"training-{arch}.png", arch)
        log.info("plots written to %s", out)
    result.pop("histories", None)
    if args.card:
        from signd.models.card import write_card

        path = write_card(Path(args.card), result)
        log.info("model card written to %s", path)
    if args.json:
        json.dump(result, sys.stdout, indent=1)
        print()
    else:
        print(runs.format_result(result))
    return 0
