"""signd evaluate: accuracy of a model per signer, or leave-one-signer-out of architectures;
with --stream, events counted on sequences played back to back with rest between them; with
--videos, labelled clips through the real pipeline (`signd run --fast`), a verdict per clip."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from signd.daemon.config import WindowConfig
from signd.daemon.errors import ConfigError, InputError

NAME = "evaluate"
HELP = ("measure a model on recordings (accuracy per signer, confusion matrix), on labelled "
        "video clips through the real pipeline (--videos), or leave-one-signer-out "
        "cross-validation of architectures (--loso)")

log = logging.getLogger("signd.evaluate")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("items", nargs="*", metavar="MODEL_OR_DATA",
                   help="MODEL DATA... (a .tflite with its manifest, then recordings), or with "
                        "--loso only DATA... (MP_Data folders or signer .npz files, one signer each)")
    p.add_argument("--videos", metavar="MANIFEST_OR_DIR",
                   help="run labelled clips through the real pipeline, as `signd run --fast`: a "
                        "MANIFEST.tsv (file, signs, source) or a folder of clips named by sign "
                        "(hello.mp4, hello-2.mp4); see docs/models.md")
    p.add_argument("--model", metavar="MODEL",
                   help="with --videos: the .tflite to run (default: the shipped model)")
    p.add_argument("--loso", metavar="ARCH[,ARCH]",
                   help="leave-one-signer-out over DATA for these architectures (default, "
                        "tutorial), trained with the same seed on the same folds")
    p.add_argument("--cv", metavar="ARCH[,ARCH]",
                   help="grouped cross-validation by person over DATA for these architectures "
                        "(default, tutorial-258): fixed folds, the nine-sign vocabulary plus rest "
                        "and other, each person scored by a model that never saw them")
    p.add_argument("--k", type=int, default=5, help="with --cv: folds (default 5)")
    p.add_argument("--cv-epochs", metavar="ARCH=N[,ARCH=N]",
                   help="with --cv: epochs for some architectures only, e.g. tutorial-258=20 (the "
                        "tutorial's early stopping otherwise runs up to 120 epochs per fold)")
    p.add_argument("--thresholds", metavar="T[,T]",
                   help="with --cv: also the unknown-sign and stream figures at these thresholds, "
                        "on the same fold models (e.g. 0.6,0.7)")
    p.add_argument("--only-folds", metavar="N[,N]",
                   help="with --cv: run only these folds (1-based), e.g. to spread a run over machines")
    p.add_argument("--held-out", nargs="+", default=[], metavar="DATA",
                   help="with --loso: signers kept out of every fold, tested on a model trained "
                        "on all of DATA (e.g. a signer with a sign the others lack)")
    p.add_argument("--classes", default="hello,iloveyou,thanks",
                   help="with --loso: the signs of the protocol (default: hello,iloveyou,thanks)")
    p.add_argument("--folds", help="with --loso: only hold out these signers (comma-separated names)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epochs", type=int, help="with --loso/--cv: epochs per fold (see signd train --epochs)")
    p.add_argument("--stream", action="store_true",
                   help="also play each signer's sequences back to back with rest between them "
                        "through the runtime's window and smoothing, counting events")
    p.add_argument("--stride", type=int, help="stream: classify every N frames (as `signd run --stride`)")
    p.add_argument("--fps", type=float, help="stream: frames per second (default: the recordings' 30)")
    p.add_argument("--rest-seconds", type=float, help="stream: seconds of rest before each sign")
    p.add_argument("--json", action="store_true", help="print the results as one JSON object")
    p.add_argument("--plots", metavar="DIR", help="write PNG plots (confusion, per signer, curves)")
    p.add_argument("--card", metavar="DIR",
                   help="with --cv or --videos: store the results in DIR/evaluation.json and rewrite the "
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


def _run_videos(args: argparse.Namespace) -> int:
    from signd.models.videos import evaluate_videos, format_report

    others = [flag for flag, given in (
        ("MODEL_OR_DATA", args.items), ("--loso", args.loso), ("--held-out", args.held_out),
        ("--stream", args.stream), ("--plots", args.plots),
        ("--stride", args.stride is not None), ("--fps", args.fps is not None),
        ("--rest-seconds", args.rest_seconds is not None)) if given]
    if others:
        raise ConfigError(f"--videos takes only --model, --card and --json, not {', '.join(others)}")
    # The pipeline's per-clip lines (model, source) would drown the table, as in bench.
    logging.getLogger("signd.daemon.assemble").setLevel(logging.WARNING)
    report = evaluate_videos(args.videos, args.model)
    if args.card:
        from signd.models.card import write_card

        log.info("model card written to %s", write_card(Path(args.card), {"videos": report.to_dict()}))
    if args.json:
        json.dump(report.to_dict(), sys.stdout, indent=1)
        print()
    else:
        print(format_report(report))
    return 0


def run(args: argparse.Namespace) -> int:
    if args.videos:
        return _run_videos(args)
    if args.model:
        raise ConfigError("--model goes with --videos (otherwise the model is the first item)")
    if not args.items:
        raise InputError("give a model and recordings (MODEL DATA...), --loso DATA..., or --videos MANIFEST")
    from signd.models import evaluation_runs as runs
    from signd.models.plots import confusion, per_signer, training_curves

    if args.cv:
        result = _cv(args)
    elif args.loso:
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
        if args.held_out:
            raise ConfigError("--held-out goes with --loso")
        model, data = args.items[0], args.items[1:]
        if not data:
            raise InputError("give recordings to evaluate the model on: signd evaluate MODEL DATA...")
        result = runs.model_run(model, data, stream=_stream_settings(args) if args.stream else None,
                                window=_window(args))
    if args.plots and "accuracy" in result:
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

        if not args.cv:
            raise ConfigError("--card goes with --cv or --videos")
        path = write_card(Path(args.card), {"cv": result})
        log.info("model card written to %s", path)
    if args.json:
        json.dump(result, sys.stdout, indent=1)
        print()
    elif args.cv:
        from signd.models.crossval import format_cv

        print(format_cv(result))
    else:
        print(runs.format_result(result))
    return 0


def _cv(args: argparse.Namespace) -> dict:
    from signd.models.architectures import ARCHITECTURES
    from signd.models.crossval import grouped_cv
    from signd.models.train import TrainConfig

    archs = [a.strip() for a in args.cv.split(",") if a.strip()]
    bad = [a for a in archs if a not in ARCHITECTURES]
    if bad or not archs:
        raise ConfigError(f"--cv takes {', '.join(ARCHITECTURES)}, got {args.cv!r}")
    if not 2 <= args.k <= 50:
        raise ConfigError(f"--k must be within 2..50, got {args.k}")
    if len(args.items) < args.k:
        raise InputError(f"--cv with {args.k} folds needs at least {args.k} signers (DATA...)")
    if args.held_out:
        raise ConfigError("--held-out goes with --loso")
    try:
        only = [int(f) - 1 for f in (args.only_folds or "").split(",") if f.strip()] or None
    except ValueError:
        raise ConfigError(f"--only-folds takes fold numbers, got {args.only_folds!r}") from None
    if only and not all(0 <= f < args.k for f in only):
        raise ConfigError(f"--only-folds must be within 1..{args.k}, got {args.only_folds!r}")
    epochs = _epochs_per_arch(args.cv_epochs, archs)
    base = TrainConfig(seed=args.seed)
    if args.epochs is not None:
        base.epochs = args.epochs
    try:
        thresholds = tuple(float(t) for t in (args.thresholds or "").split(",") if t.strip())
    except ValueError:
        raise ConfigError(f"--thresholds takes numbers, got {args.thresholds!r}") from None
    if not all(0 <= t <= 1 for t in thresholds):
        raise ConfigError(f"--thresholds must be within 0..1, got {args.thresholds!r}")
    return grouped_cv(args.items, archs, base, k=args.k, epochs=epochs, thresholds=thresholds,
                      stream=_stream_settings(args) if args.stream else None, window=_window(args),
                      only_folds=only)


def _epochs_per_arch(text: str | None, archs: list[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for item in (text or "").split(","):
        if not item.strip():
            continue
        arch, _, n = item.partition("=")
        if arch.strip() not in archs or not n.strip().isdigit() or int(n) < 1:
            raise ConfigError(f"--cv-epochs takes ARCH=N for an architecture of --cv, got {item!r}")
        out[arch.strip()] = int(n)
    return out
