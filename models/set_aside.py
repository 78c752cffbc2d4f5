"""Recordings that do not show their label, with the evidence: kept out of training, and
counted both ways in every evaluation (as labelled, and set aside).

A class is set aside here only on evidence from the numbers, never because a model got it
wrong alone. The evidence is in the model card (models/default/README.md) as well.
"""

from __future__ import annotations

import numpy as np

from signd.daemon.layout import MIN_HAND_FRAMES, layout_for_size

from .dataset import REST_LABEL, Signer

# A sign is made with the hands: a sign's sequence in which MediaPipe found a hand in fewer
# than this many of its frames does not show the sign (set aside with the count as evidence).
# 3 of 30 frames: one signer (matthewbradon, who sits with the hands below the picture) has
# 78 of their 90 vocabulary sequences below it; the other 50 signers have 0-5 vocabulary
# sequences each (0-8 with their other signs).
HANDS_EVIDENCE = (f"a sign's sequence with a hand found in fewer than {MIN_HAND_FRAMES} of its frames "
                  "does not show the sign (every sign here is made with the hands)")

# (signer, class as recorded) -> the evidence.
SET_ASIDE: dict[tuple[str, str], str] = {
    ("shivanagalla", "thanks"): (
        "a fist: the main hand's finger tips are 0.88-0.99 of their knuckles' distance from the "
        "wrist, as in every other signer's sorry (0.76-0.99); every other signer's thanks is a "
        "flat hand at 1.76-4.5 (44 signers)"),
    ("shivanagalla", "sorry"): (
        "a flat hand (finger ratios 1.66-1.98) circling at the chest: the other signers' please "
        "(1.6-2.2); their sorry is a fist (0.76-0.99)"),
    ("shivanagalla", "please"): (
        "a flat hand (1.89-2.35) from the chin: thanks; with the two rows above, the recording's "
        "three folders hold its three signs in a rotated order (models trained without this "
        "signer take thanks for sorry 28/30, sorry for please 30/30, please for thanks 26/30)"),
    ("knsreeja07", "help"): (
        "both open hands (finger ratios 1.65-1.83) held high, the wrists 0.56 shoulder widths "
        "above the shoulders in every sequence: a call for help, not the sign; the other seven "
        "signers' help is at the chest, 0.03-0.33 below the shoulders"),
    ("fowldeadpool", "no"): (
        "a fist in every sequence (finger ratios 0.46-0.65), the handshape of this signer's own "
        "yes (0.76-0.86) and of every signer's yes (0.27-0.96); every other signer's no has "
        "index and middle stretched (1.17-1.91; 12 of 15) or the whole hand open (3 of 15)"),
    ("g4cio", "no"): (
        "an open hand (all four finger ratios 1.71-1.89) that never closes (the middle finger's "
        "stretch varies by 0.07 within a sequence): neither NO's handshape nor its snap; the 12 "
        "signers whose no closes index and middle onto the thumb vary by 0.22-0.60"),
    ("ad-codex", "no"): ("as g4cio's: an open hand (1.75-1.84) that never closes (0.10), moved up and down"),
}


def hands_unseen(signer: Signer) -> np.ndarray:
    """(N,) bool: sequences of a sign (not rest) with a hand in fewer than MIN_HAND_FRAMES frames."""
    layout = layout_for_size(signer.X.shape[-1]) if signer.X.ndim == 3 else None
    if layout is None or not len(signer.X):
        return np.zeros(len(signer.labels), bool)
    return (layout.hand_frames(signer.X) < MIN_HAND_FRAMES) & (np.array(signer.labels) != REST_LABEL)


def listed(signer: Signer) -> np.ndarray:
    """(N,) bool: sequences of the classes listed in SET_ASIDE."""
    return np.array([(signer.name, lab) in SET_ASIDE for lab in signer.labels], bool)


def aside_mask(signer: Signer) -> np.ndarray:
    """(N,) bool: which of the signer's sequences are set aside (listed classes, and sign
    sequences that show no hands)."""
    return listed(signer) | hands_unseen(signer)


def split_aside(signer: Signer) -> tuple[Signer, Signer]:
    """(the signer's sequences to use, those set aside)."""
    aside = aside_mask(signer)
    return signer.select(~aside), signer.select(aside)
