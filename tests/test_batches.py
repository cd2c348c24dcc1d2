"""Import and edit batches: listed with their counts, undone exactly, refused when a row changed since.

Checksums: every table of the database, as ``count(*)`` and ``sum(hash(columns))`` per table.
An undo legitimately adds to ``audit_log`` and ``batches`` (the undo is recorded as a batch of
its own) and raises the data revision in ``meta``; and it moves the bookkeeping columns on as
any edit does (``projects.version`` + 1, ``updated_at`` / ``updated_by`` name the undo). So the
"back to before" comparisons leave out those two tables, meta's revision and those columns;
the "nothing changed" comparisons after a refusal leave out nothing at all.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pytest

from portfolio import access, batches, edits, ingest, store

ADMIN = access.User("a@gxj.cn", "admin", name="管理员甲")
BUREAU = access.User("b@gxj.cn", "bureau", name="王科长")
UNIT_QK = access.User("q@qk.cn", "unit", unit_id="QK")
VIEWER = access.User("v@gxj.cn", "viewer")
GROWING = {"audit_log", "batches"}

Sums = dict[str, tuple[Any, ...]]


def checksums(db: Path, *, everything: bool = False) -> Sums:
    """Per table: row count and the sum of row hashes (see the module docstring for what is left out)."""
    with store.connect(db, read_only=True) as con:
        columns = con.execute(
            "select table_name, list(column_name order by column_index) from duckdb_columns()"
            " where schema_name = 'main' and table_name in"
            " (select table_name from duckdb_tables() where schema_name = 'main') group by all").fetchall()
        out: Sums = {}
        for table, cols in columns:
            if not everything and table in GROWING:
                continue
            keep = cols if everything else [c for c in cols if c not in batches.BOOKKEEPING]
            where = "" if everything or table != "meta" else " where key <> 'revision'"
            out[table] = con.execute(
                f"select count(*), sum(hash({', '.join(f'{chr(34)}{c}{chr(34)}' for c in keep)}))"
                f" from {table}{where}").fetchall()[0]
    return out


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "portfolio.cli", *args], capture_output=True, text=True,
                          timeout=300)


def write_projects_ledger(db: Path, path: Path) -> Path:
    """40 existing projects changed in several columns (one leader blanked), and 10 new ones."""
    with store.connect(db, read_only=True) as con:
        rows = store.fetch(con, """
            select project_id, name, unit_id, nature, status, total_investment_wan, annual_plan_wan,
                   start_date, leader, note
            from projects order by project_id limit 40""")
    changed = rows.with_columns(
        (pl.col("total_investment_wan") + Decimal("0.01")).alias("total_investment_wan"),
        pl.lit("导入修改").alias("note"),
        pl.when(pl.int_range(pl.len()) == 0).then(None).otherwise(pl.col("leader")).alias("leader"),
        pl.when(pl.int_range(pl.len()) == 1).then(pl.lit("2016-02-01").str.to_date())
        .otherwise(pl.col("start_date")).alias("start_date"),
    )
    new = rows.head(10).with_columns((pl.lit("NEW/") + pl.col("project_id")).alias("project_id"))
    ledger = pl.concat([changed, new]).with_columns(pl.col(pl.Decimal).cast(pl.String))
    headers = {"project_id": "项目编号", "name": "项目名称", "unit_id": "责任单位", "nature": "建设性质",
               "status": "项目状态", "total_investment_wan": "总投资(万元)",
               "annual_plan_wan": "年度计划投资(万元)", "start_date": "开工时间", "leader": "包保领导",
               "note": "备注"}
    ledger.rename(headers).write_csv(path)
    return path


def write_progress_ledger(db: Path, path: Path) -> Path:
    """30 stored September rows with new amounts, and 20 October rows that are new."""
    with store.connect(db, read_only=True) as con:
        sept = store.fetch(con, "select project_id, strftime(month, '%Y-%m') as month, completed_wan, problems"
                                " from progress where month = date '2016-09-01' order by project_id limit 30")
    ledger = pl.concat([
        sept.with_columns((pl.col("completed_wan") * 2).alias("completed_wan"), pl.lit("新问题").alias("problems")),
        sept.head(20).with_columns(pl.lit("2016-10").alias("month")),
    ]).with_columns(pl.col("completed_wan").cast(pl.String))
    ledger.rename({"project_id": "项目编号", "month": "月份", "completed_wan": "本月完成投资(万元)",
                   "problems": "存在问题"}).write_csv(path)
    return path


@pytest.fixture
def projects_ledger(sample_db: Path, tmp_path: Path) -> Path:
    return write_projects_ledger(sample_db, tmp_path / "项目台账.csv")


# --------------------------------------------------------------------------- undo of an import


@pytest.mark.parametrize("kind", ["projects", "progress"])
def test_undo_of_an_import_brings_every_table_back_to_its_checksums(sample_db: Path, tmp_path: Path,
                                                                    kind: str) -> None:
    write = write_projects_ledger if kind == "projects" else write_progress_ledger
    ledger = write(sample_db, tmp_path / f"{kind}.csv")
    before = checksums(sample_db)
    result = ingest.ingest_file(sample_db, ledger, user=BUREAU)
    assert result.inserted and result.updated and result.batch
    after_import = checksums(sample_db)
    assert after_import[kind] != before[kind]
    with store.connect(sample_db) as con:
        done = batches.undo(con, result.batch, user=BUREAU)
    assert (done.undone_batch, done.restored, done.deleted, done.reinserted) == (
        result.batch, result.updated, result.inserted, 0)
    assert checksums(sample_db) == before


def test_undo_restores_exact_values_and_bumps_the_version_and_revision(sample_db: Path,
                                                                       projects_ledger: Path) -> None:
    query = ("select project_id, total_investment_wan, leader, start_date, note, version from projects"
             " where project_id in (select project_id from projects order by project_id limit 2) order by 1")
    with store.connect(sample_db, read_only=True) as con:
        before = con.execute(query).fetchall()
    result = ingest.ingest_file(sample_db, projects_ledger, user=BUREAU)
    with store.connect(sample_db) as con:
        assert con.execute(query).fetchall() != before
        revision = int(store.get_meta(con, "revision") or 0)
        done = batches.undo(con, result.batch, user=BUREAU)
        restored = con.execute(query).fetchall()
        who = con.execute("select distinct updated_by from projects where project_id in"
                          " (select record_id from audit_log where batch_id = ?)", [done.batch]).fetchall()
    assert [r[:5] for r in restored] == [r[:5] for r in before]
    assert before[0][2] is not None  # the blanked leader is back
    assert [r[5] for r in restored] == [r[5] + 2 for r in before]  # the import and the undo
    assert done.revision == revision + 1
    assert who == [(BUREAU.label,)]


def test_an_undo_refused_because_a_row_changed_since_changes_nothing(sample_db: Path,
                                                                     projects_ledger: Path) -> None:
    result = ingest.ingest_file(sample_db, projects_ledger, user=BUREAU)
    first = "CC2016-0001"
    with store.connect(sample_db) as con:
        row = edits.get_project(con, first)
        assert row is not None
        edits.update_project(con, first, {"note": "之后的修改"}, expected_version=row["version"], user=BUREAU)
    before = checksums(sample_db, everything=True)
    done = run_cli("undo", str(result.batch), "--db", str(sample_db))
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    message = done.stderr.strip()
    assert message.count("\n") == 0
    assert f"批次 {result.batch} 写入的 1 行此后已被修改或删除（projects：{first}）" in message
    assert "nothing undone" in message and f"批次 {result.batch + 1}" in message
    assert checksums(sample_db, everything=True) == before


def test_an_undo_is_refused_for_a_row_deleted_since(sample_db: Path, projects_ledger: Path) -> None:
    result = ingest.ingest_file(sample_db, projects_ledger, user=BUREAU)
    with store.connect(sample_db) as con:
        con.execute("delete from projects where project_id = 'CC2016-0002'")
    before = checksums(sample_db, everything=True)
    with store.connect(sample_db) as con, pytest.raises(
            batches.UndoRefused, match=r"1 行此后已被修改或删除（projects：CC2016-0002）"):
        batches.undo(con, result.batch, user=BUREAU)
    assert checksums(sample_db, everything=True) == before


def test_undo_of_an_undo_restores_the_import(sample_db: Path, projects_ledger: Path) -> None:
    result = ingest.ingest_file(sample_db, projects_ledger, user=BUREAU)
    after_import = checksums(sample_db)
    with store.connect(sample_db) as con:
        undone = batches.undo(con, result.batch, user=BUREAU)
        redone = batches.undo(con, undone.batch, user=ADMIN)
        versions = con.execute("select min(version) from projects where project_id like 'NEW/%'").fetchall()
    assert (redone.undone_batch, redone.restored, redone.reinserted, redone.deleted) == (
        undone.batch, result.updated, result.inserted, 0)
    assert checksums(sample_db) == after_import
    assert versions == [(2,)]  # a re-inserted project does not come back at a version a stale form knew
    with store.connect(sample_db) as con:  # and the redo can be undone again
        again = batches.undo(con, redone.batch, user=BUREAU)
    assert again.deleted == result.inserted


def test_a_batch_cannot_be_undone_twice(sample_db: Path, projects_ledger: Path) -> None:
    result = ingest.ingest_file(sample_db, projects_ledger, user=BUREAU)
    with store.connect(sample_db) as con:
        undone = batches.undo(con, result.batch, user=BUREAU)
    before = checksums(sample_db, everything=True)
    with store.connect(sample_db) as con:
        with pytest.raises(batches.UndoRefused, match=f"已被批次 {undone.batch} 撤销"):
            batches.undo(con, result.batch, user=BUREAU)
        with pytest.raises(batches.UndoRefused, match="不存在"):
            batches.undo(con, 999_999, user=BUREAU)
        init = con.execute("select batch_id from batches where kind = 'init'").fetchall()
        assert init
        with pytest.raises(batches.UndoRefused, match="不能撤销"):
            batches.undo(con, init[0][0], user=BUREAU)
    assert checksums(sample_db, everything=True) == before


@pytest.mark.parametrize("user", [VIEWER, UNIT_QK], ids=["viewer", "unit"])
def test_a_viewer_or_unit_user_cannot_undo(sample_db: Path, projects_ledger: Path, user: access.User) -> None:
    result = ingest.ingest_file(sample_db, projects_ledger, user=BUREAU)
    before = checksums(sample_db, everything=True)
    with store.connect(sample_db) as con, pytest.raises(access.PermissionDenied, match="无权"):
        batches.undo(con, result.batch, user=user)
    assert checksums(sample_db, everything=True) == before


def test_the_cli_undoes_as_the_named_user_and_refuses_a_viewer(sample_db: Path, projects_ledger: Path) -> None:
    result = ingest.ingest_file(sample_db, projects_ledger, user=BUREAU)
    with store.connect(sample_db) as con:
        access.save_user(con, access.SYSTEM_USER, user_id="v@gxj.cn", role="viewer")
        access.save_user(con, access.SYSTEM_USER, user_id="b@gxj.cn", role="bureau", name="王科长")
    before = checksums(sample_db, everything=True)
    refused = run_cli("undo", str(result.batch), "--user", "v@gxj.cn", "--db", str(sample_db))
    assert refused.returncode == 2 and "无权" in refused.stderr and "Traceback" not in refused.stderr
    assert checksums(sample_db, everything=True) == before
    done = run_cli("undo", str(result.batch), "--user", "b@gxj.cn", "--json", "--db", str(sample_db))
    assert done.returncode == 0, done.stderr
    payload = json.loads(done.stdout)
    assert payload["undone_batch"] == result.batch
    assert (payload["restored"], payload["deleted"]) == (result.updated, result.inserted)
    with store.connect(sample_db, read_only=True) as con:
        row = batches.get_batch(con, payload["batch"])
    assert row is not None and (row["kind"], row["actor"], row["undoes"]) == ("undo", "王科长<b@gxj.cn>",
                                                                              result.batch)


# --------------------------------------------------------------------------- edits are batches


def test_an_edit_through_the_form_is_a_batch_and_can_be_undone(sample_db: Path) -> None:
    before = checksums(sample_db)
    with store.connect(sample_db) as con:
        row = edits.get_project(con, "CC2016-0001")
        assert row is not None
        edits.update_project(con, "CC2016-0001", {"annual_plan_wan": row["annual_plan_wan"] - Decimal("0.5"),
                                                  "leader": None}, expected_version=row["version"], user=BUREAU)
        batch = batches.list_batches(con, limit=1).to_dicts()[0]
        audit = con.execute("select action, record_id, old_values, new_values from audit_log where batch_id = ?",
                            [batch["batch"]]).fetchall()
        assert (batch["kind"], batch["source"], batch["table"], batch["updated"], batch["actor"]) == (
            "edit", "form:update_project", "projects", 1, BUREAU.label)
        action, record, old, new = audit[0]
        assert (action, record) == ("update", "CC2016-0001")
        assert json.loads(old) == {"annual_plan_wan": str(row["annual_plan_wan"]), "leader": row["leader"]}
        assert json.loads(new) == {"annual_plan_wan": str(row["annual_plan_wan"] - Decimal("0.5")), "leader": None}
        batches.undo(con, batch["batch"], user=BUREAU)
        # a form opened before the undo is stale now: the undo moved the version on
        with pytest.raises(edits.StaleEdit):
            edits.update_project(con, "CC2016-0001", {"note": "x"}, expected_version=row["version"] + 1,
                                 user=BUREAU)
    assert checksums(sample_db) == before


def test_new_projects_and_progress_from_forms_are_batches_that_undo(sample_db: Path) -> None:
    before = checksums(sample_db)
    record = {"project_id": "A/B-1", "name": "斜杠项目", "unit_id": "汽开区", "nature": "新建", "status": "谋划",
              "total_investment_wan": 5000}
    with store.connect(sample_db) as con:
        edits.create_project(con, record, user=BUREAU)
        edits.record_progress(con, {"project_id": "A/B-1", "month": "2016-10", "completed_wan": "12.34"},
                              user=BUREAU)
        edits.record_progress(con, {"project_id": "A/B-1", "month": "2016-10", "completed_wan": "12.34"},
                              user=BUREAU)  # unchanged: no batch
        listed = batches.list_batches(con, limit=2)
        assert listed.select("source", "table", "inserted").rows() == [
            ("form:record_progress", "progress", 1), ("form:create_project", "projects", 1)]
        created, progress = listed["batch"].to_list()[::-1]
        with pytest.raises(batches.UndoRefused, match="A/B-1"):  # the project has progress now
            batches.undo(con, created, user=BUREAU)
        batches.undo(con, progress, user=BUREAU)
        batches.undo(con, created, user=BUREAU)
    assert checksums(sample_db) == before


def test_user_saves_are_batches_that_only_an_admin_may_undo(sample_db: Path) -> None:
    with store.connect(sample_db) as con:
        access.save_user(con, ADMIN, user_id="x@gxj.cn", role="admin")
        access.save_user(con, ADMIN, user_id="x@gxj.cn", role="viewer")
        demoted = batches.list_batches(con, limit=1).to_dicts()[0]
        assert (demoted["source"], demoted["table"], demoted["updated"]) == ("form:user", "users", 1)
        with pytest.raises(access.PermissionDenied):
            batches.undo(con, demoted["batch"], user=BUREAU)
        batches.undo(con, demoted["batch"], user=ADMIN)
        role = con.execute("select role from users where user_id = 'x@gxj.cn'").fetchall()
    assert role == [("admin",)]


# --------------------------------------------------------------------------- the list


def test_imports_lists_the_batches_with_the_counts_of_the_import(sample_db: Path, tmp_path: Path) -> None:
    ledger = tmp_path / "带合计.csv"
    ledger.write_text("项目编号,项目名称,责任单位,建设性质,项目状态,总投资(万元)\n"
                      "T-1,甲,汽开区,新建,在建,3000\nT-2,乙,火星区,新建,在建,3000\n合计,,,,,6000\n"
                      "CC2016-0001,奥迪Q工厂,汽开区,新建,在建,1500000\n", encoding="utf-8")
    result = ingest.ingest_file(sample_db, ledger)
    assert result.to_dict()["batch"] == result.batch
    done = run_cli("imports", "--json", "--db", str(sample_db))
    assert done.returncode == 0, done.stderr
    listed = json.loads(done.stdout)
    mine = next(b for b in listed if b["batch"] == result.batch)
    assert {k: mine[k] for k in ("kind", "source", "table", "inserted", "updated", "unchanged", "rejected",
                                 "skipped", "undone_by")} == {
        "kind": "import", "source": "带合计.csv", "table": "projects", "inserted": result.inserted,
        "updated": result.updated, "unchanged": result.unchanged, "rejected": result.rejected,
        "skipped": result.skipped, "undone_by": None}
    assert (result.inserted, result.rejected, result.skipped) == (1, 1, 1)
    assert {"at", "actor"} <= mine.keys() and listed[0]["batch"] == result.batch
    assert listed[-1]["kind"] == "init"
    table = run_cli("imports", "--db", str(sample_db))
    assert table.returncode == 0 and "带合计.csv" in table.stdout and "新增 1" in table.stdout


def test_the_list_shows_user_text_as_data(sample_db: Path, tmp_path: Path) -> None:
    ledger = tmp_path / "[red]x[bold]\x1b.csv"
    ledger.write_text("项目编号,项目名称,责任单位,建设性质,项目状态,总投资(万元)\nT-9,甲,汽开区,新建,在建,3000\n",
                      encoding="utf-8")
    ingest.ingest_file(sample_db, ledger)
    shown = subprocess.run([sys.executable, "-m", "portfolio.cli", "imports", "--db", str(sample_db)],
                           capture_output=True, text=True, timeout=300, env={**os.environ, "COLUMNS": "400"})
    assert shown.returncode == 0, shown.stderr
    assert "[red]x[bold]\\x1b.csv" in shown.stdout
    assert "\x1b" not in shown.stdout


# --------------------------------------------------------------------------- schema


def test_create_schema_upgrades_a_version_1_database(empty_db: Path) -> None:
    with store.connect(empty_db) as con:  # make it look as version 1 left it
        con.execute("drop table batches")
        con.execute("drop sequence batch_seq")
        con.execute("alter table audit_log drop column batch_id")
        store.set_meta(con, "schema_version", "1")
        con.execute("insert into audit_log (actor, action, table_name) values ('old', 'update', 'projects')")
    with store.connect(empty_db) as con:
        store.create_schema(con)
        columns = [r[0] for r in con.execute("describe audit_log").fetchall()]
        version = store.get_meta(con, "schema_version")
        old = con.execute("select actor, batch_id from audit_log where actor = 'old'").fetchall()
        listed = batches.list_batches(con)
    assert columns[-1] == "batch_id" and version == str(store.SCHEMA_VERSION)
    assert old == [("old", None)]
    assert listed.is_empty() or set(listed["kind"]) <= {"init"}


def test_the_stored_audit_values_of_a_batch_round_trip_through_duckdb(con: duckdb.DuckDBPyConnection) -> None:
    frame = pl.DataFrame({"project_id": ["P1"], "name": ["甲\"引号\\反斜杠\n换行"], "unit_id": ["QK"],
                          "nature": ["新建"], "status": ["在建"],
                          "total_investment_wan": [Decimal("1234567890123456.78")],
                          "start_date": [date(2016, 3, 1)]}).with_columns(
        pl.col("total_investment_wan").cast(pl.Decimal(18, 2)), pl.col("start_date").cast(pl.Date))
    with store.transaction(con):
        counts = ingest.upsert(con, "projects", frame, actor="t")
    assert counts["batch"]
    before = con.execute("select name, total_investment_wan, start_date from projects").fetchall()
    undone = batches.undo(con, counts["batch"], user=ADMIN)
    assert con.execute("select count(*) from projects").fetchall() == [(0,)]
    batches.undo(con, undone.batch, user=ADMIN)
    assert con.execute("select name, total_investment_wan, start_date from projects").fetchall() == before
