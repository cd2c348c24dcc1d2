"""Tiers, target checks, project flags, 包保 rules and the forecast, on hand-made databases."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import shutil
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from portfolio import config, rules, store, targets
from portfolio.console import print_check

MONEY = pl.Decimal(38, 2)
HAS_SAMPLE = importlib.util.find_spec("portfolio.sample") is not None

DEFAULTS: dict[str, Any] = {
    "name": None, "unit_id": "JK", "chain_id": "auto", "nature": "新建", "status": "在建",
    "total_investment_wan": 5000.0, "annual_plan_wan": 1000.0, "leader": "张三", "leader_level": "处室",
    "is_major": False, "start_date": None, "end_date": None,
}
PROJECT_SCHEMA = {
    "project_id": pl.String, "name": pl.String, "unit_id": pl.String, "chain_id": pl.String,
    "nature": pl.String, "status": pl.String, "total_investment_wan": pl.Float64,
    "annual_plan_wan": pl.Float64, "leader": pl.String, "leader_level": pl.String,
    "is_major": pl.Boolean, "start_date": pl.Date, "end_date": pl.Date,
}


@pytest.fixture(scope="module")
def empty_db(tmp_path_factory) -> Path:
    """A database with the schema and the reference configuration, no projects (built once)."""
    return store.init_db(tmp_path_factory.mktemp("empty") / "empty.duckdb", force=True)


@pytest.fixture
def con(empty_db, tmp_path) -> duckdb.DuckDBPyConnection:
    """A fresh copy of the empty database, opened read-write."""
    path = tmp_path / "t.duckdb"
    shutil.copy(empty_db, path)
    c = duckdb.connect(str(path))
    yield c
    c.close()


def add_projects(con: duckdb.DuckDBPyConnection, *rows: dict[str, Any]) -> None:
    """Insert projects; unspecified columns take DEFAULTS, the name defaults to the id."""
    full = [{**DEFAULTS, "name": r["project_id"], **r} for r in rows]
    frame = pl.DataFrame(full, schema=PROJECT_SCHEMA)
    con.register("_p", frame)
    cols = ", ".join(PROJECT_SCHEMA)
    con.execute(f"insert into projects ({cols}) select {cols} from _p")
    con.unregister("_p")


def add_progress(con: duckdb.DuckDBPyConnection, *rows: tuple[str, str, float, str | None]) -> None:
    """Insert progress rows (project_id, 'YYYY-MM', completed_wan, problems)."""
    frame = pl.DataFrame(
        [(pid, date.fromisoformat(month + "-01"), float(done), problems) for pid, month, done, problems in rows],
        schema={"project_id": pl.String, "month": pl.Date, "completed_wan": pl.Float64, "problems": pl.String},
        orient="row",
    )
    con.register("_g", frame)
    con.execute("insert into progress (project_id, month, completed_wan, problems) select * from _g")
    con.unregister("_g")


def set_target(con: duckdb.DuckDBPyConnection, metric: str, value_wan: float, growth_pct: float = 12.0) -> None:
    con.execute("update targets set value_wan = ?, growth_pct = ? where year = 2016 and metric = ? and scope = 'city'",
                [value_wan, growth_pct, metric])


def m(month: int) -> date:
    return date(2016, month, 1)


# --------------------------------------------------------------------------------------------
# tiers


def test_tiers_put_a_total_exactly_at_a_band_minimum_in_the_higher_tier(con):
    totals = [100000, 99999.99, 10000, 9999.99, 3000, 2999.99, 1000, 999.99]
    add_projects(con, *({"project_id": f"P{i}", "total_investment_wan": t, "annual_plan_wan": 100.0 * (i + 1)}
                        for i, t in enumerate(totals)))
    got = targets.tier_summary(con).select("tier", "min_wan", "count", "cumulative_count",
                                           "plan_cumulative_count", "plan_wan", "cumulative_plan_wan")
    want = pl.DataFrame(
        {
            "tier": ["10亿元以上", "1亿–10亿元", "3000万–1亿元", "1000万–3000万元"],
            "min_wan": [100000, 10000, 3000, 1000],
            "count": [1, 2, 2, 2],
            "cumulative_count": [1, 3, 5, 7],
            "plan_cumulative_count": [84, 520, 780, 1004],
            "plan_wan": [Decimal("100"), Decimal("500"), Decimal("900"), Decimal("1300")],
            "cumulative_plan_wan": [Decimal("100"), Decimal("600"), Decimal("1500"), Decimal("2800")],
        },
        schema_overrides={"plan_wan": MONEY, "cumulative_plan_wan": MONEY},
    )
    assert_frame_equal(got, want)


def test_a_project_below_the_lowest_band_has_no_tier_and_is_counted_apart(con):
    add_projects(con, {"project_id": "P1", "total_investment_wan": 999.99, "annual_plan_wan": 10.0})
    report = targets.check_report(con, as_of=m(3))
    assert report["below_tier_count"] == 1
    assert [t["count"] for t in report["tiers"]] == [0, 0, 0, 0]


def test_tier_summary_by_unit_lists_every_tier_for_every_unit_with_zeros(con):
    add_projects(con,
                 {"project_id": "A", "unit_id": "JK", "total_investment_wan": 200000},
                 {"project_id": "B", "unit_id": "GX", "total_investment_wan": 3000},
                 {"project_id": "C", "unit_id": "GX", "total_investment_wan": 1500})
    got = targets.tier_summary(con, by="unit").select("unit_id", "tier", "count", "cumulative_count")
    want = pl.DataFrame({
        "unit_id": ["GX"] * 4 + ["JK"] * 4,
        "tier": ["10亿元以上", "1亿–10亿元", "3000万–1亿元", "1000万–3000万元"] * 2,
        "count": [0, 0, 1, 1, 1, 0, 0, 0],
        "cumulative_count": [0, 0, 1, 2, 1, 1, 1, 1],
    })
    assert_frame_equal(got, want)


def test_tier_summary_refuses_an_unknown_breakdown(con):
    with pytest.raises(ValueError, match="不支持"):
        targets.tier_summary(con, by="colour")


# --------------------------------------------------------------------------------------------
# target checks


def status_for(con, completed: float, planned: float = 1_000_000.0) -> tuple[str, float, float]:
    """One project, target 1,000,000万, as of March (seasonal share 0.09 → expected 90,000)."""
    set_target(con, "industrial_investment", 1_000_000)
    add_projects(con, {"project_id": "P1", "total_investment_wan": 2_000_000, "annual_plan_wan": planned})
    add_progress(con, ("P1", "2016-03", completed, None))
    row = targets.target_checks(con, as_of=m(3)).filter(pl.col("metric") == "industrial_investment")
    return row["status"][0], row["ytd_ratio"][0], row["coverage"][0]


@pytest.mark.parametrize(
    ("completed", "status", "ratio"),
    [
        (85_500.00, "on_track", 0.95),     # exactly the on_track threshold
        (85_499.99, "at_risk", 0.949999889),
        (76_500.00, "at_risk", 0.85),      # exactly the at_risk threshold
        (76_499.99, "off_track", 0.849999889),
    ],
)
def test_status_thresholds_include_their_exact_boundary_values(con, completed, status, ratio):
    got_status, got_ratio, coverage = status_for(con, completed)
    assert (got_status, got_ratio, coverage) == (status, ratio, 1.0)


def test_a_plan_that_does_not_cover_the_target_caps_the_status_at_at_risk(con):
    got_status, got_ratio, coverage = status_for(con, 90_000, planned=999_999.99)
    assert (got_status, got_ratio, coverage) == ("at_risk", 1.0, 0.99999999)


def test_target_checks_compute_expectations_base_year_and_shortfall_by_hand(con):
    set_target(con, "industrial_investment", 1_120_000, growth_pct=12.0)
    set_target(con, "tech_upgrade_investment", 500_000, growth_pct=0.0)
    add_projects(con,
                 {"project_id": "A", "nature": "新建", "total_investment_wan": 900_000, "annual_plan_wan": 600_000},
                 {"project_id": "B", "nature": "扩建", "total_investment_wan": 900_000, "annual_plan_wan": 300_000},
                 {"project_id": "C", "nature": "改建及技术改造", "total_investment_wan": 900_000,
                  "annual_plan_wan": 100_000})
    add_progress(con, ("A", "2016-05", 50_000, None), ("B", "2016-06", 40_000, None),
                 ("C", "2016-06", 10_000, None), ("A", "2015-12", 99_999, None), ("A", "2016-07", 77_777, None))
    got = targets.target_checks(con, as_of=m(6)).select(
        "metric", "target_wan", "planned_wan", "coverage", "shortfall_wan", "completed_wan", "seasonal_share",
        "expected_wan", "linear_expected_wan", "base_wan", "status")
    want = pl.DataFrame({
        "metric": ["industrial_investment", "tech_upgrade_investment"],
        "target_wan": [Decimal("1120000"), Decimal("500000")],
        "planned_wan": [Decimal("1000000"), Decimal("400000")],
        "coverage": [1_000_000 / 1_120_000, 0.8],
        "shortfall_wan": [120_000.0, 100_000.0],
        "completed_wan": [Decimal("100000"), Decimal("50000")],   # 2015 and after-June rows excluded
        "seasonal_share": [0.41, 0.41],
        "expected_wan": [1_120_000 * 0.41, 500_000 * 0.41],
        "linear_expected_wan": [560_000.0, 250_000.0],
        "base_wan": [1_000_000.0, 500_000.0],
        "status": ["off_track", "off_track"],
    }, schema_overrides={"target_wan": MONEY, "planned_wan": MONEY, "completed_wan": MONEY})
    assert_frame_equal(got, want, abs_tol=1e-6)


def test_months_with_no_progress_rows_count_as_nothing_completed(con):
    add_projects(con, {"project_id": "P1"})
    got = targets.target_checks(con, as_of=m(4))
    assert got["completed_wan"].to_list() == [Decimal("0.00"), Decimal("0.00")]
    assert got["ytd_ratio"].to_list() == [0.0, 0.0]
    assert targets.check_report(con)["as_of"] == "2016-01"  # no progress at all: plan-year January


def test_the_default_as_of_is_the_latest_month_with_progress_in_the_plan_year(con):
    add_projects(con, {"project_id": "P1"})
    add_progress(con, ("P1", "2016-07", 1, None), ("P1", "2017-02", 1, None), ("P1", "2015-11", 1, None))
    assert targets.check_report(con)["as_of"] == "2016-07"


def test_an_as_of_outside_the_plan_year_is_refused(con):
    with pytest.raises(ValueError, match="不在计划年度"):
        targets.target_checks(con, as_of=date(2017, 1, 1))


def test_unit_targets_are_allocated_by_plan_share_and_say_so(con):
    set_target(con, "industrial_investment", 1_000_000)
    add_projects(con,
                 {"project_id": "A", "unit_id": "JK", "annual_plan_wan": 3000},
                 {"project_id": "B", "unit_id": "JK", "annual_plan_wan": 1500},
                 {"project_id": "C", "unit_id": "GX", "annual_plan_wan": 1500})
    add_progress(con, ("A", "2016-03", 270, None), ("C", "2016-03", 135, None))
    got = (
        targets.target_checks(con, as_of=m(3), by="unit")
        .filter(pl.col("metric") == "industrial_investment")
        .select("unit_id", "target_basis", "target_wan", "planned_wan", "expected_wan", "ytd_ratio")
    )
    want = pl.DataFrame({
        "unit_id": ["GX", "JK"],
        "target_basis": [targets.ALLOCATED] * 2,
        "target_wan": [Decimal("250000"), Decimal("750000")],
        "planned_wan": [Decimal("1500"), Decimal("4500")],
        "expected_wan": [22_500.0, 67_500.0],
        "ytd_ratio": [0.006, 0.004],
    }, schema_overrides={"target_wan": MONEY, "planned_wan": MONEY})
    assert_frame_equal(got, want, abs_tol=1e-6)


def test_a_unit_target_given_in_the_targets_table_is_used_instead_of_an_allocation(con):
    con.execute("insert into targets (year, metric, scope, value_wan, label) values"
                " (2016, 'industrial_investment', 'unit:GX', 400000, '工业投资')")
    add_projects(con, {"project_id": "A", "unit_id": "JK"}, {"project_id": "C", "unit_id": "GX"})
    got = (
        targets.target_checks(con, as_of=m(3), by="unit")
        .filter(pl.col("metric") == "industrial_investment")
        .select("unit_id", "target_basis", "target_wan")
    )
    want = pl.DataFrame({"unit_id": ["GX", "JK"], "target_basis": [targets.ASSIGNED, targets.ALLOCATED],
                         "target_wan": [Decimal("400000"), Decimal("11760000")]},
                        schema_overrides={"target_wan": MONEY})
    assert_frame_equal(got, want)


# --------------------------------------------------------------------------------------------
# projects


def test_expected_to_date_renormalises_the_seasonal_profile_over_the_active_months(con):
    add_projects(con,
                 {"project_id": "full"},
                 {"project_id": "from_july", "start_date": date(2016, 7, 15)},
                 {"project_id": "to_june", "end_date": date(2016, 6, 30)},
                 {"project_id": "since_2015", "start_date": date(2015, 3, 1)},
                 {"project_id": "from_october", "start_date": date(2016, 10, 1)})
    got = targets.project_performance(con, as_of=m(9)).select("project_id", "active_from", "active_to",
                                                                "expected_share", "expected_wan")
    want = pl.DataFrame({
        "project_id": ["from_july", "from_october", "full", "since_2015", "to_june"],
        "active_from": [7, 10, 1, 1, 1],
        "active_to": [12, 12, 12, 12, 6],
        "expected_share": [0.35 / 0.59, 0.0, 0.76, 0.76, 1.0],     # (C9 − C6) / (C12 − C6) for July
        "expected_wan": [350 / 0.59, 0.0, 760.0, 760.0, 1000.0],
    })
    assert_frame_equal(got, want, abs_tol=1e-6)


def test_a_plan_whose_dates_lie_outside_the_plan_year_is_expected_over_the_whole_year(con):
    add_projects(con,
                 {"project_id": "in_2017", "start_date": date(2017, 3, 1)},
                 {"project_id": "ended_2015", "start_date": date(2014, 3, 1), "end_date": date(2015, 12, 1)},
                 {"project_id": "no_plan", "end_date": date(2015, 12, 1), "annual_plan_wan": 0})
    got = targets.project_performance(con, as_of=m(9)).select(
        "project_id", "active_from", "active_to", "dates_outside_year", "expected_share", "remaining_plan_wan")
    want = pl.DataFrame({
        "project_id": ["ended_2015", "in_2017", "no_plan"],
        "active_from": [1, 1, 1],
        "active_to": [12, 12, 0],
        "dates_outside_year": [True, True, False],
        "expected_share": [0.76, 0.76, 0.0],
        "remaining_plan_wan": [240.0, 240.0, 0.0],
    })
    assert_frame_equal(got, want, abs_tol=1e-6)


def test_project_flags_follow_the_performance_thresholds_at_their_boundaries(con):
    add_projects(con, *({"project_id": p, "annual_plan_wan": 1000} for p in ("g", "a", "r", "none")))
    add_progress(con, ("g", "2016-12", 900, None), ("a", "2016-12", 700, None), ("r", "2016-12", 699.99, None))
    con.execute("update projects set annual_plan_wan = 0 where project_id = 'none'")
    got = targets.project_performance(con, as_of=m(12)).select("project_id", "performance", "flag", "is_lagging")
    want = pl.DataFrame({
        "project_id": ["a", "g", "none", "r"],
        "performance": [0.7, 0.9, None, 0.69999],
        "flag": ["amber", "green", None, "red"],
        "is_lagging": [True, False, False, True],
    })
    assert_frame_equal(got, want)


def test_a_project_is_stalled_after_two_active_months_without_investment(con):
    add_projects(con,
                 {"project_id": "aug"}, {"project_id": "jul"}, {"project_id": "never"},
                 {"project_id": "new_sep", "start_date": date(2016, 9, 1)},
                 {"project_id": "new_aug", "start_date": date(2016, 8, 10)},
                 {"project_id": "done", "status": "竣工"},
                 {"project_id": "ended", "end_date": date(2016, 6, 30)},
                 {"project_id": "zero_rows"})
    add_progress(con, ("aug", "2016-08", 10, None), ("aug", "2016-09", 0, None), ("jul", "2016-07", 10, None),
                 ("zero_rows", "2016-05", 5, None), ("zero_rows", "2016-08", 0, None),
                 ("zero_rows", "2016-09", 0, None))
    got = targets.project_performance(con, as_of=m(9)).select("project_id", "idle_months", "stalled")
    want = pl.DataFrame({
        "project_id": ["aug", "done", "ended", "jul", "never", "new_aug", "new_sep", "zero_rows"],
        "idle_months": [1, 9, 0, 2, 9, 2, 1, 4],
        "stalled": [False, False, False, True, True, True, False, True],
    })
    assert_frame_equal(got, want)


def test_open_problems_come_from_the_latest_report_and_count_consecutive_months(con):
    add_projects(con, *({"project_id": p} for p in ("run", "gap", "solved", "stale", "year", "blank")))
    add_progress(
        con,
        ("run", "2016-06", 1, "用地"), ("run", "2016-07", 1, None), ("run", "2016-08", 1, "资金"),
        ("run", "2016-09", 1, "资金缺口"),
        ("gap", "2016-06", 1, "用地"), ("gap", "2016-08", 1, "用地"), ("gap", "2016-09", 1, "用地"),
        ("solved", "2016-08", 1, "环评"), ("solved", "2016-09", 1, None),
        ("stale", "2016-06", 1, "电力"), ("stale", "2016-07", 1, "电力"),   # no report since July
        ("year", "2015-11", 1, "审批"), ("year", "2015-12", 1, "审批"), ("year", "2016-01", 1, "审批"),
        ("blank", "2016-09", 1, "   "),
    )
    got = targets.project_performance(con, as_of=m(9)).select(
        "project_id", "open_problems", "open_problem_since", "open_problem_months")
    want = pl.DataFrame({
        "project_id": ["blank", "gap", "run", "solved", "stale", "year"],
        "open_problems": [None, "用地", "资金缺口", None, "电力", "审批"],
        "open_problem_since": [None, m(8), m(8), None, m(6), date(2015, 11, 1)],
        "open_problem_months": [0, 2, 2, 0, 2, 3],
    })
    assert_frame_equal(got, want)


def test_lagging_projects_are_sorted_by_how_far_behind_they_are(con):
    add_projects(con, {"project_id": "small", "annual_plan_wan": 100}, {"project_id": "big", "annual_plan_wan": 5000},
                 {"project_id": "ok", "annual_plan_wan": 5000})
    add_progress(con, ("small", "2016-12", 10, None), ("big", "2016-12", 4000, None), ("ok", "2016-12", 5000, None))
    got = targets.lagging_projects(con, as_of=m(12)).select("project_id", "behind_wan", "flag")
    want = pl.DataFrame({"project_id": ["big", "small"], "behind_wan": [1000.0, 90.0], "flag": ["amber", "red"]})
    assert_frame_equal(got, want)


def test_rollup_by_leader_counts_projects_investment_lagging_and_problems(con):
    add_projects(con,
                 {"project_id": "A", "leader": "李明", "leader_level": "局级", "annual_plan_wan": 1000},
                 {"project_id": "B", "leader": "李明", "leader_level": "局级", "annual_plan_wan": 2000},
                 {"project_id": "C", "leader": None, "leader_level": None, "annual_plan_wan": 500})
    add_progress(con, ("A", "2016-12", 1000, None), ("B", "2016-12", 500, "资金"), ("C", "2016-12", 0, None))
    got = targets.rollup(con, as_of=m(12), by="leader").select(
        "leader", "leader_level", "projects", "plan_wan", "completed_wan", "lagging", "red", "open_problems",
        "performance")
    want = pl.DataFrame({
        "leader": ["李明", targets.NO_OWNER],
        "leader_level": ["局级", targets.NO_OWNER],
        "projects": [2, 1],
        "plan_wan": [Decimal("3000"), Decimal("500")],
        "completed_wan": [Decimal("1500"), Decimal("0")],
        "lagging": [1, 1],
        "red": [1, 1],
        "open_problems": [1, 0],
        "performance": [0.5, 0.0],
    }, schema_overrides={"plan_wan": MONEY, "completed_wan": MONEY})
    assert_frame_equal(got, want)


@pytest.mark.parametrize("by", ["unit", "chain", "tier", "leader", "status", "nature", "leader_level"])
def test_rollup_groups_add_up_to_the_whole_plan(con, by):
    add_projects(con, *({"project_id": f"P{i}", "unit_id": ["JK", "GX"][i % 2], "chain_id": [None, "auto", "rail"][i % 3],
                         "total_investment_wan": 1000.0 * (i + 1) ** 2, "annual_plan_wan": 100.0 * (i + 1)}
                        for i in range(12)))
    got = targets.rollup(con, as_of=m(5), by=by)
    assert got["projects"].sum() == 12
    assert got["plan_wan"].sum() == Decimal("7800")


# --------------------------------------------------------------------------------------------
# responsibility


def test_responsibility_counts_compare_levels_and_cumulative_counts_with_the_source(con):
    add_projects(con,
                 {"project_id": "A", "leader_level": "市级"}, {"project_id": "B", "leader_level": "局级"},
                 {"project_id": "C", "leader_level": "局级"}, {"project_id": "D", "leader_level": "属地"},
                 {"project_id": "E", "leader_level": None})
    got = targets.responsibility_counts(con)
    want = pl.DataFrame({
        "leader_level": ["市级", "局级", "处室", "属地", targets.NO_OWNER],
        "count": [1, 2, 0, 1, 1],
        "plan_count": [23, 135, 622, 224, None],
        "count_diff": [-22, -133, -622, -223, None],
        "cumulative_label": ["市级或以上", "局级或以上", "处室或以上", "属地或以上", None],
        "cumulative_count": [1, 3, 3, 4, None],
        "plan_cumulative_count": [23, 158, 780, 1004, None],
        "cumulative_diff": [-22, -155, -777, -1000, None],
    })
    assert_frame_equal(got, want)


def test_responsibility_violations_name_each_kind_with_a_chinese_reason(con):
    add_projects(con,
                 {"project_id": "no_leader", "leader": None, "leader_level": "处室"},
                 {"project_id": "blank", "leader": "  ", "leader_level": None},
                 {"project_id": "no_level", "leader": "王五", "leader_level": None},
                 {"project_id": "big_local", "total_investment_wan": 3000, "leader_level": "属地"},
                 {"project_id": "small_local", "total_investment_wan": 2999.99, "leader_level": "属地"},
                 {"project_id": "major_div", "total_investment_wan": 50000, "is_major": True, "leader_level": "处室"},
                 {"project_id": "major_ok", "total_investment_wan": 50000, "is_major": True, "leader_level": "局级"},
                 {"project_id": "major_local", "total_investment_wan": 8000, "is_major": True, "leader_level": "属地"})
    got = targets.responsibility_violations(con).select("project_id", "rule", "required_level", "reason")
    want = pl.DataFrame({
        "project_id": ["blank", "no_leader", "no_level", "major_local", "big_local", "major_div", "major_local"],
        "rule": ["no_owner"] * 3 + ["below_min_level"] * 2 + ["major_below_level"] * 2,
        "required_level": [None, None, None, "处室", "处室", "局级", "局级"],
        "reason": [
            "未落实包保责任：包保领导和包保层级均为空",
            "未落实包保领导（包保层级为处室）",
            "未明确包保层级（包保领导为王五）",
            "总投资8000.0万元，达到3000万元应由处室或以上包保，现为属地",
            "总投资3000.0万元，达到3000万元应由处室或以上包保，现为属地",
            "重大产业化项目应由局级或以上领导包保，现为处室",
            "重大产业化项目应由局级或以上领导包保，现为属地",
        ],
    })
    assert_frame_equal(got, want)


# --------------------------------------------------------------------------------------------
# forecast


def test_the_point_forecast_is_completed_plus_remaining_plan_at_the_shrunk_pace(con):
    add_projects(con, {"project_id": "half", "annual_plan_wan": 1000}, {"project_id": "fresh", "annual_plan_wan": 800},
                 {"project_id": "fast", "annual_plan_wan": 1000})
    add_progress(con, ("half", "2016-06", 205, None), ("fast", "2016-06", 820, None))
    con.execute("update projects set start_date = date '2016-07-01' where project_id = 'fresh'")
    got = targets.project_performance(con, as_of=m(6)).select("project_id", "pace", "forecast_wan")
    w = 0.41 / (0.41 + 0.25)
    half_pace = w * 0.5 + (1 - w)
    want = pl.DataFrame({
        "project_id": ["fast", "fresh", "half"],
        "pace": [1.2, 1.0, half_pace],                       # fast: 2.0 shrunk to 1.62, capped at 1.2
        "forecast_wan": [820 + 590 * 1.2, 800.0, 205 + 590 * half_pace],
    })
    assert_frame_equal(got, want, abs_tol=1e-9)


def test_the_forecast_range_contains_the_point_and_is_deterministic(con):
    rng = np.random.default_rng(7)
    n = 300
    add_projects(con, *({"project_id": f"P{i:03d}", "nature": ["新建", "扩建"][i % 2],
                         "unit_id": ["JK", "GX", "QK"][i % 3],
                         "total_investment_wan": 20000.0, "annual_plan_wan": float(rng.integers(100, 10000))}
                        for i in range(n)))
    add_progress(con, *((f"P{i:03d}", f"2016-{mm:02d}", float(rng.integers(0, 800)), None)
                        for i in range(n) for mm in range(1, 8)))
    first, drivers = targets.forecast(con, as_of=m(7))
    second, drivers2 = targets.forecast(con, as_of=m(7))
    assert_frame_equal(first, second)
    assert_frame_equal(drivers, drivers2)
    for frame in (first, targets.target_checks(con, as_of=m(7), by="unit")):
        assert (frame["forecast_low_wan"] <= frame["forecast_wan"]).all()
        assert (frame["forecast_wan"] <= frame["forecast_high_wan"]).all()
        assert (frame["forecast_low_wan"] < frame["forecast_high_wan"]).all()
    perf = targets.project_performance(con, as_of=m(7))
    assert (perf["forecast_low_wan"] <= perf["forecast_wan"]).all()
    assert (perf["forecast_wan"] <= perf["forecast_high_wan"]).all()


def test_the_group_level_simulation_matches_a_per_project_simulation(con):
    """Aggregating per-project deviations (CLT) gives the same quantiles as simulating each project."""
    rng = np.random.default_rng(11)
    n = 2000
    add_projects(con, *({"project_id": f"P{i:04d}", "total_investment_wan": 1e6,
                         "annual_plan_wan": float(rng.lognormal(7, 1.2))} for i in range(n)))
    plans = con.execute("select project_id, annual_plan_wan::double from projects order by project_id").fetchall()
    add_progress(con, *((pid, "2016-06", round(plan * 0.41 * float(rng.uniform(0.3, 1.3)), 2), None)
                        for pid, plan in plans))
    summary, _ = targets.forecast(con, as_of=m(6))
    row = summary.filter(pl.col("metric") == "industrial_investment")
    perf = targets.project_performance(con, as_of=m(6))
    fc = targets.settings(con).forecast
    sims = 4000
    brute_rng = np.random.default_rng(99)
    common = np.exp(fc["common_sd"] * brute_rng.standard_normal(sims) - fc["common_sd"] ** 2 / 2)
    rest = perf["remaining_plan_wan"].to_numpy()
    pace = perf["pace"].to_numpy()
    sd = perf["pace_sd"].to_numpy()
    done = float(perf["completed_wan"].cast(pl.Float64).sum())
    totals = np.empty(sims)
    for k in range(sims):  # one lognormal pace draw per project
        ratio = pace * np.exp(sd * brute_rng.standard_normal(n) - sd * sd / 2)
        totals[k] = done + common[k] * (rest * ratio).sum()
    low, high = np.quantile(totals, [fc["low_quantile"], fc["high_quantile"]])
    assert row["forecast_low_wan"][0] == pytest.approx(low, rel=0.01)
    assert row["forecast_high_wan"][0] == pytest.approx(high, rel=0.01)
    assert row["forecast_wan"][0] == pytest.approx(totals.mean(), rel=0.01)


def test_drivers_rank_the_shortfall_and_the_projects_that_could_close_it(con):
    set_target(con, "industrial_investment", 3000)
    add_projects(con, {"project_id": "slow", "annual_plan_wan": 2000}, {"project_id": "late", "annual_plan_wan": 1000},
                 {"project_id": "done", "annual_plan_wan": 500, "end_date": date(2016, 5, 31)})
    add_progress(con, ("slow", "2016-06", 205, None), ("late", "2016-06", 0, None), ("done", "2016-05", 100, None))
    summary, drivers = targets.forecast(con, as_of=m(6))
    got = drivers.filter(pl.col("metric") == "industrial_investment").select("role", "rank", "project_id")
    want = pl.DataFrame({"role": ["shortfall"] * 3 + ["accelerate"] * 2, "rank": [1, 2, 3, 1, 2],
                         "project_id": ["slow", "late", "done", "slow", "late"]})
    assert_frame_equal(got, want)
    accel = drivers.filter((pl.col("metric") == "industrial_investment") & (pl.col("role") == "accelerate"))
    perf = targets.project_performance(con, as_of=m(6)).sort("project_id")
    slow = perf.filter(pl.col("project_id") == "slow")
    extra = min(2000 - slow["forecast_wan"][0], slow["remaining_plan_wan"][0] * (1.2 - slow["pace"][0]))
    assert accel["achievable_extra_wan"][0] == pytest.approx(extra)
    assert accel["cumulative_extra_wan"].to_list() == pytest.approx(accel["achievable_extra_wan"].cum_sum().to_list())
    assert accel["closes_gap"].to_list() == [False, False]  # a 500万 project already finished short
    row = summary.filter(pl.col("metric") == "industrial_investment")
    assert row["forecast_gap_wan"][0] > accel["achievable_extra_wan"].sum()
    assert row["acceleration_potential_wan"][0] == pytest.approx(accel["achievable_extra_wan"].sum())
    assert row["projects_to_close_gap"][0] is None


def test_projects_to_close_the_gap_counts_the_ranked_accelerators_needed(con):
    set_target(con, "industrial_investment", 2300)
    add_projects(con, {"project_id": "a", "annual_plan_wan": 1000}, {"project_id": "b", "annual_plan_wan": 1000},
                 {"project_id": "c", "annual_plan_wan": 500})
    add_progress(con, ("a", "2016-06", 205, None), ("b", "2016-06", 300, None), ("c", "2016-06", 205, None))
    summary, drivers = targets.forecast(con, as_of=m(6))
    accel = drivers.filter((pl.col("metric") == "industrial_investment") & (pl.col("role") == "accelerate"))
    gap = summary["forecast_gap_wan"][0]
    needed = int((accel["cumulative_extra_wan"] < gap).sum()) + 1
    assert accel["closes_gap"].to_list() == [k + 1 >= needed for k in range(accel.height)]
    assert summary["projects_to_close_gap"][0] == needed == 2


# --------------------------------------------------------------------------------------------
# the check report


def test_check_report_has_the_contract_keys_and_json_numbers(con):
    add_projects(con, {"project_id": "P1", "nature": "扩建"})
    add_progress(con, ("P1", "2016-02", 12.345, "用地"))
    report = targets.check_report(con, as_of=m(2))
    text = json.dumps(report, ensure_ascii=False)
    assert json.loads(text) == report
    assert {"year", "as_of", "metrics", "tiers", "lagging_projects"} <= report.keys()
    assert [x["metric"] for x in report["metrics"]] == list(targets.METRICS)
    for metric in report["metrics"]:
        assert {"metric", "target_wan", "planned_wan", "completed_wan", "expected_wan", "forecast_wan",
                "forecast_low_wan", "forecast_high_wan", "status"} <= metric.keys()
        assert metric["status"] in ("on_track", "at_risk", "off_track")
    assert report["metrics"][0]["completed_wan"] == 12.35
    assert report["metrics"][0]["target_wan"] == 23_520_000.0
    for tier in report["tiers"]:
        assert {"tier", "min_wan", "count", "cumulative_count", "plan_cumulative_count", "plan_wan"} <= tier.keys()


def test_print_check_shows_money_in_yi_with_chinese_headers(con):
    from rich.console import Console

    add_projects(con, {"project_id": "P1", "name": "奥迪Q工厂", "annual_plan_wan": 1000})
    add_progress(con, ("P1", "2016-03", 10, "用地未落实"))
    console = Console(record=True, width=240)
    print_check(targets.check_report(con, as_of=m(3)), console)
    text = console.export_text()
    for expected in ("年度目标（亿元）", "工业投资", "2,352.00", "1,410.00", "投资规模档次", "包保责任", "奥迪Q工厂", "用地未落实（1个月）"):
        assert expected in text


# --------------------------------------------------------------------------------------------
# the sample plan

needs_sample = pytest.mark.skipif(not HAS_SAMPLE, reason="portfolio.sample (the sample plan) has not landed yet")


@pytest.fixture(scope="module")
def sample_db(tmp_path_factory) -> Path:
    """The bundled sample plan (1004 projects, progress January–September 2016)."""
    path = tmp_path_factory.mktemp("sample") / "sample.duckdb"
    store.init_db(path, force=True, sample=True)
    return path


@needs_sample
def test_check_report_on_the_sample_agrees_with_plain_sql(sample_db):
    with store.connect(sample_db, read_only=True) as c:
        report = targets.check_report(c, as_of=m(9))
        natures = config.targets_config()["tech_upgrade_natures"]
        sql = c.execute(
            "select sum(annual_plan_wan), sum(annual_plan_wan) filter (where nature in (?, ?)) from projects",
            natures).fetchall()[0]
        done = c.execute(
            "select sum(g.completed_wan), sum(g.completed_wan) filter (where p.nature in (?, ?))"
            " from progress g join projects p using (project_id)"
            " where g.month between date '2016-01-01' and date '2016-09-01'", natures).fetchall()[0]
        tiers = c.execute(
            "select count(*) filter (where total_investment_wan >= 100000),"
            " count(*) filter (where total_investment_wan >= 10000),"
            " count(*) filter (where total_investment_wan >= 3000),"
            " count(*) filter (where total_investment_wan >= 1000) from projects").fetchall()[0]
    metrics = {x["metric"]: x for x in report["metrics"]}
    assert metrics["industrial_investment"]["planned_wan"] == round(float(sql[0]), 2)
    assert metrics["tech_upgrade_investment"]["planned_wan"] == round(float(sql[1]), 2)
    assert metrics["industrial_investment"]["completed_wan"] == round(float(done[0]), 2)
    assert metrics["tech_upgrade_investment"]["completed_wan"] == round(float(done[1]), 2)
    assert [t["cumulative_count"] for t in report["tiers"]] == list(tiers)
    assert [t["cumulative_count"] for t in report["tiers"]] == [84, 520, 780, 1004]
    for x in report["metrics"]:
        assert x["forecast_low_wan"] <= x["forecast_wan"] <= x["forecast_high_wan"]


@needs_sample
def test_the_check_command_prints_the_contract_json_and_exits_by_status(sample_db):
    from typer.testing import CliRunner

    from portfolio.cli import app

    result = CliRunner().invoke(app, ["check", "--as-of", "2016-09", "--json", "--db", str(sample_db)])
    payload = json.loads(result.stdout)
    assert {"year", "as_of", "metrics", "tiers", "lagging_projects"} <= payload.keys()
    assert payload["as_of"] == "2016-09"
    off = any(x["status"] == "off_track" for x in payload["metrics"])
    assert result.exit_code == (1 if off else 0)


def test_a_profile_with_no_weight_in_the_active_months_falls_back_to_an_even_spread(con):
    add_projects(con, {"project_id": "winter", "end_date": date(2016, 2, 29)},
                 {"project_id": "spring", "end_date": date(2016, 3, 31)})
    winter_free = (0.0, 0.0, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1)
    rules.apply(con, dataclasses.replace(rules.in_force(con), shares=winter_free), actor="test")
    assert targets.settings(con).shares == winter_free
    got = targets.project_frame(con, as_of=m(1)).select("project_id", "expected_share", "expected_wan")
    assert_frame_equal(got, pl.DataFrame({"project_id": ["spring", "winter"], "expected_share": [0.0, 0.5],
                                          "expected_wan": [0.0, 500.0]}))


def test_an_empty_database_reports_zero_everywhere_and_is_off_track(con):
    report = targets.check_report(con)
    assert report["projects"] == 0
    assert [(x["planned_wan"], x["forecast_wan"], x["forecast_low_wan"], x["status"]) for x in report["metrics"]] == [
        (0.0, 0.0, 0.0, "off_track"), (0.0, 0.0, 0.0, "off_track")]
    assert report["lagging_projects"] == [] and report["violations"] == []
