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

from portfolio import charts, config, monthly, store, targets

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
