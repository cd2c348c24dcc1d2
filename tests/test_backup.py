"""Backups and restore: a consistent copy while the database is in use, rotation, the backup
kept before each import, and a restore that checks the file and swaps it in atomically."""

from __future__ import annotations

import hashlib
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from portfolio import backup, cli, store
from portfolio.cli import app

runner = CliRunner()


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _sums(path: Path) -> dict[str, tuple[int, int]]:
    with store.connect(path, read_only=True) as con:
        return backup.table_checksums(con)


def _raw(path: Path, *statements: str) -> None:
    con = duckdb.connect(str(path))
    try:
        for sql in statements:
            con.execute(sql)
    finally:
        con.close()


def _change(db: Path, marker: str) -> None:
    with store.connect(db) as con, store.transaction(con):
        store.set_meta(con, "marker", marker)
        con.execute("update projects set name = name || '（改）' where project_id in"
                    " (select project_id from projects order by project_id limit 3)")
        store.audit(con, actor="test", action="update", table="projects", record_id="x")
        store.bump_revision(con)


def _temporaries(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if ".tmp" in p.name)


# ----------------------------------------------------------------------------- backup

def test_backup_writes_a_checked_copy_with_the_same_tables_into_backups(sample_db: Path) -> None:
    before = _sha(sample_db)
    result = runner.invoke(app, ["backup", "--json", "--db", str(sample_db)])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    path = Path(payload["path"])
    assert path.parent == sample_db.parent / "backups"
    assert path.name.startswith("sample-") and path.suffix == ".duckdb"
    assert _sums(path) == _sums(sample_db)
    with store.connect(path, read_only=True) as con:
        assert store.check_schema(con, path) == store.SCHEMA_VERSION
        comments = con.execute("select count(*) from duckdb_columns() where comment is not null"
                               " and table_name = 'projects'").fetchall()
    assert comments[0][0] > 10  # the data dictionary travels with it
    assert _sha(sample_db) == before
    assert _temporaries(sample_db.parent) == []


def test_backup_prints_its_path(empty_db: Path) -> None:
    result = runner.invoke(app, ["backup", "--db", str(empty_db)])
    assert result.exit_code == 0, result.output
    assert Path(result.stdout.strip()).is_file()


def test_a_restored_backup_keeps_counting_audit_ids(sample_db: Path, tmp_path: Path) -> None:
    with store.connect(sample_db) as con:
        for i in range(3):
            store.audit(con, actor="t", action="update", table="projects", record_id=str(i))
    copy = backup.make_backup(sample_db)
    target = tmp_path / "restored.duckdb"
    backup.restore(target, copy)
    with store.connect(target) as con:  # the sequence came along: no duplicate key
        store.audit(con, actor="t", action="update", table="projects", record_id="after")
        ids = con.execute("select count(*), count(distinct audit_id) from audit_log").fetchall()
    assert ids[0][0] == ids[0][1]


@pytest.mark.parametrize("what", ["database", "wal", "existing", "building"])
def test_backup_out_never_writes_over_the_database_its_files_or_an_existing_file(
        sample_db: Path, tmp_path: Path, what: str) -> None:
    existing = tmp_path / "notes.txt"
    existing.write_text("mine", encoding="utf-8")
    target = {"database": sample_db, "wal": store.wal_path(sample_db), "existing": existing,
              "building": sample_db.with_name(sample_db.name + ".building")}[what]
    before = {p.name: _sha(p) for p in tmp_path.iterdir() if p.is_file()}
    result = runner.invoke(app, ["backup", "--out", str(target), "--db", str(sample_db)])
    assert result.exit_code == 2
    assert result.stderr.count("错误") == 1
    assert {p.name: _sha(p) for p in tmp_path.iterdir() if p.is_file()} == before  # nothing new, nothing changed


def test_backup_out_to_a_folder_or_a_new_file(sample_db: Path, tmp_path: Path) -> None:
    stick = tmp_path / "stick"
    stick.mkdir()
    into_folder = runner.invoke(app, ["backup", "--out", str(stick), "--db", str(sample_db)])
    assert into_folder.exit_code == 0, into_folder.output
    named = runner.invoke(app, ["backup", "--out", str(stick / "九月.duckdb"), "--db", str(sample_db)])
    assert named.exit_code == 0, named.output
    written = sorted(stick.iterdir())
    assert [p.name for p in written][-1] == "九月.duckdb"
    assert len(written) == 2
    for path in written:
        assert _sums(path) == _sums(sample_db)
    missing = runner.invoke(app, ["backup", "--out", str(tmp_path / "nowhere" / "x.duckdb"), "--db", str(sample_db)])
    assert missing.exit_code == 2


def test_rotation_keeps_the_newest_backups_of_each_kind(empty_db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(backup.KEEP_ENV, "2")
    before_import = backup.make_backup(empty_db, kind="import")
    made = [backup.make_backup(empty_db) for _ in range(4)]
    kept = backup.list_backups(empty_db)
    assert kept == made[:-3:-1]  # the two newest, newest first
    assert backup.list_backups(empty_db, "import") == [before_import]  # another kind is rotated on its own


def test_a_bad_rotation_setting_is_one_sentence(empty_db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(backup.KEEP_ENV, "lots")
    result = runner.invoke(app, ["backup", "--db", str(empty_db)])
    assert result.exit_code == 2
    assert backup.KEEP_ENV in result.stderr
    assert not (empty_db.parent / "backups").exists()


LEDGER = (
    "项目编号,项目名称,责任单位,建设性质,项目状态,总投资(万元),年度计划投资(万元)\n"
    "CC2016-9001,备份测试项目,JK,新建,在建,5000,1000\n"
)


def test_every_import_keeps_a_backup_of_the_database_before_it(sample_db: Path, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(backup.BEFORE_IMPORT_ENV, raising=False)  # the default: on (conftest turns it off)
    ledger = tmp_path / "ledger.csv"
    ledger.write_text(LEDGER, encoding="utf-8")
    before = _sums(sample_db)
    result = runner.invoke(app, ["ingest", str(ledger), "--json", "--db", str(sample_db)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["inserted"] == 1
    kept = backup.list_backups(sample_db, "import")
    assert len(kept) == 1
    assert kept[0].name.endswith("-before-import.duckdb")
    assert _sums(kept[0]) == before
    assert _sums(sample_db) != before


def test_the_backup_before_import_can_be_turned_off(empty_db: Path, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(backup.BEFORE_IMPORT_ENV, "0")
    assert backup.before_import(empty_db) is None
    assert not (empty_db.parent / "backups").exists()


WRITER = """
import sys, pathlib
from portfolio import store
db, stop = sys.argv[1], pathlib.Path(sys.argv[2])
n = 0
while not stop.exists():
    with store.connect(db) as con, store.transaction(con):
        store.set_meta(con, "writer", str(n))
        store.audit(con, actor="writer", action="update", table="meta", record_id=str(n))
        revision = store.bump_revision(con)
    with store.connect(db, read_only=True) as con:
        con.execute("select count(*), sum(total_investment_wan) from projects").fetchall()
    n += 1
    print(revision, flush=True)
"""


def test_a_backup_taken_while_another_process_writes_is_one_that_restore_accepts(
        sample_db: Path, tmp_path: Path) -> None:
    script = tmp_path / "writer.py"
    script.write_text(WRITER, encoding="utf-8")
    stop = tmp_path / "stop"
    writer = subprocess.Popen([sys.executable, str(script), str(sample_db), str(stop)],
                              stdout=subprocess.PIPE, text=True)
    copies: list[Path] = []
    try:
        assert writer.stdout is not None
        last = 0
        for _ in range(3):
            while int(writer.stdout.readline()) <= last:  # wait until it has written since the last copy
                pass
            copies.append(backup.make_backup(sample_db))
            with store.connect(copies[-1], read_only=True) as con:
                last = int(store.get_meta(con, "revision", "0") or 0)
    finally:
        stop.touch()
        writer.communicate(timeout=120)
    assert writer.returncode == 0
    revisions = set()
    for i, copy in enumerate(copies):
        target = tmp_path / f"restored{i}.duckdb"
        expected = _sums(copy)
        result = runner.invoke(app, ["restore", str(copy), "--yes", "--db", str(target)])
        assert result.exit_code == 0, result.output
        assert _sums(target) == expected
        with store.connect(target, read_only=True) as con:
            revisions.add(store.get_meta(con, "revision"))
    assert len(revisions) == 3  # three moments of a database that kept changing


# ----------------------------------------------------------------------------- restore

def test_restore_round_trip_brings_every_table_back_and_keeps_the_replaced_one(sample_db: Path) -> None:
    original = _sums(sample_db)
    copy = backup.make_backup(sample_db)
    copy_bytes = _sha(copy)
    _change(sample_db, "changed")
    changed = _sums(sample_db)
    assert changed != original
    result = runner.invoke(app, ["restore", str(copy), "--yes", "--db", str(sample_db)])
    assert result.exit_code == 0, result.output
    assert _sums(sample_db) == original
    assert _sha(copy) == copy_bytes  # the user's file is copied, never moved or changed
    kept = backup.list_backups(sample_db, "restore")
    assert len(kept) == 1 and str(kept[0]) in result.stdout
    assert _sums(kept[0]) == changed
    assert _temporaries(sample_db.parent) == []


@pytest.mark.parametrize("kind", ["missing", "text", "foreign", "newer", "half_built", "itself", "wal"])
def test_restore_refuses_a_file_that_is_not_a_usable_portfolio_database(
        sample_db: Path, tmp_path: Path, kind: str) -> None:
    source = tmp_path / "source.duckdb"
    if kind == "text":
        source.write_text("not a database", encoding="utf-8")
    elif kind == "foreign":
        _raw(source, "create table t (x integer)")
    elif kind == "newer":
        source.write_bytes(sample_db.read_bytes())
        _raw(source, f"update meta set value = '{store.SCHEMA_VERSION + 1}' where key = 'schema_version'")
    elif kind == "half_built":
        duckdb.connect(str(source)).close()
    elif kind == "itself":
        source = sample_db
    elif kind == "wal":
        source = store.wal_path(sample_db)
        source.write_bytes(b"\x00" * 64)
    before_db = _sha(sample_db)
    before_source = _sha(source) if source.exists() else None
    result = runner.invoke(app, ["restore", str(source), "--yes", "--db", str(sample_db)])
    assert result.exit_code == 2
    assert result.stderr.count("错误") == 1
    assert "Traceback" not in result.output
    if kind == "wal":
        source.unlink()
    assert _sha(sample_db) == before_db
    if before_source is not None and kind != "wal":
        assert _sha(source) == before_source
    assert _temporaries(sample_db.parent) == []
    assert not (sample_db.parent / "backups").exists()


def test_restore_asks_first_and_refuses_without_a_terminal_or_yes(
        sample_db: Path, empty_db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = _sha(sample_db)
    scripted = runner.invoke(app, ["restore", str(empty_db), "--db", str(sample_db)])
    assert scripted.exit_code == 2
    assert "--yes" in scripted.stderr
    monkeypatch.setattr(cli, "_stdin_is_interactive", lambda: True)
    declined = runner.invoke(app, ["restore", str(empty_db), "--db", str(sample_db)], input="n\n")
    assert declined.exit_code == 1
    assert _sha(sample_db) == before
    assert _temporaries(sample_db.parent) == []
    accepted = runner.invoke(app, ["restore", str(empty_db), "--db", str(sample_db)], input="y\n")
    assert accepted.exit_code == 0, accepted.output
    assert _sums(sample_db) == _sums(empty_db)


@pytest.mark.skipif(store.SCHEMA_VERSION < 2, reason="no older schema version")
def test_restoring_an_older_backup_upgrades_the_copy_and_leaves_the_file_alone(
        sample_db: Path, tmp_path: Path) -> None:
    old = tmp_path / "old.duckdb"
    old.write_bytes(sample_db.read_bytes())
    _raw(old, f"update meta set value = '{store.SCHEMA_VERSION - 1}' where key = 'schema_version'")
    before = _sha(old)
    result = runner.invoke(app, ["restore", str(old), "--yes", "--db", str(sample_db)])
    assert result.exit_code == 0, result.output
    assert _sha(old) == before
    with store.connect(sample_db, read_only=True) as con:
        assert store.get_meta(con, "schema_version") == str(store.SCHEMA_VERSION)


def test_restore_replaces_a_database_duckdb_cannot_open_and_keeps_it(sample_db: Path, tmp_path: Path) -> None:
    copy = backup.make_backup(sample_db, tmp_path / "good.duckdb")
    damaged = sample_db.read_bytes()[:12] + bytes(range(256)) * 64
    sample_db.write_bytes(damaged)
    refused = runner.invoke(app, ["check", "--db", str(sample_db)])
    assert refused.exit_code == 2 and "restore" in refused.stderr
    result = runner.invoke(app, ["restore", str(copy), "--yes", "--db", str(sample_db)])
    assert result.exit_code == 0, result.output
    assert _sums(sample_db) == _sums(copy)
    assert [p.read_bytes() for p in backup.list_backups(sample_db, "restore")] == [damaged]


# ----------------------------------------------------------------------------- kill -9

def _cli(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "portfolio.cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _kill_when_temporary_appears(proc: subprocess.Popen[str], folder: Path, delay: float) -> None:
    deadline = time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < deadline:
        if folder.is_dir() and any(p.name.endswith(".tmp") for p in folder.iterdir()):
            break
        time.sleep(0.002)
    time.sleep(delay)
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)


@pytest.mark.parametrize("delay", [0.0, 0.1, 0.3])
def test_kill_9_during_backup_leaves_the_database_as_it_was_and_no_broken_backup(
        sample_db: Path, delay: float) -> None:
    before = _sha(sample_db)
    proc = _cli("backup", "--db", str(sample_db))
    folder = sample_db.parent / "backups"
    _kill_when_temporary_appears(proc, folder, delay)
    assert _sha(sample_db) == before
    for copy in backup.list_backups(sample_db):  # a backup's name is only ever given to a whole one
        assert _sums(copy) == _sums(sample_db)
    again = runner.invoke(app, ["backup", "--db", str(sample_db)])
    assert again.exit_code == 0, again.output
    assert _temporaries(folder) == []  # the killed one's temporary file is cleared


@pytest.mark.parametrize("delay", [0.0, 0.2, 0.5])
def test_kill_9_during_restore_leaves_the_old_database_or_the_new_one(
        sample_db: Path, empty_db: Path, delay: float) -> None:
    old, new = _sums(sample_db), _sums(empty_db)
    proc = _cli("restore", str(empty_db), "--yes", "--db", str(sample_db))
    _kill_when_temporary_appears(proc, sample_db.parent, delay)
    assert _sums(sample_db) in (old, new)  # opens, passes every check, and is one or the other
    again = runner.invoke(app, ["restore", str(empty_db), "--yes", "--db", str(sample_db)])
    assert again.exit_code == 0, again.output
    assert _sums(sample_db) == new
    assert _temporaries(sample_db.parent) == []
