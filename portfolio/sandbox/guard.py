"""The pre-check: refuse, with one clear sentence, anything but one read-only query.

:func:`check_query` parses the text on a private in-memory connection and refuses DDL, DML,
COPY, EXPORT, ATTACH, INSTALL/LOAD, SET, CALL, CHECKPOINT, transactions and reading files
before the statement reaches the database. It is a courtesy: the engine settings of
:data:`~portfolio.sandbox.limits.SANDBOX_CONFIG` refuse all of it anyway.
:func:`translate` turns what the engine refused or failed into the matching sentence.
"""

from __future__ import annotations

import json
import re
import threading
from typing import Any

import duckdb

from .errors import QueryError, QueryRefused, QueryTimeout
from .limits import SANDBOX_CONFIG

#: PRAGMAs that only read (everything else, e.g. ``pragma enable_profiling``, is refused).
READ_ONLY_PRAGMAS = frozenset({
    "table_info", "show", "show_tables", "show_tables_expanded", "show_databases",
    "database_list", "database_size", "version", "platform", "storage_info", "metadata_info",
    "functions", "collations", "user_agent",
})

#: Table functions that read or list files; refused with a friendly message before running
#: (the engine refuses them anyway because external access is off).
FILE_FUNCTIONS = frozenset({
    "read_csv", "read_csv_auto", "read_parquet", "parquet_scan", "read_json", "read_json_auto",
    "read_ndjson", "read_ndjson_auto", "read_json_objects", "read_ndjson_objects",
    "read_json_objects_auto", "read_text", "read_blob", "glob", "sniff_csv", "parquet_metadata",
    "parquet_schema", "parquet_file_metadata", "parquet_kv_metadata", "parquet_bloom_probe",
    "read_xlsx", "iceberg_scan", "delta_scan", "st_read", "read_duckdb",
})

_FILE_NAME = re.compile(
    r"[/\\]|://|\.(csv|tsv|txt|parquet|json|jsonl|ndjson|gz|zst|xlsx?|duckdb|db|sqlite|arrow|feather|avro)$",
    re.IGNORECASE,
)
_LEADING_NOISE = re.compile(r"^(?:\s+|--[^\n]*(?:\n|$)|/\*.*?\*/|\()*", re.DOTALL)
_EXPLAIN = re.compile(r"^explain\s+(?:analyze\s+|analyse\s+)?(?:\([^)]*\)\s*)?", re.IGNORECASE)
_CHECKPOINT = re.compile(r"(?:force\s+)?checkpoint\b|call\s+(?:force_)?checkpoint\b", re.IGNORECASE)
_PIVOTS = ("pivot", "unpivot", "pivot_wider", "pivot_longer")


def _first_word(text: str) -> str:
    """The first keyword of a statement, after comments, blanks and opening brackets."""
    rest = _LEADING_NOISE.sub("", text, count=1)
    m = re.match(r"[A-Za-z_]+", rest)
    return m.group(0).lower() if m else ""


def keywords(text: str, n: int = 2) -> str:
    """The first ``n`` words of a statement, upper case, for messages."""
    rest = _LEADING_NOISE.sub("", text, count=1)
    return " ".join(re.findall(r"[A-Za-z_]+", rest)[:n]).upper() or "?"


def _parse(parser: duckdb.DuckDBPyConnection, sql: str) -> list[Any]:
    try:
        return list(parser.extract_statements(sql))
    except duckdb.Error as exc:
        raise QueryError("syntax", detail=_engine_detail(exc)) from exc


def _check_statement(parser: duckdb.DuckDBPyConnection, stmt: Any) -> None:
    """Refuse anything but one read-only query; return quietly when the statement is allowed."""
    text: str = stmt.query
    try:
        kind = stmt.type.name
    except ValueError as exc:  # a type the Python enum does not know (UPDATE EXTENSIONS …)
        raise QueryRefused("not_allowed", kw=keywords(text)) from exc
    word = _first_word(text)
    kw = keywords(text)
    if kind == "SELECT":
        _check_files(parser, text)
        return
    if kind == "EXPLAIN":
        inner = _EXPLAIN.sub("", _LEADING_NOISE.sub("", text, count=1), count=1)
        inner_statements = _parse(parser, inner)
        if len(inner_statements) != 1:
            raise QueryRefused("not_allowed", kw=kw)
        _check_statement(parser, inner_statements[0])
        return
    if kind == "MULTI" and word in _PIVOTS:
        return
    if kind == "PRAGMA":
        if word == "pragma":
            name = re.match(r"\s*pragma\s+(\w+)", _LEADING_NOISE.sub("", text, count=1), re.IGNORECASE)
            if name and name.group(1).lower() in READ_ONLY_PRAGMAS:
                return
            raise QueryRefused("setting", kw=keywords(text, 2))
        if word == "import":
            raise QueryRefused("export", kw="IMPORT DATABASE")
        if word == "copy":
            raise QueryRefused("copy")
        raise QueryRefused("not_allowed", kw=kw)
    if kind in ("CREATE", "DROP", "ALTER", "CREATE_FUNC"):
        if word == "deallocate":
            raise QueryRefused("prepare")
        raise QueryRefused("ddl", kw=kw)
    if kind in ("INSERT", "UPDATE", "DELETE", "MERGE_INTO"):
        raise QueryRefused("dml", kw=kw)
    if kind in ("COPY", "COPY_DATABASE"):
        raise QueryRefused("copy")
    if kind == "EXPORT":
        raise QueryRefused("export", kw="EXPORT DATABASE")
    if kind in ("ATTACH", "DETACH"):
        raise QueryRefused("attach", kw=kw)
    if kind in ("LOAD", "EXTENSION"):
        raise QueryRefused("extension", kw=kw)
    if kind in ("SET", "VARIABLE_SET"):
        raise QueryRefused("setting", kw=kw)
    if kind == "CALL":
        if _CHECKPOINT.match(_LEADING_NOISE.sub("", text, count=1)):
            raise QueryRefused("checkpoint")
        raise QueryRefused("call")
    if kind in ("VACUUM", "ANALYZE"):
        raise QueryRefused("maintenance", kw=kw)
    if kind == "TRANSACTION":
        raise QueryRefused("transaction")
    if kind in ("PREPARE", "EXECUTE"):
        raise QueryRefused("prepare")
    raise QueryRefused("not_allowed", kw=kw)


def _check_files(parser: duckdb.DuckDBPyConnection, text: str) -> None:
    """Refuse a SELECT that reads files: file table functions or a quoted path in FROM."""
    try:
        rows = parser.execute("select json_serialize_sql(?)", [text]).fetchall()
        tree = json.loads(rows[0][0])
    except (duckdb.Error, ValueError, IndexError):
        return  # the engine guard still refuses file access
    if tree.get("error"):
        return
    found: list[str] = []
    stack: list[Any] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if node.get("type") == "TABLE_FUNCTION":
                name = str((node.get("function") or {}).get("function_name", "")).lower()
                if name in FILE_FUNCTIONS:
                    found.append(f"{name}()")
            elif node.get("type") == "BASE_TABLE":
                name = str(node.get("table_name", ""))
                if _FILE_NAME.search(name):
                    found.append(f"'{name}'")
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    if found:
        raise QueryRefused("file_access", what="、".join(sorted(set(found))))


_PARSER_LOCK = threading.Lock()
_PARSER: list[duckdb.DuckDBPyConnection] = []


def _parser() -> duckdb.DuckDBPyConnection:
    """A private cursor on one shared, empty, locked-down in-memory database, used to parse.

    Opening a database costs tens of milliseconds; a cursor on a kept one costs about one.
    """
    with _PARSER_LOCK:
        if not _PARSER:
            _PARSER.append(duckdb.connect(":memory:", config=dict(SANDBOX_CONFIG)))
        return _PARSER[0].cursor()


def check_query(sql: str) -> str:
    """Refuse (QueryRefused) unless ``sql`` is exactly one read-only query; return that statement."""
    parser = _parser()
    try:
        statements = _parse(parser, sql)
        if not statements:
            raise QueryRefused("empty")
        if len(statements) > 1:
            raise QueryRefused("multiple_statements", n=len(statements))
        _check_statement(parser, statements[0])
        return str(statements[0].query).strip()
    finally:
        parser.close()


def _engine_detail(exc: BaseException) -> str:
    """The first line of an engine error, with its "Did you mean" hint if any."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    if not lines:
        return type(exc).__name__
    hint = next((line for line in lines[1:] if line.startswith(("Did you mean", "Candidate bindings"))), "")
    return f"{lines[0]} {hint}".strip()


def translate(exc: duckdb.Error, *, timed_out: bool, timeout: float) -> QueryRefused:
    """Turn an engine error into the matching refusal."""
    text = str(exc)
    if timed_out or isinstance(exc, duckdb.InterruptException):
        return QueryTimeout("timeout", timeout=timeout)
    if isinstance(exc, duckdb.PermissionException) or "disabled by configuration" in text:
        path = re.search(r'Cannot access (?:file|directory) "([^"]+)"', text)
        return QueryRefused("file_access", what=f"'{path.group(1)}'" if path else _engine_detail(exc))
    missing = re.match(r'Catalog Error: Table with name (.+?) does not exist', text)
    if missing and _FILE_NAME.search(missing.group(1)):
        return QueryRefused("file_access", what=f"'{missing.group(1)}'")
    if "configuration has been locked" in text:
        return QueryRefused("setting", kw=_engine_detail(exc))
    if "read-only mode" in text:
        return QueryRefused("not_allowed", kw=_engine_detail(exc))
    if isinstance(exc, duckdb.OutOfMemoryException) or "Out of Memory" in text:
        return QueryError("out_of_memory")
    if isinstance(exc, duckdb.ParserException):
        return QueryError("syntax", detail=_engine_detail(exc))
    return QueryError("sql_error", detail=_engine_detail(exc))
