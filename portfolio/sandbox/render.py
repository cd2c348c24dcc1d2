"""Rendering every value the engine can produce, and writing results as CSV or JSON.

The engine knows its own types best, so every value is turned into text or a JSON value by
DuckDB itself, per column, vectorised: the user's relation is projected through expressions
chosen from its column types (``relation.types``). Infinite and far-away dates, HUGEINT and
UHUGEINT, INTERVAL, TIME WITH TIME ZONE, BIT, BLOB, UNION, MAP and anything unknown can then
never reach a Python or polars conversion that cannot hold them. :func:`frame_exprs` and
:func:`frame_of` build the in-memory frame of a result; :func:`write_relation` streams CSV
or JSON one Arrow batch at a time within the row and byte caps.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from datetime import time as dtime
from decimal import Decimal
from typing import IO, Any

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from .. import textsafe
from .errors import QueryRefused
from .limits import (
    BATCH_ROWS,
    FORMAT_BYTES,
    MAX_BYTES_LIMIT,
    MAX_ROWS_LIMIT,
    SANDBOX_CONFIG,
    human_bytes,
)

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


def unique_names(names: list[str]) -> list[str]:
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


def frame_exprs(types: list[Any]) -> tuple[list[str], list[str]]:
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


def frame_of(table: pa.Table, modes: list[str], names: list[str]) -> pl.DataFrame:
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
    #: Rows the query returns in all (counted only when cut): exact when ``total_exact``, else a
    #: lower bound. None: not counted (``rows`` is the total when nothing was cut).
    total_rows: int | None = None
    total_exact: bool = True

    @property
    def truncated(self) -> bool:
        """True when the result had more rows than were written."""
        return self.truncated_by is not None


def write_relation(
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
    names = unique_names(list(relation.columns))
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
    reader.close()  # the connection serves one result at a time: the caller may count the rows next
    if going and pending:
        emit(pending)
    if fmt == "json":
        write("[]\n" if rows == 0 else tail)
        written_bytes += 3 if rows == 0 else len(tail)
    out.flush()
    return Written(rows=rows, bytes=written_bytes, truncated_by=cut, max_rows=max_rows, max_bytes=max_bytes)


def write_frame(frame: pl.DataFrame, out: IO[str] | IO[bytes], *, fmt: str, terminal: bool = False) -> Written:
    """Write a frame (a :class:`QueryResult`'s) as CSV or JSON with the same rules as the console."""
    con = duckdb.connect(":memory:", config=dict(SANDBOX_CONFIG))
    try:
        relation = con.from_arrow(frame.to_arrow(compat_level=pl.CompatLevel.oldest()))
        return write_relation(relation, out, fmt=fmt, max_rows=MAX_ROWS_LIMIT, max_bytes=MAX_BYTES_LIMIT,
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


def capped_note(shown: int, total: int, *, exact: bool = True) -> str:
    """``显示前 N 行，共 M 行`` (``fmt.capped``), or ``共至少 M 行`` when the count ran out of time; English after."""
    from ..fmt import capped

    if exact:
        return f"{capped(shown, total)}（{capped(shown, total, 'en')}）"
    return (f"显示前 {shown:,} 行，共至少 {total:,} 行，总数未能在时限内数完"
            f"（first {shown:,} of at least {total:,} rows）")


def stream_notice(written: Written) -> str:
    """The stderr line after a cut csv/json output (empty when nothing was cut); the data is unchanged."""
    if not written.truncated:
        return ""
    total = written.rows + 1 if written.total_rows is None else written.total_rows
    note = capped_note(written.rows, total, exact=written.total_rows is not None and written.total_exact)
    if written.truncated_by == "bytes":
        return (f"{note}；输出达到 {human_bytes(written.max_bytes)} 上限（可用 --max-bytes 调整；"
                f"output cut at --max-bytes），用时 {written.elapsed_s:.2f} 秒")
    return f"{note}；可用 --max-rows 调整，用时 {written.elapsed_s:.2f} 秒"
