"""Editing one project and entering a month's progress, as the app's forms do.

The forms go through the import's own validation (``ingest.validate``) and writing path
(``ingest.upsert``), so a value refused in a ledger is refused in a form with the same reason.
Edits use optimistic locking: the form carries the version it was based on, and an edit based
on a stale version is refused, never silently written over someone else's change. Every write
checks the acting user's role and unit scope (``access.require``) and lands in the audit log;
every save that changes something is one ``edit`` batch, which ``batches.undo`` can take back.

Plan years: the forms write the current plan year (a project's plan is the current year's);
progress of a month in a closed year is refused by the same rule as in a ledger, and
:func:`progress_locked` says why before a form is even shown.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from . import access, ingest, store, years

#: Project fields a form may change (the key, the bookkeeping columns and a ledger's 年度 are not).
EDITABLE = tuple(f.name for f in ingest.FIELDS["projects"] if f.name not in ("project_id", "year"))
PROGRESS_FIELDS = tuple(f.name for f in ingest.FIELDS["progress"])


class EditRefused(ValueError):
    """The edit was not written; ``errors`` holds the row-level reasons when there are any."""

    def __init__(self, message: str, errors: pl.DataFrame | None = None) -> None:
        super().__init__(message)
        self.errors = errors if errors is not None else pl.DataFrame()


class StaleEdit(EditRefused):
    """Someone changed the project after the form was opened."""


def _text(value: Any) -> str | None:
    """A form value as the text a ledger cell would hold (the import parses it back)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    text = str(value).strip()
    return text or None


def _ledger(kind: str, record: dict[str, Any]) -> ingest.Ledger:
    """A one-row ledger whose headers are the field names (the form is row 1)."""
    headers = {f.name: f.header for f in ingest.FIELDS[kind] if f.name in record}
    frame = pl.DataFrame(
        {"_row": [1], **{header: [_text(record[name])] for name, header in headers.items()}},
        schema={"_row": pl.Int64, **dict.fromkeys(headers.values(), pl.String)},
    )
    # The form's amounts are 万元 whatever the header says, so no unit suffixes are passed.
    return ingest.Ledger(path=Path("<form>"), kind=kind, frame=frame, columns=headers,
                         units={}, header_row=0)


def _validated(con: duckdb.DuckDBPyConnection, kind: str, record: dict[str, Any],
               user: access.User) -> pl.DataFrame:
    valid, errors = ingest.validate(con, _ledger(kind, record), allowed_units=user.allowed_units)
    if errors.height:
        reasons = "；".join(f"{c}：{r}" for c, r in errors.select("column", "reason").iter_rows())
        raise EditRefused(f"未保存：{reasons}", errors)
    return valid


def get_project(con: duckdb.DuckDBPyConnection, project_id: str) -> dict[str, Any] | None:
    """One project's stored row as a dict, or None."""
    rows = store.fetch(con, "select * from projects where project_id = ?", [project_id]).to_dicts()
    return rows[0] if rows else None


def update_project(con: duckdb.DuckDBPyConnection, project_id: str, changes: dict[str, Any], *,
                   expected_version: int, user: access.User, source: str = "app") -> int:
    """Apply ``changes`` to a project if it is still at ``expected_version``; return the new version.

    Refused with :class:`StaleEdit` when someone saved in between, :class:`EditRefused` when a
    value fails validation, :class:`access.PermissionDenied` when the user may not change the
    project (or move it to another unit).
    """
    unknown = set(changes) - set(EDITABLE)
    if unknown:
        raise EditRefused(f"这些字段不能修改：{', '.join(sorted(unknown))}。")
    with store.transaction(con):
        current = get_project(con, project_id)
        if current is None:
            raise EditRefused(f"项目 {project_id} 不存在。")
        access.require(user, "edit_project", unit_id=current["unit_id"])
        if current["version"] != expected_version:
            raise StaleEdit(
                f"项目 {project_id} 已被 {current['updated_by']} 于 "
                f"{current['updated_at']:%Y-%m-%d %H:%M} 修改（当前版本 {current['version']}，"
                f"表单基于版本 {expected_version}），为避免覆盖他人的修改，本次未保存，请刷新后重试。"
            )
        record = {name: current[name] for name in EDITABLE} | dict(changes)
        record["project_id"] = project_id
        if record.get("unit_id") != current["unit_id"]:
            access.require(user, "edit_project", unit_id=str(record.get("unit_id")))
        valid = _validated(con, "projects", record, user)
        counts = ingest.upsert(con, "projects", valid, actor=user.label, source=source,
                               form="form:update_project")
    return int(current["version"]) + (1 if counts["updated"] else 0)


def create_project(con: duckdb.DuckDBPyConnection, record: dict[str, Any], *, user: access.User,
                   source: str = "app") -> None:
    """Add a new project (refused if the code exists already)."""
    project_id = _text(record.get("project_id"))
    if not project_id:
        raise EditRefused("项目编号不能为空。")
    with store.transaction(con):
        if get_project(con, project_id) is not None:
            raise EditRefused(f"项目编号 {project_id} 已存在，请改为编辑该项目。")
        access.require(user, "create_project", unit_id=_text(record.get("unit_id")))
        valid = _validated(con, "projects", record, user)
        ingest.upsert(con, "projects", valid, actor=user.label, source=source, form="form:create_project")


def progress_locked(con: duckdb.DuckDBPyConnection, month: date) -> str | None:
    """Why the progress of ``month`` cannot be entered or corrected (one sentence), or None.

    A month of a closed plan year (or before it) is read-only; a month after the current plan
    year's December waits for ``year open``. The import applies the same rule, row by row."""
    closed = years.closed_before(con)
    if closed is not None and month < closed:
        year = month.year if years.is_closed(con, month.year) else closed.year - 1
        return (f"{month:%Y-%m} 属于已结转的年度 {year}，进度只读，不能再修改（year {year} is closed）。"
                if year == month.year else
                f"{month:%Y-%m} 早于已结转的年度 {year}，进度只读，不能再修改（before the closed year {year}）。")
    current = years.current_year(con)
    if month.year > current:
        return (f"{month:%Y-%m} 晚于当前计划年度 {current} 年12月，请先开启 {current + 1} 年度"
                f"（year {current + 1} is not open yet）。")
    return None


def record_progress(con: duckdb.DuckDBPyConnection, record: dict[str, Any], *, user: access.User,
                    source: str = "app") -> str:
    """Enter (or correct) one project's progress for one month; returns insert/update/unchanged.

    Refused with :class:`EditRefused` for a month of a closed year (:func:`progress_locked`)."""
    project_id = _text(record.get("project_id"))
    month = record.get("month")
    with store.transaction(con):
        current = get_project(con, project_id or "")
        if current is None:
            raise EditRefused(f"项目 {project_id} 不存在。")
        access.require(user, "enter_progress", unit_id=current["unit_id"])
        if isinstance(month, date) and (locked := progress_locked(con, month.replace(day=1))) is not None:
            raise EditRefused(f"未保存：{locked}")
        valid = _validated(con, "progress", record, user)
        counts = ingest.upsert(con, "progress", valid, actor=user.label, source=source,
                               form="form:record_progress")
    return next(k for k in ("inserted", "updated", "unchanged") if counts[k])


def project_progress(con: duckdb.DuckDBPyConnection, project_id: str) -> pl.DataFrame:
    """A project's monthly progress rows, oldest first: amounts, problems, who entered them and when."""
    return store.fetch(
        con,
        "select month, completed_wan, physical_pct, problems, problem_level, updated_by, updated_at"
        " from progress where project_id = ? order by month",
        [project_id],
    )


def existing_keys(con: duckdb.DuckDBPyConnection, kind: str, rows: pl.DataFrame) -> pl.DataFrame:
    """The keys of ``rows`` (a validated ledger of ``kind``) already stored: an import updates or keeps them."""
    key = list(ingest.KEYS[kind])  # a KeyError for any other kind: no table name comes from outside
    if rows.is_empty():
        return rows.select(key)
    return ingest.validation.stored_rows(con, kind, rows.select(key), [])


def project_history(con: duckdb.DuckDBPyConnection, project_id: str) -> pl.DataFrame:
    """Every audited change of a project and of its progress rows, newest first."""
    return store.fetch(
        con,
        "select \"at\", actor, action, table_name, record_id, old_values, new_values, source"
        " from audit_log where (table_name = 'projects' and record_id = ?)"
        " or (table_name = 'progress' and record_id like ? || '/%') order by audit_id desc",
        [project_id, project_id],
    )
