"""Rendering the report: HTML (Jinja2 template, inline SVG charts) and the Markdown summary."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import polars as pl

from .. import chains, fmt, targets, units
from ..i18n import t
from .data import CHANGES_TOP, DISAGREEMENTS_TOP, FILE_STEM, FLAG_RANK, ReportData

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
TARGET_ROWS = [
    ("target_wan", "yi", "target"), ("planned_wan", "yi", "planned"), ("coverage", "pct", "coverage"),
    ("completed_wan", "yi", "completed"), ("official_completed_wan", "yoy", "official"),
    ("official_diff_wan", "yoy", "official_diff"), ("yoy_pct", "yoy", "yoy_official"),
    ("library_yoy_pct", "yoy", "yoy_library"),
    ("expected_wan", "yi", "expected"), ("ytd_ratio", "pct", "ytd_ratio"),
    ("linear_expected_wan", "yi", "linear"), ("linear_ratio", "pct", "linear_ratio"),
    ("forecast_wan", "yi", "forecast"), ("_range", "range", "range"),
    ("probability_meet_target", "pct", "probability"), ("implied_growth_pct", "growth", "growth"),
    ("status", "status", "status"), ("status_reason", "reason", "status_reason"),
]
MONTH_NAMES = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
               "October", "November", "December")
SECTIONS = ("targets", "tiers", "units", "chains", "lagging", "responsibility", "gaps", "maps",
            "disagreements", "month", "changes", "scenarios")
#: Units and chains listed per scenario in the HTML and Markdown (the xlsx lists every one that moves).
SCENARIO_TOP = 10


def fmt_yi(value: Any) -> str:
    """万元 shown in 亿元 with two decimals and thousands separators (``—`` for none): :func:`portfolio.fmt.yi`."""
    return fmt.yi(value, 2)


def fmt_wan(value: Any) -> str:
    """万元 shown whole with thousands separators: :func:`portfolio.fmt.wan`."""
    return fmt.wan(value, 0)


def fmt_pct(value: Any) -> str:
    """A ratio as a percentage with one decimal: :func:`portfolio.fmt.pct`."""
    return fmt.pct(value)


def fmt_growth(value: Any) -> str:
    """A growth in percent (``3.1`` = 3.1%) with its sign and one decimal: :func:`portfolio.fmt.growth`."""
    return fmt.growth(value)


def fmt_num(value: Any) -> str:
    """A count with thousands separators: :func:`portfolio.fmt.count`."""
    return fmt.count(value)


def _signed(value: Any) -> str:
    return "—" if value is None else f"{int(value):+,d}"


def _md(text: Any) -> str:
    """Text for Markdown: characters that would start markup or HTML are backslash-escaped."""
    value = "—" if text is None else str(text)
    return "".join("\\" + ch if ch in "\\`*_[]<>|#" else ch for ch in value)


def _css_string(text: str) -> str:
    """Text safe inside a double-quoted CSS string (used in the @page header)."""
    return "".join(f"\\{ord(ch):x} " if ch in '"\\<>&\n' else ch for ch in text)


class Words:
    """Language-bound wording: labels, statuses, flags, kinds, month names."""

    def __init__(self, lang: str) -> None:
        from ..i18n import enum_label

        self.lang = lang
        self._enum = enum_label

    def __call__(self, key: str, **values: object) -> str:
        return t(key, self.lang, **values)

    def status(self, value: str | None) -> str:
        return "—" if value is None else self(f"status.{value}")

    def reason(self, row: dict[str, Any]) -> str:
        """Why a check has its status (built by the library), in this language."""
        value = row.get("status_reason_en" if self.lang == "en" else "status_reason")
        return "—" if value is None else str(value)

    def flag(self, value: str | None) -> str:
        return "—" if value is None else self(f"flag.{value}")

    def kind(self, value: str | None) -> str:
        return "—" if value is None else self._enum(value, self.lang)

    def metric(self, row: dict[str, Any]) -> str:
        return str(row["label"]) if self.lang == "zh" else self(f"metric.{row['metric']}")

    def month(self, when: date) -> str:
        return self("report.month", year=when.year, month=when.month, month_en=MONTH_NAMES[when.month - 1])

    def period(self, when: date) -> str:
        """The months a year-to-date figure covers: ``1–9月`` / ``January–September``."""
        if when.month == 1:
            return self("report.yoy.period_one")
        return self("report.yoy.period", month=when.month, month_en=MONTH_NAMES[when.month - 1])

    def change(self, pct: Any) -> str:
        """A year-on-year growth in words: 增长 3.1% / 下降 4.6% / 持平."""
        value = round(float(pct), 1)
        if value == 0:
            return self("report.yoy.flat")
        return self("report.yoy.up" if value > 0 else "report.yoy.down", pct=f"{abs(value):.1f}%")

    def ids(self, ids: list[str] | None, count: int | None = None) -> str:
        """The first id and how many there are (``count``: the whole list's length when ``ids`` is cut)."""
        ids = ids or []
        n = len(ids) if count is None else count
        more = (f" 等{n}个" if self.lang == "zh" else f" … ({n})") if n > 1 else ""
        return (ids[0] + more) if ids else "—"


def _metric_lines(data: ReportData, w: Words, *, markdown: bool = False) -> list[str]:
    """One sentence per metric, ending with its status and the reason for it."""
    return [
        w("report.hl.metric", label=w.metric(m), done=fmt_yi(m["completed_wan"]), ratio=fmt_pct(m["ytd_ratio"]),
          status=w.status(m["status"]), forecast=fmt_yi(m["forecast_wan"]), low=fmt_yi(m["forecast_low_wan"]),
          high=fmt_yi(m["forecast_high_wan"]), target=fmt_yi(m["target_wan"]),
          reason=_md(w.reason(m)) if markdown else w.reason(m))
        for m in data.check["metrics"]
    ]


def bureau_yoy(m: dict[str, Any]) -> Any:
    """The bureau's year-on-year growth: from its 本年累计 this year and last (``yoy_pct``), else as published."""
    return m.get("yoy_pct") if m.get("yoy_pct") is not None else m.get("official_yoy_pct")


def has_official(m: dict[str, Any]) -> bool:
    """True when the statistics bureau's 本年累计 for the month is in ``actuals``."""
    return m.get("official_completed_wan") is not None


def library_yoy(m: dict[str, Any]) -> Any:
    """The library's year-on-year growth; None where the library holds nothing for last year's months."""
    return m.get("library_yoy_pct") if m.get("library_prev_wan") else None


def yoy_line(m: dict[str, Any], when: date, w: Words, *, markdown: bool = False) -> str:
    """One sentence per metric: the bureau's 本年累计 and 同比, the library's figure, their difference.

    Missing statistics are said in words (暂无统计局数据), never shown as 0."""
    if has_official(m):
        growth = bureau_yoy(m)
        official = (w("report.yoy.official", value=fmt_yi(m["official_completed_wan"]), change=w.change(growth))
                    if growth is not None else
                    w("report.yoy.official_no_prev", value=fmt_yi(m["official_completed_wan"])))
        diff = m.get("official_diff_wan")
        gap = "" if diff is None else w("report.yoy.diff" if diff >= 0 else "report.yoy.diff_negative",
                                        value=fmt_yi(abs(diff)))
    else:
        official, gap = w("report.yoy.no_official"), ""
    lib = library_yoy(m)
    library = (w("report.yoy.library", value=fmt_yi(m["completed_wan"]), change=w.change(lib)) if lib is not None
               else w("report.yoy.library_no_prev", value=fmt_yi(m["completed_wan"])))
    label = w.metric(m)
    return w("report.yoy.line", period=w.period(when), label=_md(label) if markdown else label,
             official=official, library=library, diff=gap)


def yoy_lines(data: ReportData, w: Words, *, markdown: bool = False) -> list[str]:
    """The year-on-year sentence of each metric (:func:`yoy_line`)."""
    return [yoy_line(m, data.as_of, w, markdown=markdown) for m in data.check["metrics"]]


def yoy_cells(m: dict[str, Any], w: Words) -> dict[str, str]:
    """The targets table's cells for the bureau's figure, the difference and both growths, in words where missing."""
    no_official = w("report.yoy.cell_no_official")
    no_prev = w("report.yoy.cell_no_prev")
    official = has_official(m)
    growth, lib = bureau_yoy(m), library_yoy(m)
    return {
        "official_completed_wan": fmt_yi(m["official_completed_wan"]) if official else no_official,
        "official_diff_wan": fmt_yi(m.get("official_diff_wan")) if official else no_official,
        "yoy_pct": (fmt_growth(growth) if growth is not None else no_prev) if official else no_official,
        "library_yoy_pct": fmt_growth(lib) if lib is not None else no_prev,
    }


def _gap_lines(data: ReportData, w: Words) -> list[str]:
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


def _violation_text(data: ReportData, w: Words) -> str:
    """The responsibility issues counted by rule, e.g. ``未落实包保 3 个``."""
    unit = " 个" if w.lang == "zh" else ""
    words = data.check["rule_words"]  # the 包保 rules in force fill the rule names
    return "；".join(f"{w('report.rule.' + k, **words)} {v}{unit}" for k, v in data.check["violation_counts"].items())


def _change_line(data: ReportData, w: Words) -> str:
    """One sentence on what changed since the previous snapshot, or that this is the folder's first report."""
    if data.previous is None:
        return w("report.hl.first")
    c = {k: v.height for k, v in data.changes.items()}
    return w("report.hl.changes", prev=data.previous.month, new=c["new_projects"], status=c["status_changes"],
             worse=c["flags_worsened"], opened=c["gaps_opened"], closed=c["gaps_closed"])


def _highlights(data: ReportData, w: Words) -> list[str]:
    check, summary = data.check, data.gaps["summary"]
    kinds = summary["by_kind"]
    return [
        *_metric_lines(data, w),
        *yoy_lines(data, w),
        w("report.hl.lagging", n=fmt_num(check["lagging_count"]), stalled=fmt_num(check["stalled_count"]),
          problems=fmt_num(check["open_problem_count"])),
        w("report.hl.gaps", total=sum(kinds.values()), fill=kinds["补链"], extend=kinds["增链"],
          enrich=kinds["丰链"], open=summary["open"]),
        w("report.hl.responsibility", text=_violation_text(data, w) or w("report.resp.none").rstrip("。.")),
        _change_line(data, w),
    ]


def _month_done(data: ReportData) -> tuple[Any, Any]:
    rows = data.monthly.filter(pl.col("metric") == "industrial_investment")
    m = data.as_of.month
    this = rows.filter(pl.col("month_index") == m)["completed_wan"]
    before = rows.filter(pl.col("month_index") == m - 1)["completed_wan"]
    return (this[0] if this.len() else None), (before[0] if before.len() else None)


def _facts(data: ReportData) -> list[tuple[str, str]]:
    """This month's figures from the database; the month before's amount only where months are compared."""
    f = data.month_facts
    this, before = _month_done(data)
    facts = [("reported", fmt_num(f["reported"])), ("invested", fmt_num(f["invested"])),
             ("with_problems", fmt_num(f["with_problems"])), ("new_problems", fmt_num(f["new_problems"])),
             ("newly_stalled", fmt_num(f["newly_stalled"])), ("month_done", fmt_yi(this))]
    return facts if data.previous is None else [*facts, ("prev_month_done", fmt_yi(before))]


_COLUMNS = {
    "project_id": ("col.project_id", "c"), "name": ("report.col.project", ""),
    "unit_name": ("report.col.unit", ""), "tier": ("report.col.tier", ""),
    "status": ("report.col.after", "c"), "status_before": ("report.col.before", "c"),
    "flag": ("report.col.after", "c"), "flag_before": ("report.col.before", "c"),
    "total_investment_wan": ("report.col.total_wan", "n"), "chain": ("report.col.chain", ""),
    "node": ("report.col.node", ""), "kind": ("report.col.kind", "c"), "kind_before": ("report.col.before", "c"),
    "why": ("report.col.change", ""), "open_problems": ("report.col.problems", "wrap"),
    "open_problem_level": ("report.col.problem_level", "c"), "leader": ("report.col.leader", ""),
}
_SHOWS = {
    "new_projects": ["project_id", "name", "unit_name", "tier", "status", "total_investment_wan"],
    "removed_projects": ["project_id", "name", "unit_name", "tier", "status", "total_investment_wan"],
    "status_changes": ["project_id", "name", "unit_name", "status_before", "status", "total_investment_wan"],
    "flags_worsened": ["project_id", "name", "unit_name", "flag_before", "flag", "total_investment_wan"],
    "gaps_opened": ["chain", "node", "kind"],
    "gaps_closed": ["chain", "node", "kind", "why"],
    "gaps_reclassified": ["chain", "node", "kind_before", "kind"],
    "new_problem_list": ["project_id", "name", "unit_name", "leader", "open_problems", "open_problem_level"],
}

Table = tuple[str, list[dict[str, str]], list[dict[str, str]], int]


def wan_text(expr: pl.Expr) -> pl.Expr:
    """:func:`fmt_wan` over a column: whole 万元 with thousands separators (half to even), ``—`` for none."""
    value = expr.cast(pl.Float64)
    digits = value.abs().round(0).cast(pl.Int64).cast(pl.String)
    grouped = digits.str.reverse().str.replace_all(r"(\d{3})", "$1,").str.reverse().str.strip_chars_start(",")
    return (pl.when(value.is_null()).then(pl.lit("—"))
            .otherwise(pl.concat_str([pl.when(value < 0).then(pl.lit("-")).otherwise(pl.lit("")), grouped])))


def _filled(template: str, value: pl.Expr) -> pl.Expr:
    """A catalogue sentence with its one ``{n}`` filled from a column."""
    before, _, after = template.partition("\x00")
    return pl.concat_str([pl.lit(before), value.cast(pl.String), pl.lit(after)])


def table_frame(key: str, frame: pl.DataFrame, w: Words) -> pl.DataFrame:
    """The cells of one list as text, one column per shown key (the HTML tables and the xlsx sheets)."""
    cells = []
    for c in _SHOWS[key]:
        col = pl.col(c)
        if c not in frame.columns and c != "why":
            cells.append(pl.lit("—").alias(c))
            continue
        dtype = frame.schema.get(c)
        if c in ("flag", "flag_before"):
            text = col.replace_strict({k: w.flag(k) for k in FLAG_RANK}, default=None, return_dtype=pl.String)
        elif c in ("kind", "kind_before"):
            labels = {v: w.kind(v) for v in frame[c].unique().to_list() if v is not None}
            text = col.replace_strict(labels, default=None, return_dtype=pl.String)
        elif c == "why":
            text = pl.when(pl.col("kind_now").is_null()).then(pl.lit(w("report.changes.no_longer_gap"))) \
                .otherwise(_filled(w("report.changes.now_addressed", n="\x00"), pl.col("addressed_now")))
        elif c.endswith("_wan"):
            text = wan_text(col)
        elif dtype == pl.Boolean:
            text = col.replace_strict({True: "True", False: "False"}, return_dtype=pl.String)
        else:
            text = col.cast(pl.String)
        cells.append(text.fill_null("—").alias(c))
    return frame.select(cells) if frame.height else pl.DataFrame(schema=dict.fromkeys(_SHOWS[key], pl.String))


def _table(key: str, frame: pl.DataFrame, w: Words, limit: int | None) -> Table:
    """(key, columns, formatted rows, total) of one list, its first ``limit`` rows."""
    rows = table_frame(key, frame if limit is None else frame.head(limit), w).to_dicts()
    columns = [{"key": c, "title": w(_COLUMNS[c][0]), "cls": _COLUMNS[c][1]} for c in _SHOWS[key]]
    return key, columns, rows, frame.height


def change_tables(data: ReportData, w: Words, *, limit: int | None = CHANGES_TOP) -> list[Table]:
    """The lists of what changed since the previous snapshot (none without one), the first ``limit`` rows each."""
    return [_table(key, frame, w, limit) for key, frame in data.changes.items()]


def month_table(data: ReportData, w: Words, *, limit: int | None = CHANGES_TOP) -> Table:
    """The projects whose problem was first reported this month (from the database, no snapshot needed)."""
    return _table("new_problem_list", data.new_problems, w, limit)


def group_order(data: ReportData, by: str) -> dict[str | None, int]:
    """Position of each unit (units.toml order) or chain (chains.toml order); others come last."""
    if by == "unit":
        return dict(zip(data.units["unit_id"], data.units["position"], strict=True)) if data.units.height else {}
    return {r["chain_id"]: i for i, r in enumerate(data.gaps["summary"]["by_chain"])}


def in_group_order(rows: list[dict[str, Any]], data: ReportData, by: str) -> list[dict[str, Any]]:
    """Rows of the unit or chain checks by metric, then in the configured order (units.toml, chains.toml)."""
    order = group_order(data, by)
    metrics: dict[Any, int] = {m: i for i, m in enumerate(targets.METRICS)}
    key = f"{by}_id"
    return sorted(rows, key=lambda r: (metrics.get(r.get("metric"), len(metrics)),
                                       order.get(r.get(key), units.UNKNOWN_POSITION), r.get(f"{by}_name") or ""))


def is_allocated(row: dict[str, Any]) -> bool:
    """True for a unit or chain target allocated by plan share (its coverage equals the city's by construction)."""
    return row.get("target_basis") == targets.ALLOCATED


def _group_rows(data: ReportData, by: str) -> list[dict[str, Any]]:
    """Industrial-investment checks per unit or chain with the lagging and problem counts, in configured order."""
    key = "unit_name" if by == "unit" else "chain_name"
    rollup = data.unit_rollup if by == "unit" else data.chain_rollup
    counts = {r[key]: r for r in rollup.select(key, "lagging", "open_problems").iter_rows(named=True)}
    rows = [dict(r, name=r[key], allocated=is_allocated(r), yoy=library_yoy(r),
                 **{k: counts.get(r[key], {}).get(k, 0) for k in ("lagging", "open_problems")})
            for r in data.check[f"by_{by}"] if r["metric"] == "industrial_investment"]
    return in_group_order(rows, data, by)


def _basis_note(data: ReportData, w: Words) -> str:
    """How the unit and chain targets were set: allocated by plan share (so coverage is the city's), or given."""
    rows = [*data.check["by_unit"], *data.check["by_chain"]]
    city = next((m for m in data.check["metrics"] if m["metric"] == "industrial_investment"), None)
    if rows and all(is_allocated(r) for r in rows):
        return w("report.basis.allocated", coverage=fmt_pct(city["coverage"] if city else None))
    if any(is_allocated(r) for r in rows):
        return w("report.basis.mixed", coverage=fmt_pct(city["coverage"] if city else None))
    return w("report.basis.assigned")


def _more(data: ReportData, w: Words) -> Any:
    """The note under a list shown in part: the rest are in the xlsx, or, for a list the xlsx cuts, in its CSV."""
    capped = data.capped()

    def more(key: str, n: int, shown: int) -> str:
        if key in capped:
            return w("report.more_capped", n=fmt_num(n), shown=fmt_num(shown), sheet=w(f"report.sheet.{key}"),
                     cap=fmt_num(data.sheet_rows), file=data.list_file(key))
        return w("report.more_in_xlsx", n=fmt_num(n), shown=shown)

    return more


def _capped_notes(data: ReportData, w: Words) -> list[str]:
    """The line of the notes naming the lists the xlsx cuts and the CSV files that hold them whole."""
    capped = data.capped()
    if not capped:
        return []
    sep = "；" if w.lang == "zh" else "; "
    lists = sep.join(w("report.notes.capped_item", sheet=w(f"report.sheet.{key}"), n=fmt_num(n),
                       file=data.list_file(key)) for key, n in capped.items())
    return [w("report.notes.capped", cap=fmt_num(data.sheet_rows), lists=lists)]


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
    from .. import charts

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


def _base_context(data: ReportData, w: Words) -> dict[str, Any]:
    return {
        "t": w, "lang": w.lang, "month": data.month, "month_label": w.month(data.as_of),
        "generated": data.generated_at.strftime("%Y-%m-%d %H:%M"), "is_sample": data.is_sample,
        "check": data.check, "gaps": data.gaps,
    }


def _yi_change(wan: Any) -> str:
    """A change in 亿元 with its sign and two decimals (the report's 亿元 figures)."""
    return "—" if wan is None else f"{float(wan) / 10_000:+,.2f}"


def _moved(rows: list[dict[str, Any]], top: int | None) -> list[dict[str, Any]]:
    """Units or chains whose forecast moves, the largest move first."""
    ranked = sorted(rows, key=lambda r: (-abs(r.get("forecast_change_wan") or 0.0), r.get("metric") or ""))
    return ranked if top is None else ranked[:top]


def scenario_views(data: ReportData, w: Words, *, markdown: bool = False, top: int | None = SCENARIO_TOP
                   ) -> list[dict[str, Any]]:
    """Each saved scenario of the appendix as text: its changes, both metrics before → after, the units
    and chains that move, the segments whose class after the pipeline changes (HTML, Markdown, xlsx)."""
    def text(value: Any) -> str:
        return _md(value) if markdown else ("—" if value is None else str(value))

    chain_names = {r["chain_id"]: r["chain"] for r in data.gaps["summary"]["by_chain"]}
    views = []
    for part in data.scenarios:
        r, scenario = part.result, part.scenario
        labels = {m["metric"]: w.metric(m) for m in r["metrics"]}
        metrics = [dict(m, label_shown=labels[m["metric"]], before=fmt_yi(m["forecast_wan_before"]),
                        after=fmt_yi(m["forecast_wan_after"]), change=_yi_change(m["forecast_change_wan"]),
                        low=fmt_yi(m["forecast_low_wan_after"]), high=fmt_yi(m["forecast_high_wan_after"]),
                        pb=fmt_pct(m["probability_before"]), pa=fmt_pct(m["probability_after"]),
                        sb=w.status(m["status_before"]), sa=w.status(m["status_after"]))
                   for m in r["metrics"]]
        groups = {}
        for by, key in (("units", "unit_name"), ("chains", "chain_name")):
            groups[by] = [dict(g, label_shown=labels.get(g["metric"], g["metric"]), name=text(g.get(key)),
                               before=fmt_yi(g["forecast_wan_before"]), after=fmt_yi(g["forecast_wan_after"]),
                               change=_yi_change(g["forecast_change_wan"]))
                          for g in _moved(r[by], top)]
        gaps = [dict(g, chain_name=text(chain_names.get(g.get("chain_id"), g.get("chain_id"))), node_name=text(g.get("node")),
                     before=w.kind(g["kind_before"]) if g["kind_before"] else w("report.scen.no_gap"),
                     after=w.kind(g["kind_after"]) if g["kind_after"] else w("report.scen.no_gap"))
                for g in r["gaps"]]
        saved = (w("report.scen.saved", who=text(part.saved_by), when=part.saved_at.strftime("%Y-%m-%d"))
                 if part.saved_at is not None and part.saved_by else "")
        views.append({
            "name": scenario.name or "", "title": w("report.scen.title", name=text(scenario.name)),
            "note": w("report.scen.note", note=text(scenario.note)) if scenario.note else "", "saved": saved,
            "changes": [text(c.describe(w.lang)) for c in scenario.changes],
            "metrics": metrics,
            "metric_lines": [w("report.scen.metric", label=text(m["label_shown"]), **{
                k: m[k] for k in ("before", "after", "change", "low", "high", "pb", "pa", "sb", "sa")})
                for m in metrics],
            "units": groups["units"], "chains": groups["chains"],
            "unit_total": len(r["units"]), "chain_total": len(r["chains"]),
            "moved_lines": [w("report.scen.moved", label=g["label_shown"], name=g["name"], before=g["before"],
                              after=g["after"], change=g["change"]) for g in (*groups["units"], *groups["chains"])],
            "gaps": gaps,
            "gap_lines": [w("report.scen.gap_line", chain=g["chain_name"], node=g["node_name"], before=g["before"],
                            after=g["after"]) for g in gaps],
        })
    return views


def render_html(data: ReportData, lang: str = "zh") -> str:
    """The full report as one self-contained HTML page (inline CSS and SVG, no address outside)."""
    from markupsafe import Markup

    w = Words(lang)
    env = _env(html=True)
    env.filters.update(yi=fmt_yi, wan=fmt_wan, pct=fmt_pct, num=fmt_num, signed=_signed,
                       growth=lambda v: "—" if v is None else f"{v:.1f}%", yoy=fmt_growth,
                       score=lambda v: "—" if v is None else f"{v:.3f}",
                       status=w.status, reason=w.reason, flag=w.flag, kind_text=w.kind, ids=w.ids)
    svgs = _charts(data, lang)
    drivers = [
        (m["metric"], w.metric(m),
         [r for r in data.check["drivers"] if r["metric"] == m["metric"] and r["role"] == "shortfall"][:5])
        for m in data.check["metrics"]
    ]
    counts = data.gaps["after_pipeline"]["counts"]
    open_gaps = [dict(g, reasons_shown=(g["reasons_en"] if lang == "en" else g["reasons"])[:-1])
                 for g in data.gaps["gaps"] if g["open"]]
    rules = {k: f"{v:g}" for k, v in data.rules.items()}
    html = env.get_template("report.html").render(
        **_base_context(data, w),
        css_title=Markup(_css_string(w("report.title"))), css_month=Markup(_css_string(w.month(data.as_of))),
        metric_label=w.metric, highlights=_highlights(data, w), sections=_sections(data),
        target_rows=TARGET_ROWS, gap_lines=_gap_lines(data, w), yoy_lines=yoy_lines(data, w),
        yoy_cells={m["metric"]: yoy_cells(m, w) for m in data.check["metrics"]},
        charts=svgs, drivers=[d for d in drivers if d[2]],
        groups=[("units", _group_rows(data, "unit"), svgs["units"]), ("chains", _group_rows(data, "chain"), svgs["chains"])],
        basis_note=_basis_note(data, w), kinds=chains.KINDS,
        violation_text=_violation_text(data, w),
        after_text=w("report.gaps.after", **counts, **data.gaps["rules"]), open_gaps=open_gaps,
        disagreements=data.gaps["role_disagreements"][:DISAGREEMENTS_TOP],
        previous=data.previous.month if data.previous else None,
        previous_is_last_month=data.previous is not None and data.previous.month == _previous_month(data.as_of),
        facts=_facts(data), change_tables=change_tables(data, w),
        notes=[w("report.notes.status", **rules), w("report.notes.flag", **rules), w("report.notes.forecast", **rules),
               w("report.notes.gaps", **data.gaps["rules"]), w("report.notes.money"), w("report.notes.snapshot", month=data.month),
               *_capped_notes(data, w)],
        first_report=data.previous is None, month_table=month_table(data, w), more=_more(data, w),
        disagreement_total=data.gaps["role_disagreement_summary"]["total"],
        scenarios=scenario_views(data, w),
    )
    return str(html)


def _sections(data: ReportData) -> tuple[str, ...]:
    """The sections shown: no maps without a chain to draw, no comparison without an earlier snapshot."""
    return tuple(s for s in SECTIONS if (s != "maps" or data.maps) and (s != "changes" or data.previous)
                 and (s != "scenarios" or data.scenarios))


def _previous_month(when: date) -> str:
    return (date(when.year - 1, 12, 1) if when.month == 1 else date(when.year, when.month - 1, 1)).strftime("%Y-%m")


def render_markdown(data: ReportData, lang: str = "zh") -> str:
    """A one-page plain summary for messaging and e-mail: targets, top lagging, top gaps, changes."""
    w = Words(lang)
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
    stem = FILE_STEM.format(month=data.month)
    text = _env(html=False).get_template("report.md").render(
        **_base_context(data, w),
        metric_lines=_metric_lines(data, w, markdown=True), yoy_lines=yoy_lines(data, w, markdown=True),
        gap_lines=_gap_lines(data, w), lagging_lines=lagging,
        gap_items=gap_items, change_line=_change_line(data, w), first_report=data.previous is None,
        fact_lines=[f"{w('report.changes.' + k)}：{v}" if lang == "zh" else f"{w('report.changes.' + k)}: {v}"
                    for k, v in _facts(data)],
        files={"html": f"{stem}.html", "xlsx": f"{stem}.xlsx"},
        list_files=("、" if lang == "zh" else ", ").join(data.list_file(key) for key in data.capped()),
        scenarios=scenario_views(data, w, markdown=True, top=5),
    )
    return str(text)
