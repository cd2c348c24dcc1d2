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
"""

from __future__ import annotations

import io
import json
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from datetime import time as dtime
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from .. import config, store, textsafe

MEMORY_LIMIT = "1GB"
THREADS = 2
DEFAULT_TIMEOUT_S = 30.0
DEFAULT_MAX_ROWS = 10_000
#: Rows per Arrow batch taken from the engine (one DuckDB vector). CSV and JSON hold one batch
#: at a time, so their memory stays near a fixed ceiling whatever the query returns.
BATCH_ROWS = 2_048
#: Fetched batches are gathered up to this many Arrow bytes before they are formatted.
FORMAT_BYTES = 4 * 2**20
#: Bytes of result a frame (the table format, the app's page) may hold, by Arrow size.
FRAME_MAX_BYTES = 64 * 2**20
#: Bytes a csv/json output may write unless ``--max-bytes`` says otherwise.
STREAM_MAX_BYTES = 2**30
#: Upper bounds of the options, so a typo cannot ask for more than the machine can count.
MAX_ROWS_LIMIT = 10**12
MAX_BYTES_LIMIT = 2**50
MAX_TIMEOUT_S = 86_400.0

#: Engine settings of every sandbox connection; ``lock_configuration`` comes last so nothing the
#: query does can change the others. ``temp_directory = ''`` forbids spilling to disk, so a
#: query that needs more memory than the cap fails instead of writing temporary files.
SANDBOX_CONFIG: dict[str, Any] = {
    "enable_external_access": False,
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    "python_enable_replacements": False,
    "allow_community_extensions": False,
    "allow_unsigned_extensions": False,
    "allow_persistent_secrets": False,
    "memory_limit": MEMORY_LIMIT,
    "threads": THREADS,
    "temp_directory": "",
    "lock_configuration": True,
}

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

_ALLOWED_HINT = "只允许查询：SELECT、WITH、FROM、VALUES、DESCRIBE、SHOW、SUMMARIZE、PIVOT、EXPLAIN 和只读的 PRAGMA"

#: One sentence per refusal reason (Chinese first, English in brackets).
MESSAGES: dict[str, str] = {
    "empty": "没有可执行的 SQL 语句（empty query）。",
    "multiple_statements": "一次只能执行一条语句，这里有 {n} 条；请分开执行（one statement at a time）。",
    "ddl": "SQL 控制台只读，不能建立、删除或修改表、视图等数据库对象（{kw}；read-only console）。",
    "dml": "SQL 控制台只读，不能插入、修改或删除数据（{kw}）；修改数据请使用应用或导入功能（read-only console）。",
    "copy": "SQL 控制台不能用 COPY 读写文件；导出查询结果请用 --format csv 或 json 重定向到文件（COPY refused）。",
    "export": "SQL 控制台不能导出或导入整个数据库（{kw}）；做法见 docs/sql.md（EXPORT/IMPORT refused）。",
    "attach": "SQL 控制台不能附加或分离其他数据库（{kw}；ATTACH/DETACH refused）。",
    "extension": "SQL 控制台不能安装或加载扩展（{kw}；INSTALL/LOAD refused）。",
    "setting": "SQL 控制台不能修改设置（{kw}；SET/RESET/PRAGMA refused）。",
    "call": "SQL 控制台不能使用 CALL；请改写为 select * from 函数名(...)（CALL refused）。",
    "checkpoint": "SQL 控制台不能执行 CHECKPOINT（CHECKPOINT refused）。",
    "maintenance": "SQL 控制台不能执行 VACUUM、ANALYZE 等维护语句（{kw}；maintenance refused）。",
    "transaction": "每条查询自动在只读事务中执行，不能使用 BEGIN、COMMIT、ROLLBACK（transactions refused）。",
    "prepare": "SQL 控制台不能使用 PREPARE、EXECUTE；请直接写出查询（PREPARE refused）。",
    "file_access": "SQL 控制台不能读取或列出文件（{what}）；请查询数据库中的表和视图（file access refused）。",
    "not_allowed": _ALLOWED_HINT + "；{kw} 不被允许（not a query）。",
    "bad_option": "{what}",
    "bad_file": "{what}",
    "syntax": "SQL 语法错误：{detail}",
    "sql_error": "SQL 执行出错：{detail}",
    "out_of_memory": "查询所需内存超过控制台上限 " + MEMORY_LIMIT + "，请缩小范围或增加筛选条件（out of memory）。",
    "timeout": "查询超过 {timeout:g} 秒未完成，已中止；请缩小范围、增加筛选条件或加大 --timeout（query timed out）。",
}


class QueryRefused(ValueError):
    """The console refused to run the statement, or it failed; ``reason`` says why."""

    def __init__(self, reason: str, **details: Any) -> None:
        self.reason = reason
        self.details = details
        super().__init__(MESSAGES[reason].format(**details))


class QueryTimeout(QueryRefused):
    """The query ran longer than its timeout and was interrupted."""


class QueryError(QueryRefused):
    """The statement was allowed but the engine rejected it (syntax, unknown column, memory)."""


@dataclass(frozen=True)
class QueryResult:
    """A query's rows (at most ``max_rows`` and about ``max_bytes``), whether more existed, and how long it took."""

    frame: pl.DataFrame
    truncated: bool
    elapsed_s: float
    sql: str
    max_rows: int = DEFAULT_MAX_ROWS
    truncated_by: str | None = None  # None, "rows" or "bytes"
    max_bytes: int = FRAME_MAX_BYTES


@contextmanager
def sandbox_connection(db: str | Path | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
    """A short-lived, read-only, locked-down connection for untrusted SQL (retries on lock)."""
    con = store.open_connection(db, read_only=True, config_options=dict(SANDBOX_CONFIG))
    try:
        yield con
    finally:
        con.close()


def _first_word(text: str) -> str:
    """The first keyword of a statement, after comments, blanks and opening brackets."""
    rest = _LEADING_NOISE.sub("", text, count=1)
    m = re.match(r"[A-Za-z_]+", rest)
    return m.group(0).lower() if m else ""


def _keywords(text: str, n: int = 2) -> str:
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
        raise QueryRefused("not_allowed", kw=_keywords(text)) from exc
    word = _first_word(text)
    kw = _keywords(text)
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
            raise QueryRefused("setting", kw=_keywords(text, 2))
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


def _translate(exc: duckdb.Error, *, timed_out: bool, timeout: float) -> QueryRefused:
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


def _unique_names(names: list[str]) -> list[str]:
    """Column names made unique (``a``, ``a_2``, …): polars needs them, SQL allows repeats."""
    used: set[str] = set()
    out: list[str] = []
    for name in names:
        base = name or "column"
        candidate, k = base, 1
        while candidate in used:
            k += 1
            candidate = f"{base}_{k}"
        used.add(candidate)
        out.append(candidate)
    return out


def _check_options(timeout: float, max_rows: int, max_bytes: int) -> None:
    """Refuse a timeout, row cap or byte cap the machine cannot honour (one sentence each)."""
    if not (isinstance(timeout, int | float) and 0 < timeout <= MAX_TIMEOUT_S):
        raise QueryRefused("bad_option", what=(
            f"超时秒数必须大于 0、不超过 {MAX_TIMEOUT_S:g}（--timeout {timeout}）。"))
    if not 0 <= max_rows <= MAX_ROWS_LIMIT:
        raise QueryRefused("bad_option", what=(
            f"最多返回行数必须在 0 到 {MAX_ROWS_LIMIT} 之间（--max-rows {max_rows}）。"))
    if not 1 <= max_bytes <= MAX_BYTES_LIMIT:
        raise QueryRefused("bad_option", what=(
            f"输出字节上限必须在 1 到 {human_bytes(MAX_BYTES_LIMIT)} 之间（--max-bytes {max_bytes}）。"))


#: An SQL file larger than this is not one query (and reading ``/dev/zero`` must end).
MAX_SQL_FILE_BYTES = 2**20


def read_sql_file(path: str | Path) -> str:
    """The text of an .sql file: UTF-8 (with or without BOM), else GBK/GB18030; QueryRefused otherwise.

    The same rule as the ledger reader: Notepad on a Chinese Windows may still save GBK.
    """
    path = Path(path)
    try:
        with path.open("rb") as fh:
            data = fh.read(MAX_SQL_FILE_BYTES + 1)
    except OSError as exc:
        raise QueryRefused("bad_file", what=f"无法读取 SQL 文件 {path}：{exc.strerror or exc}（unreadable file）。") from exc
    if len(data) > MAX_SQL_FILE_BYTES:
        raise QueryRefused("bad_file", what=(
            f"SQL 文件 {path} 超过 {human_bytes(MAX_SQL_FILE_BYTES)}，不像一条查询（file too large）。"))
    if b"\x00" not in data:
        for encoding in ("utf-8-sig", "gb18030"):
            try:
                return data.decode(encoding)
            except UnicodeDecodeError:
                continue
    raise QueryRefused("bad_file", what=(
        f"无法识别 SQL 文件 {path} 的文字编码（应为 UTF-8 或 GBK 文本）（unknown encoding）。"))


def parse_size(text: str) -> int:
    """Bytes from ``1048576``, ``512K``, ``64M``, ``1G``, ``1.5GiB`` (binary units); ValueError otherwise."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*", text, re.IGNORECASE)
    if not m:
        raise ValueError(text)
    value = Decimal(m.group(1)) * 1024 ** " kmgt".index(m.group(2).lower() or " ")
    return int(value)


def human_bytes(n: int) -> str:
    """``1 GiB``, ``64 MiB``, ``1.5 KiB``, ``12 B``."""
    for unit, size in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:.1f}".rstrip("0").rstrip(".") + f" {unit}"
    return f"{n} B"


# --- rendering every engine value ------------------------------------------------------------
#
# The engine knows its own types best, so every value is turned into text or a JSON value by
# DuckDB itself, per column, vectorised: the user's relation is projected through expressions
# chosen from its column types (``relation.types``). Infinite and far-away dates, HUGEINT and
# UHUGEINT, INTERVAL, TIME WITH TIME ZONE, BIT, BLOB, UNION, MAP and anything unknown can then
# never reach a Python or polars conversion that cannot hold them.

_INTEGERS = frozenset({"tinyint", "smallint", "integer", "bigint", "utinyint", "usmallint",
                       "uinteger", "ubigint", "hugeint", "uhugeint", "bignum", "varint"})
_FLOATS = frozenset({"float", "double"})
#: Text of these types is always a plain number or true/false: never a formula, never escaped.
_PLAIN_TEXT = _INTEGERS | {"decimal", "boolean"}
#: Types polars and Python hold exactly, for any value the engine can produce.
_FRAME_SCALARS = frozenset({"boolean", "tinyint", "smallint", "integer", "bigint", "utinyint",
                            "usmallint", "uinteger", "ubigint", "float", "double", "decimal",
                            "varchar", "uuid", "enum", "time", "time_ns", "null"})
#: Types kept native in a frame only when every value fits Python (checked per result).
_TEMPORAL = frozenset({"date", "timestamp", "timestamp_s", "timestamp_ms", "timestamp_ns",
                       "timestamp with time zone"})
_NESTED = frozenset({"list", "array", "struct", "tuple", "map"})  # tuple: an unnamed struct
#: Types whose text the engine writes itself (numbers, dates, intervals, JSON of nested values):
#: never a formula. Every other column (VARCHAR, ENUM, BLOB, UNION …) can carry a user's text.
_ENGINE_TEXT = (_PLAIN_TEXT | _FLOATS | _TEMPORAL | _NESTED
                | {"interval", "time", "time_ns", "time with time zone", "uuid", "bit", "null"})
#: The largest magnitude of DECIMAL(38, 0), which is how Arrow carries a HUGEINT.
_DEC38 = "99999999999999999999999999999999999999"
#: Characters that JSON leaves raw but a terminal obeys (C1 controls such as CSI, DEL, bidi
#: overrides, line separators): written as ``\\uXXXX`` escapes, which JSON reads back unchanged.
_JSON_RAW = [chr(c) for c in textsafe.JSON_ESCAPES]
_JSON_ESCAPED = list(textsafe.JSON_ESCAPES.values())
#: Every character :func:`textsafe.visible` escapes, for the vectorised terminal form of CSV.
_VISIBLE_RAW = [chr(c) for c in textsafe._TABLE_ONE_LINE]
_VISIBLE_ESCAPED = [textsafe._TABLE_ONE_LINE[ord(c)] for c in _VISIBLE_RAW]


def _sql_str(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _children(kind: Any) -> list[tuple[str, Any]]:
    return [(str(name), child) for name, child in kind.children]


def _json_sql(x: str, kind: Any, depth: int = 0) -> str:
    """SQL for the JSON text of ``x``: NULL when ``x`` is NULL; numbers exact; NaN and ±inf null."""
    tid = kind.id
    if tid in _PLAIN_TEXT:
        return f"({x})::varchar"
    if tid in _FLOATS:
        return f"case when isfinite({x}) then ({x})::varchar end"
    e = f"e{depth}"
    if tid in ("list", "array"):
        child = dict(_children(kind))["child"]
        inner = _json_sql(e, child, depth + 1)
        return (f"case when ({x}) is null then null else '[' || array_to_string(list_transform({x}, "
                f"lambda {e}: coalesce({inner}, 'null')), ', ') || ']' end")
    if tid in ("struct", "tuple"):
        fields = _children(kind)
        named = any(name for name, _ in fields)
        parts = []
        for i, (name, child) in enumerate(fields, start=1):
            value = _json_sql(f"struct_extract({x}, {_sql_str(name) if named else i})", child, depth + 1)
            key = _sql_str(json.dumps(name, ensure_ascii=False) + ": ") + " || " if named else ""
            parts.append(f"{key}coalesce({value}, 'null')")
        first, last = ("{", "}") if named else ("[", "]")
        return (f"case when ({x}) is null then null else '{first}' || "
                + " || ', ' || ".join(parts) + f" || '{last}' end")
    if tid == "map":
        kids = dict(_children(kind))
        key = _text_sql(f"struct_extract({e}, 'key')", kids["key"], depth + 1)
        value = _json_sql(f"struct_extract({e}, 'value')", kids["value"], depth + 1)
        return (f"case when ({x}) is null then null else '{{' || array_to_string(list_transform("
                f"map_entries({x}), lambda {e}: to_json(coalesce({key}, 'null'))::varchar || ': ' || "
                f"coalesce({value}, 'null')), ', ') || '}}' end")
    if tid == "union":
        members = _children(kind)[1:]  # the first child is the tag
        whens = " ".join(
            f"when {_sql_str(name)} then {_json_sql(f'union_extract({x}, {_sql_str(name)})', child, depth + 1)}"
            for name, child in members)
        return f"case union_tag({x}) {whens} end"
    if tid == "varchar":  # a JSON-typed column is VARCHAR too: to_json keeps it as JSON
        return f"to_json({x})::varchar"
    return f"to_json(({x})::varchar)::varchar"


def _text_sql(x: str, kind: Any, depth: int = 0) -> str:
    """SQL for the text of ``x`` as DuckDB prints it; lists, structs and maps as JSON text."""
    if kind.id in _NESTED:
        return _json_sql(x, kind, depth)
    return f"({x})::varchar"


def _frame_native(kind: Any) -> bool:
    """True when every value of this type converts to polars and Python exactly, and the app's
    table and xlsx export can show it: scalars, lists of scalars, named structs of those."""
    if kind.id in _FRAME_SCALARS:
        return True
    if kind.id == "list":
        return dict(_children(kind))["child"].id in _FRAME_SCALARS
    if kind.id == "struct":
        return all(_frame_native(child) for _, child in _children(kind))
    return False


def _frame_exprs(types: list[Any]) -> tuple[list[str], list[str]]:
    """Projection for an in-memory frame, and each column's mode: native, text or checked.

    A checked column (dates, timestamps, HUGEINT) comes as its native value, its text and a
    flag saying the value fits Python; the column stays native when every flag is true.
    """
    exprs: list[str] = []
    modes: list[str] = []
    for i, kind in enumerate(types, start=1):
        x = f"#{i}"
        if _frame_native(kind):
            exprs.append(f"{x} as c{i}")
            modes.append("native")
        elif kind.id in _TEMPORAL or kind.id == "hugeint":
            if kind.id == "hugeint":
                native = f"try_cast({x} as decimal(38, 0))"
                fits = f"{x} between -{_DEC38} and {_DEC38}"
            elif kind.id == "timestamp_ns":  # its range is inside Python's; only ±infinity is not
                native, fits = x, f"isfinite({x})"
            else:  # a day's margin: a time zone must not push a value past year 1 or 9999
                native = x
                fits = (f"isfinite({x}) and {x} between cast('0001-01-02' as {kind}) "
                        f"and cast('9999-12-30' as {kind})")
            exprs += [f"{native} as c{i}", f"({x})::varchar as t{i}", f"({x} is null or ({fits})) as k{i}"]
            modes.append("checked")
        else:
            exprs.append(f"{_text_sql(x, kind)} as c{i}")
            modes.append("text")
    return exprs, modes


def _frame_of(table: pa.Table, modes: list[str], names: list[str]) -> pl.DataFrame:
    """The fetched projection as polars: a checked column stays native only if every value fits."""
    columns: list[pa.ChunkedArray] = []
    for i, mode in enumerate(modes, start=1):
        column = table.column(f"c{i}")
        if mode == "checked" and pc.all(table.column(f"k{i}")).as_py() is False:
            column = table.column(f"t{i}")
        columns.append(column)
    frame = pl.from_arrow(pa.Table.from_arrays(columns, names=names))
    assert isinstance(frame, pl.DataFrame)
    return frame


def _csv_cell(expr: pl.Expr, *, formula: bool, terminal: bool) -> pl.Expr:
    """One CSV field: formula-safe, control characters visible on a terminal, quoted when needed."""
    if formula:
        expr = textsafe.formula_safe_expr(expr)
    if terminal:
        expr = expr.str.replace_many(_VISIBLE_RAW, _VISIBLE_ESCAPED)
    quoted = pl.lit('"') + expr.str.replace_all('"', '""', literal=True) + pl.lit('"')
    return pl.when(expr.str.contains(r'[",\r\n]') | (expr == "")).then(quoted).otherwise(expr).fill_null("")


def _csv_header(names: list[str], *, terminal: bool) -> str:
    frame = pl.DataFrame({"n": names}, schema={"n": pl.String})
    cells = frame.select(_csv_cell(pl.col("n"), formula=True, terminal=terminal).alias("n"))["n"].to_list()
    return ",".join(cells) + "\n"


@dataclass(frozen=True)
class Written:
    """What a streamed csv/json output wrote: rows, bytes, and why it stopped early if it did."""

    rows: int
    bytes: int
    truncated_by: str | None  # None, "rows" or "bytes"
    max_rows: int
    max_bytes: int
    elapsed_s: float = 0.0

    @property
    def truncated(self) -> bool:
        """True when the result had more rows than were written."""
        return self.truncated_by is not None


def _write_relation(
    relation: duckdb.DuckDBPyRelation,
    out: IO[str] | IO[bytes],
    *,
    fmt: str,
    max_rows: int,
    max_bytes: int,
    terminal: bool = False,
) -> Written:
    """Write a relation as CSV or a JSON array, one Arrow batch at a time, within the caps.

    Each batch is formatted vectorised (DuckDB renders the values, polars assembles the lines);
    only one batch is held at a time. Output stops at ``max_rows`` rows or before the row that
    would pass ``max_bytes`` bytes (UTF-8); a JSON array is always closed.
    """
    if fmt not in ("csv", "json"):
        raise QueryRefused("bad_option", what=f"不支持的输出格式 {fmt!r}；可选 table、csv、json。")
    types = list(relation.types)
    names = _unique_names(list(relation.columns))
    if fmt == "csv":
        exprs = [f"{_text_sql(f'#{i}', kind)} as c{i}" for i, kind in enumerate(types, start=1)]
        cells = [_csv_cell(pl.col(f"c{i}"), formula=kind.id not in _ENGINE_TEXT, terminal=terminal)
                 for i, kind in enumerate(types, start=1)]
        line = pl.concat_str(cells, separator=",") + pl.lit("\n")
        head, sep, tail = _csv_header(names, terminal=terminal), "", ""
    else:
        exprs = [f"{_json_sql(f'#{i}', kind)} as c{i}" for i, kind in enumerate(types, start=1)]
        parts: list[pl.Expr] = [pl.lit(",\n  {")]
        for i, name in enumerate(names, start=1):
            key = json.dumps(name, ensure_ascii=False)
            parts += [pl.lit(("" if i == 1 else ", ") + key + ": "), pl.col(f"c{i}").fill_null("null")]
        parts.append(pl.lit("}"))
        line = pl.concat_str(parts).str.replace_many(_JSON_RAW, _JSON_ESCAPED)
        head, sep, tail = "", "[\n  ", "\n]\n"
    binary = not isinstance(out, io.TextIOBase)

    def write(text: str) -> None:
        out.write(text.encode("utf-8") if binary else text)  # type: ignore[arg-type]

    written_bytes = len(head.encode("utf-8"))
    budget = max_bytes - len(tail.encode("utf-8"))
    rows = 0
    cut: str | None = None

    def emit(batches: list[pa.RecordBatch]) -> bool:
        """Format and write the rows of ``batches`` that fit; False once a cap is reached."""
        nonlocal rows, written_bytes, cut
        frame = pl.from_arrow(pa.Table.from_batches(batches))
        assert isinstance(frame, pl.DataFrame)
        lines = frame.head(max_rows - rows).select(line.alias("line"))["line"]
        total = lines.str.len_bytes().cast(pl.Int64).cum_sum()
        fit = int((total <= budget - written_bytes).sum())
        if fit:
            chunk = lines.head(fit).str.join("").item()
            if rows == 0 and sep:  # the first row opens the array instead of following a comma
                chunk = sep + chunk[len(sep):]
            write(chunk)
            written_bytes += int(total[fit - 1])
            rows += fit
        if fit < lines.len():
            cut = "bytes"
        elif frame.height > lines.len():
            cut = "rows"
        return cut is None

    write(head)
    reader = relation.project(", ".join(exprs)).to_arrow_reader(BATCH_ROWS)
    # The engine hands over one vector at a time; they are gathered up to FORMAT_BYTES so the
    # per-call cost of formatting is paid a few hundred times, not once per 2,048 rows.
    pending: list[pa.RecordBatch] = []
    pending_rows = pending_bytes = 0
    going = True
    while going:
        try:
            batch = reader.read_next_batch()
        except StopIteration:
            break
        if batch.num_rows == 0:
            continue
        pending.append(batch)
        pending_rows += batch.num_rows
        pending_bytes += batch.nbytes
        if rows + pending_rows > max_rows or pending_bytes >= FORMAT_BYTES:
            going = emit(pending)
            pending, pending_rows, pending_bytes = [], 0, 0
    if going and pending:
        emit(pending)
    if fmt == "json":
        write("[]\n" if rows == 0 else tail)
        written_bytes += 3 if rows == 0 else len(tail)
    out.flush()
    return Written(rows=rows, bytes=written_bytes, truncated_by=cut, max_rows=max_rows, max_bytes=max_bytes)


@contextmanager
def _running(
    db: str | Path | None, sql: str, timeout: float
) -> Iterator[tuple[str, duckdb.DuckDBPyRelation]]:
    """The checked statement and its relation on a fresh sandbox connection, interrupted after ``timeout``.

    Engine errors raised while the caller reads the relation are translated too, so a timeout
    that fires mid-fetch is a :class:`QueryTimeout`.
    """
    statement = check_query(sql)
    with sandbox_connection(db) as con:
        fired = threading.Event()

        def interrupt() -> None:
            fired.set()
            with suppress(Exception):  # the query may have just finished and closed
                con.interrupt()

        timer = threading.Timer(timeout, interrupt)
        timer.daemon = True
        timer.start()
        try:
            relation = con.sql(statement)
            if relation is None:
                raise QueryRefused("not_allowed", kw=_keywords(statement))
            yield statement, relation
        except duckdb.Error as exc:
            raise _translate(exc, timed_out=fired.is_set(), timeout=timeout) from exc
        finally:
            timer.cancel()


def run_query(
    db: str | Path | None,
    sql: str,
    *,
    timeout: float = DEFAULT_TIMEOUT_S,
    max_rows: int = DEFAULT_MAX_ROWS,
    max_bytes: int = FRAME_MAX_BYTES,
) -> QueryResult:
    """Run one read-only statement in the sandbox into a frame (for the table and the app).

    At most ``max_rows`` rows and about ``max_bytes`` bytes (Arrow size) are kept; the query is
    interrupted after ``timeout`` s. Values polars or Python cannot hold come back as DuckDB's
    text of them (``infinity``, ``1 year 2 days``, ``0101``…).
    """
    _check_options(timeout, max_rows, max_bytes)
    started = time.monotonic()
    batches: list[pa.RecordBatch] = []
    rows = held = 0
    cut: str | None = None
    with _running(db, sql, timeout) as (statement, relation):
        names = _unique_names(list(relation.columns))
        exprs, modes = _frame_exprs(list(relation.types))
        reader = relation.project(", ".join(exprs)).to_arrow_reader(min(max_rows + 1, BATCH_ROWS))
        schema = reader.schema
        while True:
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                break
            if rows + batch.num_rows > max_rows:
                batch, cut = batch.slice(0, max_rows - rows), "rows"
            size = batch.nbytes
            if held + size > max_bytes:  # keep the rows that fit, estimated at the batch's average
                keep = int((max_bytes - held) // max(1, size // max(1, batch.num_rows)))
                batch, cut = batch.slice(0, min(keep, batch.num_rows)), "bytes"
                size = batch.nbytes
            batches.append(batch)
            rows += batch.num_rows
            held += size
            if cut:
                break
    table = pa.Table.from_batches(batches, schema=schema)
    return QueryResult(
        frame=_frame_of(table, modes, names),
        truncated=cut is not None,
        elapsed_s=time.monotonic() - started,
        sql=statement,
        max_rows=max_rows,
        truncated_by=cut,
        max_bytes=max_bytes,
    )


def stream_query(
    db: str | Path | None,
    sql: str,
    out: IO[str] | IO[bytes],
    *,
    fmt: str = "csv",
    timeout: float = DEFAULT_TIMEOUT_S,
    max_rows: int = DEFAULT_MAX_ROWS,
    max_bytes: int = STREAM_MAX_BYTES,
    terminal: bool = False,
) -> Written:
    """Run one read-only statement and write it to ``out`` as CSV or JSON while it is fetched.

    Memory stays near one batch whatever the query returns; output stops at ``max_rows`` rows
    or ``max_bytes`` bytes (the returned :class:`Written` says which). CSV cells that a
    spreadsheet would run as formulas get a leading ``'``; with ``terminal`` control
    characters in CSV are written as visible escapes. A timeout mid-stream raises
    :class:`QueryTimeout` after the rows already written.
    """
    _check_options(timeout, max_rows, max_bytes)
    started = time.monotonic()
    with _running(db, sql, timeout) as (_, relation):
        written = _write_relation(relation, out, fmt=fmt, max_rows=max_rows, max_bytes=max_bytes,
                                  terminal=terminal)
    return Written(rows=written.rows, bytes=written.bytes, truncated_by=written.truncated_by,
                   max_rows=max_rows, max_bytes=max_bytes, elapsed_s=time.monotonic() - started)


# --- output ---------------------------------------------------------------------------------


def write_frame(frame: pl.DataFrame, out: IO[str] | IO[bytes], *, fmt: str, terminal: bool = False) -> Written:
    """Write a frame (a :class:`QueryResult`'s) as CSV or JSON with the same rules as the console."""
    con = duckdb.connect(":memory:", config=dict(SANDBOX_CONFIG))
    try:
        relation = con.from_arrow(frame.to_arrow(compat_level=pl.CompatLevel.oldest()))
        return _write_relation(relation, out, fmt=fmt, max_rows=MAX_ROWS_LIMIT, max_bytes=MAX_BYTES_LIMIT,
                               terminal=terminal)
    finally:
        con.close()


def to_json(frame: pl.DataFrame) -> str:
    """The rows as a JSON array of objects (Decimal written as exact numbers, e.g. 23520000.00)."""
    buffer = io.StringIO()
    write_frame(frame, buffer, fmt="json")
    return buffer.getvalue().rstrip("\n")


def to_csv(frame: pl.DataFrame) -> str:
    """The rows as CSV with a header, formula cells neutralised; nested values written as JSON text."""
    buffer = io.StringIO()
    write_frame(frame, buffer, fmt="csv")
    return buffer.getvalue()


def json_text(value: Any) -> str:
    """A nested value of a table cell, written like JSON (NaN and infinities as nan / inf)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float | Decimal):
        return repr(value) if isinstance(value, float) else format(value, "f")
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, datetime | date | dtime):
        return json.dumps(value.isoformat())
    if isinstance(value, timedelta):
        return json.dumps(str(value))
    if isinstance(value, bytes | bytearray | memoryview):
        return json.dumps(bytes(value).hex())
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(str(k), ensure_ascii=False)}: {json_text(v)}"
                               for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(json_text(v) for v in value) + "]"
    return json.dumps(str(value), ensure_ascii=False)


def stream_notice(written: Written) -> str:
    """The stderr line after a cut csv/json output (empty when nothing was cut)."""
    if written.truncated_by == "bytes":
        return (f"{written.rows} 行，用时 {written.elapsed_s:.2f} 秒；输出达到 {human_bytes(written.max_bytes)}"
                f" 上限，只输出了前 {written.rows} 行（可用 --max-bytes 调整；output cut at --max-bytes）")
    if written.truncated_by == "rows":
        return (f"{written.rows} 行，用时 {written.elapsed_s:.2f} 秒；结果超过 {written.max_rows} 行，"
                f"只显示前 {written.max_rows} 行（可用 --max-rows 调整）")
    return ""


# --- schema and examples for the app ---------------------------------------------------------


SCHEMA_SQL = """
with objects as (
    select table_name as object_name, 'table' as object_type, comment as object_comment
    from duckdb_tables() where schema_name = 'main' and not internal and not temporary
    union all
    select view_name, 'view', comment
    from duckdb_views() where schema_name = 'main' and not internal and not temporary
)
select o.object_type, o.object_name, o.object_comment,
       c.column_index, c.column_name, c.data_type, c.is_nullable, c.comment as column_comment
from objects o
join duckdb_columns() c on c.table_name = o.object_name and c.schema_name = 'main'
where c.database_name = current_database()
order by o.object_type, o.object_name, c.column_index
"""


def schema_frame(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """Every table and view column: type, Chinese table/view comment and column comment."""
    return store.fetch(con, SCHEMA_SQL)


def schema_browser(db: str | Path | None = None) -> pl.DataFrame:
    """The schema for the console's browser: object_type, object_name, comments, columns, types."""
    with sandbox_connection(db) as con:
        return schema_frame(con)


def queries_dir() -> Path:
    """The folder of the example queries (``docs/queries``)."""
    return config.ROOT / "docs" / "queries"


def example_queries(folder: Path | None = None) -> list[dict[str, str]]:
    """The example queries: ``name`` (file stem), ``title`` (first comment line), ``sql``."""
    out: list[dict[str, str]] = []
    for path in sorted((folder or queries_dir()).glob("*.sql")):
        text = path.read_text(encoding="utf-8")
        title = next((line.lstrip("-").strip() for line in text.splitlines()
                      if line.strip().startswith("--") and line.lstrip("-").strip()), path.stem)
        out.append({"name": path.stem, "title": title, "sql": text.strip()})
    return out

