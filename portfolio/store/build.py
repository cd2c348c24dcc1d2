"""``portfolio init``: build a database beside the path and rename it into place, or refresh one.

:func:`build_database` creates the schema, loads the reference configuration from ``data/``
(:func:`load_reference`) and, with ``sample``, the sample plan, in one transaction on a new
file that is renamed into place at the end, so a killed init leaves nothing half-built at the
path; a database that is already there is refreshed in place or (``force``) replaced after a
copy is kept in ``backups/``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from .. import config
from .audit import audit, new_batch, record_batch
from .connection import LOCK_TIMEOUT_S, connect, connect_retrying, transaction
from .errors import DatabaseLocked, DatabaseUnusable, HalfBuiltDatabase, StoreError
from .filecheck import resolve_db
from .meta import bump_revision, set_meta
from .schema import create_schema


def replace_table(con: duckdb.DuckDBPyConnection, table: str, frame: pl.DataFrame) -> None:
    """Replace every row of a reference table with ``frame`` (call inside a transaction)."""
    con.execute(f"delete from {table}")
    con.register("_replacement_rows", frame)
    try:
        cols = ", ".join(frame.columns)
        con.execute(f"insert into {table} ({cols}) select {cols} from _replacement_rows")
    finally:
        con.unregister("_replacement_rows")


def load_reference(con: duckdb.DuckDBPyConnection, ref: config.Reference) -> None:
    """Replace units, chains, nodes and edges with the reference configuration, and its targets.

    Targets are replaced only for the years the file holds that are still open: a year opened
    later (``portfolio year open``) lives in the database alone, and a closed year never
    changes. A database without plan years gets the file's ``plan_year`` as its first one."""
    pairs: list[tuple[str, pl.DataFrame]] = [
        ("units", ref.units),
        ("chains", ref.chains),
        ("chain_nodes", ref.chain_nodes),
        ("chain_edges", ref.chain_edges),
    ]
    for table, frame in pairs:
        replace_table(con, table, frame)
    closed = [r[0] for r in con.execute("select year from plan_years where closed_at is not null").fetchall()]
    targets = ref.targets.filter(~pl.col("year").is_in(closed))
    con.execute("delete from targets where year in (select unnest(?::integer[]))",
                [targets["year"].unique().to_list()])
    con.register("_replacement_rows", targets)
    try:
        cols = ", ".join(targets.columns)
        con.execute(f"insert into targets ({cols}) select {cols} from _replacement_rows")
    finally:
        con.unregister("_replacement_rows")
    if not con.execute("select count(*) from plan_years").fetchall()[0][0]:
        first = int(ref.settings.get("plan_year", 2016))
        con.execute("insert into plan_years (year, opened_by) values (?, 'init')", [first])
        set_meta(con, "plan_year", str(first))


@dataclass(frozen=True)
class InitResult:
    """What ``init`` did: built a new database (replacing ``replaced``) or refreshed one in place."""

    path: Path
    created: bool
    replaced: str | None = None  # "ready" (a portfolio database), "half_built", or None
    backup: Path | None = None  # where the replaced portfolio database was kept


def database_state(db: str | Path | None = None) -> str:
    """``missing``, ``half_built`` or ``ready`` for the database path.

    Anything else at the path (a folder, a spreadsheet, another program's database, a newer
    schema …) raises the :class:`DatabaseUnusable` subclass that :func:`open_connection` would.
    """
    path = resolve_db(db)
    if not path.exists() and not path.is_symlink():
        return "missing"
    try:
        with connect(path, read_only=True):
            return "ready"
    except HalfBuiltDatabase:
        return "half_built"


def _claim_building(building: Path, timeout: float) -> tuple[duckdb.DuckDBPyConnection, bool]:
    """A fresh build file, removing a stale one; waits while another ``init`` is building.

    Returns the open connection (it holds DuckDB's lock on the build file until the swap, so
    no other init takes it for stale) and whether another init had to be waited for.
    """
    waited = False
    if building.exists() or building.is_symlink():
        probe: duckdb.DuckDBPyConnection | None = None
        try:
            probe = connect_retrying(building, read_only=False, timeout=0)
        except DatabaseLocked:
            waited = True
            probe = connect_retrying(building, read_only=False, timeout=timeout)
        except DatabaseUnusable:
            pass  # the remains of a build that was killed
        if probe is not None:
            probe.close()
        _remove_db_files(building)
    return connect_retrying(building, read_only=False, timeout=timeout), waited


def _fill(con: duckdb.DuckDBPyConnection, ref: config.Reference, *, sample: bool, projects: int | None,
          actor: str, progress: Any) -> None:
    """Schema, reference data and (``sample``) the sample plan in one transaction; marks it complete."""
    with transaction(con):
        create_schema(con)
        load_reference(con, ref)
        from .. import rules  # the rules in force: the files applied, each change in the audit log

        rules.apply(con, rules.from_settings(ref.settings), actor=actor)
        if sample:
            from .. import sample as sample_mod

            set_meta(con, "is_sample", "1")
            sample_mod.load_sample(con, n_projects=projects, progress=progress)
        batch = new_batch(con)  # listed by `portfolio imports`; an init cannot be undone
        audit(con, actor=actor, action="init", table="meta",
              new={"sample": sample, "projects": projects}, source="init", batch_id=batch)
        record_batch(con, batch, actor=actor, kind="init", source="init", table="meta")
        bump_revision(con)
        set_meta(con, "init_complete", "1")  # last: a database without it was never finished


def build_database(
    db: str | Path | None = None,
    *,
    force: bool = False,
    sample: bool = False,
    projects: int | None = None,
    actor: str = "system",
    progress: Any = None,
    timeout: float = LOCK_TIMEOUT_S,
) -> InitResult:
    """``init``: create the database, refresh an existing one, or (``force``) replace it.

    A new database is always built beside the path (``<name>.building``) and renamed into
    place at the end, so a killed init leaves no half-built file at the path. An existing
    portfolio database is refreshed in place (reference data) unless ``force``; with ``force``
    it is replaced under DuckDB's write lock, after a copy is kept in ``backups/``
    (:func:`portfolio.backup.swap_in`). A half-built database (left by an earlier version) is
    replaced without ``force``. Anything else at the path is refused, with or without ``force``.
    """
    path = resolve_db(db)
    ref = config.load_reference()
    state = database_state(path)
    if state == "ready" and not force:
        with connect(path, timeout=timeout) as con:
            _fill(con, ref, sample=sample, projects=projects, actor=actor, progress=progress)
        return InitResult(path=path, created=False)
    from .. import backup  # backup builds on this module

    building = path.with_name(path.name + ".building")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(
            f"无法创建数据库所在的文件夹 {path.parent}（{exc.strerror}）；请检查路径和权限（cannot create folder）。"
        ) from exc
    con, waited = _claim_building(building, timeout)
    try:
        if waited and database_state(path) == "ready" and not force:
            con.close()
            _remove_db_files(building)
            return build_database(path, sample=sample, projects=projects, actor=actor,
                                  progress=progress, timeout=timeout)
        _fill(con, ref, sample=sample, projects=projects, actor=actor, progress=progress)
        con.execute("checkpoint")
        replaced, kept = backup.swap_in(path, building, kind="init", timeout=timeout)
    except BaseException:
        con.close()
        _remove_db_files(building)
        raise
    con.close()  # after the rename; nothing was written since the checkpoint, so nothing moves
    return InitResult(path=path, created=True, replaced=replaced, backup=kept)


def init_db(
    db: str | Path | None = None,
    *,
    force: bool = False,
    sample: bool = False,
    projects: int | None = None,
    actor: str = "system",
    progress: Any = None,
) -> Path:
    """Create the database with schema and reference data; with ``sample`` load the sample plan.

    An existing database is kept (the reference data is refreshed) unless ``force``; see
    :func:`build_database`, which also says what was replaced and kept.
    """
    return build_database(db, force=force, sample=sample, projects=projects, actor=actor,
                          progress=progress).path


def _remove_db_files(path: Path) -> None:
    for p in (path, path.with_name(path.name + ".wal")):
        if p.exists():
            p.unlink()
