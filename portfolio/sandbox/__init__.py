"""The ad-hoc SQL console: one read-only statement on its own locked, sandboxed connection.

The real guard is the engine: every query runs on a fresh connection opened read-only with
external access off (no file, no ATTACH, no COPY, no INSTALL), no extension autoloading, no
Python replacement scans, capped memory and threads, no spilling to disk, and the
configuration locked so the query cannot change any of it. On top of that, a pre-check parses
the text and refuses, with one clear Chinese sentence, anything that is not a single query
(DDL, DML, COPY, EXPORT, ATTACH, INSTALL/LOAD, SET, CALL, CHECKPOINT, transactions, reading
files …) before it reaches the database. A timer interrupts the query on that same connection.

Results are bounded by rows and by bytes. CSV and JSON are streamed (:func:`stream_query`):
one Arrow batch at a time is fetched, rendered by DuckDB per column and written, so memory
stays near a fixed ceiling whatever the query returns. The table and the app hold a frame
(:func:`run_query`) capped by rows and by Arrow bytes. Every value the engine can produce is
rendered: what polars or Python cannot hold (infinite dates, UHUGEINT, INTERVAL, BIT, UNION …)
comes as DuckDB's own text of it.

One module per concern:

- :mod:`.limits`: the engine settings of every connection and the caps on rows, bytes, time.
- :mod:`.errors`: :class:`QueryRefused` and its one sentence per reason.
- :mod:`.guard`: the pre-check (:func:`check_query`) and the translation of engine errors.
- :mod:`.render`: every engine value as text or JSON, CSV/JSON writing (:func:`write_frame`).
- :mod:`.run`: the sandboxed connection, :func:`run_query` and :func:`stream_query`.
- :mod:`.schema`: the schema browser and the example queries of the app's SQL page.

Printing a result on a terminal is :func:`portfolio.console.print_result`.
"""

from .errors import MESSAGES, QueryError, QueryRefused, QueryTimeout
from .guard import FILE_FUNCTIONS, READ_ONLY_PRAGMAS, check_query
from .limits import (
    BATCH_ROWS,
    DEFAULT_MAX_ROWS,
    DEFAULT_TIMEOUT_S,
    FORMAT_BYTES,
    FRAME_MAX_BYTES,
    MAX_BYTES_LIMIT,
    MAX_ROWS_LIMIT,
    MAX_TIMEOUT_S,
    MEMORY_LIMIT,
    SANDBOX_CONFIG,
    STREAM_MAX_BYTES,
    THREADS,
    human_bytes,
    parse_size,
)
from .render import Written, capped_note, json_text, stream_notice, to_csv, to_json, write_frame
from .run import (
    MAX_SQL_FILE_BYTES,
    QueryResult,
    count_rows,
    read_sql_file,
    run_query,
    sandbox_connection,
    stream_query,
)
from .schema import SCHEMA_SQL, example_queries, queries_dir, schema_browser, schema_frame

__all__ = [
    "BATCH_ROWS", "DEFAULT_MAX_ROWS", "DEFAULT_TIMEOUT_S", "FILE_FUNCTIONS", "FORMAT_BYTES",
    "FRAME_MAX_BYTES", "MAX_BYTES_LIMIT", "MAX_ROWS_LIMIT", "MAX_SQL_FILE_BYTES", "MAX_TIMEOUT_S",
    "MEMORY_LIMIT", "MESSAGES", "READ_ONLY_PRAGMAS", "SANDBOX_CONFIG", "SCHEMA_SQL", "STREAM_MAX_BYTES",
    "THREADS", "QueryError", "QueryRefused", "QueryResult", "QueryTimeout", "Written", "capped_note", "check_query",
    "count_rows", "example_queries", "human_bytes", "json_text", "parse_size", "queries_dir", "read_sql_file",
    "run_query", "sandbox_connection", "schema_browser", "schema_frame", "stream_notice",
    "stream_query", "to_csv", "to_json", "write_frame",
]
