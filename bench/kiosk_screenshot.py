"""docs/kiosk.png: the kiosk page as a visitor sees it, from a real run.

A real signer's recording (../shared/data/signers) replays at 30 fps through `signd run` with a
small model fit to that signer; `signd kiosk` serves the page; headless Chromium shows it at
1280x720 and takes the picture once a sign is recognised and the skeleton has a hand in it.

    python bench/kiosk_screenshot.py [--signer jonathanroddy] [--out docs/kiosk.png]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from daemonkit import Daemon  # noqa: E402
from kiosk_browser import Chromium  # noqa: E402
from kiosk_kit import KioskProcess  # noqa: E402

SHARED = Path(os.environ.get("SIGND_SHARED_DATA", ROOT.parent / "shared" / "data"))
MAX_BYTES = 300_000


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--signer", default="jonathanroddy")
    ap.add_argument("--model", help="a .tflite model for that signer (default: fit one here)")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "kiosk.png")
    ap.add_argument("--size", default="1280x720")
    args = ap.parse_args()

    npz = SHARED / "signers" / f"{args.signer}.npz"
    if not npz.exists():
        print(f"kiosk_screenshot: {npz} not found (needs ../shared/data)", file=sys.stderr)
        return 1
    tmp = Path(tempfile.mkdtemp(prefix="kiosk-shot-"))
    model = args.model
    if model is None:
        from signd.daemon.recordings import load_npz

        from modelkit import train_tflite

        print(f"fitting a small model to {npz.name} ...", file=sys.stderr)
        model = str(train_tflite(load_npz(npz), tmp / f"{args.signer}.tflite"))
    width, height = (int(v) for v in args.size.split("x"))
    sock = str(tmp / "events.sock")
    daemon = Daemon(tmp, "--source", str(npz), "--model", model, "--socket", sock)
    kiosk = browser = None
    try:
        daemon.wait_ready(120)
        kiosk = KioskProcess(sock, 0, "--aspect", "4:3")
        kiosk.wait_ready()
        browser = Chromium(tmp, width, height)
        page = browser.open(kiosk.url)
        # A moment worth showing: a few signs in the sentence, and a hand in the skeleton.
        page.wait_for("document.querySelectorAll('#sentence li').length >= 3 && "
                      "kiosk.stats.lastParts.includes('pose') && kiosk.stats.lastParts.length >= 2", 120)
        out = page.screenshot(args.out.with_suffix(".tmp.png"))
        problems = page.problems()
    finally:
        if browser:
            browser.close()
        if kiosk:
            kiosk.stop()
        daemon.stop()
    size = out.stat().st_size
    if problems or size > MAX_BYTES:
        out.unlink()
        print(f"kiosk_screenshot: not written: {problems or f'{size} bytes > {MAX_BYTES}'}", file=sys.stderr)
        return 1
    out.replace(args.out)
    print(f"{args.out} ({size // 1024} KB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
