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


def ranked_of(projects: pl.DataFrame, *, checks: pl.DataFrame, cfg: Settings, top: int) -> Ranked:
    """Per metric: the ``top`` projects furthest behind plan, the ``top`` accelerators, the
    acceleration potential (Σ achievable extra) and how many accelerators close the gap.

    An accelerator's achievable extra is what it could still recover towards its annual
    plan by running its remaining scheduled work at the pace cap:
    ``min(plan − forecast, remaining × (cap − pace))``, never below 0. Ranking works on a
    narrow frame; only the top rows are gathered in full.
    """
    cap = cfg.forecast["ratio_cap"]
    plan = pl.col("annual_plan_wan").cast(pl.Float64)
    done = pl.col("completed_wan").cast(pl.Float64)
    out: Ranked = {}
    narrow_cols = ["project_id", "forecast_gap_wan", "remaining_plan_wan", "pace"]
    for metric, subset in _metric_frames(projects, narrow_cols):
        gap_to_target = float(checks.filter(pl.col("metric") == metric)["forecast_gap_wan"][0])
        scored = subset.with_columns(
            pl.min_horizontal(pl.col("forecast_gap_wan").clip(0.0),
                              (pl.col("remaining_plan_wan") * (cap - pl.col("pace"))).clip(0.0))
            .alias("achievable_extra_wan"),
        )
        behind = scored.filter(pl.col("forecast_gap_wan") > 0)
        total_gap = float(behind["forecast_gap_wan"].sum() or 0.0)
        short = (
            behind
            .sort(["forecast_gap_wan", "project_id"], descending=[True, False])
            .head(top)
            .select(
                "project_id",
                pl.lit("shortfall").alias("role"),
                (pl.col("forecast_gap_wan") / total_gap).alias("gap_share"),
                pl.lit(None, dtype=pl.Float64).alias("cumulative_extra_wan"),
                pl.lit(None, dtype=pl.Boolean).alias("closes_gap"),
            )
        )
        fast_all = (
            scored
            .filter(pl.col("achievable_extra_wan") > 0)
            .sort(["achievable_extra_wan", "project_id"], descending=[True, False])
            .select(
                "project_id",
                pl.lit("accelerate").alias("role"),
                pl.lit(None, dtype=pl.Float64).alias("gap_share"),
                pl.col("achievable_extra_wan").cum_sum().alias("cumulative_extra_wan"),
            )
            .with_columns(
                ((pl.col("cumulative_extra_wan") >= gap_to_target) & pl.lit(gap_to_target > 0)).alias("closes_gap"),
            )
        )
        closing = fast_all["closes_gap"].arg_true()
        potential = float(fast_all["cumulative_extra_wan"][-1]) if fast_all.height else 0.0
        heads = tuple(
            part
            .with_row_index("rank", offset=1)
            .join(projects.filter(pl.col("project_id").is_in(part["project_id"].implode())),
                  on="project_id", how="left")
            .with_columns(
                pl.when(pl.col("remaining_plan_wan") > 0).then((plan - done) / pl.col("remaining_plan_wan"))
                .alias("required_pace"),
                pl.min_horizontal(pl.col("forecast_gap_wan").clip(0.0),
                                  (pl.col("remaining_plan_wan") * (cap - pl.col("pace"))).clip(0.0))
                .alias("achievable_extra_wan"),
            )
            .sort("rank")
            for part in (short, fast_all.head(top))
        )
        out[metric] = (heads[0], heads[1], potential, int(closing[0]) + 1 if len(closing) else None)
    return out


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
