"""Hostile database paths: every open is checked, nothing is written into what is not ours.

Each refused kind of ``--db`` (a text file, an xlsx, an empty file, a folder, a read-only file
for a write, another program's DuckDB database, a newer schema, a half-built database, a
damaged one) across the commands: exit 2, one sentence on stderr, no traceback, and the file
(or folder) byte-identical afterwards. Then ``init``: it never writes into something foreign,
recovers a half-built file, builds beside the path, and ``--force`` swaps under the writers'
lock; kill -9 during ``init`` leaves the old database or the new one, never a broken one.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import duckdb
import openpyxl
import pytest
from click.testing import Result
from typer.testing import CliRunner

from portfolio import backup, store
from portfolio.cli import app

runner = CliRunner()


# ----------------------------------------------------------------------------- helpers

def _snapshot(path: Path) -> dict[str, str]:
    """sha-256 of the path (a file, or every file under a folder), its WAL and build files."""
    found: dict[str, str] = {}
    candidates = [path, store.wal_path(path), path.with_name(path.name + ".building")]
    for p in candidates:
        if p.is_file():
            found[p.name] = hashlib.sha256(p.read_bytes()).hexdigest()
        elif p.is_dir():
            for q in sorted(p.rglob("*")):
                found[str(q.relative_to(path.parent))] = hashlib.sha256(q.read_bytes()).hexdigest() if q.is_file() else "dir"
    found["mode"] = oct(path.stat().st_mode)
    return found


def _folder_listing(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def _raw(path: Path, *statements: str) -> None:
    """Write with DuckDB directly, as another program (or an earlier version) would."""
    con = duckdb.connect(str(path))
    try:
        for sql in statements:
            con.execute(sql)
    finally:
        con.close()


def _text_file(folder: Path, _db: Path) -> Path:
    path = folder / "ledger.txt"
    path.write_text("项目编号,项目名称\nCC-1,测试\n", encoding="utf-8")
    return path


def _xlsx_file(folder: Path, _db: Path) -> Path:
    path = folder / "ledger.xlsx"
    wb = openpyxl.Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(["项目编号", "项目名称"])
    ws.append(["CC-1", "测试"])
    wb.save(path)
    return path


def _empty_file(folder: Path, _db: Path) -> Path:
    path = folder / "empty.duckdb"
    path.touch()
    return path


def _directory(folder: Path, _db: Path) -> Path:
    path = folder / "folder.duckdb"
    path.mkdir()
    (path / "notes.txt").write_text("keep me", encoding="utf-8")
    return path


def _foreign_duckdb(folder: Path, _db: Path) -> Path:
    path = folder / "crm.duckdb"
    _raw(path, "create table customers (id integer primary key, name varchar)",
         "insert into customers values (1, '张三'), (2, '李四')")
    return path


def _newer_schema(folder: Path, db: Path) -> Path:
    path = folder / "newer.duckdb"
    shutil.copy(db, path)
    _raw(path, f"update meta set value = '{store.SCHEMA_VERSION + 1}' where key = 'schema_version'")
    return path


def _half_built(folder: Path, _db: Path) -> Path:
    """What a kill -9 during the first ``init`` of the earlier code left: DuckDB's header, no tables."""
    path = folder / "half.duckdb"
    script = (
        "import duckdb, os, sys\n"
        "con = duckdb.connect(sys.argv[1])\n"
        "con.execute('begin transaction')\n"
        "con.execute('create table meta (key varchar primary key, value varchar)')\n"
        "con.execute(\"insert into meta values ('schema_version', '1')\")\n"
        "os._exit(9)\n"
    )
    subprocess.run([sys.executable, "-c", script, str(path)], check=False, timeout=60)
    assert path.stat().st_size > 0
    return path


def _damaged(folder: Path, _db: Path) -> Path:
    path = folder / "damaged.duckdb"
    path.write_bytes(b"\x00" * 8 + b"DUCK" + bytes(range(256)) * 64)
    return path


KINDS: dict[str, tuple[Callable[[Path, Path], Path], str]] = {
    "text": (_text_file, "不是 DuckDB"),
    "xlsx": (_xlsx_file, "不是 DuckDB"),
    "empty": (_empty_file, "空文件"),
    "directory": (_directory, "文件夹"),
    "foreign": (_foreign_duckdb, "不是项目库"),
    "newer": (_newer_schema, "新"),
    "half_built": (_half_built, "中断"),
    "damaged": (_damaged, "无法打开"),
}


@pytest.fixture
def ledger_csv(tmp_path: Path) -> Path:
    path = tmp_path / "input" / "ledger.csv"
    path.parent.mkdir()
    path.write_text(
        "项目编号,项目名称,责任单位,建设性质,项目状态,总投资(万元),年度计划投资(万元)\n"
        "CC2016-9001,测试项目,JK,新建,在建,5000,1000\n",
        encoding="utf-8",
    )
    return path


@pytest.fixture
def case_dir(tmp_path: Path) -> Path:
    path = tmp_path / "case"
    path.mkdir()
    return path


def _commands(tmp_path: Path, ledger: Path) -> dict[str, list[str]]:
    return {
        "check": ["check"],
        "gaps": ["gaps"],
        "report": ["report", "--out", str(tmp_path / "reports")],
        "sql": ["sql", "select count(*) from projects"],
        "ingest": ["ingest", str(ledger)],
        "init": ["init"],
        "init --force": ["init", "--force"],
        "user list": ["user", "list"],
        "user add": ["user", "add", "a@b.cn", "--role", "viewer"],
        "backup": ["backup"],
    }


def _assert_one_sentence_refusal(result: Result, *, expect: str) -> None:
    stderr = result.stderr
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    errors = [line for line in stderr.splitlines() if line.startswith("错误")]  # progress lines may precede it
    assert len(errors) == 1, stderr
    assert expect in errors[0]
    assert errors[0].rstrip().endswith("。")


# ------------------------------------------------- every refused kind, every command

@pytest.mark.parametrize("command", ["check", "gaps", "report", "sql", "ingest", "init", "init --force",
                                     "user list", "user add", "backup"])
@pytest.mark.parametrize("kind", list(KINDS))
def test_a_hostile_db_path_is_refused_with_one_sentence_and_left_byte_identical(
        kind: str, command: str, empty_db: Path, case_dir: Path, tmp_path: Path, ledger_csv: Path) -> None:
    make, expect = KINDS[kind]
    if kind == "half_built" and command.startswith("init"):
        pytest.skip("init recovers a half-built database (tested below)")
    target = make(case_dir, empty_db)
    before = _snapshot(target)
    listing = _folder_listing(case_dir)
    result = runner.invoke(app, [*_commands(tmp_path, ledger_csv)[command], "--db", str(target)])
    _assert_one_sentence_refusal(result, expect=expect)
    assert _snapshot(target) == before
    assert _folder_listing(case_dir) == listing  # no WAL, no build file, no backups folder


@pytest.mark.parametrize("kind", ["text", "foreign", "newer", "half_built", "directory"])
def test_a_hostile_db_path_is_refused_by_a_real_process_without_a_traceback(
        kind: str, empty_db: Path, case_dir: Path) -> None:
    make, expect = KINDS[kind]
    target = make(case_dir, empty_db)
    before = _snapshot(target)
    proc = subprocess.run([sys.executable, "-m", "portfolio.cli", "check", "--db", str(target)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert expect in proc.stderr
    assert _snapshot(target) == before


@pytest.mark.parametrize("kind", ["text", "foreign", "newer", "half_built"])
def test_restore_never_replaces_what_is_not_a_portfolio_database(
        kind: str, empty_db: Path, case_dir: Path, tmp_path: Path) -> None:
    make, _ = KINDS[kind]
    target = make(case_dir, empty_db)
    before = _snapshot(target)
    result = runner.invoke(app, ["restore", str(empty_db), "--yes", "--db", str(target)])
    if kind == "half_built":  # nothing to lose: the backup takes its place
        assert result.exit_code == 0, result.output
        with store.connect(target, read_only=True) as con:
            assert store.get_meta(con, "init_complete") == "1"
        return
    assert result.exit_code == 2
    assert _snapshot(target) == before
    assert [p.name for p in case_dir.iterdir() if p.name.endswith(".tmp")] == []


# --------------------------------------------------------------- read-only files

@pytest.fixture
def read_only_db(sample_db: Path) -> Path:
    sample_db.chmod(0o444)
    return sample_db


@pytest.mark.parametrize("args", [["init"], ["init", "--force"], ["user", "add", "a@b.cn", "--role", "viewer"],
                                  ["ingest", "LEDGER"], ["restore", "BACKUP", "--yes"]])
def test_a_read_only_database_is_refused_for_a_write_and_left_byte_identical(
        read_only_db: Path, args: list[str], ledger_csv: Path, empty_db: Path) -> None:
    args = [str(ledger_csv) if a == "LEDGER" else str(empty_db) if a == "BACKUP" else a for a in args]
    before = _snapshot(read_only_db)
    result = runner.invoke(app, [*args, "--db", str(read_only_db)])
    _assert_one_sentence_refusal(result, expect="只读")
    assert _snapshot(read_only_db) == before


@pytest.mark.parametrize("args", [["check", "--json"], ["gaps", "--json"], ["sql", "select count(*) from projects"],
                                  ["user", "list"], ["backup"]])
def test_a_read_only_database_still_serves_readers(read_only_db: Path, args: list[str]) -> None:
    before = _snapshot(read_only_db)
    result = runner.invoke(app, [*args, "--db", str(read_only_db)])
    assert result.exit_code in (0, 1), result.output
    assert _snapshot(read_only_db) == before


def test_an_unreadable_database_is_refused_and_left_alone(sample_db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # root reads everything, so the permission check is exercised through os.access
    real_access = os.access

    def access(path: object, mode: int, *args: object, **kwargs: object) -> bool:
        if Path(str(path)) == sample_db and mode & os.R_OK:
            return False
        return real_access(path, mode, *args, **kwargs)  # type: ignore[arg-type]

    before = _snapshot(sample_db)
    monkeypatch.setattr(os, "access", access)
    result = runner.invoke(app, ["check", "--db", str(sample_db)])
    _assert_one_sentence_refusal(result, expect="没有权限")
    assert _snapshot(sample_db) == before


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read a file of mode 000")
def test_a_file_without_read_permission_is_refused(sample_db: Path) -> None:
    sample_db.chmod(0)
    try:
        result = runner.invoke(app, ["check", "--db", str(sample_db)])
        _assert_one_sentence_refusal(result, expect="没有权限")
    finally:
        sample_db.chmod(stat.S_IRUSR | stat.S_IWUSR)


# ------------------------------------------------------------ the checked open itself

def test_no_module_opens_duckdb_files_without_the_checked_open() -> None:
    root = Path(__file__).resolve().parents[1]
    offenders = []
    sources = [*(root / "portfolio").rglob("*.py"), *(root / "app_pages").rglob("*.py"),
               *(root / "benchmarks").rglob("*.py"), root / "app.py"]
    for path in sorted(sources):
        if path.relative_to(root).as_posix() == "portfolio/store/connection.py":  # the checked open itself
            continue
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if "duckdb.connect(" in line and '":memory:"' not in line and "':memory:'" not in line:
                offenders.append(f"{path.relative_to(root)}:{n}")
    assert offenders == []


def test_the_sql_sandbox_goes_through_the_same_checks(case_dir: Path, empty_db: Path) -> None:
    from portfolio import sandbox

    target = _foreign_duckdb(case_dir, empty_db)
    before = _snapshot(target)
    with pytest.raises(store.ForeignDatabase, match="不是项目库"):
        sandbox.run_query(target, "select * from customers")
    assert _snapshot(target) == before


def test_a_foreign_database_with_a_left_over_wal_is_not_replayed_into_its_file(case_dir: Path) -> None:
    target = case_dir / "crm.duckdb"
    script = (
        "import duckdb, os, sys\n"
        "con = duckdb.connect(sys.argv[1])\n"
        "con.execute('create table customers (id integer)')\n"
        "con.execute('checkpoint')\n"
        "con.execute(\"set wal_autocheckpoint = '1GB'\")\n"
        "con.execute('insert into customers values (1)')\n"
        "os._exit(0)\n"
    )
    subprocess.run([sys.executable, "-c", script, str(target)], check=True, timeout=60)
    assert store.wal_path(target).exists()
    before = _snapshot(target)
    with pytest.raises(store.ForeignDatabase):
        store.open_connection(target)  # a write open would replay the WAL into the file on close
    assert _snapshot(target) == before


def test_every_refusal_is_a_store_error_subclass_of_database_unusable() -> None:
    for cls in (store.DatabaseIsDirectory, store.EmptyDatabaseFile, store.NotDuckDBFile, store.DatabaseUnreadable,
                store.DatabaseReadOnly, store.ForeignDatabase, store.NewerSchema, store.HalfBuiltDatabase,
                store.DatabaseBroken):
        assert issubclass(cls, store.DatabaseUnusable)
        assert issubclass(cls, store.StoreError)


def test_a_database_without_init_complete_counts_as_complete(empty_db: Path) -> None:
    _raw(empty_db, "delete from meta where key = 'init_complete'")  # made before the key existed
    with store.connect(empty_db, read_only=True) as con:
        assert store.check_schema(con, empty_db) == store.SCHEMA_VERSION


def test_a_database_whose_init_did_not_finish_is_half_built(empty_db: Path) -> None:
    _raw(empty_db, "update meta set value = '0' where key = 'init_complete'")
    with pytest.raises(store.HalfBuiltDatabase):
        store.open_connection(empty_db, read_only=True)


def _make_older(path: Path) -> None:
    """Turn a current database into one of the previous schema version (as the older code left it)."""
    con = duckdb.connect(str(path))
    try:
        views = [r[0] for r in con.execute("select view_name from duckdb_views() where not internal").fetchall()]
        for view in views:
            con.execute(f"drop view {view}")
        tables = {r[0] for r in con.execute("select table_name from duckdb_tables()").fetchall()}
        if "batches" in tables:  # schema 2 added batches and audit_log.batch_id
            con.execute("drop table batches")
            con.execute("alter table audit_log drop column batch_id")
        con.execute(f"update meta set value = '{store.SCHEMA_VERSION - 1}' where key = 'schema_version'")
        con.execute("delete from meta where key = 'init_complete'")
    finally:
        con.close()


@pytest.mark.skipif(store.SCHEMA_VERSION < 2, reason="no older schema version to upgrade from")
def test_an_older_schema_is_upgraded_in_place_once_by_any_open(empty_db: Path) -> None:
    _make_older(empty_db)
    with store.connect(empty_db, read_only=True) as con:  # a reader: upgraded through a short write open
        assert store.get_meta(con, "schema_version") == str(store.SCHEMA_VERSION)
        upgrades = con.execute("select count(*) from audit_log where action = 'upgrade'").fetchall()
        views = con.execute("select count(*) from duckdb_views() where not internal").fetchall()
    assert upgrades == [(1,)]
    assert views[0][0] > 0
    with store.connect(empty_db) as con:  # idempotent: a second open changes nothing
        assert con.execute("select count(*) from audit_log where action = 'upgrade'").fetchall() == [(1,)]
        store.audit(con, actor="t", action="insert", table="projects", record_id="X")


@pytest.mark.skipif(store.SCHEMA_VERSION < 2, reason="no older schema version to upgrade from")
def test_an_older_read_only_database_is_refused_not_half_upgraded(empty_db: Path) -> None:
    _make_older(empty_db)
    empty_db.chmod(0o444)
    before = _snapshot(empty_db)
    with pytest.raises(store.DatabaseReadOnly, match="升级"):
        store.open_connection(empty_db, read_only=True)
    assert _snapshot(empty_db) == before


# ----------------------------------------------------------------------------- init

@pytest.mark.parametrize("kind", ["text", "xlsx", "foreign", "newer"])
@pytest.mark.parametrize("force", [False, True])
def test_init_never_writes_into_something_foreign(kind: str, force: bool, empty_db: Path, case_dir: Path) -> None:
    make, expect = KINDS[kind]
    target = make(case_dir, empty_db)
    before = _snapshot(target)
    result = runner.invoke(app, ["init", "--sample", *(["--force"] if force else []), "--db", str(target)])
    _assert_one_sentence_refusal(result, expect=expect)
    assert _snapshot(target) == before
    assert sorted(p.name for p in case_dir.iterdir()) == [target.name]


@pytest.mark.parametrize("sample", [False, True])
def test_init_recovers_a_half_built_database_without_force(sample: bool, case_dir: Path, empty_db: Path) -> None:
    target = _half_built(case_dir, empty_db)
    result = runner.invoke(app, ["init", *(["--sample"] if sample else []), "--db", str(target)])
    assert result.exit_code == 0, result.output
    assert "未完成" in result.stdout
    with store.connect(target, read_only=True) as con:
        assert store.get_meta(con, "init_complete") == "1"
        assert con.execute("select count(*) > 0 from projects").fetchall() == [(sample,)]
    assert sorted(p.name for p in case_dir.iterdir()) == [target.name]  # no backup of an empty file


def test_init_keeps_a_database_and_refreshes_it_without_force(sample_db: Path) -> None:
    with store.connect(sample_db) as con:
        store.set_meta(con, "marker", "kept")
    result = runner.invoke(app, ["init", "--db", str(sample_db)])
    assert result.exit_code == 0, result.output
    assert "已更新参考配置" in result.stdout
    with store.connect(sample_db, read_only=True) as con:
        assert store.get_meta(con, "marker") == "kept"
    refused = runner.invoke(app, ["init", "--sample", "--db", str(sample_db)])
    assert refused.exit_code == 2
    assert "--force" in refused.stderr


def test_init_force_keeps_the_replaced_database_as_a_backup(sample_db: Path) -> None:
    with store.connect(sample_db, read_only=True) as con:
        old = backup.table_checksums(con)
    result = runner.invoke(app, ["init", "--force", "--db", str(sample_db)])
    assert result.exit_code == 0, result.output
    kept = backup.list_backups(sample_db, "init")
    assert len(kept) == 1
    assert str(kept[0]) in result.stdout
    with store.connect(kept[0], read_only=True) as con:
        assert backup.table_checksums(con) == old
    with store.connect(sample_db, read_only=True) as con:
        assert con.execute("select count(*) from projects").fetchall() == [(0,)]
    assert sorted(p.name for p in sample_db.parent.iterdir()) == ["backups", sample_db.name]


def test_init_creates_the_folders_of_a_new_database(case_dir: Path) -> None:
    target = case_dir / "var" / "lib" / "portfolio.duckdb"
    result = runner.invoke(app, ["init", "--db", str(target)])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in target.parent.iterdir()) == [target.name]


def test_a_stale_build_file_is_removed_by_the_next_init(case_dir: Path) -> None:
    target = case_dir / "portfolio.duckdb"
    building = target.with_name(target.name + ".building")
    building.write_bytes(b"half of something")
    store.wal_path(building).write_bytes(b"junk")
    result = runner.invoke(app, ["init", "--db", str(target)])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in case_dir.iterdir()) == [target.name]
    with store.connect(target, read_only=True) as con:
        assert store.get_meta(con, "init_complete") == "1"


def test_a_first_init_builds_beside_the_path_and_never_leaves_a_file_there_on_failure(
        case_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = case_dir / "portfolio.duckdb"

    def boom(*_args: object, **_kwargs: object) -> None:
        assert not target.exists()  # while building, the path is still free
        assert target.with_name(target.name + ".building").exists()
        raise RuntimeError("killed")

    monkeypatch.setattr(store.build, "load_reference", boom)
    with pytest.raises(RuntimeError):
        store.init_db(target)
    assert list(case_dir.iterdir()) == []


HOLD_WRITER = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1])
con.execute("insert into meta values ('writer', 'landed')")
print("holding", flush=True)
time.sleep(float(sys.argv[2]))
con.close()
"""


def test_init_force_waits_for_a_writer_and_keeps_its_write_in_the_backup(sample_db: Path, tmp_path: Path) -> None:
    script = tmp_path / "hold.py"
    script.write_text(HOLD_WRITER, encoding="utf-8")
    holder = subprocess.Popen([sys.executable, str(script), str(sample_db), "2"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "holding"
        result = store.build_database(sample_db, force=True, timeout=60)
    finally:
        holder.wait(timeout=60)
    assert holder.returncode == 0
    assert result.backup is not None
    with store.connect(result.backup, read_only=True) as con:
        assert store.get_meta(con, "writer") == "landed"
    with store.connect(sample_db, read_only=True) as con:
        assert store.get_meta(con, "writer") is None


WAL_WRITER = """
import os, sys, duckdb
con = duckdb.connect(sys.argv[1])
con.execute("set wal_autocheckpoint = '1GB'")
con.execute("insert into meta values ('after_swap', 'landed')")
os._exit(0)  # the commit stays in the WAL, as after a crash
"""


def test_closing_the_old_connection_after_the_swap_never_touches_the_new_files_wal(
        sample_db: Path, empty_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # restore closes the staged copy before the swap, so a writer can open the new file while
    # the old connection (holding the old file's lock) is still open; its WAL must survive the close
    script = tmp_path / "wal_writer.py"
    script.write_text(WAL_WRITER, encoding="utf-8")
    real_replace = os.replace
    seen: dict[str, bytes] = {}

    def replace_then_write(src: object, dst: object) -> None:
        real_replace(src, dst)  # type: ignore[arg-type]
        if Path(str(dst)) == sample_db:
            subprocess.run([sys.executable, str(script), str(sample_db)], check=True, timeout=120)
            seen["wal"] = store.wal_path(sample_db).read_bytes()

    staged = backup.stage_restore(sample_db, empty_db)
    monkeypatch.setattr(backup.os, "replace", replace_then_write)
    backup.finish_restore(staged)
    monkeypatch.undo()
    assert seen["wal"]
    assert store.wal_path(sample_db).read_bytes() == seen["wal"]  # untouched by the close
    with store.connect(sample_db, read_only=True) as con:
        assert store.get_meta(con, "after_swap") == "landed"
        assert con.execute("select count(*) from projects").fetchall() == [(0,)]  # the restored file


def _ledger(path: Path, project_id: str) -> Path:
    path.write_text(
        "项目编号,项目名称,责任单位,建设性质,项目状态,总投资(万元),年度计划投资(万元)\n"
        f"{project_id},竞态测试项目,JK,新建,在建,5000,1000\n",
        encoding="utf-8",
    )
    return path


def _cli(*args: str) -> subprocess.Popen[str]:
    env = {**os.environ, backup.BEFORE_IMPORT_ENV: "1"}  # as deployed: imports keep a backup first
    return subprocess.Popen([sys.executable, "-m", "portfolio.cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


@pytest.mark.parametrize("stagger", [0.0, 0.8, 1.6])
def test_an_import_during_init_force_lands_in_the_backup_or_in_the_new_database(
        sample_db: Path, tmp_path: Path, stagger: float) -> None:
    ledger = _ledger(tmp_path / "race.csv", "RACE-0001")
    init = _cli("init", "--sample", "--force", "--db", str(sample_db))
    time.sleep(stagger)
    ingest = _cli("ingest", str(ledger), "--json", "--db", str(sample_db))
    init_out, init_err = init.communicate(timeout=300)
    ingest_out, ingest_err = ingest.communicate(timeout=300)
    assert init.returncode == 0, init_err
    assert ingest.returncode == 0, ingest_err
    assert json.loads(ingest_out)["inserted"] == 1
    places = [sample_db, *backup.list_backups(sample_db, "init")]
    found = []
    for place in places:
        with store.connect(place, read_only=True) as con:
            found += con.execute("select project_id from projects where project_id = 'RACE-0001'").fetchall()
    assert found == [("RACE-0001",)]  # reported inserted, so it is exactly somewhere we keep


def _kill_when(proc: subprocess.Popen[str], appeared: Path, delay: float) -> None:
    deadline = time.monotonic() + 120
    while not appeared.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    time.sleep(delay)
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)


@pytest.mark.parametrize("delay", [0.0, 0.3, 0.8])
def test_kill_9_during_the_first_init_leaves_no_database_or_a_complete_one(case_dir: Path, delay: float) -> None:
    target = case_dir / "portfolio.duckdb"
    proc = _cli("init", "--sample", "--db", str(target))
    _kill_when(proc, target.with_name(target.name + ".building"), delay)
    if target.exists():
        with store.connect(target, read_only=True) as con:
            assert con.execute("select count(*) from projects").fetchall() == [(1004,)]
    result = runner.invoke(app, ["init", "--sample", "--force", "--db", str(target)])
    assert result.exit_code == 0, result.output
    assert not target.with_name(target.name + ".building").exists()
    with store.connect(target, read_only=True) as con:
        assert con.execute("select count(*) from projects").fetchall() == [(1004,)]


@pytest.mark.parametrize("delay", [0.0, 0.5, 1.0])
def test_kill_9_during_init_force_leaves_the_old_database_or_the_new_one(sample_db: Path, delay: float) -> None:
    with store.connect(sample_db) as con:
        store.set_meta(con, "marker", "old")
    with store.connect(sample_db, read_only=True) as con:
        old = backup.table_checksums(con)
    proc = _cli("init", "--force", "--db", str(sample_db))
    _kill_when(proc, sample_db.with_name(sample_db.name + ".building"), delay)
    with store.connect(sample_db, read_only=True) as con:  # opens and passes every check
        marker = store.get_meta(con, "marker")
        sums = backup.table_checksums(con)
        projects = con.execute("select count(*) from projects").fetchall()[0][0]
    if marker == "old":
        assert sums == old
    else:
        assert (marker, projects) == (None, 0)
