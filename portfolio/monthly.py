"""Month by month against the targets: the data behind the S-curve (累计完成 vs 季节预期).

Written once in SQL, as the table macro ``monthly_progress_at(as_of)`` created in the database
with the views: one aggregate over ``progress`` (both metrics in the same pass) and twelve rows
per metric. The view ``v_monthly_progress`` is the macro at the views' month;
:func:`targets_monthly` reads it at any month of the plan year.
"""

from __future__ import annotations

from datetime import date

import duckdb
import polars as pl

from . import store, targets, years

#: Per metric and month of the year of ``as_of_month``: completed, cumulative, expectations.
MONTHLY_PROGRESS_AT = """
with a as materialized (
    select date_trunc('month', as_of_month::date)::date as as_of,
           date_trunc('year', as_of_month::date)::date as y0, year(as_of_month::date) as y
), r as materialized (
    select * from v_rules
), m as (
    select * from (values ('industrial_investment', 1), ('tech_upgrade_investment', 2)) m(metric, ord)
), months as (
    select m.metric, m.ord, s.month_no::bigint as month_no,
           make_date(a.y, s.month_no, 1) as month,
           s.share, s.cumulative_share, s.month_no / 12 as linear_share, a.as_of
    from m cross join seasonal_profile s cross join a
), done as (
    select pr.month,
           sum(pr.completed_wan) as industrial,
           coalesce(sum(pr.completed_wan) filter (where list_contains(r.tech_upgrade_natures, p.nature)), 0) as tech
    from progress pr
    join projects p using (project_id)
    cross join r
    cross join a
    where pr.month >= a.y0 and pr.month <= a.as_of
    group by pr.month
), rows as (
    select months.*,
           case when months.month > months.as_of then null
                when months.metric = 'industrial_investment' then coalesce(done.industrial, 0)
                else coalesce(done.tech, 0) end::decimal(38,2) as completed_wan
    from months left join done using (month)
)
select r.metric, coalesce(t.label, r.metric) as label, r.month, r.month_no,
       r.month <= r.as_of as reported,
       r.completed_wan,
       case when r.month <= r.as_of then sum(r.completed_wan) over (
           partition by r.metric order by r.month_no) end::decimal(38,2) as cumulative_completed_wan,
       r.share, r.cumulative_share, r.linear_share,
       t.value_wan::decimal(38,2) as target_wan,
       t.value_wan::double * r.cumulative_share as expected_cumulative_wan,
       t.value_wan::double * r.linear_share as linear_expected_wan,
       case when r.month <= r.as_of and t.value_wan * r.cumulative_share > 0
            then round(sum(r.completed_wan::double) over (partition by r.metric order by r.month_no)
                       / (t.value_wan::double * r.cumulative_share), 9) end as ratio
from rows r
left join targets t on t.metric = r.metric and t.year = year(r.as_of) and t.scope = 'city'
order by r.ord, r.month_no
"""

TABLE_MACROS: tuple[tuple[str, str, str], ...] = (("monthly_progress_at", "as_of_month", MONTHLY_PROGRESS_AT),)


def targets_monthly(con: duckdb.DuckDBPyConnection, *, as_of: date, metric: str | None = None,
                    year: int | None = None) -> pl.DataFrame:
    """Per metric and month of the plan year: completed that month, cumulative, expectations, target.

    Columns: metric, label, month (first day), month_index (1–12), completed_wan and
    cumulative_completed_wan (万元, Decimal; null after ``as_of``), seasonal_share and
    expected_cumulative_wan (target × seasonal cumulative share), linear_share and
    linear_cumulative_wan (target × month / 12), target_wan. 技术改造 counts the projects whose
    nature is in ``tech_upgrade_natures``, as :func:`portfolio.targets.check_report` does.
    The rows of ``monthly_progress_at(as_of)`` (the view ``v_monthly_progress``), renamed.
    ``year`` is the plan year (default: the current one; a closed year reads as well).
    """
    year = targets.plan_year(con) if year is None else years.resolve_year(con, year)
    if as_of.year != year:
        raise ValueError(f"截至月份 {as_of:%Y-%m} 不在计划年度 {year} 内（as-of outside the plan year）。")
    if metric is not None and metric not in targets.METRICS:
        raise ValueError(f"不支持的指标 {metric!r}；可选：{'、'.join(targets.METRICS)}。")
    targets.city_targets(con, year)  # refuses a year without both targets
    frame = store.fetch(
        con,
        "select metric, label, month, month_no as month_index, completed_wan, cumulative_completed_wan,"
        " cumulative_share as seasonal_share, expected_cumulative_wan, linear_share,"
        " linear_expected_wan as linear_cumulative_wan, target_wan"
        " from monthly_progress_at(?) where metric = coalesce(?, metric)",
        [as_of, metric],
    )
    return frame
