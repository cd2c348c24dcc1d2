"""The audit trail: one ``audit_log`` row per change, grouped into undoable ``batches``.

Every write calls :func:`audit` or :func:`audit_frame` inside its transaction; an import, a
form save, an undo and an init is one batch (:func:`new_batch`, :func:`record_batch`), which
``portfolio imports`` lists and ``portfolio undo`` reverses (``batches.py``).
"""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import duckdb
import polars as pl


def json_default(value: Any) -> Any:
    """``json.dumps`` default: Decimal and dates as exact strings, anything else as its text."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, date | datetime):
        return value.isoformat()
    return str(value)


def to_json(value: Any) -> str | None:
    """JSON text for an audit value (Decimal and dates kept exact as strings)."""
    if value is None:
        return None
    return json.dumps(value, ensure_ascii=False, default=json_default, sort_keys=True)


def audit(
    con: duckdb.DuckDBPyConnection,
    *,
    actor: str,
    action: str,
    table: str,
    record_id: str | None = None,
    old: Any = None,
    new: Any = None,
    source: str | None = None,
    batch_id: int | None = None,
) -> None:
    """Append one row to the audit log (call inside the writing transaction)."""
    con.execute(
        "insert into audit_log (actor, action, table_name, record_id, old_values, new_values, source, batch_id)"
        " values (?, ?, ?, ?, ?, ?, ?, ?)",
        [actor, action, table, record_id, to_json(old), to_json(new), source, batch_id],
    )


def audit_frame(con: duckdb.DuckDBPyConnection, frame: pl.DataFrame, *, batch_id: int | None = None) -> None:
    """Append many audit rows at once from a frame with the audit_log columns (vectorised)."""
    if frame.is_empty():
        return
    con.register("_audit_rows", frame)
    try:
        con.execute(
            "insert into audit_log (actor, action, table_name, record_id, old_values, new_values, source, batch_id)"
            " select actor, action, table_name, record_id, old_values::json, new_values::json, source, ?"
            " from _audit_rows",
            [batch_id],
        )
    finally:
        con.unregister("_audit_rows")


#: The counts a batch row carries (batches columns).
BATCH_COUNTS = ("inserted", "updated", "deleted", "unchanged", "rejected", "skipped")


def new_batch(con: duckdb.DuckDBPyConnection) -> int:
    """A fresh batch number; its audit rows carry it, :func:`record_batch` then writes the batch row."""
    return int(con.execute("select nextval('batch_seq')").fetchall()[0][0])


def record_batch(
    con: duckdb.DuckDBPyConnection,
    batch_id: int,
    *,
    actor: str,
    kind: str,
    source: str | None,
    table: str | None,
    counts: dict[str, int] | None = None,
    undoes: int | None = None,
) -> None:
    """Write the row of one import / edit / undo / init batch (call inside its transaction)."""
    n = counts or {}
    con.execute(
        f"insert into batches (batch_id, actor, kind, source, table_name, {', '.join(BATCH_COUNTS)}, undoes)"
        f" values (?, ?, ?, ?, ?, {', '.join('?' * len(BATCH_COUNTS))}, ?)",
        [batch_id, actor, kind, source, table, *(int(n.get(c, 0)) for c in BATCH_COUNTS), undoes],
    )
