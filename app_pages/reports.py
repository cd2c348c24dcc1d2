"""报告: build the monthly report (``report.build_report``) and download it; earlier reports.

Reports are written to ``$PORTFOLIO_REPORTS``, else to ``reports/`` next to the database, the
same folder a cron job running ``portfolio report --out …`` would fill, so both show up here.
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
MIME = {"html": "text/html", "md": "text/markdown",
        "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}
FORMAT_LABELS = {"html": "HTML", "xlsx": "Excel", "md": "Markdown"}
REPORT_NAME = re.compile(re.escape(report.FILE_STEM).replace(r"\{month\}", r"(\d{4}-\d{2})") + r"\.(html|xlsx|md)$")


def reports_dir() -> Path:
    """$PORTFOLIO_REPORTS, else ``reports/`` next to the database."""
    env = os.environ.get("PORTFOLIO_REPORTS")
    return Path(env) if env else ui.db_path().resolve().parent / "reports"


def found_reports(folder: Path) -> dict[str, dict[str, Path]]:
    """Report files in ``folder`` by month (newest first), then by format."""
    months: dict[str, dict[str, Path]] = {}
    if folder.is_dir():
        for path in folder.iterdir():
            match = REPORT_NAME.match(path.name)
            if match and path.is_file():
                months.setdefault(match.group(1), {})[match.group(2)] = path
    return dict(sorted(months.items(), reverse=True))


def download(path: Path, key: str, *, label: str | None = None) -> None:
    """A download button reading the file only when clicked."""
    fmt = path.suffix.lstrip(".")
    st.download_button(label or FORMAT_LABELS.get(fmt, fmt), data=lambda: path.read_bytes(), file_name=path.name,
                       mime=MIME.get(fmt), key=key, icon=":material/download:", width="stretch")


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
            status.update(label=ui.t("rp.built", month=month, at=f"{datetime.now():%H:%M:%S}"), state="complete",
                          expanded=False)
            st.session_state["rp_built"] = [str(p) for p in paths]

built = [Path(p) for p in st.session_state.get("rp_built", []) if Path(p).is_file()]
if built:
    st.success(ui.t("rp.ready", files="、".join(p.name for p in built)), icon=":material/task_alt:")
    cols = st.columns(len(report.FORMATS) + 1)
    for col, path in zip(cols, built, strict=False):
        with col:
            download(path, f"rp_new_{path.suffix}")

# ---------------------------------------------------------------- earlier reports
st.subheader(ui.t("rp.earlier"))
found = found_reports(folder)
if not found:
    st.info(ui.t("rp.none", folder=str(folder)), icon=":material/folder_open:")
for month, files in found.items():
    with st.container(border=True):
        cols = st.columns([2, 1, 1, 1], vertical_alignment="center")
        newest = max(p.stat().st_mtime for p in files.values())
        cols[0].markdown(f"**{ui.t('rp.month', month=month)}**  \n"
                         f":gray[{ui.t('rp.written', at=f'{datetime.fromtimestamp(newest):%Y-%m-%d %H:%M}')}]")
        for col, fmt in zip(cols[1:], report.FORMATS, strict=True):
            if fmt in files:
                with col:
                    download(files[fmt], f"rp_{month}_{fmt}")
