"""The ad-hoc SQL console: one read-only statement on its own locked, sandboxed connection.

The real guard is the engine: every query runs on a fresh connection opened read-only with
external access off (no file, no ATTACH, no COPY, no INSTALL), no extension autoloading, no
Python replacement scans, capped memory and threads, no spilling to disk, and the
configuration locked so the query cannot change any of it. On top of that, a pre-check parses
the text and refuses, with one clear Chinese sentence, anything that is not a single query
(DDL, DML, COPY, EXPORT, ATTACH, INSTALL/LOAD, SET, CALL, CHECKPOINT, transactions, reading
files …) before it reaches the database. A timer interrupts the query on that same connection,
and at most ``max_rows + 1`` rows are ever fetched.
"""

from __future__ import annotations

import json
import math
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
from typing import Any

import duckdb
import polars as pl
import pyarrow as pa
from rich.console import Console
from rich.table import Table

from . import config, store

MEMORY_LIMIT = "1GB"
THREADS = 2
DEFAULT_TIMEOUT_S = 30.0
DEFAULT_MAX_ROWS = 10_000
#: A terminal table of more rows is unreadable and slow to lay out (rich: ~1 ms a row).
TABLE_MAX_ROWS = 1_000

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
    """A query's rows (at most ``max_rows``), whether more existed, and how long it took."""

    frame: pl.DataFrame
    truncated: bool
    elapsed_s: float
    sql: str
    max_rows: int = DEFAULT_MAX_ROWS


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


def _text(value: Any) -> str:
    """Text for a value polars cannot hold; an INTERVAL reads like DuckDB prints it."""
    if isinstance(value, pa.MonthDayNano):
        parts = [f"{value.months} months" if value.months else "",
                 f"{value.days} days" if value.days else "",
                 str(timedelta(microseconds=value.nanoseconds // 1000)) if value.nanoseconds else ""]
        return " ".join(p for p in parts if p) or "00:00:00"
    return str(value)


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


def _to_polars(table: pa.Table) -> pl.DataFrame:
    """Arrow → polars; a column polars cannot import (INTERVAL, UNION …) becomes text."""
    table = table.rename_columns(_unique_names(table.column_names))
    try:
        frame = pl.from_arrow(table)
        assert isinstance(frame, pl.DataFrame)
        return frame
    except Exception:  # noqa: BLE001 - fall back column by column below
        pass
    columns: list[pl.Series] = []
    for name, column in zip(table.column_names, table.columns, strict=True):
        try:
            series = pl.from_arrow(column)
            assert isinstance(series, pl.Series)
            columns.append(series.alias(name))
        except Exception:  # noqa: BLE001 - polars has no type for it: show it as text
            values = [None if v is None else _text(v) for v in column.to_pylist()]
            columns.append(pl.Series(name, values, dtype=pl.String))
    return pl.DataFrame(columns)


def run_query(
    db: str | Path | None,
    sql: str,
    *,
    timeout: float = DEFAULT_TIMEOUT_S,
    max_rows: int = DEFAULT_MAX_ROWS,
) -> QueryResult:
    """Run one read-only statement in the sandbox; at most ``max_rows`` rows, interrupted after ``timeout`` s."""
    if not timeout > 0 or math.isinf(timeout):
        raise QueryRefused("bad_option", what=f"超时秒数必须是正数（--timeout {timeout}）。")
    if max_rows < 0:
        raise QueryRefused("bad_option", what=f"最多返回行数不能为负数（--max-rows {max_rows}）。")
    started = time.monotonic()
    statement = check_query(sql)
    batches: list[pa.RecordBatch] = []
    rows = 0
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
            reader = relation.to_arrow_reader(min(max_rows + 1, 100_000))
            schema = reader.schema
            while rows <= max_rows:
                try:
                    batch = reader.read_next_batch()
                except StopIteration:
                    break
                batches.append(batch)
                rows += batch.num_rows
        except duckdb.Error as exc:
            raise _translate(exc, timed_out=fired.is_set(), timeout=timeout) from exc
        finally:
            timer.cancel()
    table = pa.Table.from_batches(batches, schema=schema).slice(0, max_rows)
    return QueryResult(
        frame=_to_polars(table),
        truncated=rows > max_rows,
        elapsed_s=time.monotonic() - started,
        sql=statement,
        max_rows=max_rows,
    )


# --- output ---------------------------------------------------------------------------------


def _json_value(value: Any) -> str:
    """One JSON value; Decimal as an exact JSON number, dates as ISO text, NaN as null."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else "null"
    if isinstance(value, Decimal):
        return str(value) if value.is_finite() else "null"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, datetime | date | dtime):
        return json.dumps(value.isoformat())
    if isinstance(value, timedelta):
        return json.dumps(str(value))
    if isinstance(value, bytes | bytearray | memoryview):
        return json.dumps(bytes(value).hex())
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(str(k), ensure_ascii=False)}: {_json_value(v)}"
                               for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_json_value(v) for v in value) + "]"
    return json.dumps(str(value), ensure_ascii=False)


def to_json(frame: pl.DataFrame) -> str:
    """The rows as a JSON array of objects (Decimal written as exact numbers, e.g. 23520000.00)."""
    names = [json.dumps(name, ensure_ascii=False) for name in frame.columns]
    lines = [
        "{" + ", ".join(f"{n}: {_json_value(v)}" for n, v in zip(names, row, strict=True)) + "}"
        for row in frame.iter_rows()
    ]
    if not lines:
        return "[]"
    return "[\n  " + ",\n  ".join(lines) + "\n]"


_CSV_NATIVE = (pl.Boolean, pl.String, pl.Date, pl.Datetime, pl.Time, pl.Duration, pl.Decimal,
               pl.Categorical, pl.Enum)


def to_csv(frame: pl.DataFrame) -> str:
    """The rows as CSV with a header; nested or binary values written as JSON text."""
    fixes = []
    for name, dtype in frame.schema.items():
        if dtype.is_numeric() or isinstance(dtype, _CSV_NATIVE) or dtype in _CSV_NATIVE:
            continue
        fixes.append(pl.Series(name, [None if v is None else _json_value(v) for v in frame[name].to_list()],
                               dtype=pl.String))
    if fixes:
        frame = frame.with_columns(fixes)
    return frame.write_csv()


def _cell(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float) and math.isfinite(value):
        if value == 0 or 1e-6 <= abs(value) < 1e15:
            return f"{value:,.6f}".rstrip("0").rstrip(".")
        return repr(value)
    if isinstance(value, list | tuple | dict):
        return _json_value(value)
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


def _summary(result: QueryResult, *, shown: int | None = None) -> str:
    n = result.frame.height
    line = f"{n} 行，用时 {result.elapsed_s:.2f} 秒"
    if shown is not None and shown < n:
        line += f"；表格只列出前 {shown} 行，完整结果请用 --format csv 或 json"
    if result.truncated:
        line += f"；结果超过 {result.max_rows} 行，只显示前 {result.max_rows} 行（可用 --max-rows 调整）"
    return line


def print_result(
    result: QueryResult,
    console: Console,
    *,
    fmt: str = "table",
    notices: Console | None = None,
) -> None:
    """Print a result as a rich table (with a footer), CSV or a JSON array of row objects.

    The table lists at most ``TABLE_MAX_ROWS`` rows (the footer says so); CSV and JSON carry
    every row of the result. For ``csv`` and ``json`` stdout carries only the data; the truncation notice goes to
    ``notices`` (stderr by default) so a redirected file stays clean.
    """
    if fmt == "table":
        table = Table(show_header=True, header_style="bold", show_lines=False)
        frame = result.frame.head(TABLE_MAX_ROWS)
        for name, dtype in frame.schema.items():
            table.add_column(name, justify="right" if dtype.is_numeric() else "left", overflow="fold")
        for row in frame.iter_rows():
            table.add_row(*(_cell(v) for v in row))
        console.print(table)
        console.print(_summary(result, shown=frame.height), highlight=False, markup=False)
        return
    if fmt not in ("csv", "json"):
        raise QueryRefused("bad_option", what=f"不支持的输出格式 {fmt!r}；可选 table、csv、json。")
    text = to_csv(result.frame) if fmt == "csv" else to_json(result.frame) + "\n"
    # straight to the console's file: rich would expand tabs and could wrap lines of data
    console.file.write(text)
    console.file.flush()
    if result.truncated:
        (notices or Console(stderr=True, highlight=False)).print(_summary(result), markup=False)


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

