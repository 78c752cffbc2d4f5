"""signd convert: a tutorial Keras model (.h5 / .keras) becomes a verified TFLite model + manifest.

Thin: parse, call `signd.convert.converter.convert_model`, print the report. The library
(and through its child processes, TensorFlow) is imported only when the command runs.
"""

from __future__ import annotations

import argparse
import json
import sys

NAME = "convert"
HELP = "turn a tutorial Keras model (.h5 or .keras) into a verified TFLite model and its manifest"

QUANTIZE = ("float32", "float16", "dynamic", "int8", "auto")
TARGETS = ("ai-edge-litert", "tflite-runtime-2.14")


def _labels(text: str) -> list[str]:
    labels = [s.strip() for s in text.split(",")]
    if not labels or any(not s for s in labels):
        raise argparse.ArgumentTypeError(f"--labels needs comma-separated names in output order, e.g. hello,thanks,iloveyou (got {text!r})")
    return labels


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", metavar="MODEL", help="the Keras model: a tutorial action.h5 (Keras 2.4 to 3.x) or a .keras file")
    p.add_argument("-o", "--output", required=True, metavar="OUT.tflite", help="where to write the model; its manifest goes beside it as OUT.json")
    p.add_argument("--labels", type=_labels, help="output names in output order (default for 3 outputs: the tutorial's hello,thanks,iloveyou)")
    p.add_argument("--quantize", choices=QUANTIZE, default="float32",
                   help="float32 (default), float16, dynamic, int8, or auto: the smallest variant that keeps >= 99%% agreement")
    p.add_argument("--data", nargs="+", default=[], metavar="SIGNER",
                   help="recordings to verify on (signer .npz files or MP_Data folders); needed for int8 and auto")
    p.add_argument("--target", choices=TARGETS, default="ai-edge-litert",
                   help="the runtime the model must load on (default ai-edge-litert; tflite-runtime-2.14 for older Pi installs)")
    p.add_argument("--json", action="store_true", help="print the report as JSON instead of a table")
    p.add_argument("--force", action="store_true", help="write a variant even when it agrees with Keras on < 99%% of the windows")
    p.add_argument("--layout", help="keypoint layout of a model whose input is not raw 1662/258 keypoints (tutorial-1662, pose-hands-258)")
    p.add_argument("--features", default="raw", help="feature set the model was trained on (default raw: the keypoints as they are)")
    p.add_argument("--name", default="", help="model name for the manifest (default: the file name)")


def _print(report: object, as_json: bool) -> None:
    from signd.convert.report import Report, format_report

    assert isinstance(report, Report)
    text = json.dumps(report.to_dict(), indent=1) if as_json else format_report(report)
    print(text, flush=True)


def run(args: argparse.Namespace) -> int:
    from signd.convert.converter import ConversionRefused, convert_model

    try:
        report = convert_model(
            args.model, args.output, labels=args.labels, quantize=args.quantize, data=args.data,
            target=args.target, force=args.force, layout=args.layout, features=args.features, name=args.name,
        )
    except ConversionRefused as exc:
        _print(exc.report, args.json)
        raise
    _print(report, args.json)
    if not args.json:
        for w in report.warnings:
            print(f"signd convert: warning: {w}", file=sys.stderr)
    return 0
