"""示例数据: the deterministic sample plan built from the source figures (长春工业, 2016).

Everything here is synthetic and marked so (``note = '示例数据'``, enterprise names end in
``（示例）``, ``is_sample = true``). Where the source gives a figure the sample reproduces it
exactly for the default 1004 projects: the tier counts 84 / 436 / 260 / 224, the 30 major
projects (six of them named), the 包保 levels 23 / 135 / 622 / 224, the 14 units, the 677 key
enterprises and 21 of them held by city leaders. Everything else is a documented design choice
(docs/sample.md), kept in the constants below.

The builders are vectorised (numpy + polars) and pure: :func:`build_sample` returns the three
frames without a database file; :func:`load_sample` writes them through registered Arrow frames.
The declared chain roles follow the segment classes of :func:`portfolio.chains.segment_kinds`
(the one definition of 补链 / 增链 / 丰链), under the chain rules being loaded.

The sample has a past (:mod:`.history`, every assumption in ``data/sample_history.toml``): 2015
progress for the projects that started before 2016, and the statistics bureau's monthly figures
(``actuals``) for 2015 and January–September 2016, consistent with the source's growth figures.

Modules: ``params`` (every design choice, as constants), ``draw`` (vectorised helpers),
``enterprises``, ``projects``, ``progress`` (the three builders), ``history`` (2015 and the
official statistics).
"""

from __future__ import annotations

from collections.abc import Callable

import duckdb
import polars as pl

from .. import chains, config
from .enterprises import build_enterprises
from .history import build_actuals, build_past_progress, history_config
from .params import (
    ADDRESSED_WEIGHT,
    ANCHORS,
    CITY_HELD_ENTERPRISES,
    EMPTY_ADDRESSED,
    EMPTY_OPEN,
    ENTERPRISE_CHAINS,
    LAST_MONTH,
    MARK,
    MISSING_LEADER_RATE,
    NAMED_MAJORS,
    NOTE,
    OFF_CHAIN_SHARE,
    PACE,
    PLAN_COVERAGE,
    PROJECT_CHAINS,
    SEGMENT_FIRMS,
    SOURCE_PROJECTS,
    UNIT_AFFINITY,
    UNIT_WEIGHTS,
    YEAR,
    Sample,
)
from .progress import build_progress
from .projects import build_projects

__all__ = [
    "ADDRESSED_WEIGHT", "ANCHORS", "CITY_HELD_ENTERPRISES", "EMPTY_ADDRESSED", "EMPTY_OPEN",
    "ENTERPRISE_CHAINS", "LAST_MONTH", "MARK", "MISSING_LEADER_RATE", "NAMED_MAJORS", "NOTE",
    "OFF_CHAIN_SHARE", "PACE", "PLAN_COVERAGE", "PROJECT_CHAINS", "SEGMENT_FIRMS",
    "SOURCE_PROJECTS", "UNIT_AFFINITY", "UNIT_WEIGHTS", "YEAR", "Sample", "build_actuals",
    "build_enterprises", "build_past_progress", "build_progress", "build_projects", "build_sample",
    "history_config", "load_sample",
]


def build_sample(
    n_projects: int | None = None,
    *,
    seed: int = 2016,
    ref: config.Reference | None = None,
    progress: Callable[[str], None] | None = None,
) -> Sample:
    """Build enterprises, projects, monthly progress (2015 and 2016) and the official statistics
    without a database file (1004 projects by default).

    The chain rules are ``ref``'s (data/chains.toml by default); the segment classes are
    computed in a scratch in-memory DuckDB. The seasonal profile is ``ref``'s too.
    """
    ref = ref or config.load_reference()
    rules = chains.ChainRules.from_table(ref.settings.get("chain_rules"))
    shares = [float(x) for x in ref.settings["seasonal_profile"]["shares"]]
    return _build(n_projects, seed, ref.chain_nodes, ref.chain_edges, ref.units, ref.targets,
                  progress, rules=rules, shares=shares)


def _build(
    n_projects: int | None, seed: int, nodes: pl.DataFrame, edges: pl.DataFrame,
    units: pl.DataFrame, targets: pl.DataFrame, progress: Callable[[str], None] | None, *,
    con: duckdb.DuckDBPyConnection | None = None, rules: chains.ChainRules | None = None,
    shares: list[float] | None = None,
) -> Sample:
    say = progress or (lambda _msg: None)
    n = SOURCE_PROJECTS if n_projects is None else int(n_projects)
    say("生成企业…")
    enterprises = build_enterprises(nodes, units, seed=seed)
    say(f"生成项目（{n:,} 个）…")
    projects = build_projects(n, seed, nodes, units, edges=edges, enterprises=enterprises,
                              targets=targets, con=con, rules=rules)
    say("生成月度进度…")
    monthly = build_progress(projects, seed=seed, shares=shares)
    say("生成2015年进度与统计局数据…")
    history = history_config()
    past = build_past_progress(projects, monthly, seed=seed, shares=shares, cfg=history)
    actuals = build_actuals(projects, monthly, targets, shares=shares, scale=n / SOURCE_PROJECTS,
                            cfg=history)
    monthly = pl.concat([past, monthly]).sort("project_id", "month", maintain_order=True)
    return Sample(projects, enterprises.drop("short_name"), monthly, actuals)


#: Table → (columns written, progress message).
_WRITES = {
    "enterprises": (("enterprise_id", "name", "unit_id", "node_id", "output_wan", "is_key",
                     "leader_level", "is_sample"), "写入企业…"),
    "projects": (("project_id", "name", "enterprise", "chain_id", "node_id", "unit_id", "park",
                  "nature", "status", "total_investment_wan", "annual_plan_wan", "start_date",
                  "end_date", "leader", "leader_level", "is_major", "chain_role", "note",
                  "is_sample"), "写入项目…"),
    "progress": (("project_id", "month", "completed_wan", "physical_pct", "problems",
                  "problem_level"), "写入月度进度…"),
    "actuals": (("month", "metric", "cumulative_wan", "yoy_pct"), "写入统计局数据…"),
}


def load_sample(
    con: duckdb.DuckDBPyConnection,
    *,
    n_projects: int | None = None,
    seed: int = 2016,
    progress: Callable[[str], None] | None = None,
) -> dict[str, int]:
    """Insert the sample plan into enterprises, projects, progress (2015 and 2016) and actuals;
    returns the row counts (and ``plans``, which :func:`store.meta.sync_plans` fills).

    Runs inside the caller's transaction (``store.init_db``) and reads the reference tables,
    the chain rules and the seasonal profile from the database, so the sample always agrees
    with what is loaded.
    """
    say = progress or (lambda _msg: None)
    nodes = con.sql("select node_id, chain_id, name, weight, emerging from chain_nodes").pl()
    edges = con.sql("select src_node_id, dst_node_id from chain_edges").pl()
    units = con.sql("select unit_id, short_name, kind from units").pl()
    targets = con.sql("select year, metric, scope, value_wan, growth_pct from targets").pl()
    shares = [r[0] for r in con.execute("select share from seasonal_profile order by month_no").fetchall()]
    sample = _build(n_projects, seed, nodes, edges, units, targets, progress, con=con,
                    shares=shares if len(shares) == 12 else None)
    counts: dict[str, int] = {}
    for table, (columns, message) in _WRITES.items():
        say(message)
        frame = getattr(sample, table).select(columns)
        cols = ", ".join(columns)
        con.register("_sample_rows", frame)
        try:
            con.execute(f"insert into {table} ({cols}) select {cols} from _sample_rows")
        finally:
            con.unregister("_sample_rows")
        counts[table] = frame.height
    say("写入分年度计划…")
    from ..store.meta import sync_plans

    sync_plans(con)
    counts["plans"] = counts["projects"]
    return counts
