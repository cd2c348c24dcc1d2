"""Month by month against the targets: the data behind the S-curve (累计完成 vs 季节预期).

One aggregate query over ``progress`` (grouped by month, both metrics in the same pass);
the rest is twelve rows per metric in polars.
"""

from __future__ import annotations

from datetime import date

import duckdb
import polars as pl

from . import targets

_MONTHS_SQL = """
select month(g.month) as month_index,
       sum(g.completed_wan)::decimal(38,2) as industrial_investment,
       coalesce(sum(g.completed_wan) filter (where list_contains($natures, p.nature)), 0)::decimal(38,2)
         as tech_upgrade_investment
from progress g
join projects p using (project_id)
where g.month >= $y0 and g.month <= $as_of
group by 1
"""


def targets_monthly(con: duckdb.DuckDBPyConnection, *, as_of: date, metric: str | None = None) -> pl.DataFrame:
    """Per metric and month of the plan year: completed that month, cumulative, expectations, target.

    Columns: metric, label, month (first day), month_index (1–12), completed_wan and
    cumulative_completed_wan (万元, Decimal; null after ``as_of``), seasonal_share and
    expected_cumulative_wan (target × seasonal cumulative share), linear_share and
    linear_cumulative_wan (target × month / 12), target_wan. 技术改造 counts the projects whose
    nature is in ``tech_upgrade_natures``, as :func:`portfolio.targets.check_report` does.
    """
    cfg = targets.settings(con)
    year = cfg.year
    if as_of.year != year:
        raise ValueError(f"截至月份 {as_of:%Y-%m} 不在计划年度 {year} 内（as-of outside the plan year）。")
    if metric is not None and metric not in targets.METRICS:
        raise ValueError(f"不支持的指标 {metric!r}；可选：{'、'.join(targets.METRICS)}。")
    done = con.sql(_MONTHS_SQL, params={
        "natures": list(cfg.tech_natures), "y0": date(year, 1, 1), "as_of": as_of,
    }).pl()
    months = pl.DataFrame({
        "month_index": list(range(1, 13)),
        "seasonal_share": [cfg.cumulative_share(m) for m in range(1, 13)],
    }, schema={"month_index": pl.Int64, "seasonal_share": pl.Float64})
    per_metric = (
        done
        .with_columns(pl.col("month_index").cast(pl.Int64).alias("month_index"))
        .unpivot(index="month_index", on=list(targets.METRICS), variable_name="metric",
                 value_name="completed_wan")
    )
    goals = targets.city_targets(con, year).select("metric", "label", "target_wan")
    if metric is not None:
        goals = goals.filter(pl.col("metric") == metric)
    money = targets.MONEY
    target = pl.col("target_wan").cast(pl.Float64)
    reported = pl.col("month_index") <= as_of.month
    return (
        goals
        .with_columns(pl.int_range(pl.len()).alias("_order"))
        .join(months, how="cross")
        .join(per_metric, on=["metric", "month_index"], how="left")
        .sort("_order", "month_index")
        .with_columns(
            pl.when(reported).then(pl.col("completed_wan").fill_null(0)).cast(money).alias("completed_wan"),
        )
        .with_columns(
            pl.when(reported).then(pl.col("completed_wan").cum_sum().over("metric")).cast(money)
            .alias("cumulative_completed_wan"),
            pl.date(year, pl.col("month_index"), 1).alias("month"),
            (target * pl.col("seasonal_share")).alias("expected_cumulative_wan"),
            (pl.col("month_index") / 12).alias("linear_share"),
        )
        .with_columns(
            (target * pl.col("linear_share")).alias("linear_cumulative_wan"),
        )
        .select("metric", "label", "month", "month_index", "completed_wan", "cumulative_completed_wan",
                "seasonal_share", "expected_cumulative_wan", "linear_share", "linear_cumulative_wan",
                "target_wan")
    )
