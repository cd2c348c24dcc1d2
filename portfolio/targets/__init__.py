"""Tiers, target checks, seasonal expectation, 包保 accountability and the year-end forecast.

A package split by responsibility; every name is importable from ``portfolio.targets``:

- ``settings``: the plan year, the rules in force (from the database, :mod:`portfolio.rules`),
  labels and groupings;
- ``engine``: the shared rule macros (status, seasonal share, normal draws) and the in-memory
  DuckDB that runs the rule SQL over frames;
- ``status``: per project — tier, seasonal expectation, performance, flag, stall, open problem,
  lagging, forecast (the macros ``project_tiers()`` / ``project_status_at(as_of)``);
- ``tiers``, ``checks``, ``rollups``: the tier table, the target checks (with the Monte Carlo
  range and the status), the roll-ups — each one SQL text for the views and the library;
- ``forecast``: the projects that drive a shortfall and those that could close it;
- ``responsibility``: 包保 counts and violations;
- ``payload``: the check report, built once (``portfolio check``, the overview, the report).

The rules are documented in ``docs/forecast.md``.
"""

from __future__ import annotations

from .checks import CHECK_COLS, checks_of, target_checks
from .forecast import DRIVER_COLS, Ranked, drivers_of, forecast, forecast_summary, ranked_of
from .payload import CheckPayload, check_payload, check_report, records, rule_texts
from .responsibility import (
    responsibility_counts,
    responsibility_counts_of,
    responsibility_violations,
    responsibility_words,
    rule_labels,
    rule_sentence,
    rule_words,
    violations_of,
)
from .rollups import rollup, rollup_of
from .settings import (
    ALLOCATED,
    ASSIGNED,
    FLAG_LABELS,
    FORECAST_DEFAULTS,
    GROUPS,
    METRIC_LABELS,
    METRICS,
    MONEY,
    NO_CHAIN,
    NO_OWNER,
    STATUS_LABELS,
    Settings,
    city_targets,
    default_as_of,
    group_targets,
    plan_year,
    settings,
)
from .status import (
    PERFORMANCE_COLS,
    expected_curve,
    lagging_of,
    lagging_projects,
    leader_projects,
    project_frame,
    project_performance,
    project_rows,
)
from .tiers import tier_summary, tiers_of

__all__ = [
    "leader_projects", "project_rows",
    "ALLOCATED", "ASSIGNED", "CHECK_COLS", "DRIVER_COLS", "FLAG_LABELS", "FORECAST_DEFAULTS", "GROUPS",
    "METRICS", "METRIC_LABELS", "MONEY", "NO_CHAIN", "NO_OWNER", "PERFORMANCE_COLS", "STATUS_LABELS",
    "CheckPayload", "Ranked", "Settings", "check_payload", "check_report", "checks_of", "city_targets",
    "default_as_of", "drivers_of", "expected_curve", "forecast", "forecast_summary", "group_targets",
    "lagging_of", "lagging_projects", "plan_year", "project_frame", "project_performance", "ranked_of",
    "records", "responsibility_counts", "responsibility_counts_of", "responsibility_violations",
    "responsibility_words", "rollup", "rollup_of", "rule_labels", "rule_sentence", "rule_texts", "rule_words", "settings", "target_checks", "tier_summary",
    "tiers_of", "violations_of",
]
