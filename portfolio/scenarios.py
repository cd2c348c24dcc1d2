"""What if: a scenario is a list of changes on top of the current data; the data never changes.

A change is one of

- ``slip`` N months: the project's remaining seasonal schedule moves N months later; what
  then falls after December leaves the year (its plan stays, its forecast falls);
- ``stop``: no further investment this year (completion to date stays, the rest is 0);
- ``cancel``: as ``stop``, and the project leaves the pipeline: its plan shrinks to what it
  has completed, and the after-the-pipeline view no longer counts it;
- ``scale`` F: its remaining plan times F (0.5 halves what is left, 1.5 adds half);
- ``add``: a new project (a row of the projects ledger, or typed into the page's form), with
  no progress yet, its plan spread over its months from its start, at the prior pace.

:func:`apply` takes the check's own per-project frame (``project_status_at``: the same rules
as every screen), changes the rows the scenario touches, and computes the target checks with
the same SQL and the same Monte Carlo seed (:func:`portfolio.targets.checks_of`), city-wide,
per unit and per chain, and the chain classes after the pipeline. An empty scenario gives
the baseline exactly. :func:`accelerators` answers the inverse question: which projects could
close a shortfall, the smallest set that closes it in expectation, and the segments they are on.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import duckdb
import polars as pl

from . import config, store, targets, textsafe
from .targets import CheckPayload
from .targets.checks import checks_of
from .targets.official import official_at, with_official
from .targets.status import TIER_BANDS, TIER_OF, prev_frame

KINDS = ("slip", "stop", "cancel", "scale", "add")
KIND_ZH = {"slip": "推迟", "stop": "停工", "cancel": "取消", "scale": "调整剩余计划", "add": "新增"}
#: Months a project may slip (a longer slip is a stop).
MAX_SLIP = 12
#: Most a remaining plan may be multiplied by.
MAX_SCALE = 10.0
#: Fields a new project needs, and those it may give.
ADD_REQUIRED = ("project_id", "name", "unit_id", "annual_plan_wan")
ADD_FIELDS = (*ADD_REQUIRED, "enterprise", "chain_id", "node_id", "nature", "status", "total_investment_wan",
              "start_date", "end_date", "leader", "leader_level", "is_major")
_NAME = re.compile(r"^[\w\u4e00-\u9fff][\w\u4e00-\u9fff .·()（）\-]{0,59}$")


class ScenarioError(ValueError):
    """A scenario that cannot be applied: one sentence, Chinese first."""


@dataclass(frozen=True)
class Change:
    """One change of a scenario (see the module's docstring)."""

    kind: str
    project_id: str
    months: int | None = None
    factor: float | None = None
    row: Mapping[str, Any] | None = None  # add: the new project's fields

    def describe(self, lang: str = "zh") -> str:
        pid = textsafe.visible(self.project_id)
        en = lang == "en"
        if self.kind == "slip":
            return f"{pid} slips {self.months} month(s)" if en else f"{pid} 推迟 {self.months} 个月"
        if self.kind == "stop":
            return f"{pid} stops" if en else f"{pid} 停工（本年不再投资）"
        if self.kind == "cancel":
            return f"{pid} is cancelled" if en else f"{pid} 取消（退出储备和在建项目）"
        if self.kind == "scale":
            factor = "?" if self.factor is None else f"{self.factor:g}"
            return f"{pid}: remaining plan × {factor}" if en else f"{pid} 剩余计划 × {factor}"
        return f"new project {pid}" if en else f"新增项目 {pid}"

    def record(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "project_id": self.project_id}
        if self.months is not None:
            out["months"] = self.months
        if self.factor is not None:
            out["factor"] = self.factor
        if self.row is not None:
            out["row"] = {k: _json_value(v) for k, v in self.row.items()}
        return out


@dataclass(frozen=True)
class Scenario:
    """A named list of changes (the name is only needed to save it)."""

    changes: tuple[Change, ...] = ()
    name: str | None = None
    note: str = ""

    def record(self) -> dict[str, Any]:
        return {"name": self.name, "note": self.note, "changes": [c.record() for c in self.changes]}

    @staticmethod
    def from_record(data: Mapping[str, Any]) -> Scenario:
        changes = []
        for c in data.get("changes") or []:
            changes.append(Change(kind=str(c["kind"]), project_id=str(c["project_id"]), months=c.get("months"),
                                  factor=c.get("factor"), row=c.get("row")))
        return Scenario(changes=tuple(changes), name=data.get("name"), note=str(data.get("note") or ""))


def _json_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, date | datetime):
        return value.isoformat()[:10]
    return value


# ---------------------------------------------------------------- reading changes (CLI, page)
def parse_pair(text: str, what: str) -> tuple[str, str]:
    """``ID=VALUE`` → (ID, VALUE), or a ScenarioError naming the option."""
    pid, sep, value = text.partition("=")
    if not sep or not pid.strip() or not value.strip():
        raise ScenarioError(f"{what} 应写成 项目编号=数值，例如 CC2016-0001=3（expected ID=VALUE）：{textsafe.visible(text)}")
    return pid.strip(), value.strip()


def changes_from_options(*, slip: Sequence[str] = (), stop: Sequence[str] = (), cancel: Sequence[str] = (),
                         scale: Sequence[str] = (), add: Sequence[Mapping[str, Any]] = ()) -> tuple[Change, ...]:
    """The changes given on the command line (``--slip ID=N`` …), checked for their form."""
    out: list[Change] = []
    for text in slip:
        pid, value = parse_pair(text, "--slip")
        try:
            months = int(value)
        except ValueError:
            raise ScenarioError(f"--slip 的月数应为 1–{MAX_SLIP} 的整数（months must be a whole number）："
                                f"{textsafe.visible(text)}") from None
        out.append(Change("slip", pid, months=months))
    out += [Change("stop", pid.strip()) for pid in stop]
    out += [Change("cancel", pid.strip()) for pid in cancel]
    for text in scale:
        pid, value = parse_pair(text, "--scale")
        try:
            factor = float(value)
        except ValueError:
            raise ScenarioError(f"--scale 的倍数应为数字，例如 0.5（factor must be a number）：{textsafe.visible(text)}") from None
        out.append(Change("scale", pid, factor=factor))
    out += [Change("add", str(row.get("project_id") or "").strip(), row=dict(row)) for row in add]
    return tuple(out)


def read_added(con: duckdb.DuckDBPyConnection, path: str) -> list[dict[str, Any]]:
    """New projects from a projects ledger (xlsx / csv with the ledger's headers), checked by the
    import's own rules; nothing is written. A row the import would refuse refuses the scenario."""
    from .ingest import errors as ingest_errors
    from .ingest.reading import read_ledger
    from .ingest.validation import validate as validate_ledger

    try:
        ledger = read_ledger(path, kind="projects")
        valid, errors = validate_ledger(con, ledger)
    except (OSError, ingest_errors.FileProblem) as exc:
        raise ScenarioError(f"无法读取新增项目文件：{textsafe.visible(str(exc))}") from None
    if errors.height:
        first = "；".join(f"第{r['row']}行 {textsafe.visible(str(r['column']))}：{textsafe.visible(str(r['reason']))}"
                         for r in errors.head(5).iter_rows(named=True))
        raise ScenarioError(f"新增项目文件有 {errors['row'].n_unique()} 行不能用：{first}（rows refused）。")
    return valid.select([c for c in valid.columns if c in ADD_FIELDS]).to_dicts()


# ---------------------------------------------------------------- checking a scenario
def validate(scenario: Scenario, projects: pl.DataFrame) -> None:
    """Every change names a project of the year (or a new id for ``add``), once, with a sensible value."""
    known = set(projects["project_id"].to_list()) if projects.height < 5_000_000 else None
    seen: dict[str, str] = {}
    problems: list[str] = []
    for c in scenario.changes:
        pid = c.project_id
        shown = textsafe.visible(pid) or "（空）"
        if c.kind not in KINDS:
            problems.append(f"未知的变化“{textsafe.visible(c.kind)}”（unknown change）")
            continue
        if not pid:
            problems.append(f"{KIND_ZH[c.kind]}缺少项目编号（a project id is missing）")
            continue
        if pid in seen:
            problems.append(f"项目 {shown} 出现了两次（{KIND_ZH[seen[pid]]}、{KIND_ZH[c.kind]}），每个项目只能有一项变化"
                            "（one change a project）")
        seen[pid] = c.kind
        exists = pid in known if known is not None else bool(projects.filter(pl.col("project_id") == pid).height)
        if c.kind == "add":
            if exists:
                problems.append(f"新增项目的编号 {shown} 已在项目库中（the id exists）")
            problems += _row_problems(c.row or {}, shown)
            continue
        if not exists:
            problems.append(f"本年度项目库中没有项目 {shown}（no such project this year）")
        if c.kind == "slip" and not (c.months is not None and 1 <= c.months <= MAX_SLIP):
            problems.append(f"项目 {shown} 的推迟月数应为 1–{MAX_SLIP}（months 1–{MAX_SLIP}）")
        if c.kind == "scale" and not (c.factor is not None and math.isfinite(c.factor) and 0 <= c.factor <= MAX_SCALE):
            problems.append(f"项目 {shown} 的剩余计划倍数应在 0–{MAX_SCALE:g} 之间（factor 0–{MAX_SCALE:g}）")
    if problems:
        raise ScenarioError("情景无法推演：" + "；".join(problems) + "。")


_DATE_FIELDS = ("start_date", "end_date")


def _as_date(value: Any) -> Any:
    """A date given as text (a saved scenario's JSON holds its new projects' dates as ``YYYY-MM-DD``)."""
    if isinstance(value, str) and value.strip():
        return date.fromisoformat(value.strip()[:10])
    return value


def _row_problems(row: Mapping[str, Any], shown: str) -> list[str]:
    out = [f"新增项目 {shown} 缺少“{name}”（missing {name}）" for name in ADD_REQUIRED
           if row.get(name) in (None, "")]
    for name in _DATE_FIELDS:
        try:
            _as_date(row.get(name))
        except ValueError:
            out.append(f"新增项目 {shown} 的“{name}”应为日期，例如 2016-10-01（not a date）")
    for name in ("annual_plan_wan", "total_investment_wan"):
        value = row.get(name)
        if value in (None, ""):
            continue
        try:
            amount = Decimal(str(value))
        except InvalidOperation:
            out.append(f"新增项目 {shown} 的“{name}”不是数字（not a number）")
            continue
        if not amount.is_finite() or amount < 0 or amount > Decimal("1e12"):
            out.append(f"新增项目 {shown} 的“{name}”应为 0 到 1 万亿万元之间的数（out of range）")
    return out


# ---------------------------------------------------------------- applying it
_ADJUST_SQL = """
select p.*, c.kind as change_kind, c.months as change_months, c.factor as change_factor,
       case when c.kind = 'slip'
            then greatest(seasonal_share(p.active_from, p.active_to, 12 - c.months, r.seasonal_cumulative),
                          p.expected_share) end as slip_share
from _sc_projects p
left join _sc_changes c using (project_id)
cross join v_rules r
"""

_NEW_SQL = f"""
with a as (select ?::date as as_of), n as (
    select x.*, year(a.as_of) as y, month(a.as_of)::bigint as m,
           case when x.start_date is null or year(x.start_date) < year(a.as_of) then 1
                when year(x.start_date) > year(a.as_of) then 13 else month(x.start_date) end::bigint as active_from,
           case when x.end_date is null or year(x.end_date) > year(a.as_of) then 12
                when year(x.end_date) < year(a.as_of) then 0 else month(x.end_date) end::bigint as active_to
    from _sc_new x cross join a
)
select p.*, {TIER_OF} as tier, seasonal_share(p.active_from, p.active_to, p.m, r.seasonal_cumulative) as expected_share,
       list_contains(r.tech_upgrade_natures, p.nature) as is_tech_upgrade,
       r.prior_ratio, r.ratio_floor, r.ratio_cap, r.prior_sd, r.execution_sd
from n p
cross join {TIER_BANDS}
cross join v_rules r
"""


@dataclass(frozen=True)
class Outcome:
    """A scenario applied: the baseline and the scenario side by side."""

    scenario: Scenario
    as_of: date
    year: int
    settings: targets.Settings
    before: pl.DataFrame  # the city checks (one row a metric) of the baseline
    after: pl.DataFrame  # … of the scenario
    units: pl.DataFrame  # per unit and metric: forecast before / after / change
    chains: pl.DataFrame  # per chain and metric
    projects: pl.DataFrame  # the projects the scenario touches: forecast before / after
    gaps: pl.DataFrame  # segments whose class after the pipeline differs (node_id, kind_before, kind_after)
    frame: pl.DataFrame = field(repr=False)  # the scenario's per-project frame

    def metrics(self) -> pl.DataFrame:
        """Per metric: forecast, range, probability and status before and after."""
        keep = ["metric", "label", "target_wan", "forecast_wan", "forecast_low_wan", "forecast_high_wan",
                "probability_meet_target", "status", "planned_wan", "completed_wan"]
        b = self.before.select(keep).rename({k: f"{k}_before" for k in keep if k not in ("metric", "label", "target_wan")})
        a = self.after.select(keep).rename({k: f"{k}_after" for k in keep if k not in ("metric", "label", "target_wan")})
        return (b.join(a.drop("label", "target_wan"), on="metric", how="left", maintain_order="left")
                .with_columns((pl.col("forecast_wan_after") - pl.col("forecast_wan_before")).alias("forecast_change_wan")))

    def report(self) -> dict[str, Any]:
        """The JSON of ``portfolio whatif --json`` (CONTRACT): 万元 to 2 decimals (as ``check``), ratios to 4."""
        m = self.metrics().select(
            "metric", "label", "target_wan", "forecast_wan_before", "forecast_wan_after", "forecast_change_wan",
            "forecast_low_wan_before", "forecast_high_wan_before", "forecast_low_wan_after", "forecast_high_wan_after",
            pl.col("probability_meet_target_before").alias("probability_before"),
            pl.col("probability_meet_target_after").alias("probability_after"),
            "status_before", "status_after", "planned_wan_before", "planned_wan_after")
        changed = pl.col("forecast_change_wan").abs() > 0.005
        return {
            "as_of": self.as_of.strftime("%Y-%m"),
            "year": self.year,
            "scenario": self.scenario.name,
            "changes": [{**c.record(), "text": c.describe()} for c in self.scenario.changes],
            "metrics": _rows(m),
            "projects": _rows(self.projects),
            "units": _rows(self.units.filter(changed)),
            "chains": _rows(self.chains.filter(changed)),
            "gaps": _rows(self.gaps),
        }


def _rows(frame: pl.DataFrame) -> list[dict[str, Any]]:
    """JSON-ready rows: 万元 (a name with ``_wan``) to 2 decimals, other numbers to 4, dates as text."""
    def clean(key: str, value: Any) -> Any:
        if isinstance(value, Decimal):
            value = float(value)
        if isinstance(value, float):
            return None if not math.isfinite(value) else round(value, 2 if "_wan" in key else 4)
        if isinstance(value, date):
            return value.isoformat()
        return value

    return [{k: clean(k, v) for k, v in row.items()} for row in frame.iter_rows(named=True)]


def _changes_frame(scenario: Scenario) -> pl.DataFrame:
    rows = [{"project_id": c.project_id, "kind": c.kind, "months": c.months, "factor": c.factor}
            for c in scenario.changes if c.kind != "add"]
    return pl.DataFrame(rows, schema={"project_id": pl.String, "kind": pl.String, "months": pl.Int64,
                                      "factor": pl.Float64})


def _forecast_columns(frame: pl.DataFrame) -> pl.DataFrame:
    """The per-project forecast of ``remaining_plan_wan`` and ``pace`` (status.py's formulas)."""
    done = pl.col("completed_wan").cast(pl.Float64)
    rest = pl.col("remaining_plan_wan") * pl.col("pace")
    sd = pl.col("pace_sd")
    return frame.with_columns(rest.alias("forecast_rest_wan")).with_columns(
        (done + pl.col("forecast_rest_wan")).alias("forecast_wan"),
        (pl.col("forecast_rest_wan") ** 2 * ((sd * sd).exp() - 1.0)).alias("forecast_rest_var"),
        pl.min_horizontal(done + pl.col("forecast_rest_wan"),
                          done + pl.col("forecast_rest_wan") * (pl.col("_z_low") * sd - sd * sd / 2).exp())
        .alias("forecast_low_wan"),
        pl.max_horizontal(done + pl.col("forecast_rest_wan"),
                          done + pl.col("forecast_rest_wan") * (pl.col("_z_high") * sd - sd * sd / 2).exp())
        .alias("forecast_high_wan"),
    ).with_columns(
        (pl.col("annual_plan_wan").cast(pl.Float64) - pl.col("forecast_wan")).alias("forecast_gap_wan"),
    )


def adjust(con: duckdb.DuckDBPyConnection, projects: pl.DataFrame, scenario: Scenario, *, as_of: date,
           cfg: targets.Settings) -> pl.DataFrame:
    """The per-project frame with the scenario's changes (rows it does not touch stay as they are)."""
    changes = _changes_frame(scenario)
    added = [c.row for c in scenario.changes if c.kind == "add" and c.row is not None]
    if changes.height == 0 and not added:
        return projects
    zs = con.execute("select z_low, z_high from v_rules").fetchall()[0]
    cur = con.cursor()
    try:
        out = projects
        if changes.height:
            touched = projects.filter(pl.col("project_id").is_in(changes["project_id"].implode()))
            cur.register("_sc_projects", touched)
            cur.register("_sc_changes", changes)
            adj = cur.sql(_ADJUST_SQL).pl()
            plan = pl.col("annual_plan_wan").cast(pl.Float64)
            remaining = (
                pl.when(pl.col("change_kind") == "slip").then(plan * (pl.col("slip_share") - pl.col("expected_share")))
                .when(pl.col("change_kind").is_in(["stop", "cancel"])).then(pl.lit(0.0))
                .when(pl.col("change_kind") == "scale").then(pl.col("remaining_plan_wan") * pl.col("change_factor"))
                .otherwise(pl.col("remaining_plan_wan"))
            )
            adj = adj.with_columns(remaining.clip(lower_bound=0.0).alias("remaining_plan_wan"),
                                   pl.lit(zs[0]).alias("_z_low"), pl.lit(zs[1]).alias("_z_high"))
            adj = _forecast_columns(adj)
            cancelled = pl.col("change_kind") == "cancel"
            adj = adj.with_columns(
                # a cancelled project's plan is what it has done; it no longer counts as pipeline
                pl.when(cancelled).then(pl.col("completed_wan").cast(projects.schema["annual_plan_wan"]))
                .otherwise(pl.col("annual_plan_wan")).alias("annual_plan_wan"),
                pl.when(cancelled).then(pl.min_horizontal(pl.col("expected_wan"), pl.col("completed_wan").cast(pl.Float64)))
                .otherwise(pl.col("expected_wan")).alias("expected_wan"),
            ).with_columns(
                (pl.col("annual_plan_wan").cast(pl.Float64) - pl.col("forecast_wan")).alias("forecast_gap_wan"),
            )
            adj = adj.select(projects.columns)
            out = pl.concat([projects.filter(~pl.col("project_id").is_in(changes["project_id"].implode())), adj],
                            how="vertical_relaxed")
        if added:
            out = pl.concat([out, _new_rows(cur, added, projects, as_of=as_of, cfg=cfg, z=zs)], how="diagonal_relaxed")
        return out.select(projects.columns).sort("project_id")
    finally:
        cur.close()


def _new_rows(cur: duckdb.DuckDBPyConnection, rows: list[Mapping[str, Any]], projects: pl.DataFrame, *,
              as_of: date, cfg: targets.Settings, z: tuple[float, float]) -> pl.DataFrame:
    """New projects as rows of the per-project frame: no progress, the prior pace."""
    frame = pl.DataFrame([{k: _as_date(row.get(k)) if k in _DATE_FIELDS else row.get(k) for k in ADD_FIELDS}
                          for row in rows], schema={
        "project_id": pl.String, "name": pl.String, "unit_id": pl.String, "annual_plan_wan": pl.Float64,
        "enterprise": pl.String, "chain_id": pl.String, "node_id": pl.String, "nature": pl.String,
        "status": pl.String, "total_investment_wan": pl.Float64, "start_date": pl.Date, "end_date": pl.Date,
        "leader": pl.String, "leader_level": pl.String, "is_major": pl.Boolean,
    }, strict=False)
    cur.register("_sc_new", frame)
    new = cur.sql(_NEW_SQL, params=[as_of]).pl()
    units = dict(cur.execute("select unit_id, name from units").fetchall())
    chains_ = dict(cur.execute("select chain_id, name from chains").fetchall())
    plan = pl.col("annual_plan_wan").cast(pl.Float64)
    weight = pl.lit(0.0)
    pace = pl.max_horizontal(pl.min_horizontal(pl.col("prior_ratio"), pl.col("ratio_cap")), pl.col("ratio_floor"))
    built = new.with_columns(
        pl.col("status").fill_null("谋划"),
        pl.col("nature").fill_null(config.NATURES[0]),
        pl.col("is_major").fill_null(False),
        pl.col("total_investment_wan").fill_null(pl.col("annual_plan_wan")),
        pl.col("unit_id").replace_strict(units, default=pl.col("unit_id")).alias("unit_name"),
        pl.col("chain_id").replace_strict(chains_, default=pl.col("chain_id")).fill_null("未归链").alias("chain_name"),
        (pl.col("active_from") > pl.col("active_to")).alias("dates_outside_year"),
        (plan * pl.col("expected_share")).alias("expected_wan"),
        pl.lit(0.0).alias("completed_wan"), pl.lit(0.0).alias("completed_prev_wan"), pl.lit(0.0).alias("cumulative_wan"),
        (plan * pl.col("expected_share")).alias("behind_wan"),
        pl.lit(None, dtype=pl.Float64).alias("performance"),
        pl.lit(None, dtype=pl.String).alias("flag"),
        pl.lit(0, dtype=pl.Int64).alias("idle_months"), pl.lit(False).alias("stalled"),
        pl.lit(False).alias("is_lagging"),
        pl.lit(None, dtype=pl.String).alias("open_problems"),
        pl.lit(0, dtype=pl.Int64).alias("open_problem_months"),
        weight.alias("history_weight"),
        (plan * (1.0 - pl.col("expected_share"))).alias("remaining_plan_wan"),
        pace.alias("pace"),
        (pl.col("prior_sd") ** 2 + pl.col("execution_sd") ** 2).sqrt().alias("pace_sd"),
        pl.lit(z[0]).alias("_z_low"), pl.lit(z[1]).alias("_z_high"),
    )
    built = _forecast_columns(built)
    keep = [c for c in projects.columns if c in built.columns]
    return built.select(keep).cast({c: projects.schema[c] for c in keep}, strict=False)


def apply(con: duckdb.DuckDBPyConnection, scenario: Scenario, *, as_of: date | None = None, year: int | None = None,
          payload: CheckPayload | None = None, chain_gaps: bool = True) -> Outcome:
    """Apply ``scenario`` to the check of ``as_of`` (default: the check's month) and compare.

    ``payload`` is the baseline check when the caller already holds it (the app's cached one)."""
    base = payload or targets.check_payload(con, as_of=as_of, year=year)
    cfg, month = base.settings, base.as_of.month
    validate(scenario, base.projects)
    frame = adjust(con, base.projects, scenario, as_of=base.as_of, cfg=cfg)
    tg, goals = targets.city_targets(con, cfg.year), targets.group_targets(con, cfg.year)
    prev = prev_frame(con, as_of=base.as_of)
    official = official_at(con, base.as_of)
    # both sides computed the same way from their frames (the check's own figures agree to the
    # 0.01 万元 it prints: its sums run in the database, in another order)
    before = with_official(checks_of(base.projects, targets=tg, cfg=cfg, month=month, prev=prev), official)
    after = with_official(checks_of(frame, targets=tg, cfg=cfg, month=month, prev=prev), official)
    groups = {}
    for by in ("unit", "chain"):
        # both sides computed the same way from their frames (the report's are rounded for JSON)
        b = checks_of(base.projects, targets=tg, cfg=cfg, month=month, by=by, prev=prev, group_targets=goals)
        a = checks_of(frame, targets=tg, cfg=cfg, month=month, by=by, prev=prev, group_targets=goals)
        keys = [c for c in a.columns if c.endswith(("_id", "_name")) and c in b.columns] or [by]
        groups[by] = (
            b.select("metric", *keys, pl.col("forecast_wan").alias("forecast_wan_before"))
            .join(a.select("metric", *keys, pl.col("forecast_wan").alias("forecast_wan_after"),
                           pl.col("status").alias("status_after")),
                  on=["metric", *keys], how="full", coalesce=True, nulls_equal=True)
            .with_columns(pl.col("forecast_wan_before").fill_null(0.0), pl.col("forecast_wan_after").fill_null(0.0))
            .with_columns((pl.col("forecast_wan_after") - pl.col("forecast_wan_before")).alias("forecast_change_wan"))
        )
    ids = [c.project_id for c in scenario.changes]
    cols = ["project_id", "name", "unit_name", "chain_name", "annual_plan_wan", "completed_wan", "remaining_plan_wan",
            "forecast_wan"]
    before_p = base.projects.filter(pl.col("project_id").is_in(ids)).select(cols)
    after_p = frame.filter(pl.col("project_id").is_in(ids)).select(
        "project_id", pl.col("remaining_plan_wan").alias("remaining_plan_wan_after"),
        pl.col("forecast_wan").alias("forecast_wan_after"), pl.col("annual_plan_wan").alias("annual_plan_wan_after"))
    kinds = pl.DataFrame([{"project_id": c.project_id, "change": c.kind, "text": c.describe()} for c in scenario.changes],
                         schema={"project_id": pl.String, "change": pl.String, "text": pl.String})
    touched = (
        kinds.join(before_p, on="project_id", how="left").join(after_p, on="project_id", how="left")
        .with_columns(pl.col("forecast_wan").cast(pl.Float64).fill_null(0.0),
                      pl.col("forecast_wan_after").cast(pl.Float64).fill_null(0.0))
        .with_columns((pl.col("forecast_wan_after") - pl.col("forecast_wan")).alias("forecast_change_wan"))
        .rename({"forecast_wan": "forecast_wan_before", "remaining_plan_wan": "remaining_plan_wan_before",
                 "annual_plan_wan": "annual_plan_wan_before"})
    )
    gaps = chain_changes(con, scenario, year=cfg.year) if chain_gaps else _NO_GAPS
    return Outcome(scenario=scenario, as_of=base.as_of, year=cfg.year, settings=cfg, before=before, after=after,
                   units=groups["unit"], chains=groups["chain"], projects=touched, gaps=gaps, frame=frame)


_NO_GAPS = pl.DataFrame(schema={"chain_id": pl.String, "node_id": pl.String, "node": pl.String,
                                "kind_before": pl.String, "kind_after": pl.String})


def chain_changes(con: duckdb.DuckDBPyConnection, scenario: Scenario, *, year: int) -> pl.DataFrame:
    """Segments whose class after the pipeline differs under the scenario (cancelled projects out of
    the pipeline, new ones in): node, class after the pipeline before → with the scenario."""
    cancelled = [c.project_id for c in scenario.changes if c.kind == "cancel"]
    added = [c.row for c in scenario.changes if c.kind == "add" and c.row is not None]
    if not cancelled and not added:
        return _NO_GAPS
    from . import chains

    base = chains.analysis(con, year=year)
    cur = con.cursor()
    try:
        new = pl.DataFrame([{k: r.get(k) for k in ("project_id", "name", "enterprise", "unit_id", "chain_id", "node_id",
                                                     "status", "total_investment_wan", "annual_plan_wan")}
                            for r in added],
                           schema={"project_id": pl.String, "name": pl.String, "enterprise": pl.String,
                                   "unit_id": pl.String, "chain_id": pl.String, "node_id": pl.String,
                                   "status": pl.String, "total_investment_wan": pl.Float64,
                                   "annual_plan_wan": pl.Float64}, strict=False
                           ).with_columns(pl.col("status").fill_null("谋划"),
                                          pl.col("total_investment_wan").fill_null(pl.col("annual_plan_wan")))
        cur.register("_sc_new_projects", new)
        cur.register("_sc_cancelled", pl.DataFrame({"project_id": cancelled}, schema={"project_id": pl.String}))
        from .chains import sql as chain_sql

        source = chain_sql.year_projects(year)
        relation = (f"(select * from {source} where project_id not in (select project_id from _sc_cancelled) "
                    f"union all by name select * from _sc_new_projects)")
        after = chains.analysis(cur, year=year, projects=relation)
    finally:
        cur.close()
    # a segment's class after the pipeline (None: no gap once the pipeline is built); the
    # ``after`` frames hold only the segments that are gaps before or after
    return (
        base.classes.select("chain_id", "node_id", pl.col("name").alias("node"))
        .join(base.after.select("node_id", pl.col("kind_after").alias("kind_before")), on="node_id", how="left")
        .join(after.after.select("node_id", "kind_after"), on="node_id", how="left")
        .filter(pl.col("kind_before").ne_missing(pl.col("kind_after")))
        .select("chain_id", "node_id", "node", "kind_before", "kind_after")
    )


# ---------------------------------------------------------------- the inverse question
def accelerators(outcome_or_payload: Outcome | CheckPayload, *, metric: str = "industrial_investment",
                 shortfall_wan: float | None = None, top: int = 20) -> tuple[pl.DataFrame, int | None, float]:
    """Which projects could close a shortfall: ranked by the extra their remaining plan and their
    record make plausible (:func:`portfolio.targets.ranked_of`'s achievable extra), with the
    cumulative extra; returns (the first ``top``, how many close the gap in expectation or None,
    the gap). ``shortfall_wan`` defaults to the target minus the forecast."""
    if isinstance(outcome_or_payload, Outcome):
        frame, checks = outcome_or_payload.frame, outcome_or_payload.after
    else:
        frame, checks = outcome_or_payload.projects, outcome_or_payload.checks
    row = checks.filter(pl.col("metric") == metric)
    gap = float(shortfall_wan if shortfall_wan is not None else (row["forecast_gap_wan"][0] or 0.0))
    subset = frame if metric == "industrial_investment" else frame.filter(pl.col("is_tech_upgrade"))
    cap = float(outcome_or_payload.settings.forecast["ratio_cap"])
    scored = subset.with_columns(
        pl.min_horizontal(pl.col("forecast_gap_wan").clip(0.0),
                          (pl.col("remaining_plan_wan") * (cap - pl.col("pace"))).clip(0.0)).alias("achievable_extra_wan"),
    ).filter(pl.col("achievable_extra_wan") > 0).sort(["achievable_extra_wan", "project_id"], descending=[True, False])
    ranked = scored.with_columns(pl.col("achievable_extra_wan").cum_sum().alias("cumulative_extra_wan"))
    closing = ranked["cumulative_extra_wan"] >= gap
    n = int(closing.arg_true()[0]) + 1 if gap > 0 and closing.any() else (0 if gap <= 0 else None)
    shown = ranked.head(max(top, n or 0)).with_row_index("rank", offset=1).select(
        "rank", "project_id", "name", "unit_name", "chain_name", "node_id", "annual_plan_wan", "completed_wan",
        "remaining_plan_wan", "pace", "forecast_wan", "achievable_extra_wan", "cumulative_extra_wan")
    return shown, n, gap


def segments_gaining(shown: pl.DataFrame, n: int | None) -> pl.DataFrame:
    """The chain segments the closing set is on, with the extra each would gain."""
    take = shown.head(n) if n else shown
    return (take.filter(pl.col("node_id").is_not_null())
            .group_by("chain_name", "node_id").agg(pl.len().alias("projects"),
                                                    pl.col("achievable_extra_wan").sum().alias("extra_wan"))
            .sort("extra_wan", descending=True))


# ---------------------------------------------------------------- saved scenarios
def check_name(name: str) -> str:
    clean = (name or "").strip()
    if not _NAME.match(clean):
        raise ScenarioError("情景名称应为 1–60 个字（汉字、字母、数字、空格、-、·、括号）（invalid scenario name）。")
    return clean


def save(con: duckdb.DuckDBPyConnection, scenario: Scenario, *, user: str) -> None:
    """Save (or replace) a named scenario; its changes only, never the data."""
    name = check_name(scenario.name or "")
    body = json.dumps(replace(scenario, name=name).record(), ensure_ascii=False)
    with store.transaction(con):
        con.execute("delete from scenarios where name = ?", [name])
        con.execute("insert into scenarios (name, body, note, saved_by) values (?, ?, ?, ?)",
                    [name, body, scenario.note, user])


def saved(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """The saved scenarios, newest first (name, note, saved_by, saved_at, changes)."""
    return store.fetch(con, "select name, note, saved_by, saved_at, json_array_length(body->'changes') as changes"
                            " from scenarios order by saved_at desc, name")


def load(con: duckdb.DuckDBPyConnection, name: str) -> Scenario:
    """A saved scenario by name, or a ScenarioError naming those there are."""
    rows = con.execute("select body from scenarios where name = ?", [name]).fetchall()
    if not rows:
        names = saved(con)["name"].to_list()
        have = "、".join(textsafe.visible(n) for n in names[:10]) or "（还没有保存的情景）"
        raise ScenarioError(f"没有名为“{textsafe.visible(name)}”的情景；已保存：{have}（no such scenario）。")
    return Scenario.from_record(json.loads(rows[0][0]))


def combine(first: Scenario, more: Iterable[Change]) -> Scenario:
    """A saved scenario with more changes given on the command line (a later change of a project wins)."""
    extra = list(more)
    ids = {c.project_id for c in extra}
    return replace(first, changes=tuple([c for c in first.changes if c.project_id not in ids] + extra))


__all__ = [
    "KINDS", "Change", "Outcome", "Scenario", "ScenarioError", "accelerators", "adjust", "apply", "chain_changes",
    "changes_from_options", "combine", "load", "read_added", "save", "saved", "segments_gaining", "validate",
]
