"""signd collect: record training sequences from a camera or a video, the tutorial's way."""

from __future__ import annotations

import argparse
import logging
import threading
from pathlib import Path

from signd.daemon.errors import ConfigError, InputError

NAME = "collect"
HELP = "record sign sequences (MP_Data layout) from a camera or a video; never overwrites"

log = logging.getLogger("signd.collect")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--actions", nargs="+", required=True, metavar="NAME",
                   help="the signs to record, in order, e.g. hello thanks iloveyou")
    p.add_argument("--sequences", type=int, default=30, help="sequences per action (default 30)")
    p.add_argument("--frames", type=int, default=30, help="frames per sequence (default 30)")
    p.add_argument("--pause", type=float, default=2.0,
                   help="seconds before each sequence (a video skips that much; default 2)")
    p.add_argument("--source", default="camera:0",
                   help="camera:N, /dev/videoN, picamera2 or a video file (default camera:0)")
    p.add_argument("-o", "--out", default="MP_Data", metavar="DIR",
                   help="the MP_Data folder; numbering continues after what is there (default MP_Data)")
    p.add_argument("--layout", choices=["tutorial-1662", "pose-hands-258"], default="tutorial-1662",
                   help="keypoints saved per frame (default: the tutorial's 1662)")
    p.add_argument("--preview", choices=["auto", "on", "off"], default="auto",
                   help="a window with the skeleton (auto: when a display exists)")


def run(args: argparse.Namespace) -> int:
    from signd.daemon.config import KeypointsConfig, SourceConfig
    from signd.daemon.holistic import HolisticExtractor
    from signd.daemon.layout import layout_named
    from signd.daemon.sources import SourceKind, make_source
    from signd.models.collect import (
        CollectPlan,
        check_plan,
        collect,
        display_available,
        window_preview,
    )

    plan = CollectPlan(list(args.actions), args.sequences, args.frames, args.pause)
    check_plan(plan)
    layout = layout_named(args.layout)
    root = Path(args.out)
    if root.exists() and not root.is_dir():
        raise ConfigError(f"--out {root} exists and is not a folder")
    stop = threading.Event()
    is_file = Path(args.source).is_file()
    source = make_source(SourceConfig(uri=args.source, fast=is_file), stop)
    source.open()
    if source.kind is not SourceKind.IMAGE:
        source.close()
        raise InputError(f"{args.source}: collect records from a camera or a video, not a keypoint replay")
    show = args.preview == "on" or (args.preview == "auto" and display_available())
    extractor = HolisticExtractor(layout, KeypointsConfig().model_complexity)
    try:
        result = collect(source, extractor.extract, root, plan, layout,
                         preview=window_preview(layout) if show else None, stop=stop)
    except KeyboardInterrupt:
        log.warning("interrupted: sequences written so far are kept; a partial one is not")
        return 130
    finally:
        extractor.close()
        source.close()
        if show:
            import cv2

            cv2.destroyAllWindows()
    done = sum(len(v) for v in result.written.values())
    for action, nums in result.written.items():
        if nums:
            print(f"{action}: sequences {nums[0]}..{nums[-1]} in {root / action}")
    wanted = plan.sequences * len(plan.actions)
    if done < wanted:
        log.warning("the source ended after %d of %d sequences (%d frames read, %d in pauses, "
                    "%d partial sequence discarded)", done, wanted, result.frames_read,
                    result.frames_skipped, result.incomplete)
        return 1
    log.info("recorded %d sequences (%d frames read, %d in pauses)", done, result.frames_read,
             result.frames_skipped)
    return 0
