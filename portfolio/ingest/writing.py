"""Writing: the upsert with its audit trail, and the rejects file.

:func:`upsert` inserts new rows and updates changed ones by key inside the caller's
transaction, one audit row per written row (the values undo needs); the app's forms write
through it too (``edits.py``): one write path. :func:`write_rejects` writes the refused rows
with their reasons where the user can open them, through :mod:`portfolio.files`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb
import polars as pl

from .. import export, files, store, textsafe
from .catalogue import TABLE_KEYS
from .errors import FileProblem
from .reading import Ledger
from .validation import stored_rows

#: Audit rows built and written at a time (:func:`apply`).
AUDIT_CHUNK = 200_000


@dataclass
class Diff:
    """Rows to write to ``table`` compared with the stored ones: ``rows`` holds each row's values,
    its old values (``old_<column>``), ``_action`` (insert / update / null for unchanged) and
    ``_row`` when the rows came with one."""

    table: str
    key: list[str]
    values: list[str]
    rows: pl.DataFrame
    schema: pl.Schema

    @property
    def inserted(self) -> pl.DataFrame:
        """The rows to insert."""
        return self.rows.filter(pl.col("_action") == "insert")

    @property
    def updated(self) -> pl.DataFrame:
        """The stored rows whose values change."""
        return self.rows.filter(pl.col("_action") == "update")

    def counts(self) -> dict[str, int]:
        """inserted / updated / unchanged."""
        ins, upd = self.inserted.height, self.updated.height
        return {"inserted": ins, "updated": upd, "unchanged": self.rows.height - ins - upd}


def diff(con: duckdb.DuckDBPyConnection, table: str, valid: pl.DataFrame) -> Diff:
    """Compare ``valid`` (the key and some value columns; ``_``-columns ignored but ``_row`` kept)
    with the stored rows of ``table``: which to insert, which change, which stay as they are."""
    key = list(TABLE_KEYS[table])
    cols = [c for c in valid.columns if not c.startswith("_")]
    if not set(key) <= set(cols):
        raise ValueError(f"写入 {table} 需要列 {', '.join(key)}。")
    stored = con.sql(f"select {', '.join(cols)} from {table} limit 0").pl().schema
    frame = valid.select(*(pl.col(c).cast(stored[c]) for c in cols),
                         *([pl.col("_row")] if "_row" in valid.columns else []))
    if frame.select(pl.struct(key).is_duplicated().any()).item():
        raise ValueError("同一编号在要写入的数据中出现多次，无法写入。")
    values = [c for c in cols if c not in key]
    cur = stored_rows(con, table, frame.select(key), values)
    cur = cur.rename({c: f"old_{c}" for c in values}).with_columns(pl.lit(True).alias("_exists"))
    changed = [pl.col(c).ne_missing(pl.col(f"old_{c}")) for c in values]
    action = (
        pl.when(pl.col("_exists").is_null()).then(pl.lit("insert"))
        .when(pl.any_horizontal(changed) if values else pl.lit(False)).then(pl.lit("update"))
    )
    rows = frame.join(cur, on=key, how="left", maintain_order="left").with_columns(action.alias("_action"))
    return Diff(table=table, key=key, values=values, rows=rows, schema=frame.schema)


def apply(con: duckdb.DuckDBPyConnection, d: Diff, *, actor: str, source: str | None,
          batch_id: int | None) -> None:
    """Write a :class:`Diff` (inserts and updates) with one audit row each; call inside a transaction.

    The data revision is not bumped here: the caller bumps it once for the whole write."""
    cols = [*d.key, *d.values]
    inserted, updated = d.inserted, d.updated
    _write(con, d.table, inserted.select(cols), updated.select(cols), d.key, actor)
    changed = {c: pl.col(c).ne_missing(pl.col(f"old_{c}")) for c in d.values}
    audit_cols = [
        pl.lit(actor).alias("actor"), pl.col("_action").alias("action"), pl.lit(d.table).alias("table_name"),
        record_id(d.table).alias("record_id"),
    ]
    parts = (
        (inserted, [pl.lit(None, pl.String).alias("old_values"), _json_object(d.schema, d.values).alias("new_values")]),
        (updated, [_json_object(d.schema, d.values, changed, prefix="old_").alias("old_values"),
                   _json_object(d.schema, d.values, changed).alias("new_values")]),
    )
    # the audit rows in order (inserts, then updates), AUDIT_CHUNK at a time: their JSON text for a
    # million rows held at once took 600 MB more at the peak of an import
    for rows, values in parts:
        for start in range(0, rows.height, AUDIT_CHUNK):
            audit = rows.slice(start, AUDIT_CHUNK).select(
                *audit_cols, *values, pl.lit(source).cast(pl.String).alias("source"))
            store.audit_frame(con, audit, batch_id=batch_id)


def record_id(table: str) -> pl.Expr:
    """The audit log's ``record_id`` of a row of ``table``: its key as text (``batches`` parses it back).

    project_id; project_id/YYYY-MM for progress; project_id/YYYY for plans; YYYY-MM/metric for actuals."""
    if table == "progress":
        return pl.concat_str([pl.col("project_id"), pl.col("month").dt.strftime("%Y-%m")], separator="/")
    if table == "plans":
        return pl.concat_str([pl.col("project_id"), pl.col("year").cast(pl.String)], separator="/")
    if table == "actuals":
        return pl.concat_str([pl.col("month").dt.strftime("%Y-%m"), pl.col("metric")], separator="/")
    return pl.col(TABLE_KEYS[table][0]).cast(pl.String)


def upsert(con: duckdb.DuckDBPyConnection, kind: str, valid: pl.DataFrame, *, actor: str,
           source: str | None = None, batch_id: int | None = None,
           form: str | None = None, bump: bool = True) -> dict[str, int]:
    """Insert new rows and update changed ones by key, one audit row each; call inside a transaction.

    Only the columns present in ``valid`` are compared and written (a ledger without 包保领导
    leaves the stored leaders alone). Unchanged rows are not touched; the data revision is
    bumped once when anything was written (unless ``bump`` is false: the caller bumps).

    The audit rows carry ``batch_id`` (the caller then records the batch, as an import does).
    Without one, a write that changed something becomes an ``edit`` batch of its own, its
    source ``form`` (e.g. ``form:update_project``). The counts include ``batch`` (0: none).
    For undo (``batches.undo``) an insert's audit row holds the written values and an update's
    the old and new values of exactly the columns that changed, Decimal as text, dates ISO.
    """
    if valid.is_empty():
        if not set(TABLE_KEYS[kind]) <= set(valid.columns):
            raise ValueError(f"写入 {kind} 需要列 {', '.join(TABLE_KEYS[kind])}。")
        return {"inserted": 0, "updated": 0, "unchanged": 0, "batch": batch_id or 0}
    d = diff(con, kind, valid)
    counts = d.counts()
    wrote = bool(counts["inserted"] or counts["updated"])
    own_batch = batch_id is None and wrote
    if own_batch:
        batch_id = store.new_batch(con)
    apply(con, d, actor=actor, source=source, batch_id=batch_id)
    if own_batch:
        assert batch_id is not None
        store.record_batch(con, batch_id, actor=actor, kind="edit", source=form or source, table=kind,
                           counts=counts)
    if wrote and bump:
        store.bump_revision(con)
    return {**counts, "batch": batch_id or 0}


def _write(con: duckdb.DuckDBPyConnection, table: str, inserted: pl.DataFrame, updated: pl.DataFrame,
           key: list[str], actor: str) -> None:
    tracked = table in ("projects", "progress", "actuals")
    cols = inserted.columns
    if inserted.height:
        con.register("_ingest_rows", inserted)
        try:
            extra = (", updated_by", ", ?") if tracked else ("", "")
            con.execute(f"insert into {table} ({', '.join(cols)}{extra[0]})"
                        f" select {', '.join(cols)}{extra[1]} from _ingest_rows", [actor] if tracked else [])
        finally:
            con.unregister("_ingest_rows")
    if updated.height:
        sets = [f"{c} = r.{c}" for c in cols if c not in key]
        if table == "projects":
            sets.append("version = projects.version + 1")
        if tracked:
            sets += ["updated_at = current_timestamp", "updated_by = ?"]
        where = " and ".join(f"{table}.{k} = r.{k}" for k in key)
        con.register("_ingest_rows", updated)
        try:
            con.execute(f"update {table} set {', '.join(sets)} from _ingest_rows r where {where}",
                        [actor] if tracked else [])
        finally:
            con.unregister("_ingest_rows")


def _json_object(schema: pl.Schema, cols: list[str], mask: dict[str, pl.Expr] | None = None,
                 prefix: str = "") -> pl.Expr:
    """A JSON object per row of ``cols`` (only the masked ones); Decimal and dates as strings."""
    parts = []
    for c in cols:
        value = pl.col(prefix + c)
        if schema[c] == pl.Date or isinstance(schema[c], pl.Decimal):
            value = value.cast(pl.String)
        pair = pl.struct(value.alias(c)).struct.json_encode().str.strip_prefix("{").str.strip_suffix("}")
        parts.append(pl.when(mask[c]).then(pair) if mask else pair)
    inner = pl.concat_str(parts, separator=",", ignore_nulls=True) if parts else pl.lit("")
    return pl.concat_str([pl.lit("{"), inner, pl.lit("}")])


def write_rejects(ledger: Ledger, errors: pl.DataFrame, path: str | Path | None = None, *,
                  db: str | Path | None = None) -> Path:
    """Write the errors with the original cells of their rows (UTF-8-BOM CSV, or .xlsx by suffix).

    The target is checked by :func:`files.check_output`: never the database ``db``, its WAL or
    the ledger itself, never a file the tool did not write. Without ``path`` the file goes next
    to the input (``<stem>.rejects.csv``), else to a numbered name beside it, else here.
    """
    fixed = {"row": "行号", "column": "列", "value": "值", "reason": "原因"}
    original = ledger.frame.rename({c: f"{c}(原表)" for c in ledger.frame.columns if c in fixed.values()})
    table = errors.rename(fixed).join(original, left_on="行号", right_on="_row", how="left", maintain_order="left")
    if path:
        attempts = [Path(path)]
    else:
        first = ledger.path.with_name(f"{ledger.path.stem}.rejects.csv")
        numbered = [first.with_name(f"{ledger.path.stem}.rejects-{k}.csv") for k in range(2, 10)]
        attempts = [first, *numbered, Path.cwd() / first.name]
    error: BaseException = OSError("?")
    for attempt in attempts:
        try:
            target = files.check_output(attempt, kind="rejects", db=db, inputs=[ledger.path])
            with files.atomic(target, kind="rejects") as tmp:
                _write_table(table, tmp, xlsx=target.suffix.lower() == ".xlsx")
            return target
        except files.UnsafeOutput as exc:
            if path:
                raise FileProblem(str(exc)) from exc
            error = exc
        except OSError as exc:
            error = exc
    reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
    raise FileProblem(f"无法写入拒收文件 {attempts[0]}：{reason}（cannot write rejects file）。") from error


def _write_table(table: pl.DataFrame, target: Path, *, xlsx: bool) -> None:
    """The rejects as xlsx (text cells stay text: never formulas, never links) or as CSV.

    The CSV is meant to be opened in Excel by staff, so a cell that starts with = + - @ tab or
    CR gets a leading ' (OWASP CSV injection, :func:`textsafe.formula_safe_frame`).
    """
    if xlsx:
        import xlsxwriter

        try:
            export.write_xlsx({"拒收行": table}, target)
        except xlsxwriter.exceptions.FileCreateError as exc:
            raise OSError(str(exc)) from exc
    else:
        textsafe.formula_safe_frame(table).write_csv(target, include_bom=True)
