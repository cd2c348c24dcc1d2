"""DuckDB store: short-lived connections with retry on lock, the schema, transactions, audit.

No process keeps the database file open between operations: every operation opens a
connection with :func:`connect`, does its work and closes it, so the app, a cron report and
the CLI can share one file. DuckDB allows one writer process or many readers; a process that
finds the file locked retries with exponential backoff until ``timeout`` runs out.

:func:`open_connection` is the one way to open the file, for every reader and writer (the SQL
sandbox too). Before DuckDB touches the file it is inspected (folder, empty, not DuckDB,
unreadable, read-only for a write); after opening, the ``meta`` table must say it is a complete
portfolio database of a schema version this code knows. Each refusal is a
:class:`DatabaseUnusable` subclass with one sentence that says what to do, and leaves the file
byte-identical. An older schema is upgraded in place. ``init`` builds a new file beside the path
and renames it into place (:func:`build_database`).
"""

from __future__ import annotations

import json
import os
import random
import stat
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from .. import config

#: The version of :data:`SCHEMA`. A database of an older version is upgraded in place the first
#: time it is opened (:func:`upgrade_schema`): SCHEMA runs again under the writer's lock, in one
#: transaction, so every statement in it must be idempotent (``create ... if not exists``,
#: ``alter table ... add column if not exists``). Bump it with every change to SCHEMA.
SCHEMA_VERSION = 2
LOCK_TIMEOUT_S = 30.0

_E = ", ".join


def _enum(values: Sequence[str]) -> str:
    return _E(f"'{v}'" for v in values)


#: The whole schema, one constant (Datasette habit). Money is DECIMAL(18,2) 万元.
SCHEMA = f"""
create table if not exists meta (
    key varchar primary key,
    value varchar not null
);
create table if not exists units (
    unit_id varchar primary key,
    name varchar not null unique,
    short_name varchar not null,
    kind varchar not null check (kind in ({_enum(config.UNIT_KINDS)})),
    aliases varchar[]
);
create table if not exists chains (
    chain_id varchar primary key,
    name varchar not null unique,
    name_en varchar,
    is_assumption boolean not null default false,
    aliases varchar[]
);
create table if not exists chain_nodes (
    node_id varchar primary key,
    chain_id varchar not null,
    name varchar not null,
    name_en varchar,
    stage varchar not null check (stage in ({_enum(config.STAGES)})),
    weight decimal(6,3) not null check (weight > 0),
    emerging boolean not null default false
);
create table if not exists chain_edges (
    src_node_id varchar not null,
    dst_node_id varchar not null,
    weight decimal(6,3) not null default 1 check (weight > 0),
    primary key (src_node_id, dst_node_id),
    check (src_node_id <> dst_node_id)
);
create table if not exists targets (
    year integer not null check (year between 2000 and 2100),
    metric varchar not null,
    scope varchar not null default 'city',
    value_wan decimal(18,2) not null check (value_wan >= 0),
    growth_pct decimal(7,2),
    label varchar,
    is_optional boolean not null default false,
    primary key (year, metric, scope)
);
create table if not exists projects (
    project_id varchar primary key,
    name varchar not null,
    enterprise varchar,
    chain_id varchar,
    node_id varchar,
    unit_id varchar not null,
    park varchar,
    nature varchar not null check (nature in ({_enum(config.NATURES)})),
    status varchar not null check (status in ({_enum(config.STATUSES)})),
    total_investment_wan decimal(18,2) not null check (total_investment_wan >= 0),
    annual_plan_wan decimal(18,2) not null default 0 check (annual_plan_wan >= 0),
    start_date date,
    end_date date,
    leader varchar,
    leader_level varchar check (leader_level in ({_enum(config.LEADER_LEVELS)})),
    is_major boolean not null default false,
    chain_role varchar check (chain_role in ({_enum(config.CHAIN_ROLES)})),
    note varchar,
    is_sample boolean not null default false,
    version integer not null default 1 check (version >= 1),
    updated_at timestamp not null default current_timestamp,
    updated_by varchar not null default 'system',
    check (annual_plan_wan <= total_investment_wan),
    check (start_date is null or end_date is null or start_date <= end_date)
);
create table if not exists progress (
    project_id varchar not null,
    month date not null check (month = date_trunc('month', month)),
    completed_wan decimal(18,2) not null default 0 check (completed_wan >= 0),
    physical_pct decimal(5,2) check (physical_pct between 0 and 100),
    problems varchar,
    problem_level varchar check (problem_level in ({_enum(config.PROBLEM_LEVELS)})),
    updated_at timestamp not null default current_timestamp,
    updated_by varchar not null default 'system',
    primary key (project_id, month)
);
create table if not exists enterprises (
    enterprise_id varchar primary key,
    name varchar not null,
    unit_id varchar,
    node_id varchar,
    output_wan decimal(18,2) not null default 0 check (output_wan >= 0),
    is_key boolean not null default false,
    leader_level varchar check (leader_level in ({_enum(config.LEADER_LEVELS)})),
    is_sample boolean not null default false
);
create sequence if not exists audit_seq start 1;
create table if not exists audit_log (
    audit_id bigint primary key default nextval('audit_seq'),
    "at" timestamp not null default current_timestamp,
    actor varchar not null,
    action varchar not null,
    table_name varchar not null,
    record_id varchar,
    old_values json,
    new_values json,
    source varchar,
    batch_id bigint
);
alter table audit_log add column if not exists batch_id bigint;
create sequence if not exists batch_seq start 1;
create table if not exists batches (
    batch_id bigint primary key,
    "at" timestamp not null default current_timestamp,
    actor varchar not null,
    kind varchar not null check (kind in ('import', 'edit', 'undo', 'init')),
    source varchar,
    table_name varchar,
    inserted integer not null default 0,
    updated integer not null default 0,
    deleted integer not null default 0,
    unchanged integer not null default 0,
    rejected integer not null default 0,
    skipped integer not null default 0,
    undoes bigint,
    undone_by bigint
);
create table if not exists users (
    user_id varchar primary key,
    email varchar,
    name varchar,
    role varchar not null check (role in ('admin', 'bureau', 'unit', 'viewer')),
    unit_id varchar,
    active boolean not null default true,
    created_at timestamp not null default current_timestamp,
    check (role <> 'unit' or unit_id is not null)
);
create table if not exists seasonal_profile (
    month_no integer primary key check (month_no between 1 and 12),
    share double not null check (share >= 0),
    cumulative_share double not null
);
create table if not exists tiers (
    tier varchar primary key,
    tier_en varchar,
    min_wan decimal(18,2) not null unique,
    plan_count integer,
    plan_cumulative_count integer
);
"""

#: Chinese comments: the data dictionary lives in the database (duckdb_columns()).
COMMENTS: dict[str, tuple[str, dict[str, str]]] = {
    "meta": ("元数据：数据库结构版本、数据修订号、是否示例数据等", {
        "key": "键", "value": "值"}),
    "units": ("责任单位（14个：国家级开发区、主城区、县域）", {
        "unit_id": "单位编号", "name": "单位全称", "short_name": "常用简称（如 汽开区、经开区）",
        "kind": "单位类型：国家级开发区 / 主城区 / 县域", "aliases": "导入时可识别的别名"}),
    "chains": ("产业链（10条）", {
        "chain_id": "产业链编号", "name": "产业链名称", "name_en": "英文名称",
        "is_assumption": "是否为假设（原文未点名的产业链）", "aliases": "导入时可识别的别名"}),
    "chain_nodes": ("产业链环节（节点）", {
        "node_id": "环节编号", "chain_id": "所属产业链编号", "name": "环节名称",
        "name_en": "英文名称", "stage": "所处阶段：上游 / 中游 / 下游 / 配套服务",
        "weight": "环节权重（相对价值，1为一般）", "emerging": "是否新兴环节（增链判定用）"}),
    "chain_edges": ("产业链环节之间的供应关系（上游 → 下游，可跨链）", {
        "src_node_id": "供应方环节编号（上游）", "dst_node_id": "需求方环节编号（下游）",
        "weight": "连接权重"}),
    "targets": ("年度目标（万元）", {
        "year": "年度", "metric": "指标：industrial_investment 工业投资 / tech_upgrade_investment 技术改造投资 / industrial_output 规上工业产值",
        "scope": "范围：city 全市；unit:编号 单位；chain:编号 产业链；group:类型 单位组",
        "value_wan": "目标值（万元）", "growth_pct": "增长率（%）", "label": "指标中文名",
        "is_optional": "是否为参考指标（不参与投资目标检查）"}),
    "projects": ("项目库：总投资1000万元以上的工业项目", {
        "project_id": "项目编号", "name": "项目名称", "enterprise": "建设单位（企业）",
        "chain_id": "所属产业链编号", "node_id": "所属产业链环节编号", "unit_id": "责任单位编号",
        "park": "所在园区", "nature": "建设性质：新建 / 扩建 / 改建及技术改造",
        "status": "项目状态：谋划 / 前期 / 在建 / 竣工 / 达产达效",
        "total_investment_wan": "总投资（万元）", "annual_plan_wan": "年度计划投资（万元）",
        "start_date": "开工时间", "end_date": "竣工时间", "leader": "包保领导",
        "leader_level": "最高包保层级：市级 / 局级 / 处室 / 属地", "is_major": "是否重大产业化项目",
        "chain_role": "申报的链上作用：补链 / 增链 / 丰链", "note": "备注",
        "is_sample": "是否为示例数据", "version": "版本号（乐观锁，每次修改加1）",
        "updated_at": "最后修改时间", "updated_by": "最后修改人"}),
    "progress": ("月度进度：每个项目每月一行", {
        "project_id": "项目编号", "month": "月份（当月1日）", "completed_wan": "本月完成投资（万元）",
        "physical_pct": "形象进度（%）", "problems": "存在问题（需协调解决的困难）",
        "problem_level": "问题提交协调的层级：属地 / 处室 / 局级 / 市级",
        "updated_at": "最后修改时间", "updated_by": "最后修改人"}),
    "enterprises": ("产业链上的本地企业", {
        "enterprise_id": "企业编号", "name": "企业名称", "unit_id": "所在责任单位编号",
        "node_id": "所在产业链环节编号", "output_wan": "年产值（万元）",
        "is_key": "是否重点企业（亿元以上企业）", "leader_level": "包保层级",
        "is_sample": "是否为示例数据"}),
    "audit_log": ("修改日志：每一次修改的时间、人员、内容、修改前后的值", {
        "audit_id": "日志编号", "at": "时间", "actor": "操作人", "action": "操作：insert / update / delete / import / init",
        "table_name": "数据表", "record_id": "记录编号", "old_values": "修改前的值（JSON）",
        "new_values": "修改后的值（JSON）", "source": "来源：app / cli / import:文件名 / undo",
        "batch_id": "所属批次编号（batches；一次导入或一次表单保存为一个批次）"}),
    "batches": ("导入与修改批次：每次导入、表单保存、撤销各一行，可按批次撤销", {
        "batch_id": "批次编号", "at": "时间", "actor": "操作人",
        "kind": "类型：import 导入 / edit 表单修改 / undo 撤销 / init 建库",
        "source": "来源：导入的文件名，或表单（form:update_project 等）", "table_name": "数据表",
        "inserted": "新增行数", "updated": "更新行数", "deleted": "删除行数（撤销新增时）",
        "unchanged": "未变行数", "rejected": "拒收行数", "skipped": "跳过的合计/小计行数",
        "undoes": "本批次撤销的批次编号（撤销批次才有）", "undone_by": "撤销本批次的批次编号（已撤销时）"}),
    "users": ("用户与角色", {
        "user_id": "用户标识（身份提供方的 e-mail 或 subject）", "email": "电子邮箱", "name": "姓名",
        "role": "角色：admin 管理员 / bureau 局机关 / unit 责任单位 / viewer 只读",
        "unit_id": "所属责任单位（unit 角色必填）", "active": "是否启用", "created_at": "创建时间"}),
    "seasonal_profile": ("季节性进度曲线：各月完成投资占全年的比例（假设，来自 targets.toml，视图用）", {
        "month_no": "月份（1–12）", "share": "当月占全年比例",
        "cumulative_share": "截至当月末的累计比例"}),
    "tiers": ("投资规模档次（按总投资，来自 targets.toml，视图用）", {
        "tier": "档次", "tier_en": "档次英文名", "min_wan": "下限（万元，含）",
        "plan_count": "原文计划项目数", "plan_cumulative_count": "原文计划累计项目数（本档及以上）"}),
}


class StoreError(RuntimeError):
    """The database cannot be used (locked too long, missing, wrong schema)."""


class DatabaseMissing(StoreError):
    """No database file at the given path."""


class DatabaseLocked(StoreError):
    """Another process held the database longer than the timeout."""


class DatabaseUnusable(StoreError):
    """The file at the database path cannot be used as it is; it was left exactly as it was."""


class DatabaseIsDirectory(DatabaseUnusable):
    """The path is a folder."""


class EmptyDatabaseFile(DatabaseUnusable):
    """The path is a file of zero bytes."""


class NotDuckDBFile(DatabaseUnusable):
    """The file does not carry DuckDB's magic bytes (a spreadsheet, a text file …)."""


class DatabaseUnreadable(DatabaseUnusable):
    """This user may not read the file."""


class DatabaseReadOnly(DatabaseUnusable):
    """A write was asked for, and the file (or its folder) cannot be written."""


class DatabaseBroken(DatabaseUnusable):
    """DuckDB itself refuses to open the file (damaged, or written by a newer DuckDB)."""


class ForeignDatabase(DatabaseUnusable):
    """A DuckDB database of another program: no ``meta`` table with our schema version."""


class NewerSchema(DatabaseUnusable):
    """A portfolio database written by a newer version of this program."""


class HalfBuiltDatabase(DatabaseUnusable):
    """What a killed first ``init`` of an earlier version left: a DuckDB file with nothing in it."""


#: Bytes 8..12 of every DuckDB database file.
DUCKDB_MAGIC = b"DUCK"

# Files (st_dev, st_ino) this process has seen carry DuckDB's magic, and files that passed the
# content checks. Why remember: DuckDB locks the file with POSIX fcntl locks, and closing *any*
# descriptor of a file drops every such lock the process holds on it. Reading the header again
# while another thread of this process (the app) has the database open would silently let a
# second process write at the same time. So the header is read only for a file not seen yet,
# which no connection of ours can have open; the lock makes read-and-remember one step.
_SEEN_DUCKDB: set[tuple[int, int]] = set()
_CHECKED: set[tuple[int, int]] = set()
_HEADER_LOCK = threading.Lock()
_UPGRADE_LOCK = threading.Lock()


def resolve_db(db: str | Path | None = None) -> Path:
    """The database path: the argument, else ``$PORTFOLIO_DB``, else ``data/portfolio.duckdb``."""
    return Path(db) if db else config.default_db_path()


def wal_path(path: Path) -> Path:
    """The write-ahead log DuckDB keeps beside a database file."""
    return path.with_name(path.name + ".wal")


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


def _file_key(st: os.stat_result) -> tuple[int, int]:
    return (st.st_dev, st.st_ino)


def _has_duckdb_magic(path: Path, st: os.stat_result) -> bool:
    """True when the file's header carries DuckDB's magic (read once per file and process)."""
    key = _file_key(st)
    with _HEADER_LOCK:
        if key in _SEEN_DUCKDB:
            return True
        with path.open("rb") as fh:
            head = fh.read(12)
        if len(head) == 12 and head[8:12] == DUCKDB_MAGIC:
            _SEEN_DUCKDB.add(key)
            return True
        return False


def _magic_after_all(path: Path) -> bool:
    """After DuckDB called a file invalid: forget what was remembered of it and read it again.

    Safe to read: no connection of this process can have a file open that DuckDB refuses.
    """
    try:
        st = path.stat()
        with _HEADER_LOCK:
            _SEEN_DUCKDB.discard(_file_key(st))
            _CHECKED.discard(_file_key(st))
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


def _connect_retrying(
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
            if "not a valid DuckDB database file" in detail and not _magic_after_all(path):
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
        return _connect_retrying(path, read_only=read_only, timeout=timeout, config_options=config_options)
    if check and not read_only and wal_path(path).exists() and _file_key(st) not in _CHECKED:
        # A write open replays a left-over WAL and writes it into the file on close: check the
        # contents read-only first, so that another program's database stays untouched.
        probe = _connect_retrying(path, read_only=True, timeout=timeout)
        try:
            check_schema(probe, path)
        finally:
            probe.close()
    con = _connect_retrying(path, read_only=read_only, timeout=timeout, config_options=config_options)
    if not check:
        return con
    try:
        found = check_schema(con, path)
        _CHECKED.add(_file_key(st))
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


def create_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create every table with its comments, record the schema version (idempotent)."""
    for stmt in con.extract_statements(SCHEMA):
        con.execute(stmt.query)
    for table, (table_comment, columns) in COMMENTS.items():
        con.execute(f"comment on table {table} is {_sql_str(table_comment)}")
        for column, text in columns.items():
            con.execute(f"comment on column {table}.{column} is {_sql_str(text)}")
    set_meta(con, "schema_version", str(SCHEMA_VERSION))
    from .. import views  # views depend on the library's SQL; imported late to avoid a cycle

    views.create_views(con)


def _sql_str(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def set_meta(con: duckdb.DuckDBPyConnection, key: str, value: str) -> None:
    """Set one key of the meta table."""
    con.execute(
        "insert into meta values (?, ?) on conflict (key) do update set value = excluded.value",
        [key, value],
    )


def get_meta(con: duckdb.DuckDBPyConnection, key: str, default: str | None = None) -> str | None:
    """Read one key of the meta table."""
    rows = con.execute("select value from meta where key = ?", [key]).fetchall()
    return rows[0][0] if rows else default


def bump_revision(con: duckdb.DuckDBPyConnection) -> int:
    """Increase the data revision; every write calls it inside its transaction."""
    rev = int(get_meta(con, "revision", "0") or 0) + 1
    set_meta(con, "revision", str(rev))
    return rev


def revision(db: str | Path | None = None) -> int:
    """The data revision of the database (changes whenever anything is written)."""
    with connect(db, read_only=True) as con:
        return int(get_meta(con, "revision", "0") or 0)


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, date | datetime):
        return value.isoformat()
    return str(value)


def to_json(value: Any) -> str | None:
    """JSON text for an audit value (Decimal and dates kept exact as strings)."""
    if value is None:
        return None
    return json.dumps(value, ensure_ascii=False, default=_json_default, sort_keys=True)


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


def load_reference(con: duckdb.DuckDBPyConnection, ref: config.Reference) -> None:
    """Replace units, chains, nodes, edges and targets with the reference configuration."""
    pairs: list[tuple[str, pl.DataFrame]] = [
        ("units", ref.units),
        ("chains", ref.chains),
        ("chain_nodes", ref.chain_nodes),
        ("chain_edges", ref.chain_edges),
        ("targets", ref.targets),
        *config.rule_tables(ref.settings).items(),
    ]
    for table, frame in pairs:
        con.execute(f"delete from {table}")
        con.register("_ref", frame)
        try:
            cols = ", ".join(frame.columns)
            con.execute(f"insert into {table} ({cols}) select {cols} from _ref")
        finally:
            con.unregister("_ref")
    set_meta(con, "plan_year", str(ref.settings.get("plan_year", 2016)))
    for key, value in config.rule_meta(ref.settings).items():
        set_meta(con, key, value)


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
            probe = _connect_retrying(building, read_only=False, timeout=0)
        except DatabaseLocked:
            waited = True
            probe = _connect_retrying(building, read_only=False, timeout=timeout)
        except DatabaseUnusable:
            pass  # the remains of a build that was killed
        if probe is not None:
            probe.close()
        _remove_db_files(building)
    return _connect_retrying(building, read_only=False, timeout=timeout), waited


def _fill(con: duckdb.DuckDBPyConnection, ref: config.Reference, *, sample: bool, projects: int | None,
          actor: str, progress: Any) -> None:
    """Schema, reference data and (``sample``) the sample plan in one transaction; marks it complete."""
    with transaction(con):
        create_schema(con)
        load_reference(con, ref)
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


def is_sample(con: duckdb.DuckDBPyConnection) -> bool:
    """True when the database holds the synthetic sample plan (示例数据)."""
    return get_meta(con, "is_sample", "0") == "1"


def progress_months(con: duckdb.DuckDBPyConnection) -> list[date]:
    """The months of the plan year that have progress rows, oldest first."""
    year = int(get_meta(con, "plan_year", "2016") or 2016)
    rows = con.execute(
        "select distinct month from progress where year(month) = ? order by month", [year]
    ).fetchall()
    return [r[0] for r in rows]


def fetch(con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> pl.DataFrame:
    """Run a parameterised query and return a polars DataFrame."""
    return con.sql(sql, params=params).pl() if params else con.sql(sql).pl()
