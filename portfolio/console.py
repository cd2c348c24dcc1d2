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

from . import fmt
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
    from .sandbox import capped_note, human_bytes

    n = result.frame.height
    if result.truncated:
        line = f"{capped_note(n, result.total, exact=result.total_exact)}，用时 {result.elapsed_s:.2f} 秒"
    else:
        line = f"{n} 行，用时 {result.elapsed_s:.2f} 秒"
    if shown is not None and shown < n:
        line += f"；表格只列出前 {shown} 行，完整结果请用 --format csv 或 json"
    if result.truncated_by == "bytes":
        line += (f"；结果超过 {human_bytes(result.max_bytes)}"
                 "（可用 --max-bytes 调整，或用 --format csv / json 导出）")
    elif result.truncated:
        line += "；可用 --max-rows 调整"
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
            say(f"  ……其余 {len(dis) - 30} 个见 --json --all 输出。")
    counts = result["after_pipeline"]["counts"]
    ratio = result["rules"]["new_firm_output_ratio"]
    say("在库项目全部建成后（每个尚非本环节本地企业的建设单位成为一家本地企业，"
        f"年产值按其在库项目总投资 × {ratio:g} 估算）：" + "，".join(f"{CHANGES[c]} {n} 个" for c, n in counts.items()) + "。")
# --- check -----------------------------------------------------------------------------------

STATUS_LABELS = {"on_track": "正常", "at_risk": "有风险", "off_track": "滞后"}
STATUS_STYLE = {"on_track": "green", "at_risk": "yellow", "off_track": "red"}
FLAG_LABELS = {"green": "绿", "amber": "黄", "red": "红"}
WAN_PER_YI = 10_000


def _yi(v: Any) -> str:
    """亿元 with two decimals in the check's detail tables (:func:`portfolio.fmt.yi`)."""
    return fmt.yi(v, 2)


def _pct(v: Any) -> str:
    """A ratio in per cent, one decimal (:func:`portfolio.fmt.pct`)."""
    return fmt.pct(v)


def _dash(v: Any) -> str:
    return "—" if v is None else str(v)


def _status_text(status: str | None) -> Text:
    if status is None:
        return Text("—")
    return Text(STATUS_LABELS.get(status, status), style=STATUS_STYLE.get(status, "white"))


def print_check(report: dict[str, Any], console: Console) -> None:
    """Render a check report (``targets.check_report``) as readable Chinese tables (money in 亿元).

    Each metric's status comes with its reason (``status_reason``). Project, unit and problem
    texts are data: never read as markup, control characters shown as visible escapes.
    """

    def cells(*values: object) -> list[Text]:
        return [v if isinstance(v, Text) else _text(v) for v in values]

    metrics = report["metrics"]
    title = f"{report['year']}年目标检查（截至 {report['as_of']}）" + ("〔示例数据〕" if report.get("is_sample") else "")
    t = Table(title=_text(title))
    t.add_column("项目")
    for x in metrics:
        t.add_column(_text(x["label"]), justify="right")
    rows: list[tuple[str, str]] = [
        ("年度目标（亿元）", "target_wan"), ("项目库年度计划（亿元）", "planned_wan"), ("计划覆盖率", "coverage"),
        ("累计完成（亿元）", "completed_wan"), ("季节预期（亿元）", "expected_wan"), ("季节完成率", "ytd_ratio"),
        ("线性预期（亿元）", "linear_expected_wan"), ("线性完成率（时间进度）", "linear_ratio"),
        ("上年基数（亿元）", "base_wan"), ("年末预测（亿元）", "forecast_wan"), ("预测区间（亿元）", "_range"),
        ("达标概率", "probability_meet_target"), ("预测增速", "implied_growth_pct"), ("状态", "status"),
        ("统计局本年累计（亿元）", "official_completed_wan"), ("统计局上年同期（亿元）", "completed_prev_wan"),
        ("同比（统计口径）", "yoy_pct"), ("差额：统计 − 项目库（亿元）", "official_diff_wan"),
        ("项目库上年同期（亿元）", "library_prev_wan"), ("同比（项目库口径）", "library_yoy_pct"),
    ]
    for label, key in rows:
        row: list[Any] = []
        for x in metrics:
            if key == "_range":
                row.append(f"{_yi(x['forecast_low_wan'])}–{_yi(x['forecast_high_wan'])}")
            elif key == "status":
                row.append(_status_text(x["status"]))
            elif key in ("implied_growth_pct", "yoy_pct", "library_yoy_pct"):
                row.append("—" if x.get(key) is None else f"{x[key]:+.1f}%" if key != "implied_growth_pct"
                           else f"{x[key]:.1f}%")
            elif key.endswith("_wan"):
                row.append(_yi(x.get(key)))
            else:
                row.append(_pct(x[key]))
        t.add_row(label, *cells(*row))
    console.print(t)
    if report.get("without_plan_count"):
        _say(console, f"{report['without_plan_count']} 个结转项目尚无 {report['year']} 年度计划，计划与预测暂按 0 计；"
                      f"请导入年度计划台账（portfolio ingest 文件 --year {report['year']}）。")
    for x in metrics:
        if x.get("official_completed_wan") is None:
            _say(console, f"{x['label']}：暂无统计局 {report['as_of']} 的数据（ingest --kind actuals 导入）。")
    for x in metrics:
        if x.get("status_reason"):
            _say(console, f"{x['label']}：{STATUS_LABELS.get(x['status'], x['status'])}——{x['status_reason']}。")
    for x in metrics:
        gap = x["forecast_gap_wan"]
        if gap is not None and gap > 0:
            n = x.get("projects_to_close_gap")
            how = (f"加速排名前 {n} 个项目可补足" if n else
                   f"全部项目加速最多可补 {_yi(x.get('acceleration_potential_wan'))} 亿元，仍不足")
            _say(console, f"{x['label']}：预测缺口 {_yi(gap)} 亿元；{how}。")

    t = Table(title="投资规模档次（按总投资）")
    for head in ("档次", "项目数", "累计", "原文累计", "差额", "年度计划（亿元）"):
        t.add_column(head, justify="left" if head == "档次" else "right")
    for r in report["tiers"]:
        t.add_row(*cells(r["tier"], r["count"], r["cumulative_count"], r["plan_cumulative_count"],
                         "—" if r["cumulative_diff"] is None else f"{r['cumulative_diff']:+d}",
                         _yi(r["plan_wan"])))
    console.print(t)
    if report.get("below_tier_count"):
        _say(console, f"另有 {report['below_tier_count']} 个项目总投资不足最低档（不计入档次）。")

    t = Table(title="包保责任（最高包保层级）")
    for head in ("层级", "项目数", "原文", "口径", "累计", "原文累计"):
        t.add_column(head, justify="left" if head in ("层级", "口径") else "right")
    for r in report["responsibility"]:
        t.add_row(*cells(r["leader_level"], r["count"], _dash(r["plan_count"]), r["cumulative_label"] or "",
                         _dash(r["cumulative_count"]), _dash(r["plan_cumulative_count"])))
    console.print(t)
    counts = report.get("violation_counts", {})
    names = report.get("violation_labels", {})
    _say(console, "包保问题：" + ("；".join(f"{names.get(k, k)} {v} 个" for k, v in counts.items()) or "无") + "。")

    units = [u for u in report.get("by_unit", []) if u["metric"] == "industrial_investment"]
    if units:
        t = Table(title="分责任单位：工业投资（目标按计划占比分配）")
        for head in ("责任单位", "计划（亿元）", "累计完成（亿元）", "季节完成率", "年末预测（亿元）", "状态"):
            t.add_column(head, justify="left" if head in ("责任单位", "状态") else "right", overflow="fold")
        for u in sorted(units, key=lambda r: r["ytd_ratio"] if r["ytd_ratio"] is not None else 9):
            t.add_row(*cells(u["unit_name"], _yi(u["planned_wan"]), _yi(u["completed_wan"]), _pct(u["ytd_ratio"]),
                             _yi(u["forecast_wan"]), _status_text(u["status"])))
        console.print(t)

    lag = report["lagging_projects"]
    _say(console, f"滞后项目 {report['lagging_count']} 个（停滞 {report['stalled_count']} 个；"
                  f"全库有未解决问题的项目 {report['open_problem_count']} 个）。")
    if lag:
        t = Table(title="滞后最多的项目（前10，按欠完成额）")
        for head in ("项目", "责任单位", "应完成/已完成（亿元）", "完成率", "标识", "存在问题"):
            t.add_column(head, justify="right" if head in ("应完成/已完成（亿元）", "完成率") else "left",
                         overflow="fold")
        for r in lag[:10]:
            flag = FLAG_LABELS.get(r["flag"] or "", "—") + ("·停滞" if r["stalled"] else "")
            problem = f"{r['open_problems']}（{r['open_problem_months']}个月）" if r["open_problems"] else ""
            t.add_row(*cells(r["name"], r["unit_name"] or "", f"{_yi(r['expected_wan'])}/{_yi(r['completed_wan'])}",
                             _pct(r["performance"]), flag, problem))
        console.print(t)
