"""DuckDB store: short-lived connections with retry on lock, the schema, transactions, audit.

No process keeps the database file open between operations: every operation opens a
connection with :func:`connect`, does its work and closes it, so the app, a cron report and
the CLI can share one file. DuckDB allows one writer process or many readers; a process that
finds the file locked retries with exponential backoff until ``timeout`` runs out.

:func:`open_connection` is the one way to open the file, for every reader and writer (the SQL
sandbox too). Before DuckDB touches the file it is inspected (folder, empty, not DuckDB,
unreadable, read-only for a write); after opening, the ``meta`` table must say it is a complete
portfolio database of a schema version this code knows. Each refusal is a
:class:`DatabaseUnusable` subclass with one sentence that says what to do, and leaves the file
byte-identical. An older schema is upgraded in place. ``init`` builds a new file beside the path
and renames it into place (:func:`build_database`).

One module per concern:

- :mod:`.schema`: the DDL and the Chinese comments (the data dictionary), :func:`create_schema`.
- :mod:`.errors`: :class:`StoreError` and one subclass per reason the file cannot be used.
- :mod:`.filecheck`: which file is meant and whether it can be this database, before opening.
- :mod:`.connection`: :func:`open_connection`, :func:`connect`, :func:`transaction`, the
  schema check and upgrade, :func:`fetch`.
- :mod:`.meta`: the ``meta`` table (schema version, revision, plan year, sample flag).
- :mod:`.audit`: the audit log and the undoable batches.
- :mod:`.build`: ``init`` (:func:`build_database`, :func:`load_reference`).
"""

from .audit import BATCH_COUNTS, audit, audit_frame, json_default, new_batch, record_batch, to_json
from .build import (
    InitResult,
    build_database,
    database_state,
    init_db,
    load_reference,
    replace_table,
)
from .connection import (
    LOCK_TIMEOUT_S,
    check_schema,
    connect,
    fetch,
    fetch_few,
    open_connection,
    revision,
    transaction,
    upgrade_schema,
)
from .errors import (
    DatabaseBroken,
    DatabaseIsDirectory,
    DatabaseLocked,
    DatabaseMissing,
    DatabaseReadOnly,
    DatabaseUnreadable,
    DatabaseUnusable,
    EmptyDatabaseFile,
    ForeignDatabase,
    HalfBuiltDatabase,
    NewerSchema,
    NotDuckDBFile,
    StoreError,
)
from .filecheck import DUCKDB_MAGIC, inspect_file, resolve_db, wal_path
from .meta import bump_revision, get_meta, is_sample, progress_months, project_count, set_meta
from .schema import COMMENTS, SCHEMA, SCHEMA_VERSION, create_schema

#: The old name of :func:`json_default` (JSON written for people and scripts uses it).
_json_default = json_default

__all__ = [
    "BATCH_COUNTS", "COMMENTS", "DUCKDB_MAGIC", "LOCK_TIMEOUT_S", "SCHEMA", "SCHEMA_VERSION",
    "DatabaseBroken", "DatabaseIsDirectory", "DatabaseLocked", "DatabaseMissing", "DatabaseReadOnly",
    "DatabaseUnreadable", "DatabaseUnusable", "EmptyDatabaseFile", "ForeignDatabase",
    "HalfBuiltDatabase", "InitResult", "NewerSchema", "NotDuckDBFile", "StoreError", "audit",
    "audit_frame", "build_database", "bump_revision", "check_schema", "connect", "create_schema",
    "database_state", "fetch", "fetch_few", "get_meta", "init_db", "inspect_file", "is_sample", "json_default", "project_count",
    "load_reference", "new_batch", "open_connection", "progress_months", "record_batch",
    "replace_table", "resolve_db", "revision", "set_meta", "to_json", "transaction", "upgrade_schema", "wal_path",
]
