"""包保 (responsibility): projects per highest responsible level against the source's counts,
and the projects whose responsibility breaks a rule. Every text is built from the rules in
force (``[responsibility]`` of targets.toml: the amount and the level of the floor, the level
major projects need), never written with the figures inside.
"""

from __future__ import annotations

import duckdb
import polars as pl

from .. import config, rules, store
from . import engine
from .settings import NO_OWNER, settings

_RESP_SQL = """
select p.project_id, p.name, p.unit_id, coalesce(u.name, p.unit_id) as unit_name,
       p.total_investment_wan::decimal(38,2) as total_investment_wan, p.is_major,
       nullif(trim(p.leader), '') as leader, p.leader_level
from projects p left join units u on u.unit_id = p.unit_id
"""


def rule_labels(cfg: rules.Rules) -> dict[str, str]:
    """A short Chinese name per violation rule, built from the rules in force."""
    return {
        "no_owner": "未落实包保",
        "below_min_level": f"{cfg.min_level_from_wan:g}万元以上低于{cfg.min_level}包保",
        "major_below_level": f"重大产业化项目低于{cfg.major_min_level}包保",
    }


def rule_words(cfg: rules.Rules) -> dict[str, str]:
    """The values the catalogue's 包保 texts are filled with (``{amount}万元``, ``{level}`` …),
    in both languages: the rules in force, never figures written into a text."""
    from ..i18n import enum_label

    return {
        "amount": f"{cfg.min_level_from_wan:g}", "amount_m": f"{cfg.min_level_from_wan / 100:g}",
        "level": cfg.min_level, "level_en": enum_label(cfg.min_level, "en"),
        "major": cfg.major_min_level, "major_en": enum_label(cfg.major_min_level, "en"),
    }


def responsibility_words(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """:func:`rule_words` of the rules in force (for the pages)."""
    return rule_words(settings(con))


def rule_sentence(cfg: rules.Rules) -> str:
    """The 包保 rules in one sentence, from the rules in force."""
    return (f"每个项目须有包保领导和包保层级；总投资{cfg.min_level_from_wan:g}万元以上由{cfg.min_level}或以上包保；"
            f"重大产业化项目由{cfg.major_min_level}或以上领导包保。")


def responsibility_counts(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """Projects per highest 包保 level vs the source counts, with cumulative (或以上) counts."""
    cfg = settings(con)
    return responsibility_counts_of(store.fetch(con, _RESP_SQL), cfg=cfg)


def level_counts_sql(parts: str | None = None) -> str:
    """Projects per leader level (no level: 未落实), over ``_projects``; or over ``parts``, a
    relation of partial sums (``leader_level``, ``n`` projects)."""
    count, source = ("count(*)", "_projects") if parts is None else ("sum(n)", parts)
    return f"""
select coalesce(leader_level, '{NO_OWNER}') as leader_level, {count}::bigint as count
from {source} group by all
"""


#: Projects per leader level (no level: 未落实), over ``_projects``.
LEVEL_COUNTS_SQL = level_counts_sql()


def responsibility_counts_of(projects: pl.DataFrame, *, cfg: rules.Rules) -> pl.DataFrame:
    """Counts per leader level of a project frame (levels highest first, then 未落实)."""
    return responsibility_table(engine.run(LEVEL_COUNTS_SQL, _projects=projects.select("leader_level")), cfg=cfg)


def responsibility_table(counts: pl.DataFrame, *, cfg: rules.Rules) -> pl.DataFrame:
    """The 包保 table from the projects per level (:data:`LEVEL_COUNTS_SQL`) and the plan's counts."""
    levels = [*config.LEADER_LEVELS, NO_OWNER]
    plan = [cfg.plan_counts.get(lv) for lv in config.LEADER_LEVELS] + [None]
    grid = pl.DataFrame({"leader_level": levels, "plan_count": plan, "_order": list(range(len(levels)))},
                        schema={"leader_level": pl.String, "plan_count": pl.Int64, "_order": pl.Int64})
    counts = counts.select("leader_level", pl.col("count").cast(pl.Int64))
    return (
        grid
        .join(counts, on="leader_level", how="left")
        .sort("_order")
        .with_columns(
            pl.col("count").fill_null(0).alias("count"),
        )
        .with_columns(
            pl.when(pl.col("leader_level") != NO_OWNER).then(pl.col("count").cum_sum()).alias("cumulative_count"),
            pl.col("plan_count").cum_sum().alias("plan_cumulative_count"),
            pl.when(pl.col("leader_level") != NO_OWNER).then(pl.col("leader_level") + "或以上")
            .alias("cumulative_label"),
        )
        .with_columns(
            (pl.col("count") - pl.col("plan_count")).alias("count_diff"),
            (pl.col("cumulative_count") - pl.col("plan_cumulative_count")).alias("cumulative_diff"),
        )
        .select("leader_level", "count", "plan_count", "count_diff", "cumulative_label",
                "cumulative_count", "plan_cumulative_count", "cumulative_diff")
    )


def responsibility_violations(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """Projects with no owner, held below the floor level for their amount, or major projects
    held below their level (the rules in force: ``rule_labels``)."""
    cfg = settings(con)
    return violations_of(store.fetch(con, _RESP_SQL), cfg=cfg)


def _q(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def violations_sql(cfg: rules.Rules, *, source: str = "_projects") -> str:
    """The responsibility rules over ``source`` (project rows with ``project_id``, ``leader``,
    ``leader_level``, ``is_major``, ``total_investment_wan``): one row per project and rule broken,
    rule by rule, the largest investment first. Every text comes from the rules in force."""
    levels = list(config.LEADER_LEVELS)  # highest first: rank 0
    rank = "case leader_level " + " ".join(f"when {_q(lv)} then {i}" for i, lv in enumerate(levels)) + " end"
    floor_level, major = cfg.min_level, cfg.major_min_level
    min_wan = float(cfg.min_level_from_wan)
    owned = "leader is not null and leader_level is not null"
    rule_rows = [
        ("no_owner", f"not ({owned})", "null::varchar",
         "case when leader is null and leader_level is null then '未落实包保责任：包保领导和包保层级均为空'"
         " when leader is null then '未落实包保领导（包保层级为' || leader_level || '）'"
         " else '未明确包保层级（包保领导为' || leader || '）' end"),
        ("below_min_level",
         f"{owned} and total_investment_wan::double >= {min_wan!r} and {rank} > {levels.index(floor_level)}",
         _q(floor_level),
         f"'总投资' || round(total_investment_wan::double, 2)::varchar || "
         f"{_q(f'万元，达到{cfg.min_level_from_wan:g}万元应由{floor_level}或以上包保，现为')} || leader_level"),
        ("major_below_level", f"{owned} and is_major and {rank} > {levels.index(major)}", _q(major),
         f"{_q(f'重大产业化项目应由{major}或以上领导包保，现为')} || leader_level"),
    ]
    parts = "\nunion all\n".join(
        f"select project_id, total_investment_wan, is_major, leader, leader_level, {_q(code)} as rule, "
        f"{required} as required_level, {reason} as reason, {i} as _order from {source} where {cond}"
        for i, (code, cond, required, reason) in enumerate(rule_rows))
    return f"""
select project_id, total_investment_wan, is_major, leader, leader_level, rule, required_level, reason
from ({parts})
order by _order, total_investment_wan desc, project_id
"""


#: The columns of a violation, in order.
VIOLATION_COLS = ["project_id", "name", "unit_id", "unit_name", "total_investment_wan", "is_major",
                  "leader", "leader_level", "rule", "required_level", "reason"]


def violations_of(projects: pl.DataFrame, *, cfg: rules.Rules) -> pl.DataFrame:
    """Responsibility violations of a project frame, one row per project and rule (:func:`violations_sql`)."""
    found = engine.run(violations_sql(cfg), _projects=projects.select(
        "project_id", "total_investment_wan", "is_major", "leader", "leader_level"))
    names = projects.select("project_id", "name", "unit_id", "unit_name").unique("project_id", keep="first")
    return found.join(names, on="project_id", how="left", maintain_order="left").select(VIOLATION_COLS)
