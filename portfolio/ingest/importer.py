"""The whole import of one file: read, validate, upsert and write the rejects in one transaction.

:func:`ingest_file` is what the CLI's ``portfolio ingest`` and the app's import page call;
:class:`IngestResult` is what it did (the CONTRACT's ``ingest --json`` counts). A projects
ledger is written by plan year (:mod:`.plans`); the other kinds by :func:`.writing.upsert`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from .. import access, backup, files, store, years
from .catalogue import KIND_LABELS
from .errors import FileProblem, ImportFailed, first_line
from .plans import write_projects
from .reading import read_ledger
from .validation import check_year, validate
from .writing import upsert, write_rejects


@dataclass
class IngestResult:
    """What an import did: the CONTRACT counts, the errors and where the rejects went."""

    file: str
    kind: str
    rows_read: int
    inserted: int
    updated: int
    unchanged: int
    rejected: int
    skipped: int
    rejects_file: str | None
    errors: pl.DataFrame
    skipped_rows: list[int]
    sheet: str | None = None
    header_row: int = 1
    revision: int | None = None
    batch: int | None = None
    year: int | None = None
    current_year: int | None = None
    years: dict[int, int] | None = None
    plans: int = 0

    def to_dict(self) -> dict[str, Any]:
        """The CONTRACT's ``ingest --json`` object, plus sheet, header_row, skipped_rows, revision,
        year (--year, else the current plan year), current_year and, for a projects ledger, ``years``
        (valid rows per plan year) and ``plans`` (plans rows written besides the current year's sync)."""
        out = {
            "file": self.file, "kind": self.kind, "rows_read": self.rows_read,
            "inserted": self.inserted, "updated": self.updated, "unchanged": self.unchanged,
            "rejected": self.rejected, "skipped": self.skipped, "rejects_file": self.rejects_file,
            "batch": self.batch,
            "errors": self.errors.select("row", "column", "value", "reason").to_dicts(),
            "skipped_rows": self.skipped_rows, "sheet": self.sheet, "header_row": self.header_row,
            "revision": self.revision, "year": self.year, "current_year": self.current_year,
        }
        if self.years is not None:
            out["years"] = {str(y): n for y, n in sorted(self.years.items())}
            out["plans"] = self.plans
        return out


def ingest_file(
    db: str | Path | None,
    path: str | Path,
    *,
    kind: str | None = None,
    sheet: str | None = None,
    rejects: str | Path | None = None,
    actor: str = "cli",
    source: str | None = None,
    allowed_units: set[str] | None = None,
    progress: Callable[[str], Any] | None = None,
    user: access.User | None = None,
    year: int | None = None,
) -> IngestResult:
    """Read, validate and upsert a ledger in one transaction; write the rejects file if any.

    With ``user`` the import acts as that user: the role must allow imports, the audit log
    names them, and a ``unit`` user's rows of other units are rejected with the reason. A
    file-level problem raises :class:`FileProblem` before the database is opened; a database
    error rolls everything back and raises :class:`ImportFailed`.

    ``year`` is ``--year`` (None: the current plan year): a closed year or one not opened yet
    raises :class:`FileProblem` and nothing is written. A projects ledger's rows are the plans
    of that year, or of the year in their 年度 column (see :mod:`.plans`).
    """
    if user is not None:
        access.require(user, "import")
        actor = user.label
        allowed_units = user.allowed_units if allowed_units is None else allowed_units & (user.allowed_units or allowed_units)
    say = progress or (lambda _msg: None)
    if rejects is not None:  # a wrong rejects path is refused before anything is read or written
        try:
            files.check_output(rejects, kind="rejects", db=store.resolve_db(db), inputs=[path])
        except files.UnsafeOutput as exc:
            raise FileProblem(str(exc)) from exc
    if year is not None:  # a closed or unopened year is refused before the file is even read
        with store.connect(db, read_only=True) as con:
            check_year(con, year)
    ledger = read_ledger(path, kind=kind, sheet=sheet)
    say(f"读取 {ledger.path.name}（{KIND_LABELS[ledger.kind]}）：表头在第 {ledger.header_row} 行，"
        f"数据 {ledger.rows_read} 行。")
    backup.before_import(db)  # a copy in backups/ before every import (docs/deploy.md)
    try:
        with store.connect(db) as con, store.transaction(con):
            valid, errors = validate(con, ledger, allowed_units=allowed_units, year=year)
            rejects_path = write_rejects(ledger, errors, rejects, db=store.resolve_db(db)) if errors.height else None
            # the raw cells are read for the last time: let them go before the write (300 MB at a million rows)
            rows_read, ledger.frame = ledger.rows_read, ledger.frame.clear()
            batch = store.new_batch(con)  # the import is one batch, undoable as a whole
            source = source or f"import:{ledger.path.name}"
            current = years.current_year(con)
            by_year: dict[int, int] | None = None
            if ledger.kind == "projects":
                by_year = dict(valid.group_by("_year").len().iter_rows())
                counts = write_projects(con, valid, current_year=current, actor=actor, source=source,
                                        batch_id=batch)
            else:
                counts = upsert(con, ledger.kind, valid, actor=actor, source=source, batch_id=batch)
            rejected, skipped = errors["row"].n_unique(), len(ledger.skipped_rows)
            store.record_batch(con, batch, actor=actor, kind="import", source=ledger.path.name,
                               table=ledger.kind, counts={**counts, "rejected": rejected, "skipped": skipped})
            revision = int(store.get_meta(con, "revision", "0") or 0)
    except duckdb.Error as exc:
        raise ImportFailed(f"写入数据库失败，本次导入已全部撤销：{first_line(exc)}（database error, rolled back）。") from exc
    return IngestResult(
        file=str(ledger.path), kind=ledger.kind, rows_read=rows_read,
        inserted=counts["inserted"], updated=counts["updated"], unchanged=counts["unchanged"],
        rejected=rejected, skipped=skipped,
        rejects_file=str(rejects_path) if rejects_path else None, errors=errors,
        skipped_rows=ledger.skipped_rows, sheet=ledger.sheet, header_row=ledger.header_row,
        revision=revision, batch=batch, year=year if year is not None else current, current_year=current,
        years=by_year,
        plans=int(counts.get("plans", 0)),
    )
