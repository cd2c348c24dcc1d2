"""The SQL views answer the same questions as the library, with the same numbers."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path

import duckdb
import polars as pl
import pytest

from portfolio import config, rules, store, views


def _view(con: duckdb.DuckDBPyConnection, name: str) -> pl.DataFrame:
    return con.sql(f"select * from {name}").pl()


@pytest.fixture
def sample_con(sample_db_template: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection to the sample plan."""
    with store.connect(sample_db_template, read_only=True) as con:
        yield con


@pytest.fixture
def june_db(sample_db: Path) -> Path:
    """The sample plan with progress reported only through June 2016 (an earlier as-of)."""
    with store.connect(sample_db) as con:
        con.execute("delete from progress where month > date '2016-06-01'")
    return sample_db


def _as_of(con: duckdb.DuckDBPyConnection) -> date:
    return con.execute("select as_of from v_plan_context").fetchall()[0][0]


# --- comments and creation -------------------------------------------------------------------


def test_every_view_and_view_column_carries_a_chinese_comment(empty_db: Path) -> None:
    with store.connect(empty_db, read_only=True) as con:
        found = con.execute("select view_name, comment from duckdb_views() where not internal"
                            " order by view_name").fetchall()
        uncommented = con.execute(
            "select table_name, column_name from duckdb_columns()"
            " where table_name in (select view_name from duckdb_views() where not internal)"
            " and (comment is null or not regexp_matches(comment, '[\u4e00-\u9fff]'))"
        ).fetchall()
    assert [name for name, _ in found] == sorted(v.name for v in views.VIEWS)
    assert all(comment and any("\u4e00" <= ch <= "\u9fff" for ch in comment) for _, comment in found)
    assert uncommented == []


def test_every_documented_column_exists_in_its_view(empty_db: Path) -> None:
    with store.connect(empty_db, read_only=True) as con:
        for view in views.VIEWS:
            columns = _view(con, view.name).columns
            assert set(view.columns) == set(columns), view.name


def test_creating_the_views_twice_changes_nothing(con: duckdb.DuckDBPyConnection) -> None:
    query = ("select table_name, column_name, data_type, comment from duckdb_columns()"
             " where table_name like 'v\\_%' escape '\\' order by all")
    before = con.execute(query).fetchall()
    views.create_views(con)
    views.create_views(con)
    assert con.execute(query).fetchall() == before


def test_v_rules_and_the_rule_tables_hold_the_rules_in_force(empty_db: Path) -> None:
    with store.connect(empty_db, read_only=True) as con:
        found = rules.in_force(con)
        profile = con.sql("select month_no, share, cumulative_share from seasonal_profile"
                          " order by month_no").pl()
        row = _view(con, "v_rules").row(0, named=True)
        context = _view(con, "v_plan_context").row(0, named=True)
    assert found == rules.from_file()
    assert profile["share"].to_list() == list(found.shares)
    assert profile["cumulative_share"].to_list() == [round(sum(found.shares[:m]), 10) for m in range(1, 13)]
    assert row["seasonal_cumulative"] == rules.cumulative_shares(found.shares)
    assert (row["on_track"], row["at_risk"], row["flag_green"], row["flag_amber"], row["stalled_months"]) == (
        found.on_track, found.at_risk, found.green, found.amber, found.stalled_months)
    assert row["tech_upgrade_natures"] == list(found.tech_natures)
    assert {k: row[k] for k in rules.FORECAST_DEFAULTS} == found.forecast
    assert {k: context[k] for k in row} == row
    assert context["plan_year"] == config.targets_config()["plan_year"]


def test_views_work_on_an_empty_database(empty_db: Path) -> None:
    with store.connect(empty_db, read_only=True) as con:
        assert _view(con, "v_project_status").height == 0
        progress = _view(con, "v_target_progress")
        tiers = _view(con, "v_tiers")
    assert progress["completed_wan"].to_list() == [Decimal("0.00"), Decimal("0.00")]
    assert tiers["count"].to_list() == [0, 0, 0, 0]


# --- one name per meaning ------------------------------------------------------------------
# (that every figure of a view equals the library's, for random rules and every month, is
# tests/test_differential.py)


@pytest.mark.parametrize("view", ["v_unit_progress", "v_leader_load"])
def test_roll_up_counts_are_named_count_and_the_earlier_names_are_copies(
    sample_con: duckdb.DuckDBPyConnection, view: str
) -> None:
    got = _view(sample_con, view)
    for new, old in [("lagging_count", "lagging"), ("red_count", "red"), ("amber_count", "amber"),
                     ("green_count", "green"), ("stalled_count", "stalled"), ("open_problem_count", "open_problems")]:
        assert got.schema[new] == pl.Int64
        assert got[new].to_list() == got[old].to_list()
    per_project = _view(sample_con, "v_project_status")
    assert per_project.schema["is_lagging"] == pl.Boolean and "lagging" not in per_project.columns
    assert got["lagging_count"].sum() == per_project["is_lagging"].sum()


def test_a_column_name_means_one_thing_in_every_view(sample_con: duckdb.DuckDBPyConnection) -> None:
    types: dict[str, set[str]] = {}
    for _name, column, dtype in sample_con.execute(
            "select table_name, column_name, data_type from duckdb_columns()"
            " where table_name like 'v\\_%' escape '\\'").fetchall():
        types.setdefault(column, set()).add(dtype)
    # the per-project booleans and the per-group counts carry different names
    assert types["is_lagging"] == {"BOOLEAN"} and types["lagging_count"] == {"BIGINT"}
    assert types["stalled_count"] == {"BIGINT"} and types["open_problem_count"] == {"BIGINT"}
    progress = _view(sample_con, "v_target_progress")
    assert progress["plan_wan"].to_list() == progress["planned_wan"].to_list()


def test_views_follow_the_latest_reported_month(june_db: Path) -> None:
    with store.connect(june_db, read_only=True) as con:
        assert _as_of(con) == date(2016, 6, 1)
        months = {r[0] for r in con.execute("select distinct as_of from v_project_status").fetchall()}
        progress = _view(con, "v_target_progress")
        direct = con.sql("select * from project_status_at(date '2016-06-01')").pl()
    assert months == {date(2016, 6, 1)}
    assert progress["as_of"].to_list() == [date(2016, 6, 1)] * 2
    assert progress["seasonal_share"].to_list() == [pytest.approx(0.41)] * 2
    assert direct.height == 1004


def test_v_monthly_progress_adds_up_month_by_month(sample_con: duckdb.DuckDBPyConnection) -> None:
    got = _view(sample_con, "v_monthly_progress").filter(pl.col("metric") == "industrial_investment")
    as_of = _as_of(sample_con)
    rows = sample_con.execute(
        "select pr.month, pr.completed_wan from progress pr join projects p using (project_id)"
        " where year(pr.month) = 2016").fetchall()
    per_month: dict[date, Decimal] = {}
    for month, amount in rows:
        per_month[month] = per_month.get(month, Decimal("0")) + amount
    target = Decimal(str(config.targets_config()["target"][0]["value_wan"]))
    shares = config.seasonal_shares()
    running = Decimal("0")
    for row in got.iter_rows(named=True):
        month = date(2016, row["month_no"], 1)
        cumulative = round(sum(shares[: row["month_no"]]), 10)
        assert row["expected_cumulative_wan"] == pytest.approx(float(target) * cumulative)
        if month <= as_of:
            running += per_month.get(month, Decimal("0"))
            assert row["completed_wan"] == per_month.get(month, Decimal("0"))
            assert row["cumulative_completed_wan"] == running
            assert row["ratio"] == pytest.approx(float(running) / (float(target) * cumulative), abs=1e-6)
        else:
            assert row["completed_wan"] is None and row["cumulative_completed_wan"] is None
    progress = _view(sample_con, "v_target_progress").row(0, named=True)
    assert progress["completed_wan"] == running


def test_v_monthly_progress_tech_upgrade_counts_only_tech_natures(
    sample_con: duckdb.DuckDBPyConnection,
) -> None:
    got = _view(sample_con, "v_monthly_progress").filter(
        (pl.col("metric") == "tech_upgrade_investment") & pl.col("reported"))
    natures = config.targets_config()["tech_upgrade_natures"]
    expected = sample_con.execute(
        "select sum(pr.completed_wan) from progress pr join projects p using (project_id)"
        " where year(pr.month) = 2016 and p.nature in (?, ?)", natures).fetchall()[0][0]
    assert got["cumulative_completed_wan"].to_list()[-1] == expected


def test_views_are_readable_through_the_sandbox(sample_db_template: Path, tmp_path: Path) -> None:
    from portfolio import sandbox

    copy = tmp_path / "copy.duckdb"
    shutil.copy(sample_db_template, copy)
    result = sandbox.run_query(copy, "select count(*) as n from v_project_status where is_lagging")
    with store.connect(copy, read_only=True) as con:
        expected = con.execute("select count(*) from v_project_status where is_lagging").fetchall()[0][0]
    assert result.frame["n"].to_list() == [expected]
