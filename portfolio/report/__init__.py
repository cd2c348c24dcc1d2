"""The scheduled monthly report (工业投资与产业链缺口分析月报): HTML, xlsx and Markdown.

One short read-only connection session gathers everything (:func:`collect`); the database is
closed before anything is rendered. The numbers are those of :func:`targets.check_report`
and :func:`chains.gaps_report`. Each run keeps a snapshot of the projects and gaps under
``<out>/snapshots/YYYY-MM/`` so that the next month can say what changed.

Modules: ``data`` (reading), ``snapshots`` (month snapshots, comparison), ``render`` (HTML
and Markdown from ``portfolio/templates``), ``sheets`` (xlsx).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from datetime import date, datetime
from pathlib import Path

import duckdb

from .. import files, store
from .data import (
    CHANGES_TOP,
    DISAGREEMENTS_TOP,
    FILE_STEM,
    FORMATS,
    LAGGING_TOP,
    LIST_STEM,
    MAPS,
    SHEET_ROWS,
    VIOLATIONS_TOP,
    Progress,
    ReportData,
    ScenarioPart,
    Snapshot,
    collect,
    report_month,
    report_year,
)
from .render import fmt_num, fmt_pct, fmt_wan, fmt_yi, render_html, render_markdown
from .sheets import list_frames, render_xlsx, report_book, report_sheets
from .snapshots import (
    SNAPSHOT_DIR,
    compare,
    previous_snapshot,
    snapshot_path,
    write_snapshot,
)

__all__ = [
    "CHANGES_TOP", "DISAGREEMENTS_TOP", "FILE_STEM", "FORMATS", "LAGGING_TOP", "LIST_STEM", "MAPS", "SHEET_ROWS",
    "SNAPSHOT_DIR", "VIOLATIONS_TOP", "WRITERS", "ReportData", "ScenarioPart", "Snapshot", "build_report", "collect", "compare", "memory_limit",
    "fmt_num", "fmt_pct", "fmt_wan", "fmt_yi", "list_frames", "previous_snapshot", "render_html", "render_markdown",
    "render_xlsx", "report_book", "report_month", "report_sheets", "report_year", "snapshot_path", "write_snapshot",
]

WRITERS: dict[str, tuple[str, Callable[[ReportData, str], str | bytes]]] = {
    "html": ("正在生成 HTML…", render_html),
    "xlsx": ("正在生成 Excel…", render_xlsx),
    "md": ("正在生成 Markdown 摘要…", render_markdown),
}


def _earlier_report(path: Path) -> bool:
    """A report file written before outputs were recorded: its month's snapshot is beside it."""
    stem = FILE_STEM.format(month="")
    month = path.stem.removeprefix(stem)
    return (path.stem.startswith(stem) and len(month) == 7
            and (snapshot_path(path.parent, month) / "projects.parquet").is_file())


#: DuckDB's memory while ``portfolio report`` reads the database (environment
#: ``PORTFOLIO_REPORT_MEMORY``, e.g. ``2GB``; ``0`` for DuckDB's own default): a nightly job shares
#: its machine, and DuckDB otherwise keeps what it read cached up to most of the machine's memory.
#: At a million projects the report's peak went from 2.05 GB to 1.42 GB with it, in the same time
#: (docs/report.md). The app's report page sets none: its server's connections share one DuckDB.
REPORT_MEMORY = "800MB"


def memory_limit() -> str | None:
    """The report job's DuckDB memory limit (None: DuckDB's default); ValueError for an unreadable one."""
    text = os.environ.get("PORTFOLIO_REPORT_MEMORY", REPORT_MEMORY).strip()
    if text in ("", "0"):
        return None
    if not re.fullmatch(r"\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)", text, flags=re.IGNORECASE):
        raise ValueError(f"PORTFOLIO_REPORT_MEMORY 应为如 800MB、2GB 的大小，或 0 表示不设上限（got {text!r}）。")
    return text


def _collect(con: duckdb.DuckDBPyConnection, say: Progress, *, limit: str | None, as_of: date | None,
             year: int | None, now: datetime | None, scenarios: Sequence[str]) -> ReportData:
    """:func:`collect` within DuckDB memory ``limit`` (DuckDB's default again after: nothing else
    sets one); read again without it if DuckDB runs out."""
    def read() -> ReportData:
        return collect(con, as_of=as_of, year=year, now=now, progress=say, scenarios=scenarios)

    if limit is None:
        return read()
    try:
        try:
            con.execute(f"set memory_limit = '{limit}'")  # may itself fail: DuckDB holds more already
            return read()
        except duckdb.OutOfMemoryException:
            con.execute("reset memory_limit")
            say(f"在 {limit} 内存上限内读不完，不设上限再读一次…")
            return read()
    finally:
        con.execute("reset memory_limit")


def build_report(db: str | Path | None, *, as_of: date | None = None, year: int | None = None,
                 out_dir: str | Path = "reports", formats: Sequence[str] = FORMATS,
                 progress: Progress | None = None, now: datetime | None = None, lang: str = "zh",
                 scenarios: Sequence[str] = (), memory: str | None = None) -> list[Path]:
    """Write the month's report in the given formats and its snapshot; returns the paths written.

    ``memory`` caps DuckDB's memory while the database is read (``portfolio report`` passes
    :func:`memory_limit`; None: DuckDB's default), put back after.

    A list longer than SHEET_ROWS rows is cut in the xlsx and written whole beside it as CSV
    (``portfolio-report-YYYY-MM-<list>.csv``, among the paths returned).

    ``year`` is the plan year (default: the year of ``as_of``, else the current plan year);
    ``as_of`` defaults to the year's latest month with progress. A closed year's report is the
    one it was before the rollover. Reads the database once, read-only, and closes it before
    rendering; compares with the latest earlier snapshot under ``out_dir``. Same database and
    month → same content apart from the generation time. ValueError (YearError for a year the
    database does not hold) when there is nothing to report.
    """
    say = progress or (lambda _msg: None)
    bad = sorted(set(formats) - set(FORMATS))
    if bad or not formats:
        raise ValueError(f"不支持的格式 {', '.join(bad) or '（空）'}；可选 html、xlsx、md。")
    out = Path(out_dir)
    say("读取数据库…")
    with store.connect(db, read_only=True) as con:
        data = _collect(con, say, limit=memory, as_of=as_of, year=year, now=now, scenarios=scenarios)
    data.previous = previous_snapshot(out, data.month)
    if data.previous is not None:
        data.changes = compare(data.snapshot, data.previous)
    out.mkdir(parents=True, exist_ok=True)
    chosen = [fmt for fmt in FORMATS if fmt in formats]
    # every target is checked before anything is written: all files of a run or none
    db_path = store.resolve_db(db)
    targets = {fmt: files.check_output(out / f"{FILE_STEM.format(month=data.month)}.{fmt}", kind="report",
                                       db=db_path, legacy=_earlier_report)
               for fmt in chosen}
    # a list the xlsx cuts at SHEET_ROWS rows is written whole beside it
    lists = {key: files.check_output(out / data.list_file(key), kind="report", db=db_path)
             for key in (data.capped() if "xlsx" in chosen else {})}
    written = []
    for fmt in chosen:
        message, render = WRITERS[fmt]
        say(message)
        content = render(data, lang)
        path = targets[fmt]
        with files.atomic(path, kind="report") as tmp:
            if isinstance(content, bytes):
                tmp.write_bytes(content)
            else:
                tmp.write_text(content, encoding="utf-8")
        written.append(path)
    if lists:
        say("写出完整清单（CSV）…")
        for key, frame in list_frames(data, lang).items():
            with files.atomic(lists[key], kind="report") as tmp:
                frame.write_csv(tmp, include_bom=True)
            written.append(lists[key])
    say("保存本月快照…")
    write_snapshot(out, data.snapshot)
    return written
