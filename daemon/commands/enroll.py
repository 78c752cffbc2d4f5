"""signd enroll: teach signd a new sign from a few examples, on the device, without TensorFlow."""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import sys
from pathlib import Path

from signd.daemon.errors import ConfigError, DataError

NAME = "enroll"
HELP = "teach a new sign (or your way of a built-in one) from a few examples; --list, --remove"

log = logging.getLogger("signd.enroll")
DEFAULT_EXAMPLES = 10


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", nargs="?", help="the sign's name (its events' label), e.g. toilet")
    p.add_argument("--source", default="camera:0",
                   help="camera:N, /dev/videoN, picamera2, a video, a keypoint recording (.npz), "
                        "or a signer .npz / MP_Data folder (its sequences of --label); default camera:0")
    p.add_argument("--examples", type=int, default=DEFAULT_EXAMPLES,
                   help=f"examples to take (at least 3; default {DEFAULT_EXAMPLES})")
    p.add_argument("--label", help="from a signer file: the label of the sequences to take (default: NAME)")
    p.add_argument("--adapt", action="store_true",
                   help="NAME is a built-in sign: add these examples as another way of signing it")
    p.add_argument("--pause", type=float, default=2.0,
                   help="camera: seconds of countdown before each example (0-30; default 2)")
    p.add_argument("--labels", help="a model without a manifest: its output names in order, e.g. hello,thanks,iloveyou")
    p.add_argument("--socket", metavar="PATH",
                   help="camera: serve events here while recording, for the kiosk page (default: [socket] path)")
    p.add_argument("--list", action="store_true", help="list the custom signs")
    p.add_argument("--remove", metavar="NAME", help="remove a custom sign")
    p.add_argument("--config", help="a signd.toml (its [model] path and custom_signs)")
    p.add_argument("--model", help="the model (.tflite with its manifest); default: the shipped one")
    p.add_argument("--custom-signs", metavar="FILE",
                   help="the custom-signs file (default: [model] custom_signs, else <model>.signs.json)")


def _config(args: argparse.Namespace):
    from signd.daemon.config import load_config

    model: dict[str, object] = {}
    if args.model:
        model["path"] = args.model
    if args.labels:
        model["labels"] = [x.strip() for x in args.labels.split(",") if x.strip()]
    if args.custom_signs:
        model["custom_signs"] = args.custom_signs
    overrides = {"source": {"uri": args.source}, **({"model": model} if model else {})}
    if args.socket:
        overrides["socket"] = {"path": args.socket}
    return load_config(args.config, overrides)


def run(args: argparse.Namespace) -> int:
    from signd.daemon.assemble import load_classifier, recognition
    from signd.daemon.custom import examples as ex
    from signd.daemon.custom.background import load_background
    from signd.daemon.custom.descriptor import describe
    from signd.daemon.custom.matcher import fit
    from signd.daemon.custom.store import MIN_EXAMPLES, check_name, load_signs, save_signs
    from signd.daemon.layout import MIN_HAND_FRAMES
    from signd.daemon.sources import is_live
    from signd.daemon.sources.replay import is_keypoint_stream

    cfg = _config(args)
    path = cfg.custom_signs_path()
    signs = load_signs(path)
    if args.list:
        if not signs.signs:
            print(f"no custom signs ({path})")
        for s in signs.signs:
            kind = "adapts a built-in sign" if s.adapts else "new sign"
            print(f"{s.name}\t{kind}\t{len(s.examples)} examples\t{s.source}\t{s.created}")
        return 0
    if args.remove:
        gone = args.remove.strip().lower()
        if not signs.remove(gone):
            raise ConfigError(f"--remove {gone}: no such custom sign in {path} ({', '.join(signs.names()) or 'none'})")
        save_signs(path, signs)
        print(f"removed {gone} from {path}; `systemctl reload signd` (or SIGHUP) to apply")
        return 0
    if not args.name:
        raise ConfigError("enroll: give the sign's name (or --list, --remove NAME)")
    name = args.name.strip().lower()
    why = check_name(name)
    if why:
        raise ConfigError(f"enroll: {why}")
    if not 0 <= args.pause <= 30:
        raise ConfigError(f"--pause {args.pause:g}: must be within 0..30 seconds")
    if args.examples < MIN_EXAMPLES:
        raise ConfigError(f"--examples {args.examples}: at least {MIN_EXAMPLES} are needed to tell a sign from its noise")
    classifier = load_classifier(cfg)
    own = classifier.model_labels
    if name in own and not args.adapt:
        raise ConfigError(f"enroll: {name!r} is a built-in sign of {classifier.name}; "
                          f"--adapt {name} adds your way of signing it")
    if args.adapt and name not in own:
        raise ConfigError(f"--adapt: {name!r} is not a built-in sign of {classifier.name} ({', '.join(own)})")

    src, live = Path(args.source), is_live(args.source)
    if not live and (src.is_dir() or (src.suffix == ".npz" and src.is_file() and not is_keypoint_stream(src))):
        got = ex.from_sequences(str(src), (args.label or name).lower(), args.examples)
    else:
        rec = recognition(cfg, classifier)
        record = max(rec.window.seconds or 1.0, 1.0) + 0.5  # the window's span, and time to start
        countdown = ex.Countdown(name, args.examples, args.pause, record) if live else None
        got = ex.from_source(cfg, args.examples, countdown, classifier, rec)
    if got.without_hands:
        log.warning("%d windows without a hand in %d frames or more were left out", got.without_hands, MIN_HAND_FRAMES)
    if len(got.windows) == 0:
        raise DataError(f"{args.source}: no hand was seen in any example; nothing was enrolled")
    if len(got.windows) < MIN_EXAMPLES:
        raise DataError(f"{args.source}: only {len(got.windows)} examples with a hand seen; at least "
                        f"{MIN_EXAMPLES} are needed; nothing was enrolled")
    if len(got.windows) < args.examples:
        log.warning("%d of %d examples found", len(got.windows), args.examples)
    if got.performances is not None and got.performances < MIN_EXAMPLES:
        log.warning("the examples come from %d performance(s) of the sign; windows of one overlap, so "
                    "the threshold fits that performance closely: a clip with the sign made %d times or "
                    "more holds up better", got.performances, MIN_EXAMPLES)
    try:
        sign = fit(name, describe(got.windows, got.layout), load_background(), adapts=args.adapt,
                   source=ex.describe_source(args.source),
                   created=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"))
    except ValueError as exc:
        raise DataError(f"{args.source}: {exc}; nothing was enrolled") from None
    replaced = signs.get(name) is not None
    signs.put(sign)
    save_signs(path, signs)
    what = "your way of signing" if args.adapt else "the new sign"
    print(f"{'replaced' if replaced else 'enrolled'} {what} {name} from {len(got.windows)} examples "
          f"into {path}; `systemctl reload signd` (or SIGHUP) to apply", file=sys.stdout)
    return 0

