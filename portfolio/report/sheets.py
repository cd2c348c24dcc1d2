"""The xlsx workbook of the report: one sheet per table, units in the headers (export.write_xlsx)."""

from __future__ import annotations

from typing import Any

import polars as pl

from .. import chains, config
from .data import FLAG_RANK, ReportData
from .render import (
    Words,
    in_group_order,
    is_allocated,
    month_table,
    scenario_views,
    table_frame,
    yoy_line,
)


def _yi_cols(frame: pl.DataFrame, names: dict[str, str]) -> pl.DataFrame:
    """Select and rename columns; 万元 columns whose new header says 亿元 are divided by 10,000."""
    return frame.select([
        (pl.col(src).cast(pl.Float64) / config.WAN_PER_YI).alias(dst) if dst.endswith("（亿元）")
        else pl.col(src).alias(dst)
        for src, dst in names.items()
    ])


def report_sheets(data: ReportData, lang: str = "zh") -> dict[str, pl.DataFrame]:
    """The xlsx tables: one frame per sheet, headers with their units (亿元 for sums, 万元 for projects).

    Every row of every sheet; :func:`render_xlsx` cuts the lists longer than SHEET_ROWS."""
    w = Words(lang)
    return {w(f"report.sheet.{key}"): frame for key, frame in _sheet_frames(data, w).items()}


def _sheet_frames(data: ReportData, w: Words) -> dict[str, pl.DataFrame]:
    """The sheets by key (``lagging``, ``violations`` … as in ``report.sheet.<key>``)."""
    lang = w.lang

    def h(key: str) -> str:
        return w(key if "." in key else f"report.col.{key}")

    def frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
        return pl.DataFrame(rows, infer_schema_length=None)

    reason = "status_reason_en" if lang == "en" else "status_reason"  # why each check has its status
    metrics = frame([dict(m, yoy_note=yoy_line(m, data.as_of, w)) for m in data.check["metrics"]]).with_columns(
        pl.col("status").replace_strict({k: w.status(k) for k in ("on_track", "at_risk", "off_track")},
                                        default=None).alias("status"),
        *_library_prev(),
    )
    targets_sheet = _yi_cols(metrics, {
        "label": h("metric"), "status": h("status"), reason: h("status_reason"), "target_wan": h("report.targets.target"),
        "planned_wan": h("report.targets.planned"), "coverage": h("report.targets.coverage"),
        "completed_wan": h("report.targets.completed"), "expected_wan": h("report.targets.expected"),
        "ytd_ratio": h("report.targets.ytd_ratio"), "linear_expected_wan": h("report.targets.linear"),
        "linear_ratio": h("report.targets.linear_ratio"), "forecast_wan": h("report.targets.forecast"),
        "forecast_low_wan": w("report.xlsx.low"), "forecast_high_wan": w("report.xlsx.high"),
        "probability_meet_target": h("report.targets.probability"), "base_wan": w("report.xlsx.base"),
        "implied_growth_pct": w("report.xlsx.growth_pct"),
        "official_completed_wan": w("report.xlsx.official_yi"), "completed_prev_wan": w("report.xlsx.official_prev_yi"),
        "yoy_pct": w("report.xlsx.yoy_official"), "official_yoy_pct": w("report.xlsx.yoy_published"),
        "library_prev_wan": w("report.xlsx.library_prev_yi"), "library_yoy_pct": w("report.xlsx.yoy_library"),
        "official_diff_wan": w("report.xlsx.official_diff_yi"),
        "forecast_official_wan": w("report.xlsx.forecast_official_yi"), "yoy_note": w("report.xlsx.yoy_note"),
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
        # units in the order of units.toml, chains in that of chains.toml; an allocated target says so
        basis = {True: w("report.allocated"), False: w("report.basis_value.assigned")}
        rows = frame([dict(r, status=w.status(r["status"]), target_basis=basis[is_allocated(r)])
                      for r in in_group_order(list(data.check[f"by_{by}"]), data, by)]).with_columns(*_library_prev())
        rollup = data.unit_rollup if by == "unit" else data.chain_rollup
        key = f"{by}_name"
        rows = rows.join(rollup.select(key, "lagging", "open_problems"), on=key, how="left", maintain_order="left")
        groups[by] = _yi_cols(rows, {
            "label": h("metric"), key: h(by), "projects": h("projects"), "planned_wan": h("plan_yi"),
            "target_wan": h("target_yi"), "completed_wan": h("completed_yi"), "expected_wan": h("expected_yi"),
            "ytd_ratio": h("ytd_ratio"), "library_prev_wan": w("report.xlsx.library_prev_yi"),
            "library_yoy_pct": w("report.xlsx.yoy_library"), "forecast_wan": h("forecast_yi"), "status": h("status"),
            reason: h("status_reason"),
            "lagging": h("lagging"), "open_problems": h("open_problems"), "target_basis": w("report.col.target_basis"),
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
        pl.col("rule").replace_strict({k: w(f"report.rule.{k}", **data.check["rule_words"]) for k in
                                       ("no_owner", "below_min_level", "major_below_level")}, default=None)
        .alias("rule")), {
        "rule": h("rule"), "project_id": w("col.project_id"), "name": h("project"), "unit_name": h("unit"),
        "total_investment_wan": h("total_wan"), "is_major": w("col.is_major"), "leader": h("leader"),
        "leader_level": h("level"), "required_level": w("report.xlsx.required_level"), "reason": h("reason"),
    })
    gap_rows = frame([dict(g, kind=w.kind(g["kind"]), reason=(g["reasons_en"] if lang == "en" else g["reasons"]),
                           addressed_by=_addressed(g, w), output_wan=float(g["output_wan"] or 0))
                      for g in data.gaps["gaps"]]) \
        if data.gaps["gaps"] else pl.DataFrame()
    gap_names = {"kind": h("kind"), "rank": h("rank"), "chain": h("chain"), "node": h("node"), "score": h("score"),
                 "firms": h("firms"), "output_wan": w("col.output_wan"), "addressed_by": h("addressed_by"),
                 "open": h("open"), "reason": h("reasons")}
    gaps_sheet = _yi_cols(gap_rows, gap_names) if gap_rows.height else pl.DataFrame()
    dis = data.disagreements
    dis_sheet = _yi_cols(dis.with_columns(pl.col("declared_role").replace_strict(
        {k: w.kind(k) for k in chains.KINDS}, default=None).alias("declared_role"),
        pl.col("segment_kind").cast(pl.String).alias("segment_kind")), {
        "project_id": w("col.project_id"), "project": h("project"), "status": h("status"), "chain": h("chain"),
        "node": h("node"), "declared_role": h("declared"), "segment_kind": h("segment_kind"),
        "reason_en" if lang == "en" else "reason": h("reason"),
    }) if dis.height else pl.DataFrame()
    drivers = frame(data.check["drivers"]) if data.check["drivers"] else pl.DataFrame()
    drivers_sheet = _yi_cols(drivers.with_columns(
        pl.col("metric").replace_strict({m: w(f"metric.{m}") for m in drivers["metric"].unique()},
                                        default=None).alias("metric"),
        pl.col("role").replace_strict({"shortfall": w("report.xlsx.role_shortfall"),
                                       "accelerate": w("report.xlsx.role_accelerate")},
                                      default=pl.col("role")).alias("role"),
    ), {
        "metric": h("metric"), "role": w("report.xlsx.role"), "rank": h("rank"),
        "project_id": w("col.project_id"), "name": h("project"), "unit_name": h("unit"),
        "chain_name": h("chain"), "leader": h("leader"), "annual_plan_wan": h("plan_wan"),
        "completed_wan": h("completed_wan"), "expected_wan": h("expected_wan"),
        "performance": h("performance"), "forecast_wan": w("report.xlsx.forecast_wan"),
        "forecast_gap_wan": h("forecast_gap_wan"), "gap_share": h("gap_share"),
        "achievable_extra_wan": w("report.xlsx.extra_wan"),
        "cumulative_extra_wan": w("report.xlsx.cumulative_extra_wan"), "closes_gap": w("report.xlsx.closes_gap"),
    }) if drivers.height else pl.DataFrame()
    sheets = {
        "targets": targets_sheet,
        "monthly": monthly_sheet,
        "official": _official_sheet(data, w),
        "drivers": drivers_sheet,
        "tiers": tiers,
        "units": groups["unit"],
        "chains": groups["chain"],
        "lagging": lagging_sheet,
        "responsibility": _yi_cols(frame(data.check["responsibility"]), {
            "leader_level": h("level"), "count": h("count"), "plan_count": h("plan_count"), "count_diff": h("diff"),
            "cumulative_label": h("basis"), "cumulative_count": h("cumulative"),
            "plan_cumulative_count": h("plan_cumulative")}),
        "violations": violations,
        "gaps": gaps_sheet,
        "open_gaps": gaps_sheet.filter(pl.col(h("open"))) if gaps_sheet.height else gaps_sheet,
        "disagreements": dis_sheet,
        "new_problems": _new_problems_sheet(data, w),
    }
    if data.previous is not None:  # the first report in a folder has nothing to compare with
        sheets["changes"] = _changes_sheet(data, w)
    if data.scenarios:  # the appendix: saved scenarios named by ``--scenario``
        sheets["scenarios"] = _scenarios_sheet(data, w)
    return sheets


def _scenarios_sheet(data: ReportData, w: Words) -> pl.DataFrame:
    """Every saved scenario of the appendix as rows: its changes, both metrics, each unit and chain that
    moves (亿元 before, after, change), the segments whose class after the pipeline changes."""
    rows: list[dict[str, Any]] = []
    head = {"scenario": w("report.scen.col.scenario"), "part": w("report.scen.col.part"),
            "metric": w("report.col.metric"), "item": w("report.scen.col.item"),
            "before": w("report.scen.before_yi"), "after": w("report.scen.after_yi"),
            "change": w("report.scen.change_yi"), "detail": w("report.scen.col.detail")}

    def row(name: str, part: str, *, metric: str = "", item: str = "", values: tuple[Any, Any, Any] | None = None,
            detail: str = "") -> None:
        before, after, change = values or (None, None, None)
        rows.append({"scenario": name, "part": w(f"report.scen.part.{part}"), "metric": metric, "item": item,
                     "before": before, "after": after, "change": change, "detail": detail})

    for part, view in zip(data.scenarios, scenario_views(data, w, top=None), strict=True):
        name = view["name"]
        for c in view["changes"] or [w("report.scen.no_change")]:
            row(name, "change", item=c, detail=part.scenario.note or "")
        for m in view["metrics"]:
            row(name, "metric", metric=m["label_shown"],
                values=(m["forecast_wan_before"], m["forecast_wan_after"], m["forecast_change_wan"]),
                detail=w("report.scen.detail", **{k: m[k] for k in ("low", "high", "pb", "pa", "sb", "sa")}))
        for by, kind in (("units", "unit"), ("chains", "chain")):
            for g in view[by]:
                row(name, kind, metric=g["label_shown"], item=g["name"],
                    values=(g["forecast_wan_before"], g["forecast_wan_after"], g["forecast_change_wan"]))
        for g in view["gaps"]:
            row(name, "gap", item=f"{g['chain_name']} · {g['node_name']}", detail=f"{g['before']} → {g['after']}")
    frame = pl.DataFrame(rows, schema={"scenario": pl.String, "part": pl.String, "metric": pl.String,
                                       "item": pl.String, "before": pl.Float64, "after": pl.Float64,
                                       "change": pl.Float64, "detail": pl.String})
    return _yi_cols(frame, head)


def _addressed(gap: dict[str, Any], w: Words) -> list[str]:
    """A gap's pipeline projects for its cell; when ``gaps`` cut the list, the last item says how many in all."""
    ids, count = list(gap["addressed_by"] or []), gap.get("addressed_count")
    if count is not None and count > len(ids):
        ids.append(w("report.xlsx.ids_more", n=f"{count:,}"))
    return ids


def _library_prev() -> list[pl.Expr]:
    """The library's previous-year figure and growth left empty where it holds nothing for last year (not 0)."""
    held = pl.col("library_prev_wan") > 0
    return [pl.when(held).then(pl.col("library_prev_wan")).alias("library_prev_wan"),
            pl.when(held).then(pl.col("library_yoy_pct")).alias("library_yoy_pct")]


def _official_sheet(data: ReportData, w: Words) -> pl.DataFrame:
    """The statistics bureau's figures beside the library's, month by month to the report month.

    The rows of ``v_official_vs_library`` for the plan year; a month without the bureau's figure
    says so in words (说明), its cells stay empty."""
    labels = {m["metric"]: w.metric(m) for m in data.check["metrics"]}
    series = data.official
    if series.is_empty():
        return pl.DataFrame({w("report.xlsx.note"): [w("report.xlsx.no_series")]})
    series = (
        series
        .filter(pl.col("month") <= data.as_of)
        .sort(pl.col("metric").replace_strict({m: i for i, m in enumerate(labels)}, default=len(labels),
                                              return_dtype=pl.Int64), "month")
        .with_columns(
            pl.col("metric").replace_strict(labels, default=pl.col("metric")).alias("label"),
            pl.when(pl.col("official_cumulative_wan").is_null()).then(pl.lit(w("report.yoy.no_official")))
            .when(pl.col("yoy_pct").is_null() & pl.col("official_yoy_pct").is_null())
            .then(pl.lit(w("report.yoy.cell_no_prev_official")))
            .alias("note"),
            *_library_prev(),
            *[pl.col(c).round(2) for c in ("official_yoy_pct", "yoy_pct")],
        )
        .with_columns(pl.col("library_yoy_pct").round(2))
    )
    return _yi_cols(series, {
        "label": w("report.col.metric"), "month": w("report.col.month"),
        "official_cumulative_wan": w("report.xlsx.official_yi"), "official_prev_wan": w("report.xlsx.official_prev_yi"),
        "yoy_pct": w("report.xlsx.yoy_official"), "official_yoy_pct": w("report.xlsx.yoy_published"),
        "library_cumulative_wan": w("report.xlsx.library_yi"), "library_prev_wan": w("report.xlsx.library_prev_yi"),
        "library_yoy_pct": w("report.xlsx.yoy_library"), "difference_wan": w("report.xlsx.official_diff_yi"),
        "library_share": w("report.xlsx.library_share"), "note": w("report.xlsx.note"),
    })


def _new_problems_sheet(data: ReportData, w: Words) -> pl.DataFrame:
    """The projects whose problem was first reported this month, every one."""
    _key, cols, _rows, _total = month_table(data, w, limit=0)
    return table_frame("new_problem_list", data.new_problems, w).rename({c["key"]: c["title"] for c in cols})


def _changes_sheet(data: ReportData, w: Words) -> pl.DataFrame:
    """Every change since the previous snapshot as one row: what changed, the item, before and after."""
    parts = []
    for key, frame in data.changes.items():
        if not frame.height:
            continue
        cells = table_frame(key, frame, w)
        cols = cells.columns
        item = [c for c in cols if c in ("project_id", "name", "chain", "node")]
        before = next((c for c in cols if c.endswith("_before")), None)
        after = next((c for c in cols if c in ("status", "flag", "kind")
                      and key not in ("new_projects", "removed_projects")), None)
        reason = "why" if "why" in cols else "open_problems" if "open_problems" in cols else None
        parts.append(cells.select(
            pl.lit(w(f"report.changes.{key}")).alias(w("report.col.change")),
            pl.concat_str([pl.col(c) for c in item], separator=" · ").alias(w("report.xlsx.item")),
            (pl.col(before) if before else pl.lit("")).alias(w("report.col.before")),
            (pl.col(after) if after else pl.lit("")).alias(w("report.col.after")),
            (pl.col(reason) if reason else pl.lit("")).alias(w("report.col.reason")),
        ))
    return pl.concat(parts) if parts else pl.DataFrame()


def report_book(data: ReportData, lang: str = "zh") -> tuple[dict[str, pl.DataFrame], dict[str, str],
                                                                 dict[str, pl.DataFrame]]:
    """The workbook's sheets (long lists cut at SHEET_ROWS), the titles of the cut sheets, and the whole lists cut.

    A cut sheet's title row says how many rows it shows, how many there are and which CSV holds them all."""
    w = Words(lang)
    frames = _sheet_frames(data, w)
    capped = data.capped()
    sheets: dict[str, pl.DataFrame] = {}
    titles: dict[str, str] = {}
    whole: dict[str, pl.DataFrame] = {}
    for key, frame in frames.items():
        name = w(f"report.sheet.{key}")
        if key in capped:
            whole[key] = frame
            titles[name] = w("report.xlsx.capped", shown=f"{data.sheet_rows:,}", n=f"{frame.height:,}",
                             file=data.list_file(key))
            frame = frame.head(data.sheet_rows)
        sheets[name] = frame
    if "scenarios" in frames:  # a scenario is not the plan: the sheet says so above its header
        titles[w("report.sheet.scenarios")] = w("report.scen.not_plan")
    return sheets, titles, whole


def render_xlsx(data: ReportData, lang: str = "zh") -> bytes:
    """The report's tables as an Excel workbook (one sheet each; formats, frozen headers, widths).

    A list longer than SHEET_ROWS rows shows its first SHEET_ROWS under a title row saying so
    (:func:`report_book`; :func:`write_lists` writes it whole)."""
    from .. import export, fmt

    sheets, titles, _whole = report_book(data, lang)
    # as people read a file: 是/否 for yes/no columns, 红/黄/绿 for flags, months as dates
    sheets = {name: fmt.for_people(frame, lang) for name, frame in sheets.items()}
    content = export.write_xlsx(sheets, titles=titles) if titles else export.write_xlsx(sheets)
    assert content is not None
    return content


def list_frames(data: ReportData, lang: str = "zh") -> dict[str, pl.DataFrame]:
    """The lists the xlsx cut, whole and ready for CSV (lists as text, formulas defused), by key."""
    from .. import export, textsafe

    if not data.capped():
        return {}
    return {key: textsafe.formula_safe_frame(export.flatten(frame, decimals=True))
            for key, frame in report_book(data, lang)[2].items()}
