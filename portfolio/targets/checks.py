"""Target checks per metric: plan coverage, year to date against the seasonal and linear
expectations, base year, the Monte Carlo forecast range and the status.

Written once in SQL (:func:`checks_sql`) over five inputs: ``_projects`` (rows of
``project_status_at``), ``_targets`` (the city targets), ``_group_targets`` (targets given
per unit or chain), ``_ctx`` (the month and the rule parameters) and ``_prev`` (last year's
library to the same month, ``library_prev_at``: the 同比 on the library's basis). The view
``v_target_progress`` binds them to the database; :func:`checks_of` binds them to frames in the
in-memory engine. The status is the macro ``metric_status`` (engine.py): the forecast decides
first (an upper bound below the target is 滞后, a lower bound at or above it at worst 有风险),
then the year-to-date ratio and the plan coverage; ``status_reason`` says which rule applied.
"""

from __future__ import annotations

from datetime import date

import duckdb
import polars as pl

from .. import rules
from . import engine
from .settings import (
    ALLOCATED,
    ASSIGNED,
    CITY,
    METRICS,
    Settings,
    city_targets,
    group_cols,
    group_key_sql,
    group_targets,
    settings_at,
)
from .status import prev_frame, project_frame

#: The columns of a check, in order (the group keys follow ``label``).
CHECK_COLS = [
    "metric", "label", "target_basis", "projects", "target_wan", "planned_wan", "coverage", "shortfall_wan",
    "shortfall_yi", "completed_wan", "seasonal_share", "expected_wan", "ytd_ratio", "linear_share",
    "linear_expected_wan", "linear_ratio", "plan_expected_wan", "plan_ytd_ratio", "growth_pct", "base_wan",
    "forecast_wan", "forecast_low_wan", "forecast_high_wan", "forecast_gap_wan", "probability_meet_target",
    "implied_growth_pct", "plan_implied_growth_pct", "status", "status_basis", "status_reason", "status_reason_en",
    "library_prev_wan", "library_yoy_pct",
]


#: The partial sums a check adds up, per project (``_projects``' rows).
_PARTS = """(select *, 1::bigint as n, forecast_wan - forecast_rest_wan as done_part from _projects)"""


def partial_sums_sql(keys: list[str], source: str = "_projects") -> str:
    """The checks' partial sums of ``source``'s project rows per ``keys`` and 技改: what :func:`checks_sql`
    adds up (``parts``), summed ahead once where several checks read the same projects."""
    cols = "".join(f"{k}, " for k in keys)
    return f"""
select {cols}is_tech_upgrade, count(project_id)::bigint as n, sum(annual_plan_wan) as annual_plan_wan,
       sum(completed_wan) as completed_wan, sum(expected_wan) as expected_wan, sum(forecast_wan) as forecast_wan,
       sum(forecast_wan - forecast_rest_wan) as done_part, sum(forecast_rest_wan) as forecast_rest_wan,
       sum(forecast_rest_var) as forecast_rest_var, sum(total_investment_wan) as total_investment_wan
from {source}
group by all
"""


def checks_sql(keys: list[str], *, inputs: str = "", extra: str = "", tail: str = "", parts: str = _PARTS) -> str:
    """The check query grouped by ``keys`` (none: the city), reading the four inputs.

    ``inputs`` are CTEs that define the inputs (the views); ``extra`` and ``tail`` are columns to
    add in front and at the end. ``parts`` are the rows summed per group: by default one per
    project of ``_projects``; a relation of :func:`partial_sums_sql` rows (at least as fine as
    ``keys``) gives the same sums."""
    pairs = group_key_sql(keys, "p")
    sel = "".join(f"{expr} as {col}, " for col, expr in pairs)
    grp = "".join(f", {expr}" for _, expr in pairs)
    cols = "".join(f"{col}, " for col, _ in pairs)
    gkey = "concat_ws('/', " + ", ".join(f"tg.{c}" for c, _ in pairs) + ")" if pairs else "''"
    order = "".join(f", {col} nulls last" for col, _ in pairs)
    prev_pairs = group_key_sql(keys, "lp")
    prev_sel = "".join(f"{expr} as {col}, " for col, expr in prev_pairs)
    prev_grp = "".join(f", {expr}" for _, expr in prev_pairs)
    using = "".join(f", {col}" for col, _ in pairs)
    if pairs:
        target = f"""
    select s.*, t.label, t.growth_pct,
           round(coalesce(gt.target_wan::double,
                          case when sum(s.planned_wan::double) over (partition by s.metric) > 0
                               then t.target_wan::double * s.planned_wan::double
                                    / sum(s.planned_wan::double) over (partition by s.metric)
                               else 0.0 end), 2)::decimal(38,2) as target_wan,
           case when gt.target_wan is not null then '{ASSIGNED}' else '{ALLOCATED}' end as target_basis
    from sums s
    join _targets t using (metric)
    left join _group_targets gt on gt.metric = s.metric and gt.scope_id = s.{pairs[0][0]}"""
    else:
        target = f"""
    select s.*, t.label, t.growth_pct, t.target_wan::decimal(38,2) as target_wan, '{CITY}' as target_basis
    from sums s
    join _targets t using (metric)"""
    return f"""
with {inputs}{"," if inputs else ""} m as (
    select * from (values ('industrial_investment', 1), ('tech_upgrade_investment', 2)) m(metric, ord)
), sums as (
    select m.metric, m.ord, {sel}
           coalesce(sum(p.n), 0)::bigint as projects,
           coalesce(sum(p.annual_plan_wan), 0)::decimal(38,2) as planned_wan,
           coalesce(sum(p.completed_wan), 0)::decimal(38,2) as completed_wan,
           coalesce(sum(p.expected_wan), 0)::double as plan_expected_wan,
           coalesce(sum(p.forecast_wan), 0)::double as forecast_wan,
           coalesce(sum(p.done_part), 0)::double as done_part,
           coalesce(sum(p.forecast_rest_wan), 0)::double as mean_rest,
           coalesce(sum(p.forecast_rest_var), 0)::double as var_rest
    from m
    {"join" if pairs else "left join"} {parts} p
      on m.metric = 'industrial_investment' or (m.metric = 'tech_upgrade_investment' and p.is_tech_upgrade)
    group by m.metric, m.ord{grp}
), prevs as (
    -- last year's library: the previous plan year's projects (as that year saw them), same months
    select m.metric, {prev_sel}
           sum(lp.completed_wan)::decimal(38,2) as library_prev_wan
    from m
    join _prev lp
      on m.metric = 'industrial_investment' or (m.metric = 'tech_upgrade_investment' and lp.is_tech_upgrade)
    group by m.metric{prev_grp}
), tg as ({target}
), s as (
    select tg.*, {gkey} as gkey from tg
), draws as (
    -- the city-wide factor M of each draw, shared by every metric and group
    select d.draw, exp(c.common_sd * std_normal(c.seed, 'common', d.draw) - c.common_sd * c.common_sd / 2) as factor
    from (select unnest(range(c.simulations)) as draw from _ctx c) d cross join _ctx c
), sim_v as (
    select s.metric, s.gkey, s.target_wan,
           s.done_part + d.factor * greatest(
               s.mean_rest + sqrt(s.var_rest) * std_normal(c.seed, s.metric || '|' || s.gkey, d.draw), 0.0) as value
    from s cross join draws d cross join _ctx c
), sim as (
    select metric, gkey, list_sort(list(value)) as vals,
           avg(case when value >= target_wan::double then 1.0 else 0.0 end) as probability_meet_target
    from sim_v
    group by metric, gkey
), r as (
    select s.*, c.seasonal_share, c.linear_share, c.on_track, c.at_risk, c.coverage_at_risk,
           least(list_quantile(sim.vals, c.low_quantile), s.forecast_wan) as forecast_low_wan,
           greatest(list_quantile(sim.vals, c.high_quantile), s.forecast_wan) as forecast_high_wan,
           sim.probability_meet_target,
           case when s.target_wan > 0 then round(s.planned_wan::double / s.target_wan::double, 9) end as coverage,
           greatest(s.target_wan::double - s.planned_wan::double, 0.0) as shortfall_wan,
           s.target_wan::double * c.seasonal_share as expected_wan,
           s.target_wan::double * c.linear_share as linear_expected_wan,
           s.target_wan::double / (1 + coalesce(s.growth_pct, 0.0) / 100) as base_wan
    from s
    join sim using (metric, gkey)
    cross join _ctx c
), q as (
    select r.*,
           case when expected_wan > 0 then round(completed_wan::double / expected_wan, 9) end as ytd_ratio,
           case when linear_expected_wan > 0 then round(completed_wan::double / linear_expected_wan, 9) end
             as linear_ratio,
           case when plan_expected_wan > 0 then round(completed_wan::double / plan_expected_wan, 9) end
             as plan_ytd_ratio
    from r
)
select {extra}metric, label, {cols}target_basis, projects, target_wan, planned_wan, coverage, shortfall_wan,
       shortfall_wan / 10000 as shortfall_yi, completed_wan, seasonal_share, expected_wan, ytd_ratio,
       linear_share, linear_expected_wan, linear_ratio, plan_expected_wan, plan_ytd_ratio, growth_pct, base_wan,
       forecast_wan, forecast_low_wan, forecast_high_wan, target_wan::double - forecast_wan as forecast_gap_wan,
       probability_meet_target,
       case when base_wan > 0 then (forecast_wan / base_wan - 1) * 100 end as implied_growth_pct,
       case when base_wan > 0 then (planned_wan::double / base_wan - 1) * 100 end as plan_implied_growth_pct,
       metric_status(ytd_ratio, coverage, forecast_low_wan, forecast_high_wan, target_wan,
                     on_track, at_risk, coverage_at_risk) as status,
       metric_status_basis(ytd_ratio, coverage, forecast_low_wan, forecast_high_wan, target_wan,
                           on_track, at_risk, coverage_at_risk) as status_basis,
       metric_status_reason(ytd_ratio, coverage, forecast_low_wan, forecast_high_wan, target_wan,
                            on_track, at_risk, coverage_at_risk) as status_reason,
       metric_status_reason_en(ytd_ratio, coverage, forecast_low_wan, forecast_high_wan, target_wan,
                               on_track, at_risk, coverage_at_risk) as status_reason_en,
       prevs.library_prev_wan,
       case when prevs.library_prev_wan > 0
            then (completed_wan::double / prevs.library_prev_wan::double - 1) * 100 end as library_yoy_pct{tail}
from q
left join prevs using (metric{using})
order by ord{order}
"""


_PROJECT_INPUT = ["project_id", "annual_plan_wan", "completed_wan", "expected_wan", "forecast_wan",
                  "forecast_rest_wan", "forecast_rest_var", "is_tech_upgrade"]
_EMPTY_GROUP_TARGETS = pl.DataFrame(schema={"metric": pl.String, "scope_id": pl.String,
                                            "target_wan": pl.Decimal(38, 2)})


_EMPTY_PREV = pl.DataFrame(schema={
    "project_id": pl.String, "unit_id": pl.String, "unit_name": pl.String, "chain_id": pl.String,
    "chain_name": pl.String, "tier": pl.String, "leader": pl.String, "leader_level": pl.String,
    "status": pl.String, "nature": pl.String, "is_tech_upgrade": pl.Boolean, "completed_wan": pl.Decimal(38, 2)})


def checks_of(projects: pl.DataFrame, *, targets: pl.DataFrame, cfg: Settings | rules.Rules, month: int,
              by: str | None = None, group_targets: pl.DataFrame | None = None,
              prev: pl.DataFrame | None = None) -> pl.DataFrame:
    """Target checks of a project frame: coverage, YTD vs seasonal and linear, forecast, status.

    ``prev`` is last year's library to the same month (:func:`status.prev_frame`); without it
    ``library_prev_wan`` and ``library_yoy_pct`` are null."""
    keys = group_cols(by) if by else []
    last = _EMPTY_PREV if prev is None else prev
    given = group_targets if group_targets is not None and by in ("unit", "chain") else _EMPTY_GROUP_TARGETS
    return engine.run(
        checks_sql(keys),
        _projects=projects.select(list(dict.fromkeys([*keys, *_PROJECT_INPUT]))),
        _targets=targets.select("metric", "label", "target_wan", "growth_pct"),
        _group_targets=given.select("metric", "scope_id", "target_wan"),
        _ctx=rules.context_frame(cfg, month=month),
        _prev=last.select(list(dict.fromkeys([*keys, "is_tech_upgrade", "completed_wan"]))),
    )


def target_checks(con: duckdb.DuckDBPyConnection, *, as_of: date, by: str | None = None) -> pl.DataFrame:
    """Per metric (and per unit/chain with ``by``): coverage, YTD, base year, forecast, status."""
    cfg = settings_at(con, as_of=as_of)
    projects = project_frame(con, as_of=as_of, cfg=cfg)
    return checks_of(projects, targets=city_targets(con, cfg.year), cfg=cfg, month=as_of.month,
                     by=by, group_targets=group_targets(con, cfg.year), prev=prev_frame(con, as_of=as_of))


__all__ = ["CHECK_COLS", "METRICS", "checks_of", "checks_sql", "target_checks"]
