"""The check payload: everything ``portfolio check`` shows, built once from one project frame.

:func:`check_payload` reads the project frame once and derives every section from it; the CLI
prints its JSON (:func:`check_report`), the overview page shows it, and the report builds on
the same payload (with the frames behind it) instead of computing the parts again.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

import duckdb
import polars as pl

from .. import store
from .checks import checks_of
from .forecast import Ranked, drivers_of, forecast_summary, ranked_of
from .official import official_at, with_official
from .responsibility import (
    responsibility_counts_of,
    rule_labels,
    rule_sentence,
    rule_words,
    violations_of,
)
from .settings import Settings, city_targets, default_as_of, group_targets, month_index, settings_at
from .status import lagging_of, prev_frame, project_frame
from .tiers import tiers_of


def _jsonable(value: Any, column: str) -> Any:
    if value is None:
        return None
    if isinstance(value, Decimal):
        return round(float(value), 2)
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return None
        return round(value, 2 if column.endswith("_wan") else 4)
    if isinstance(value, date):
        return value.isoformat()
    return value


def records(frame: pl.DataFrame) -> list[dict[str, Any]]:
    """Rows as JSON-ready dicts: 万元 rounded to 2 decimals, ratios to 4, dates as ISO text."""
    return [{k: _jsonable(v, k) for k, v in row.items()} for row in frame.iter_rows(named=True)]


def rule_texts(cfg: Settings) -> dict[str, str]:
    """The rules behind statuses, flags, the forecast and 包保, in words built from the settings."""
    return {
        "status": (f"年末预测上限低于目标为滞后；否则季节完成率≥{cfg.on_track:g}为正常，≥{cfg.at_risk:g}为有风险，"
                   f"否则滞后（预测下限已达目标时最多为有风险）；计划覆盖率<{cfg.coverage_at_risk:g}时最多为有风险"),
        "flag": (f"项目完成率≥{cfg.green:g}为绿，≥{cfg.amber:g}为黄，否则为红；"
                 f"活动月份中连续{cfg.stalled_months}个月无投资为停滞"),
        "forecast": "已完成 + 剩余计划 × 收缩后的完成节奏；区间为蒙特卡洛分位数（见 docs/forecast.md）",
        "responsibility": rule_sentence(cfg),
    }


@dataclass(frozen=True)
class CheckPayload:
    """The check report and the frames it was built from (for the report and the pages)."""

    report: dict[str, Any]
    settings: Settings
    as_of: date
    projects: pl.DataFrame
    checks: pl.DataFrame
    lagging: pl.DataFrame  # every lagging project, furthest behind first
    violations: pl.DataFrame  # every responsibility violation
    ranked: Ranked


def check_payload(con: duckdb.DuckDBPyConnection, *, as_of: date | None = None, limit: int = 50,
                  violations_limit: int | None = None, year: int | None = None) -> CheckPayload:
    """Build the check report once: one project frame, every section derived from it.

    ``year`` is the plan year (default: the current one; else the year of ``as_of``). The
    report lists the first ``limit`` lagging projects and ``violations_limit`` (default
    ``limit``) violations; the payload's frames hold all of them. Each metric carries the
    statistics bureau's figure at the month (:mod:`.official`)."""
    cfg = settings_at(con, year=year, as_of=as_of)
    as_of = as_of or default_as_of(con, cfg.year)
    month = month_index(as_of, cfg.year)
    projects = project_frame(con, as_of=as_of, cfg=cfg)
    targets = city_targets(con, cfg.year)
    goals = group_targets(con, cfg.year)
    prev = prev_frame(con, as_of=as_of)
    checks = with_official(checks_of(projects, targets=targets, cfg=cfg, month=month, prev=prev),
                           official_at(con, as_of))
    ranked = ranked_of(projects, checks=checks, cfg=cfg, top=10)
    extra = forecast_summary(checks, ranked=ranked).select(
        "metric", "acceleration_potential_wan", "projects_to_close_gap")
    lagging = lagging_of(projects)
    violations = violations_of(projects, cfg=cfg)
    report = {
        "year": cfg.year,
        "as_of": as_of.strftime("%Y-%m"),
        "is_sample": store.is_sample(con),
        "projects": projects.height,
        "metrics": records(checks.join(extra, on="metric", how="left")),
        "without_plan_count": int(con.execute(
            "select count(*) from plans where year = ? and annual_plan_wan is null", [cfg.year]).fetchall()[0][0]),
        "forecast_basis": "library",  # status and forecast_wan: the library's figures; see forecast_official_wan
        "tiers": records(tiers_of(projects, tiers=cfg.tiers)),
        "below_tier_count": int(projects["tier"].is_null().sum()),
        "lagging_count": lagging.height,
        "lagging_projects": records(lagging.head(limit)),
        "stalled_count": int(projects["stalled"].sum()),
        "open_problem_count": int(projects["open_problems"].is_not_null().sum()),
        "responsibility": records(responsibility_counts_of(projects, cfg=cfg)),
        "violation_counts": {r: int(n) for r, n in violations.group_by("rule", maintain_order=True).len().iter_rows()},
        "violation_labels": rule_labels(cfg),
        "rule_words": rule_words(cfg),
        "violations": records(violations.head(limit if violations_limit is None else violations_limit)),
        "by_unit": records(checks_of(projects, targets=targets, cfg=cfg, month=month, by="unit", prev=prev,
                                     group_targets=goals)),
        "by_chain": records(checks_of(projects, targets=targets, cfg=cfg, month=month, by="chain", prev=prev,
                                      group_targets=goals)),
        "drivers": records(drivers_of(ranked)),
        "rules": rule_texts(cfg),
    }
    return CheckPayload(report=report, settings=cfg, as_of=as_of, projects=projects, checks=checks,
                        lagging=lagging, violations=violations, ranked=ranked)


def check_report(con: duckdb.DuckDBPyConnection, *, as_of: date | None = None, limit: int = 50,
                 year: int | None = None) -> dict[str, Any]:
    """Everything `portfolio check` shows, as the JSON shape of the CONTRACT (plus extras)."""
    return check_payload(con, as_of=as_of, limit=limit, year=year).report
