"""Errors a user can act on: each prints as one line naming the culprit and sets the exit code."""

from __future__ import annotations

import os

# sysexits(3) codes, so that systemd units and scripts can tell the failures apart.
EX_DATAERR = 65
EX_NOINPUT = 66
EX_SOFTWARE = 70
EX_CANTCREAT = 73
EX_CONFIG = 78


class SigndError(Exception):
    """A failure caused by input, not by a bug: shown as one line, never as a traceback."""

    exit_code: int = 1


class InputError(SigndError):
    """A source, data file or model is missing or unreadable."""

    exit_code = EX_NOINPUT


class DataError(SigndError):
    """A file exists but its content is wrong (shape, NaN, not a model, ...)."""

    exit_code = EX_DATAERR


class OutputError(SigndError):
    """A file signd was asked to write cannot be written (its folder is missing, read-only, full)."""

    exit_code = EX_CANTCREAT


class ConfigError(SigndError):
    """The configuration or the command line is invalid."""

    exit_code = EX_CONFIG


def require_readable(path: str | os.PathLike[str], what: str) -> None:
    """Raise InputError naming `path` when it does not exist or cannot be read."""
    p = os.fspath(path)
    if not os.path.exists(p):
        raise InputError(f"{what} not found: {p}")
    if not os.access(p, os.R_OK):
        raise InputError(f"{what} is not readable (permission denied): {p}")
