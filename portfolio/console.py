"""Terminal output: the one module of the library that prints (rich).

The library computes and returns frames and payloads; this module turns them into what a
terminal shows, and nothing else in ``portfolio/`` imports rich (``cli.py`` uses this module).
User text is data here: every plain string goes through :func:`textsafe.visible`, and table
cells are :class:`rich.text.Text`, so a project name holding ``[/red]`` or an ESC sequence is
shown as stored instead of being read as markup or steering the terminal.

Owns: :class:`SafeConsole` (the CLI's stdout/stderr consoles), :func:`shown`, and one
``print_*`` function per command that prints a table: :func:`print_summary` (an import),
:func:`print_result` (an ad-hoc query), :func:`print_batches` (the batch list),
:func:`print_users` (the user list), :func:`print_gaps` (the chain gaps).
"""

from __future__ import annotations

import math
from decimal import Decimal
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from rich.console import Console
from rich.status import Status
from rich.table import Table
from rich.text import Text

from .textsafe import has_control, visible

if TYPE_CHECKING:
    import polars as pl

    from .sandbox import QueryResult

#: A terminal table of more rows is unreadable and slow to lay out (rich: ~1 ms a row).
TABLE_MAX_ROWS = 1_000


class SafeConsole(Console):
    """A console for user text: never markup or emoji codes, control characters shown as escapes.

    Every plain string printed is passed through :func:`textsafe.visible` (newlines kept), so a
    project name holding ``[/red]`` or an ESC sequence is shown as it is stored instead of
    crashing the command or steering the terminal. Styles are given with ``style=`` or
    :class:`rich.text.Text`; tables must be given ``Text`` cells (or rely on ``markup=False``).
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(markup=False, emoji=False, highlight=False, **kwargs)

    def print(self, *objects: Any, **kwargs: Any) -> None:  # noqa: D102 - Console.print
        kwargs["markup"] = kwargs["emoji"] = kwargs["highlight"] = False
        super().print(*(shown(o) for o in objects), **kwargs)

    def status(self, status: Any, **kwargs: Any) -> Status:  # noqa: D102 - Console.status
        return _SafeStatus(_as_text(status), console=self, **kwargs)


class _SafeStatus(Status):
    """A spinner whose message is text, not markup (rich parses a plain string as markup)."""

    def update(self, status: Any = None, **kwargs: Any) -> None:  # noqa: D102 - Status.update
        super().update(None if status is None else _as_text(status), **kwargs)


def _as_text(value: Any) -> Any:
    return Text(visible(value, keep_newlines=True)) if isinstance(value, str) else value


def shown(value: Any) -> Any:
    """``value`` ready for a terminal: text with control characters escaped, tables cell by cell."""
    if isinstance(value, str):
        return visible(value, keep_newlines=True)
    if isinstance(value, Text):
        if not has_control(value.plain):
            return value
        return Text(visible(value.plain, keep_newlines=True), style=value.style, justify=value.justify)
    if isinstance(value, Table):
        value.title, value.caption = shown(value.title), shown(value.caption)
        for column in value.columns:
            column.header, column.footer = shown(column.header), shown(column.footer)
            column._cells = [shown(cell) for cell in column._cells]
    return value


def _say(console: Console, line: str) -> None:
    console.print(Text(visible(line)))


def _text(value: object) -> Text:
    return Text(visible(value))


# --- ingest ----------------------------------------------------------------------------------


def print_summary(payload: dict[str, Any], console: Console, *, max_errors: int = 20) -> None:
    """A short readable summary of an import (``IngestResult.to_dict()``) and its first errors.

    File names, values and reasons are data: never read as markup, control characters shown
    as visible escapes (``textsafe.visible``), whatever console is given.
    """
    from .ingest import KIND_LABELS

    label = KIND_LABELS.get(payload["kind"], payload["kind"])
    _say(console, f"{Path(payload['file']).name}（{label}）：读取 {payload['rows_read']} 行，"
         f"新增 {payload['inserted']}，更新 {payload['updated']}，未变 {payload['unchanged']}，"
         f"拒收 {payload['rejected']}，跳过合计行 {payload['skipped']}。")
    if payload.get("skipped_rows"):
        _say(console, f"跳过的合计/小计行：第 {'、'.join(map(str, payload['skipped_rows'][:20]))} 行。")
    if payload.get("batch") and (payload["inserted"] or payload["updated"]):
        _say(console, f"本次导入记为批次 {payload['batch']}，可用 `portfolio undo {payload['batch']}` 整批撤销。")
    errors = payload["errors"]
    if not errors:
        return
    _say(console, f"拒收明细已写入 {payload['rejects_file']}（共 {len(errors)} 条问题）。")
    table = Table("行号", "列", "值", title=f"前 {min(max_errors, len(errors))} 条问题")
    table.add_column("原因", overflow="fold")
    for e in errors[:max_errors]:
        table.add_row(_text(e["row"]), _text(e["column"]), _text(e["value"]), _text(e["reason"]))
    console.print(table)


# --- sql -------------------------------------------------------------------------------------


def _cell(value: Any) -> Text:
    """A query result's table cell: user text as data (control characters visible, never markup)."""
    from .sandbox import json_text

    if value is None:
        return Text("—", style="dim")
    if isinstance(value, bool):  # as DuckDB, CSV and JSON write it
        return Text("true" if value else "false")
    if isinstance(value, float) and math.isfinite(value):
        if value == 0 or 1e-6 <= abs(value) < 1e15:
            return Text(f"{value:,.6f}".rstrip("0").rstrip("."))
        return Text(repr(value))
    if isinstance(value, Decimal):
        return Text(format(value, "f"))
    if isinstance(value, list | tuple | dict):
        return Text(visible(json_text(value)))
    if isinstance(value, bytes):
        return Text(value.hex())
    return Text(visible(value))


def _result_line(result: QueryResult, *, shown: int | None = None) -> str:
    from .sandbox import human_bytes

    n = result.frame.height
    line = f"{n} 行，用时 {result.elapsed_s:.2f} 秒"
    if shown is not None and shown < n:
        line += f"；表格只列出前 {shown} 行，完整结果请用 --format csv 或 json"
    if result.truncated_by == "bytes":
        line += (f"；结果超过 {human_bytes(result.max_bytes)}，只显示前 {n} 行"
                 "（可用 --max-bytes 调整，或用 --format csv / json 导出）")
    elif result.truncated:
        line += f"；结果超过 {result.max_rows} 行，只显示前 {result.max_rows} 行（可用 --max-rows 调整）"
    return line


def print_result(
    result: QueryResult,
    console: Console,
    *,
    fmt: str = "table",
    notices: Console | None = None,
) -> None:
    """Print a query result as a rich table (with a footer), CSV or a JSON array of row objects.

    The table lists at most ``TABLE_MAX_ROWS`` rows (the footer says so); CSV and JSON carry
    every row of the result. For ``csv`` and ``json`` stdout carries only the data; the
    truncation notice goes to ``notices`` (stderr by default) so a redirected file stays clean.
    Text from the data is never read as markup and its control characters are shown escaped.
    """
    from .sandbox import QueryRefused, write_frame

    if fmt == "table":
        table = Table(show_header=True, header_style="bold", show_lines=False)
        frame = result.frame.head(TABLE_MAX_ROWS)
        for name, dtype in frame.schema.items():
            table.add_column(Text(visible(name)), justify="right" if dtype.is_numeric() else "left",
                             overflow="fold")
        for row in frame.iter_rows():
            table.add_row(*(_cell(v) for v in row))
        console.print(table)
        console.print(Text(_result_line(result, shown=frame.height)))
        return
    if fmt not in ("csv", "json"):
        raise QueryRefused("bad_option", what=f"不支持的输出格式 {fmt!r}；可选 table、csv、json。")
    # straight to the console's file: rich would expand tabs and could wrap lines of data
    stream: IO[str] = console.file
    write_frame(result.frame, stream, fmt=fmt)
    if result.truncated:
        (notices or Console(stderr=True, markup=False, emoji=False, highlight=False)).print(
            Text(_result_line(result)))


# --- batches and users -----------------------------------------------------------------------


def print_batches(frame: pl.DataFrame, console: Console) -> None:
    """The batch list (``batches.list_batches``) as a terminal table."""
    from .batches import COUNT_LABELS, KIND_LABELS

    table = Table("批次", "时间", "操作人", "类型", "来源（数据表）", "行数", "撤销")
    for col in table.columns[:2]:
        col.no_wrap = True
    for row in frame.iter_rows(named=True):
        counts = " ".join(f"{label} {row[c]:,}" for c, label in COUNT_LABELS.items() if row[c])
        state = (f"已被 {row['undone_by']} 撤销" if row["undone_by"] is not None
                 else f"撤销 {row['undoes']}" if row["undoes"] is not None else "")
        cells = [str(row["batch"]), f"{row['at']:%Y-%m-%d %H:%M}", visible(row["actor"]),
                 KIND_LABELS.get(row["kind"], row["kind"]),
                 f"{visible(row['source'] or '')}（{row['table'] or '—'}）", counts or "无变化", state]
        table.add_row(*(Text(c) for c in cells))  # Text: never read as markup
    console.print(table, markup=False)


def print_users(users: pl.DataFrame, console: Console) -> None:
    """The user list (``access.list_users``) as a terminal table."""
    from .access import ROLE_LABELS

    table = Table("用户", "姓名", "角色", "单位", "启用")
    for row in users.iter_rows(named=True):
        cells = (row["user_id"], row["name"] or "", ROLE_LABELS.get(row["role"], row["role"]),
                 row["unit_id"] or "", "是" if row["active"] else "否")
        table.add_row(*(_text(c) for c in cells))
    console.print(table)


# --- gaps ------------------------------------------------------------------------------------


def print_gaps(result: dict[str, Any], console: Console) -> None:
    """A gaps report (``chains.gaps_report``) as rich tables in Chinese.

    Chain, segment and project names are data: never read as markup, control characters shown
    as visible escapes, whatever console is given.
    """
    from .chains import CHANGES, KINDS

    def say(line: str, **style: Any) -> None:
        console.print(Text(visible(line), **style))

    def cells(*values: object) -> list[Text]:
        return [_text(v) for v in values]

    summary = Table(title="产业链缺口概览（补链 / 增链 / 丰链）")
    for col in ("产业链", "环节", "已覆盖", *KINDS, "待招商"):
        summary.add_column(col, justify="left" if col == "产业链" else "right")
    for r in result["summary"]["by_chain"]:
        summary.add_row(*cells(r["chain"], r["segments"], r["present"], *(r[k] for k in KINDS), r["open"]))
    console.print(summary)
    for kind in KINDS:
        items = [g for g in result["gaps"] if g["kind"] == kind]
        if not items:
            continue
        table = Table(title=f"{kind}（{len(items)} 个，按得分排序）")
        for col in ("序", "产业链", "环节", "得分", "本地企业", "在库项目"):
            table.add_column(col, justify="right" if col in ("序", "得分", "本地企业") else "left",
                             no_wrap=col != "在库项目")
        for g in items:
            ids = g["addressed_by"]
            projects = ("、".join(ids[:2]) + (f" 等{len(ids)}个" if len(ids) > 2 else "")
                        if ids else "—（招商目标）")
            table.add_row(*cells(g["rank"], g["chain"], g["node"], f"{g['score']:.3f}", g["firms"], projects))
        console.print(table)
        for g in items:
            say(f"  {g['rank']}. {g['node']}：" + "；".join(g["reasons"][:-1]))
    dis = result["role_disagreements"]
    if dis:
        say(f"申报的链上作用与环节类别不一致（{len(dis)} 个项目）", style="bold")
        for d in dis[:30]:
            say(f"  {d['project_id']} {d['project']}：{d['reason']}")
        if len(dis) > 30:
            say(f"  ……其余 {len(dis) - 30} 个见 --json 输出。")
    counts = result["after_pipeline"]["counts"]
    ratio = result["rules"]["new_firm_output_ratio"]
    say("在库项目全部建成后（每个尚非本环节本地企业的建设单位成为一家本地企业，"
        f"年产值按其在库项目总投资 × {ratio:g} 估算）：" + "，".join(f"{CHANGES[c]} {n} 个" for c, n in counts.items()) + "。")
