"""Backups, restore, and putting a new database file in place of the old one.

A backup is a DuckDB database made with ``COPY FROM DATABASE`` through a read-only connection
(:func:`portfolio.store.open_connection`): the app and the other readers go on, a writer waits
for the copy like for any reader, and the copy is the state of one moment. It is written to a
hidden temporary file, opened and checked like any database, then renamed into place, so a
killed backup leaves no half-written file under a backup's name.

Backups go to ``backups/`` beside the database, named ``<name>-YYYYMMDD-HHMMSS.duckdb``
(``-before-import``, ``-before-init``, ``-before-restore`` for the ones the tool makes itself).
Each of these four kinds keeps its newest ``$PORTFOLIO_BACKUP_KEEP`` files (default 20; 0 keeps
all). Before every import a backup is made (:func:`before_import`); ``$PORTFOLIO_BACKUP_BEFORE_IMPORT=0``
turns that off.

:func:`swap_in` replaces the database file: it opens the old one read-write (DuckDB's write
lock, the lock every writer takes, so a writer is either finished before or starts after),
checkpoints it, keeps a copy in ``backups/``, and renames the new file over it.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import duckdb

from . import files, store

BACKUP_DIR = "backups"
KEEP_ENV = "PORTFOLIO_BACKUP_KEEP"
BEFORE_IMPORT_ENV = "PORTFOLIO_BACKUP_BEFORE_IMPORT"
DEFAULT_KEEP = 20

#: Kinds of backup and the suffix of their file names; each kind is rotated on its own.
KINDS: dict[str, str] = {
    "manual": "",
    "import": "-before-import",
    "init": "-before-init",
    "restore": "-before-restore",
}

_ATTACH_ALIAS = "portfolio_backup_target"


class BackupFailed(store.StoreError):
    """A backup could not be written (folder, disk, configuration)."""


class UnsafeBackupTarget(store.StoreError):
    """``--out`` names the database, its WAL, or a file that already exists."""


class RestoreRefused(store.StoreError):
    """The file given to ``restore`` cannot replace the database."""


def backups_dir(db: str | Path | None = None) -> Path:
    """The folder of the database's backups: ``backups/`` beside the database file."""
    return store.resolve_db(db).parent / BACKUP_DIR


def keep_count() -> int:
    """How many backups of each kind rotation keeps (``$PORTFOLIO_BACKUP_KEEP``; 0 keeps all)."""
    text = os.environ.get(KEEP_ENV, "").strip()
    if not text:
        return DEFAULT_KEEP
    if not text.isdigit():
        raise BackupFailed(
            f"环境变量 {KEEP_ENV}={text!r} 应为保留的备份份数（非负整数，0 表示全部保留）；请改正后再试"
            "（invalid backup rotation setting）。"
        )
    return int(text)


def _pattern(db: Path, kind: str) -> re.Pattern[str]:
    return re.compile(rf"^{re.escape(db.stem)}-(\d{{8}}-\d{{6}})(?:-(\d+))?{re.escape(KINDS[kind])}\.duckdb$")


def list_backups(db: str | Path | None = None, kind: str = "manual") -> list[Path]:
    """The backups of one kind in the database's backup folder, newest first."""
    path = store.resolve_db(db)
    pattern = _pattern(path, kind)
    found: list[tuple[str, int, Path]] = []
    with contextlib.suppress(OSError):
        for entry in backups_dir(path).iterdir():
            m = pattern.match(entry.name)
            if m and entry.is_file():
                found.append((m.group(1), int(m.group(2) or 0), entry))
    return [p for _, _, p in sorted(found, key=lambda t: (t[0], t[1]), reverse=True)]


def rotate(db: str | Path | None = None, kind: str = "manual", keep: int | None = None) -> list[Path]:
    """Remove the backups of one kind beyond the newest ``keep``; returns what was removed."""
    keep = keep_count() if keep is None else keep
    if keep <= 0:
        return []
    removed = []
    for old in list_backups(db, kind)[keep:]:
        with contextlib.suppress(OSError):
            old.unlink()
            removed.append(old)
    return removed


def _stamp() -> str:
    return datetime.now().strftime("%Y%m%d-%H%M%S")


def _new_names(db: Path, folder: Path, kind: str) -> Iterator[str]:
    """Names for a new backup of ``kind``, each sorting after every existing one of this second."""
    stamp = _stamp()
    pattern = _pattern(db, kind)
    taken = [int(m.group(2) or 0) for p in list_backups(db, kind) if (m := pattern.match(p.name)) and m.group(1) == stamp]
    first = max(taken) + 1 if taken else 0
    for n in range(first, first + 1000):
        yield f"{db.stem}-{stamp}{f'-{n}' if n else ''}{KINDS[kind]}.duckdb"


def _temp_beside(target: Path) -> Path:
    return target.with_name(f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def remove_stale_temporaries(folder: Path) -> None:
    """Remove the temporary files of backups and restores whose process was killed."""
    try:
        entries = list(folder.iterdir())
    except OSError:
        return
    for entry in entries:
        m = re.match(r"^\..+\.(\d+)\.[0-9a-f]{8}\.tmp(?:\.wal)?$", entry.name)
        if m and ".duckdb." in entry.name and not _pid_alive(int(m.group(1))):
            with contextlib.suppress(OSError):
                entry.unlink()


def _remove(path: Path) -> None:
    for p in (path, store.wal_path(path)):
        with contextlib.suppress(FileNotFoundError):
            p.unlink()


def _fsync(path: Path) -> None:
    """Flush a folder's entries (a rename) to disk; a file system that cannot is let be.

    Only folders: DuckDB syncs a database file itself when it checkpoints, and opening and
    closing a descriptor of a database file this process has open would drop DuckDB's lock.
    """
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _publish(tmp: Path, target: Path) -> None:
    """Give ``tmp`` (a checkpointed database) the name ``target`` without replacing an existing file."""
    try:
        os.link(tmp, target)
    except FileExistsError:
        raise
    except OSError:  # a file system without hard links (a FAT stick): check, then rename
        if target.exists() or target.is_symlink():
            raise FileExistsError(target) from None
        os.replace(tmp, target)
    else:
        tmp.unlink()
    _fsync(target.parent)


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _quote_str(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def copy_database(con: duckdb.DuckDBPyConnection, dest: Path) -> None:
    """Copy the connection's database, tables, views, sequences and comments, into a new file.

    ``COPY FROM DATABASE`` runs inside the connection's own snapshot; it reads the database
    through DuckDB, never through a second file descriptor (which would drop DuckDB's lock).
    """
    source = con.execute("select current_database()").fetchall()[0][0]
    # threads of one process share the database instance, and with it the attached names
    alias = f"{_ATTACH_ALIAS}_{os.getpid()}_{secrets.token_hex(4)}"
    con.execute(f"attach {_quote_str(str(dest))} as {alias} (read_write)")
    try:
        con.execute(f"copy from database {_quote_ident(source)} to {alias}")
    finally:
        con.execute(f"detach {alias}")


def _verify(path: Path, timeout: float) -> None:
    """Open a fresh copy like any database (every check), and fold any WAL into the file."""
    con = store.open_connection(path, timeout=timeout)
    try:
        con.execute("checkpoint")
    finally:
        con.close()
    if store.wal_path(path).exists():
        raise BackupFailed(f"备份 {path} 的日志文件未能合并；请重试（backup WAL left over）。")


def _copy_to(con: duckdb.DuckDBPyConnection, db: Path, folder: Path, kind: str, timeout: float,
             out: Path | None = None) -> Path:
    """Write a checked copy of ``con``'s database into ``folder`` under a backup name (or ``out``)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(folder)
    except OSError as exc:
        raise BackupFailed(
            f"无法创建备份文件夹 {folder}（{exc.strerror}）；请检查权限或磁盘空间（cannot write backups）。"
        ) from exc
    tmp = _temp_beside(out or folder / f"{db.stem}.duckdb")
    try:
        copy_database(con, tmp)
        _verify(tmp, timeout)
        if out is not None:
            try:
                _publish(tmp, out)
            except FileExistsError:
                raise UnsafeBackupTarget(
                    f"{out} 已存在，备份不会覆盖已有文件；请换一个文件名（refusing to overwrite an existing file）。"
                ) from None
            return out
        for name in _new_names(db, folder, kind):
            try:
                _publish(tmp, folder / name)
            except FileExistsError:
                continue
            return folder / name
        raise BackupFailed(f"备份文件夹 {folder} 中同一秒的备份太多；请稍后再试（too many backups）。")
    except OSError as exc:
        raise BackupFailed(
            f"无法写入备份到 {folder}（{exc.strerror or exc}）；请检查权限或磁盘空间（backup failed）。"
        ) from exc
    except duckdb.Error as exc:
        raise BackupFailed(
            f"备份到 {folder} 失败（{str(exc).splitlines()[0]}）；请检查磁盘空间后重试（backup failed）。"
        ) from exc
    finally:
        _remove(tmp)


def _check_out(out: Path, db: Path) -> Path:
    """The file ``--out`` may name: never the database or its files, never an existing file.

    A folder stands for a backup under the default name inside it.
    """
    if out.is_dir():
        out = out / f"{db.stem}-{_stamp()}.duckdb"
    try:
        files.check_output(out, kind="backup", db=db, replace_own=False)
    except files.UnsafeOutput as exc:
        raise UnsafeBackupTarget(str(exc)) from None
    if not out.parent.is_dir():
        raise UnsafeBackupTarget(
            f"文件夹 {out.parent} 不存在；请先创建它，或换一个位置（folder not found）。"
        )
    return out


def make_backup(
    db: str | Path | None = None,
    out: str | Path | None = None,
    *,
    kind: str = "manual",
    timeout: float = store.LOCK_TIMEOUT_S,
) -> Path:
    """A consistent copy of the database while it is in use; returns its path.

    Without ``out`` it goes to ``backups/`` beside the database and the backups of ``kind``
    are rotated. ``out`` (a new file, or a folder) must not be the database, its WAL or an
    existing file (:class:`UnsafeBackupTarget`).
    """
    path = store.resolve_db(db)
    target = _check_out(Path(out), path) if out is not None else None
    folder = target.parent if target is not None else backups_dir(path)
    keep = keep_count()
    con = store.open_connection(path, read_only=True, timeout=timeout)
    try:
        written = _copy_to(con, path, folder, kind, timeout, out=target)
    finally:
        con.close()
    if target is None:
        rotate(path, kind, keep)
    return written


def before_import(db: str | Path | None = None) -> Path | None:
    """The backup kept before an import (``$PORTFOLIO_BACKUP_BEFORE_IMPORT=0`` turns it off)."""
    if os.environ.get(BEFORE_IMPORT_ENV, "1").strip().lower() in ("0", "no", "false", "off"):
        return None
    path = store.resolve_db(db)
    if not path.exists():
        return None  # the import itself says the database is missing
    return make_backup(path, kind="import")


def table_checksums(con: duckdb.DuckDBPyConnection) -> dict[str, tuple[int, int]]:
    """Per table of the database: row count and the sum of the rows' hashes (reads every value)."""
    names = [r[0] for r in con.execute(
        "select table_name from duckdb_tables() where database_name = current_database()"
        " and schema_name = 'main' order by table_name"
    ).fetchall()]
    sums: dict[str, tuple[int, int]] = {}
    for name in names:
        n, h = con.execute(f"select count(*), coalesce(sum(hash(t)), 0) from {_quote_ident(name)} as t").fetchall()[0]
        sums[name] = (int(n), int(h))
    return sums


def _keep_broken(path: Path) -> Path:
    """Move a database DuckDB cannot open (and its WAL) into ``backups/`` before a restore."""
    folder = backups_dir(path)
    folder.mkdir(parents=True, exist_ok=True)
    for name in _new_names(path, folder, "restore"):
        dest = folder / name
        try:
            os.link(path, dest)
        except FileExistsError:
            continue
        wal = store.wal_path(path)
        if wal.exists():
            os.replace(wal, store.wal_path(dest))
        return dest
    raise BackupFailed(f"备份文件夹 {folder} 中同一秒的备份太多；请稍后再试（too many backups）。")


def swap_in(
    db: str | Path | None,
    new_file: Path,
    *,
    kind: str,
    timeout: float = store.LOCK_TIMEOUT_S,
) -> tuple[str | None, Path | None]:
    """Put ``new_file`` (a finished database beside the path) in place of the database, atomically.

    No database at the path: ``new_file`` is linked in (never over a file that appeared
    meanwhile). A portfolio database: opened read-write through the retrying open, which holds
    DuckDB's write lock (a writer that was first finishes, one that comes later opens the new
    file), checkpointed, copied to ``backups/`` (``-before-<kind>``), then ``new_file`` is renamed
    over it and only then the old connection is closed; nothing was written to it after the
    checkpoint, so closing it touches neither file nor the new file's WAL. A half-built database
    is replaced without a copy. Anything else is refused. Returns what was replaced
    (``ready``, ``half_built``, ``broken`` or None) and the copy kept.
    """
    path = store.resolve_db(db)
    if not path.exists() and not path.is_symlink():
        try:
            _publish(new_file, path)
        except FileExistsError:
            raise store.StoreError(
                f"数据库 {path} 在此期间被另一个进程创建了，没有覆盖它；请重新运行（database appeared meanwhile）。"
            ) from None
        return None, None
    try:
        old = store.open_connection(path, timeout=timeout, check=False)
    except store.DatabaseBroken:
        if kind != "restore":
            raise
        broken = _keep_broken(path)
        os.replace(new_file, path)
        _fsync(path.parent)
        return "broken", broken
    kept: Path | None = None
    try:
        try:
            store.check_schema(old, path)
            state = "ready"
        except store.HalfBuiltDatabase:
            state = "half_built"
        old.execute("checkpoint")
        if state == "ready":
            kept = _copy_to(old, path, backups_dir(path), kind, timeout)
        if store.wal_path(path).exists():
            raise store.StoreError(
                f"数据库 {path} 的日志文件未能合并，没有替换；请稍后再试（WAL still present）。"
            )
        os.replace(new_file, path)
        _fsync(path.parent)
    finally:
        old.close()
    if kept is not None:
        rotate(path, kind)
    return state, kept


@dataclass(frozen=True)
class StagedRestore:
    """A checked copy of the file to restore, waiting beside the database to be swapped in."""

    db: Path
    source: Path
    staged: Path
    schema_version: int
    tables: dict[str, tuple[int, int]]

    def discard(self) -> None:
        """Remove the staged copy (after a refusal, or when the user says no)."""
        _remove(self.staged)


@dataclass(frozen=True)
class RestoreResult:
    """A finished restore: the database, where it came from, what was replaced and kept."""

    db: Path
    source: Path
    replaced: str | None
    backup: Path | None
    tables: dict[str, tuple[int, int]]


def stage_restore(
    db: str | Path | None,
    source: str | Path,
    *,
    timeout: float = store.LOCK_TIMEOUT_S,
) -> StagedRestore:
    """Check ``source`` and copy it beside the database; the user's file is never changed or moved.

    ``source`` must pass every check of :func:`portfolio.store.open_connection` (a portfolio
    database of a schema this version knows); the copy is upgraded if it is older, and every
    table is read once (:func:`table_checksums`), so damage shows now, not after the swap.
    """
    path = store.resolve_db(db)
    src = Path(source)
    try:
        store.inspect_file(src)
    except store.DatabaseMissing:
        raise RestoreRefused(f"要恢复的文件不存在：{src}；请检查路径（file not found）。") from None
    if path.exists() and os.path.samefile(src, path):
        raise RestoreRefused(f"{src} 就是当前数据库，无需恢复；请给出一个备份文件（same file）。")
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path.parent)
    staged = _temp_beside(path)
    try:
        con = store.open_connection(src, read_only=True, timeout=timeout, check=False)
        try:
            store.check_schema(con, src)  # here: the copy is upgraded, the user's file is not
            copy_database(con, staged)
        finally:
            con.close()
        con = store.open_connection(staged, timeout=timeout)
        try:
            version = int(store.get_meta(con, "schema_version", "0") or 0)
            tables = table_checksums(con)
            con.execute("checkpoint")
        finally:
            con.close()
    except duckdb.Error as exc:
        _remove(staged)
        raise RestoreRefused(
            f"无法读取 {src}（{str(exc).splitlines()[0]}）：文件可能已损坏；请换一个备份（unreadable backup）。"
        ) from exc
    except OSError as exc:
        _remove(staged)
        raise RestoreRefused(
            f"无法把 {src} 复制到 {path.parent}（{exc.strerror or exc}）；请检查权限或磁盘空间（copy failed）。"
        ) from exc
    except BaseException:
        _remove(staged)
        raise
    return StagedRestore(db=path, source=src, staged=staged, schema_version=version, tables=tables)


def finish_restore(staged: StagedRestore, *, timeout: float = store.LOCK_TIMEOUT_S) -> RestoreResult:
    """Swap the staged copy in under the writers' lock, keeping the current database as a backup."""
    try:
        replaced, kept = swap_in(staged.db, staged.staged, kind="restore", timeout=timeout)
    finally:
        staged.discard()
    return RestoreResult(db=staged.db, source=staged.source, replaced=replaced, backup=kept,
                         tables=staged.tables)


def restore(db: str | Path | None, source: str | Path, *, timeout: float = store.LOCK_TIMEOUT_S) -> RestoreResult:
    """Check ``source`` and swap it in (no questions asked: the CLI asks first)."""
    return finish_restore(stage_restore(db, source, timeout=timeout), timeout=timeout)
