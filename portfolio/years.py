"""Plan years: which years the database holds, the current one, and the January rollover.

A project spans years; each plan year has its own row in ``plans`` (``project_id``, ``year``,
``annual_plan_wan``) and the year's targets in ``targets``. ``plan_years`` lists the years that
were opened; the newest is the **current plan year** (meta ``plan_year``), whose plan is also
``projects.annual_plan_wan`` so saved SQL goes on working. Opening the next year
(:func:`open_year`, ``portfolio year open``) **closes** the current one: its ``plans`` rows keep
the projects as they stood (status, unit, leader, total investment …), so every figure of a
closed year stays what it was, whatever is edited later; a closed year is read-only.

Years before the first opened one may hold history (a past year's progress and plans, the
statistics bureau's figures): readable, not a plan year with targets of its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

import duckdb
import polars as pl

from . import config, store
from .store.schema import ACTUAL_METRICS, FROZEN_COLUMNS

#: The metrics a new year needs targets for (the investment checks).
REQUIRED_METRICS = ("industrial_investment", "tech_upgrade_investment")


class YearError(ValueError):
    """A year that cannot be used or opened; the message is one sentence for the user."""


def current_year(con: duckdb.DuckDBPyConnection) -> int:
    """The current plan year: meta ``plan_year``, else the newest opened year, else targets.toml."""
    value = store.get_meta(con, "plan_year")
    if value:
        return int(value)
    rows = con.execute("select max(year) from plan_years").fetchall()
    if rows and rows[0][0] is not None:
        return int(rows[0][0])
    return int(config.targets_config().get("plan_year", 2016))


def plan_years(con: duckdb.DuckDBPyConnection) -> list[int]:
    """The plan years the database holds, oldest first (at least the current one)."""
    found = [int(r[0]) for r in con.execute("select year from plan_years order by year").fetchall()]
    current = current_year(con)
    return found if current in found else sorted({*found, current})


def year_table(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """Per plan year: opened, closed, projects, Σ plan, projects still without a plan, targets."""
    return store.fetch(con, """
        select y.year, y.opened_at, y.opened_by, y.closed_at, y.closed_by,
               y.year = (select max(year) from plan_years) as is_current,
               coalesce(p.projects, 0)::bigint as projects,
               coalesce(p.plan_wan, 0)::decimal(38,2) as plan_wan,
               coalesce(p.without_plan, 0)::bigint as without_plan,
               t.industrial_investment as industrial_investment_target_wan,
               t.tech_upgrade_investment as tech_upgrade_investment_target_wan
        from plan_years y
        left join (select year, count(*) as projects, sum(annual_plan_wan) as plan_wan,
                          count(*) filter (where annual_plan_wan is null) as without_plan
                   from plans group by year) p using (year)
        left join (select year,
                          max(value_wan) filter (where metric = 'industrial_investment') as industrial_investment,
                          max(value_wan) filter (where metric = 'tech_upgrade_investment') as tech_upgrade_investment
                   from targets where scope = 'city' group by year) t using (year)
        order by y.year""")


def is_closed(con: duckdb.DuckDBPyConnection, year: int) -> bool:
    """True when the year was closed by opening the next one."""
    rows = con.execute("select closed_at is not null from plan_years where year = ?", [year]).fetchall()
    return bool(rows and rows[0][0])


def resolve_year(con: duckdb.DuckDBPyConnection, year: int | None) -> int:
    """``year`` when the database holds it as a plan year, the current year for None; else YearError."""
    if year is None:
        return current_year(con)
    years = plan_years(con)
    if year not in years:
        have = "、".join(str(y) for y in years)
        raise YearError(f"数据库中没有 {year} 计划年度（已有：{have}）（no plan year {year}; have {have}）。")
    return year


def writable_year(con: duckdb.DuckDBPyConnection, year: int | None) -> int:
    """The year an import or edit may write plans of: the current year, or history before the first.

    A closed year is read-only; a year after the current one is opened with ``year open`` first."""
    current = current_year(con)
    if year is None or year == current:
        return current
    before = closed_before(con)
    if is_closed(con, year) or (before is not None and year < before.year):
        raise YearError(f"{year} 年度已结转，数据不再修改（year {year} is closed and read-only）。")
    if year > current:
        raise YearError(f"{year} 年度尚未开启，请先运行 portfolio year open {year}"
                        f"（year {year} is not open yet）。")
    first = min(plan_years(con))
    if year > first:  # an opened year that is not closed and not current cannot exist; say so plainly
        raise YearError(f"{year} 年度不能写入（year {year} cannot be written）。")
    return year


def closed_before(con: duckdb.DuckDBPyConnection) -> date | None:
    """The first day after the newest closed year (months before it are read-only), or None."""
    rows = con.execute("select max(year) from plan_years where closed_at is not null").fetchall()
    found = rows[0][0] if rows else None
    return date(int(found) + 1, 1, 1) if found is not None else None


# --------------------------------------------------------------------------------------------
# the January rollover


@dataclass(frozen=True)
class YearOpened:
    """What ``year open`` did."""

    year: int
    closed_year: int
    carried: int  # projects carried into the new year (their plan empty until imported)
    finished: int  # projects that stay in the closed year's history
    targets: list[dict[str, Any]]
    warnings: list[str] = field(default_factory=list)
    backup: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"year": self.year, "closed_year": self.closed_year, "carried": self.carried,
                "finished": self.finished, "targets": self.targets, "warnings": self.warnings,
                "backup": self.backup}


def parse_targets(pairs: list[str]) -> dict[str, Decimal]:
    """``METRIC=AMOUNT`` pairs → {metric: 万元}; amounts as the importer reads them (2600亿, 3,000)."""
    from .ingest.parsing import parse_amount  # the importer's reading of amounts, one rule

    known = set(ACTUAL_METRICS)
    out: dict[str, Decimal] = {}
    for pair in pairs:
        metric, sep, amount = pair.partition("=")
        metric = metric.strip()
        if not sep or not metric or not amount.strip():
            raise YearError(f"目标应写成 指标=金额，如 industrial_investment=2600亿（got {pair!r}）。")
        if metric not in known:
            raise YearError(f"不认识的指标 {metric!r}，可用：{'、'.join(sorted(known))}（unknown metric）。")
        value = pl.select(parse_amount(pl.lit(amount.strip()))).item()
        if value is None or value < 0:
            raise YearError(f"目标金额 {amount.strip()!r} 无法识别，应如 2600亿 或 26000000（unreadable amount）。")
        out[metric] = Decimal(value)
    return out


def _config_targets(year: int) -> pl.DataFrame:
    ref = config.load_reference()
    return ref.targets.filter(pl.col("year") == year)


def check_openable(con: duckdb.DuckDBPyConnection, year: int, *, targets: dict[str, Decimal] | None = None,
                   ) -> tuple[dict[str, dict[str, Any]], pl.DataFrame]:
    """The new year's city targets (per metric) and the file's rows for it; YearError when it cannot open."""
    targets = dict(targets or {})
    current = current_year(con)
    if year == current or year in plan_years(con):
        raise YearError(f"{year} 年度已经开启（year {year} is already open）。")
    if year != current + 1:
        raise YearError(f"只能开启下一个年度 {current + 1}，不能开启 {year}"
                        f"（only the next year, {current + 1}, can be opened）。")
    from_file = _config_targets(year)
    rows: dict[str, dict[str, Any]] = {}
    for r in from_file.iter_rows(named=True):
        if r["scope"] == "city" and r["metric"] not in targets:
            rows[r["metric"]] = {"metric": r["metric"], "value_wan": Decimal(str(r["value_wan"])),
                                 "source": "targets.toml", "label": r.get("label")}
    for metric, value in targets.items():
        rows[metric] = {"metric": metric, "value_wan": value, "source": "--target", "label": None}
    missing = [m for m in REQUIRED_METRICS if m not in rows]
    if missing:
        raise YearError(
            f"{year} 年度缺少目标：{'、'.join(missing)}；请用 --target 指标=金额 给出，或写入 targets.toml"
            f"（targets missing for {year}）。")
    return rows, from_file


def open_year(con: duckdb.DuckDBPyConnection, year: int, *, targets: dict[str, Decimal] | None = None,
              actor: str = "system") -> YearOpened:
    """Open ``year`` (the next one): close the current year, carry unfinished projects, set targets.

    Runs in one transaction: nothing is written when it is refused (YearError). Finished
    projects (竣工 / 达产达效) stay in the closed year's history; the others get a row in the new
    year with an empty plan (filled by the new year's plan ledger). Targets come from
    ``targets`` (``--target``), else from targets.toml's rows for the year; both investment
    targets must be known. Growth is stated against the closed year's official December figure
    (``actuals``) when it exists, else against the closed year's target."""
    with store.transaction(con):
        current = current_year(con)
        rows, from_file = check_openable(con, year, targets=targets)
        base = _bases(con, current)
        labels = dict(con.execute("select metric, label from targets where year = ? and scope = 'city'",
                                  [current]).fetchall())
        out_targets = []
        for metric, r in rows.items():
            prev = base.get(metric)
            growth = (round((r["value_wan"] / prev[0] - 1) * 100, 2) if prev and prev[0] else None)
            label = r["label"] or labels.get(metric)
            is_optional = metric not in REQUIRED_METRICS
            con.execute(
                "insert into targets (year, metric, scope, value_wan, growth_pct, label, is_optional)"
                " values (?, ?, 'city', ?, ?, ?, ?)",
                [year, metric, r["value_wan"], growth, label, is_optional])
            out_targets.append({"metric": metric, "value_wan": float(r["value_wan"]), "growth_pct":
                                None if growth is None else float(growth), "base": None if not prev else prev[1],
                                "source": r["source"]})
        # group targets (unit:/chain:/group:) of the file for the year come along too
        for r in from_file.filter(pl.col("scope") != "city").iter_rows(named=True):
            con.execute(
                "insert into targets (year, metric, scope, value_wan, growth_pct, label, is_optional)"
                " values (?, ?, ?, ?, ?, ?, ?) on conflict do nothing",
                [year, r["metric"], r["scope"], r["value_wan"], r.get("growth_pct"), r.get("label"),
                 bool(r.get("is_optional", False))])
        warnings = _closing_warnings(con, current)
        frozen = ", ".join(f"{c} = p.{c}" for c in FROZEN_COLUMNS)
        # the closing year and any history year before it keep their projects as they are now
        con.execute(f"update plans set closed = true, annual_plan_wan = p.annual_plan_wan, {frozen} from projects p"
                    f" where plans.project_id = p.project_id and plans.year = ?", [current])
        con.execute(f"update plans set closed = true, {frozen} from projects p"
                    f" where plans.project_id = p.project_id and plans.year < ? and not plans.closed", [current])
        con.execute("update plan_years set closed_at = current_timestamp, closed_by = ? where year = ?",
                    [actor, current])
        con.execute("insert into plan_years (year, opened_by) values (?, ?)", [year, actor])
        finished = "', '".join(config.FINISHED_STATUSES)
        carried = con.execute(
            f"insert into plans (project_id, year, annual_plan_wan)"
            f" select pl.project_id, ?, null from plans pl join projects p using (project_id)"
            f" where pl.year = ? and p.status not in ('{finished}')", [year, current]).fetchall()[0][0]
        total = con.execute("select count(*) from plans where year = ?", [current]).fetchall()[0][0]
        con.execute("update projects set annual_plan_wan = 0, version = version + 1,"
                    " updated_at = current_timestamp, updated_by = ? where annual_plan_wan <> 0", [actor])
        store.set_meta(con, "plan_year", str(year))
        batch = store.new_batch(con)
        store.audit(con, actor=actor, action="year_open", table="plan_years", record_id=str(year),
                    old={"plan_year": current},
                    new={"plan_year": year, "carried": int(carried), "finished": int(total - carried),
                         "targets": {t["metric"]: t["value_wan"] for t in out_targets}},
                    source=f"year open {year}", batch_id=batch)
        store.record_batch(con, batch, actor=actor, kind="init", source=f"year open {year}", table="plan_years",
                           counts={"inserted": int(carried)})
        store.bump_revision(con)
    return YearOpened(year=year, closed_year=current, carried=int(carried), finished=int(total - carried),
                      targets=out_targets, warnings=warnings)


def _bases(con: duckdb.DuckDBPyConnection, year: int) -> dict[str, tuple[Decimal, str]]:
    """Per metric the closed year's figure new targets grow on: official December, else the target."""
    out: dict[str, tuple[Decimal, str]] = {}
    for metric, value in con.execute("select metric, value_wan from targets where year = ? and scope = 'city'",
                                     [year]).fetchall():
        out[metric] = (Decimal(value), f"{year}年目标")
    for metric, value in con.execute("select metric, cumulative_wan from actuals where month = ?",
                                     [date(year, 12, 1)]).fetchall():
        out[metric] = (Decimal(value), f"{year}年统计局全年数")
    return out


def _closing_warnings(con: duckdb.DuckDBPyConnection, year: int) -> list[str]:
    """What is missing from the year being closed (it becomes read-only)."""
    out = []
    dec = date(year, 12, 1)
    reported = con.execute("select count(distinct project_id) from progress where month = ?", [dec]).fetchall()[0][0]
    if not reported:
        out.append(f"{year} 年12月尚无月度进度；结转后该年度只读，不能再补录（no December progress）。")
    official = con.execute("select count(*) from actuals where month = ?", [dec]).fetchall()[0][0]
    if not official:
        out.append(f"{year} 年12月尚无统计局数据；新年度的同比将缺少上年全年基数（no December statistics）。")
    return out
