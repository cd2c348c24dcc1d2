"""The scheduled monthly report (工业投资与产业链缺口分析月报): HTML, xlsx and Markdown.

One short read-only connection session gathers everything (:func:`collect`); the database is
closed before anything is rendered. The numbers are those of :func:`targets.check_report`
and :func:`chains.gaps_report` (the target section is built from the same library pieces on
one project frame, so it is computed once). Each run keeps a snapshot of the projects and
gaps under ``<out>/snapshots/YYYY-MM/`` so that the next month can say what changed.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from . import chains, config, monthly, store, targets
from .i18n import t

FORMATS = ("html", "xlsx", "md")
#: File names carry the month and stay ASCII so scripts and mail gateways handle them.
FILE_STEM = "portfolio-report-{month}"
SNAPSHOT_DIR = "snapshots"
#: Rows shown in the HTML (the xlsx has every row).
LAGGING_TOP = 20
VIOLATIONS_TOP = 50
DISAGREEMENTS_TOP = 20
CHANGES_TOP = 30
#: Chain maps drawn: the chains with the most open gaps (then most gaps).
MAPS = 2
FLAG_RANK = {"green": 0, "amber": 1, "red": 2}

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Snapshot:
    """What one month's report saw: the projects and the gap segments (for the next month)."""

    month: str
    projects: pl.DataFrame
    gaps: pl.DataFrame


@dataclass
class ReportData:
    """Everything a report shows, read in one connection session (no connection inside)."""

    as_of: date
    generated_at: datetime
    is_sample: bool
    check: dict[str, Any]
    gaps: dict[str, Any]
    monthly: pl.DataFrame
    unit_rollup: pl.DataFrame
    chain_rollup: pl.DataFrame
    lagging: pl.DataFrame
    violations: pl.DataFrame
    month_facts: dict[str, Any]
    new_problems: pl.DataFrame
    maps: list[tuple[str, pl.DataFrame, pl.DataFrame]]
    snapshot: Snapshot
    previous: Snapshot | None = None
    changes: dict[str, pl.DataFrame] = field(default_factory=dict)

    @property
    def month(self) -> str:
        """The report month as ``YYYY-MM``."""
        return self.as_of.strftime("%Y-%m")


# --------------------------------------------------------------------------------------------
# reading the database


def report_month(con: duckdb.DuckDBPyConnection, as_of: date | None) -> date:
    """The month to report: ``as_of`` if it has progress rows, else the latest; ValueError if none."""
    months = store.progress_months(con)
    if as_of is None:
        if not months:
            raise ValueError("数据库中没有任何月度进度数据，无法生成报告（no progress rows）。")
        return months[-1]
    if as_of not in months:
        have = f"已有月份：{months[0]:%Y-%m} 至 {months[-1]:%Y-%m}" if months else "数据库中还没有月度进度"
        raise ValueError(f"{as_of:%Y-%m} 没有月度进度数据，无法生成该月报告（{have}）。")
    return as_of


def _target_section(con: duckdb.DuckDBPyConnection, *, cfg: targets.Settings, projects: pl.DataFrame,
                    as_of: date) -> tuple[dict[str, Any], pl.DataFrame, pl.DataFrame]:
    """The ``check_report`` payload built on an existing project frame, plus every lagging project
    and every violation as frames (``check_report`` itself would build the frame again)."""
    month = as_of.month
    goals = targets.city_targets(con, cfg.year)
    group_goals = targets._group_targets(con, cfg.year)
    checks = targets.checks_of(projects, targets=goals, cfg=cfg, month=month)
    ranked = targets._ranked(projects, checks=checks, cfg=cfg, top=10)
    extra = targets.forecast_summary(checks, ranked=ranked).select(
        "metric", "acceleration_potential_wan", "projects_to_close_gap")
    lagging = targets.lagging_of(projects)
    violations = targets.violations_of(projects, cfg=cfg)
    by = {
        key: targets.records(targets.checks_of(projects, targets=goals, cfg=cfg, month=month, by=key,
                                               group_targets=group_goals))
        for key in ("unit", "chain")
    }
    check = {
        "year": cfg.year,
        "as_of": as_of.strftime("%Y-%m"),
        "is_sample": store.is_sample(con),
        "projects": projects.height,
        "metrics": targets.records(checks.join(extra, on="metric", how="left")),
        "tiers": targets.records(targets.tiers_of(projects, tiers=cfg.tiers)),
        "below_tier_count": int(projects["tier"].is_null().sum()),
        "lagging_count": lagging.height,
        "lagging_projects": targets.records(lagging.head(LAGGING_TOP)),
        "stalled_count": int(projects["stalled"].sum()),
        "open_problem_count": int(projects["open_problems"].is_not_null().sum()),
        "responsibility": targets.records(targets.responsibility_counts_of(projects, cfg=cfg)),
        "violation_counts": {r: int(n) for r, n in violations.group_by("rule", maintain_order=True).len().iter_rows()},
        "violations": targets.records(violations.head(VIOLATIONS_TOP)),
        "by_unit": by["unit"],
        "by_chain": by["chain"],
        "drivers": targets.records(targets.drivers_of(ranked)),
        # the same wording as check_report (a test compares the two payloads key by key)
        "rules": {
            "status": f"季节完成率≥{cfg.on_track:g}为正常，≥{cfg.at_risk:g}为有风险，否则滞后；"
                      f"计划覆盖率<{cfg.coverage_at_risk:g}时最多为有风险",
            "flag": f"项目完成率≥{cfg.green:g}为绿，≥{cfg.amber:g}为黄，否则为红；"
                    f"活动月份中连续{cfg.stalled_months}个月无投资为停滞",
            "forecast": "已完成 + 剩余计划 × 收缩后的完成节奏；区间为蒙特卡洛分位数（见 docs/forecast.md）",
        },
    }
    return check, lagging, violations


def _month_facts(con: duckdb.DuckDBPyConnection, *, as_of: date, projects: pl.DataFrame,
                 cfg: targets.Settings) -> tuple[dict[str, Any], pl.DataFrame]:
    """What the database alone says about the month: reports, investment, new problems, new stalls."""
    rows = con.execute(
        "select count(*), count(*) filter (where completed_wan > 0),"
        " count(*) filter (where nullif(trim(problems), '') is not null)"
        " from progress where month = ?",
        [as_of],
    ).fetchall()[0]
    new_problems = (
        projects
        .filter(pl.col("open_problem_since") == as_of)
        .sort(["total_investment_wan", "project_id"], descending=[True, False])
        .select("project_id", "name", "unit_name", "leader", "leader_level", "total_investment_wan",
                "open_problems", "open_problem_level")
    )
    newly_stalled = projects.filter(pl.col("stalled") & (pl.col("idle_months") == cfg.stalled_months)).height
    facts = {"reported": int(rows[0]), "invested": int(rows[1]), "with_problems": int(rows[2]),
             "new_problems": new_problems.height, "newly_stalled": newly_stalled}
    return facts, new_problems


def _snapshot_of(month: str, projects: pl.DataFrame, gap_list: list[dict[str, Any]]) -> Snapshot:
    gap_frame = pl.DataFrame(
        [{"node_id": g["node_id"], "chain": g["chain"], "node": g["node"], "kind": g["kind"],
          "open": g["open"], "addressed": len(g["addressed_by"])} for g in gap_list],
        schema={"node_id": pl.String, "chain": pl.String, "node": pl.String, "kind": pl.String,
                "open": pl.Boolean, "addressed": pl.Int64},
    )
    kept = projects.select("project_id", "name", "status", "flag", "tier", "unit_id", "unit_name",
                           "chain_name", "stalled", "total_investment_wan", "completed_wan")
    return Snapshot(month=month, projects=kept, gaps=gap_frame)


def _map_chains(gaps: dict[str, Any]) -> list[str]:
    ranked = sorted(gaps["summary"]["by_chain"],
                    key=lambda r: (-r["open"], -sum(r[k] for k in chains.KINDS), r["chain_id"]))
    return [r["chain_id"] for r in ranked[:MAPS] if r["open"] or any(r[k] for k in chains.KINDS)]


def collect(con: duckdb.DuckDBPyConnection, *, as_of: date | None = None, now: datetime | None = None,
            progress: Progress | None = None) -> ReportData:
    """Read everything the report shows from one connection (targets, gaps, months, maps, snapshot)."""
    say = progress or (lambda _msg: None)
    month = report_month(con, as_of)
    cfg = targets.settings(con)
    say(f"目标检查（截至 {month:%Y-%m}）…")
    projects = targets.project_frame(con, as_of=month, cfg=cfg)
    check, lagging, violations = _target_section(con, cfg=cfg, projects=projects, as_of=month)
    facts, new_problems = _month_facts(con, as_of=month, projects=projects, cfg=cfg)
    series = monthly.targets_monthly(con, as_of=month)
    say("产业链缺口分析…")
    gaps = chains.gaps_report(con)
    maps = []
    for chain_id in _map_chains(gaps):
        nodes, edges = chains.chain_map_frames(con, chain=chain_id)
        name = nodes.filter(~pl.col("external"))["chain"].first()
        maps.append((str(name), nodes, edges))
    return ReportData(
        as_of=month,
        generated_at=(now or datetime.now()).replace(microsecond=0),
        is_sample=bool(check["is_sample"]),
        check=check,
        gaps=gaps,
        monthly=series,
        unit_rollup=targets.rollup_of(projects, by="unit"),
        chain_rollup=targets.rollup_of(projects, by="chain"),
        lagging=lagging,
        violations=violations,
        month_facts=facts,
        new_problems=new_problems,
        maps=maps,
        snapshot=_snapshot_of(month.strftime("%Y-%m"), projects, gaps["gaps"]),
    )


# --------------------------------------------------------------------------------------------
# snapshots and what changed


def snapshot_path(out_dir: Path, month: str) -> Path:
    """The folder of one month's snapshot: ``<out>/snapshots/YYYY-MM``."""
    return Path(out_dir) / SNAPSHOT_DIR / month


def previous_snapshot(out_dir: Path, month: str) -> Snapshot | None:
    """The latest snapshot of a month before ``month`` under ``out_dir``, or None."""
    root = Path(out_dir) / SNAPSHOT_DIR
    if not root.is_dir():
        return None
    earlier = sorted(p.name for p in root.iterdir()
                     if p.is_dir() and len(p.name) == 7 and p.name < month
                     and (p / "projects.parquet").exists() and (p / "gaps.parquet").exists())
    if not earlier:
        return None
    folder = root / earlier[-1]
    return Snapshot(month=earlier[-1], projects=pl.read_parquet(folder / "projects.parquet"),
                    gaps=pl.read_parquet(folder / "gaps.parquet"))


def write_snapshot(out_dir: Path, snap: Snapshot) -> Path:
    """Write (or replace) one month's snapshot; each file appears whole or not at all."""
    folder = snapshot_path(out_dir, snap.month)
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in (("projects", snap.projects), ("gaps", snap.gaps)):
        with _atomic(folder / f"{name}.parquet") as tmp:
            frame.write_parquet(tmp)
    return folder


def compare(current: Snapshot, previous: Snapshot) -> dict[str, pl.DataFrame]:
    """What changed between two snapshots: new and removed projects, status changes, flags that
    worsened, gaps opened, closed or reclassified."""
    cur, old = current.projects, previous.projects
    info = ["project_id", "name", "unit_name", "tier", "status", "total_investment_wan"]
    both = cur.join(old.select("project_id", pl.col("status").alias("status_before"),
                               pl.col("flag").alias("flag_before"), pl.col("stalled").alias("stalled_before")),
                    on="project_id", how="inner")
    rank = FLAG_RANK
    worse = (
        both
        .with_columns(
            pl.col("flag").replace_strict(rank, default=None, return_dtype=pl.Int64).alias("_now"),
            pl.col("flag_before").replace_strict(rank, default=None, return_dtype=pl.Int64).alias("_before"),
        )
        .filter((pl.col("_now") >= 1) & (pl.col("_before").is_null() | (pl.col("_now") > pl.col("_before"))))
        .sort(["_now", "total_investment_wan", "project_id"], descending=[True, True, False])
        .select("project_id", "name", "unit_name", "tier", "flag_before", "flag", "stalled", "total_investment_wan")
    )
    gaps_now = current.gaps.filter(pl.col("open"))
    gaps_then = previous.gaps.filter(pl.col("open"))
    kinds = current.gaps.join(previous.gaps.select("node_id", pl.col("kind").alias("kind_before")),
                              on="node_id", how="full", coalesce=True)
    closed = (
        gaps_then
        .join(gaps_now.select("node_id"), on="node_id", how="anti")
        .join(current.gaps.select("node_id", pl.col("kind").alias("kind_now"), pl.col("addressed").alias("addressed_now")),
              on="node_id", how="left")
        .select("chain", "node", "kind", "kind_now", "addressed_now")
    )
    return {
        "new_projects": cur.join(old.select("project_id"), on="project_id", how="anti")
        .sort(["total_investment_wan", "project_id"], descending=[True, False]).select(info),
        "removed_projects": old.join(cur.select("project_id"), on="project_id", how="anti")
        .sort("project_id").select(info),
        "status_changes": both.filter(pl.col("status") != pl.col("status_before"))
        .sort(["total_investment_wan", "project_id"], descending=[True, False])
        .select("project_id", "name", "unit_name", "status_before", "status", "total_investment_wan"),
        "flags_worsened": worse,
        "gaps_opened": gaps_now.join(gaps_then.select("node_id"), on="node_id", how="anti")
        .select("chain", "node", "kind"),
        "gaps_closed": closed,
        "gaps_reclassified": kinds.filter(pl.col("kind").is_not_null() & pl.col("kind_before").is_not_null()
                                          & (pl.col("kind") != pl.col("kind_before")))
        .select("chain", "node", "kind_before", "kind"),
    }


# --------------------------------------------------------------------------------------------
# writing


@contextmanager
def _atomic(target: Path) -> Iterator[Path]:
    """A temporary path beside ``target``, renamed over it when the block succeeds."""
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        yield tmp
        tmp.replace(target)
    finally:
        tmp.unlink(missing_ok=True)


def build_report(db: str | Path | None, *, as_of: date | None = None, out_dir: str | Path = "reports",
                 formats: Sequence[str] = FORMATS, progress: Progress | None = None,
                 now: datetime | None = None, lang: str = "zh") -> list[Path]:
    """Write the month's report in the given formats and its snapshot; returns the report paths.

    Reads the database once, read-only, and closes it before rendering; compares with the
    latest earlier snapshot under ``out_dir``. Same database and month → same content apart
    from the generation time.
    """
    say = progress or (lambda _msg: None)
    bad = sorted(set(formats) - set(FORMATS))
    if bad or not formats:
        raise ValueError(f"不支持的格式 {', '.join(bad) or '（空）'}；可选 html、xlsx、md。")
    out = Path(out_dir)
    say("读取数据库…")
    with store.connect(db, read_only=True) as con:
        data = collect(con, as_of=as_of, now=now, progress=say)
    data.previous = previous_snapshot(out, data.month)
    if data.previous is not None:
        data.changes = compare(data.snapshot, data.previous)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for fmt in FORMATS:
        if fmt not in formats:
            continue
        message, render = WRITERS[fmt]
        say(message)
        content = render(data, lang)
        path = out / f"{FILE_STEM.format(month=data.month)}.{fmt}"
        with _atomic(path) as tmp:
            if isinstance(content, bytes):
                tmp.write_bytes(content)
            else:
                tmp.write_text(content, encoding="utf-8")
        written.append(path)
    say("保存本月快照…")
    write_snapshot(out, data.snapshot)
    return written




# --------------------------------------------------------------------------------------------
# rendering: formatting helpers shared by the three formats

TEMPLATES = Path(__file__).resolve().parent / "templates"
TARGET_ROWS = [
    ("target_wan", "yi", "target"), ("planned_wan", "yi", "planned"), ("coverage", "pct", "coverage"),
    ("completed_wan", "yi", "completed"), ("expected_wan", "yi", "expected"), ("ytd_ratio", "pct", "ytd_ratio"),
    ("linear_expected_wan", "yi", "linear"), ("linear_ratio", "pct", "linear_ratio"),
    ("forecast_wan", "yi", "forecast"), ("_range", "range", "range"),
    ("probability_meet_target", "pct", "probability"), ("implied_growth_pct", "growth", "growth"),
    ("status", "status", "status"),
]
SECTIONS = ("targets", "tiers", "units", "chains", "lagging", "responsibility", "gaps", "maps",
            "disagreements", "changes")


def fmt_yi(value: Any) -> str:
    """万元 shown in 亿元 with two decimals and thousands separators (``—`` for none)."""
    return "—" if value is None else f"{float(value) / config.WAN_PER_YI:,.2f}"


def fmt_wan(value: Any) -> str:
    """万元 shown whole with thousands separators."""
    return "—" if value is None else f"{float(value):,.0f}"


def fmt_pct(value: Any) -> str:
    """A ratio as a percentage with one decimal."""
    return "—" if value is None else f"{float(value) * 100:.1f}%"


def fmt_num(value: Any) -> str:
    """A count with thousands separators."""
    return "—" if value is None else f"{int(value):,}"


def _signed(value: Any) -> str:
    return "—" if value is None else f"{int(value):+,d}"


def _md(text: Any) -> str:
    """Text for Markdown: characters that would start markup or HTML are backslash-escaped."""
    value = "—" if text is None else str(text)
    return "".join("\\" + ch if ch in "\\`*_[]<>|#" else ch for ch in value)


def _css_string(text: str) -> str:
    """Text safe inside a double-quoted CSS string (used in the @page header)."""
    return "".join(f"\\{ord(ch):x} " if ch in '"\\<>&\n' else ch for ch in text)


class _Words:
    """Language-bound wording: labels, statuses, flags, kinds, month names."""

    def __init__(self, lang: str) -> None:
        from .i18n import enum_label

        self.lang = lang
        self._enum = enum_label

    def __call__(self, key: str, **values: object) -> str:
        return t(key, self.lang, **values)

    def status(self, value: str | None) -> str:
        return "—" if value is None else self(f"status.{value}")

    def flag(self, value: str | None) -> str:
        return "—" if value is None else self(f"flag.{value}")

    def kind(self, value: str | None) -> str:
        return "—" if value is None else self._enum(value, self.lang)

    def metric(self, row: dict[str, Any]) -> str:
        return str(row["label"]) if self.lang == "zh" else self(f"metric.{row['metric']}")

    def month(self, when: date) -> str:
        from .charts import MONTHS_EN

        return self("report.month", year=when.year, month=when.month, month_en=MONTHS_EN[when.month - 1])

    def ids(self, ids: list[str] | None) -> str:
        ids = ids or []
        more = (f" 等{len(ids)}个" if self.lang == "zh" else f" … ({len(ids)})") if len(ids) > 2 else ""
        return "、".join(ids[:2]) + more


def _metric_lines(data: ReportData, w: _Words) -> list[str]:
    return [
        w("report.hl.metric", label=w.metric(m), done=fmt_yi(m["completed_wan"]), ratio=fmt_pct(m["ytd_ratio"]),
          status=w.status(m["status"]), forecast=fmt_yi(m["forecast_wan"]), low=fmt_yi(m["forecast_low_wan"]),
          high=fmt_yi(m["forecast_high_wan"]), target=fmt_yi(m["target_wan"]))
        for m in data.check["metrics"]
    ]


def _gap_lines(data: ReportData, w: _Words) -> list[str]:
    lines = []
    for m in data.check["metrics"]:
        gap = m["forecast_gap_wan"]
        if gap is None:
            continue
        if gap <= 0:
            lines.append(w("report.targets.no_gap", label=w.metric(m), gap=fmt_yi(-gap)))
        elif m.get("projects_to_close_gap"):
            lines.append(w("report.targets.gap_close", label=w.metric(m), gap=fmt_yi(gap), n=m["projects_to_close_gap"]))
        else:
            lines.append(w("report.targets.gap_open", label=w.metric(m), gap=fmt_yi(gap),
                           potential=fmt_yi(m.get("acceleration_potential_wan"))))
    return lines


def _change_counts(data: ReportData) -> dict[str, int]:
    return {k: v.height for k, v in data.changes.items()}


def _highlights(data: ReportData, w: _Words) -> list[str]:
    check, summary = data.check, data.gaps["summary"]
    kinds = summary["by_kind"]
    counts = check["violation_counts"]
    resp = "；".join(f"{w('report.rule.' + k)} {v} 个" if w.lang == "zh" else f"{w('report.rule.' + k)}: {v}"
                    for k, v in counts.items()) or w("report.resp.none").rstrip("。.")
    lines = [
        *_metric_lines(data, w),
        w("report.hl.lagging", n=fmt_num(check["lagging_count"]), stalled=fmt_num(check["stalled_count"]),
          problems=fmt_num(check["open_problem_count"])),
        w("report.hl.gaps", total=sum(kinds.values()), fill=kinds["补链"], extend=kinds["增链"],
          enrich=kinds["丰链"], open=summary["open"]),
        w("report.hl.responsibility", text=resp),
    ]
    if data.previous is not None:
        c = _change_counts(data)
        lines.append(w("report.hl.changes", prev=data.previous.month, new=c["new_projects"],
                       status=c["status_changes"], worse=c["flags_worsened"], opened=c["gaps_opened"],
                       closed=c["gaps_closed"]))
    else:
        lines.append(w("report.hl.no_previous", problems=data.month_facts["new_problems"],
                       stalled=data.month_facts["newly_stalled"]))
    return lines


def _month_done(data: ReportData) -> tuple[Any, Any]:
    rows = data.monthly.filter(pl.col("metric") == "industrial_investment")
    m = data.as_of.month
    this = rows.filter(pl.col("month_index") == m)["completed_wan"]
    before = rows.filter(pl.col("month_index") == m - 1)["completed_wan"]
    return (this[0] if this.len() else None), (before[0] if before.len() else None)


def _facts(data: ReportData) -> list[tuple[str, str]]:
    f = data.month_facts
    this, before = _month_done(data)
    return [("reported", fmt_num(f["reported"])), ("invested", fmt_num(f["invested"])),
            ("with_problems", fmt_num(f["with_problems"])), ("new_problems", fmt_num(f["new_problems"])),
            ("newly_stalled", fmt_num(f["newly_stalled"])), ("month_done", fmt_yi(this)),
            ("prev_month_done", fmt_yi(before))]


def _change_tables(data: ReportData, w: _Words, *, limit: int | None = CHANGES_TOP
                   ) -> list[tuple[str, list[dict[str, str]], list[dict[str, str]], int]]:
    """(key, columns, formatted rows, total) per change list, the first ``limit`` rows of each."""
    col = {
        "project_id": ("col.project_id", "c"), "name": ("report.col.project", ""),
        "unit_name": ("report.col.unit", ""), "tier": ("report.col.tier", ""),
        "status": ("report.col.after", "c"), "status_before": ("report.col.before", "c"),
        "flag": ("report.col.after", "c"), "flag_before": ("report.col.before", "c"),
        "total_investment_wan": ("report.col.total_wan", "n"), "chain": ("report.col.chain", ""),
        "node": ("report.col.node", ""), "kind": ("report.col.kind", "c"), "kind_before": ("report.col.before", "c"),
        "why": ("report.col.change", ""), "open_problems": ("report.col.problems", "wrap"),
        "open_problem_level": ("report.col.problem_level", "c"), "leader": ("report.col.leader", ""),
    }
    shows = {
        "new_projects": ["project_id", "name", "unit_name", "tier", "status", "total_investment_wan"],
        "removed_projects": ["project_id", "name", "unit_name", "tier", "status", "total_investment_wan"],
        "status_changes": ["project_id", "name", "unit_name", "status_before", "status", "total_investment_wan"],
        "flags_worsened": ["project_id", "name", "unit_name", "flag_before", "flag", "total_investment_wan"],
        "gaps_opened": ["chain", "node", "kind"],
        "gaps_closed": ["chain", "node", "kind", "why"],
        "gaps_reclassified": ["chain", "node", "kind_before", "kind"],
    }
    tables = [(key, frame) for key, frame in data.changes.items()]
    tables.append(("new_problem_list", data.new_problems))
    shows["new_problem_list"] = ["project_id", "name", "unit_name", "leader", "open_problems", "open_problem_level"]
    out = []
    for key, frame in tables:
        cols = shows[key]
        rows = []
        for r in (frame if limit is None else frame.head(limit)).iter_rows(named=True):
            cells = {}
            for c in cols:
                v = r.get(c)
                if c in ("flag", "flag_before"):
                    v = w.flag(v)
                elif c in ("kind", "kind_before"):
                    v = w.kind(v)
                elif c == "why":
                    v = w("report.changes.no_longer_gap") if r["kind_now"] is None else \
                        w("report.changes.now_addressed", n=r["addressed_now"])
                elif c.endswith("_wan"):
                    v = fmt_wan(v)
                cells[c] = "—" if v is None else str(v)
            rows.append(cells)
        columns = [{"key": c, "title": w(col[c][0]), "cls": col[c][1]} for c in cols]
        out.append((key, columns, rows, frame.height))
    return out


def _group_rows(data: ReportData, by: str) -> list[dict[str, Any]]:
    """Industrial-investment checks per unit or chain with the lagging and problem counts."""
    key = "unit_name" if by == "unit" else "chain_name"
    rollup = data.unit_rollup if by == "unit" else data.chain_rollup
    counts = {r[key]: r for r in rollup.select(key, "lagging", "open_problems").iter_rows(named=True)}
    rows = [dict(r, name=r[key], **{k: counts.get(r[key], {}).get(k, 0) for k in ("lagging", "open_problems")})
            for r in data.check[f"by_{by}"] if r["metric"] == "industrial_investment"]
    return sorted(rows, key=lambda r: (-(r["planned_wan"] or 0), r["name"] or ""))


def _svg(svg: str, prefix: str) -> Any:
    """Inline SVG with its element ids made unique in the page (vega numbers clip paths per chart)."""
    import re

    from markupsafe import Markup

    ids = set(re.findall(r'\bid="([^"]+)"', svg))
    for old in sorted(ids, key=len, reverse=True):
        svg = (svg.replace(f'id="{old}"', f'id="{prefix}-{old}"')
               .replace(f"url(#{old})", f"url(#{prefix}-{old})")
               .replace(f'href="#{old}"', f'href="#{prefix}-{old}"'))
    return Markup(svg)


def _charts(data: ReportData, lang: str) -> dict[str, Any]:
    from . import charts

    groups = {by: pl.DataFrame(data.check[f"by_{by}"], infer_schema_length=None) for by in ("unit", "chain")}
    return {
        "s_curve": _svg(charts.to_svg(charts.s_curve(data.monthly, lang=lang, width=400, height=260)), "s"),
        "tiers": _svg(charts.to_svg(charts.tier_funnel(pl.DataFrame(data.check["tiers"]), lang=lang)), "tier"),
        "units": _svg(charts.to_svg(charts.group_bars(groups["unit"], group="unit", lang=lang)), "unit"),
        "chains": _svg(charts.to_svg(charts.group_bars(groups["chain"], group="chain", lang=lang)), "chain"),
        "maps": [_svg(charts.to_svg(charts.chain_map(nodes, edges, lang=lang)), f"map{i}")
                 for i, (_name, nodes, edges) in enumerate(data.maps)],
    }


def _env(*, html: bool) -> Any:
    import jinja2

    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=html, undefined=jinja2.StrictUndefined,
        trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
    )


def _base_context(data: ReportData, w: _Words) -> dict[str, Any]:
    return {
        "t": w, "lang": w.lang, "month": data.month, "month_label": w.month(data.as_of),
        "generated": data.generated_at.strftime("%Y-%m-%d %H:%M"), "is_sample": data.is_sample,
        "check": data.check, "gaps": data.gaps,
    }


def render_html(data: ReportData, lang: str = "zh") -> str:
    """The full report as one self-contained HTML page (inline CSS and SVG, no address outside)."""
    from markupsafe import Markup

    w = _Words(lang)
    env = _env(html=True)
    env.filters.update(yi=fmt_yi, wan=fmt_wan, pct=fmt_pct, num=fmt_num, signed=_signed,
                       growth=lambda v: "—" if v is None else f"{v:.1f}%",
                       score=lambda v: "—" if v is None else f"{v:.3f}",
                       status=w.status, flag=w.flag, kind_text=w.kind, ids=w.ids)
    svgs = _charts(data, lang)
    drivers = [
        (m["metric"], w.metric(m),
         [r for r in data.check["drivers"] if r["metric"] == m["metric"] and r["role"] == "shortfall"][:5])
        for m in data.check["metrics"]
    ]
    basis = next((r["target_basis"] for r in data.check["by_unit"]), "")
    counts = data.gaps["after_pipeline"]["counts"]
    open_gaps = [dict(g, reasons_shown=(g["reasons_en"] if lang == "en" else g["reasons"])[:-1])
                 for g in data.gaps["gaps"] if g["open"]]
    rules = data.check["rules"]
    html = env.get_template("report.html").render(
        **_base_context(data, w),
        css_title=Markup(_css_string(w("report.title"))), css_month=Markup(_css_string(w.month(data.as_of))),
        metric_label=w.metric, highlights=_highlights(data, w), sections=SECTIONS if data.maps else
        tuple(s for s in SECTIONS if s != "maps"), target_rows=TARGET_ROWS, gap_lines=_gap_lines(data, w),
        charts=svgs, drivers=[d for d in drivers if d[2]],
        groups=[("units", _group_rows(data, "unit"), svgs["units"]), ("chains", _group_rows(data, "chain"), svgs["chains"])],
        basis_note=w("report.basis", basis=basis), kinds=chains.KINDS,
        violation_text="；".join(f"{w('report.rule.' + k)} {v}" for k, v in data.check["violation_counts"].items()),
        after_text=w("report.gaps.after", **counts), open_gaps=open_gaps,
        disagreements=data.gaps["role_disagreements"][:DISAGREEMENTS_TOP],
        previous=data.previous.month if data.previous else None,
        previous_is_last_month=data.previous is not None and data.previous.month == _previous_month(data.as_of),
        facts=_facts(data), change_tables=_change_tables(data, w),
        notes=[w("report.notes.status", text=rules["status"]), w("report.notes.flag", text=rules["flag"]),
               w("report.notes.forecast", text=rules["forecast"]), w("report.notes.gaps"),
               w("report.notes.money"), w("report.notes.snapshot", month=data.month)],
    )
    return str(html)


def _previous_month(when: date) -> str:
    return (date(when.year - 1, 12, 1) if when.month == 1 else date(when.year, when.month - 1, 1)).strftime("%Y-%m")


def render_markdown(data: ReportData, lang: str = "zh") -> str:
    """A one-page plain summary for messaging and e-mail: targets, top lagging, top gaps, changes."""
    w = _Words(lang)
    lagging = []
    for r in data.check["lagging_projects"][:5]:
        flag = w.flag(r["flag"]) + (f"·{w('report.lagging.stalled')}" if r["stalled"] else "")
        line = w("report.md.lagging_item", name=_md(r["name"]), unit=_md(r["unit_name"]),
                 expected=fmt_wan(r["expected_wan"]), done=fmt_wan(r["completed_wan"]),
                 ratio=fmt_pct(r["performance"]), flag=flag)
        if r["open_problems"]:
            line += w("report.md.problem", text=_md(r["open_problems"]))
        lagging.append(line)
    open_gaps = sorted((g for g in data.gaps["gaps"] if g["open"]), key=lambda g: (-g["score"], g["node_id"]))[:5]
    gap_items = [w("report.md.gap_item", chain=_md(g["chain"]), node=_md(g["node"]), kind=w.kind(g["kind"]),
                   score=f"{g['score']:.3f}", reason=_md((g["reasons_en"] if lang == "en" else g["reasons"])[0]))
                 for g in open_gaps]
    highlights = _highlights(data, w)
    stem = FILE_STEM.format(month=data.month)
    text = _env(html=False).get_template("report.md").render(
        **_base_context(data, w),
        metric_lines=_metric_lines(data, w), gap_lines=_gap_lines(data, w), lagging_lines=lagging,
        gap_items=gap_items, change_line=highlights[-1],
        fact_lines=[f"{w('report.changes.' + k)}：{v}" if lang == "zh" else f"{w('report.changes.' + k)}: {v}"
                    for k, v in _facts(data)],
        files={"html": f"{stem}.html", "xlsx": f"{stem}.xlsx"},
    )
    return str(text)


def _yi_cols(frame: pl.DataFrame, names: dict[str, str]) -> pl.DataFrame:
    """Select and rename columns; 万元 columns whose new header says 亿元 are divided by 10,000."""
    return frame.select([
        (pl.col(src).cast(pl.Float64) / config.WAN_PER_YI).alias(dst) if dst.endswith("（亿元）")
        else pl.col(src).alias(dst)
        for src, dst in names.items()
    ])


def report_sheets(data: ReportData, lang: str = "zh") -> dict[str, pl.DataFrame]:
    """The xlsx tables: one frame per sheet, headers with their units (亿元 for sums, 万元 for projects)."""
    w = _Words(lang)

    def h(key: str) -> str:
        return w(key if "." in key else f"report.col.{key}")

    def frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
        return pl.DataFrame(rows, infer_schema_length=None)

    metrics = frame(data.check["metrics"]).with_columns(
        pl.col("status").replace_strict({k: w.status(k) for k in ("on_track", "at_risk", "off_track")},
                                        default=None).alias("status"))
    targets_sheet = _yi_cols(metrics, {
        "label": h("metric"), "status": h("status"), "target_wan": h("report.targets.target"),
        "planned_wan": h("report.targets.planned"), "coverage": h("report.targets.coverage"),
        "completed_wan": h("report.targets.completed"), "expected_wan": h("report.targets.expected"),
        "ytd_ratio": h("report.targets.ytd_ratio"), "linear_expected_wan": h("report.targets.linear"),
        "linear_ratio": h("report.targets.linear_ratio"), "forecast_wan": h("report.targets.forecast"),
        "forecast_low_wan": w("report.xlsx.low"), "forecast_high_wan": w("report.xlsx.high"),
        "probability_meet_target": h("report.targets.probability"), "base_wan": w("report.xlsx.base"),
        "implied_growth_pct": w("report.xlsx.growth_pct"),
    })
    monthly_sheet = _yi_cols(data.monthly, {
        "label": h("metric"), "month": h("month"), "completed_wan": h("month_yi"),
        "cumulative_completed_wan": h("cumulative_yi"), "expected_cumulative_wan": h("expected_cum_yi"),
        "linear_cumulative_wan": h("linear_cum_yi"),
    })
    tiers = _yi_cols(frame(data.check["tiers"]), {
        "tier" if lang == "zh" else "tier_en": h("tier"), "count": h("count"), "cumulative_count": h("cumulative"),
        "plan_cumulative_count": h("plan_cumulative"), "cumulative_diff": h("diff"), "plan_wan": h("plan_yi"),
    })
    groups = {}
    for by in ("unit", "chain"):
        rows = frame([dict(r, status=w.status(r["status"])) for r in data.check[f"by_{by}"]])
        rollup = data.unit_rollup if by == "unit" else data.chain_rollup
        key = f"{by}_name"
        rows = rows.join(rollup.select(key, "lagging", "open_problems"), on=key, how="left")
        groups[by] = _yi_cols(rows, {
            "label": h("metric"), key: h(by), "projects": h("projects"), "planned_wan": h("plan_yi"),
            "target_wan": h("target_yi"), "completed_wan": h("completed_yi"), "expected_wan": h("expected_yi"),
            "ytd_ratio": h("ytd_ratio"), "forecast_wan": h("forecast_yi"), "status": h("status"),
            "lagging": h("lagging"), "open_problems": h("open_problems"), "target_basis": h("basis"),
        })
    lagging = data.lagging.with_columns(
        pl.col("flag").replace_strict({k: w.flag(k) for k in FLAG_RANK}, default=None).alias("flag"))
    lagging_sheet = _yi_cols(lagging, {
        "project_id": w("col.project_id"), "name": h("project"), "unit_name": h("unit"), "chain_name": h("chain"),
        "tier": h("tier"), "status": h("status"), "leader": h("leader"), "leader_level": h("level"),
        "annual_plan_wan": h("plan_wan"), "expected_wan": h("expected_wan"), "completed_wan": h("completed_wan"),
        "behind_wan": h("behind_wan"), "performance": h("performance"), "flag": h("flag"), "stalled": h("stalled"),
        "open_problems": h("problems"), "open_problem_level": h("problem_level"),
        "open_problem_months": h("problem_months"),
    })
    violations = _yi_cols(data.violations.with_columns(
        pl.col("rule").replace_strict({k: w(f"report.rule.{k}") for k in
                                       ("no_owner", "below_min_level", "major_below_level")}, default=None)
        .alias("rule")), {
        "rule": h("rule"), "project_id": w("col.project_id"), "name": h("project"), "unit_name": h("unit"),
        "total_investment_wan": h("total_wan"), "is_major": w("col.is_major"), "leader": h("leader"),
        "leader_level": h("level"), "required_level": w("report.xlsx.required_level"), "reason": h("reason"),
    })
    gap_rows = frame([dict(g, kind=w.kind(g["kind"]), reason=(g["reasons_en"] if lang == "en" else g["reasons"]),
                           output_wan=float(g["output_wan"] or 0)) for g in data.gaps["gaps"]]) \
        if data.gaps["gaps"] else pl.DataFrame()
    gap_names = {"kind": h("kind"), "rank": h("rank"), "chain": h("chain"), "node": h("node"), "score": h("score"),
                 "firms": h("firms"), "output_wan": w("col.output_wan"), "addressed_by": h("addressed_by"),
                 "open": h("open"), "reason": h("reasons")}
    gaps_sheet = _yi_cols(gap_rows, gap_names) if gap_rows.height else pl.DataFrame()
    dis = frame(data.gaps["role_disagreements"]) if data.gaps["role_disagreements"] else pl.DataFrame()
    dis_sheet = _yi_cols(dis.with_columns(pl.col("declared_role").replace_strict(
        {k: w.kind(k) for k in chains.KINDS}, default=None).alias("declared_role"),
        pl.col("segment_kind").cast(pl.String).alias("segment_kind")), {
        "project_id": w("col.project_id"), "project": h("project"), "status": h("status"), "chain": h("chain"),
        "node": h("node"), "declared_role": h("declared"), "segment_kind": h("segment_kind"),
        "reason_en" if lang == "en" else "reason": h("reason"),
    }) if dis.height else pl.DataFrame()
    sheets = {
        w("report.sheet.targets"): targets_sheet,
        w("report.sheet.monthly"): monthly_sheet,
        w("report.sheet.drivers"): frame(data.check["drivers"]),
        w("report.sheet.tiers"): tiers,
        w("report.sheet.units"): groups["unit"],
        w("report.sheet.chains"): groups["chain"],
        w("report.sheet.lagging"): lagging_sheet,
        w("report.sheet.responsibility"): _yi_cols(frame(data.check["responsibility"]), {
            "leader_level": h("level"), "count": h("count"), "plan_count": h("plan_count"), "count_diff": h("diff"),
            "cumulative_label": h("basis"), "cumulative_count": h("cumulative"),
            "plan_cumulative_count": h("plan_cumulative")}),
        w("report.sheet.violations"): violations,
        w("report.sheet.gaps"): gaps_sheet,
        w("report.sheet.open_gaps"): gaps_sheet.filter(pl.col(h("open"))) if gaps_sheet.height else gaps_sheet,
        w("report.sheet.disagreements"): dis_sheet,
        w("report.sheet.changes"): _changes_sheet(data, w),
    }
    return sheets


def _changes_sheet(data: ReportData, w: _Words) -> pl.DataFrame:
    """Every change as one row: what changed, the item, before and after."""
    rows: list[dict[str, Any]] = []
    if data.previous is None:
        rows.append({w("report.col.change"): w("report.changes.none_previous")})
    for key, cols, cells, _total in _change_tables(data, w, limit=None):
        for r in cells:
            rows.append({w("report.col.change"): w(f"report.changes.{key}"),
                         w("report.xlsx.item"): " · ".join(r[c["key"]] for c in cols
                                                            if c["key"] in ("project_id", "name", "chain", "node")),
                         w("report.col.before"): next((r[c["key"]] for c in cols if c["key"].endswith("_before")), ""),
                         w("report.col.after"): next((r[c["key"]] for c in cols if c["key"] in ("status", "flag", "kind")
                                                      and key not in ("new_projects", "removed_projects")), ""),
                         w("report.col.reason"): r.get("why") or r.get("open_problems") or ""})
    return pl.DataFrame(rows, infer_schema_length=None)


def render_xlsx(data: ReportData, lang: str = "zh") -> bytes:
    """The report's tables as an Excel workbook (one sheet each; formats, frozen headers, widths)."""
    from . import export

    content = export.write_xlsx(report_sheets(data, lang))
    assert content is not None
    return content


WRITERS: dict[str, tuple[str, Callable[[ReportData, str], str | bytes]]] = {
    "html": ("正在生成 HTML…", render_html),
    "xlsx": ("正在生成 Excel…", render_xlsx),
    "md": ("正在生成 Markdown 摘要…", render_markdown),
}
