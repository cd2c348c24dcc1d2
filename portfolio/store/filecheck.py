"""The database file before DuckDB touches it: where it is, and whether it can be this database.

:func:`inspect_file` refuses a folder, an empty file, a file without DuckDB's magic bytes, a
file this user cannot read or (for a write) write, each with one sentence and without changing
the file. :func:`resolve_db` says which file is meant (``--db``, ``$PORTFOLIO_DB``, the default).
"""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

from .. import config
from ..files import DUCKDB_MAGIC
from .errors import (
    DatabaseBroken,
    DatabaseIsDirectory,
    DatabaseMissing,
    DatabaseReadOnly,
    DatabaseUnreadable,
    EmptyDatabaseFile,
    NotDuckDBFile,
)

# Files (st_dev, st_ino) this process has seen carry DuckDB's magic, and files that passed the
# content checks. Why remember: DuckDB locks the file with POSIX fcntl locks, and closing *any*
# descriptor of a file drops every such lock the process holds on it. Reading the header again
# while another thread of this process (the app) has the database open would silently let a
# second process write at the same time. So the header is read only for a file not seen yet,
# which no connection of ours can have open; the lock makes read-and-remember one step.
_SEEN_DUCKDB: set[tuple[int, int]] = set()
checked_files: set[tuple[int, int]] = set()
_HEADER_LOCK = threading.Lock()


def resolve_db(db: str | Path | None = None) -> Path:
    """The database path: the argument, else ``$PORTFOLIO_DB``, else ``data/portfolio.duckdb``."""
    return Path(db) if db else config.default_db_path()


def wal_path(path: Path) -> Path:
    """The write-ahead log DuckDB keeps beside a database file."""
    return path.with_name(path.name + ".wal")

def file_key(st: os.stat_result) -> tuple[int, int]:
    return (st.st_dev, st.st_ino)


def _has_duckdb_magic(path: Path, st: os.stat_result) -> bool:
    """True when the file's header carries DuckDB's magic (read once per file and process)."""
    key = file_key(st)
    with _HEADER_LOCK:
        if key in _SEEN_DUCKDB:
            return True
        with path.open("rb") as fh:
            head = fh.read(12)
        if len(head) == 12 and head[8:12] == DUCKDB_MAGIC:
            _SEEN_DUCKDB.add(key)
            return True
        return False


def magic_after_all(path: Path) -> bool:
    """After DuckDB called a file invalid: forget what was remembered of it and read it again.

    Safe to read: no connection of this process can have a file open that DuckDB refuses.
    """
    try:
        st = path.stat()
        with _HEADER_LOCK:
            _SEEN_DUCKDB.discard(file_key(st))
            checked_files.discard(file_key(st))
        return _has_duckdb_magic(path, st)
    except OSError:
        return False


def inspect_file(path: Path, *, write: bool = False) -> os.stat_result:
    """Refuse, before DuckDB touches it, a path that cannot be this database; never changes it.

    Raises :class:`DatabaseMissing` or a :class:`DatabaseUnusable` subclass with one sentence
    that says what to do: a folder, an empty file, a file without DuckDB's magic bytes, a file
    this user cannot read, and (``write``) a file or folder that cannot be written.
    """
    try:
        st = path.stat()
    except FileNotFoundError:
        raise DatabaseMissing(
            f"数据库文件不存在：{path}。请先运行 `portfolio init --sample`（database not found）。"
        ) from None
    except PermissionError:
        raise DatabaseUnreadable(
            f"没有权限访问 {path}；请以数据库所有者的身份运行，或请管理员开放权限（permission denied）。"
        ) from None
    except OSError as exc:
        raise NotDuckDBFile(
            f"{path} 无法作为数据库打开（{exc.strerror}）；请用 --db 指向 portfolio init 创建的 .duckdb 文件"
            "（not a database file）。"
        ) from None
    if stat.S_ISDIR(st.st_mode):
        raise DatabaseIsDirectory(
            f"{path} 是一个文件夹，不是数据库文件；请用 --db 指向 .duckdb 数据库文件（path is a directory）。"
        )
    if not stat.S_ISREG(st.st_mode):
        raise NotDuckDBFile(
            f"{path} 不是普通文件，不能作为数据库；请用 --db 指向 .duckdb 数据库文件（not a regular file）。"
        )
    if st.st_size == 0:
        raise EmptyDatabaseFile(
            f"{path} 是一个空文件，不是数据库；请检查 --db 路径，或删除该文件后运行 `portfolio init`（empty file, not a database）。"
        )
    unreadable = DatabaseUnreadable(
        f"没有权限读取 {path}；请以数据库所有者的身份运行，或请管理员开放读权限（permission denied）。"
    )
    if not os.access(path, os.R_OK):
        raise unreadable
    try:
        magic = _has_duckdb_magic(path, st)
    except PermissionError:
        raise unreadable from None
    except OSError as exc:
        raise DatabaseBroken(
            f"无法读取 {path}（{exc.strerror}）；请检查磁盘，或用 `portfolio restore` 从备份恢复（read error）。"
        ) from None
    if not magic:
        raise NotDuckDBFile(
            f"{path} 不是 DuckDB 数据库文件（可能是表格或文本文件）；请检查 --db 路径（not a DuckDB database file）。"
        )
    if write:
        wal = wal_path(path)
        if not os.access(path, os.W_OK) or not st.st_mode & 0o222 or (wal.exists() and not os.access(wal, os.W_OK)):
            raise DatabaseReadOnly(
                f"数据库 {path} 是只读的，不能写入；请以数据库所有者的身份运行，或恢复写权限后再试（database file is read-only）。"
            )
        if not os.access(path.parent, os.W_OK | os.X_OK):
            raise DatabaseReadOnly(
                f"数据库所在的文件夹 {path.parent} 不可写（DuckDB 要在数据库旁写日志文件），不能写入；"
                "请恢复该文件夹的写权限后再试（database folder is read-only）。"
            )
    return st
