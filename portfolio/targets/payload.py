"""The check payload: everything ``portfolio check`` shows, built once from one project frame.

:func:`check_payload` reads the project frame once and derives every section from it; the CLI
prints its JSON (:func:`check_report`), the overview page shows it, and the report builds on
the same payload (with the frames behind it) instead of computing the parts again.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from functools import cached_property
from typing import Any

import duckdb
import polars as pl

from .. import rules, store
from .checks import checks_sql, partial_sums_sql
from .forecast import (
    CLOSES_SQL,
    POTENTIAL_SQL,
    RANKED_HEADS_SQL,
    Ranked,
    drivers_of,
    forecast_summary,
    gaps_frame,
    ranked_from,
)
from .official import official_at, with_official
from .responsibility import (
    VIOLATION_COLS,
    level_counts_sql,
    responsibility_table,
    rule_labels,
    rule_sentence,
    rule_words,
    violations_sql,
)
from .rollups import ROLLUP_INPUT, rollup_sql
from .settings import (
    Settings,
    city_targets,
    default_as_of,
    group_cols,
    group_targets,
    month_index,
    settings_at,
)
from .status import (
    CHAIN_NAME,
    PERFORMANCE_COLS,
    UNIT_NAME,
    lagging_frame,
    lagging_of,
    names_of,
    project_frame,
    project_rows,
)
from .tiers import tiers_sql


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


#: The per-project columns every section of the check reads: one temporary table per payload,
#: the only pass over the projects' rows; names and texts are read for the rows shown only.
CHECK_INPUT = [
    "project_id", "unit_id", "chain_id", "tier", "leader", "leader_level", "is_major",
    "is_tech_upgrade", "total_investment_wan", "annual_plan_wan", "completed_wan", "expected_wan", "forecast_wan",
    "forecast_rest_wan", "forecast_rest_var", "flag", "stalled", "is_lagging", "behind_wan", "forecast_gap_wan",
    "remaining_plan_wan", "pace", "has_open_problem",
]
#: Last year's library, summed by the keys the checks group by (their 同比 sums it again).
_PREV_SQL = """
select unit_id, unit_name, chain_id, chain_name, is_tech_upgrade, sum(completed_wan)::decimal(38,2) as completed_wan
from library_prev_at(?) group by all
"""
_INPUTS = "_projects as (select * from _check_pp), _prev as (select * from _check_prev)"
#: The checks' inputs where only the partial sums are at hand (registered frames of the same names).
_SMALL_INPUTS = "_prev as (select * from _check_prev)"
#: The partial sums per unit, chain, 技改, tier, 包保 level and the three flags counted, named as
#: the projects are: what the city, unit and chain checks, the tier and 包保 tables and the counts
#: add up (some thousands of rows at a million projects, instead of every project six times).
_PRE_SQL = f"""
select p.unit_id, {UNIT_NAME} as unit_name, p.chain_id, {CHAIN_NAME} as chain_name, p.* exclude (unit_id, chain_id)
from ({partial_sums_sql(["unit_id", "chain_id", "tier", "leader_level", "stalled", "has_open_problem", "is_lagging"],
                        "_check_pp")}) p
left join units u on u.unit_id = p.unit_id
left join chains c on c.chain_id = p.chain_id
"""
_COUNTS_SQL = """
select coalesce(sum(n), 0)::bigint as projects,
       coalesce(sum(n) filter (where tier is null), 0)::bigint as below_tier_count,
       coalesce(sum(n) filter (where stalled), 0)::bigint as stalled_count,
       coalesce(sum(n) filter (where has_open_problem), 0)::bigint as open_problem_count,
       coalesce(sum(n) filter (where is_lagging), 0)::bigint as lagging_count
from _check_pre
"""
#: Lagging projects, furthest behind first (:func:`status.lagging_of`'s order).
_LAGGING_IDS_SQL = """
select project_id from _check_pp where is_lagging order by behind_wan desc, project_id limit ?
"""


#: Every section is a long query of few rows.
_fetch = store.fetch_few


@dataclass(frozen=True)
class CheckPayload:
    """The check report and the frames behind it (for the report and the pages).

    ``checks`` and ``ranked`` are computed with the report; ``projects`` (every project's row of
    ``project_status_at``), ``lagging`` (every lagging project, furthest behind first) and
    ``violations`` (every responsibility violation) are read when first asked for, on a
    connection from ``source``, and kept."""

    report: dict[str, Any]
    settings: Settings
    as_of: date
    checks: pl.DataFrame
    ranked: Ranked  # the first ``rank_top`` of each list
    rank_top: int
    rollups: dict[str, pl.DataFrame]  # the roll-ups asked for (``targets.rollup_of`` of every project)
    violations_found: pl.DataFrame  # every violation, without the project's name
    source: Callable[[], AbstractContextManager[duckdb.DuckDBPyConnection]] = field(repr=False, compare=False)

    @cached_property
    def projects(self) -> pl.DataFrame:
        with self.source() as con:
            return project_frame(con, as_of=self.as_of, cfg=self.settings)

    @cached_property
    def lagging(self) -> pl.DataFrame:
        if "projects" in self.__dict__:
            return lagging_of(self.projects)
        with self.source() as con:  # only the lagging projects' rows
            return lagging_frame(con, as_of=self.as_of)

    @cached_property
    def violations(self) -> pl.DataFrame:
        found = self.violations_found
        with self.source() as con:
            names = names_of(con, year=self.settings.year, ids=found["project_id"].unique().to_list())
        return found.join(names, on="project_id", how="left", maintain_order="left").select(VIOLATION_COLS)

    def ranked_top(self, top: int) -> Ranked | None:
        """The ranking's first ``top`` of each list, when the payload ranked that many (else None)."""
        if top > self.rank_top:
            return None
        return {m: (short.head(top), fast.head(top), potential, n)
                for m, (short, fast, potential, n) in self.ranked.items()}


def check_payload(con: duckdb.DuckDBPyConnection, *, as_of: date | None = None, limit: int = 50,
                  violations_limit: int | None = None, year: int | None = None,
                  source: Callable[[], AbstractContextManager[duckdb.DuckDBPyConnection]] | None = None,
                  rank_top: int = 10, rollups: tuple[str, ...] = ()) -> CheckPayload:
    """Build the check report once: one pass over the projects, every section derived from it.

    ``year`` is the plan year (default: the current one; else the year of ``as_of``). The
    report lists the first ``limit`` lagging projects and ``violations_limit`` (default
    ``limit``) violations; the payload's frames hold all of them. Each metric carries the
    statistics bureau's figure at the month (:mod:`.official`). The per-project rows of
    ``project_status_at`` are computed once, into a temporary table of the columns the sections
    read (:data:`CHECK_INPUT`); every section is SQL over it in the database (the same SQL the
    library runs over frames); the full rows are read for the projects listed only. ``source``
    gives a connection (a context manager) for what the payload reads later (default: ``con``,
    which must then stay open while the payload is used). ``rank_top`` is how many of each
    ranking it keeps (the report's drivers: 10); ``rollups`` are ``by`` values of
    :func:`targets.rollup_of` computed with it."""
    cfg = settings_at(con, year=year, as_of=as_of)
    as_of = as_of or default_as_of(con, cfg.year)
    month = month_index(as_of, cfg.year)
    targets = city_targets(con, cfg.year)
    goals = group_targets(con, cfg.year)
    shown_violations = limit if violations_limit is None else violations_limit
    cur = con.cursor()
    try:
        # every section orders what it lists: the one pass need not keep the projects' order (on
        # this cursor only: a plain SET would change it for every connection of the process)
        cur.execute("set session preserve_insertion_order = false")
        wanted = [*CHECK_INPUT, *(k for by in rollups for k in group_cols(by)), *(ROLLUP_INPUT if rollups else [])]
        columns = ", ".join(dict.fromkeys(wanted))
        cur.execute(f"create temp table _check_pp as select {columns} from project_status_at(?)", [as_of])
        # last year's library holds no project when the database has no plan for that year
        # (and it is not the current year, whose projects need no plans row): skip its scan
        has_prev = con.execute(
            "select exists (select 1 from plans where year = ?) or current_plan_year() = ?",
            [as_of.year - 1, as_of.year - 1]).fetchall()[0][0]
        cur.execute(f"create temp table _check_prev as {_PREV_SQL}{'' if has_prev else ' limit 0'}", [as_of])
        inputs = {
            "_targets": targets.select("metric", "label", "target_wan", "growth_pct"),
            "_group_targets": goals.select("metric", "scope_id", "target_wan"),
            "_ctx": rules.context_frame(cfg, month=month),
            "_tiers": cfg.tiers.select("tier", "tier_en", "min_wan", "plan_count", "plan_cumulative_count"),
        }
        for name, frame in inputs.items():
            cur.register(name, frame)
        # first who is listed (the lagging, the violations, the ranking's heads), so that the listed
        # projects' full rows, a pass over their progress and plans rows on a cursor of its own, run
        # beside everything else; the ranking does not wait for the checks (only whether the listed
        # close the gap does)
        violations = _fetch(cur, violations_sql(cfg, source="_check_pp"))
        lagging_ids = _fetch(cur, _LAGGING_IDS_SQL, [limit])["project_id"].to_list()
        top = max(int(rank_top), 10)
        params: dict[str, Any] = {"cap": float(cfg.forecast["ratio_cap"]), "top": top}
        heads = _fetch(cur, f"with {_INPUTS} select * from ({RANKED_HEADS_SQL})", params)
        shown_ids = [*lagging_ids, *violations["project_id"].head(shown_violations).to_list(),
                     *heads["project_id"].to_list()]
        # the checks read only the partial sums and last year's (some thousands of rows at a million
        # projects): they run on cursors of their own, beside the sections over the projects here
        # (their planning, not their rows, is what they cost: two at a time on the machine's cores).
        # The pool is left first: a failure here waits for the other queries before their cursors close.
        with con.cursor() as side, con.cursor() as side2, con.cursor() as side3, con.cursor() as side4, \
                ThreadPoolExecutor(max_workers=4) as pool:
            listed = pool.submit(project_rows, side3, as_of=as_of, ids=shown_ids)
            cur.execute(f"create temp table _check_pre as {_PRE_SQL}")
            sums = {"_check_pre": _fetch(cur, "select * from _check_pre"),
                    "_check_prev": _fetch(cur, "select * from _check_prev")}
            for name, frame in {**inputs, **sums}.items():
                side.register(name, frame)
                side2.register(name, frame)
                side4.register(name, frame)

            def checks_by(c: duckdb.DuckDBPyConnection, keys: list[str]) -> pl.DataFrame:
                return _fetch(c, checks_sql(keys, inputs=_SMALL_INPUTS, parts="_check_pre"))

            # the city, unit and chain checks each on a cursor of its own (planning them is their cost)
            city = pool.submit(lambda: with_official(checks_by(side, []), official_at(side, as_of)))
            by_unit_f = pool.submit(checks_by, side2, group_cols("unit"))
            by_chain_f = pool.submit(checks_by, side4, group_cols("chain"))
            checks = city.result()
            cur.register("_gaps", gaps_frame(checks))
            cur.register("_heads", heads)
            heads = _fetch(cur, CLOSES_SQL)
            potential = _fetch(cur, f"with {_INPUTS} select * from ({POTENTIAL_SQL})", {"cap": params["cap"]})
            tiers = _fetch(cur, tiers_sql([], inputs=_INPUTS, parts="_check_pre"))
            counts = _fetch(cur, _COUNTS_SQL).row(0, named=True)
            levels = _fetch(cur, level_counts_sql("_check_pre"))
            rolled = {by: _fetch(cur, rollup_sql(group_cols(by), inputs=_INPUTS)) for by in rollups}
            by_unit, by_chain = by_unit_f.result(), by_chain_f.result()
            rows = listed.result()
    finally:
        cur.close()
    ranked = ranked_from(heads, potential, rows, cfg=cfg)
    drivers = {m: (short.head(10), fast.head(10), pot, n) for m, (short, fast, pot, n) in ranked.items()}
    extra = forecast_summary(checks, ranked=ranked).select(
        "metric", "acceleration_potential_wan", "projects_to_close_gap")
    names = rows.select("project_id", "name", "unit_id", "unit_name")
    shown_v = (violations.head(shown_violations).drop("unit_id", strict=False)
               .join(names, on="project_id", how="left", maintain_order="left").select(VIOLATION_COLS))
    lag_rows = rows.filter(pl.col("project_id").is_in(lagging_ids[:limit])).select(PERFORMANCE_COLS)
    lag_order = pl.DataFrame({"project_id": lagging_ids[:limit]}, schema={"project_id": pl.String})
    report = {
        "year": cfg.year,
        "as_of": as_of.strftime("%Y-%m"),
        "is_sample": store.is_sample(con),
        "projects": counts["projects"],
        "metrics": records(checks.join(extra, on="metric", how="left")),
        "without_plan_count": int(con.execute(
            "select count(*) from plans where year = ? and annual_plan_wan is null", [cfg.year]).fetchall()[0][0]),
        "forecast_basis": "library",  # status and forecast_wan: the library's figures; see forecast_official_wan
        "tiers": records(tiers),
        "below_tier_count": counts["below_tier_count"],
        "lagging_count": counts["lagging_count"],
        "lagging_projects": records(lag_order.join(lag_rows, on="project_id", how="left", maintain_order="left")),
        "stalled_count": counts["stalled_count"],
        "open_problem_count": counts["open_problem_count"],
        "responsibility": records(responsibility_table(levels, cfg=cfg)),
        "violation_counts": {r: int(n) for r, n in violations.group_by("rule", maintain_order=True).len().iter_rows()},
        "violation_labels": rule_labels(cfg),
        "rule_words": rule_words(cfg),
        "violations": records(shown_v),
        "by_unit": records(by_unit),
        "by_chain": records(by_chain),
        "drivers": records(drivers_of(drivers)),
        "rules": rule_texts(cfg),
    }
    return CheckPayload(report=report, settings=cfg, as_of=as_of, checks=checks, ranked=ranked,
                        rank_top=top, rollups=rolled,
                        violations_found=violations, source=source or (lambda: nullcontext(con)))


def check_report(con: duckdb.DuckDBPyConnection, *, as_of: date | None = None, limit: int = 50,
                 year: int | None = None) -> dict[str, Any]:
    """Everything `portfolio check` shows, as the JSON shape of the CONTRACT (plus extras)."""
    return check_payload(con, as_of=as_of, limit=limit, year=year).report
