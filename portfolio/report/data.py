"""Reading the database for the report: one connection session, then everything is in frames.

The target section is the check payload (:func:`portfolio.targets.check_payload`), built once
for the month: the report shows its ``report`` dict and uses the frames it was built from (the
project frame, every lagging project, every violation) for the snapshot, the roll-ups and the
month's facts, instead of computing the parts again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import duckdb
import polars as pl

from .. import chains, monthly, store, targets, units, years
from ..chains.gaps import ADDRESSED_SHOWN
from ..targets.official import official_series

FORMATS = ("html", "xlsx", "md")
#: File names carry the month and stay ASCII so scripts and mail gateways handle them.
FILE_STEM = "portfolio-report-{month}"
#: Rows shown in the HTML (the xlsx has every row).
LAGGING_TOP = 20
VIOLATIONS_TOP = 50
DISAGREEMENTS_TOP = 20
CHANGES_TOP = 30
#: Rows one xlsx sheet holds at most. A longer list (lagging projects, violations, disagreements,
#: new problems, changes: they grow with the library) is cut there; the sheet, the HTML and the
#: Markdown say so, and the whole list is written beside the report as CSV (:data:`LIST_STEM`).
SHEET_ROWS = 100_000
#: The CSV holding every row of a cut sheet: ``portfolio-report-YYYY-MM-lagging.csv``.
LIST_STEM = FILE_STEM + "-{key}"
#: Chain maps drawn: the chains with the most open gaps (then most gaps).
MAPS = 2
FLAG_RANK = {"green": 0, "amber": 1, "red": 2}

Progress = Callable[[str], None]


@dataclass(frozen=True)
class ScenarioPart:
    """A saved scenario applied to the report's month (the appendix): its changes and ``Outcome.report()``."""

    scenario: Any  # portfolio.scenarios.Scenario
    result: dict[str, Any]
    saved_by: str | None = None
    saved_at: datetime | None = None


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
    #: the thresholds behind statuses, flags and the forecast range (targets.toml), for the notes
    rules: dict[str, float] = field(default_factory=dict)
    previous: Snapshot | None = None
    #: the units in the order of units.toml (:func:`portfolio.units.units_frame`): tables list them so
    units: pl.DataFrame = field(default_factory=pl.DataFrame)
    changes: dict[str, pl.DataFrame] = field(default_factory=dict)
    #: the plan year reported (a closed year reads as it was closed)
    year: int = 0
    #: official against library by month of the year (:func:`portfolio.targets.official.official_series`)
    official: pl.DataFrame = field(default_factory=pl.DataFrame)
    #: every role disagreement (``gaps`` lists the first ones and counts them all)
    disagreements: pl.DataFrame = field(default_factory=pl.DataFrame)
    #: saved scenarios applied to the month, one appendix each (``portfolio report --scenario NAME``)
    scenarios: list[ScenarioPart] = field(default_factory=list)

    @property
    def month(self) -> str:
        """The report month as ``YYYY-MM``."""
        return self.as_of.strftime("%Y-%m")

    def list_sizes(self) -> dict[str, int]:
        """Rows of each sheet that lists projects or changes (the sheets a big library makes long)."""
        return {"lagging": self.lagging.height, "violations": self.violations.height,
                "disagreements": self.disagreements.height, "new_problems": self.new_problems.height,
                "changes": sum(frame.height for frame in self.changes.values())}

    @property
    def sheet_rows(self) -> int:
        """Rows one xlsx sheet holds at most (:data:`SHEET_ROWS`, read when asked)."""
        return SHEET_ROWS

    def capped(self) -> dict[str, int]:
        """The lists longer than :data:`SHEET_ROWS` (their sheet is cut, a CSV has them whole): key → rows."""
        return {key: n for key, n in self.list_sizes().items() if n > self.sheet_rows}

    def list_file(self, key: str) -> str:
        """The name of the CSV beside the report that holds every row of list ``key``."""
        return f"{LIST_STEM.format(month=self.month, key=key)}.csv"


def report_year(con: duckdb.DuckDBPyConnection, *, year: int | None = None, as_of: date | None = None) -> int:
    """The plan year to report: ``year``, else the plan year ``as_of`` lies in, else the current one.

    YearError (a ValueError) for a year the database does not hold; ValueError for an ``as_of``
    outside the year."""
    if year is None and as_of is not None and as_of.year in years.plan_years(con):
        year = as_of.year
    found = years.resolve_year(con, year)
    if as_of is not None and as_of.year != found:
        raise ValueError(f"{as_of:%Y-%m} 不在 {found} 计划年度内，请用 --year 选择年度"
                         f"（as-of outside plan year {found}）。")
    return found


def report_month(con: duckdb.DuckDBPyConnection, as_of: date | None, *, year: int | None = None) -> date:
    """The month to report: ``as_of`` if it has progress rows, else the plan year's latest; ValueError if none.

    ``year`` is the plan year (default: the current one)."""
    months = store.progress_months(con, year)
    if as_of is None:
        if not months:
            which = "数据库中没有任何月度进度数据" if year is None else f"{year} 年度没有任何月度进度数据"
            raise ValueError(f"{which}，无法生成报告（no progress rows）。")
        return months[-1]
    if as_of not in months:
        have = f"已有月份：{months[0]:%Y-%m} 至 {months[-1]:%Y-%m}" if months else "数据库中还没有月度进度"
        raise ValueError(f"{as_of:%Y-%m} 没有月度进度数据，无法生成该月报告（{have}）。")
    return as_of


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


#: The per-project columns the report reads (snapshot, month facts, unit and chain roll-ups).
PROJECT_COLUMNS = ("project_id", "name", "status", "flag", "tier", "unit_id", "unit_name", "chain_id", "chain_name",
                   "leader", "leader_level", "stalled", "idle_months", "is_lagging", "has_open_problem", "open_problems",
                   "open_problem_level", "open_problem_since", "total_investment_wan", "annual_plan_wan",
                   "completed_wan", "expected_wan", "forecast_wan")


def report_projects(con: duckdb.DuckDBPyConnection, *, as_of: date) -> pl.DataFrame:
    """Every project of the year of ``as_of`` with only the columns the report reads (``project_status_at``).

    A third of the whole project frame: at a million projects about 160 MB and a quarter of the
    memory to build, where the whole frame's query peaks near 2 GB."""
    cols = ", ".join(PROJECT_COLUMNS)
    return store.fetch(con, f"select {cols} from project_status_at(?) order by project_id", [as_of])


def _snapshot_of(month: str, projects: pl.DataFrame, gap_list: list[dict[str, Any]]) -> Snapshot:
    gap_frame = pl.DataFrame(
        [{"node_id": g["node_id"], "chain": g["chain"], "node": g["node"], "kind": g["kind"],
          "open": g["open"], "addressed": g["addressed_count"]} for g in gap_list],
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


def load_scenarios(con: duckdb.DuckDBPyConnection, names: Sequence[str]) -> list[tuple[Any, dict[str, Any]]]:
    """The saved scenarios named, with who saved them when; ScenarioError (one sentence) for an unknown name."""
    from .. import scenarios as sc

    found = []
    for name in dict.fromkeys(n.strip() for n in names if n.strip()):
        scenario = sc.load(con, name)
        meta = con.execute("select saved_by, saved_at from scenarios where name = ?", [name]).fetchall()[0]
        found.append((scenario, {"saved_by": meta[0], "saved_at": meta[1]}))
    return found


def collect(con: duckdb.DuckDBPyConnection, *, as_of: date | None = None, year: int | None = None,
            now: datetime | None = None, progress: Progress | None = None,
            scenarios: Sequence[str] = ()) -> ReportData:
    """Read everything the report shows from one connection (targets, gaps, months, maps, snapshot).

    ``scenarios`` names saved scenarios to apply to the month, one appendix each; an unknown name
    is a ScenarioError before anything else is read.

    ``year`` is the plan year (default: the year of ``as_of``, else the current one); ``as_of``
    defaults to the year's latest month with progress. Nothing here reads "the current year"
    implicitly, so a closed year's report stays what it was before the rollover."""
    say = progress or (lambda _msg: None)
    chosen = load_scenarios(con, scenarios) if scenarios else []
    year = report_year(con, year=year, as_of=as_of)
    month = report_month(con, as_of, year=year)
    say(f"目标检查（{year} 年度，截至 {month:%Y-%m}）…")
    payload = targets.check_payload(con, as_of=month, year=year, limit=LAGGING_TOP,
                                    violations_limit=VIOLATIONS_TOP)
    cfg, check, lagging, violations = payload.settings, payload.report, payload.lagging, payload.violations
    parts = []
    if chosen:
        from .. import scenarios as sc

        say("情景推演…")
        # the same payload as the report's targets: the appendix's "now" is the report's forecast
        parts = [ScenarioPart(scenario=s, result=sc.apply(con, s, payload=payload).report(), **meta)
                 for s, meta in chosen]
    del payload  # the check's own frames go before the report reads its narrow one
    projects = report_projects(con, as_of=month)
    facts, new_problems = _month_facts(con, as_of=month, projects=projects, cfg=cfg)
    series = monthly.targets_monthly(con, as_of=month, year=year)
    official = official_series(con, year=year)
    say("产业链缺口分析…")
    # one classification of every segment for the gaps and every map (each was one pass over the year's projects)
    analysed = chains.analysis(con, year=year, ids_limit=ADDRESSED_SHOWN)
    gap_payload = chains.payload_of(analysed)
    gaps = gap_payload.report
    maps = []
    for chain_id in _map_chains(gaps):
        nodes, edges = chains.map_frames_of(analysed, chain=chain_id)
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
        units=units.units_frame(con),
        chain_rollup=targets.rollup_of(projects, by="chain"),
        lagging=lagging,
        violations=violations,
        month_facts=facts,
        new_problems=new_problems,
        maps=maps,
        snapshot=_snapshot_of(month.strftime("%Y-%m"), projects, gaps["gaps"]),
        year=year,
        official=official,
        disagreements=gap_payload.disagreements,
        scenarios=parts,
        rules={"on_track": cfg.on_track, "at_risk": cfg.at_risk, "coverage": cfg.coverage_at_risk,
               "green": cfg.green, "amber": cfg.amber, "stalled": cfg.stalled_months,
               "low": cfg.forecast["low_quantile"], "high": cfg.forecast["high_quantile"]},
    )
