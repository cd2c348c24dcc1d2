"""Roll-ups of the project rules by unit, chain, tier, leader, level, status or nature.

Written once in SQL (:func:`rollup_sql`) over ``_projects`` (rows of ``project_status_at``);
the views ``v_unit_progress`` and ``v_leader_load`` bind it to the database, :func:`rollup_of`
to a frame. Counts are named ``*_count`` in every view and roll-up; the earlier names
(``lagging``, ``red``, ``amber``, ``green``, ``stalled``, ``open_problems``) stay as copies for
saved SQL and old pages.
"""

from __future__ import annotations

from datetime import date

import duckdb
import polars as pl

from . import engine
from .settings import group_cols, group_key_sql
from .status import project_frame

#: Count columns: (name, SQL) — and the earlier name each keeps as a copy.
COUNTS: tuple[tuple[str, str, str], ...] = (
    ("lagging_count", "count(*) filter (where is_lagging)", "lagging"),
    ("red_count", "count(*) filter (where flag = 'red')", "red"),
    ("amber_count", "count(*) filter (where flag = 'amber')", "amber"),
    ("green_count", "count(*) filter (where flag = 'green')", "green"),
    ("stalled_count", "count(*) filter (where stalled)", "stalled"),
    ("open_problem_count", "count(*) filter (where has_open_problem)", "open_problems"),
)


def rollup_sql(keys: list[str], *, inputs: str = "") -> str:
    """Projects, investment, completion and the lagging counts per group of ``keys``."""
    pairs = group_key_sql(keys)
    sel = "".join(f"{expr} as {col}, " for col, expr in pairs)
    grp = ", ".join(expr for _, expr in pairs)
    order = "".join(f", {col} nulls last" for col, _ in pairs)
    counts = "".join(f"       {sql}::bigint as {name},\n" for name, sql, _old in COUNTS)
    copies = ", ".join(f"{name} as {old}" for name, _sql, old in COUNTS)
    return f"""
with {inputs}{"," if inputs else ""} r as (
    select {sel}
           count(*)::bigint as projects,
           sum(total_investment_wan)::decimal(38,2) as total_investment_wan,
           sum(annual_plan_wan)::decimal(38,2) as plan_wan,
           sum(completed_wan)::decimal(38,2) as completed_wan,
           sum(expected_wan)::double as expected_wan,
           sum(forecast_wan)::double as forecast_wan,
{counts}           case when sum(expected_wan) > 0
                then round(sum(completed_wan::double) / sum(expected_wan), 9) end as performance
    from _projects
    group by {grp}
)
select *, lagging_count / projects as lagging_share, {copies}
from r
order by lagging_count desc, projects desc{order}
"""


_INPUT = ["total_investment_wan", "annual_plan_wan", "completed_wan", "expected_wan", "forecast_wan",
          "is_lagging", "flag", "stalled", "has_open_problem"]
#: The per-project columns a roll-up reads (besides its keys).
ROLLUP_INPUT = _INPUT


def rollup_of(projects: pl.DataFrame, *, by: str) -> pl.DataFrame:
    """Roll a project frame up by unit, chain, tier, leader (or status, nature, leader_level)."""
    keys = group_cols(by)
    return engine.run(rollup_sql(keys), _projects=projects.select(*keys, *_INPUT))


def rollup(con: duckdb.DuckDBPyConnection, *, as_of: date, by: str) -> pl.DataFrame:
    """Projects, investment, lagging count and open problems per unit, chain, tier or leader."""
    return rollup_of(project_frame(con, as_of=as_of), by=by)
