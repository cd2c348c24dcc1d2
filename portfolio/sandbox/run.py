"""Running one query: the sandboxed connection, the timer, the frame or the stream.

:func:`run_query` runs one read-only statement into a frame capped by rows and Arrow bytes
(the terminal table, the app's page); :func:`stream_query` writes CSV or JSON while it
fetches, one batch at a time, so memory stays near a fixed ceiling whatever the query returns.
Both check the statement first (:mod:`.guard`), open a fresh connection with the sandbox
settings through ``store.open_connection`` and interrupt it after the timeout.

A result cut at a cap says how many rows the query has in all ("显示前 N 行，共 M 行"): the
statement is counted (``count(*)`` over the same relation) on the same sandboxed connection,
under what is left of the same timeout, only when it was cut. A count that fails or runs out of
time leaves the lower bound known from the fetch ("共至少 M 行"); the rows already fetched are
kept either way.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import duckdb
import polars as pl
import pyarrow as pa

from .. import store
from .errors import QueryRefused
from .guard import check_query, keywords, translate
from .limits import (
    BATCH_ROWS,
    DEFAULT_MAX_ROWS,
    DEFAULT_TIMEOUT_S,
    FRAME_MAX_BYTES,
    MAX_BYTES_LIMIT,
    MAX_ROWS_LIMIT,
    MAX_TIMEOUT_S,
    SANDBOX_CONFIG,
    STREAM_MAX_BYTES,
    human_bytes,
)
from .render import Written, frame_exprs, frame_of, unique_names, write_relation


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
    #: Rows the query returns in all: exact when ``total_exact``, else a lower bound (the count ran
    #: out of time). None means the frame's height (nothing was cut).
    total_rows: int | None = None
    total_exact: bool = True

    @property
    def total(self) -> int:
        """Rows the query returns in all (a lower bound when not ``total_exact``)."""
        return self.frame.height if self.total_rows is None else self.total_rows


@contextmanager
def sandbox_connection(db: str | Path | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
    """A short-lived, read-only, locked-down connection for untrusted SQL (retries on lock)."""
    con = store.open_connection(db, read_only=True, config_options=dict(SANDBOX_CONFIG))
    try:
        yield con
    finally:
        con.close()


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
                raise QueryRefused("not_allowed", kw=keywords(statement))
            yield statement, relation
        except duckdb.Error as exc:
            raise translate(exc, timed_out=fired.is_set(), timeout=timeout) from exc
        finally:
            timer.cancel()


def count_rows(relation: duckdb.DuckDBPyRelation, *, at_least: int) -> tuple[int, bool]:
    """Every row ``relation`` returns, as ``(count, True)``; ``(at_least, False)`` if counting fails.

    Runs on the relation's own connection, so under the sandbox's settings and the caller's
    timer: a count the timer interrupts (or the memory cap stops) gives the lower bound instead.
    The engine projects nothing but the count, so it usually costs far less than the fetch.
    """
    try:
        rows = relation.aggregate("count(*)").fetchall()
    except duckdb.Error:
        return at_least, False
    return int(rows[0][0]), True


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
        names = unique_names(list(relation.columns))
        exprs, modes = frame_exprs(list(relation.types))
        reader = relation.project(", ".join(exprs)).to_arrow_reader(min(max_rows + 1, BATCH_ROWS))
        schema = reader.schema
        seen = 0  # rows fetched, kept or not: a lower bound of the total
        while True:
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                break
            seen += batch.num_rows
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
        total: int | None = None
        exact = True
        if cut:
            reader.close()  # the connection serves one result at a time
            total, exact = count_rows(relation, at_least=max(seen, rows + 1))
    table = pa.Table.from_batches(batches, schema=schema)
    return QueryResult(
        frame=frame_of(table, modes, names),
        truncated=cut is not None,
        elapsed_s=time.monotonic() - started,
        sql=statement,
        max_rows=max_rows,
        truncated_by=cut,
        max_bytes=max_bytes,
        total_rows=total,
        total_exact=exact,
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
        written = write_relation(relation, out, fmt=fmt, max_rows=max_rows, max_bytes=max_bytes,
                                  terminal=terminal)
        total, exact = (count_rows(relation, at_least=written.rows + 1) if written.truncated
                        else (written.rows, True))
    return Written(rows=written.rows, bytes=written.bytes, truncated_by=written.truncated_by,
                   max_rows=max_rows, max_bytes=max_bytes, elapsed_s=time.monotonic() - started,
                   total_rows=total, total_exact=exact)
