"""The year-end forecast per metric and the projects that drive it.

The per-project forecast (completed + remaining scheduled plan × shrunk pace, with its spread)
is a rule of ``project_status_at`` (status.py); the range and the probability of meeting the
target come from the checks' Monte Carlo (checks.py). This module ranks the projects: those
furthest behind their plan and those whose acceleration could close the gap.
"""

from __future__ import annotations

from datetime import date

import duckdb
import polars as pl

from . import engine
from .checks import checks_of
from .settings import Settings, city_targets, settings_at
from .status import project_frame


def forecast(con: duckdb.DuckDBPyConnection, *, as_of: date, top: int = 20) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Year-end forecast per metric (point, low, high) and the projects that drive it (plan year of ``as_of``)."""
    cfg = settings_at(con, as_of=as_of)
    projects = project_frame(con, as_of=as_of, cfg=cfg)
    checks = checks_of(projects, targets=city_targets(con, cfg.year), cfg=cfg, month=as_of.month)
    ranked = ranked_of(projects, checks=checks, cfg=cfg, top=top)
    return forecast_summary(checks, ranked=ranked), drivers_of(ranked)


def _metric_frames(projects: pl.DataFrame, columns: list[str]) -> list[tuple[str, pl.DataFrame]]:
    """The projects each metric counts, narrowed to ``columns`` before filtering (cheaper)."""
    narrow = projects.select(list(dict.fromkeys([*columns, "is_tech_upgrade"])))
    return [
        ("industrial_investment", narrow),
        ("tech_upgrade_investment", narrow.filter(pl.col("is_tech_upgrade"))),
    ]


def forecast_summary(checks: pl.DataFrame, *, ranked: Ranked) -> pl.DataFrame:
    """Forecast columns per metric, with what accelerating the pipeline could still add.

    ``acceleration_potential_wan``: Σ achievable extra over all projects; ``projects_to_close_gap``:
    how many of the ranked accelerators it takes to reach the target (null when there is no
    gap, or when even all of them together cannot close it).
    """
    extra = pl.DataFrame(
        [{"metric": metric, "acceleration_potential_wan": potential, "projects_to_close_gap": n}
         for metric, (_short, _fast, potential, n) in ranked.items()],
        schema={"metric": pl.String, "acceleration_potential_wan": pl.Float64, "projects_to_close_gap": pl.Int64},
    )
    return checks.select(
        "metric", "label", "target_wan", "planned_wan", "completed_wan", "forecast_wan",
        "forecast_low_wan", "forecast_high_wan", "forecast_gap_wan", "probability_meet_target",
        "implied_growth_pct", "status", "status_reason", "status_reason_en",
    ).join(extra, on="metric", how="left")


Ranked = dict[str, tuple[pl.DataFrame, pl.DataFrame, float, int | None]]


#: Per metric: the achievable extra of every project it counts (``_projects``: forecast_gap_wan,
#: remaining_plan_wan, pace, is_tech_upgrade), with the metric's gap to target (``_gaps``).
_SCORED = """
with m as (
    select * from (values ('industrial_investment'), ('tech_upgrade_investment')) m(metric)
), s as (
    -- once per project: what it could still recover towards its plan running its remaining work
    -- at the pace cap (工业投资 counts every project, 技术改造投资 the 技改 ones)
    select p.project_id, p.is_tech_upgrade, p.forecast_gap_wan,
           least(greatest(p.forecast_gap_wan, 0.0), greatest(p.remaining_plan_wan * ($cap - p.pace), 0.0))
             as achievable_extra_wan
    from _projects p
)"""

#: The metrics a project counts in (``m`` the metric, ``s`` the project).
_COUNTS_IN = "(m.metric = 'industrial_investment' or s.is_tech_upgrade)"


def _per_metric(select: str, where: str, tail: str = "") -> str:
    """``select`` over the projects each metric counts (``where`` them), one branch per metric."""
    return "\n    union all\n    ".join(
        f"(select '{metric}' as metric, {select} from s where {where}{' and s.is_tech_upgrade' if tech else ''}{tail})"
        for metric, tech in (("industrial_investment", False), ("tech_upgrade_investment", True)))


def _top(column: str) -> str:
    return _per_metric("s.project_id, s.forecast_gap_wan, s.achievable_extra_wan", f"s.{column} > 0",
                       f" order by s.{column} desc, s.project_id limit $top")


#: The ``$top`` projects furthest behind plan and the ``$top`` accelerators (with their running
#: sum) per metric: what the ranking lists, before the gap to target is known.
RANKED_HEADS_SQL = _SCORED + f""", total as (
    {_per_metric("sum(s.forecast_gap_wan) as total_gap", "s.forecast_gap_wan > 0")}
), short as (
    -- a top-N per metric (a heap each), not a sort of every project
    select metric, 'shortfall' as role,
           row_number() over (partition by metric order by forecast_gap_wan desc, project_id) as rank,
           project_id, forecast_gap_wan
    from ({_top('forecast_gap_wan')})
), short_share as (
    select metric, role, rank, project_id, forecast_gap_wan / t.total_gap as gap_share,
           null::double as cumulative_extra_wan
    from short join total t using (metric)
), fast as (
    select metric, 'accelerate' as role,
           row_number() over (partition by metric order by achievable_extra_wan desc, project_id) as rank,
           project_id, null::double as gap_share, achievable_extra_wan
    from ({_top('achievable_extra_wan')})
), fast_cum as (
    select metric, role, rank, project_id, gap_share,
           sum(achievable_extra_wan) over (partition by metric order by rank
                                           rows between unbounded preceding and current row) as cumulative_extra_wan
    from fast
)
select * from short_share union all by name select * from fast_cum
"""

#: Whether the accelerators down to each one close the metric's gap to target, over ``_heads``
#: (rows of :data:`RANKED_HEADS_SQL`) and ``_gaps``.
CLOSES_SQL = """
select r.*, case when r.role = 'accelerate'
                 then r.cumulative_extra_wan >= g.gap_to_target and g.gap_to_target > 0 end as closes_gap
from _heads r
join _gaps g using (metric)
order by metric, role desc, rank
"""

#: The ranking's heads with ``closes_gap``: :data:`RANKED_HEADS_SQL`, then :data:`CLOSES_SQL`.
RANKED_SQL = f"with _heads as ({RANKED_HEADS_SQL.strip()})\n{CLOSES_SQL.strip()}"

#: Per metric: the acceleration potential (Σ achievable extra) and how many of the accelerators,
#: largest first, close the gap to target (null without a gap, or when all of them cannot). The
#: running sum over every accelerator is taken only for a metric with a gap.
POTENTIAL_SQL = _SCORED + f""", closing as (
    select metric, min(rank) as projects_to_close_gap
    from (
        select m.metric, m.gap_to_target,
               row_number() over w as rank, sum(s.achievable_extra_wan) over w as cumulative
        from (select metric, gap_to_target from _gaps where gap_to_target > 0) m
        join s on {_COUNTS_IN}
        where s.achievable_extra_wan > 0
        window w as (partition by m.metric order by s.achievable_extra_wan desc, s.project_id
                     rows between unbounded preceding and current row)
    )
    where cumulative >= gap_to_target
    group by metric
), potential as (
    {_per_metric("sum(s.achievable_extra_wan) as potential", "s.achievable_extra_wan > 0")}
)
select m.metric, coalesce(p.potential, 0.0)::double as acceleration_potential_wan,
       c.projects_to_close_gap::bigint as projects_to_close_gap
from m left join potential p using (metric) left join closing c using (metric)
order by m.metric
"""

RANK_INPUT = ["project_id", "forecast_gap_wan", "remaining_plan_wan", "pace", "is_tech_upgrade"]


def gaps_frame(checks: pl.DataFrame) -> pl.DataFrame:
    """Each metric's gap to target (target − forecast), the ``_gaps`` input of the ranking."""
    return checks.filter(pl.col("label").is_not_null()).select(
        "metric", pl.col("forecast_gap_wan").cast(pl.Float64).alias("gap_to_target"))


def ranked_from(heads: pl.DataFrame, potential: pl.DataFrame, rows: pl.DataFrame, *, cfg: Settings) -> Ranked:
    """The :data:`Ranked` of the ranking's head rows (:data:`RANKED_SQL`), its potential
    (:data:`POTENTIAL_SQL`) and the rows of the ranked projects (``project_status_at`` columns)."""
    cap = cfg.forecast["ratio_cap"]
    plan = pl.col("annual_plan_wan").cast(pl.Float64)
    done = pl.col("completed_wan").cast(pl.Float64)
    shown = (
        heads
        .with_columns(pl.col("rank").cast(pl.UInt32))
        .join(rows, on="project_id", how="left", maintain_order="left")
        .with_columns(
            pl.when(pl.col("remaining_plan_wan") > 0).then((plan - done) / pl.col("remaining_plan_wan"))
            .alias("required_pace"),
            pl.min_horizontal(pl.col("forecast_gap_wan").clip(0.0),
                              (pl.col("remaining_plan_wan") * (cap - pl.col("pace"))).clip(0.0))
            .alias("achievable_extra_wan"),
        )
    )
    out: Ranked = {}
    for metric in ("industrial_investment", "tech_upgrade_investment"):
        mine = shown.filter(pl.col("metric") == metric).drop("metric")
        pot = potential.filter(pl.col("metric") == metric)
        n = pot["projects_to_close_gap"][0] if pot.height else None
        out[metric] = (
            mine.filter(pl.col("role") == "shortfall").sort("rank"),
            mine.filter(pl.col("role") == "accelerate").sort("rank"),
            float(pot["acceleration_potential_wan"][0]) if pot.height else 0.0,
            int(n) if n is not None else None,
        )
    return out


def ranked_of(projects: pl.DataFrame, *, checks: pl.DataFrame, cfg: Settings, top: int) -> Ranked:
    """Per metric: the ``top`` projects furthest behind plan, the ``top`` accelerators, the
    acceleration potential (Σ achievable extra) and how many accelerators close the gap.

    An accelerator's achievable extra is what it could still recover towards its annual
    plan by running its remaining scheduled work at the pace cap:
    ``min(plan − forecast, remaining × (cap − pace))``, never below 0 (:data:`RANKED_SQL`,
    the same SQL the check payload runs in the database). Only the top rows are gathered in full.
    """
    params = {"cap": float(cfg.forecast["ratio_cap"]), "top": int(top)}
    narrow = projects.select(RANK_INPUT)
    gaps = gaps_frame(checks)
    heads = engine.run(RANKED_SQL, params, _projects=narrow, _gaps=gaps)
    potential = engine.run(POTENTIAL_SQL, {"cap": params["cap"]}, _projects=narrow, _gaps=gaps)
    rows = projects.filter(pl.col("project_id").is_in(heads["project_id"].implode()))
    return ranked_from(heads, potential, rows, cfg=cfg)


DRIVER_COLS = [
    "metric", "role", "rank", "project_id", "name", "unit_name", "chain_name", "tier", "leader",
    "leader_level", "annual_plan_wan", "completed_wan", "expected_wan", "performance", "pace",
    "forecast_wan", "forecast_gap_wan", "gap_share", "remaining_plan_wan", "required_pace",
    "achievable_extra_wan", "cumulative_extra_wan", "closes_gap",
]


def drivers_of(ranked: Ranked) -> pl.DataFrame:
    """The ranked projects per metric: role ``shortfall`` (largest plan − forecast, with its
    share of the total gap) and ``accelerate`` (largest achievable extra, with the cumulative
    extra and whether it closes the metric's gap to target)."""
    parts = [
        part
        .with_columns(
            pl.lit(metric).alias("metric"),
            pl.col("rank").cast(pl.Int64).alias("rank"),
        )
        .select(DRIVER_COLS)
        for metric, (short, fast, _potential, _n) in ranked.items()
        for part in (short, fast)
    ]
    return pl.concat(parts, how="vertical_relaxed")
