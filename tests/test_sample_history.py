"""The sample's past (issue 13, item 5): 2015 progress and the statistics bureau's figures.

Every figure the source gives for 规上工业产值 holds in ``actuals``; 2015 investment is the 2016
targets over their growth; 2016 official investment is close to, never equal to, the library's
completed; 2015 progress exists only for projects that started before 2016, from their start
month; 开累 never passes the total investment; the check's official figures equal plain SQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from portfolio import config, sample, store, targets
from portfolio.sample import history

OUTPUT, INDUSTRIAL, TECH = "industrial_output", "industrial_investment", "tech_upgrade_investment"


@pytest.fixture(scope="module")
def con(sample_db_template: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection to the session's sample database (conftest)."""
    with store.connect(sample_db_template, read_only=True) as connection:
        yield connection


@pytest.fixture(scope="module")
def official(con: duckdb.DuckDBPyConnection) -> dict[tuple[str, date], tuple[Decimal, Decimal | None]]:
    """(metric, month) → (本年累计, published 同比), straight from the table."""
    return {(m, month): (c, y) for month, m, c, y in
            con.execute("select month, metric, cumulative_wan, yoy_pct from actuals").fetchall()}


def cum(official: dict[tuple[str, date], Any], metric: str, year: int, month: int) -> float:
    return float(official[(metric, date(year, month, 1))][0])


def yoy(official: dict[tuple[str, date], Any], metric: str, year: int, month: int) -> float:
    return float(official[(metric, date(year, month, 1))][1])


# --------------------------------------------------------------------------------------------
# the official series


def test_actuals_cover_2015_and_2016_to_september_for_the_three_metrics(
    official: dict[tuple[str, date], Any],
) -> None:
    months = [date(2015, m, 1) for m in range(1, 13)] + [date(2016, m, 1) for m in range(1, 10)]
    assert set(official) == {(metric, month) for metric in (INDUSTRIAL, TECH, OUTPUT) for month in months}
    assert all(y is not None for _, y in official.values())
    for metric in (INDUSTRIAL, TECH, OUTPUT):
        for year, last in ((2015, 12), (2016, 9)):
            series = [cum(official, metric, year, m) for m in range(1, last + 1)]
            assert all(b > a > 0 for a, b in zip(series, series[1:], strict=False)), (metric, year)


def test_industrial_output_honours_every_figure_of_the_source(official: dict[tuple[str, date], Any]) -> None:
    def c(year: int, month: int) -> float:
        return cum(official, OUTPUT, year, month)

    # 今年前两个月全市累计下降4.6%
    assert yoy(official, OUTPUT, 2016, 2) == -4.6
    assert (c(2016, 2) / c(2015, 2) - 1) * 100 == pytest.approx(-4.6, abs=1e-6)
    # 3月份当月增长15.8%
    march = (c(2016, 3) - c(2016, 2)) / (c(2015, 3) - c(2015, 2))
    assert (march - 1) * 100 == pytest.approx(15.8, abs=1e-6)
    # 1-3月，全市规上工业完成产值2284.1亿元，同比增长3%（占全年计划目标的25.5%）
    assert official[(OUTPUT, date(2016, 3, 1))][0] == Decimal("22841000.00")
    assert yoy(official, OUTPUT, 2016, 3) == 3.0
    assert round(c(2016, 3) / 89_700_000 * 100, 1) == 25.5
    # 二季度安排计划：工业产值2246亿元，同比增长5.1%
    q2, q2_prev = c(2016, 6) - c(2016, 3), c(2015, 6) - c(2015, 3)
    assert q2 == pytest.approx(22_460_000, abs=0.005)
    assert (q2 / q2_prev - 1) * 100 == pytest.approx(5.1, abs=1e-6)
    # 上半年预计工业累计完成产值4530亿元，同比增长4%，占全年8970亿元的50.5%
    assert c(2016, 6) == pytest.approx(45_300_000, abs=10_000)  # within 1亿 (4530.1亿)
    assert round(yoy(official, OUTPUT, 2016, 6)) == 4
    assert round(c(2016, 6) / 89_700_000 * 100, 1) == 50.5
    # 三季度有望增长5%（累计）; the year's 8970亿 at +6% puts 2015 at 8970亿 / 1.06
    assert yoy(official, OUTPUT, 2016, 9) == 5.0
    assert official[(OUTPUT, date(2015, 12, 1))][0] == Decimal("84622641.51")
    # 结束连续12个月的负增长: every month from March 2015 to February 2016 below the year before
    alone = [c(2016, 1) - 0, c(2016, 2) - c(2016, 1)]
    alone_prev = [c(2015, 1), c(2015, 2) - c(2015, 1)]
    assert all(a < b for a, b in zip(alone, alone_prev, strict=True))
    assert all(yoy(official, OUTPUT, 2015, m) < 0 for m in range(3, 13))


def test_2015_investment_is_the_2016_targets_over_their_growth(
    con: duckdb.DuckDBPyConnection, official: dict[tuple[str, date], Any],
) -> None:
    assert official[(INDUSTRIAL, date(2015, 12, 1))][0] == Decimal("21000000.00")  # 2352亿 / 1.12 = 2100亿
    assert official[(TECH, date(2015, 12, 1))][0] == Decimal("12589285.71")  # 1410亿 / 1.12 ≈ 1258.9亿
    assert round(cum(official, TECH, 2015, 12) / 10_000, 1) == 1258.9
    targets_2016 = dict(con.execute(
        "select metric, value_wan / (1 + growth_pct / 100) from targets where year = 2016 and scope = 'city'"
    ).fetchall())
    shares = config.seasonal_shares()
    for metric in (INDUSTRIAL, TECH):
        assert cum(official, metric, 2015, 12) == pytest.approx(float(targets_2016[metric]), abs=0.01)
        for m in range(1, 13):  # 本年累计 along the seasonal profile (前低后高)
            expected = float(targets_2016[metric]) * sum(shares[:m])
            assert cum(official, metric, 2015, m) == pytest.approx(expected, abs=0.01), (metric, m)


def test_2016_official_investment_is_close_to_the_library_but_not_equal(
    con: duckdb.DuckDBPyConnection, official: dict[tuple[str, date], Any],
) -> None:
    natures = config.targets_config()["tech_upgrade_natures"]
    library = con.execute("""
        select month(g.month),
               sum(sum(g.completed_wan)) over (order by month(g.month)),
               sum(coalesce(sum(g.completed_wan) filter (where p.nature in ?), 0)) over (order by month(g.month))
        from progress g join projects p using (project_id)
        where year(g.month) = 2016 group by month(g.month) order by 1
    """, [natures]).fetchall()
    assert [r[0] for r in library] == list(range(1, 10))
    for metric, column in ((INDUSTRIAL, 1), (TECH, 2)):
        ratios = [cum(official, metric, 2016, r[0]) / float(r[column]) for r in library]
        assert all(1.0 < x <= 1.06 for x in ratios), (metric, ratios)  # above the library, by a few %
        assert len({round(x, 4) for x in ratios}) > 3, metric  # the ratio varies by month


def test_2016_published_growth_is_computed_against_2015_and_rounded(
    con: duckdb.DuckDBPyConnection,
) -> None:
    rows = con.execute("""
        select a.metric, a.month, a.yoy_pct, round((a.cumulative_wan::double / p.cumulative_wan::double - 1) * 100, 2)::decimal(7, 2)
        from actuals a join actuals p on p.metric = a.metric and p.month = a.month - interval 1 year
        order by all
    """).fetchall()
    assert len(rows) == 27
    assert all(r[2] == r[3] for r in rows), [r for r in rows if r[2] != r[3]]


def test_check_carries_official_figures_equal_to_plain_sql(con: duckdb.DuckDBPyConnection) -> None:
    report = targets.check_report(con, as_of=date(2016, 9, 1))
    sql = {m: (cur, prev) for m, cur, prev in con.execute("""
        select a.metric, a.cumulative_wan, p.cumulative_wan from actuals a
        join actuals p on p.metric = a.metric and p.month = date '2015-09-01'
        where a.month = date '2016-09-01'
    """).fetchall()}
    metrics = {m["metric"]: m for m in report["metrics"]}
    assert {INDUSTRIAL, TECH} <= set(metrics)
    for metric in (INDUSTRIAL, TECH):
        got, (cur, prev) = metrics[metric], sql[metric]
        assert got["official_completed_wan"] is not None and got["completed_prev_wan"] is not None
        assert got["official_completed_wan"] == pytest.approx(float(cur), abs=0.005)
        assert got["completed_prev_wan"] == pytest.approx(float(prev), abs=0.005)
        assert got["yoy_pct"] == round((float(cur) / float(prev) - 1) * 100, 4)  # as check --json rounds it
        assert got["official_completed_wan"] != got["completed_wan"]


# --------------------------------------------------------------------------------------------
# 2015 progress


def test_2015_progress_only_for_projects_started_before_2016_from_their_start_month(
    con: duckdb.DuckDBPyConnection,
) -> None:
    bad = con.execute("""
        select count(*) filter (where p.start_date >= date '2016-01-01' or p.start_date is null),
               count(*) filter (where g.month < date_trunc('month', p.start_date)),
               count(*) filter (where g.month > p.end_date),
               count(*) filter (where g.completed_wan <= 0),
               count(*) filter (where g.problems is not null or g.problem_level is not null),
               count(distinct g.project_id)
        from progress g join projects p using (project_id)
        where year(g.month) = 2015
    """).fetchall()[0]
    assert bad[:5] == (0, 0, 0, 0, 0)
    started = con.execute("select count(*) from projects where start_date < date '2016-01-01'").fetchall()[0][0]
    assert 500 <= bad[5] <= started  # nearly every project under construction before 2016
    # every month from the later of its start and January 2015 to December 2015 (or its end)
    gaps = con.execute("""
        select count(*) from (
            select p.project_id, count(*) as n,
                   datediff('month', greatest(date_trunc('month', p.start_date), date '2015-01-01'),
                            least(date_trunc('month', p.end_date), date '2015-12-01')) + 1 as months
            from progress g join projects p using (project_id)
            where year(g.month) = 2015 group by all
        ) where n <> months
    """).fetchall()[0][0]
    assert gaps == 0
    assert con.execute("select min(month), max(month) from progress").fetchall() == [
        (date(2015, 1, 1), date(2016, 9, 1))]


def test_cumulative_investment_since_start_never_passes_the_total(con: duckdb.DuckDBPyConnection) -> None:
    over = con.execute("""
        select count(*) from (
            select p.project_id, p.total_investment_wan, sum(g.completed_wan) as since_start
            from progress g join projects p using (project_id) group by all
        ) where since_start > total_investment_wan
    """).fetchall()[0][0]
    assert over == 0
    # 形象进度 climbs through the year boundary: December 2015 never above January 2016
    down = con.execute("""
        select count(*) from progress d join progress j using (project_id)
        where d.month = date '2015-12-01' and j.month = date '2016-01-01' and d.physical_pct > j.physical_pct
    """).fetchall()[0][0]
    assert down == 0


def test_2015_follows_the_seasonal_profile_front_low_back_high(con: duckdb.DuckDBPyConnection) -> None:
    per_month = dict(con.execute(
        "select month(month), sum(completed_wan) from progress where year(month) = 2015 group by all").fetchall())
    first_quarter = sum(per_month[m] for m in (1, 2, 3))
    third_quarter = sum(per_month[m] for m in (7, 8, 9))
    assert third_quarter > 3 * first_quarter


def test_the_2016_progress_is_the_one_before_the_sample_had_a_past(con: duckdb.DuckDBPyConnection) -> None:
    # one project (of 1004) whose 2016 months alone would pass its total is scaled down to it
    rows = con.execute(
        "select count(*), sum(completed_wan) from progress where year(month) = 2016").fetchall()
    assert rows == [(6549, Decimal("16851761.17"))]


# --------------------------------------------------------------------------------------------
# build, determinism, configuration


def test_the_database_holds_the_built_actuals_and_the_same_seed_builds_them_again(
    con: duckdb.DuckDBPyConnection,
) -> None:
    built = sample.build_sample()
    stored = con.sql("select month, metric, cumulative_wan, yoy_pct from actuals").pl()
    assert_frame_equal(stored.sort("metric", "month"), built.actuals.sort("metric", "month"), check_dtypes=False)
    again = sample.build_sample()
    assert_frame_equal(again.actuals, built.actuals)
    assert_frame_equal(again.progress, built.progress)
    other = sample.build_sample(seed=7)
    past = pl.col("month").dt.year() == 2015
    assert not other.progress.filter(past).equals(built.progress.filter(past))
    # the output series does not depend on the ledger
    assert_frame_equal(other.actuals.filter(pl.col("metric") == OUTPUT),
                       built.actuals.filter(pl.col("metric") == OUTPUT))


def test_a_scaled_sample_scales_the_2015_investment_with_the_ledger() -> None:
    small = sample.build_sample(251).actuals  # a quarter of 1004
    dec = dict(small.filter(pl.col("month") == date(2015, 12, 1)).select("metric", "cumulative_wan").iter_rows())
    assert float(dec[INDUSTRIAL]) == pytest.approx(21_000_000 / 4, abs=0.01)
    assert dec[OUTPUT] == Decimal("84622641.51")


def test_the_history_file_is_found_when_the_configuration_folder_lacks_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PORTFOLIO_DATA_DIR", str(tmp_path))
    assert history.history_config() == history.history_config(config.ROOT / "data")
    (tmp_path / history.HISTORY_FILE).write_text("base_year = [", encoding="utf-8")
    with pytest.raises(config.ConfigError, match="格式错误"):
        history.history_config()
