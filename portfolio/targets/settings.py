"""The plan year, the rules in force and the labels every part of the checks shares.

The rules come from the database (:mod:`portfolio.rules`): the same rows the SQL views read, so
the library, the views, the pages and the report use the same thresholds, tiers and profile.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from datetime import date

import duckdb
import polars as pl

from .. import rules, store, years

METRICS = ("industrial_investment", "tech_upgrade_investment")
METRIC_LABELS = {"industrial_investment": "工业投资", "tech_upgrade_investment": "技术改造投资"}
STATUS_LABELS = {"on_track": "正常", "at_risk": "有风险", "off_track": "滞后"}
FLAG_LABELS = {"green": "绿", "amber": "黄", "red": "红"}
ALLOCATED = "按计划占比分配（无分单位/分链目标）"
ASSIGNED = "下达目标"
CITY = "全市目标"
NO_OWNER = "（未落实）"
NO_CHAIN = "（未归链）"
MONEY = pl.Decimal(38, 2)
FORECAST_DEFAULTS = rules.FORECAST_DEFAULTS

#: ``by`` values and the project-frame columns they group on.
GROUPS: dict[str, list[str]] = {
    "unit": ["unit_id", "unit_name"],
    "chain": ["chain_id", "chain_name"],
    "tier": ["tier"],
    "leader": ["leader", "leader_level"],
    "leader_level": ["leader_level"],
    "status": ["status"],
    "nature": ["nature"],
}
#: Missing owners and chains are shown as labelled groups rather than nulls.
GROUP_FILLS = {"leader": NO_OWNER, "leader_level": NO_OWNER, "chain_name": NO_CHAIN}


@dataclass(frozen=True)
class Settings(rules.Rules):
    """The rules in force (the database's copy of targets.toml) and the plan year."""

    year: int = 0


def plan_year(con: duckdb.DuckDBPyConnection) -> int:
    """The current plan year (:func:`portfolio.years.current_year`)."""
    return years.current_year(con)


def settings(con: duckdb.DuckDBPyConnection, year: int | None = None) -> Settings:
    """The plan year (``year``, else the current one) and every rule in force, from the database.

    YearError (a ValueError) when the database holds no such plan year."""
    found = rules.in_force(con)
    year = years.resolve_year(con, year)
    values = {f.name: getattr(found, f.name) for f in fields(rules.Rules)}
    if year != min(years.plan_years(con)):
        # the plan counts of targets.toml (tiers, 包保 levels) are the first plan year's (the
        # source's 2016 figures); a later year has none unless its own are given
        values["bands"] = tuple(replace(b, plan_count=None, plan_cumulative_count=None) for b in found.bands)
        values["plan_counts"] = {}
    return Settings(**values, year=year)


def settings_at(con: duckdb.DuckDBPyConnection, *, year: int | None = None, as_of: date | None = None) -> Settings:
    """The settings of ``year``, else of the plan year ``as_of`` lies in, else of the current year.

    An ``as_of`` in no plan year gives the current year's (and :func:`month_index` says so)."""
    if year is None and as_of is not None and as_of.year in years.plan_years(con):
        year = as_of.year
    return settings(con, year=year)


def default_as_of(con: duckdb.DuckDBPyConnection, year: int) -> date:
    """The latest month with progress rows in the plan year, else January of that year."""
    rows = con.execute(
        "select max(month) from progress where month >= ? and month < ?",
        [date(year, 1, 1), date(year + 1, 1, 1)],
    ).fetchall()
    found = rows[0][0] if rows else None
    return found.replace(day=1) if found else date(year, 1, 1)


def month_index(as_of: date, year: int) -> int:
    """The month number of ``as_of``; ValueError when it lies outside the plan year."""
    if as_of.year != year:
        raise ValueError(f"截至月份 {as_of:%Y-%m} 不在计划年度 {year} 内（as-of outside the plan year）。")
    return as_of.month


def city_targets(con: duckdb.DuckDBPyConnection, year: int) -> pl.DataFrame:
    """The city targets of the year: metric, label, target_wan (Decimal), growth_pct."""
    frame = store.fetch(
        con,
        "select metric, coalesce(label, metric) as label, value_wan::decimal(38,2) as target_wan,"
        " growth_pct::double as growth_pct from targets"
        " where year = ? and scope = 'city' and metric in (?, ?)",
        [year, *METRICS],
    )
    missing = [m for m in METRICS if m not in frame["metric"].to_list()]
    if missing:
        raise ValueError(f"计划年度 {year} 缺少目标：{'、'.join(missing)}（请检查 targets 表或 targets.toml）。")
    order = pl.DataFrame({"metric": list(METRICS)})
    return order.join(frame, on="metric", how="left")


def group_targets(con: duckdb.DuckDBPyConnection, year: int) -> pl.DataFrame:
    """Targets given per unit or chain (scope ``unit:ID`` / ``chain:ID``), if any exist."""
    return store.fetch(
        con,
        "select metric, split_part(scope, ':', 2) as scope_id, value_wan::decimal(38,2) as target_wan"
        " from targets where year = ? and (scope like 'unit:%' or scope like 'chain:%') and metric in (?, ?)",
        [year, *METRICS],
    )


def group_cols(by: str) -> list[str]:
    """The project-frame columns a ``by`` value groups on; ValueError for an unknown one."""
    try:
        return GROUPS[by]
    except KeyError:
        raise ValueError(f"不支持按 {by!r} 分组，可选：{'、'.join(GROUPS)}。") from None


def group_key_sql(keys: list[str], alias: str = "") -> list[tuple[str, str]]:
    """(column, SQL expression) per group key, missing owners and chains labelled."""
    prefix = f"{alias}." if alias else ""
    out = []
    for key in keys:
        fill = GROUP_FILLS.get(key)
        expr = f"coalesce({prefix}{key}, '{fill}')" if fill else f"{prefix}{key}"
        out.append((key, expr))
    return out
