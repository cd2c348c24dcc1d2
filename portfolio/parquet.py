"""The database as Hive-partitioned Parquet, and the named views over such folders.

A province collects its cities' libraries as files, not databases: :func:`export_parquet`
(``portfolio export --parquet DIR``) writes every table the views read into ``DIR/<table>/``
through DuckDB's ``COPY … TO … (FORMAT parquet, PARTITION_BY …)`` from one read-only connection
(one snapshot): ``plans`` and ``progress`` partitioned by plan year and unit
(``year=2016/unit=JK/data_0.parquet``), ``projects`` by unit, the reference tables in one file
each. Money stays DECIMAL(18,2). The audit log, the batches and the user list stay in the city
(who changed what, and who may sign in, are not the province's data).

:func:`open_export` opens one such folder in an in-memory DuckDB: ``projects``, ``plans`` and
``progress`` as views over ``read_parquet('DIR/<table>/**/*.parquet', hive_partitioning = true)``,
the small reference tables read into memory, all with the columns and types of this version's
schema, then the same macros and named views the database has
(:func:`portfolio.views.create_views`), so ``v_target_progress``, ``project_status_at(…)`` and
the rest give the same rows as on the database. :func:`open_province` opens several cities'
folders: each city in its own catalog with its own rules and views, and in the main catalog
every table and named view as the union of the cities with a ``city`` column;
:func:`province_status_at` runs ``project_status_at`` in every city.

The output folder follows the rules of :mod:`portfolio.files`: never the database, its WAL or
its folder, never a folder or file the tool did not write. The export is written to a hidden
temporary folder beside the target and renamed into place; ``_portfolio_export.json`` in it
records the schema version, the row count per table and every file with its size and
sha-256, so a later export may replace a folder the tool wrote and nobody changed since.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import shutil
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from . import files, store, years
from .store.schema import COMMENTS, SCHEMA, SCHEMA_VERSION

#: The manifest inside an export folder (a leading underscore: Spark and Hive readers skip it).
MANIFEST = "_portfolio_export.json"
KIND = "portfolio-parquet-export"
FORMAT_VERSION = 1
#: Tables that stay in the city: the audit trail, the batches and the users.
KEPT_HOME = ("audit_log", "batches", "users")
#: Partition columns per table; every other exported table is one unpartitioned file.
PARTITIONS: dict[str, tuple[str, ...]] = {"plans": ("year", "unit"), "progress": ("year", "unit"),
                                          "projects": ("unit",)}
#: Characters a folder path may not hold: ``read_parquet`` would take them as a glob.
_GLOB_CHARS = set("*?[]{}")
_CHUNK = 1 << 20


class ExportRefused(store.StoreError):
    """The export folder cannot be written (one sentence for the user); nothing was written."""


class ExportUnusable(store.StoreError):
    """A folder given to :func:`open_export` is not an export this version can read."""


def exported_tables() -> tuple[str, ...]:
    """The tables written by an export, in schema order."""
    return tuple(t for t in COMMENTS if t not in KEPT_HOME)


@cache
def schema_columns() -> dict[str, tuple[tuple[str, str], ...]]:
    """Each exported table's columns and DuckDB types, from this version's schema DDL."""
    scratch = duckdb.connect(":memory:")
    try:
        for stmt in scratch.extract_statements(SCHEMA):
            scratch.execute(stmt.query)
        rows = scratch.execute(
            "select table_name, column_name, data_type from duckdb_columns()"
            " where database_name = current_database() order by table_name, column_index").fetchall()
    finally:
        scratch.close()
    out: dict[str, list[tuple[str, str]]] = {}
    for table, column, dtype in rows:
        out.setdefault(str(table), []).append((str(column), str(dtype)))
    return {t: tuple(out[t]) for t in exported_tables()}


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _source_sql(table: str, year: int | None) -> str:
    """The SELECT that feeds one table's COPY: its columns in schema order plus the partition keys.

    ``unit`` is the project's unit: the current one, else (a project deleted after its year was
    closed) the one its latest closed plan row kept."""
    cols = ", ".join(f"t.{_ident(c)}" for c, _ in schema_columns()[table])
    kept_unit = ("left join (select project_id, arg_max(unit_id, year) as unit_id from plans"
                 " where unit_id is not null group by project_id) k on k.project_id = t.project_id")
    if table == "projects":
        return f"select {cols}, t.unit_id as unit from projects t"
    if table == "plans":
        where = f" where t.year = {int(year)}" if year is not None else ""
        return (f"select {cols}, coalesce(t.unit_id, p.unit_id, k.unit_id) as unit from plans t"
                f" left join projects p on p.project_id = t.project_id {kept_unit}{where}")
    if table == "progress":
        where = f" where year(t.month) = {int(year)}" if year is not None else ""
        return (f"select {cols}, year(t.month)::integer as year, coalesce(p.unit_id, k.unit_id) as unit"
                f" from progress t left join projects p on p.project_id = t.project_id {kept_unit}{where}")
    return f"select {cols} from {_ident(table)} t order by t.rowid"


@dataclass(frozen=True)
class ExportResult:
    """What one export wrote: the folder, rows per table, files, bytes and seconds."""

    path: Path
    tables: dict[str, int]
    files: int
    bytes: int
    seconds: float
    year: int | None
    manifest: dict[str, Any] = field(repr=False)

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape of ``portfolio export --json``."""
        return {"path": str(self.path), "year": self.year, "tables": self.tables, "files": self.files,
                "bytes": self.bytes, "seconds": round(self.seconds, 3)}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _data_files(folder: Path) -> list[Path]:
    """Every file under ``folder`` except the manifest, sorted (links and odd entries included)."""
    found: list[Path] = []
    for root, dirs, names in os.walk(folder, followlinks=False):
        base = Path(root)
        found.extend(base / n for n in names)
        found.extend(base / d for d in dirs if (base / d).is_symlink())
    return sorted(p for p in found if p != folder / MANIFEST)


def read_manifest(folder: Path) -> dict[str, Any] | None:
    """The export manifest of ``folder``, or None when it has none (or not ours)."""
    try:
        data = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("kind") != KIND:
        return None
    return data


def written_by_export(folder: Path) -> bool:
    """True when ``folder`` holds exactly the files its manifest lists, each unchanged."""
    manifest = read_manifest(folder)
    if manifest is None or not isinstance(manifest.get("files"), list):
        return False
    listed = {str(f.get("name")): f for f in manifest["files"] if isinstance(f, dict)}
    present = _data_files(folder)
    if {p.relative_to(folder).as_posix() for p in present} != set(listed):
        return False
    for path in present:
        record = listed[path.relative_to(folder).as_posix()]
        if path.is_symlink() or not path.is_file() or path.stat().st_size != record.get("size"):
            return False
        if _sha256(path) != record.get("sha256"):
            return False
    return True


def check_target(target: str | Path, *, db: str | Path | None = None) -> Path:
    """Return the export folder if the tool may write it, else raise :class:`ExportRefused`.

    Refused: the database, its WAL or build file; the database's folder or a folder that holds
    it; a file; a link; a path with glob characters; an existing folder that is neither empty
    nor an export this tool wrote and nobody changed since."""
    path = Path(target)
    shown = str(path)
    real = Path(os.path.realpath(path))
    if db is not None:
        db_path = store.resolve_db(db)
        for protected in files.database_files(db_path) + files.database_files(Path(os.path.realpath(db_path))):
            if real == Path(os.path.realpath(protected)):
                raise ExportRefused(
                    f"不能导出到 {shown}：这是数据库文件（或其日志），请另给一个文件夹"
                    "（refusing to write over the database）。")
        db_real = Path(os.path.realpath(db_path))
        if real == db_real.parent or real in db_real.parents:
            raise ExportRefused(
                f"不能导出到 {shown}：数据库就在这个文件夹里，请另给一个新文件夹"
                "（refusing to export into the database's folder）。")
    if _GLOB_CHARS & set(str(real)):
        raise ExportRefused(
            f"不能导出到 {shown}：路径中不能有 * ? [ ] {{ }}（读取时会被当作通配符），请换一个文件夹名"
            "（glob characters in the path）。")
    if path.is_symlink():
        raise ExportRefused(f"不能导出到 {shown}：它是一个链接，请给出真实的文件夹（target is a link）。")
    if path.exists() and not path.is_dir():
        if files.is_duckdb_file(path):
            raise ExportRefused(
                f"不能导出到 {shown}：这是一个 DuckDB 数据库文件，请另给一个文件夹（refusing to overwrite a database）。")
        raise ExportRefused(f"不能导出到 {shown}：这是一个文件，请给出文件夹（target is a file）。")
    if path.is_dir() and any(path.iterdir()) and not written_by_export(path):
        raise ExportRefused(
            f"不能导出到 {shown}：该文件夹已存在，且不是本工具导出的（或导出后被改动过）；请换一个文件夹或先移走它"
            "（refusing to replace a folder the tool did not write）。")
    return path


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def _remove_stale(path: Path) -> None:
    """Remove temporary folders of ``path`` left by an export that was killed (its process is gone)."""
    prefix = f".{path.name}."
    with contextlib.suppress(OSError):
        for leftover in path.parent.iterdir():
            if not (leftover.name.startswith(prefix) and leftover.name.endswith((".tmp", ".old"))):
                continue
            pid_text = leftover.name[len(prefix):].split(".", 1)[0]
            if pid_text.isdigit() and not _pid_alive(int(pid_text)) and not leftover.is_symlink():
                shutil.rmtree(leftover, ignore_errors=True)


def _fsync(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _swap_in(tmp: Path, path: Path, token: str) -> None:
    """Put the finished folder ``tmp`` at ``path``: a rename, over an empty folder or our old export."""
    if not path.exists():
        os.replace(tmp, path)
        return
    if not any(path.iterdir()):
        os.replace(tmp, path)  # rename(2) replaces an empty folder
        return
    if not written_by_export(path):  # someone put a file there while the export ran
        raise ExportRefused(
            f"不能导出到 {path}：导出期间该文件夹被改动过，已保留原样；请换一个文件夹或先移走它"
            "（the folder changed during the export）。")
    old = path.parent / f".{path.name}.{token}.old"
    os.replace(path, old)
    try:
        os.replace(tmp, path)
    except OSError:
        os.replace(old, path)
        raise
    shutil.rmtree(old, ignore_errors=True)


def export_parquet(db: str | Path | None, target: str | Path, *, year: int | None = None) -> ExportResult:
    """Write the database's tables as Hive-partitioned Parquet into the folder ``target``.

    One read-only connection, one transaction: every table is the same moment. ``year`` keeps
    only that plan year's ``plans`` and ``progress`` rows (the other tables whole); the views
    over such a folder then have no 上年同期 and count 开累 from that year only. The folder is
    checked first (:func:`check_target`), written hidden beside the target and renamed into
    place; it may replace an earlier export the tool wrote and nobody changed."""
    started = time.monotonic()
    path = check_target(target, db=db)
    con = store.open_connection(db, read_only=True)  # a database that cannot be read: nothing created
    tmp: Path | None = None
    try:
        try:
            chosen = years.resolve_year(con, year) if year is not None else None
        except years.YearError as exc:
            raise ExportRefused(str(exc)) from exc
        path.parent.mkdir(parents=True, exist_ok=True)
        _remove_stale(path)
        token = f"{os.getpid()}.{secrets.token_hex(4)}"
        tmp = path.parent / f".{path.name}.{token}.tmp"
        tmp.mkdir()
        counts: dict[str, int] = {}
        con.execute("begin transaction")
        meta = dict(con.execute("select key, value from meta").fetchall())
        for table in exported_tables():
            folder = tmp / table
            folder.mkdir()
            parts = PARTITIONS.get(table)
            source = _source_sql(table, chosen)
            if parts:
                sql = (f"copy ({source}) to {_literal(str(folder))}"
                       f" (format parquet, compression zstd, partition_by ({', '.join(parts)}), overwrite_or_ignore)")
            else:
                sql = f"copy ({source}) to {_literal(str(folder / 'data_0.parquet'))} (format parquet, compression zstd)"
            counts[table] = int(con.execute(sql).fetchall()[0][0])
        con.execute("commit")
        con.close()  # the files are written: writers need not wait for the checksums
        listed: list[dict[str, Any]] = []
        for file in _data_files(tmp):
            _fsync(file)
            listed.append({"name": file.relative_to(tmp).as_posix(), "size": file.stat().st_size,
                           "sha256": _sha256(file)})
        manifest: dict[str, Any] = {
            "kind": KIND, "format": FORMAT_VERSION, "schema_version": SCHEMA_VERSION,
            "exported_at": datetime.now().isoformat(timespec="seconds"),
            "database": store.resolve_db(db).name, "revision": int(meta.get("revision", "0") or 0),
            "plan_year": int(meta["plan_year"]) if str(meta.get("plan_year", "")).isdigit() else None,
            "year": chosen,
            "tables": {t: {"rows": counts[t], "partition_by": list(PARTITIONS.get(t, ()))} for t in counts},
            "files": listed,
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")
        _fsync(tmp / MANIFEST)
        _fsync(tmp)
        _swap_in(tmp, path, token)
        _fsync(path.parent)
    except duckdb.Error as exc:
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ExportRefused(f"导出到 {path} 失败：{detail}；原有内容未改动（export failed）。") from exc
    except OSError as exc:
        raise ExportRefused(
            f"导出到 {path} 失败：{exc.strerror or exc}；原有内容未改动（export failed）。") from exc
    finally:
        con.close()
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    return ExportResult(path=path, tables=counts, files=len(listed), bytes=sum(f["size"] for f in listed),
                        seconds=time.monotonic() - started, year=chosen, manifest=manifest)


# ---- reading: the named views over export folders ------------------------------------------------


def checked_manifest(folder: Path) -> dict[str, Any]:
    """The manifest of an export folder this version can read, else :class:`ExportUnusable`.

    The folder must hold an export of this schema version with every file it lists, of the
    listed size (a cheap check; the sha-256 is for replacing a folder)."""
    shown = str(folder)
    if not folder.is_dir():
        raise ExportUnusable(f"{shown} 不是文件夹（not a folder）。")
    if _GLOB_CHARS & set(str(Path(os.path.realpath(folder)))):
        raise ExportUnusable(f"{shown} 的路径中有 * ? [ ] {{ }}，读取时会被当作通配符；请改名后再读（glob characters in the path）。")
    manifest = read_manifest(folder)
    if manifest is None:
        raise ExportUnusable(
            f"{shown} 不是 portfolio export --parquet 导出的文件夹（缺少 {MANIFEST}）（not a portfolio export）。")
    if manifest.get("schema_version") != SCHEMA_VERSION:
        raise ExportUnusable(
            f"{shown} 由结构版本 {manifest.get('schema_version')} 导出，本程序读取版本 {SCHEMA_VERSION}；"
            "请用相同版本重新导出（export of another schema version）。")
    tables = manifest.get("tables")
    if not isinstance(tables, dict) or any(t not in tables for t in exported_tables()):
        raise ExportUnusable(f"{shown} 的清单缺少数据表，请重新导出（export manifest incomplete）。")
    for record in manifest.get("files") or []:
        name = str(record.get("name", "")) if isinstance(record, dict) else ""
        file = folder / name
        if not name or ".." in Path(name).parts or not file.is_file() or file.stat().st_size != record.get("size"):
            raise ExportUnusable(
                f"{shown} 中的文件与清单不符（{name or '?'} 缺失或被改动），请重新导出（export files changed）。")
    return manifest


def table_sql(table: str, folder: Path, rows: int) -> str:
    """The SELECT that reads one table from an export folder, with this version's columns and types."""
    cols = schema_columns()[table]
    if rows == 0:  # a partitioned COPY of no rows writes no file: an empty table of the right types
        return "select " + ", ".join(f"null::{t} as {_ident(c)}" for c, t in cols) + " where false"
    pattern = _literal((folder / table).as_posix() + "/**/*.parquet")
    parts = PARTITIONS.get(table)
    if parts:
        types = ", ".join(f"{_literal(p)}: {_literal('INTEGER' if p == 'year' else 'VARCHAR')}" for p in parts)
        source = f"read_parquet({pattern}, hive_partitioning = true, hive_types = {{{types}}})"
        order = ""
    else:  # one file, written in insert order: read in that order (the views order chains by rowid)
        source = f"read_parquet({pattern}, hive_partitioning = false, file_row_number = true)"
        order = " order by file_row_number"
    return "select " + ", ".join(f"{_ident(c)}::{t} as {_ident(c)}" for c, t in cols) + f" from {source}{order}"


def _create_city(con: duckdb.DuckDBPyConnection, folder: Path) -> dict[str, Any]:
    """In the connection's current catalog: the tables over ``folder``, then the named views and macros.

    ``projects``, ``plans`` and ``progress`` are views over their partitioned files, read anew by
    every query; the small reference tables (meta and the rules, units, chains, targets,
    actuals, enterprises …) are read into memory once, in their insert order: the views read
    them dozens of times a query, and the library finds its rules in tables, as in the database."""
    from . import views

    manifest = checked_manifest(folder)
    con.execute("set parquet_metadata_cache = true")
    for table in exported_tables():
        rows = int(manifest["tables"][table].get("rows", 0))
        kind = "view" if table in PARTITIONS else "table"
        con.execute(f"create or replace {kind} {_ident(table)} as {table_sql(table, folder, rows)}")
    views.create_views(con)
    return manifest


def open_export(folder: str | Path) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with one city's export as tables and the database's named views and macros.

    ``v_target_progress``, ``v_unit_progress``, ``project_status_at(date '2016-06-01')`` … run
    unchanged over the Parquet files, and so do the library's readers that take a connection
    (``targets.check_report(con)``). Close the connection when done."""
    con = duckdb.connect(":memory:")
    try:
        _create_city(con, Path(folder))
    except BaseException:
        con.close()
        raise
    return con


def _labelled(cities: Mapping[str, str | Path] | Sequence[str | Path]) -> list[tuple[str, Path]]:
    if isinstance(cities, Mapping):
        items = [(str(k), Path(v)) for k, v in cities.items()]
    else:
        # a folder named city=长春 (the layout other engines read as a partition) is the city 长春
        items = [(Path(v).name.removeprefix("city="), Path(v)) for v in cities]
    labels = [label for label, _ in items]
    if not items:
        raise ExportUnusable("请至少给出一个城市的导出文件夹（no city folders given）。")
    if any(not label.strip() for label in labels) or len(set(labels)) != len(labels):
        raise ExportUnusable(f"城市名称不能为空，也不能重复：{'、'.join(labels)}（city labels must be unique）。")
    return items


def open_province(cities: Mapping[str, str | Path] | Sequence[str | Path]) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB over several cities' exports (``{city: folder}``, or folders named ``city`` or ``city=city``).

    Each city gets its own catalog ``city_1``, ``city_2`` … with its tables, rules and named views
    (each city's own plan year, month and targets). The main catalog has every table and named
    view as the union of the cities with a ``city`` column first, and the table ``cities``
    (ordinal, city, catalog, folder, plan_year, revision, exported_at). ``project_status_at`` at another
    month is :func:`province_status_at`."""
    from . import views

    items = _labelled(cities)
    con = duckdb.connect(":memory:")
    try:
        home = str(con.execute("select current_database()").fetchall()[0][0])
        rows = []
        for i, (label, folder) in enumerate(items, 1):
            catalog = f"city_{i}"
            con.execute(f"attach ':memory:' as {catalog}")
            con.execute(f"use {catalog}")
            manifest = _create_city(con, folder)
            rows.append((i, label, catalog, str(folder), manifest.get("plan_year"), manifest.get("revision"),
                         manifest.get("exported_at")))
        con.execute(f"use {_ident(home)}")
        for name in (*exported_tables(), *(v.name for v in views.VIEWS)):
            union = " union all ".join(f"select {_literal(label)} as city, * from city_{i}.main.{_ident(name)}"
                                       for i, (label, _) in enumerate(items, 1))
            con.execute(f"create view {_ident(name)} as {union}")
        con.execute("create table cities (ordinal integer, city varchar, catalog varchar, folder varchar,"
                    " plan_year integer, revision bigint, exported_at varchar)")
        con.executemany("insert into cities values (?, ?, ?, ?, ?, ?, ?)", rows)
    except BaseException:
        con.close()
        raise
    return con


def province_status_at(con: duckdb.DuckDBPyConnection, as_of: date) -> pl.DataFrame:
    """``project_status_at(as_of)`` in every city of :func:`open_province`, with a ``city`` column first.

    A table macro reads the tables of the catalog it is called from, so it runs once per city
    (one query per city, not per row)."""
    frames = []
    for label, catalog in con.execute("select city, catalog from cities order by ordinal").fetchall():
        cur = con.cursor()
        try:
            cur.execute(f"use {_ident(str(catalog))}")
            frames.append(cur.sql("select ?::varchar as city, * from project_status_at(?)",
                                  params=[label, as_of]).pl())
        finally:
            cur.close()
    return pl.concat(frames, how="vertical")


@contextlib.contextmanager
def opened(folder: str | Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """:func:`open_export` as a context manager that closes the connection."""
    con = open_export(folder)
    try:
        yield con
    finally:
        con.close()
