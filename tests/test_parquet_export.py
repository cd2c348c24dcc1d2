"""`portfolio export --parquet`: Hive-partitioned Parquet, and the same named views over it."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import duckdb
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from portfolio import parquet, store, views

#: the views run at the latest month (2016-09); the macros at another
MONTHS = (date(2016, 6, 1),)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "portfolio.cli", *args], capture_output=True, text=True,
                          timeout=300)


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory, sample_db_template: Path) -> tuple[Path, Path]:
    """A copy of the sample database and its export (written once for this file's read-only tests)."""
    base = tmp_path_factory.mktemp("parquet")
    db = base / "db" / "sample.duckdb"
    db.parent.mkdir()
    shutil.copy(sample_db_template, db)
    parquet.export_parquet(db, base / "export")
    return db, base / "export"


@pytest.fixture
def both(exported: tuple[Path, Path]) -> Iterator[tuple[duckdb.DuckDBPyConnection, duckdb.DuckDBPyConnection]]:
    """A read-only connection to the database and an in-memory one over its export."""
    db, folder = exported
    with store.connect(db, read_only=True) as con, parquet.opened(folder) as pq:
        yield con, pq


def _rows(con: duckdb.DuckDBPyConnection, query: str) -> pl.DataFrame:
    return con.sql(f"select * from ({query}) order by all").pl()


def _same(got: pl.DataFrame, expected: pl.DataFrame, what: str) -> None:
    try:
        assert_frame_equal(got, expected, check_exact=True)
    except AssertionError as exc:
        raise AssertionError(f"{what}: {exc}") from None


def _named_queries() -> list[str]:
    queries = [f"select * from {view.name}" for view in views.VIEWS]
    queries += ["select * from project_tiers()", "select * from project_tiers_in(2016)"]
    for name in ("project_status_at", "library_prev_at", "monthly_progress_at", "official_at"):
        queries += [f"select * from {name}(date '{m.isoformat()}')" for m in MONTHS]
    return queries


def test_every_named_view_and_macro_gives_the_same_rows_over_the_export(both) -> None:
    con, pq = both
    empty = []
    for query in _named_queries():
        expected = _rows(con, query)
        if expected.height == 0:
            empty.append(query)
        _same(_rows(pq, query), expected, query)
    # the sample has one plan year: only the previous year's library is empty
    assert all("library_prev_at" in q for q in empty)


def test_the_libraries_check_over_the_export_is_the_databases(both) -> None:
    from portfolio import targets

    con, pq = both
    over_files = targets.check_report(pq, as_of=None, year=None)
    assert over_files == targets.check_report(con, as_of=None, year=None)
    assert over_files["metrics"] and over_files["lagging_projects"]


def test_every_exported_table_keeps_its_rows_and_types_money_stays_decimal(both, exported) -> None:
    con, pq = both
    manifest = parquet.read_manifest(exported[1])
    assert manifest is not None
    for table, columns in parquet.schema_columns().items():
        cols = ", ".join(f'"{c}"' for c, _ in columns)
        expected = _rows(con, f"select {cols} from {table}")
        got = _rows(pq, f"select {cols} from {table}")
        _same(got, expected, table)
        assert manifest["tables"][table]["rows"] == expected.height
    money = pq.execute("select column_type from (describe select total_investment_wan, annual_plan_wan"
                       " from read_parquet(?))", [str(exported[1] / "projects" / "**" / "*.parquet")]).fetchall()
    assert [t for (t,) in money] == ["DECIMAL(18,2)", "DECIMAL(18,2)"]
    for table in ("audit_log", "batches", "users"):
        assert table not in manifest["tables"] and not (exported[1] / table).exists()


def test_the_folder_is_hive_partitioned_by_year_and_unit(exported) -> None:
    db, folder = exported
    with store.connect(db, read_only=True) as con:
        units = {u for (u,) in con.execute("select distinct unit_id from projects").fetchall()}
        progress_years = {y for (y,) in con.execute("select distinct year(month) from progress").fetchall()}
    assert {p.name for p in (folder / "projects").iterdir()} == {f"unit={u}" for u in units}
    assert {p.name for p in (folder / "progress").iterdir()} == {f"year={y}" for y in progress_years}
    assert {p.name for p in (folder / "plans" / "year=2016").iterdir()} == {f"unit={u}" for u in units}
    assert sorted(p.name for p in (folder / "tiers").iterdir()) == ["data_0.parquet"]
    manifest = parquet.read_manifest(folder)
    assert manifest is not None and manifest["schema_version"] == store.SCHEMA_VERSION
    assert parquet.written_by_export(folder)


def test_a_province_reads_several_cities_with_a_city_column(exported, tmp_path: Path) -> None:
    db, folder = exported
    second = tmp_path / "city=吉林"
    shutil.copytree(folder, second)
    with store.connect(db, read_only=True) as con:
        units = _rows(con, "select * from v_unit_progress")
        status = _rows(con, "select * from project_status_at(date '2016-06-01')")
    pc = parquet.open_province({"长春": folder, "吉林": second})
    try:
        for city in ("长春", "吉林"):
            got = _rows(pc, f"select * exclude (city) from v_unit_progress where city = '{city}'")
            assert_frame_equal(got, units, check_exact=True)
        assert pc.execute("select city, count(*) from projects group by city order by city").fetchall() == [
            ("吉林", 1004), ("长春", 1004)]
        both_cities = parquet.province_status_at(pc, date(2016, 6, 1))
        assert both_cities.columns[0] == "city" and both_cities.height == 2 * status.height
        assert_frame_equal(both_cities.filter(pl.col("city") == "吉林").drop("city")
                           .sort(status.columns), status.sort(status.columns), check_exact=True)
    finally:
        pc.close()
    named = parquet.open_province([second])  # a folder named city=吉林 is the city 吉林
    try:
        assert named.execute("select distinct city from v_target_progress").fetchall() == [("吉林",)]
    finally:
        named.close()


def test_year_keeps_only_that_years_plans_and_progress(sample_db: Path, tmp_path: Path) -> None:
    before = sample_db.read_bytes()
    result = parquet.export_parquet(sample_db, tmp_path / "y2016", year=2016)
    assert sample_db.read_bytes() == before  # read through a read-only connection
    with parquet.opened(result.path) as pq:
        assert pq.execute("select distinct year(month) from progress").fetchall() == [(2016,)]
        assert pq.execute("select distinct year from plans").fetchall() == [(2016,)]
    with pytest.raises(parquet.ExportRefused, match="2099"):
        parquet.export_parquet(sample_db, tmp_path / "y2099", year=2099)
    assert not (tmp_path / "y2099").exists()


def test_the_database_its_folder_and_foreign_folders_are_refused(sample_db: Path, tmp_path: Path) -> None:
    before = sample_db.read_bytes()
    for target in (sample_db, sample_db.parent, tmp_path.parent):
        with pytest.raises(parquet.ExportRefused, match="数据库"):
            parquet.export_parquet(sample_db, target)
    foreign = tmp_path / "someone"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(parquet.ExportRefused, match="不是本工具导出的"):
        parquet.export_parquet(sample_db, foreign)
    assert [p.name for p in foreign.iterdir()] == ["notes.txt"]
    bad = tmp_path.parent / f"{tmp_path.name}-glob[1]"
    with pytest.raises(parquet.ExportRefused, match="通配符"):
        parquet.export_parquet(sample_db, bad)
    assert sample_db.read_bytes() == before
    assert not any(p.name.endswith(".tmp") for p in tmp_path.iterdir())
    with pytest.raises(store.StoreError):
        parquet.export_parquet(tmp_path / "missing.duckdb", tmp_path / "new" / "export")
    assert not (tmp_path / "new").exists()  # nothing created for a database that cannot be read


def test_an_export_the_tool_wrote_is_replaced_and_a_changed_one_is_not(sample_db: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()  # an empty folder is fine
    first = parquet.export_parquet(sample_db, tmp_path / "out")
    second = parquet.export_parquet(sample_db, out)
    assert second.tables == first.tables and parquet.written_by_export(out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "sample.duckdb"]  # no temporary or old folder
    (out / "progress" / "extra.parquet").write_bytes(b"not ours")
    with pytest.raises(parquet.ExportRefused, match="不是本工具导出的"):
        parquet.export_parquet(sample_db, out)
    assert (out / "progress" / "extra.parquet").read_bytes() == b"not ours"
    with pytest.raises(parquet.ExportUnusable, match="不符"):
        shutil.copy(out / "tiers" / "data_0.parquet", tmp_path / "keep.parquet")
        (out / "tiers" / "data_0.parquet").write_bytes(b"x")
        parquet.open_export(out)
    with pytest.raises(parquet.ExportUnusable, match="不是 portfolio export"):
        parquet.open_export(tmp_path)


def test_cli_export_prints_the_folder_and_counts_and_refuses_with_exit_2(sample_db: Path, tmp_path: Path) -> None:
    done = _cli("export", "--parquet", str(tmp_path / "province" / "cc"), "--json", "--db", str(sample_db))
    assert done.returncode == 0, done.stderr
    payload = json.loads(done.stdout)
    assert payload["path"] == str(tmp_path / "province" / "cc")
    assert payload["tables"]["projects"] == 1004 and payload["files"] > 14 and payload["year"] is None
    refused = _cli("export", "--parquet", str(sample_db), "--db", str(sample_db))
    assert refused.returncode == 2
    assert "数据库" in refused.stderr and "Traceback" not in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
