"""Errors that the CLI turns into a one-line message and exit status 2 (no traceback)."""

from __future__ import annotations


class PxrdsolveError(Exception):
    """Base class of errors caused by the user's input, not by a bug."""


class InputError(PxrdsolveError):
    """Unusable input: malformed file, NaN, unknown element, wrong checkpoint, bad option value.

    The message should name the file (and line, where known) and the problem in one line.
    """


class FormatVersionError(InputError):
    """An HDF5 file written by an unknown ``format_version`` or of the wrong kind."""
