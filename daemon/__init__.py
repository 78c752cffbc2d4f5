"""signd's runtime: sources, keypoints, window, inference, smoothing and publishers."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("signd")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"
