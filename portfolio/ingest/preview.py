"""The import preview: what an import would change, field by field, and what looks suspicious.

:func:`preview_changes` compares a validated ledger with the stored rows through the same
:func:`~portfolio.ingest.writing.diff` the import writes with (a join in DuckDB and polars, no
Python loop per row) and returns an :class:`ImportPreview`:

- ``actions``: every valid row's ``_row``, its record (项目编号, 项目编号 2016-09 …) and what
  the import does with it (insert / update / unchanged);
- ``changes``: one row per changed field of an updated row, old and new value as people write
  them (``形象进度：52.95% → 45%``);
- ``warnings``: one row per suspicious change (形象进度 or the cumulative completion going
  backwards, a month's amount above the project's annual plan, a total investment changed by
  more than half). They never block the import: the user reads them and confirms.

:func:`display_rows` and :func:`display_errors` render the valid rows and the errors for a
page: dates as 2016-09 or 2016-09-01, empty cells blank, amounts with thousands separators,
control characters (CR, LF …) never passed through. Nothing here writes anything.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import duckdb
import polars as pl

from .. import i18n, years
from .catalogue import FIELDS, KEYS, METRIC_LABELS
from .writing import Diff, diff

#: A total investment changed by more than this share of the stored one is flagged.
TOTAL_CHANGE_SHARE = 0.5
#: The warnings, in the order they are listed.
WARNINGS = ("pct_backwards", "pct_below_previous", "cumulative_backwards", "above_plan", "total_jump")
#: Control and direction characters a table cell must not carry (a CR/LF is shown as ⏎).
_CONTROL_RE = r"[\x00-\x09\x0b\x0c\x0e-\x1f\x7f-\x9f\u200e\u200f\u061c\u202a-\u202e\u2066-\u2069]"
_NEWLINE_RE = r"\r\n|\r|\n|\u2028|\u2029"
_PLACEHOLDER = re.compile(r"\{(\w+)\}")


@dataclass
class ImportPreview:
    """What an import of a validated ledger would do (see the module docstring)."""

    kind: str
    actions: pl.DataFrame  # _row, record, action (insert / update / unchanged)
    changes: pl.DataFrame  # _row, record, field, label, old, new, line
    warnings: pl.DataFrame  # _row, record, warning, message

    @property
    def warned_rows(self) -> int:
        """The number of ledger rows with at least one warning."""
        return self.warnings["_row"].n_unique() if self.warnings.height else 0

    def counts(self) -> dict[str, int]:
        """insert / update / unchanged, counted by ledger row."""
        got = dict(self.actions.group_by("action").len().iter_rows())
        return {a: int(got.get(a, 0)) for a in ("insert", "update", "unchanged")}


# ---------------------------------------------------------------- rendering values
def _field_types(kind: str) -> dict[str, str]:
    types = {f.name: f.type for f in FIELDS.get(kind, ())}
    types.update({"year": "year", "_year": "year"})
    return types


def _trim_number(text: pl.Expr) -> pl.Expr:
    """'1500000.00' → '1500000', '52.50' → '52.5' (a number written as people write it)."""
    has_point = text.str.contains(".", literal=True)
    trimmed = text.str.strip_chars_end("0").str.strip_chars_end(".")
    return pl.when(has_point).then(trimmed).otherwise(text)


def _number_text(expr: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    if dtype.is_float():
        expr = expr.round(4)
    return _trim_number(expr.cast(pl.String))


def thousands(expr: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    """A number with thousands separators and no trailing zeros: 1500000.00 → '1,500,000'."""
    text = _number_text(expr, dtype)
    negative = text.str.starts_with("-")
    body = text.str.strip_prefix("-")
    parts = body.str.split_exact(".", 1)
    whole = parts.struct.field("field_0").str.reverse().str.extract_all(r"\d{1,3}").list.join(",").str.reverse()
    frac = parts.struct.field("field_1")
    out = pl.when(frac.is_null()).then(whole).otherwise(pl.concat_str([whole, pl.lit("."), frac]))
    return pl.when(negative).then(pl.lit("-") + out).otherwise(out)


def safe_text(expr: pl.Expr) -> pl.Expr:
    """User text for a table cell: line breaks shown as ⏎, other control and direction characters dropped."""
    return expr.cast(pl.String).str.replace_all(_NEWLINE_RE, "⏎").str.replace_all(_CONTROL_RE, "")


def display_expr(name: str, dtype: pl.DataType, kind: str, *, lang: str = i18n.DEFAULT_LANG,
                 unit: bool = False, source: str | None = None) -> pl.Expr:
    """Field ``name`` (read from column ``source``, default ``name``) as people write it, as String
    (null stays null): 2016-09, 2016-09-01, 1,500,000, 52.95%, 是/否; with ``unit`` an amount
    carries 万元. Text is made safe with :func:`safe_text`."""
    ftype = _field_types(kind).get(name, "")
    col = pl.col(source or name)
    if dtype == pl.Date or isinstance(dtype, pl.Datetime):
        monthly = ftype in ("month", "period") or name == "month"
        return col.dt.strftime("%Y-%m" if monthly else "%Y-%m-%d")
    if dtype == pl.Boolean:
        return pl.when(col).then(pl.lit(i18n.t("pv.yes", lang))).when(col.not_()).then(pl.lit(i18n.t("pv.no", lang)))
    if dtype.is_numeric():
        if ftype in ("pct", "growth") or name.endswith("_pct"):
            return _number_text(col, dtype) + pl.lit("%")
        if ftype == "amount" or name.endswith("_wan"):
            text = thousands(col, dtype)
            return text + pl.lit(i18n.t("pv.unit.wan", lang)) if unit else text
        return _number_text(col, dtype) if ftype != "year" else col.cast(pl.String)
    if name == "metric":
        labels = {m: i18n.t(f"im.metric.{m}", lang) for m in METRIC_LABELS.values()}
        return col.replace_strict(labels, default=safe_text(col), return_dtype=pl.String)
    if name in ("chain_role", "nature", "status", "leader_level", "problem_level") and lang == "en":
        return col.replace_strict(i18n.ENUM_EN, default=safe_text(col), return_dtype=pl.String)
    return safe_text(col)


def field_label(kind: str, name: str, lang: str = i18n.DEFAULT_LANG) -> str:
    """A field's name without its unit: 总投资, 形象进度, 开工时间 (English from the column labels)."""
    key = f"col.{name}"
    if lang == "en" and key in i18n.CATALOGUE:
        text = i18n.t(key, lang)
    else:
        text = next((f.header for f in FIELDS.get(kind, ()) if f.name == name), None) or i18n.t(key, lang)
    return re.sub(r"\s*[（(](万元|%|10k yuan)[)）]$", "", text)


def _template(key: str, lang: str, **values: pl.Expr) -> pl.Expr:
    """A catalogue sentence with its ``{name}`` placeholders filled from expressions, row by row."""
    text = i18n.t(key, lang)
    names = _PLACEHOLDER.findall(text)
    return pl.format(_PLACEHOLDER.sub("{}", text), *(values[n] for n in names))


def _record(table: str) -> pl.Expr:
    """A row's record as the preview names it: CC2016-0001, CC2016-0001 2016-09, 2016-09 工业投资 …"""
    if table == "progress":
        return pl.concat_str([pl.col("project_id"), pl.col("month").dt.strftime("%Y-%m")], separator=" ")
    if table == "plans":
        return pl.concat_str([pl.col("project_id"), pl.col("year").cast(pl.String)], separator=" ")
    if table == "actuals":
        return pl.concat_str([pl.col("month").dt.strftime("%Y-%m"), pl.col("metric")], separator=" ")
    return pl.col(KEYS.get(table, ("project_id",))[0]).cast(pl.String)


# ---------------------------------------------------------------- comparing
def _diffs(con: duckdb.DuckDBPyConnection, valid: pl.DataFrame, kind: str,
           current_year: int | None) -> list[Diff]:
    """The diffs an import of ``valid`` writes: a projects ledger's current-year rows against
    ``projects``, its rows of other plan years against ``plans`` (as :mod:`.plans` writes them)."""
    cols = [c for c in valid.columns if not c.startswith("_")]
    if kind != "projects" or "_year" not in valid.columns:
        return [diff(con, kind, valid.select("_row", *cols))]
    year = years.current_year(con) if current_year is None else current_year
    out = [diff(con, "projects", valid.filter(pl.col("_year") == year).select("_row", *cols))]
    history = valid.filter(pl.col("_year") != year)
    if history.height and "annual_plan_wan" in valid.columns:
        out.append(diff(con, "plans", history.select("_row", "project_id", pl.col("_year").alias("year"),
                                                     "annual_plan_wan")))
    return out


def _changes(d: Diff, kind: str, lang: str) -> pl.DataFrame:
    """One row per changed field of each updated row (vectorised per column, not per row)."""
    updated = d.updated.lazy()
    parts = [
        updated.filter(pl.col(c).ne_missing(pl.col(f"old_{c}"))).select(
            pl.col("_row"),
            _record(d.table).alias("record"),
            pl.lit(c).alias("field"),
            pl.lit(order).alias("_order"),
            pl.lit(field_label(kind, c, lang)).alias("label"),
            display_expr(c, d.schema[c], kind, lang=lang, unit=True, source=f"old_{c}").fill_null("—").alias("old"),
            display_expr(c, d.schema[c], kind, lang=lang, unit=True).fill_null("—").alias("new"),
        )
        for order, c in enumerate(d.values)
    ]
    if not parts or d.updated.is_empty():
        return _empty_changes()
    return pl.concat(parts).collect().with_columns(
        pl.concat_str([pl.col("label"), pl.lit(": " if lang == "en" else "："), pl.col("old"), pl.lit(" → "),
                       pl.col("new")]).alias("line"),
    ).sort("_row", "_order", maintain_order=True).drop("_order")


def _empty_changes() -> pl.DataFrame:
    return pl.DataFrame(schema={"_row": pl.Int64, "record": pl.String, "field": pl.String, "label": pl.String,
                                "old": pl.String, "new": pl.String, "line": pl.String})


def _empty_warnings() -> pl.DataFrame:
    return pl.DataFrame(schema={"_row": pl.Int64, "record": pl.String, "warning": pl.String, "message": pl.String})


def _touched(c: str) -> pl.Expr:
    """The row writes field ``c``: a new row, or an update that changes it."""
    return (pl.col("_action") == "insert") | ((pl.col("_action") == "update") & pl.col(c).ne_missing(pl.col(f"old_{c}")))


def _money(name: str, dtype: pl.DataType, lang: str, source: str | None = None) -> pl.Expr:
    return display_expr(name, dtype, "progress", lang=lang, unit=True, source=source).fill_null("—")


def _warning_rows(frame: pl.LazyFrame, table: str, code: str, message: pl.Expr) -> pl.LazyFrame:
    return frame.select(pl.col("_row").cast(pl.Int64), _record(table).alias("record"),
                        pl.lit(code).alias("warning"), message.alias("message"))


def _progress_warnings(con: duckdb.DuckDBPyConnection, d: Diff, lang: str) -> list[pl.LazyFrame]:
    rows, schema, out = d.rows, d.schema, []
    if "physical_pct" in d.values:
        pct = schema["physical_pct"]
        back = rows.lazy().filter((pl.col("_action") == "update") & (pl.col("physical_pct") < pl.col("old_physical_pct")))
        out.append(_warning_rows(back, "progress", "pct_backwards", _template(
            "pv.warn.pct_backwards", lang,
            old=display_expr("physical_pct", pct, "progress", lang=lang, source="old_physical_pct"),
            new=display_expr("physical_pct", pct, "progress", lang=lang))))
        file = rows.filter(_touched("physical_pct") & pl.col("physical_pct").is_not_null()).select(
            "_row", "project_id", "month", pl.col("physical_pct").cast(pl.Float64))
        keys = rows.select("project_id", "month")
        if file.height:
            below = _sql(con, {"_pv_file": file, "_pv_keys": keys}, """
                with after as (
                    select p.project_id, p.month, p.physical_pct::double as physical_pct from progress p
                    semi join (select distinct project_id from _pv_file) f using (project_id)
                    anti join _pv_keys k using (project_id, month)
                    where p.physical_pct is not null
                    union all
                    select project_id, month, physical_pct from _pv_file
                )
                select f._row, f.project_id, f.month, f.physical_pct, a.month as prev_month, a.physical_pct as prev_pct
                from _pv_file f asof join after a on f.project_id = a.project_id and f.month > a.month
                where f.physical_pct < a.physical_pct""")
            out.append(_warning_rows(below.lazy(), "progress", "pct_below_previous", _template(
                "pv.warn.pct_below_previous", lang,
                month=pl.col("prev_month").dt.strftime("%Y-%m"),
                prev=display_expr("prev_pct", pl.Float64(), "progress", lang=lang),
                new=display_expr("physical_pct", pl.Float64(), "progress", lang=lang))))
    if "completed_wan" in d.values:
        amount = schema["completed_wan"]
        lower = rows.lazy().filter((pl.col("_action") == "update") & (pl.col("completed_wan") < pl.col("old_completed_wan")))
        delta = (pl.col("old_completed_wan") - pl.col("completed_wan")).alias("_delta")
        out.append(_warning_rows(lower.with_columns(delta), "progress", "cumulative_backwards", _template(
            "pv.warn.cumulative_backwards", lang,
            old=_money("completed_wan", amount, lang, "old_completed_wan"),
            new=_money("completed_wan", amount, lang),
            delta=_money("completed_wan", amount, lang, "_delta"))))
        file = rows.filter(_touched("completed_wan")).select("_row", "project_id", "month", "completed_wan")
        if file.height:
            above = _sql(con, {"_pv_file": file}, """
                select f._row, f.project_id, f.month, f.completed_wan, p.annual_plan_wan
                from _pv_file f join plans p on p.project_id = f.project_id and p.year = year(f.month)
                where p.annual_plan_wan is not null and f.completed_wan > p.annual_plan_wan""")
            out.append(_warning_rows(above.lazy(), "progress", "above_plan", _template(
                "pv.warn.above_plan", lang,
                new=_money("completed_wan", amount, lang),
                plan=_money("annual_plan_wan", above.schema["annual_plan_wan"], lang))))
    return out


def _other_warnings(d: Diff, lang: str) -> list[pl.LazyFrame]:
    rows, out = d.rows.lazy(), []
    if d.table == "actuals" and "cumulative_wan" in d.values:
        dtype = d.schema["cumulative_wan"]
        lower = rows.filter((pl.col("_action") == "update") & (pl.col("cumulative_wan") < pl.col("old_cumulative_wan")))
        out.append(_warning_rows(lower, "actuals", "cumulative_backwards", _template(
            "pv.warn.ytd_backwards", lang,
            old=display_expr("cumulative_wan", dtype, "actuals", lang=lang, unit=True, source="old_cumulative_wan"),
            new=display_expr("cumulative_wan", dtype, "actuals", lang=lang, unit=True))))
    if d.table == "projects" and "total_investment_wan" in d.values:
        dtype = d.schema["total_investment_wan"]
        old, new = pl.col("old_total_investment_wan").cast(pl.Float64), pl.col("total_investment_wan").cast(pl.Float64)
        jump = rows.filter((pl.col("_action") == "update") & (old > 0) & ((new - old).abs() > old * TOTAL_CHANGE_SHARE))
        share = ((new / old - 1) * 100).round(1)
        out.append(_warning_rows(jump, "projects", "total_jump", _template(
            "pv.warn.total_jump", lang,
            old=display_expr("total_investment_wan", dtype, "projects", lang=lang, unit=True,
                             source="old_total_investment_wan"),
            new=display_expr("total_investment_wan", dtype, "projects", lang=lang, unit=True),
            share=pl.when(share > 0).then(pl.lit("+")).otherwise(pl.lit("")) + share.cast(pl.String) + pl.lit("%"))))
    return out


def _sql(con: duckdb.DuckDBPyConnection, frames: dict[str, pl.DataFrame], query: str) -> pl.DataFrame:
    """``query`` over ``frames`` registered as views for the length of the call."""
    for name, frame in frames.items():
        con.register(name, frame)
    try:
        return con.sql(query).pl()
    finally:
        for name in frames:
            con.unregister(name)


def preview_changes(con: duckdb.DuckDBPyConnection, valid: pl.DataFrame, kind: str, *,
                    current_year: int | None = None, lang: str = i18n.DEFAULT_LANG) -> ImportPreview:
    """What importing ``valid`` (validated rows of ``kind``, with ``_row``) would change: each row's
    action, the old → new value of every changed field, and the warnings; nothing is written.

    The comparison is the import's own (:func:`~portfolio.ingest.writing.diff`); a projects
    ledger's rows of other plan years compare their plan with that year's ``plans`` row."""
    if valid.is_empty():
        return ImportPreview(kind=kind, actions=pl.DataFrame(schema={"_row": pl.Int64, "record": pl.String,
                                                                     "action": pl.String}),
                             changes=_empty_changes(), warnings=_empty_warnings())
    diffs = _diffs(con, valid, kind, current_year)
    actions = pl.concat([
        d.rows.select(pl.col("_row").cast(pl.Int64), _record(d.table).alias("record"),
                      pl.col("_action").fill_null("unchanged").alias("action"))
        for d in diffs
    ]).sort("_row")
    changes = pl.concat([_changes(d, kind, lang) for d in diffs])
    lazy: list[pl.LazyFrame] = []
    for d in diffs:
        lazy += _progress_warnings(con, d, lang) if d.table == "progress" else _other_warnings(d, lang)
    order = {w: i for i, w in enumerate(WARNINGS)}
    warnings = pl.concat(lazy).collect() if lazy else _empty_warnings()
    # a row going back on its own stored figure says it once (not again against the month before)
    back = warnings.filter(pl.col("warning") == "pct_backwards").select("_row")
    warnings = warnings.filter((pl.col("warning") != "pct_below_previous") | ~pl.col("_row").is_in(back["_row"].implode()))
    warnings = warnings.sort(pl.col("_row"), pl.col("warning").replace_strict(order, return_dtype=pl.Int32))
    return ImportPreview(kind=kind, actions=actions, changes=changes, warnings=warnings)


# ---------------------------------------------------------------- for a page and its download
def display_rows(valid: pl.DataFrame, kind: str, preview: ImportPreview, *, lang: str = i18n.DEFAULT_LANG,
                 unit_names: dict[str, str] | None = None) -> pl.DataFrame:
    """The valid rows as the page shows them, every cell text: ``_row``, ``_action`` (新增 / 更新 /
    不变), ``_year`` where present, the fields (dates as 2016-09-01, months 2016-09, amounts
    1,500,000, empty blank, units by name), then ``_warnings`` (the row's warnings)."""
    action_labels = {a: i18n.t(f"pv.action.{a}", lang) for a in ("insert", "update", "unchanged")}
    notes = preview.warnings.group_by("_row").agg(pl.col("message").str.join("；").alias("_warnings"))
    fields = [c for c in valid.columns if not c.startswith("_")]
    cells = []
    for c in fields:
        expr = display_expr(c, valid.schema[c], kind, lang=lang)
        if c == "unit_id" and unit_names:
            expr = pl.col(c).replace_strict(unit_names, default=safe_text(pl.col(c)), return_dtype=pl.String)
        cells.append(expr.fill_null("").alias(c))
    out = valid.select(pl.col("_row").cast(pl.Int64), *([pl.col("_year")] if "_year" in valid.columns else []), *cells)
    out = (out.join(preview.actions.select("_row", "action"), on="_row", how="left", maintain_order="left")
           .join(notes, on="_row", how="left", maintain_order="left"))
    return out.select(
        "_row",
        pl.col("action").replace_strict(action_labels, default="", return_dtype=pl.String).alias("_action"),
        *(["_year"] if "_year" in out.columns else []),
        *fields,
        pl.col("_warnings").fill_null(""),  # last: the figures come first on a narrow screen
    )


def display_errors(errors: pl.DataFrame) -> pl.DataFrame:
    """The rejects for a page: each cell's value as written (2016-09-01, not 2016-09-01 00:00:00;
    an empty cell blank, never None; line breaks as ⏎)."""
    if errors.is_empty():
        return errors
    value = safe_text(pl.col("value")).str.replace(r"^(\d{4}-\d{2}-\d{2})[ T]00:00:00(\.0+)?$", "$1")
    return errors.with_columns(value.fill_null("").alias("value"), safe_text(pl.col("reason")).alias("reason"))


def preview_sheets(valid: pl.DataFrame, kind: str, preview: ImportPreview, *, lang: str = i18n.DEFAULT_LANG,
                   unit_names: dict[str, str] | None = None,
                   errors: pl.DataFrame | None = None) -> dict[str, pl.DataFrame]:
    """The whole preview as workbook sheets with the page's headers: changes, warnings, valid rows, rejects."""
    t = lambda key: i18n.t(key, lang)  # noqa: E731
    sheets = {
        t("pv.sheet.changes"): preview.changes.select(
            pl.col("_row").alias(t("pv.col.row")), pl.col("record").alias(t("pv.col.record")),
            pl.col("label").alias(t("pv.col.field")), pl.col("old").alias(t("pv.col.old")),
            pl.col("new").alias(t("pv.col.new"))),
        t("pv.sheet.warnings"): preview.warnings.select(
            pl.col("_row").alias(t("pv.col.row")), pl.col("record").alias(t("pv.col.record")),
            pl.col("message").alias(t("pv.col.warning"))),
    }
    rows = display_rows(valid, kind, preview, lang=lang, unit_names=unit_names)
    names = {"_row": t("pv.col.row"), "_action": t("pv.col.action"), "_warnings": t("pv.col.warning"),
             "_year": t("im.col.year")}
    names.update({c: field_header(kind, c, lang) for c in rows.columns if not c.startswith("_")})
    sheets[t("pv.sheet.rows")] = rows.rename(names, strict=False)
    if errors is not None and errors.height:
        sheets[t("pv.sheet.rejects")] = display_errors(errors).rename(
            {"row": t("pv.col.row"), "column": t("im.col.column"), "value": t("im.col.value"),
             "reason": t("im.col.reason")})
    return sheets


def field_header(kind: str, name: str, lang: str = i18n.DEFAULT_LANG) -> str:
    """A field's column header with its unit: 总投资（万元）, 形象进度（%）, 开工时间."""
    key = f"col.{name}"
    if key in i18n.CATALOGUE:
        return i18n.t(key, lang)
    own = {"cumulative_wan": "im.col.cumulative_wan", "yoy_pct": "im.col.yoy_pct"}
    if name in own:
        return i18n.t(own[name], lang)
    return next((f.header for f in FIELDS.get(kind, ()) if f.name == name), name)


__all__ = ["ImportPreview", "TOTAL_CHANGE_SHARE", "WARNINGS", "display_errors", "display_expr", "display_rows",
           "field_header", "field_label", "preview_changes", "preview_sheets", "safe_text", "thousands"]

