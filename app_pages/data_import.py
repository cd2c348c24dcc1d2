"""数据导入: upload a ledger, preview its row-level validation, then import it.

Nothing is written before the Import button: the preview reads the file and validates it on a
read-only connection (``ingest.read_ledger`` + ``ingest.validate``). The import itself is
``ingest.ingest_file``: one transaction, audited under the acting user, limited to their units.
The plan year (``--year``) is picked beside the kind: the current year (then a 年度 column may
name other writable years, as without ``--year``) or a history year before the first plan year.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

import polars as pl
import streamlit as st

from app_pages import ui
from portfolio import access, batches, i18n, ingest, store, years
from portfolio.ingest import preview as changes_of

me = ui.user()
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
KIND_OPTIONS = ["auto", *ingest.KINDS]
#: History years offered before the first plan year (their plans and progress can be imported).
HISTORY_YEARS = 3
#: Rows each preview table shows; the download holds them all.
PREVIEW_ROWS = 200


def kind_label(kind: str) -> str:
    """projects → 项目台账 / Projects ledger."""
    return ui.t(f"im.kind.{kind}")


def year_options() -> tuple[list[int], int]:
    """The years an import may write: the current plan year first, then history years before the
    first one, which stay writable until a year is closed (``years.writable_year``)."""
    current = ui.cached(years.current_year)
    if ui.cached(years.closed_before) is not None:
        return [current], current
    first = min(ui.cached(years.plan_years))
    return [current, *range(first - 1, first - 1 - HISTORY_YEARS, -1)], current


def year_label(year: int, current: int) -> str:
    """2017（当前年度） / 2015（历史年度）."""
    return ui.t("im.year.current" if year == current else "im.year.history", year=year)


def metric_label(metric: str) -> str:
    """industrial_investment → 工业投资 / Industrial investment."""
    return ui.t(f"im.metric.{metric}")


def saved_upload(uploaded: Any) -> Path:
    """The uploaded file saved under its own name in a private temporary folder (once per upload)."""
    saved = st.session_state.get("im_saved")
    if saved and saved["id"] == uploaded.file_id and Path(saved["path"]).exists():
        return Path(saved["path"])
    if saved:
        shutil.rmtree(Path(saved["path"]).parent, ignore_errors=True)
    folder = Path(tempfile.mkdtemp(prefix="portfolio_import_"))
    path = folder / (Path(uploaded.name).name or "ledger.xlsx")
    path.write_bytes(uploaded.getvalue())
    st.session_state["im_saved"] = {"id": uploaded.file_id, "path": str(path)}
    st.session_state.pop("im_result", None)
    return path


def preview(path: Path, kind: str | None, sheet: str | None, year: int | None) -> dict[str, Any]:
    """Read, validate and compare without writing; cached in the session per file, options, language
    and data revision. ``changes`` is what the import would change (``ingest.preview_changes``)."""
    cache_key = (str(path), kind, sheet, year, ui.revision(), str(me.allowed_units if me else None), ui.lang())
    cached = st.session_state.get("im_preview")
    if cached and cached["key"] == cache_key:
        return cached
    ledger = ingest.read_ledger(path, kind=kind, sheet=sheet)
    with store.connect(ui.db_path(), read_only=True) as con:
        valid, errors = ingest.validate(con, ledger, allowed_units=me.allowed_units if me else None, year=year)
        changes = changes_of.preview_changes(con, valid, ledger.kind, lang=ui.lang())
    rejects = path.with_name(f"{path.stem}.rejects.xlsx")
    if errors.height:
        ingest.write_rejects(ledger, errors, rejects)
    result = {"key": cache_key, "ledger": ledger, "valid": valid, "errors": errors, "changes": changes,
              "rejects": rejects if errors.height else None}
    st.session_state["im_preview"] = result
    return result


def uploader_key() -> str:
    """The uploader's key: a new one after each import, so the imported file is no longer offered."""
    gen = int(st.session_state.get("im_upload_gen", 0))
    return "im_file" if gen == 0 else f"im_file_{gen}"


def capped(frame: pl.DataFrame, *, key: str, **kwargs: Any) -> None:
    """The first :data:`PREVIEW_ROWS` rows of a preview table, saying so when more were left out."""
    st.dataframe(frame.head(PREVIEW_ROWS), key=key, hide_index=True, width="stretch", **kwargs)
    if frame.height > PREVIEW_ROWS:
        st.caption(ui.t("pv.capped", n=f"{PREVIEW_ROWS:,}", total=f"{frame.height:,}"))


def show_result(result: dict[str, Any]) -> None:
    """The outcome of the import just done, where the preview and its button were."""
    st.success(ui.t("im.done", file=ui.plain(Path(result["file"]).name), kind=kind_label(result["kind"]),
                    revision=result["revision"]), icon=":material/task_alt:")
    cols = st.columns(6)
    for col, name in zip(cols, ("rows_read", "inserted", "updated", "unchanged", "rejected", "skipped"), strict=True):
        col.metric(ui.t(f"im.count.{name}"), f"{result[name]:,}")
    if result["rejects_file"] and Path(result["rejects_file"]).exists():
        rejects_button(result["rejects_file"], "im_rejects_after")
    st.caption(ui.t("pv.import_another"))


def rejects_button(path: str | Path, key: str) -> None:
    """Download a rejects file (the errors with the original cells of their rows)."""
    target = Path(path)
    st.download_button(ui.t("im.rejects_download"), data=target.read_bytes(), file_name=target.name,
                       mime=XLSX if target.suffix == ".xlsx" else "text/csv", key=key,
                       icon=":material/download:", on_click="ignore")


# ---------------------------------------------------------------- 导入记录 (rendered at the bottom)
HISTORY_ROWS = 20
HISTORY_WIDTHS = [0.8, 1.5, 1.6, 0.9, 2.1, 1.1, 2.0, 1.4]


def plain_markdown(text: str) -> str:
    """User text for a Markdown element (alerts): every ASCII punctuation mark escaped, shown as typed."""
    return ui.plain(text)


def batch_source(row: dict[str, Any]) -> str:
    """The file name of an import, or the name of the form an edit came from."""
    source = row["source"] or ""
    key = f"ih.form.{source.removeprefix('form:')}"
    return ui.t(key) if source.startswith("form:") and key in i18n.CATALOGUE else source


def batch_counts(row: dict[str, Any]) -> str:
    """新增 3，更新 12 … (only the counts that are not zero)."""
    parts = [ui.t(f"ih.count.{c}", n=f"{row[c]:,}") for c in store.BATCH_COUNTS if row[c]]
    return ("，" if ui.lang() == "zh" else ", ").join(parts) if parts else ui.t("ih.count.none")


def undo_batch(batch: int) -> None:
    """Undo after the confirmation; the outcome is shown on the next run."""
    st.session_state.pop("ih_confirm", None)
    try:
        with st.spinner(ui.t("ih.undoing")), ui.write_connection() as con:
            done = batches.undo(con, batch, user=me)
    except (batches.UndoRefused, access.PermissionDenied, store.StoreError) as exc:
        st.session_state["ih_error"] = str(exc)
    else:
        st.session_state["ih_done"] = {"batch": batch, "restored": done.restored, "deleted": done.deleted,
                                       "reinserted": done.reinserted, "new": done.batch}
        st.session_state["im_toast"] = ui.t("pv.undone_toast", batch=batch)
    st.rerun()


def confirm_undo(row: dict[str, Any]) -> None:
    """The confirmation step under the chosen batch: what will change, then Yes / Cancel."""
    with st.container(border=True):
        st.warning(ui.t("ih.confirm", batch=row["batch"], updated=f"{row['updated']:,}",
                        inserted=f"{row['inserted']:,}", deleted=f"{row['deleted']:,}"), icon=":material/undo:")
        yes, no, _ = st.columns([1, 1, 4])
        if yes.button(ui.t("ih.yes"), key="ih_yes", type="primary"):
            undo_batch(int(row["batch"]))
        if no.button(ui.t("ih.no"), key="ih_no"):
            st.session_state.pop("ih_confirm", None)
            st.rerun()


def import_history() -> None:
    """导入记录: the latest batches; admins and bureau users may undo one after confirming."""
    st.divider()
    st.subheader(ui.t("ih.title"))
    st.caption(ui.t("ih.intro"))
    may_undo = access.can(me, "undo")
    if not may_undo:
        st.caption(ui.t("ih.read_only"))
    if (error := st.session_state.pop("ih_error", None)) is not None:
        st.error(plain_markdown(error), icon=":material/block:")
    if (done := st.session_state.pop("ih_done", None)) is not None:
        st.success(ui.t("ih.done", **done), icon=":material/task_alt:")
    try:
        with store.connect(ui.db_path(), read_only=True) as con:
            listed = batches.list_batches(con, limit=HISTORY_ROWS)
    except store.StoreError as exc:
        st.error(plain_markdown(str(exc)), icon=":material/block:")
        return
    if listed.is_empty():
        st.info(ui.t("ih.none"))
        return
    st.caption(ui.t("ih.latest", n=listed.height))
    confirm = st.session_state.get("ih_confirm") if may_undo else None
    for col, name in zip(st.columns(HISTORY_WIDTHS), ("batch", "at", "actor", "kind", "source", "table",
                                                       "counts", "state"), strict=True):
        col.caption(ui.t(f"ih.col.{name}"))
    for row in listed.iter_rows(named=True):
        cols = st.columns(HISTORY_WIDTHS, vertical_alignment="center")
        cols[0].text(str(row["batch"]))
        cols[1].text(f"{row['at']:%Y-%m-%d %H:%M}")
        # st.text: user text is never read as Markdown; the tool's own writes are 系统's
        cols[2].text(ui.t("ih.system") if row["actor"] == "system" else row["actor"])
        cols[3].text(ui.t(f"ih.kind.{row['kind']}"))
        cols[4].text(batch_source(row))
        cols[5].text(ui.t(f"ih.table.{row['table']}") if row["table"] else "—")
        cols[6].text(batch_counts(row))
        changed = row["inserted"] + row["updated"] + row["deleted"] > 0
        if row["undone_by"] is not None:
            cols[7].text(ui.t("ih.undone_by", batch=row["undone_by"]))
        elif may_undo and changed and batches.can_undo(row):
            if cols[7].button(ui.t("ih.undo"), key=f"ih_undo_{row['batch']}", icon=":material/undo:",
                              help=ui.t("ih.undo_help", batch=row["batch"])):
                st.session_state["ih_confirm"] = row["batch"]
                st.rerun()
        elif row["undoes"] is not None:
            cols[7].text(ui.t("ih.undoes", batch=row["undoes"]))
        if confirm == row["batch"]:
            confirm_undo(row)


# ---------------------------------------------------------------- choosing the file
if (toast := st.session_state.pop("im_toast", None)) is not None:  # an import or undo just done
    st.toast(toast, icon=":material/task_alt:")
st.title(ui.t("im.title"))
left, right = st.columns([3, 1], gap="large")
with right, st.container(border=True):
    st.markdown(f"**{ui.t('im.templates')}**")
    st.caption(ui.t("im.templates_help"))
    for kind in ingest.KINDS:
        st.download_button(kind_label(kind), data=lambda k=kind: ingest.template_xlsx(k),
                           file_name=f"导入模板_{ingest.KIND_LABELS[kind]}.xlsx", mime=XLSX, key=f"im_tpl_{kind}",
                           icon=":material/download:", width="stretch", on_click="ignore")
with left:
    st.caption(ui.t("im.intro"))
    c1, c2, c3 = st.columns([2, 1.3, 1.5])
    choice = c1.selectbox(ui.t("im.kind"), KIND_OPTIONS, format_func=kind_label, key=f"im_kind_{ui.lang()}")
    year_list, current_year = year_options()
    picked = int(c2.selectbox(ui.t("im.year"), year_list, key=f"im_year_{ui.lang()}", help=ui.t("im.year_help"),
                              format_func=lambda y: year_label(y, current_year)))
    sheet = c3.text_input(ui.t("im.sheet"), key="im_sheet", placeholder=ui.t("im.sheet_ph")).strip() or None
    # a new key after each import: the imported file, its preview and its button are gone
    uploaded = st.file_uploader(ui.t("im.file"), type=["xlsx", "xlsm", "xls", "csv", "parquet"], key=uploader_key(), help=ui.t("im.file_help"))
# the current year is the default: a 年度 column then places each row (as the CLI without --year)
year = None if picked == current_year else picked

can_import = access.can(me, "import")
if not can_import:
    st.caption(ui.t("im.no_right"))
if uploaded is None:
    if (result := st.session_state.get("im_result")) is not None:
        show_result(result)
    else:
        st.info(ui.t("im.hint"), icon=":material/upload_file:")
    import_history()
    st.stop()

path = saved_upload(uploaded)
kind = None if choice == "auto" else choice
try:
    pv = preview(path, kind, sheet, year)
except (ingest.FileProblem, store.StoreError) as exc:
    st.error(ui.plain(exc), icon=":material/block:")
    import_history()
    st.stop()
ledger: ingest.Ledger = pv["ledger"]
valid: pl.DataFrame = pv["valid"]
errors: pl.DataFrame = pv["errors"]
changes: changes_of.ImportPreview = pv["changes"]

# ---------------------------------------------------------------- the preview
st.subheader(ui.t("im.preview"))
st.caption(ui.t("im.read", file=ui.plain(path.name), kind=kind_label(ledger.kind), row=ledger.header_row,
                sheet=f" · {ledger.sheet}" if ledger.sheet else ""))
if "_year" in valid.columns and valid.height:
    per_year = valid.group_by("_year").len().sort("_year")
    st.caption(ui.t("im.years_read", years="，".join(
        ui.t("im.year_rows", year=y, n=f"{n:,}") for y, n in per_year.iter_rows())))
rejected_rows = errors["row"].n_unique() if errors.height else 0
counts = changes.counts()
cols = st.columns(6)
cols[0].metric(ui.t("im.count.rows_read"), f"{ledger.rows_read:,}")
cols[1].metric(ui.t("im.count.valid"), f"{valid.height:,}")
cols[2].metric(ui.t("im.count.new"), f"{counts['insert']:,}")
cols[3].metric(ui.t("im.count.existing"), f"{valid.height - counts['insert']:,}", help=ui.t("im.existing_help"))
cols[4].metric(ui.t("im.count.rejected"), f"{rejected_rows:,}")
cols[5].metric(ui.t("im.count.skipped"), f"{len(ledger.skipped_rows):,}")
if ledger.skipped_rows:
    st.caption(ui.t("im.skipped_rows", rows="、".join(map(str, ledger.skipped_rows[:50]))))
unit_names = dict(ui.units().select("unit_id", "display_name").iter_rows())
if changes.warnings.height:  # suspicious changes first: they do not block the import, the user checks them
    st.warning(ui.t("pv.warn.count", rows=f"{changes.warned_rows:,}", n=f"{changes.warnings.height:,}"),
               icon=":material/warning:")
    st.markdown(f"**{ui.t('pv.warnings')}**")
    capped(changes.warnings.select(
        pl.col("_row").alias(ui.t("pv.col.row")), pl.col("record").alias(ui.t("pv.col.record")),
        pl.col("message").alias(ui.t("pv.col.warning"))), key="im_warnings")
if changes.changes.height:
    title = ui.t("pv.changes", rows=f"{counts['update']:,}", n=f"{changes.changes.height:,}")
    st.markdown(f"**{title}**")
    capped(changes.changes.select(
        pl.col("_row").alias(ui.t("pv.col.row")), pl.col("record").alias(ui.t("pv.col.record")),
        pl.col("label").alias(ui.t("pv.col.field")), pl.col("old").alias(ui.t("pv.col.old")),
        pl.col("new").alias(ui.t("pv.col.new"))), key="im_changes")
elif valid.height and counts["insert"] < valid.height:
    st.caption(ui.t("pv.no_changes"))

if errors.height:
    st.markdown(f"**{ui.t('im.rejects', n=errors.height, rows=rejected_rows)}**")
    capped(changes_of.display_errors(errors), key="im_errors",
           column_config={"row": ui.t("im.col.row"), "column": ui.t("im.col.column"),
                          "value": ui.t("im.col.value"), "reason": ui.t("im.col.reason")})
    rejects_button(pv["rejects"], "im_rejects_before")
if valid.height:
    st.markdown(f"**{ui.t('im.valid', n=valid.height)}**")
    shown = changes_of.display_rows(valid.head(PREVIEW_ROWS), ledger.kind, changes, lang=ui.lang(),
                                    unit_names=unit_names)
    own = {"_row": "im.col.row", "_action": "im.col.action", "_warnings": "pv.col.warning", "_year": "im.col.year",
           "cumulative_wan": "im.col.cumulative_wan", "yoy_pct": "im.col.yoy_pct"}
    st.dataframe(ui.headers(shown).rename({c: ui.t(k) for c, k in own.items()}, strict=False),
                 hide_index=True, width="stretch", height="auto" if shown.height <= 10 else 400, key="im_valid")
    if valid.height > PREVIEW_ROWS:
        st.caption(ui.t("pv.capped", n=f"{PREVIEW_ROWS:,}", total=f"{valid.height:,}"))
    ui.download_xlsx(lambda: changes_of.preview_sheets(valid, ledger.kind, changes, lang=ui.lang(),
                                                      unit_names=unit_names, errors=errors),
                     f"导入预览_{path.stem}.xlsx", key="im_preview_xlsx", label=ui.t("pv.download"))

# ---------------------------------------------------------------- the import
st.divider()
go = st.button(ui.t("im.go", n=f"{valid.height:,}"), type="primary", key="im_go", icon=":material/publish:",
               disabled=not can_import or valid.is_empty())
if valid.is_empty():
    st.caption(ui.t("im.nothing_valid"))
if go:
    try:
        with st.spinner(ui.t("im.importing")):
            ui.release()  # the import opens the file for writing
            done = ingest.ingest_file(ui.db_path(), path, kind=ledger.kind, sheet=ledger.sheet, year=year,
                                      rejects=path.with_name(f"{path.stem}.rejects.xlsx"),
                                      actor=me.label if me else "app",
                                      allowed_units=me.allowed_units if me else None)
    except (ingest.FileProblem, ingest.ImportFailed, store.StoreError) as exc:
        st.error(ui.plain(exc), icon=":material/block:")
    else:
        # the next run shows the outcome where the preview was, with a toast; the uploader is a new
        # one (its key changes), so the imported file, its preview and the import button are gone
        st.session_state["im_result"] = done.to_dict()
        st.session_state["im_toast"] = ui.t("pv.done_toast", inserted=f"{done.inserted:,}",
                                            updated=f"{done.updated:,}")
        st.session_state["im_upload_gen"] = int(st.session_state.get("im_upload_gen", 0)) + 1
        st.session_state.pop("im_preview", None)
        st.rerun()

import_history()
