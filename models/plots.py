"""PNG plots for people who would rather look: confusion matrix, accuracy per signer, training
curves. matplotlib is imported lazily, with the file-only Agg backend (no display needed)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: str | os.PathLike[str]) -> Path:
    """Through a temporary file and a rename: never a half-written PNG."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.stem}.", suffix=".png", dir=p.parent)
    os.close(fd)
    try:
        fig.savefig(tmp, dpi=110, bbox_inches="tight")
        os.chmod(tmp, 0o644)
        os.replace(tmp, p)
    finally:
        Path(tmp).unlink(missing_ok=True)
        _pyplot().close(fig)
    return p


def confusion(matrix: np.ndarray, labels: list[str], path: str | os.PathLike[str], title: str) -> Path:
    plt = _pyplot()
    m = np.asarray(matrix)
    fig, ax = plt.subplots(figsize=(1.2 + 0.9 * len(labels), 1.0 + 0.8 * len(labels)))
    ax.imshow(m, cmap="Blues")
    for i in range(m.shape[0]):
        for j in range(m.shape[1]):
            ax.text(j, i, str(m[i, j]), ha="center", va="center",
                    color="white" if m[i, j] > m.max() / 2 else "black")
    ax.set_xticks(range(len(labels)), labels, rotation=30)
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    return _save(fig, path)


def per_signer(scores: dict[str, dict[str, float]], path: str | os.PathLike[str], title: str) -> Path:
    """`scores`: series name (e.g. architecture) -> signer -> accuracy."""
    plt = _pyplot()
    signers = sorted({s for v in scores.values() for s in v})
    fig, ax = plt.subplots(figsize=(1.5 + 1.1 * len(signers), 3.6))
    width = 0.8 / max(1, len(scores))
    for k, (name, vals) in enumerate(scores.items()):
        xs = np.arange(len(signers)) + k * width
        ax.bar(xs, [vals.get(s, np.nan) for s in signers], width, label=name)
    ax.set_xticks(np.arange(len(signers)) + 0.4 - width / 2, signers, rotation=30, ha="right")
    ax.set_ylim(0, 1.05)
    ax.axhline(1 / 3, color="grey", lw=0.8, ls=":")
    ax.set_ylabel("sequence accuracy")
    ax.set_title(title)
    ax.legend(loc="lower right")
    return _save(fig, path)


def training_curves(histories: dict[str, dict[str, list[float]]], path: str | os.PathLike[str],
                    title: str) -> Path:
    """`histories`: run name -> Keras history (loss, val_loss, ...)."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for name, h in histories.items():
        for ax, key in zip(axes, ("loss", "categorical_accuracy"), strict=True):
            line, = ax.plot(h.get(key, []), lw=1, label=f"{name}")
            if f"val_{key}" in h:
                ax.plot(h[f"val_{key}"], lw=1, ls="--", color=line.get_color())
    axes[0].set_title(f"{title}: loss (dashed: validation)")
    axes[1].set_title("accuracy (dashed: validation)")
    for ax in axes:
        ax.set_xlabel("epoch")
    if len(histories) <= 8:
        axes[1].legend(fontsize=7)
    return _save(fig, path)
