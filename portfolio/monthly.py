"""Month by month against the targets: the data behind the S-curve (累计完成 vs 季节预期).

Written once in SQL, as the table macro ``monthly_progress_at(as_of)`` created in the database
with the views: one aggregate over ``progress`` (both metrics in the same pass) and twelve rows
per metric. The view ``v_monthly_progress`` is the macro at the views' month;
:func:`targets_monthly` reads it at any month of any plan year (a closed year too), with the
same months of the year before and the statistics bureau's 本年累计 beside it.
"""

from __future__ import annotations

from datetime import date

import duckdb
import polars as pl

from . import store, targets
from .targets.settings import settings_at

#: Per metric and month of the year of ``as_of_month``: completed, cumulative, expectations, last
#: year's same months and the statistics bureau's 本年累计 (this year's and last year's). This year counts the projects of the
#: plan year (``project_tiers_in``), as the checks do; last year counts the previous plan year's
#: projects as that year saw them, as ``library_prev_at`` (the checks' 同比) does, so the line
#: ends each month on the check's ``library_prev_wan``; a previous year without plans has none.
#: 技改 by the nature the year holds for the project.
MONTHLY_PROGRESS_AT = """
with a as materialized (
    select date_trunc('month', as_of_month::date)::date as as_of,
           date_trunc('year', as_of_month::date)::date as y0, year(as_of_month::date) as y,
           (date_trunc('year', as_of_month::date) - interval 1 year)::date as y0_prev
), r as materialized (
    select * from v_rules
), p as materialized (
    select t.project_id, list_contains(r.tech_upgrade_natures, t.nature) as tech
    from project_tiers_in((select y from a)) t cross join r
), pp as materialized (
    select t.project_id, list_contains(r.tech_upgrade_natures, t.nature) as tech
    from project_tiers_in((select y - 1 from a)) t cross join r
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
           coalesce(sum(pr.completed_wan) filter (where p.tech), 0) as tech
    from progress pr
    join p using (project_id)
    cross join a
    where pr.month >= a.y0 and pr.month <= a.as_of
    group by pr.month
), prev as (
    select (pr.month + interval 1 year)::date as month,
           sum(pr.completed_wan) as industrial,
           coalesce(sum(pr.completed_wan) filter (where pp.tech), 0) as tech
    from progress pr
    join pp using (project_id)
    cross join a
    where pr.month >= a.y0_prev and pr.month < a.y0
    group by pr.month
), last_prev as (
    select max(month) as prev_last from prev
), rows as (
    select months.*,
           case when months.month > months.as_of then null
                when months.metric = 'industrial_investment' then coalesce(done.industrial, 0)
                else coalesce(done.tech, 0) end::decimal(38,2) as completed_wan,
           case when last_prev.prev_last is null or months.month > last_prev.prev_last then null
                when months.metric = 'industrial_investment' then coalesce(prev.industrial, 0)
                else coalesce(prev.tech, 0) end::decimal(38,2) as completed_prev_wan
    from months
    cross join last_prev
    left join done using (month)
    left join prev using (month)
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
                       / (t.value_wan::double * r.cumulative_share), 9) end as ratio,
       r.completed_prev_wan,
       case when r.completed_prev_wan is not null then sum(r.completed_prev_wan) over (
           partition by r.metric order by r.month_no) end::decimal(38,2) as cumulative_prev_wan,
       case when r.month <= r.as_of then o.cumulative_wan end::decimal(38,2) as official_cumulative_wan,
       op.cumulative_wan::decimal(38,2) as official_prev_cumulative_wan
from rows r
left join targets t on t.metric = r.metric and t.year = year(r.as_of) and t.scope = 'city'
left join actuals o on o.metric = r.metric and o.month = r.month
left join actuals op on op.metric = r.metric and op.month = (r.month - interval 1 year)::date
order by r.ord, r.month_no
"""

TABLE_MACROS: tuple[tuple[str, str, str], ...] = (("monthly_progress_at", "as_of_month", MONTHLY_PROGRESS_AT),)


def targets_monthly(con: duckdb.DuckDBPyConnection, *, as_of: date, metric: str | None = None,
                    year: int | None = None) -> pl.DataFrame:
    """Per metric and month of the plan year of ``as_of``: completed, cumulative, expectations, target.

    Columns: metric, label, month (first day), month_index (1–12), completed_wan and
    cumulative_completed_wan (万元, Decimal; null after ``as_of``), seasonal_share and
    expected_cumulative_wan (target × seasonal cumulative share), linear_share and
    linear_cumulative_wan (target × month / 12), target_wan; completed_prev_wan and
    cumulative_prev_wan (the same projects in the same month of the previous year; null where
    that year has no progress rows yet) and official_cumulative_wan (the statistics bureau's
    本年累计, null where not published, and after ``as_of``) and official_prev_cumulative_wan (its
    figure for the same month of the previous year, every month published). 技术改造 counts the projects whose
    nature is in ``tech_upgrade_natures``, as :func:`portfolio.targets.check_report` does.
    The rows of ``monthly_progress_at(as_of)`` (the view ``v_monthly_progress``), renamed.
    ``year`` is the plan year (default: the one ``as_of`` lies in, else the current one; a closed
    year reads as it was closed). ValueError for an ``as_of`` outside that year, or a year without
    both targets; YearError (a ValueError) for a year the database does not hold.
    """
    year = settings_at(con, year=year, as_of=as_of).year
    if as_of.year != year:
        raise ValueError(f"截至月份 {as_of:%Y-%m} 不在计划年度 {year} 内（as-of outside the plan year）。")
    if metric is not None and metric not in targets.METRICS:
        raise ValueError(f"不支持的指标 {metric!r}；可选：{'、'.join(targets.METRICS)}。")
    targets.city_targets(con, year)  # refuses a year without both targets
    return store.fetch_few(  # a dozen rows a metric from a long macro: one plan, not two
        con,
        "select metric, label, month, month_no as month_index, completed_wan, cumulative_completed_wan,"
        " cumulative_share as seasonal_share, expected_cumulative_wan, linear_share,"
        " linear_expected_wan as linear_cumulative_wan, target_wan,"
        " completed_prev_wan, cumulative_prev_wan, official_cumulative_wan, official_prev_cumulative_wan"
        " from monthly_progress_at(?) where metric = coalesce(?, metric)",
        [as_of, metric],
    )


#: One project's plan years and history: each year's plan (``plans``), what it completed that
#: year, and the cumulative since start at the year's end (开累).
PROJECT_YEARS = """
with pl as (
    select year, annual_plan_wan, closed from plans where project_id = $project_id
), g as (
    select year(month) as year, sum(completed_wan) as completed_wan, count(*) as months_reported
    from progress where project_id = $project_id group by all
), y as (
    select coalesce(pl.year, g.year) as year, pl.year is not null as in_plan, pl.annual_plan_wan,
           coalesce(g.completed_wan, 0) as completed_wan, coalesce(g.months_reported, 0) as months_reported
    from pl full join g using (year)
)
select y.year,
       case when py.closed_at is not null then 'closed'
            when py.year is not null then 'current'
            else 'history' end as year_state,
       y.in_plan, y.annual_plan_wan::decimal(38,2) as annual_plan_wan,
       y.completed_wan::decimal(38,2) as completed_wan, y.months_reported::bigint as months_reported,
       case when y.annual_plan_wan > 0 then round(y.completed_wan::double / y.annual_plan_wan::double, 9) end
         as plan_ratio,
       sum(y.completed_wan) over (order by y.year)::decimal(38,2) as cumulative_wan
from y left join plan_years py using (year)
order by y.year
"""


def project_years(con: duckdb.DuckDBPyConnection, project_id: str) -> pl.DataFrame:
    """One project year by year: plan, completed that year, cumulative since start (开累) at year end.

    Columns: year, year_state (``closed`` / ``current`` plan year, or ``history`` before the
    first plan year), in_plan (the project has a ``plans`` row that year), annual_plan_wan (null
    while the year's plan ledger is not imported), completed_wan, months_reported, plan_ratio
    (completed / plan), cumulative_wan. Every year with a plan or with progress, oldest first.
    """
    return store.fetch(con, PROJECT_YEARS, {"project_id": project_id})
