"""The statistics bureau's figures (统计口径) beside the library's (项目库口径), and year on year.

``actuals`` holds the bureau's monthly 本年累计 per metric. For a month and metric:
``official_completed_wan`` is its 本年累计, ``completed_prev_wan`` the same month of the previous
year, ``yoy_pct = (official_completed_wan / completed_prev_wan - 1) × 100`` (null where either is
missing) and ``official_yoy_pct`` the growth the bureau published. The library's figure for the
same months of the previous year (``library_prev_wan``) comes with the checks: the previous
plan year's projects to the same month (``library_prev_at``); a year without plans has no library figure. The difference official − library is what staff explain:
projects under 1000万 and investment outside the library.

Written once as SQL (:data:`OFFICIAL_AT`, a table macro ``official_at(as_of)``) that the check,
the pages, the report and the view ``v_official_vs_library`` share.
"""

from __future__ import annotations

from datetime import date

import duckdb
import polars as pl

from .. import store
from ..store.schema import ACTUAL_METRICS

#: Per metric at the month ``as_of_month``: the official 本年累计, last year's, growth, published growth.
OFFICIAL_AT = f"""
with a as materialized (
    select date_trunc('month', as_of_month::date)::date as as_of,
           (date_trunc('month', as_of_month::date) - interval 1 year)::date as as_of_prev
), m as (
    select * from (values {", ".join(f"('{m}', {i})" for i, m in enumerate(ACTUAL_METRICS, 1))}) m(metric, ord)
)
select m.metric, a.as_of,
       cur.cumulative_wan::decimal(38,2) as official_completed_wan,
       cur.yoy_pct::double as official_yoy_pct,
       prev.cumulative_wan::decimal(38,2) as completed_prev_wan,
       case when prev.cumulative_wan > 0 and cur.cumulative_wan is not null
            then (cur.cumulative_wan::double / prev.cumulative_wan::double - 1) * 100 end as yoy_pct
from m cross join a
left join actuals cur on cur.metric = m.metric and cur.month = a.as_of
left join actuals prev on prev.metric = m.metric and prev.month = a.as_of_prev
order by m.ord
"""

TABLE_MACROS: tuple[tuple[str, str, str], ...] = (("official_at", "as_of_month", OFFICIAL_AT),)

#: The official and library figures of each month, per investment metric (the view's SELECT).
OFFICIAL_VS_LIBRARY = """
with rows as (
    -- a plan year counts the progress of its projects (as check does); a year without plans has no library
    select g.month, g.completed_wan,
           list_contains(r.tech_upgrade_natures, case when pl.closed then pl.nature else p.nature end) as tech
    from progress g
    join projects p using (project_id)
    left join plans pl on pl.project_id = g.project_id and pl.year = year(g.month)
    cross join v_rules r
    where pl.project_id is not null
), lib as (
    select month, 'industrial_investment' as metric, sum(completed_wan) as completed_wan from rows group by month
    union all
    select month, 'tech_upgrade_investment', coalesce(sum(completed_wan) filter (where tech), 0)
    from rows group by month
), libc as (
    select month, metric, completed_wan,
           sum(completed_wan) over (partition by metric, year(month) order by month) as cumulative_wan
    from lib
), months as (
    select month, metric from libc
    union
    select month, metric from actuals where metric in ('industrial_investment', 'tech_upgrade_investment')
)
select m.month, year(m.month) as year, month(m.month) as month_no, m.metric,
       a.cumulative_wan::decimal(38,2) as official_cumulative_wan,
       a.yoy_pct::double as official_yoy_pct,
       ap.cumulative_wan::decimal(38,2) as official_prev_wan,
       case when ap.cumulative_wan > 0 and a.cumulative_wan is not null
            then (a.cumulative_wan::double / ap.cumulative_wan::double - 1) * 100 end as yoy_pct,
       case when year(m.month) in (select year from plans)
            then coalesce(l.cumulative_wan, 0) end::decimal(38,2) as library_cumulative_wan,
       lp.cumulative_wan::decimal(38,2) as library_prev_wan,
       case when lp.cumulative_wan > 0 and year(m.month) in (select year from plans)
            then (coalesce(l.cumulative_wan, 0)::double / lp.cumulative_wan::double - 1) * 100 end as library_yoy_pct,
       case when year(m.month) in (select year from plans)
            then a.cumulative_wan - coalesce(l.cumulative_wan, 0) end::decimal(38,2) as difference_wan,
       case when a.cumulative_wan > 0 and year(m.month) in (select year from plans)
            then coalesce(l.cumulative_wan, 0)::double / a.cumulative_wan::double end as library_share
from months m
left join actuals a on a.metric = m.metric and a.month = m.month
left join actuals ap on ap.metric = m.metric and ap.month = (m.month - interval 1 year)::date
left join libc l on l.metric = m.metric and l.month = m.month
left join libc lp on lp.metric = m.metric and lp.month = (m.month - interval 1 year)::date
order by m.metric, m.month
"""


def official_at(con: duckdb.DuckDBPyConnection, as_of: date) -> pl.DataFrame:
    """Per metric at ``as_of``: official 本年累计, the previous year's, yoy_pct, published growth."""
    return store.fetch(con, "select * from official_at(?)", [as_of])


def official_series(con: duckdb.DuckDBPyConnection, *, year: int | None = None) -> pl.DataFrame:
    """The rows of ``v_official_vs_library`` (of one year with ``year``), official beside library."""
    if year is None:
        return store.fetch(con, "select * from v_official_vs_library")
    return store.fetch(con, "select * from v_official_vs_library where year = ?", [year])


def with_official(checks: pl.DataFrame, official: pl.DataFrame) -> pl.DataFrame:
    """The city checks with the official figures, their difference and the forecast on that basis.

    ``forecast_official_wan``: the library's forecast scaled by official / library to date (the
    share of the whole that the library covers is assumed to hold for the rest of the year)."""
    joined = checks.join(official.drop("as_of"), on="metric", how="left")
    ratio = pl.when(pl.col("completed_wan") > 0).then(
        pl.col("official_completed_wan").cast(pl.Float64) / pl.col("completed_wan").cast(pl.Float64))
    return joined.with_columns(
        (pl.col("official_completed_wan").cast(pl.Float64) - pl.col("completed_wan").cast(pl.Float64))
        .alias("official_diff_wan"),
        (pl.col("forecast_wan") * ratio).alias("forecast_official_wan"),
    )
