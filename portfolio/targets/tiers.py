"""The tier table: projects, cumulative counts and plan-year investment per band vs the plan.

Written once in SQL (:func:`tiers_sql`) over ``_projects`` (rows with a ``tier``, from
``project_tiers()``) and ``_tiers`` (the bands in force). The view ``v_tiers`` binds them to the
database, :func:`tiers_of` to frames. The tier of a project itself is ``project_tiers()``
(status.py): the highest band whose minimum its total investment reaches.
"""

from __future__ import annotations

import duckdb
import polars as pl

from .. import store
from . import engine
from .settings import group_cols, group_key_sql, settings


def tiers_sql(keys: list[str], *, inputs: str = "", parts: str | None = None) -> str:
    """The tier table grouped by ``keys`` (none: the whole plan, with the plan counts).

    ``parts`` is a relation of partial sums (``tier``, the keys, ``n`` projects and their Σ
    ``total_investment_wan`` and ``annual_plan_wan``) read instead of one row per project."""
    pairs = group_key_sql(keys)
    source, count = ("_projects", "count(*)") if parts is None else (parts, "sum(n)")
    sel = "".join(f"{expr} as {col}, " for col, expr in pairs)
    cols = "".join(f"{col}, " for col, _ in pairs)
    on = "".join(f" and c.{col} is not distinct from g.{col}" for col, _ in pairs)
    part = f"partition by {', '.join(f'g.{c}' for c, _ in pairs)} " if pairs else ""
    gcols = "".join(f"g.{col}, " for col, _ in pairs)
    plan = "" if pairs else (
        "g.plan_count, g.plan_cumulative_count, coalesce(c.count, 0) - g.plan_count as count_diff,"
        " sum(coalesce(c.count, 0)) over (order by g._order)::bigint - g.plan_cumulative_count as cumulative_diff, ")
    grid = f"(select distinct {cols.rstrip(', ')} from pj) cross join bands" if pairs else "bands"
    order = "".join(f"g.{col} nulls last, " for col, _ in pairs)
    return f"""
with {inputs}{"," if inputs else ""} pj as (
    select {sel}tier, {"" if parts is None else "n, "}total_investment_wan, annual_plan_wan from {source}
), counts as (
    select {cols}tier, {count}::bigint as count,
           sum(total_investment_wan)::decimal(38,2) as total_investment_wan,
           sum(annual_plan_wan)::decimal(38,2) as plan_wan
    from pj where tier is not null
    group by all
), bands as (
    select tier, tier_en, min_wan::bigint as min_wan,
           (lag(min_wan) over (order by min_wan desc))::bigint as max_wan,
           plan_count::bigint as plan_count, plan_cumulative_count::bigint as plan_cumulative_count,
           row_number() over (order by min_wan desc) as _order
    from _tiers
), g as (
    select * from {grid}
)
select {gcols}g.tier, g.tier_en, g.min_wan, g.max_wan, coalesce(c.count, 0)::bigint as count,
       sum(coalesce(c.count, 0)) over ({part}order by g._order)::bigint as cumulative_count,
       {plan}coalesce(c.total_investment_wan, 0)::decimal(38,2) as total_investment_wan,
       coalesce(c.plan_wan, 0)::decimal(38,2) as plan_wan,
       sum(coalesce(c.plan_wan, 0)) over ({part}order by g._order)::decimal(38,2) as cumulative_plan_wan
from g
left join counts c on c.tier = g.tier{on}
order by {order}g._order
"""


def tiers_of(frame: pl.DataFrame, *, tiers: pl.DataFrame, by: str | None = None) -> pl.DataFrame:
    """The tier table of a project frame with a ``tier`` column (highest tier first)."""
    keys = group_cols(by) if by else []
    return engine.run(
        tiers_sql(keys),
        _projects=frame.select(*keys, "tier", "total_investment_wan", "annual_plan_wan"),
        _tiers=tiers.select("tier", "tier_en", "min_wan", "plan_count", "plan_cumulative_count"),
    )


def tier_summary(con: duckdb.DuckDBPyConnection, *, by: str | None = None) -> pl.DataFrame:
    """Counts, cumulative counts and plan-year investment per tier vs the plan counts."""
    keys = group_cols(by) if by else []
    return tiers_of(store.fetch(con, "select * from project_tiers()").select(*keys, "tier", "total_investment_wan",
                                                                           "annual_plan_wan"),
                    tiers=settings(con).tiers, by=by)
