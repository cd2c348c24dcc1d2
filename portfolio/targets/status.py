"""Per project: tier, seasonal expectation, performance, flag, stall, open problem, lagging.

Each rule is written once, in SQL, as two table macros in the database (created with the views
by :func:`portfolio.views.create_views`): ``project_tiers()`` puts every project in its tier,
``project_status_at(as_of)`` adds every per-project rule and the per-project forecast. The view
``v_project_status`` is ``project_status_at`` at the views' month; :func:`project_frame` reads
the same macro at any month of the plan year. The rule parameters come from ``v_rules`` (the
rules in force, :mod:`portfolio.rules`). DuckDB aggregates the progress rows in one pass and
evaluates the rules vectorised, which is also what scales to a million projects.
"""

from __future__ import annotations

from datetime import date

import duckdb
import polars as pl

from .. import config, store
from ..store.schema import FROZEN_COLUMNS
from .settings import NO_CHAIN, Settings, month_index, settings_at


def _list(values: tuple[str, ...]) -> str:
    return ", ".join("'" + v.replace("'", "''") + "'" for v in values)


#: The tier bands as one row ``tb`` (a FROM item to cross join): the tiers and their minimums,
#: lowest first (PROJECT_TIERS_IN; the scenarios' new projects).
TIER_BANDS = "(select list(tier order by min_wan) as tiers, list(min_wan order by min_wan) as mins from tiers) tb"
#: A project ``p``'s tier: the band [min_wan, next band's min_wan) its total investment falls in,
#: none below the lowest. An expression, not a join: a reader that does not ask for the tier
#: (the gap analysis) does not pay for it.
TIER_OF = "tb.tiers[nullif(len(list_filter(tb.mins, lambda x: x <= p.total_investment_wan)), 0)]"

#: A project's unit and chain as named (``p`` the project, ``u`` its unit, ``c`` its chain):
#: a unit without a name is its id, a project without a chain is in 未归链.
UNIT_NAME = "coalesce(u.name, p.unit_id)"
CHAIN_NAME = f"coalesce(c.name, p.chain_id, '{NO_CHAIN}')"

def _tiers_sql(y: str = "y", ids: str = "") -> str:
    """The projects of plan year ``y`` (an SQL expression: the macro's parameter) with their tier;
    with ``ids`` (SQL literals, comma-separated) only those projects, the filter in every scan of
    ``projects`` and ``plans`` (a page's few rows do not build hash tables of a million plans rows)."""
    only = f" and project_id in ({ids})" if ids else ""
    only_p = f" and p.project_id in ({ids})" if ids else ""
    return f"""
with cy as (
    select current_plan_year() as cy
), src as (
    -- the current year: every project but those whose row of y is closed or that have rows of other
    -- years only (a project without any plans row, written by hand before its first write, belongs
    -- to the current year); its plan is projects.annual_plan_wan. One pass over the projects with
    -- an anti join against a few ids (none in a library of one plan year): no hash table of a
    -- million plans rows is built for the year that nearly every reader asks for.
    select p.project_id, {", ".join(f"p.{c}" for c in FROZEN_COLUMNS)}, p.annual_plan_wan
    from projects p
    anti join (
        select project_id from plans where year = {y} and closed{only}
        union all
        (select project_id from plans where year <> {y}{only} except select project_id from plans where year = {y}{only})
    ) x on x.project_id = p.project_id
    where {y} = (select cy from cy){only_p}
    union all
    -- another year: its open rows (their plan is the row's); empty for the current year
    select p.project_id, {", ".join(f"p.{c}" for c in FROZEN_COLUMNS)}, coalesce(pl.annual_plan_wan, 0)
    from projects p
    join (select project_id, annual_plan_wan from plans
          where year = {y} and not closed and {y} <> (select cy from cy){only}) pl using (project_id)
    union all
    -- a closed year keeps a project even if it was deleted later: its row holds all it needs
    select pl.project_id, {", ".join(f"pl.{c}" for c in FROZEN_COLUMNS)}, coalesce(pl.annual_plan_wan, 0)
    from plans pl
    where pl.year = {y} and pl.closed{only.replace(" project_id", " pl.project_id")}
)
select p.project_id, p.name, p.enterprise, p.unit_id, {UNIT_NAME} as unit_name,
       p.chain_id, {CHAIN_NAME} as chain_name, p.node_id,
       p.nature, p.status, p.is_major, nullif(trim(p.leader), '') as leader, p.leader_level,
       p.total_investment_wan::decimal(38,2) as total_investment_wan,
       p.annual_plan_wan::decimal(38,2) as annual_plan_wan, p.start_date, p.end_date, {TIER_OF} as tier,
       p.chain_role
from src p
left join units u on u.unit_id = p.unit_id
left join chains c on c.chain_id = p.chain_id
cross join {TIER_BANDS}
"""


#: The projects of plan year ``y`` with their tier: the highest band whose minimum the total
#: investment reaches. A project belongs to a year when it has a ``plans`` row of that year; its
#: plan is that row's; a closed year reads the project as it stood when the year was closed.
PROJECT_TIERS_IN = _tiers_sql()

#: The projects of the current plan year with their tier (``project_tiers_in`` of meta plan_year).
PROJECT_TIERS = """
select * from project_tiers_in(current_plan_year())
"""

#: The current plan year in SQL (as :func:`portfolio.years.current_year`): meta ``plan_year``,
#: else the newest opened year, else the year of the latest progress, else this year.
CURRENT_PLAN_YEAR = """
coalesce((select value::integer from meta where key = 'plan_year'), (select max(year) from plan_years),
         (select year(max(month)) from progress), year(current_date))
"""

def _status_sql(month: str = "as_of_month", ids: str = "") -> str:
    """The per-project rules at the month ``month`` (an SQL expression: the macro's parameter);
    with ``ids`` (SQL literals, comma-separated) only those projects, read by a filter every scan
    can use."""
    only = f" and project_id in ({ids})" if ids else ""
    where = f"\n    where p.project_id in ({ids})" if ids else ""
    return f"""
with a as materialized (
    -- the month, evaluated once (the views pass a subquery)
    select date_trunc('month', {month}::date)::date as as_of,
           date_trunc('year', {month}::date)::date as y0,
           year({month}::date) as y, month({month}::date)::bigint as m,
           (date_trunc('year', {month}::date) - interval 1 year)::date as y0_prev,
           (date_trunc('month', {month}::date) - interval 1 year)::date as as_of_prev
), r as materialized (
    select * from v_rules
), g as (
    -- one pass over the project's months up to as_of: this year, the same months last year, since start
    select project_id,
           sum(completed_wan) filter (where month >= a.y0) as completed_wan,
           sum(completed_wan) filter (where month >= a.y0_prev and month <= a.as_of_prev) as completed_prev_wan,
           sum(completed_wan) as cumulative_wan,
           max(month) filter (where completed_wan > 0 and month >= a.y0) as last_invest_month,
           max(month) filter (where completed_wan > 0) as last_invest_any,
           max(month) filter (where month >= a.y0) as last_report_month,
           count(*) filter (where month >= a.y0) as months_reported,
           -- the problems: the latest month reporting one, what it said, and every such month
           -- (as year * 12 + month) for the run of consecutive months that ends there
           max(month) filter (where nullif(trim(problems), '') is not null) as problem_month,
           arg_max(problems, month) filter (where nullif(trim(problems), '') is not null) as problems,
           arg_max(problem_level, month) filter (where nullif(trim(problems), '') is not null) as problem_level,
           list(year(month) * 12 + month(month)) filter (where nullif(trim(problems), '') is not null)
             as problem_yms
    from progress, a
    where month <= a.as_of{only}
    group by project_id
), pj as (
    -- the rules' constants applied before the join (a list of natures riding a million rows
    -- through the join's hash table cost more than the join itself)
    select p.*, a.y as plan_year, a.y, a.as_of, a.m,
           list_contains(r.tech_upgrade_natures, p.nature) as is_tech_upgrade,
           case when p.start_date is null or year(p.start_date) < a.y then 1
                when year(p.start_date) > a.y then 13
                else month(p.start_date) end::bigint as from_raw,
           case when p.end_date is null or year(p.end_date) > a.y then 12
                when year(p.end_date) < a.y then 0
                else month(p.end_date) end::bigint as to_raw
    from {f"({_tiers_sql('(select y from a)', ids)})" if ids else "project_tiers_in((select y from a))"} p
    cross join r
    cross join a
), base as (
    select p.*,
           coalesce(g.completed_wan, 0)::decimal(38,2) as completed_wan,
           coalesce(g.completed_prev_wan, 0)::decimal(38,2) as completed_prev_wan,
           coalesce(g.cumulative_wan, 0)::decimal(38,2) as cumulative_wan,
           g.last_invest_month, g.last_invest_any, g.last_report_month, coalesce(g.months_reported, 0)::bigint as months_reported,
           coalesce(g.problem_month = g.last_report_month, false) as has_open_problem,
           g.problems, g.problem_level, g.problem_yms
    from pj p
    left join g using (project_id){where}
), spans as (
    -- the seasonal share of every active span (first month 1..13, last 0..12) at the month:
    -- the rule computed once per span (169 rows), not once per project (a list read per row)
    select f.f as active_from, t.t as active_to, seasonal_share(f.f, t.t, a.m, r.seasonal_cumulative) as share
    from range(1, 14) f(f) cross join range(0, 13) t(t) cross join a cross join r
), win as (
    -- a plan whose dates lie wholly outside the plan year is expected over the whole year
    select b.*,
           b.from_raw > b.to_raw and b.annual_plan_wan > 0 as dates_outside_year,
           case when b.from_raw > b.to_raw and b.annual_plan_wan > 0 then 1 else b.from_raw end as active_from,
           case when b.from_raw > b.to_raw and b.annual_plan_wan > 0 then 12 else b.to_raw end as active_to
    from base b
), perf as (
    select w.*,
           coalesce(sp.share, seasonal_share(w.active_from, w.active_to, w.m, r.seasonal_cumulative))
             as expected_share,
           w.annual_plan_wan::double
             * coalesce(sp.share, seasonal_share(w.active_from, w.active_to, w.m, r.seasonal_cumulative))
             as expected_wan,
           -- months without investment, counted across the year boundary (idle Nov–Jan is 3)
           case when w.active_from <= w.m and w.m <= w.active_to
                then greatest(0, w.y * 12 + w.m - greatest(
                         coalesce(year(w.last_invest_any) * 12 + month(w.last_invest_any), 0),
                         case when w.active_from > 1 then w.y * 12 + w.active_from - 1
                              when w.start_date is not null and year(w.start_date) < w.y
                              then year(w.start_date) * 12 + month(w.start_date) - 1
                              else w.y * 12 end))
                else 0 end::bigint as idle_months
    from win w cross join r
    left join spans sp on sp.active_from = w.active_from and sp.active_to = w.active_to
), flagged as (
    select f.*,
           case when f.expected_wan > 0 then round(f.completed_wan::double / f.expected_wan, 9) end as performance,
           f.expected_wan - f.completed_wan::double as behind_wan,
           f.idle_months >= r.stalled_months and f.annual_plan_wan > 0
             and f.status not in ({_list(config.FINISHED_STATUSES)}) as stalled
    from perf f cross join r
), paced as (
    select f.*,
           case when f.performance is null then null
                when f.performance >= r.flag_green then 'green'
                when f.performance >= r.flag_amber then 'amber'
                else 'red' end as flag,
           case when f.expected_share + r.prior_strength > 0
                then f.expected_share / (f.expected_share + r.prior_strength) else 0.0 end as history_weight,
           f.annual_plan_wan::double * (1.0 - f.expected_share) as remaining_plan_wan
    from flagged f cross join r
), fc as (
    select p.*,
           greatest(least(p.history_weight * coalesce(p.performance, r.prior_ratio)
                          + (1.0 - p.history_weight) * r.prior_ratio, r.ratio_cap), r.ratio_floor) as pace,
           sqrt((1.0 - p.history_weight) * r.prior_sd * r.prior_sd + r.execution_sd * r.execution_sd) as pace_sd
    from paced p cross join r
), fc2 as (
    select f.*, f.remaining_plan_wan * f.pace as forecast_rest_wan,
           case when f.has_open_problem then list_sort(f.problem_yms, 'DESC') end as problem_run
    from fc f
), fc3 as (
    -- an open problem's run: the consecutive months (no month missing) ending at the latest one
    select f.*,
           coalesce(list_position(list_transform(f.problem_run, lambda x, i: x + i = f.problem_run[1] + 1), false) - 1,
                    len(f.problem_run)) as problem_months
    from fc2 f
), fc4 as (
    select f.*,
           make_date(((f.problem_run[f.problem_months] - 1) // 12)::bigint,
                     ((f.problem_run[f.problem_months] - 1) % 12 + 1)::bigint, 1) as problem_since
    from fc3 f
)
select f.project_id, f.name, f.enterprise, f.unit_id, f.unit_name, f.chain_id, f.chain_name, f.node_id,
       f.tier, f.nature, f.status, f.is_major, f.is_tech_upgrade, f.leader, f.leader_level,
       f.total_investment_wan, f.annual_plan_wan, f.start_date, f.end_date, f.plan_year, f.as_of,
       f.active_from, f.active_to, f.dates_outside_year, f.expected_share, f.expected_wan, f.completed_wan,
       f.behind_wan, f.performance, f.flag, f.completed_prev_wan, f.cumulative_wan,
       f.last_invest_month, f.last_report_month, f.months_reported,
       f.idle_months, f.stalled,
       f.has_open_problem, case when f.has_open_problem then f.problems end as open_problems,
       case when f.has_open_problem then f.problem_level end as open_problem_level,
       case when f.has_open_problem then f.problem_since end as open_problem_since,
       case when f.has_open_problem then f.problem_months else 0 end::bigint as open_problem_months,
       coalesce(f.flag in ('red', 'amber'), false) or f.stalled as is_lagging,
       f.history_weight, f.remaining_plan_wan, f.pace, f.pace_sd, f.forecast_rest_wan,
       f.completed_wan::double + f.forecast_rest_wan as forecast_wan,
       f.forecast_rest_wan * f.forecast_rest_wan * (exp(f.pace_sd * f.pace_sd) - 1.0) as forecast_rest_var,
       least(f.completed_wan::double + f.forecast_rest_wan,
             f.completed_wan::double
             + f.forecast_rest_wan * exp(r.z_low * f.pace_sd - f.pace_sd * f.pace_sd / 2)) as forecast_low_wan,
       greatest(f.completed_wan::double + f.forecast_rest_wan,
                f.completed_wan::double
                + f.forecast_rest_wan * exp(r.z_high * f.pace_sd - f.pace_sd * f.pace_sd / 2)) as forecast_high_wan,
       f.annual_plan_wan::double - (f.completed_wan::double + f.forecast_rest_wan) as forecast_gap_wan
from fc4 f cross join r
"""


#: The per-project rules at the month ``as_of_month`` (any day of it) of its year.
PROJECT_STATUS_AT = _status_sql()


#: Last year's library at the same month: the projects of the previous plan year (as that year saw
#: them: a closed year's frozen rows) with their completion from January to the same month. A
#: year the database holds no plans for gives no rows (its growth is then unknown, not +∞).
LIBRARY_PREV_AT = """
with a as materialized (
    select year(as_of_month::date) - 1 as py,
           (date_trunc('year', as_of_month::date) - interval 1 year)::date as y0,
           (date_trunc('month', as_of_month::date) - interval 1 year)::date as as_of
), g as (
    select project_id, sum(completed_wan) as completed_wan
    from progress, a
    where month >= a.y0 and month <= a.as_of
    group by project_id
), pj as (
    select p.project_id, p.unit_id, p.unit_name, p.chain_id, p.chain_name, p.tier, p.leader, p.leader_level,
           p.status, p.nature, list_contains(r.tech_upgrade_natures, p.nature) as is_tech_upgrade
    from project_tiers_in((select py from a)) p
    cross join v_rules r
)
select p.*, coalesce(g.completed_wan, 0)::decimal(38,2) as completed_wan
from pj p
left join g using (project_id)
"""

#: Table macros: (name, parameters, body), created in the database with the views.
TABLE_MACROS: tuple[tuple[str, str, str], ...] = (
    ("project_tiers_in", "y", PROJECT_TIERS_IN),
    ("project_tiers", "", PROJECT_TIERS),
    ("project_status_at", "as_of_month", PROJECT_STATUS_AT),
    ("library_prev_at", "as_of_month", LIBRARY_PREV_AT),
)

PERFORMANCE_COLS = [
    "project_id", "name", "enterprise", "unit_id", "unit_name", "chain_id", "chain_name", "tier",
    "nature", "status", "is_major", "is_tech_upgrade", "leader", "leader_level",
    "total_investment_wan", "annual_plan_wan", "start_date", "end_date", "active_from", "active_to",
    "dates_outside_year", "expected_share",
    "expected_wan", "completed_wan", "completed_prev_wan", "cumulative_wan", "behind_wan", "performance", "flag", "last_invest_month",
    "idle_months", "stalled", "open_problems", "open_problem_level", "open_problem_since",
    "open_problem_months", "is_lagging", "remaining_plan_wan", "pace", "pace_sd", "forecast_wan",
    "forecast_low_wan", "forecast_high_wan", "forecast_gap_wan",
]


def project_frame(con: duckdb.DuckDBPyConnection, *, as_of: date, cfg: Settings | None = None) -> pl.DataFrame:
    """Every project with its year-to-date figures, flag, stall, open problems and forecast.

    The rows of ``project_status_at(as_of)``: the same rules as ``v_project_status``."""
    cfg = cfg or settings_at(con, as_of=as_of)
    month_index(as_of, cfg.year)
    return store.fetch(con, "select * from project_status_at(?) order by project_id", [as_of])


#: From this many projects :func:`project_rows` writes the ids into its query (else a parameter).
INLINE_IDS_FROM = 300_000


def project_rows(con: duckdb.DuckDBPyConnection, *, as_of: date, ids: list[str]) -> pl.DataFrame:
    """The rows of ``project_status_at(as_of)`` for the projects ``ids`` only, in the order given.

    The same SQL as the macro with the ids as a filter every scan uses: the rows a page or a
    report shows of a million projects cost a pass over their own progress rows. In a large
    library (:data:`INLINE_IDS_FROM` projects) the ids are written into the query, so that each
    scan skips the blocks holding none of them (the tables are stored in project order); in a
    smaller one they are one list parameter: planning a query with the ids written out eight
    times costs more there than the scans (1,004 projects: 95 → 65 ms for 70 ids; 1,000,000:
    0.21 s written out, 0.39 s as a parameter)."""
    if not ids:
        return store.fetch(con, "select * from project_status_at(?) limit 0", [as_of])
    unique = list(dict.fromkeys(str(i) for i in ids))
    if store.project_count(con) >= INLINE_IDS_FROM:
        literals = ", ".join("'" + i.replace("'", "''") + "'" for i in unique)
        found = store.fetch_few(con, f"select * from ({_status_sql('$as_of', literals)})", {"as_of": as_of})
    else:
        found = store.fetch_few(con, f"select * from ({_status_sql('$as_of', 'select unnest($ids::varchar[])')})",
                                {"as_of": as_of, "ids": unique})
    order = pl.DataFrame({"project_id": unique}, schema={"project_id": pl.String})
    return order.join(found, on="project_id", how="inner", maintain_order="left")


def lagging_frame(con: duckdb.DuckDBPyConnection, *, as_of: date) -> pl.DataFrame:
    """The lagging projects of ``project_status_at(as_of)``, furthest behind first (as :func:`lagging_of`):
    only their rows reach Python."""
    return store.fetch(con, f"select {', '.join(PERFORMANCE_COLS)} from project_status_at(?) where is_lagging"
                            " order by behind_wan desc, project_id", [as_of])


def leader_projects(con: duckdb.DuckDBPyConnection, *, as_of: date, leader: str | None,
                    level: str | None) -> pl.DataFrame:
    """One leader's projects at ``as_of`` (of one level; ``None``: none given), furthest behind first."""
    return store.fetch(
        con, "select * from project_status_at(?) where leader is not distinct from ?"
             " and leader_level is not distinct from ? order by behind_wan desc nulls last, project_id",
        [as_of, leader, level])


def names_of(con: duckdb.DuckDBPyConnection, *, year: int, ids: list[str]) -> pl.DataFrame:
    """Name, unit and unit name of the projects ``ids`` in plan year ``year`` (``project_tiers_in``)."""
    cols = "project_id, name, unit_id, unit_name"
    if not ids:
        return store.fetch(con, f"select {cols} from project_tiers_in(?) limit 0", [year])
    if len(ids) > 5000:  # a long list: one pass over the year's projects
        return (store.fetch(con, f"select {cols} from project_tiers_in(?)", [year])
                .filter(pl.col("project_id").is_in(ids)))
    literals = ", ".join("'" + str(i).replace("'", "''") + "'" for i in dict.fromkeys(ids))
    return store.fetch(con, f"select {cols} from project_tiers_in(?) where project_id in ({literals})", [year])


def prev_frame(con: duckdb.DuckDBPyConnection, *, as_of: date) -> pl.DataFrame:
    """Last year's library to the same month (``library_prev_at``): the input of the checks' 同比."""
    return store.fetch(con, "select * from library_prev_at(?)", [as_of])


def project_performance(con: duckdb.DuckDBPyConnection, *, as_of: date) -> pl.DataFrame:
    """Per project: expected and completed to date, performance, flag, stall, problems, forecast."""
    return project_frame(con, as_of=as_of).select(PERFORMANCE_COLS)


def lagging_of(projects: pl.DataFrame, *, limit: int | None = None) -> pl.DataFrame:
    """The lagging projects of a project frame, furthest behind first (the first ``limit``)."""
    order = (
        projects
        .select(pl.int_range(pl.len(), dtype=pl.UInt32).alias("_row"), "project_id", "behind_wan", "is_lagging")
        .filter(pl.col("is_lagging"))
        .sort(["behind_wan", "project_id"], descending=[True, False])
    )
    rows = order["_row"] if limit is None else order["_row"].head(limit)
    return projects.select(PERFORMANCE_COLS)[rows]


def lagging_projects(con: duckdb.DuckDBPyConnection, *, as_of: date) -> pl.DataFrame:
    """Projects flagged red or amber, or stalled, sorted by how far behind they are (万元)."""
    return lagging_of(project_frame(con, as_of=as_of))


def expected_curve(con: duckdb.DuckDBPyConnection, *, plan_wan: float, active_from: int,
                   active_to: int) -> list[float]:
    """Cumulative expected 万元 at the end of each month 1–12 for a plan and its active months.

    The same ``seasonal_share`` macro as the project rules (the project page's curve)."""
    rows = con.execute(
        "select ?::double * seasonal_share(?::bigint, ?::bigint, m.range, r.seasonal_cumulative)"
        " from range(1, 13) m cross join v_rules r order by m.range",
        [plan_wan, active_from, active_to],
    ).fetchall()
    return [float(r[0]) for r in rows]
