"""Errors that mean "the input is wrong", each also the builtin a caller expects (ValueError, ...); the
command line prints a `DptError` as one line, anything else is a bug and keeps its traceback."""
from __future__ import annotations


def cause(e: BaseException, limit: int = 200) -> str:
    """An exception as a short clause for a message: its type and first line, cut at a word (never mid-word)."""
    first = (str(e).strip().splitlines() or [""])[0]
    if len(first) > limit:
        first = first[:limit].rsplit(" ", 1)[0].rstrip(",;:") + " …"
    return f"{type(e).__name__}: {first}" if first else type(e).__name__

class DptError(Exception):
    """Bad input or an unusable environment; the message is the whole story, on one line."""

    def __str__(self) -> str:
        return " ".join(super().__str__().split())  # one line, whatever the message was built from


class BadInput(DptError, ValueError):
    """A value, option, file or dataset that dpt cannot use."""


class MissingData(DptError, FileNotFoundError):
    """A dataset, image or file that is not where it was looked for."""


class Unwritable(DptError, OSError):
    """A folder or file that cannot be written (read-only, full, not a folder); still an OSError to callers that
    can do without the file (the feature cache)."""

