"""Opening the database: the one checked way every reader and writer uses, with retry on lock.

No process keeps the database file open between operations: every operation opens a
connection with :func:`connect`, does its work and closes it, so the app, a cron report and
the CLI can share one file. DuckDB allows one writer process or many readers; a process that
finds the file locked retries with exponential backoff until ``timeout`` runs out. After
opening, the ``meta`` table must say it is a complete portfolio database of a schema version
this code knows (:func:`check_schema`); an older one is upgraded in place.
"""

from __future__ import annotations

import random
import threading
import time
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from .audit import audit
from .errors import (
    DatabaseBroken,
    DatabaseLocked,
    DatabaseReadOnly,
    ForeignDatabase,
    HalfBuiltDatabase,
    NewerSchema,
    NotDuckDBFile,
)
from .filecheck import checked_files, file_key, inspect_file, magic_after_all, resolve_db, wal_path
from .meta import bump_revision, get_meta
from .schema import SCHEMA_VERSION, create_schema, migrate

LOCK_TIMEOUT_S = 30.0

_UPGRADE_LOCK = threading.Lock()


def _is_lock_error(exc: BaseException) -> bool:
    """True for errors that go away when another connection closes.

    Another process holding the file gives a lock error; inside one process (the app serves
    several sessions on threads) a connection with another configuration (read-only, the SQL
    sandbox) is refused until the open one closes. Both are retried.
    """
    msg = str(exc)
    if "different configuration" in msg:
        return True
    return "lock" in msg.lower() and ("Conflicting" in msg or "Could not set lock" in msg)

def connect_retrying(
    path: Path,
    *,
    read_only: bool,
    timeout: float,
    config_options: dict[str, Any] | None = None,
) -> duckdb.DuckDBPyConnection:
    """``duckdb.connect`` with retry and backoff while another connection holds the lock."""
    deadline = time.monotonic() + timeout
    delay = 0.05
    while True:
        try:
            return duckdb.connect(str(path), read_only=read_only, config=dict(config_options or {}))
        except duckdb.Error as exc:
            if _is_lock_error(exc) and time.monotonic() < deadline:
                time.sleep(delay + random.uniform(0, delay))
                delay = min(delay * 2, 1.0)
                continue
            if _is_lock_error(exc):
                raise DatabaseLocked(
                    f"数据库 {path} 被其他进程占用超过 {timeout:.0f} 秒，请稍后再试（database locked）。"
                ) from exc
            detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            if "not a valid DuckDB database file" in detail and not magic_after_all(path):
                raise NotDuckDBFile(
                    f"{path} 不是 DuckDB 数据库文件；请检查 --db 路径（not a DuckDB database file）。"
                ) from exc
            if "Permission denied" in detail:
                raise DatabaseReadOnly(
                    f"没有权限{'读取' if read_only else '写入'}数据库 {path}；请以数据库所有者的身份运行，或恢复权限后再试"
                    "（permission denied）。"
                ) from exc
            raise DatabaseBroken(
                f"DuckDB 无法打开数据库 {path}（{detail}）：它可能已损坏，或由更新版本的 DuckDB 写出；"
                "请用 `portfolio restore 备份文件` 从备份恢复（database cannot be opened）。"
            ) from exc


def _catalog_is_empty(con: duckdb.DuckDBPyConnection) -> bool:
    rows = con.execute(
        "select (select count(*) from duckdb_tables() where database_name = current_database())"
        " + (select count(*) from duckdb_views() where not internal and database_name = current_database())"
        " + (select count(*) from duckdb_sequences() where database_name = current_database())"
    ).fetchall()
    return int(rows[0][0]) == 0


def check_schema(con: duckdb.DuckDBPyConnection, path: str | Path | None = None) -> int:
    """Refuse what is not a complete portfolio database this code can use; return its schema version.

    Raises :class:`HalfBuiltDatabase` for an empty DuckDB file (a killed first ``init`` of an
    earlier version) or one whose ``init_complete`` is not ``1``; :class:`ForeignDatabase` when
    there is no ``meta`` table with a schema version; :class:`NewerSchema` for a version above
    :data:`SCHEMA_VERSION`. Databases from before ``init_complete`` existed lack the key and
    count as complete: they have a schema version and their data. An older version is returned
    for the caller to upgrade.
    """
    where = str(path) if path is not None else "该数据库"
    try:
        rows = con.execute(
            "select key, value from meta where key in ('schema_version', 'init_complete')"
        ).fetchall()
    except duckdb.Error:
        rows = None
    meta = {str(k): str(v) for k, v in rows or []}
    version = meta.get("schema_version", "")
    if rows is None or not version.isdigit():
        if rows is None and _catalog_is_empty(con):
            raise HalfBuiltDatabase(
                f"数据库 {where} 是空的，是一次被中断的初始化留下的；请运行 `portfolio init`（可加 --sample）重新创建"
                "（half-built database）。"
            )
        raise ForeignDatabase(
            f"{where} 是别的程序的 DuckDB 数据库，不是项目库；请检查 --db 路径（not a portfolio database）。"
        )
    if meta.get("init_complete", "1") != "1":
        raise HalfBuiltDatabase(
            f"数据库 {where} 的初始化没有完成；请运行 `portfolio init`（可加 --sample）重新创建（half-built database）。"
        )
    found = int(version)
    if found > SCHEMA_VERSION:
        raise NewerSchema(
            f"数据库 {where} 的结构版本 {found} 比本程序支持的 {SCHEMA_VERSION} 新，请升级本程序后再使用"
            "（database is from a newer version）。"
        )
    return found


def upgrade_schema(con: duckdb.DuckDBPyConnection) -> bool:
    """Bring an older portfolio database up to :data:`SCHEMA_VERSION` in place; True if it changed.

    Runs :func:`create_schema` (idempotent DDL, comments, views) in one transaction on a
    read-write connection, which holds DuckDB's write lock: no other process reads or writes
    meanwhile, and threads of this process take turns.
    """
    with _UPGRADE_LOCK, transaction(con):
        found = int(get_meta(con, "schema_version", "0") or 0)
        if found >= SCHEMA_VERSION:
            return False
        create_schema(con)
        migrate(con, found)
        audit(con, actor="system", action="upgrade", table="meta", old={"schema_version": found},
              new={"schema_version": SCHEMA_VERSION}, source="upgrade")
        bump_revision(con)
    return True


def _upgrade_file(path: Path, found: int, timeout: float) -> None:
    """Upgrade an older database through a short read-write connection (for a reader)."""
    try:
        con = open_connection(path, timeout=timeout)
    except DatabaseReadOnly as exc:
        raise DatabaseReadOnly(
            f"数据库 {path} 的结构版本 {found} 较旧，需要升级到 {SCHEMA_VERSION} 才能使用，但它是只读的；"
            "请恢复写权限后再打开一次（database needs an upgrade but is read-only）。"
        ) from exc
    con.close()


def open_connection(
    db: str | Path | None = None,
    *,
    read_only: bool = False,
    timeout: float = LOCK_TIMEOUT_S,
    config_options: dict[str, Any] | None = None,
    must_exist: bool = True,
    check: bool = True,
) -> duckdb.DuckDBPyConnection:
    """Open the database file, the one checked way every reader and writer uses.

    Before DuckDB touches the file it is inspected (:func:`inspect_file`); after opening, its
    contents are checked (:func:`check_schema`) unless ``check`` is false (``init`` building a
    new file). Every refusal is a :class:`StoreError` subclass with one sentence and leaves the
    file byte-identical. An older schema is upgraded in place. While another process holds the
    lock the open is retried with backoff until ``timeout``. ``must_exist=False`` (``init``
    only) lets DuckDB create a missing file.
    """
    path = resolve_db(db)
    if must_exist or path.exists() or path.is_symlink():
        st = inspect_file(path, write=not read_only)
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        return connect_retrying(path, read_only=read_only, timeout=timeout, config_options=config_options)
    if check and not read_only and wal_path(path).exists() and file_key(st) not in checked_files:
        # A write open replays a left-over WAL and writes it into the file on close: check the
        # contents read-only first, so that another program's database stays untouched.
        probe = connect_retrying(path, read_only=True, timeout=timeout)
        try:
            check_schema(probe, path)
        finally:
            probe.close()
    con = connect_retrying(path, read_only=read_only, timeout=timeout, config_options=config_options)
    if not check:
        return con
    try:
        found = check_schema(con, path)
        checked_files.add(file_key(st))
        if found < SCHEMA_VERSION and not read_only:
            upgrade_schema(con)
    except BaseException:
        con.close()
        raise
    if found < SCHEMA_VERSION and read_only:
        con.close()
        _upgrade_file(path, found, timeout)
        return open_connection(path, read_only=True, timeout=timeout, config_options=config_options)
    return con


@contextmanager
def connect(
    db: str | Path | None = None,
    *,
    read_only: bool = False,
    timeout: float = LOCK_TIMEOUT_S,
    must_exist: bool = True,
    check: bool = True,
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A short-lived, checked connection (:func:`open_connection`), closed when the block ends.

    Readers open read-write too unless ``read_only`` is asked: DuckDB refuses a read-only
    open while a writer holds the file, so both wait for the lock the same way.
    """
    con = open_connection(db, read_only=read_only, timeout=timeout, must_exist=must_exist, check=check)
    try:
        yield con
    finally:
        con.close()


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """Run the block in one transaction; roll back everything if it raises."""
    con.execute("begin transaction")
    try:
        yield con
    except BaseException:
        con.execute("rollback")
        raise
    else:
        con.execute("commit")


def revision(db: str | Path | None = None) -> int:
    """The data revision of the database (changes whenever anything is written)."""
    with connect(db, read_only=True) as con:
        return int(get_meta(con, "revision", "0") or 0)

def fetch(con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> pl.DataFrame:
    """Run a parameterised query and return a polars DataFrame."""
    return con.sql(sql, params=params).pl() if params else con.sql(sql).pl()


# fetch_few reads a statement's result through Arrow on purpose (the rows are few): the copy the
# driver warns of costs nothing there, and the warning would reach every user of the library
warnings.filterwarnings("ignore", message="Arrow output on a DB-API result makes an extra copy",
                        category=UserWarning)


def fetch_few(con: duckdb.DuckDBPyConnection, sql: str,
              params: Sequence[Any] | dict[str, Any] | None = None) -> pl.DataFrame:
    """:func:`fetch` for a long query of few rows (a section of the check, the rows a page lists).

    The query is planned once and its rows copied once more on their way to polars; a relation
    (:func:`fetch`) plans it twice (once to describe it), which for a query of a few hundred lines
    costs more than the rows of a few thousand."""
    cur = con.execute(sql, params) if params else con.execute(sql)
    return pl.DataFrame(pl.from_arrow(cur.to_arrow_table()))
