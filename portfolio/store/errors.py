"""Why the database cannot be used: one exception class per case, each with one sentence."""

from __future__ import annotations


class StoreError(RuntimeError):
    """The database cannot be used (locked too long, missing, wrong schema)."""


class DatabaseMissing(StoreError):
    """No database file at the given path."""


class DatabaseLocked(StoreError):
    """Another process held the database longer than the timeout."""


class DatabaseUnusable(StoreError):
    """The file at the database path cannot be used as it is; it was left exactly as it was."""


class DatabaseIsDirectory(DatabaseUnusable):
    """The path is a folder."""


class EmptyDatabaseFile(DatabaseUnusable):
    """The path is a file of zero bytes."""


class NotDuckDBFile(DatabaseUnusable):
    """The file does not carry DuckDB's magic bytes (a spreadsheet, a text file …)."""


class DatabaseUnreadable(DatabaseUnusable):
    """This user may not read the file."""


class DatabaseReadOnly(DatabaseUnusable):
    """A write was asked for, and the file (or its folder) cannot be written."""


class DatabaseBroken(DatabaseUnusable):
    """DuckDB itself refuses to open the file (damaged, or written by a newer DuckDB)."""


class ForeignDatabase(DatabaseUnusable):
    """A DuckDB database of another program: no ``meta`` table with our schema version."""


class NewerSchema(DatabaseUnusable):
    """A portfolio database written by a newer version of this program."""


class HalfBuiltDatabase(DatabaseUnusable):
    """What a killed first ``init`` of an earlier version left: a DuckDB file with nothing in it."""
