"""The ``portfolio`` command: a thin shell over the library (CONTRACT.md).

Each command makes one or two library calls and turns library errors into one clear sentence
on stderr. Exit codes: 0 done; 1 a check failed; 2 refused or unusable input.
"""

from __future__ import annotations

import json
import shlex
import sys
from contextlib import suppress
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.text import Text

from . import console, store
from .console import SafeConsole
from .textsafe import json_visible, visible

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="工业投资项目库分析工具（industrial investment portfolio analyser）。",
    pretty_exceptions_enable=False,
)

out = SafeConsole(soft_wrap=True)
err = SafeConsole(stderr=True, soft_wrap=True)

DbOption = Annotated[
    Path | None,
    # readable=False: the checked open (store.open_connection) answers an unreadable file in one sentence
    typer.Option("--db", readable=False, help="数据库文件；默认 $PORTFOLIO_DB，否则 data/portfolio.duckdb。"),
]


UserOption = Annotated[
    str | None,
    typer.Option("--user", envvar="PORTFOLIO_USER",
                 help="以该登记用户的身份操作（e-mail 或用户标识；默认 $PORTFOLIO_USER，否则为系统）。"),
]


def acting_user(db: Path | None, user: str | None) -> Any:
    """The registered user named by ``--user``, or the system user when none is given."""
    from . import access

    if not user:
        return access.SYSTEM_USER
    try:
        with store.connect(db, read_only=True) as con:
            found = access.find_user(con, email=user, subject=user)
    except store.StoreError as exc:
        fail(str(exc))
    if found is None:
        fail(f"用户 {user} 未登记或已停用，请管理员先用 `portfolio user add` 登记。")
    return found


def fail(message: str, code: int = 2) -> NoReturn:
    """Print one sentence on stderr and exit with ``code``; text quoted in it is shown as data."""
    err.print(Text.assemble(("错误", "red"), ": ", visible(message, keep_newlines=True)))
    raise typer.Exit(code)


def note_rules(con: Any) -> None:
    """Say on stderr when the configuration files differ from the rules in force.

    The figures keep using the database's rules (every reader the same); ``portfolio init``
    applies the files and records each change in the audit log."""
    from . import rules

    message = rules.pending_message(con)
    if message:
        err.print(Text.assemble(("注意", "yellow"), ": ", visible(message, keep_newlines=True)))


def note_rules_at(db: Path | None) -> None:
    """:func:`note_rules` on a short read-only connection (commands that open their own)."""
    with suppress(store.StoreError), store.connect(db, read_only=True) as con:
        note_rules(con)


def parse_month(text: str | None) -> date | None:
    """Parse ``YYYY-MM`` (also YYYY.MM, YYYY年M月) into the first day of that month."""
    if text is None:
        return None
    import re

    m = re.fullmatch(r"\s*(\d{4})\s*[-./年]\s*(\d{1,2})\s*月?\s*", text)
    if not m or not 1 <= int(m.group(2)) <= 12:
        fail(f"月份 {text!r} 无法识别，请写成 YYYY-MM，例如 2016-09。")
    return date(int(m.group(1)), int(m.group(2)), 1)


def print_json(payload: Any) -> None:
    """Write JSON to stdout (UTF-8, Chinese kept readable)."""
    # C1 controls and bidi overrides as \\u escapes: inert on a terminal, the same value when parsed
    sys.stdout.write(json_visible(json.dumps(payload, ensure_ascii=False, indent=2, default=store.json_default)))
    sys.stdout.write("\n")


@app.command()
def init(
    sample: Annotated[bool, typer.Option("--sample", help="同时载入示例项目库（1004个项目，2016年）。")] = False,
    force: Annotated[bool, typer.Option("--force", help="替换已有的项目库（原库先备份到 backups/）；不是项目库的文件一律不动。")] = False,
    projects: Annotated[int | None, typer.Option("--projects", min=1, help="示例项目数（用于压力测试）。")] = None,
    db: DbOption = None,
) -> None:
    """创建数据库与表结构，载入 data/ 中的参考配置（单位、产业链、目标）。"""
    if projects is not None and not sample:
        fail("--projects 只能和 --sample 一起使用。")
    path = store.resolve_db(db)
    try:
        state = store.database_state(path)
    except store.StoreError as exc:
        fail(str(exc))
    if state == "ready" and not force and sample:
        fail(f"数据库 {path} 已存在；要用示例数据替换它请加 --force（原库会先备份到 backups/）。")
    from . import config, rules

    pending: list[rules.Change] = []
    if state == "ready" and not force:
        try:
            with store.connect(path, read_only=True) as con:
                pending = rules.pending(con)
        except (store.StoreError, config.ConfigError) as exc:
            fail(str(exc))
    try:
        with err.status("正在创建数据库…") as status:
            def progress(message: str) -> None:
                status.update(message)

            result = store.build_database(path, force=force, sample=sample, projects=projects,
                                          actor="cli", progress=progress)
        with store.connect(result.path, read_only=True) as con:
            counts = con.execute(
                "select (select count(*) from projects), (select count(*) from enterprises),"
                " (select count(*) from progress), (select count(*) from chain_nodes)"
            ).fetchall()[0]
    except (store.StoreError, ValueError) as exc:
        fail(str(exc))
    done = "已创建" if result.created else "已更新参考配置"
    out.print(f"{done} {result.path}：项目 {counts[0]} 个，企业 {counts[1]} 家，月度进度 {counts[2]} 行，"
              f"产业链环节 {counts[3]} 个。" + ("（示例数据）" if sample else ""), markup=False)
    if pending:
        out.print(f"已应用规则与目标的变更 {len(pending)} 项（记入修改日志，`portfolio imports` 可查）：", markup=False)
        for change in pending:
            out.print(f"  {change.sentence()}", markup=False)
    if result.backup is not None:
        out.print(f"原数据库已备份为 {result.backup}。", markup=False)
    elif result.replaced == "half_built":
        out.print("原来的文件是一次未完成的初始化留下的空库，已替换。", markup=False)


@app.command()
def ingest(
    file: Annotated[Path, typer.Argument(help="台账文件：.xlsx / .csv / .parquet")],
    kind: Annotated[str | None, typer.Option(
        "--kind", help="projects | progress | enterprises | actuals（统计局数据）；默认按表头判断")] = None,
    sheet: Annotated[str | None, typer.Option("--sheet", help="xlsx 的工作表名称")] = None,
    rejects: Annotated[Path | None, typer.Option("--rejects", help="拒收行写入的文件（默认与输入同目录）")] = None,
    year: Annotated[int | None, typer.Option(
        "--year",
        help="计划年度：项目台账的行是该年度的计划，只写月份的取该年（默认当前计划年度；已结转或未开启的年度拒绝）")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="输出 JSON")] = False,
    user: UserOption = None,
    db: DbOption = None,
) -> None:
    """导入项目台账、月度进度、企业名录或统计局数据。"""
    from . import access
    from . import ingest as ingest_mod

    acting = acting_user(db, user)
    try:
        result = ingest_mod.ingest_file(db, file, kind=kind, sheet=sheet, rejects=rejects, year=year,
                                        user=acting, progress=None if as_json else out.print)
    except (ingest_mod.FileProblem, access.PermissionDenied, store.StoreError) as exc:
        fail(str(exc))
    payload = result.to_dict()
    if as_json:
        print_json(payload)
        return
    console.print_summary(payload, out)
    by_year = payload.get("years") or {}
    if set(by_year) - {str(payload["current_year"])}:  # rows of other years than the current: say where they went
        parts = "，".join(f"{y} 年度 {n} 行" + ("（历史年度：只写该年度的计划，已有项目不改）"
                                               if int(y) < payload["current_year"] else "")
                         for y, n in by_year.items())
        out.print(f"按计划年度：{parts}；写入分年度计划 {payload.get('plans', 0)} 行。", markup=False)


@app.command()
def check(
    as_of: Annotated[str | None, typer.Option("--as-of", help="截至月份 YYYY-MM（默认最新有进度的月份）")] = None,
    year: Annotated[int | None, typer.Option("--year", help="计划年度（默认当前年度）")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="输出 JSON")] = False,
    db: DbOption = None,
) -> None:
    """目标、档次与包保责任检查；有指标 off_track 时退出码为 1。"""
    from . import targets

    month = parse_month(as_of)
    try:
        with store.connect(db, read_only=True) as con:
            note_rules(con)
            report = targets.check_report(con, as_of=month, year=year)
    except (store.StoreError, ValueError) as exc:
        fail(str(exc))
    if as_json:
        print_json(report)
    else:
        console.print_check(report, out)
    if any(m["status"] == "off_track" for m in report["metrics"]):
        raise typer.Exit(1)


@app.command()
def gaps(
    chain: Annotated[str | None, typer.Option("--chain", help="产业链名称或编号")] = None,
    year: Annotated[int | None, typer.Option("--year", help="计划年度（默认当前年度）")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="输出 JSON")] = False,
    every: Annotated[bool, typer.Option(
        "--all", help="JSON 列出全部申报不一致的项目和每个缺口的全部在库项目（默认各列前若干个并给出总数）")] = False,
    db: DbOption = None,
) -> None:
    """补链 / 增链 / 丰链 分析。"""
    from . import chains

    # the tables on the terminal count every row; the JSON is cut unless --all (gaps_payload)
    whole = every or not as_json
    try:
        with store.connect(db, read_only=True) as con:
            note_rules(con)
            result = (chains.gaps_report(con, chain=chain, year=year, limit=None, ids_limit=None) if whole
                      else chains.gaps_report(con, chain=chain, year=year))
    except (store.StoreError, ValueError) as exc:
        fail(str(exc))
    if as_json:
        print_json(result)
    else:
        console.print_gaps(result, out)


@app.command()
def report(
    as_of: Annotated[str | None, typer.Option("--as-of", help="报告月份 YYYY-MM")] = None,
    out_dir: Annotated[Path, typer.Option("--out", help="输出目录")] = Path("reports"),
    fmt: Annotated[str, typer.Option("--format", help="html,xlsx,md 的任意组合")] = "html,xlsx,md",
    year: Annotated[int | None, typer.Option("--year", help="计划年度（默认当前年度）")] = None,
    mail_to: Annotated[str | None, typer.Option(
        "--mail", metavar="TO[,TO...]",
        help="把报告发给这些收件人（逗号分隔）：Markdown 摘要为正文，附 HTML 与 xlsx；SMTP 设置见 docs/report.md")] = None,
    mail_units: Annotated[bool, typer.Option(
        "--mail-units", help="同时给 secrets.toml [mail.units] 中的每个单位发送本单位的滞后项目清单")] = False,
    scenario: Annotated[list[str] | None, typer.Option(
        "--scenario", metavar="NAME[,NAME...]",
        help="附上已保存情景的推演（附录、情景推演工作表）；可多次或逗号分隔，名称不存在则什么也不写")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="输出 JSON：写出的文件与每个收件人的发送结果")] = False,
    db: DbOption = None,
) -> None:
    """生成月度缺口分析报告，打印写出的文件路径；--mail 发送给收件人；--scenario 附上情景推演。"""
    from . import report as report_mod

    formats = [f.strip().lower() for f in fmt.split(",") if f.strip()]
    bad = sorted(set(formats) - {"html", "xlsx", "md"})
    if bad or not formats:
        fail(f"不支持的格式 {', '.join(bad) or fmt!r}；可选 html、xlsx、md。")
    month = parse_month(as_of)
    names = [n.strip() for text in scenario or [] for n in text.split(",") if n.strip()]
    plan = _mail_plan(db, mail_to, mail_units) if mail_to is not None or mail_units else None
    if plan is not None:  # the letter needs all three: the Markdown body, the HTML and the xlsx attached
        formats = list(dict.fromkeys([*formats, "html", "xlsx", "md"]))
    note_rules_at(db)
    try:
        memory = report_mod.memory_limit()  # an unreadable limit is refused before anything is read
        paths = report_mod.build_report(db, as_of=month, year=year, out_dir=out_dir, formats=formats,
                                        progress=lambda msg: err.print(msg), scenarios=names, memory=memory)
    except (store.StoreError, ValueError, OSError) as exc:
        fail(str(exc))
    deliveries = _mail_report(db, plan, paths) if plan is not None else None
    if as_json:
        payload: dict[str, Any] = {"paths": [str(p) for p in paths]}
        if deliveries is not None:
            payload["mail"] = [d.to_dict() for d in deliveries]
        print_json(payload)
    else:
        for p in paths:
            out.print(str(p))
    failed = [d for d in deliveries or [] if d.status != "sent"]
    if failed:
        who = "、".join(dict.fromkeys(visible(d.to) for d in failed))
        fail(f"报告未能发送给 {who}：{failed[0].error or ''}报告文件已写出，见上面的路径"
             f"（{len(failed)} of {len(deliveries or [])} deliveries failed; the report files are written）。", code=1)


def _mail_plan(db: Path | None, mail_to: str | None, mail_units: bool) -> dict[str, Any]:
    """Everything ``--mail`` needs, checked before the report is written (exit 2, nothing written or sent)."""
    from . import mail, units

    try:
        settings, by_unit = mail.load()
        recipients = mail.parse_recipients(mail_to) if mail_to is not None else []
    except mail.MailConfigError as exc:
        fail(str(exc))
    if not mail_units:
        return {"settings": settings, "recipients": recipients, "units": {}, "names": {}, "unit_of": None}
    if not by_unit:
        fail("--mail-units 需要在 .streamlit/secrets.toml 中配置 [mail.units]：单位编号 = \"a@x.cn, b@y.cn\""
             "（no [mail.units] table; see docs/report.md）。")
    try:
        with store.connect(db, read_only=True) as con:
            known = units.units_frame(con).select("unit_id", "name")
            unit_of = store.fetch(con, "select project_id, unit_id from projects where list_contains(?, unit_id)",
                                  [list(by_unit)])
    except store.StoreError as exc:
        fail(str(exc))
    names = dict(zip(known["unit_id"], known["name"], strict=True))
    unknown = [u for u in by_unit if u not in names]
    if unknown:
        fail(f"[mail.units] 中的单位编号 {'、'.join(visible(u) for u in unknown)} 不存在；"
             f"可选 {'、'.join(names)}（unknown unit id）。")
    return {"settings": settings, "recipients": recipients, "units": by_unit, "names": names, "unit_of": unit_of}


def _mail_report(db: Path | None, plan: dict[str, Any], paths: list[Path]) -> list[Any]:
    """Write each unit's lagging list beside the report and send the letters; one line per recipient on stderr."""
    from . import files, mail

    def write_unit_file(target: Path, content: bytes) -> Path:
        return files.write_output(target, content, kind="report", db=store.resolve_db(db))

    stem = next((p.stem for p in paths if p.suffix == ".md"), "")
    try:
        letters = mail.report_letters(plan["settings"], paths, month=stem[-7:], recipients=plan["recipients"],
                                      units=plan["units"], unit_names=plan["names"], unit_of=plan["unit_of"],
                                      write_unit_file=write_unit_file)
    except (mail.MailConfigError, files.UnsafeOutput) as exc:
        fail(str(exc))
    except (OSError, ValueError) as exc:
        fail(f"无法准备邮件：{exc}（cannot prepare the mail）。", code=1)
    for letter in letters:
        if letter.unit is not None:
            paths.append(letter.attachments[-1])
    deliveries = mail.send(plan["settings"], letters, say=lambda msg: err.print(msg, markup=False))
    for d in deliveries:
        unit = f"（{visible(d.unit)}）" if d.unit else ""
        line = f"已发送：{visible(d.to)}{unit}" if d.status == "sent" else f"未送达：{visible(d.to)}{unit} {d.error}"
        err.print(line, markup=False)
    return deliveries


@app.command()
def whatif(
    as_of: Annotated[str | None, typer.Option("--as-of", help="截至月份 YYYY-MM（默认最新有进度的月份）")] = None,
    year: Annotated[int | None, typer.Option("--year", help="计划年度（默认当前年度）")] = None,
    slip: Annotated[list[str] | None, typer.Option(
        "--slip", metavar="ID=N", help="项目推迟 N 个月（1–12），可多次")] = None,
    stop: Annotated[list[str] | None, typer.Option("--stop", metavar="ID", help="项目停工：本年不再投资，可多次")] = None,
    cancel: Annotated[list[str] | None, typer.Option(
        "--cancel", metavar="ID", help="项目取消：本年不再投资并退出储备和在建项目，可多次")] = None,
    scale: Annotated[list[str] | None, typer.Option(
        "--scale", metavar="ID=F", help="项目剩余计划乘以 F（0–10，0.5 减半），可多次")] = None,
    add: Annotated[Path | None, typer.Option(
        "--add", readable=False, help="新增项目：项目台账文件（.xlsx / .csv，表头同项目台账）")] = None,
    scenario: Annotated[str | None, typer.Option(
        "--scenario", help="载入已保存的情景；其余选项在它之上追加（同一项目以命令行为准）")] = None,
    save_as: Annotated[str | None, typer.Option(
        "--save", metavar="NAME", help="把（合并后的）情景按此名称保存（只写情景表，项目数据不变；需局机关或管理员）")] = None,
    note: Annotated[str | None, typer.Option("--note", help="情景说明（随 --save 保存）")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="输出 JSON")] = False,
    user: UserOption = None,
    db: DbOption = None,
) -> None:
    """情景推演：在当前数据之上推迟、停工、取消、调整或新增项目，看年末预测与缺口如何变化；数据不变。"""
    from . import scenarios as sc

    month = parse_month(as_of)
    acting = acting_user(db, user) if save_as is not None else None
    from . import access

    if acting is not None and not access.can(acting, "save_scenario"):
        fail(f"用户 {acting.user_id} 无权保存情景，需局机关或管理员（saving a scenario needs bureau or admin）。")
    try:
        name = sc.check_name(save_as) if save_as is not None else None
        given = sc.changes_from_options(slip=slip or [], stop=stop or [], cancel=cancel or [], scale=scale or [])
        with store.connect(db, read_only=True) as con:
            note_rules(con)
            added = sc.changes_from_options(add=sc.read_added(con, str(add))) if add is not None else ()
            base = sc.load(con, scenario) if scenario is not None else sc.Scenario()
            chosen = sc.combine(base, (*given, *added))
            chosen = replace(chosen, name=name or chosen.name,
                             note=note if note is not None else chosen.note)
            outcome = sc.apply(con, chosen, as_of=month, year=year)
        inverse = _whatif_inverse(sc, outcome)
    except (sc.ScenarioError, store.StoreError, ValueError) as exc:
        fail(str(exc))
    if name is not None and acting is not None:
        try:
            with store.connect(db) as con:
                sc.save(con, chosen, user=acting.label)
        except (sc.ScenarioError, store.StoreError) as exc:
            fail(str(exc))
    if as_json:
        print_json({**outcome.report(), "note": chosen.note, "inverse": inverse})
    else:
        _print_whatif(outcome, inverse)
    if name is not None:
        err.print(visible(f"已保存情景“{name}”（{len(chosen.changes)} 项变化）；"
                          f"用 portfolio whatif --scenario {shlex.quote(name)} 重新打开。"), markup=False)


#: Projects listed for the inverse question.
WHATIF_TOP = 10


def _whatif_inverse(sc: Any, outcome: Any) -> list[dict[str, Any]]:
    """Per metric still short of its target under the scenario: how many projects close the gap, the first ten."""
    from .targets.payload import records

    rows = []
    for m in outcome.after.iter_rows(named=True):
        if (m.get("forecast_gap_wan") or 0) <= 0:
            continue
        shown, n, gap = sc.accelerators(outcome, metric=m["metric"], top=WHATIF_TOP)
        rows.append({"metric": m["metric"], "label": m["label"], "shortfall_wan": round(gap, 2),
                     "projects_to_close_gap": n,
                     "projects": records(shown.head(WHATIF_TOP)),
                     "segments_gaining": records(sc.segments_gaining(shown, n))})
    return rows


def _print_whatif(outcome: Any, inverse: list[dict[str, Any]]) -> None:
    """The scenario in words: the changes, each metric before → after, what moved, the inverse question."""
    from rich.table import Table

    from . import fmt
    from .console import STATUS_LABELS

    def status(value: str | None) -> str:
        return STATUS_LABELS.get(value or "", value or "—")

    def change(wan: Any) -> str:
        return f"{float(wan) / 10_000:+,.1f}"

    def kind(value: str | None) -> str:
        return value or "无缺口"

    sc_ = outcome.scenario
    head = f"情景推演（{outcome.year} 年度，截至 {fmt.month(outcome.as_of, long=True)}）"
    if sc_.name:
        head += f"：{sc_.name}"
    out.print(visible(head), markup=False)
    if sc_.note:
        out.print(visible(f"说明：{sc_.note}"), markup=False)
    if not sc_.changes:
        out.print("没有变化：以下即当前预测（no change: the baseline）。", markup=False)
    for c in sc_.changes:
        out.print(visible(f"  · {c.describe()}"), markup=False)

    metrics = outcome.metrics().to_dicts()
    t = Table(title="年末预测：当前 → 情景（亿元）")
    t.add_column("")
    for m in metrics:
        t.add_column(Text(visible(m["label"])), justify="right")
    rows: list[tuple[str, Any]] = [
        ("年度目标", lambda m: fmt.yi(m["target_wan"])),
        ("当前预测", lambda m: fmt.yi(m["forecast_wan_before"])),
        ("情景预测", lambda m: fmt.yi(m["forecast_wan_after"])),
        ("变化", lambda m: change(m["forecast_change_wan"])),
        ("当前区间", lambda m: f"{fmt.yi(m['forecast_low_wan_before'])}–{fmt.yi(m['forecast_high_wan_before'])}"),
        ("情景区间", lambda m: f"{fmt.yi(m['forecast_low_wan_after'])}–{fmt.yi(m['forecast_high_wan_after'])}"),
        ("达标概率", lambda m: f"{fmt.pct(m['probability_meet_target_before'])} → "
                              f"{fmt.pct(m['probability_meet_target_after'])}"),
        ("状态", lambda m: f"{status(m['status_before'])} → {status(m['status_after'])}"),
    ]
    for label, cell in rows:
        t.add_row(label, *[Text(visible(cell(m))) for m in metrics])
    out.print(t)

    if outcome.projects.height:
        t = Table(title="变化的项目（亿元）")
        for col in ("项目", "变化", "责任单位", "当前预测", "情景预测", "变化额"):
            t.add_column(col, justify="right" if col in ("当前预测", "情景预测", "变化额") else "left", overflow="fold")
        for r in outcome.projects.iter_rows(named=True):
            t.add_row(*[Text(visible(v)) for v in (
                f"{r['project_id']} {r['name'] or ''}".strip(), r["text"].removeprefix(r["project_id"]).strip(),
                r["unit_name"] or "—",
                fmt.yi(r["forecast_wan_before"]), fmt.yi(r["forecast_wan_after"]), change(r["forecast_change_wan"]))])
        out.print(t)

    labels = dict(zip(outcome.before["metric"], outcome.before["label"], strict=True))
    for by, title, key in (("units", "变化最大的责任单位", "unit_name"), ("chains", "变化最大的产业链", "chain_name")):
        frame = getattr(outcome, by)
        moved = frame.filter(frame["forecast_change_wan"].abs() > 0.005)
        if not moved.height:
            continue
        moved = moved.sort(moved["forecast_change_wan"].abs(), descending=True).head(8)
        t = Table(title=f"{title}（亿元）")
        for col in ("指标", "名称", "当前预测", "情景预测", "变化"):
            t.add_column(col, justify="left" if col in ("指标", "名称") else "right")
        for r in moved.iter_rows(named=True):
            t.add_row(*[Text(visible(v)) for v in (
                labels.get(r["metric"], r["metric"]), r.get(key) or "—", fmt.yi(r["forecast_wan_before"]),
                fmt.yi(r["forecast_wan_after"]), change(r["forecast_change_wan"]))])
        out.print(t)

    if outcome.gaps.height:
        t = Table(title="建成后分类变化的产业链环节")
        for col in ("环节", "编号", "当前（建成后）", "情景（建成后）"):
            t.add_column(col)
        for r in outcome.gaps.iter_rows(named=True):
            t.add_row(*[Text(visible(v)) for v in (r["node"] or "—", r["node_id"], kind(r["kind_before"]),
                                                  kind(r["kind_after"]))])
        out.print(t)
    elif any(c.kind in ("cancel", "add") for c in sc_.changes):
        out.print("产业链环节建成后的分类没有变化。", markup=False)

    if not inverse:
        out.print("情景下各指标的年末预测均达到目标，无需加速。", markup=False)
    for row in inverse:
        n = row["projects_to_close_gap"]
        how = (f"按可追回额排序，加速前 {n} 个项目可补足（期望值）" if n else
               "全部项目加速仍不能补足")
        out.print(visible(f"{row['label']}：情景下距目标还差 {fmt.yi(row['shortfall_wan'])} 亿元；{how}。"),
                  markup=False)
        if row["projects"]:
            t = Table(title=f"可加速的项目（前 {len(row['projects'])} 个，亿元）")
            for col in ("序", "项目", "责任单位", "产业链", "剩余计划", "可追回", "累计"):
                t.add_column(col, justify="right" if col not in ("项目", "责任单位", "产业链") else "left",
                             overflow="fold")
            for r in row["projects"]:
                t.add_row(*[Text(visible(v)) for v in (
                    r["rank"], f"{r['project_id']} {r['name'] or ''}".strip(), r["unit_name"] or "—",
                    r["chain_name"] or "—", fmt.yi(r["remaining_plan_wan"]), fmt.yi(r["achievable_extra_wan"]),
                    fmt.yi(r["cumulative_extra_wan"]))])
            out.print(t)
        if row["segments_gaining"]:
            segs = "；".join(f"{s['chain_name'] or '—'} {s['node_id']}（{s['projects']} 个，{fmt.yi(s['extra_wan'])} 亿元）"
                            for s in row["segments_gaining"][:10])
            out.print(visible(f"  受益的产业链环节：{segs}"), markup=False)


@app.command()
def sql(
    query: Annotated[str | None, typer.Argument(help="一条只读 SQL 语句")] = None,
    file: Annotated[Path | None, typer.Option("-f", "--file", help="从文件读取 SQL（UTF-8 或 GBK，最大 1 MiB）")] = None,
    fmt: Annotated[str, typer.Option("--format", help="table | csv | json")] = "table",
    timeout: Annotated[float, typer.Option("--timeout", help="超时秒数（大于 0，最多 86400）")] = 30.0,
    max_rows: Annotated[int, typer.Option("--max-rows", help="最多返回行数（0 到 10^12）")] = 10_000,
    max_bytes: Annotated[str | None, typer.Option(
        "--max-bytes", help="输出大小上限，如 500M、2G（csv/json 默认 1G；表格默认 64M）")] = None,
    db: DbOption = None,
) -> None:
    """只读的即席 SQL 查询（沙箱）；csv / json 边查边写，内存占用有上限。"""
    from . import sandbox

    if (query is None) == (file is None):
        fail("请给出一条 SQL 语句，或用 -f 指定一个 .sql 文件（二者取一）。")
    if fmt not in ("table", "csv", "json"):
        fail(f"不支持的输出格式 {fmt!r}；可选 table、csv、json。")
    limit = sandbox.FRAME_MAX_BYTES if fmt == "table" else sandbox.STREAM_MAX_BYTES
    if max_bytes is not None:
        try:
            limit = sandbox.parse_size(max_bytes)
        except ValueError:
            fail(f"--max-bytes {max_bytes!r} 无法识别，请写成字节数或 500M、2G 这样的大小（bad size）。")
    note_rules_at(db)
    try:
        if file is not None:
            query = sandbox.read_sql_file(file)
        assert query is not None
        if fmt == "table":
            result = sandbox.run_query(db, query, timeout=timeout, max_rows=max_rows, max_bytes=limit)
            console.print_result(result, out)
            return
        sys.stdout.flush()
        written = sandbox.stream_query(db, query, getattr(sys.stdout, "buffer", sys.stdout), fmt=fmt,
                                       timeout=timeout, max_rows=max_rows, max_bytes=limit,
                                       terminal=sys.stdout.isatty())
    except (sandbox.QueryRefused, store.StoreError) as exc:
        fail(str(exc))
    except BrokenPipeError:  # the reader (``| head``) has all it wanted
        _stdout_gone()
    except OSError as exc:
        fail(f"无法写出查询结果：{exc.strerror or exc}（write failed）。")
    if written.truncated:
        err.print(sandbox.stream_notice(written))


def _stdout_gone() -> NoReturn:
    """End quietly after the reader of stdout went away (no "Broken pipe" noise at exit)."""
    import os

    with suppress(OSError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    raise typer.Exit(0)


@app.command()
def template(
    kind_arg: Annotated[str | None, typer.Argument(
        metavar="[KIND]", help="projects | progress | enterprises | actuals（统计局数据）")] = None,
    kind_opt: Annotated[str | None, typer.Option("--kind", help="同 KIND，两种写法都可以")] = None,
    out_file: Annotated[Path | None, typer.Option("--out", help="输出文件（默认 <类型>_模板.xlsx）")] = None,
    db: DbOption = None,
) -> None:
    """下载空白导入模板（xlsx，含填写说明）。"""
    from . import ingest as ingest_mod

    if kind_arg is not None and kind_opt is not None and kind_arg != kind_opt:
        fail(f"台账类型写了两次且不一致：{kind_arg!r} 与 --kind {kind_opt!r}。")
    kind = kind_arg or kind_opt
    if kind is None:
        fail(f"请写明台账类型，可选 {'、'.join(ingest_mod.KINDS)}（如 portfolio template --kind actuals）。")
    if kind not in ingest_mod.KINDS:
        fail(f"未知的台账类型 {kind!r}，可选 {'、'.join(ingest_mod.KINDS)}。")
    from . import files

    target = out_file or Path(f"{kind}_模板.xlsx")
    try:
        files.write_output(target, ingest_mod.template_xlsx(kind), kind="template",
                           db=store.resolve_db(db))
    except files.UnsafeOutput as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"无法写入 {target}：{exc.strerror or exc}。")
    out.print(str(target))


@app.command()
def imports(
    limit: Annotated[int | None, typer.Option("--limit", min=1, max=1_000_000_000, help="只列出最近的 N 个批次")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="输出 JSON")] = False,
    db: DbOption = None,
) -> None:
    """列出导入与修改批次（批次编号、时间、操作人、文件或表单、行数），供 undo 使用。"""
    from . import batches

    try:
        with store.connect(db, read_only=True) as con:
            frame = batches.list_batches(con, limit=limit)
    except store.StoreError as exc:
        fail(str(exc))
    if as_json:
        print_json(frame.to_dicts())
    elif frame.is_empty():
        out.print("还没有导入或修改批次。", markup=False)
    else:
        console.print_batches(frame, out)


@app.command()
def undo(
    batch: Annotated[int, typer.Argument(min=1, max=2**63 - 1, help="批次编号（见 portfolio imports）")],
    as_json: Annotated[bool, typer.Option("--json", help="输出 JSON")] = False,
    user: UserOption = None,
    db: DbOption = None,
) -> None:
    """撤销一个导入或修改批次，恢复它之前的值；之后又被修改过的行会使撤销被拒绝（退出码 2）。"""
    from . import access, batches
    from .textsafe import visible

    acting = acting_user(db, user)
    try:
        with store.connect(db) as con:
            result = batches.undo(con, batch, user=acting)
    except (batches.UndoRefused, access.PermissionDenied, store.StoreError) as exc:
        fail(str(exc))
    if as_json:
        print_json(result.to_dict())
    else:
        out.print(visible(
            f"已撤销批次 {result.undone_batch}（{result.table or '—'}）：恢复 {result.restored} 行，"
            f"删除 {result.deleted} 行，重新写入 {result.reinserted} 行；本次撤销记为批次 {result.batch}，"
            f"可用 `portfolio undo {result.batch}` 再恢复。"), markup=False)


year_app = typer.Typer(help="计划年度：每年1月开启新年度（上一年度结转为只读）。", no_args_is_help=True)
app.add_typer(year_app, name="year")


@year_app.command("open")
def year_open(
    year: Annotated[int, typer.Argument(help="要开启的年度（只能是当前年度的下一年）")],
    target: Annotated[list[str] | None, typer.Option(
        "--target", help="目标，指标=金额，如 industrial_investment=2600亿（可多次；默认取 targets.toml）")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="输出 JSON")] = False,
    db: DbOption = None,
    user: UserOption = None,
) -> None:
    """开启下一个计划年度：未竣工项目结转入新年度（计划待导入），已竣工项目留在往年，设定新年度目标。"""
    from . import backup as backup_mod
    from . import years

    actor = acting_user(db, user)
    try:
        goals = years.parse_targets(target or [])
        with store.connect(db, read_only=True) as con:  # refuse before the backup when it cannot work
            years.check_openable(con, year, targets=goals)
        kept = backup_mod.before_import(db)
        with store.connect(db) as con:
            result = years.open_year(con, year, targets=goals, actor=actor.label)
    except (store.StoreError, ValueError) as exc:
        fail(str(exc))
    payload = {**result.to_dict(), "backup": str(kept) if kept else None}
    if as_json:
        print_json(payload)
        return
    out.print(visible(
        f"已开启 {result.year} 年度；{result.closed_year} 年度已结转（只读）。"
        f"结转项目 {result.carried} 个（年度计划待导入：portfolio ingest 计划表 --year {result.year}），"
        f"已竣工项目 {result.finished} 个留在 {result.closed_year} 年度。"), markup=False)
    for t in result.targets:
        growth = "" if t["growth_pct"] is None else f"，比{t['base']}增长 {t['growth_pct']:.1f}%"
        out.print(visible(f"  目标 {t['metric']}：{t['value_wan'] / 10000:,.1f}亿元{growth}（{t['source']}）"),
                  markup=False)
    for w in result.warnings:
        err.print(visible("注意：" + w), markup=False)
    if kept:
        err.print(visible(f"开启前的数据库已备份：{kept}"), markup=False)


@year_app.command("list")
def year_list(
    as_json: Annotated[bool, typer.Option("--json", help="输出 JSON")] = False,
    db: DbOption = None,
) -> None:
    """列出数据库中的计划年度：开启、结转、项目数、计划合计与目标。"""
    from . import years
    from .targets.payload import records

    try:
        with store.connect(db, read_only=True) as con:
            table = years.year_table(con)
    except (store.StoreError, ValueError) as exc:
        fail(str(exc))
    rows = records(table)
    if as_json:
        print_json(rows)
        return
    for r in rows:
        state = "当前" if r["is_current"] else ("已结转" if r["closed_at"] else "开启")
        out.print(visible(
            f"{r['year']}  {state}  项目 {r['projects']} 个（计划待导入 {r['without_plan']} 个）  "
            f"计划合计 {r['plan_wan'] / 10000:,.1f}亿元"), markup=False)


user_app = typer.Typer(help="用户与角色（管理员）。", no_args_is_help=True)
app.add_typer(user_app, name="user")


@user_app.command("add")
def user_add(
    user_id: Annotated[str, typer.Argument(help="身份提供方的 e-mail 或 subject")],
    role: Annotated[str, typer.Option("--role", help="admin | bureau | unit | viewer")] = "viewer",
    unit: Annotated[str | None, typer.Option("--unit", help="责任单位编号（unit 角色必填，如 QK）")] = None,
    name: Annotated[str | None, typer.Option("--name", help="姓名")] = None,
    email: Annotated[str | None, typer.Option("--email", help="电子邮箱")] = None,
    inactive: Annotated[bool, typer.Option("--inactive", help="停用该用户")] = False,
    db: DbOption = None,
) -> None:
    """登记或修改一个用户（在服务器上由管理员执行，记入修改日志）。"""
    from . import access

    try:
        with store.connect(db) as con:
            access.save_user(con, access.SYSTEM_USER, user_id=user_id, role=role, unit_id=unit,
                             name=name, email=email or (user_id if "@" in user_id else None),
                             active=not inactive)
    except (ValueError, store.StoreError, access.PermissionDenied) as exc:
        fail(str(exc))
    out.print(f"已保存用户 {visible(user_id)}（{visible(role)}{'，' + visible(unit) if unit else ''}）。")


@user_app.command("list")
def user_list(
    as_json: Annotated[bool, typer.Option("--json", help="输出 JSON")] = False,
    db: DbOption = None,
) -> None:
    """列出全部用户。"""
    from . import access

    try:
        with store.connect(db, read_only=True) as con:
            users = access.list_users(con)
    except store.StoreError as exc:
        fail(str(exc))
    if as_json:
        print_json(users.to_dicts())
        return
    console.print_users(users, out)


@app.command()
def backup(
    out_path: Annotated[Path | None, typer.Option("--out", help="备份文件（不能是已有文件；给文件夹则用默认文件名）；默认数据库旁的 backups/")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="输出 JSON")] = False,
    db: DbOption = None,
) -> None:
    """在使用中备份数据库（一致的副本，无需停应用）；打印备份文件路径。"""
    import time

    from . import backup as backup_mod

    started = time.monotonic()
    try:
        path = backup_mod.make_backup(db, out_path)
    except store.StoreError as exc:
        fail(str(exc))
    if as_json:
        print_json({"path": str(path), "bytes": path.stat().st_size,
                    "seconds": round(time.monotonic() - started, 3)})
    else:
        out.print(str(path), markup=False)


@app.command()
def export(
    parquet: Annotated[Path, typer.Option(
        "--parquet", help="导出文件夹（新建，或本工具上次导出的文件夹；Hive 分区：年度、责任单位）")],
    year: Annotated[int | None, typer.Option(
        "--year", help="只导出该计划年度的分年度计划与月度进度（默认全部年度）")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="输出 JSON")] = False,
    db: DbOption = None,
) -> None:
    """把项目库导出为 Parquet 文件夹（供全省汇总；同样的视图可直接在其上运行，见 docs/scale.md）。"""
    from . import parquet as parquet_mod

    try:
        result = parquet_mod.export_parquet(db, parquet, year=year)
    except store.StoreError as exc:
        fail(str(exc))
    if as_json:
        print_json(result.to_dict())
        return
    out.print(str(result.path), markup=False)
    counts = "，".join(f"{table} {rows:,}" for table, rows in result.tables.items())
    out.print(f"{result.files} 个文件，{result.bytes / 2**20:,.1f} MiB，{result.seconds:.1f} 秒；行数：{counts}",
              markup=False)


def _stdin_is_interactive() -> bool:
    return sys.stdin.isatty()


@app.command()
def restore(
    file: Annotated[Path, typer.Argument(help="要恢复的备份文件（.duckdb）")],
    yes: Annotated[bool, typer.Option("--yes", help="不再询问，直接替换")] = False,
    db: DbOption = None,
) -> None:
    """用备份文件替换当前数据库：先检查文件，当前数据库先备份到 backups/，再原子替换。"""
    from . import backup as backup_mod

    try:
        staged = backup_mod.stage_restore(db, file)
    except store.StoreError as exc:
        fail(str(exc))
    try:
        if not yes:
            if not _stdin_is_interactive():
                fail("恢复会替换当前数据库，需要确认；在脚本中运行请加 --yes（confirmation needed）。")
            rows = staged.tables.get("projects", (0, 0))[0]
            question = (f"用 {file}（项目 {rows} 个）替换数据库 {staged.db}？当前数据库会先备份到 "
                        f"{backup_mod.backups_dir(staged.db)}")
            if not typer.confirm(visible(question), default=False, err=True):
                err.print("已取消，数据库没有改动。", markup=False)
                raise typer.Exit(1)
        result = backup_mod.finish_restore(staged)
    except store.StoreError as exc:
        fail(str(exc))
    finally:
        staged.discard()
    out.print(f"已用 {result.source} 恢复 {result.db}。", markup=False)
    if result.backup is not None:
        out.print(f"原数据库已备份为 {result.backup}。", markup=False)


@app.command()
def serve(
    port: Annotated[int, typer.Option("--port", help="端口")] = 8501,
    address: Annotated[str, typer.Option("--address", help="监听地址（默认只监听本机）")] = "127.0.0.1",
    read_only: Annotated[bool, typer.Option(
        "--read-only", help="只读开放：所有访问者都是只读用户（未配置登录时在非本机地址上提供服务需要它）")] = False,
    db: DbOption = None,
) -> None:
    """启动 Streamlit 应用。"""
    import os
    import subprocess

    from . import local_mode

    app_file = Path(__file__).resolve().parent.parent / "app.py"
    paths = local_mode.secrets_paths(app_dir=app_file.parent, cwd=Path.cwd(), home=Path.home())
    try:
        section = local_mode.load_auth_section(paths)
    except local_mode.SecretsUnreadable as exc:
        fail(str(exc))
    if section is not None:
        problems = local_mode.auth_problems(section)
        if problems:
            fail(f"登录设置（secrets.toml 的 [auth] 段）不可用：{local_mode.describe(problems)}"
                 f"（sign-in settings unusable: {local_mode.describe(problems, 'en')}）见 docs/access.md。")
    elif not read_only and not local_mode.binds_loopback_only(address):
        fail("未配置登录（本机模式）时不能在本机以外的地址上提供服务：请按 docs/access.md 配置登录，"
             "或加 --read-only 只读开放（local mode serves this machine only: configure sign-in "
             "or pass --read-only, see docs/access.md）。")
    note_rules_at(db)
    env = dict(os.environ)
    if db is not None:
        env["PORTFOLIO_DB"] = str(db.resolve())
    if read_only:
        env[local_mode.READ_ONLY_ENV] = "1"
    cmd = [sys.executable, "-m", "streamlit", "run", str(app_file), "--server.port", str(port),
           "--server.address", address, "--server.headless", "true"]
    raise typer.Exit(subprocess.call(cmd, env=env))


def main() -> None:
    """Entry point of the console script: a usage error is one sentence on stderr, exit 2."""
    try:
        from typer._click.exceptions import ClickException, NoArgsIsHelpError
    except ImportError:  # a typer that uses click itself
        from click.exceptions import ClickException, NoArgsIsHelpError  # type: ignore[assignment]
    try:
        code = app(standalone_mode=False)
    except NoArgsIsHelpError as exc:  # the help was printed
        sys.exit(exc.exit_code)
    except ClickException as exc:
        where = exc.ctx.command_path if getattr(exc, "ctx", None) else "portfolio"  # type: ignore[attr-defined]
        err.print(Text.assemble(("错误", "red"), ": ", f"命令行参数有误：{visible(exc.format_message().rstrip('.。'))}"
                                f"；用法见 {visible(where)} --help（usage error）。"))
        sys.exit(exc.exit_code)
    except (KeyboardInterrupt, typer.Abort):
        err.print("已中断。")
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
