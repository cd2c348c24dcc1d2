"""The SQL views answer the same questions as the library, with the same numbers."""

from __future__ import annotations

import shutil
from collections.abc import Collection, Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path

import duckdb
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from portfolio import config, store, views

#: Library columns a view leaves out on purpose: the Monte Carlo forecast is not SQL.
FORECAST_ONLY = {
    "remaining_plan_wan", "pace", "pace_sd", "forecast_wan", "forecast_low_wan",
    "forecast_high_wan", "forecast_gap_wan", "forecast_rest_wan", "forecast_rest_var",
    "probability_meet_target", "implied_growth_pct", "plan_implied_growth_pct", "history_weight",
}
#: Presentation-only columns of target_checks (a constant label and a unit conversion).
TARGET_EXTRAS = {"target_basis", "shortfall_yi"}


def _view(con: duckdb.DuckDBPyConnection, name: str) -> pl.DataFrame:
    return con.sql(f"select * from {name}").pl()


def assert_view_matches(view: pl.DataFrame, library: pl.DataFrame, *, keys: list[str] | None = None,
                        not_in_view: Collection[str] = ()) -> None:
    """Every library column (but the excused ones) is in the view, with the same values."""
    missing = set(library.columns) - set(view.columns) - set(not_in_view)
    assert not missing, f"view lacks library columns {sorted(missing)}"
    cols = [c for c in library.columns if c in view.columns]
    expected = library.select(cols)
    got = view.select(cols).with_columns(pl.col(c).cast(expected.schema[c]) for c in cols)
    if keys:
        expected, got = expected.sort(keys), got.sort(keys)
    assert_frame_equal(got, expected, check_exact=False, rel_tol=1e-9, abs_tol=1e-6)


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


def test_rule_tables_and_keys_hold_the_configuration(empty_db: Path) -> None:
    shares = config.seasonal_shares()
    with store.connect(empty_db, read_only=True) as con:
        profile = con.sql("select month_no, share, cumulative_share from seasonal_profile"
                          " order by month_no").pl()
        tiers = con.sql("select tier, min_wan::bigint as min_wan, plan_count::bigint as plan_count,"
                        " plan_cumulative_count::bigint as plan_cumulative_count"
                        " from tiers order by min_wan desc").pl()
        context = _view(con, "v_plan_context").row(0, named=True)
    assert profile["share"].to_list() == shares
    assert profile["cumulative_share"].to_list() == [round(sum(shares[:m]), 10) for m in range(1, 13)]
    assert_frame_equal(tiers, config.tiers_frame().select(tiers.columns))
    thresholds = config.targets_config()
    assert context["plan_year"] == thresholds["plan_year"]
    assert context["on_track"] == thresholds["status_thresholds"]["on_track"]
    assert context["flag_amber"] == thresholds["project_flags"]["amber"]
    assert context["stalled_months"] == thresholds["project_flags"]["stalled_months"]
    assert context["tech_upgrade_natures"] == thresholds["tech_upgrade_natures"]


def test_views_work_on_an_empty_database(empty_db: Path) -> None:
    with store.connect(empty_db, read_only=True) as con:
        assert _view(con, "v_project_status").height == 0
        progress = _view(con, "v_target_progress")
        tiers = _view(con, "v_tiers")
    assert progress["completed_wan"].to_list() == [Decimal("0.00"), Decimal("0.00")]
    assert tiers["count"].to_list() == [0, 0, 0, 0]


# --- the same numbers as the library ---------------------------------------------------------


def test_v_project_status_is_project_performance(sample_con: duckdb.DuckDBPyConnection) -> None:
    targets = pytest.importorskip("portfolio.targets")
    library = targets.project_performance(sample_con, as_of=_as_of(sample_con))
    assert_view_matches(_view(sample_con, "v_project_status"), library, keys=["project_id"],
                        not_in_view=FORECAST_ONLY)


def test_v_target_progress_is_target_checks(sample_con: duckdb.DuckDBPyConnection) -> None:
    targets = pytest.importorskip("portfolio.targets")
    library = targets.target_checks(sample_con, as_of=_as_of(sample_con))
    assert_view_matches(_view(sample_con, "v_target_progress"), library,
                        not_in_view=FORECAST_ONLY | TARGET_EXTRAS)


@pytest.mark.parametrize(("view", "by", "keys"), [
    ("v_leader_load", "leader", ["leader", "leader_level"]),
    ("v_unit_progress", "unit", ["unit_id"]),
])
def test_roll_up_views_are_the_library_roll_ups(
    sample_con: duckdb.DuckDBPyConnection, view: str, by: str, keys: list[str]
) -> None:
    targets = pytest.importorskip("portfolio.targets")
    library = targets.rollup(sample_con, as_of=_as_of(sample_con), by=by)
    got = _view(sample_con, view)
    assert_view_matches(got, library, keys=keys, not_in_view=FORECAST_ONLY)
    # and in the library's order (most lagging first)
    assert got.select(keys).rows() == library.select(keys).rows()


def test_v_tiers_is_tier_summary(sample_con: duckdb.DuckDBPyConnection) -> None:
    targets = pytest.importorskip("portfolio.targets")
    assert_view_matches(_view(sample_con, "v_tiers"), targets.tier_summary(sample_con))


def test_v_chain_coverage_is_segment_coverage(sample_con: duckdb.DuckDBPyConnection) -> None:
    chains = pytest.importorskip("portfolio.chains")
    assert_view_matches(_view(sample_con, "v_chain_coverage"), chains.segment_coverage(sample_con))


def test_views_follow_the_latest_reported_month(june_db: Path) -> None:
    targets = pytest.importorskip("portfolio.targets")
    with store.connect(june_db, read_only=True) as con:
        as_of = _as_of(con)
        assert as_of == date(2016, 6, 1)
        assert_view_matches(_view(con, "v_project_status"),
                            targets.project_performance(con, as_of=as_of),
                            keys=["project_id"], not_in_view=FORECAST_ONLY)
        assert_view_matches(_view(con, "v_target_progress"), targets.target_checks(con, as_of=as_of),
                            not_in_view=FORECAST_ONLY | TARGET_EXTRAS)
        assert_view_matches(_view(con, "v_leader_load"), targets.rollup(con, as_of=as_of, by="leader"),
                            keys=["leader", "leader_level"], not_in_view=FORECAST_ONLY)


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
