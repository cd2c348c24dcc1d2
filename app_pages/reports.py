"""报告: build the monthly report (``report.build_report``) and download it; earlier reports.

Reports are written to ``$PORTFOLIO_REPORTS``, else to ``reports/`` next to the database, the
same folder a cron job running ``portfolio report --out …`` would fill, so both show up here.
Every file of a report is offered: the HTML, xlsx and Markdown, and the CSV of each long list
the xlsx cut (``portfolio-report-YYYY-MM-<list>.csv``, docs/report.md).

The downloads read their file only when clicked (``data=callable``) and do not rerun the page
(``on_click="ignore"``): a rerun gives every deferred download a new id and drops the old ones,
so a second button clicked while the first click's rerun was under way asked for an id that no
longer existed ("Deferred file … not found") and its file was lost. Keys come from the month and
the file, so they stay the same from run to run.
"""

from __future__ import annotations

import os
import re
from datetime import datetime
from pathlib import Path

import streamlit as st

from app_pages import ui
from portfolio import access, report, store

me = ui.user()
MIME = {"html": "text/html", "md": "text/markdown", "csv": "text/csv",
        "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}
FORMAT_LABELS = {"html": "HTML", "xlsx": "Excel", "md": "Markdown"}
#: ``portfolio-report-2016-09.html`` (a format) or ``portfolio-report-2016-09-lagging.csv`` (a long list).
REPORT_NAME = re.compile(re.escape(report.FILE_STEM).replace(r"\{month\}", r"(\d{4}-\d{2})")
                         + r"(?:\.(html|xlsx|md)|-([a-z_]+)\.csv)$")


def reports_dir() -> Path:
    """$PORTFOLIO_REPORTS, else ``reports/`` next to the database."""
    env = os.environ.get("PORTFOLIO_REPORTS")
    return Path(env) if env else ui.db_path().resolve().parent / "reports"


def file_kind(path: Path) -> tuple[str, str] | None:
    """``(month, kind)`` of a report file: kind is a format (``html``…) or ``<list>.csv``; None otherwise."""
    match = REPORT_NAME.match(path.name)
    if match is None:
        return None
    return match.group(1), match.group(2) or f"{match.group(3)}.csv"


def found_reports(folder: Path) -> dict[str, dict[str, Path]]:
    """Report files in ``folder`` by month (newest first), then by kind: formats first, then the lists' CSV."""
    months: dict[str, dict[str, Path]] = {}
    if folder.is_dir():
        for path in folder.iterdir():
            kind = file_kind(path)
            if kind and path.is_file():
                months.setdefault(kind[0], {})[kind[1]] = path
    return {month: dict(sorted(files.items(), key=lambda item: order(item[0])))
            for month, files in sorted(months.items(), reverse=True)}


def order(kind: str) -> tuple[int, str]:
    """Formats in the order of ``report.FORMATS``, then the lists' CSV by name."""
    return (report.FORMATS.index(kind), "") if kind in report.FORMATS else (len(report.FORMATS), kind)


def label_of(kind: str) -> str:
    """The button's label: the format, or the list's name with "(CSV)"."""
    if kind in FORMAT_LABELS:
        return FORMAT_LABELS[kind]
    key = kind.removesuffix(".csv")
    name = ui.t(f"rp.list.{key}")  # an unknown key comes back as itself
    return ui.t("rp.list_csv", name=key if name == f"rp.list.{key}" else name)


def download(path: Path, key: str, *, label: str) -> None:
    """A download button reading the file only when clicked, without rerunning the page (see the module doc)."""
    fmt = path.suffix.lstrip(".")
    st.download_button(label, data=lambda: path.read_bytes(), file_name=path.name, mime=MIME.get(fmt), key=key,
                       icon=":material/download:", width="stretch", on_click="ignore")


def downloads(files: dict[str, Path], prefix: str, *, per_row: int = 3) -> None:
    """One button per file, ``per_row`` to a row, keyed ``<prefix>_<kind>`` (stable from run to run)."""
    kinds = list(files)
    for start in range(0, len(kinds), per_row):
        cols = st.columns(per_row)
        for col, kind in zip(cols, kinds[start:start + per_row], strict=False):
            with col:
                download(files[kind], f"{prefix}_{kind.replace('.', '_')}", label=label_of(kind))


folder = reports_dir()
st.title(ui.t("rp.title"))
st.caption(ui.t("rp.intro", folder=str(folder)))

# ---------------------------------------------------------------- build
with st.container(border=True):
    c1, c2, c3 = st.columns([3, 2, 1], vertical_alignment="bottom")
    with c1:
        as_of = ui.month_picker("rp_as_of")
    formats = c2.pills(ui.t("rp.formats"), list(report.FORMATS), selection_mode="multi", default=list(report.FORMATS),
                       format_func=FORMAT_LABELS.get, key="rp_formats")
    allowed = access.can(me, "run_report")
    build = c3.button(ui.t("rp.build"), type="primary", key="rp_build", icon=":material/description:",
                      disabled=not formats or not allowed, width="stretch")
    if not allowed:
        st.caption(ui.t("rp.no_right"))
    elif not formats:
        st.caption(ui.t("rp.pick_format"))

if build:
    month = f"{as_of.year}-{as_of.month:02d}"
    with st.status(ui.t("rp.building", month=month), expanded=True) as status:
        ui.release()  # the report opens the file itself
        try:
            paths = report.build_report(ui.db_path(), as_of=as_of, out_dir=folder, formats=formats,
                                        progress=lambda message: st.write(ui.plain(message)), lang=ui.lang())
        except (store.StoreError, ValueError, OSError) as exc:
            status.update(label=ui.t("rp.failed", month=month), state="error")
            st.error(ui.plain(exc), icon=":material/block:")
        else:
            done = ui.t("rp.built", month=month, at=f"{datetime.now():%H:%M:%S}")
            status.update(label=done, state="complete", expanded=False)
            st.toast(done, icon=":material/task_alt:")  # where the eye is: the status may be off-screen
            st.session_state["rp_built"] = [str(p) for p in paths]

built = [Path(p) for p in st.session_state.get("rp_built", []) if Path(p).is_file()]
if built:
    st.success(ui.t("rp.ready", files="、".join(p.name for p in built)), icon=":material/task_alt:")
    kinds = {kind[1]: p for p in built if (kind := file_kind(p))}
    downloads(dict(sorted(kinds.items(), key=lambda item: order(item[0]))), "rp_new")

# ---------------------------------------------------------------- earlier reports
st.subheader(ui.t("rp.earlier"))
found = found_reports(folder)
if not found:
    st.info(ui.t("rp.none", folder=str(folder)), icon=":material/folder_open:")
for month, files in found.items():
    with st.container(border=True):
        newest = max(p.stat().st_mtime for p in files.values())
        st.markdown(f"**{ui.t('rp.month', month=month)}**　"
                    f":gray[{ui.t('rp.written', at=f'{datetime.fromtimestamp(newest):%Y-%m-%d %H:%M}')}]")
        downloads(files, f"rp_{month}")
