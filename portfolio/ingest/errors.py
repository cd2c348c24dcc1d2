"""The importer's two failures, and the one line of an exception its messages quote.

:class:`FileProblem`: the file cannot be imported as it is (unreadable, no header, a missing
column, over a limit); raised before anything is written. :class:`ImportFailed`: the database
refused the write and the transaction was rolled back.
"""

from __future__ import annotations

from .. import store


class FileProblem(ValueError):
    """A problem with the whole file (unreadable, no header, missing column…): nothing is written."""


class ImportFailed(store.StoreError):
    """The database refused the write; the transaction was rolled back."""


def first_line(exc: BaseException) -> str:
    """The first line of an exception's text (at most 200 characters), for a one-sentence message."""
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
