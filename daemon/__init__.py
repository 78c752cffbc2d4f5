"""signd's runtime: sources, keypoints, window, inference, smoothing and publishers."""

from __future__ import annotations


def __getattr__(name: str) -> str:
    # Looked up on first use: importlib.metadata costs more than the rest of the command
    # line's start, and `signd run` holds SIGHUP only from its first line on (startup_signals).
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("signd")
        except PackageNotFoundError:  # running from a source tree that was never installed
            return "0+unknown"
    raise AttributeError(name)
