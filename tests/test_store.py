"""The DuckDB store: schema, comments, transactions, revisions and sharing the file."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import pytest

from portfolio import config, store


def test_init_creates_every_contract_table_with_reference_data(empty_db: Path) -> None:
    with store.connect(empty_db, read_only=True) as con:
        tables = {r[0] for r in con.execute("select table_name from duckdb_tables()").fetchall()}
        counts = con.execute(
            "select (select count(*) from units), (select count(*) from chains),"
            " (select count(*) from chain_nodes), (select count(*) from targets"
            "  where metric in ('industrial_investment', 'tech_upgrade_investment'))"
        ).fetchall()[0]
    assert {"projects", "progress", "enterprises", "units", "chains", "chain_nodes",
            "chain_edges", "targets", "audit_log"} <= tables
    assert counts == (14, 10, 121, 2)


def test_every_table_and_column_carries_a_chinese_comment(empty_db: Path) -> None:
    with store.connect(empty_db, read_only=True) as con:
        missing_tables = con.execute(
            "select table_name from duckdb_tables() where comment is null or comment = ''"
        ).fetchall()
        missing_columns = con.execute(
            "select table_name, column_name from duckdb_columns()"
            " where not internal and table_name in (select table_name from duckdb_tables())"
            " and (comment is null or comment = '')"
        ).fetchall()
        not_chinese = con.execute(
            "select table_name from duckdb_tables() where not regexp_matches(comment, '[\u4e00-\u9fff]')"
        ).fetchall()
    assert missing_tables == []
    assert missing_columns == []
    assert not_chinese == []


def test_schema_version_is_recorded_and_a_newer_one_is_refused(con: duckdb.DuckDBPyConnection) -> None:
    assert store.get_meta(con, "schema_version") == str(store.SCHEMA_VERSION)
    store.check_schema(con)
    store.set_meta(con, "schema_version", str(store.SCHEMA_VERSION + 1))
    with pytest.raises(store.StoreError, match="新"):
        store.check_schema(con)


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("total_investment_wan", -1),
        ("annual_plan_wan", 99999),
        ("nature", "翻新"),
        ("status", "停工"),
        ("leader_level", "省级"),
        ("chain_role", "断链"),
    ],
)
def test_check_constraints_refuse_bad_project_rows(con: duckdb.DuckDBPyConnection, column: str, value: object) -> None:
    row = {"project_id": "P1", "name": "测试", "unit_id": "JK", "nature": "新建", "status": "在建",
           "total_investment_wan": 5000, "annual_plan_wan": 1000}
    row[column] = value
    cols = ", ".join(row)
    marks = ", ".join("?" for _ in row)
    with pytest.raises(duckdb.ConstraintException):
        con.execute(f"insert into projects ({cols}) values ({marks})", list(row.values()))


def test_progress_month_must_be_the_first_of_the_month(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("insert into progress (project_id, month, completed_wan) values ('P1', date '2016-03-01', 10)")
    with pytest.raises(duckdb.ConstraintException):
        con.execute("insert into progress (project_id, month, completed_wan) values ('P1', date '2016-03-15', 10)")


def test_a_failed_transaction_leaves_the_database_as_it_was(con: duckdb.DuckDBPyConnection) -> None:
    before = con.execute("select count(*) from audit_log").fetchall()
    with pytest.raises(duckdb.ConstraintException), store.transaction(con):
        store.audit(con, actor="t", action="insert", table="projects", record_id="X")
        con.execute("insert into projects (project_id, name, unit_id, nature, status,"
                    " total_investment_wan) values ('X', 'x', 'JK', '新建', '在建', -5)")
    assert con.execute("select count(*) from audit_log").fetchall() == before


def test_revision_increases_with_every_write(empty_db: Path) -> None:
    first = store.revision(empty_db)
    with store.connect(empty_db) as con, store.transaction(con):
        store.bump_revision(con)
    assert store.revision(empty_db) == first + 1


def test_audit_keeps_decimals_and_dates_exact(con: duckdb.DuckDBPyConnection) -> None:
    from datetime import date
    from decimal import Decimal

    store.audit(con, actor="张三", action="update", table="projects", record_id="P1",
                old={"total_investment_wan": Decimal("3000.10")},
                new={"total_investment_wan": Decimal("3000.20"), "start_date": date(2016, 3, 1)})
    row = con.execute("select actor, old_values->>'total_investment_wan',"
                      " new_values->>'start_date' from audit_log where record_id = 'P1'").fetchall()
    assert row == [("张三", "3000.10", "2016-03-01")]


def test_missing_database_gives_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(store.DatabaseMissing, match="portfolio init"), store.connect(tmp_path / "none.duckdb"):
        pass


def test_reference_configuration_is_consistent() -> None:
    ref = config.load_reference()
    assert ref.units.height == 14
    assert ref.chains.height == 10
    assert ref.chain_nodes.group_by("chain_id").len()["len"].is_between(8, 20).all()
    assert abs(sum(config.seasonal_shares()) - 1) < 1e-9


HOLD_SCRIPT = textwrap.dedent(
    """
    import sys, time, duckdb
    con = duckdb.connect(sys.argv[1])
    con.execute("begin transaction")
    con.execute("insert into meta values ('held', '1')")
    con.execute("commit")
    print("holding", flush=True)
    time.sleep(float(sys.argv[2]))
    if len(sys.argv) > 3:  # a mark that exists before the lock is let go
        open(sys.argv[3], "w").close()
    con.close()
    """
)


def test_a_second_process_waits_for_the_lock_and_then_writes(empty_db: Path, tmp_path: Path) -> None:
    script = tmp_path / "hold.py"
    script.write_text(HOLD_SCRIPT)
    released = tmp_path / "released"
    holder = subprocess.Popen([sys.executable, str(script), str(empty_db), "1.5", str(released)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "holding"
        with store.connect(empty_db, timeout=60) as con, store.transaction(con):
            # it really had to wait for the other process: the mark is made just before its release
            assert released.exists()
            store.set_meta(con, "second", "2")
    finally:
        holder.wait(timeout=60)
    with store.connect(empty_db, read_only=True) as con:
        assert store.get_meta(con, "held") == "1"
        assert store.get_meta(con, "second") == "2"


def test_lock_held_too_long_gives_a_clear_error(empty_db: Path, tmp_path: Path) -> None:
    script = tmp_path / "hold.py"
    script.write_text(HOLD_SCRIPT)
    holder = subprocess.Popen([sys.executable, str(script), str(empty_db), "4"],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None
        holder.stdout.readline()
        with pytest.raises(store.StoreError, match="占用"), store.connect(empty_db, timeout=0.5):
            pass
    finally:
        holder.wait(timeout=30)


def test_init_force_replaces_the_database_and_keeps_it_without_force(empty_db: Path) -> None:
    with store.connect(empty_db) as con:
        store.set_meta(con, "marker", "kept")
    store.init_db(empty_db)
    with store.connect(empty_db, read_only=True) as con:
        assert store.get_meta(con, "marker") == "kept"
    store.init_db(empty_db, force=True)
    with store.connect(empty_db, read_only=True) as con:
        assert store.get_meta(con, "marker") is None
