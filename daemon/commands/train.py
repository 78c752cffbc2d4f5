"""signd train: recordings in, a verified TFLite model with its manifest out."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from signd.daemon.errors import ConfigError

NAME = "train"
HELP = "train a model on recordings (MP_Data folders or signer .npz files, one signer each)"

log = logging.getLogger("signd.train")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("data", nargs="+", metavar="DATA",
                   help="MP_Data folders or signer .npz files; each one is one signer")
    p.add_argument("-o", "--out", required=True, metavar="DIR",
                   help="output folder, e.g. models/mine: writes DIR/<name>.tflite and .json")
    p.add_argument("--arch", choices=["default", "tutorial"], default="default",
                   help="default: signd's model for unseen signers; tutorial: the seed's LSTM")
    p.add_argument("--classes", type=lambda s: [c for c in s.replace(",", " ").split() if c],
                   help="classes to train, comma-separated (default: every class that at least "
                        "two signers perform; others are dropped with a warning)")
    p.add_argument("--vocabulary", action="store_true",
                   help="the shipped model's classes: hello, thanks, iloveyou, please, yes, no, help, "
                        "sorry, goodbye (or --classes), plus rest, with every other sign in DATA "
                        "learnt as `other` (never an event); recordings set aside in "
                        "models/set_aside.py are left out")
    p.add_argument("--no-rest", action="store_true",
                   help="default arch: no rest class (by default one is learnt from recorded "
                        "blank sequences and synthetic rest, and never fires an event)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epochs", type=int, help="epochs (default arch: exactly this many, 20 unless given; tutorial: at "
                        "most this many, early stopping ends sooner)")
    p.add_argument("--copies", type=int, help="augmented copies of each sequence (default arch)")
    p.add_argument("--rare-boost", type=int, help="up to this many times the copies for signs with few sequences")
    p.add_argument("--other-weight", type=float,
                   help="default arch: class weight of `other` (signs outside the vocabulary) against "
                        "one sign's (default 1); higher keeps unknown signs quieter at a cost in recall")
    p.add_argument("--quantize", choices=["float32", "float16", "dynamic", "int8", "auto"],
                   help="TFLite weights (default: float16 for default, float32 for tutorial)")
    p.add_argument("--target",
                   help="runtime the model must load on (default: tflite-runtime-2.14, which "
                        "ai-edge-litert also loads)")
    p.add_argument("--name", help="model name (default: the output folder's name)")
    p.add_argument("--demo", action="store_true",
                   help="also write DIR/demo.npz: a keypoint stream made from per-class statistics "
                        "of DATA (what `signd run --source demo` plays), checked on the new model")


def run(args: argparse.Namespace) -> int:
    from signd.daemon.layout import layout_named
    from signd.models.dataset import choose_classes, load_signers
    from signd.models.export import export
    from signd.models.plots import training_curves
    from signd.models.train import TrainConfig, fit

    cfg = TrainConfig(arch=args.arch, seed=args.seed, rest=not args.no_rest and args.arch == "default")
    if args.epochs is not None:
        if args.epochs < 1:
            raise ConfigError(f"--epochs must be >= 1, got {args.epochs}")
        cfg.epochs = args.epochs
    if args.copies is not None:
        if args.copies < 0:
            raise ConfigError(f"--copies must be >= 0, got {args.copies}")
        cfg.copies = args.copies
    if args.rare_boost is not None:
        if not 1 <= args.rare_boost <= 10:
            raise ConfigError(f"--rare-boost must be within 1..10, got {args.rare_boost}")
        cfg.rare_boost = args.rare_boost
    if args.other_weight is not None:
        if args.arch != "default":
            raise ConfigError("--other-weight is the default arch's; the tutorial stays the seed's network")
        if not 0.1 <= args.other_weight <= 20:
            raise ConfigError(f"--other-weight must be within 0.1..20, got {args.other_weight:g}")
        cfg.other_weight = args.other_weight
    signers = load_signers(args.data, layout_named(cfg.layout), window=cfg.window)
    if args.vocabulary:
        from signd.models.crossval import cv_labels
        from signd.models.dataset import VOCABULARY, open_set, wanted_classes
        from signd.models.set_aside import split_aside

        if args.no_rest:
            raise ConfigError("--vocabulary learns rest and other; leave out --no-rest")
        vocab = tuple(wanted_classes(signers, args.classes or VOCABULARY))
        signers = [split_aside(s)[0] for s in open_set(signers, vocab)]
        labels = cv_labels(vocab)
    else:
        labels = choose_classes(signers, args.classes, rest=cfg.rest)
    log.info("training %s on %d signers, classes %s", cfg.arch, len(signers), ", ".join(labels))
    trained = fit(signers, labels, cfg, desc=f"train {cfg.arch}")
    out = Path(args.out)
    given = {"target": args.target} if args.target else {}
    report: Any = export(trained, out, args.data, name=args.name, quantize=args.quantize, **given)
    training_curves({cfg.arch: trained.history}, out / "training.png", f"{cfg.arch} training")
    print(f"wrote {report.output} and {report.manifest} ({report.chosen}); curves in {out / 'training.png'}")
    if args.demo:
        from signd.models.demo import check_demo, make_demo, write_demo

        signs = [c for c in labels if c not in ("blank", "other")]
        arrays = make_demo(signers, signs, seed=args.seed)
        heard = check_demo(arrays, Path(report.output))
        if heard != signs:
            # A prototype is the mean of many people's signing, not anyone's sign: where the
            # mean blurs a sign the model does not hear it, and the demo leaves it out.
            kept = [c for c in signs
                    if check_demo(make_demo(signers, [c], seed=args.seed), Path(report.output)) == [c]]
            log.warning("the model does not hear the made-up %s; the demo shows %s",
                        ", ".join(c for c in signs if c not in kept) or "order", ", ".join(kept))
            signs = kept
            arrays = make_demo(signers, signs, seed=args.seed)
            heard = check_demo(arrays, Path(report.output))
        path = write_demo(out / "demo.npz", arrays)
        print(f"wrote {path} ({path.stat().st_size // 1024} KB): signs {', '.join(signs)}; "
              f"the new model hears {', '.join(heard) or 'nothing'}")
        if heard != signs:
            log.warning("the model does not recognise its own demo exactly: %s != %s", heard, signs)
    return 0
