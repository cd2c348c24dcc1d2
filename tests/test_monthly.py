"""Month-by-month target data (monthly.targets_monthly) and the target charts built on it."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from portfolio import charts, config, monthly, store, targets, years

AS_OF = date(2016, 9, 1)


@pytest.fixture(scope="module")
def frames(sample_db_template: Path) -> dict[str, Any]:
    """The monthly frame, tiers, checks by unit and chain, and the check report of the sample."""
    with store.connect(sample_db_template, read_only=True) as con:
        rows = con.execute(
            "select g.month, g.completed_wan, p.nature from progress g join projects p using (project_id)"
        ).fetchall()
        return {
            "monthly": monthly.targets_monthly(con, as_of=AS_OF),
            "august": monthly.targets_monthly(con, as_of=date(2016, 8, 1), metric="tech_upgrade_investment"),
            "tiers": targets.tier_summary(con),
            "units": targets.target_checks(con, as_of=AS_OF, by="unit"),
            "chains": targets.target_checks(con, as_of=AS_OF, by="chain"),
            "check": targets.check_report(con, as_of=AS_OF),
            "rows": rows,
        }


def spec(chart: Any) -> str:
    """The Vega-Lite spec as JSON text, without the $schema address."""
    d = chart.to_dict()
    d.pop("$schema", None)
    return json.dumps(d, ensure_ascii=False)


def test_monthly_figures_match_a_plain_python_sum_of_the_progress_rows(frames: dict[str, Any]) -> None:
    tech = set(config.targets_config()["tech_upgrade_natures"])
    by_month: dict[tuple[str, int], Decimal] = defaultdict(Decimal)
    for month, done, nature in frames["rows"]:
        if month.year == 2016 and month <= AS_OF:
            by_month[("industrial_investment", month.month)] += done
            if nature in tech:
                by_month[("tech_upgrade_investment", month.month)] += done
    shares = config.seasonal_shares()
    goal = {"industrial_investment": Decimal(23520000), "tech_upgrade_investment": Decimal(14100000)}
    expected = []
    for metric in targets.METRICS:
        running = Decimal(0)
        for m in range(1, 13):
            done = by_month[(metric, m)] if m <= 9 else None
            running = running + done if done is not None else running
            expected.append({
                "metric": metric, "month_index": m, "completed_wan": done,
                "cumulative_completed_wan": running if m <= 9 else None,
                "expected_cumulative_wan": float(goal[metric]) * round(sum(shares[:m]), 10),
                "linear_cumulative_wan": float(goal[metric]) * m / 12,
            })
    got = frames["monthly"].select("metric", "month_index", "completed_wan", "cumulative_completed_wan",
                                   "expected_cumulative_wan", "linear_cumulative_wan")
    want = pl.DataFrame(expected, schema=got.schema)
    assert_frame_equal(got, want)


def test_the_cumulative_at_the_as_of_month_equals_the_check_report(frames: dict[str, Any]) -> None:
    at = frames["monthly"].filter(pl.col("month_index") == 9)
    for m in frames["check"]["metrics"]:
        row = at.filter(pl.col("metric") == m["metric"])
        assert round(float(row["cumulative_completed_wan"][0]), 2) == m["completed_wan"]
        assert round(float(row["expected_cumulative_wan"][0]), 2) == m["expected_wan"]
        assert round(float(row["linear_cumulative_wan"][0]), 2) == m["linear_expected_wan"]


def test_one_metric_can_be_asked_and_months_after_as_of_stay_empty(frames: dict[str, Any]) -> None:
    aug = frames["august"]
    assert aug["metric"].unique().to_list() == ["tech_upgrade_investment"]
    assert aug.height == 12
    assert aug.filter(pl.col("month_index") > 8)["cumulative_completed_wan"].null_count() == 4
    assert aug["target_wan"].unique().to_list() == [Decimal("14100000.00")]


def test_an_as_of_outside_the_plan_year_or_an_unknown_metric_is_refused(sample_db_template: Path) -> None:
    with store.connect(sample_db_template, read_only=True) as con:
        with pytest.raises(ValueError, match="计划年度"):
            monthly.targets_monthly(con, as_of=date(2017, 1, 1))
        with pytest.raises(ValueError, match="不支持的指标"):
            monthly.targets_monthly(con, as_of=AS_OF, metric="output")


def test_the_s_curve_renders_both_metrics_in_chinese_with_yi_axes(frames: dict[str, Any]) -> None:
    svg = charts.to_svg(charts.s_curve(frames["monthly"]))
    assert svg.startswith("<svg")
    for text in ("工业投资：累计完成与目标进度", "技术改造投资：累计完成与目标进度", "累计完成投资（亿元）",
                 "季节预期", "时间进度", "年度目标 2,352 亿元", "年度目标 1,410 亿元", "9月", "1,685"):
        assert text in svg, text


def test_the_s_curve_speaks_english_when_asked(frames: dict[str, Any]) -> None:
    text = spec(charts.s_curve(frames["monthly"], lang="en"))
    assert "Industrial investment: cumulative completion" in text
    assert "Cumulative investment (100 m yuan)" in text
    assert "季节预期" not in text


def test_the_tier_funnel_shows_cumulative_counts_against_the_plan(frames: dict[str, Any]) -> None:
    svg = charts.to_svg(charts.tier_funnel(frames["tiers"]))
    for text in ("1000万元以上", "3000万元以上", "1亿元以上", "10亿元以上", "1,004 个（计划 1,004）",
                 "780 个（计划 780）", "520 个（计划 520）", "84 个（计划 84）"):
        assert text in svg, text
    assert "≥ 1 bn yuan" in spec(charts.tier_funnel(frames["tiers"], lang="en"))


def test_group_bars_show_units_largest_plan_first_in_yi(frames: dict[str, Any]) -> None:
    chart = charts.group_bars(frames["units"], group="unit")
    d = chart.to_dict()
    layer = d["layer"][0]
    order = layer["encoding"]["y"]["sort"]
    units = frames["units"].filter(pl.col("metric") == "industrial_investment")
    want = units.sort(["planned_wan", "unit_name"], descending=[True, False])["unit_name"].to_list()
    assert order == want
    values = {(v["name"], v["series"]): v["v"] for v in layer["data"]["values"]}
    top = units.filter(pl.col("unit_name") == want[0]).row(0, named=True)
    assert values[(want[0], "年度计划")] == pytest.approx(float(top["planned_wan"]) / 10_000)
    assert values[(want[0], "累计完成")] == pytest.approx(float(top["completed_wan"]) / 10_000)
    assert "分责任单位：工业投资（亿元）" in spec(chart)


def test_group_bars_by_chain_render_and_refuse_an_unknown_group(frames: dict[str, Any]) -> None:
    svg = charts.to_svg(charts.group_bars(frames["chains"], group="chain", metric="tech_upgrade_investment"))
    assert "分产业链：技术改造投资（亿元）" in svg and "汽车" in svg
    with pytest.raises(ValueError, match="unit 或 chain"):
        charts.group_bars(frames["chains"], group="tier")


# --------------------------------------------------------------------------------------------
# plan years: the S-curve data of any year, last year's same months, the bureau's figure


@pytest.fixture
def rolled(sample_db: Path) -> Path:
    """The sample with 2017 opened (2016 closed)."""
    with store.connect(sample_db) as con:
        years.open_year(con, 2017, targets={"industrial_investment": Decimal(26_000_000),
                                            "tech_upgrade_investment": Decimal(15_500_000)}, actor="test")
    return sample_db


def test_a_closed_year_reads_as_before_the_rollover_and_the_new_year_has_its_target(
        sample_db_template: Path, rolled: Path) -> None:
    with store.connect(sample_db_template, read_only=True) as con:
        before = monthly.targets_monthly(con, as_of=AS_OF)
    with store.connect(rolled, read_only=True) as con:
        after = monthly.targets_monthly(con, as_of=AS_OF)
        assert_frame_equal(monthly.targets_monthly(con, as_of=AS_OF, year=2016), after)
        new = monthly.targets_monthly(con, as_of=date(2017, 1, 1))
        check = targets.check_report(con, as_of=date(2017, 1, 1))
        with pytest.raises(ValueError, match="计划年度"):
            monthly.targets_monthly(con, as_of=date(2018, 1, 1))
    assert_frame_equal(before, after)
    assert new["target_wan"].unique().sort().to_list() == [Decimal("15500000.00"), Decimal("26000000.00")]
    # nothing done in 2017 yet; last year's line is 2016's projects' months, through September
    jan = new.filter(pl.col("month_index") == 1)
    assert jan["cumulative_completed_wan"].to_list() == [Decimal("0.00"), Decimal("0.00")]
    for m in check["metrics"]:
        row = jan.filter(pl.col("metric") == m["metric"]).row(0, named=True)
        assert round(float(row["cumulative_prev_wan"]), 2) == m["library_prev_wan"] > 0
    # last year's line is 2016's own: the same months as the 2016 frame, month by month
    same_months = before.filter(pl.col("month_index") <= 9).select("metric", "month_index", "cumulative_completed_wan")
    assert_frame_equal(
        new.filter(pl.col("month_index") <= 9).select("metric", "month_index",
                                                      pl.col("cumulative_prev_wan").alias("cumulative_completed_wan")),
        same_months)
    assert new.filter(pl.col("month_index") > 9)["cumulative_prev_wan"].null_count() == 6
    assert new.filter(pl.col("month_index") <= 9)["cumulative_prev_wan"].null_count() == 0


def test_the_bureaus_line_is_its_published_months_and_last_year_needs_a_plan_year(sample_db: Path) -> None:
    with store.connect(sample_db) as con:
        con.execute("delete from actuals")
        con.execute("insert into actuals (month, metric, cumulative_wan) values"
                    " ('2016-03-01', 'industrial_investment', 2100000), ('2016-09-01', 'industrial_investment', 17300000),"
                    " ('2016-10-01', 'industrial_investment', 19000000), ('2015-11-01', 'industrial_investment', 18000000)")
        frame = monthly.targets_monthly(con, as_of=AS_OF, metric="industrial_investment")
        check = targets.check_report(con, as_of=AS_OF)
    official = frame.select("month_index", "official_cumulative_wan").drop_nulls()
    # published months only, and none after the as-of month
    assert official.rows() == [(3, Decimal("2100000.00")), (9, Decimal("17300000.00"))]
    # last year's official figures are known for the whole year: November's shows past the as-of month
    assert frame.select("month_index", "official_prev_cumulative_wan").drop_nulls().rows() == [
        (11, Decimal("18000000.00"))]
    # 2015 is history, not a plan year: no library figure for last year (whatever progress it holds)
    assert frame["cumulative_prev_wan"].null_count() == 12
    assert check["metrics"][0]["library_prev_wan"] is None


def test_the_s_curve_draws_last_year_and_the_bureau_only_when_there_are_figures(frames: dict[str, Any]) -> None:
    columns = ("cumulative_prev_wan", "official_cumulative_wan", "official_prev_cumulative_wan")
    plain = frames["monthly"].with_columns(pl.lit(None, dtype=pl.Decimal(38, 2)).alias(c) for c in columns)
    text = spec(charts.s_curve(plain))
    for label in ("项目库上年同期", "统计局本年累计", "统计局上年同期"):  # not even in the legend
        assert label not in text, label
    fuller = plain.with_columns(
        (pl.col("expected_cumulative_wan") * 0.9).cast(pl.Decimal(38, 2)).alias("cumulative_prev_wan"),
        (pl.col("expected_cumulative_wan") * 0.95).cast(pl.Decimal(38, 2)).alias("official_prev_cumulative_wan"),
        pl.when(pl.col("month_index") <= 9).then(pl.col("cumulative_completed_wan") * 1.02)
        .cast(pl.Decimal(38, 2)).alias("official_cumulative_wan"))
    at9 = fuller.filter(pl.col("month_index") == 9, pl.col("metric") == "industrial_investment").row(0, named=True)
    library = (float(at9["cumulative_completed_wan"]) / float(at9["cumulative_prev_wan"]) - 1) * 100
    bureau = (float(at9["official_cumulative_wan"]) / float(at9["official_prev_cumulative_wan"]) - 1) * 100
    svg = charts.to_svg(charts.s_curve(fuller))
    for text in ("项目库上年同期", "统计局本年累计", "统计局上年同期", "统计局本年累计1,718.9亿元",
                 f"项目库上年同期{float(at9['cumulative_prev_wan']) / 1e4:,.1f}亿元（同比{library:+.1f}%）",
                 f"（同比{bureau:+.1f}%）"):
        assert text in svg, text
    english = spec(charts.s_curve(fuller, lang="en"))
    assert "Pipeline, last year" in english and "Bureau year to date" in english and "上年" not in english


def test_project_years_lists_plans_and_history_year_by_year(rolled: Path) -> None:
    with store.connect(rolled) as con:
        pid = con.execute("select project_id from plans where year = 2017 order by project_id limit 1").fetchall()[0][0]
        con.execute("delete from progress where project_id = ? and year(month) = 2015", [pid])
        con.execute("insert into progress (project_id, month, completed_wan) values (?, '2015-06-01', 1200)", [pid])
        got = monthly.project_years(con, pid)
        plan16, done16 = con.execute(
            "select annual_plan_wan, (select sum(completed_wan) from progress where project_id = $1"
            " and year(month) = 2016) from plans where project_id = $1 and year = 2016", [pid]).fetchall()[0]
        assert monthly.project_years(con, "no such project").is_empty()
    assert got["year"].to_list() == [2015, 2016, 2017]
    assert got["year_state"].to_list() == ["history", "closed", "current"]
    assert got["in_plan"].to_list() == [False, True, True]
    assert got["annual_plan_wan"].to_list() == [None, plan16, None]  # 2017's plan is not imported yet
    assert got["completed_wan"].to_list() == [Decimal("1200.00"), done16, Decimal("0.00")]
    assert got["cumulative_wan"].to_list() == [Decimal("1200.00"), done16 + 1200, done16 + 1200]
    assert got["plan_ratio"][1] == pytest.approx(float(done16) / float(plan16))
