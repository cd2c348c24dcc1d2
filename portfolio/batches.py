"""Batches: every import and every form save is one batch, listed and undone as a whole.

A batch is a row of ``batches`` (who, when, which file or form, the counts) and the
``audit_log`` rows that carry its ``batch_id``. Those rows hold what undo needs, per row the key
(``record_id``: project_id; project_id/YYYY-MM for progress; project_id/YYYY for plans;
YYYY-MM/metric for actuals; enterprise_id; user_id):

- ``insert``: ``new_values`` are the values written;
- ``update``: ``old_values`` and ``new_values`` are the exact old and new values of the columns
  that changed (Decimal as text, dates ISO);
- ``delete`` (written by an undo of an insert): ``old_values`` is the whole row.

:func:`undo` checks, in one transaction, that every row still holds the batch's new values
(an inserted row still exists unchanged, a deleted one is still absent); if one does not, it
changes nothing and says how many rows and which. Otherwise it restores the old values, deletes
inserted rows and re-inserts deleted ones, all in SQL over the whole batch (no Python loop per
row). The undo is itself a batch (kind ``undo``), so it can be undone in turn (redo), and it
marks the original ``undone_by`` so a batch is undone at most once. Bookkeeping columns are not
restored but move on as for any edit: ``projects.version`` + 1 (the optimistic lock), and
``updated_at`` / ``updated_by`` name the undo.

Closed plan years stay as they were: a batch that wrote progress or statistics of a month in a
closed year, a plan of a closed year, or inserted a project a closed year holds, is not undone
(refused with the reason, nothing changed).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import duckdb
import polars as pl

from . import access, ingest, store, years

#: Key columns of the tables a batch can write (the audit rows' record_id holds them).
TABLE_KEYS: dict[str, tuple[str, ...]] = {**ingest.TABLE_KEYS, "users": ("user_id",)}
#: Tables whose rows record who wrote them last and when.
TRACKED = ("projects", "progress", "actuals")
#: Columns an undo never restores: they record the write itself.
BOOKKEEPING = frozenset({"version", "updated_at", "updated_by", "created_at"})
#: Batch kinds that can be undone (an ``init`` rebuilt the database and cannot).
UNDOABLE = ("import", "edit", "undo")
#: How many refused rows the refusal names.
NAMED_ROWS = 5

KIND_LABELS = {"import": "导入", "edit": "表单修改", "undo": "撤销", "init": "建库"}
COUNT_LABELS = {"inserted": "新增", "updated": "更新", "deleted": "删除", "unchanged": "未变",
                "rejected": "拒收", "skipped": "跳过"}

_SELECT = """
select batch_id as batch, "at", actor, kind, source, table_name as "table",
       inserted, updated, deleted, unchanged, rejected, skipped, undoes, undone_by
from batches
"""


class UndoRefused(ValueError):
    """The batch was not undone and nothing changed; the message says why in one sentence."""


@dataclass(frozen=True)
class UndoResult:
    """What an undo did: the new batch, the one it undid and the rows it put back."""

    batch: int
    undone_batch: int
    table: str | None
    restored: int
    deleted: int
    reinserted: int
    revision: int

    def to_dict(self) -> dict[str, Any]:
        """The CONTRACT's ``undo --json`` object."""
        return {"batch": self.batch, "undone_batch": self.undone_batch, "table": self.table,
                "restored": self.restored, "deleted": self.deleted, "reinserted": self.reinserted,
                "revision": self.revision}


def list_batches(con: duckdb.DuckDBPyConnection, *, limit: int | None = None,
                 kind: str | None = None) -> pl.DataFrame:
    """The batches, newest first: batch, at, actor, kind, source, table, the counts, undoes, undone_by."""
    return store.fetch(con, _SELECT + " where ($kind::varchar is null or kind = $kind)"
                            " order by batch_id desc limit $lim",
                       {"kind": kind, "lim": min(limit, 2**62) if limit is not None else 2**62})


def get_batch(con: duckdb.DuckDBPyConnection, batch_id: int) -> dict[str, Any] | None:
    """One batch as a dict (the columns of :func:`list_batches`), or None."""
    rows = store.fetch(con, _SELECT + " where batch_id = ?", [batch_id]).to_dicts()
    return rows[0] if rows else None


def can_undo(batch: dict[str, Any]) -> bool:
    """True for a batch of an undoable kind that is not undone yet (roles are checked apart)."""
    return batch["kind"] in UNDOABLE and batch["undone_by"] is None


def undo(con: duckdb.DuckDBPyConnection, batch_id: int, *, user: access.User | None) -> UndoResult:
    """Undo batch ``batch_id`` as ``user`` (admin or bureau) in one transaction.

    Raises :class:`UndoRefused` (nothing changed) for an unknown, already undone or
    non-undoable batch and when a row the batch touched changed since;
    :class:`access.PermissionDenied` when the role may not undo.
    """
    acting = access.require(user, "undo")
    try:
        with store.transaction(con):
            return _undo(con, batch_id, acting)
    except duckdb.ConstraintException as exc:
        raise UndoRefused(
            f"撤销批次 {batch_id} 会违反数据约束，未做任何修改：{ingest.first_line(exc)}"
            f"（undo would break a constraint; nothing changed）。"
        ) from exc
    except duckdb.Error as exc:
        raise store.StoreError(
            f"撤销批次 {batch_id} 时数据库出错，未做任何修改：{ingest.first_line(exc)}"
            f"（database error, nothing changed）。"
        ) from exc


def _undo(con: duckdb.DuckDBPyConnection, batch_id: int, user: access.User) -> UndoResult:
    batch = get_batch(con, batch_id) if 0 < batch_id < 2**63 else None
    if batch is None:
        raise UndoRefused(f"批次 {batch_id} 不存在，请用 `portfolio imports` 查看批次编号（no such batch）。")
    if batch["undone_by"] is not None:
        last, hops = batch["undone_by"], 1  # follow undo → redo → … to the batch that acts last
        while (nxt := get_batch(con, last)) is not None and nxt["undone_by"] is not None:
            last, hops = nxt["undone_by"], hops + 1
        then = (f"要恢复它，请撤销批次 {last}" if hops % 2 else
                f"它的修改已由批次 {last} 恢复，要再次撤销，请撤销批次 {last}")
        raise UndoRefused(
            f"批次 {batch_id} 已被批次 {batch['undone_by']} 撤销，不能再撤销一次；{then}（already undone）。"
        )
    if batch["kind"] not in UNDOABLE:
        raise UndoRefused(f"批次 {batch_id} 是建库（{batch['kind']}），不能撤销（this kind of batch cannot be undone）。")
    tables = [r[0] for r in con.execute(
        "select distinct table_name from audit_log where batch_id = ? order by 1", [batch_id]).fetchall()]
    unknown = [t for t in tables if t not in TABLE_KEYS]
    if unknown:
        raise UndoRefused(f"批次 {batch_id} 修改了 {', '.join(unknown)}，不能撤销（cannot undo this table）。")
    if "users" in tables:
        access.require(user, "manage_users")
    for table in tables:
        _stage(con, table, batch_id)
    _refuse_if_closed(con, tables, batch_id)
    for table in tables:
        _refuse_if_changed(con, table, batch_id)
    new_batch = store.new_batch(con)
    counts = {"restored": 0, "deleted": 0, "reinserted": 0}
    for table in tables:
        for name, n in _apply(con, table, new_batch, user.label).items():
            counts[name] += n
        con.execute(f"drop table {_staged(table)}")
    store.record_batch(con, new_batch, actor=user.label, kind="undo", source=batch["source"],
                       table=batch["table"], undoes=batch_id,
                       counts={"inserted": counts["reinserted"], "updated": counts["restored"],
                               "deleted": counts["deleted"]})
    con.execute("update batches set undone_by = ? where batch_id = ?", [new_batch, batch_id])
    revision = store.bump_revision(con)
    return UndoResult(batch=new_batch, undone_batch=batch_id, table=batch["table"], revision=revision,
                      **counts)


# --------------------------------------------------------------------------- SQL per table


def _staged(table: str) -> str:
    return f"_undo_{table}"


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> dict[str, str]:
    """The table's restorable columns (not the key, not bookkeeping) and their SQL types."""
    rows = con.execute(
        "select column_name, data_type from duckdb_columns()"
        " where schema_name = 'main' and table_name = ? order by column_index", [table]).fetchall()
    return {name: dtype for name, dtype in rows if name not in TABLE_KEYS[table] and name not in BOOKKEEPING}


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _value(json_col: str, column: str, dtype: str) -> str:
    """The typed value of ``column`` in a JSON object column (text → the column's type)."""
    return f"cast(json_extract_string({json_col}, '$.{column}') as {dtype})"


def _has(json_col: str, column: str) -> str:
    return f"coalesce(json_exists({json_col}, '$.{column}'), false)"


def _stage(con: duckdb.DuckDBPyConnection, table: str, batch_id: int) -> None:
    """The batch's audit rows of ``table`` with their key columns parsed from record_id."""
    if table == "progress":
        keys = ("left(record_id, length(record_id) - 8) as project_id,"
                " (right(record_id, 7) || '-01')::date as month")
    elif table == "plans":
        keys = ("left(record_id, length(record_id) - 5) as project_id,"
                " right(record_id, 4)::integer as year")
    elif table == "actuals":
        keys = "(left(record_id, 7) || '-01')::date as month, substr(record_id, 9) as metric"
    else:
        keys = f"record_id as {_q(TABLE_KEYS[table][0])}"
    con.execute(
        f"create or replace temp table {_staged(table)} as"
        f" select audit_id, action, record_id, old_values, new_values, {keys}"
        f" from audit_log where batch_id = ? and table_name = ?", [batch_id, table])
    dup = con.execute(f"select count(*) - count(distinct record_id) from {_staged(table)}").fetchall()[0][0]
    if dup:
        raise UndoRefused(f"批次 {batch_id} 中同一行出现多次，不能撤销（a row appears twice in the batch）。")


def _refuse_if_closed(con: duckdb.DuckDBPyConnection, tables: list[str], batch_id: int) -> None:
    """Refuse when undoing would change a closed plan year: progress or statistics of a month
    before the end of the newest closed year, plans of a year up to it (a history year before the
    first plan year closes with it, as ``years.writable_year`` says), or a project such a year
    holds (deleting an inserted one)."""
    closed = years.closed_before(con)
    if closed is None:
        return
    found: list[str] = []
    for table in tables:
        if table in ("progress", "actuals"):
            sql = f"select record_id from {_staged(table)} where month < ? order by audit_id"
        elif table == "plans":  # a history year closes with the first year closed after it
            sql = f"select record_id from {_staged(table)} where year < year(?::date) order by audit_id"
        elif table == "projects":
            sql = (f"select record_id from {_staged(table)} u where u.action = 'insert' and exists"
                   f" (select 1 from plans pl where pl.project_id = u.project_id and pl.year < year(?::date))"
                   f" order by audit_id")
        else:
            continue
        found += [r[0] for r in con.execute(sql, [closed]).fetchall()]
    if found:
        last = closed.year - 1
        named = "、".join(found[:NAMED_ROWS]) + ("等" if len(found) > NAMED_ROWS else "")
        raise UndoRefused(
            f"批次 {batch_id} 改动过已结转的 {last} 年度及以前的数据（{named}），这些数据已只读，"
            f"本次未撤销任何数据（batch {batch_id} touched the closed year {last}; nothing undone）。"
        )


def _refuse_if_changed(con: duckdb.DuckDBPyConnection, table: str, batch_id: int) -> None:
    """Refuse when any row no longer holds the batch's new values (or reappeared, or gained children)."""
    key = TABLE_KEYS[table]
    on = " and ".join(f"t.{_q(k)} = u.{_q(k)}" for k in key)
    differs = " or ".join(
        f"({_has('u.new_values', c)} and t.{_q(c)} is distinct from {_value('u.new_values', c, d)})"
        for c, d in _columns(con, table).items()) or "false"
    extra = ""
    if table == "projects":  # deleting a project must not orphan progress entered since
        extra = (" or (u.action = 'insert' and exists"
                 " (select 1 from progress p where p.project_id = u.project_id))")
    elif table == "progress":  # a re-inserted progress row needs its project
        extra = (" or (u.action = 'delete' and not exists"
                 " (select 1 from projects p where p.project_id = u.project_id))")
    changed = con.execute(
        f"select u.record_id from {_staged(table)} u left join {_q(table)} t on {on}"
        f" where (case when u.action = 'delete' then t.{_q(key[0])} is not null"
        f"  else t.{_q(key[0])} is null or {differs} end){extra}"
        f" order by u.audit_id").fetchall()
    if not changed:
        return
    ids = [r[0] for r in changed]
    later = con.execute(
        "select max(batch_id) from audit_log where table_name = ? and batch_id > ?"
        " and record_id in (select unnest(?::varchar[]))", [table, batch_id, ids]).fetchall()[0][0]
    named = "、".join(ids[:NAMED_ROWS]) + ("等" if len(ids) > NAMED_ROWS else "")
    hint = f"请先撤销之后的批次 {later}，" if later is not None else ""
    raise UndoRefused(
        f"批次 {batch_id} 写入的 {len(ids)} 行此后已被修改或删除（{table}：{named}），"
        f"为免覆盖之后的修改，本次未撤销任何数据；{hint}或手工核对这些行"
        f"（{len(ids)} row(s) changed since batch {batch_id}; nothing undone）。"
    )


def _row_json(table: str, columns: dict[str, str]) -> str:
    """The whole stored row ``t`` as the JSON an audit row holds (Decimal as text, dates ISO)."""
    parts = []
    for c, dtype in columns.items():
        value = f"t.{_q(c)}::varchar" if dtype.startswith("DECIMAL") else f"t.{_q(c)}"
        parts.append(f"'{c}', {value}")
    if table == "projects":
        parts.append("'version', t.version")
    return f"json_object({', '.join(parts)})"


def _apply(con: duckdb.DuckDBPyConnection, table: str, batch_id: int, actor: str) -> dict[str, int]:
    """Put the staged rows back: delete inserts, restore updates, re-insert deletes; audit each."""
    key = TABLE_KEYS[table]
    columns = _columns(con, table)
    staged = _staged(table)
    on = " and ".join(f"t.{_q(k)} = u.{_q(k)}" for k in key)
    tracked = table in TRACKED
    audit = ("insert into audit_log (actor, action, table_name, record_id, old_values, new_values, source, batch_id)"
             " select $actor, '{action}', $table, u.record_id, {old}, {new}, 'undo', $batch")
    params = {"actor": actor, "table": table, "batch": batch_id}
    n = dict(con.execute(f"select action, count(*) from {staged} group by action").fetchall())

    # inserted rows: record the whole row, then delete it
    if n.get("insert"):
        con.execute(audit.format(action="delete", old=_row_json(table, columns), new="null")
                    + f" from {staged} u join {_q(table)} t on {on} where u.action = 'insert'", params)
        con.execute(f"delete from {_q(table)} t using {staged} u where {on} and u.action = 'insert'")

    # updated rows: the changed columns take their old values again
    if n.get("update"):
        sets = [f"{_q(c)} = case when {_has('u.new_values', c)} then {_value('u.old_values', c, d)}"
                f" else t.{_q(c)} end" for c, d in columns.items()]
        if table == "projects":
            sets.append("version = t.version + 1")
        if tracked:
            sets += ["updated_at = current_timestamp", "updated_by = $actor"]
        con.execute(f"update {_q(table)} t set {', '.join(sets)} from {staged} u"
                    f" where {on} and u.action = 'update'", {"actor": actor} if tracked else {})
        con.execute(audit.format(action="update", old="u.new_values", new="u.old_values")
                    + f" from {staged} u where u.action = 'update'", params)

    # deleted rows (an undo of an insert being undone): insert the recorded row again
    if n.get("delete"):
        names = [*key, *columns]
        values = [f"u.{_q(k)}" for k in key] + [_value("u.old_values", c, d) for c, d in columns.items()]
        if table == "projects":
            names.append("version")
            values.append(f"coalesce({_value('u.old_values', 'version', 'integer')}, 0) + 1")
        if tracked:
            names.append("updated_by")
            values.append("$actor")
        con.execute(f"insert into {_q(table)} ({', '.join(map(_q, names))})"
                    f" select {', '.join(values)} from {staged} u where u.action = 'delete'",
                    {"actor": actor} if tracked else {})
        con.execute(audit.format(action="insert", old="null", new="u.old_values")
                    + f" from {staged} u where u.action = 'delete'", params)
    return {"restored": n.get("update", 0), "deleted": n.get("insert", 0), "reinserted": n.get("delete", 0)}
