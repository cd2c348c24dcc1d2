"""The ``portfolio`` command: a thin shell over the library (CONTRACT.md).

Each command makes one or two library calls and turns library errors into one clear sentence
on stderr. Exit codes: 0 done; 1 a check failed; 2 refused or unusable input.
"""

from __future__ import annotations

import json
import sys
from datetime import date
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console

from . import store

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="工业投资项目库分析工具（industrial investment portfolio analyser）。",
    pretty_exceptions_enable=False,
)
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

DbOption = Annotated[
    Path | None,
    typer.Option("--db", help="数据库文件；默认 $PORTFOLIO_DB，否则 data/portfolio.duckdb。"),
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
    """Print one sentence on stderr and exit with ``code``."""
    err.print(f"[red]错误[/red]: {message}", markup=True)
    raise typer.Exit(code)


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
    sys.stdout.write(json.dumps(payload, ensure_ascii=False, indent=2, default=store._json_default))
    sys.stdout.write("\n")


@app.command()
def init(
    sample: Annotated[bool, typer.Option("--sample", help="同时载入示例项目库（1004个项目，2016年）。")] = False,
    force: Annotated[bool, typer.Option("--force", help="覆盖已有数据库。")] = False,
    projects: Annotated[int | None, typer.Option("--projects", min=1, help="示例项目数（用于压力测试）。")] = None,
    db: DbOption = None,
) -> None:
    """创建数据库与表结构，载入 data/ 中的参考配置（单位、产业链、目标）。"""
    path = store.resolve_db(db)
    existed = path.exists() and not force
    if path.exists() and not force and sample:
        fail(f"数据库 {path} 已存在；要用示例数据覆盖请加 --force。")
    if projects is not None and not sample:
        fail("--projects 只能和 --sample 一起使用。")
    try:
        with err.status("正在创建数据库…") as status:
            def progress(message: str) -> None:
                status.update(message)

            path = store.init_db(db, force=force, sample=sample, projects=projects,
                                 actor="cli", progress=progress)
    except (store.StoreError, ValueError) as exc:
        fail(str(exc))
    with store.connect(path, read_only=True) as con:
        counts = con.execute(
            "select (select count(*) from projects), (select count(*) from enterprises),"
            " (select count(*) from progress), (select count(*) from chain_nodes)"
        ).fetchall()[0]
    out.print(f"{'已更新参考配置' if existed else '已创建'} {path}：项目 {counts[0]} 个，企业 {counts[1]} 家，月度进度 {counts[2]} 行，"
              f"产业链环节 {counts[3]} 个。" + ("（示例数据）" if sample else ""))


@app.command()
def ingest(
    file: Annotated[Path, typer.Argument(help="台账文件：.xlsx / .csv / .parquet")],
    kind: Annotated[str | None, typer.Option("--kind", help="projects | progress | enterprises（默认按表头判断）")] = None,
    sheet: Annotated[str | None, typer.Option("--sheet", help="xlsx 的工作表名称")] = None,
    rejects: Annotated[Path | None, typer.Option("--rejects", help="拒收行写入的文件（默认与输入同目录）")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="输出 JSON")] = False,
    user: UserOption = None,
    db: DbOption = None,
) -> None:
    """导入项目、月度进度或企业台账。"""
    from . import access
    from . import ingest as ingest_mod

    acting = acting_user(db, user)
    try:
        result = ingest_mod.ingest_file(db, file, kind=kind, sheet=sheet, rejects=rejects,
                                        user=acting, progress=None if as_json else out.print)
    except (ingest_mod.FileProblem, access.PermissionDenied, store.StoreError) as exc:
        fail(str(exc))
    payload = result.to_dict()
    if as_json:
        print_json(payload)
    else:
        ingest_mod.print_summary(payload, out)


@app.command()
def check(
    as_of: Annotated[str | None, typer.Option("--as-of", help="截至月份 YYYY-MM（默认最新有进度的月份）")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="输出 JSON")] = False,
    db: DbOption = None,
) -> None:
    """目标、档次与包保责任检查；有指标 off_track 时退出码为 1。"""
    from . import targets

    month = parse_month(as_of)
    try:
        with store.connect(db, read_only=True) as con:
            report = targets.check_report(con, as_of=month)
    except (store.StoreError, ValueError) as exc:
        fail(str(exc))
    if as_json:
        print_json(report)
    else:
        targets.print_check(report, out)
    if any(m["status"] == "off_track" for m in report["metrics"]):
        raise typer.Exit(1)


@app.command()
def gaps(
    chain: Annotated[str | None, typer.Option("--chain", help="产业链名称或编号")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="输出 JSON")] = False,
    db: DbOption = None,
) -> None:
    """补链 / 增链 / 丰链 分析。"""
    from . import chains

    try:
        with store.connect(db, read_only=True) as con:
            result = chains.gaps_report(con, chain=chain)
    except (store.StoreError, ValueError) as exc:
        fail(str(exc))
    if as_json:
        print_json(result)
    else:
        chains.print_gaps(result, out)


@app.command()
def report(
    as_of: Annotated[str | None, typer.Option("--as-of", help="报告月份 YYYY-MM")] = None,
    out_dir: Annotated[Path, typer.Option("--out", help="输出目录")] = Path("reports"),
    fmt: Annotated[str, typer.Option("--format", help="html,xlsx,md 的任意组合")] = "html,xlsx,md",
    db: DbOption = None,
) -> None:
    """生成月度缺口分析报告，打印写出的文件路径。"""
    from . import report as report_mod

    formats = [f.strip().lower() for f in fmt.split(",") if f.strip()]
    bad = sorted(set(formats) - {"html", "xlsx", "md"})
    if bad or not formats:
        fail(f"不支持的格式 {', '.join(bad) or fmt!r}；可选 html、xlsx、md。")
    month = parse_month(as_of)
    try:
        paths = report_mod.build_report(db, as_of=month, out_dir=out_dir, formats=formats,
                                        progress=lambda msg: err.print(msg))
    except (store.StoreError, ValueError, OSError) as exc:
        fail(str(exc))
    for p in paths:
        out.print(str(p))


@app.command()
def sql(
    query: Annotated[str | None, typer.Argument(help="一条只读 SQL 语句")] = None,
    file: Annotated[Path | None, typer.Option("-f", "--file", help="从文件读取 SQL")] = None,
    fmt: Annotated[str, typer.Option("--format", help="table | csv | json")] = "table",
    timeout: Annotated[float, typer.Option("--timeout", help="超时秒数")] = 30.0,
    max_rows: Annotated[int, typer.Option("--max-rows", help="最多返回行数")] = 10_000,
    db: DbOption = None,
) -> None:
    """只读的即席 SQL 查询（沙箱）。"""
    from . import sandbox

    if (query is None) == (file is None):
        fail("请给出一条 SQL 语句，或用 -f 指定一个 .sql 文件（二者取一）。")
    if fmt not in ("table", "csv", "json"):
        fail(f"不支持的输出格式 {fmt!r}；可选 table、csv、json。")
    if file is not None:
        try:
            query = file.read_text(encoding="utf-8")
        except OSError as exc:
            fail(f"无法读取 SQL 文件 {file}：{exc.strerror}。")
    assert query is not None
    try:
        result = sandbox.run_query(db, query, timeout=timeout, max_rows=max_rows)
    except sandbox.QueryRefused as exc:
        fail(str(exc))
    except store.StoreError as exc:
        fail(str(exc))
    sandbox.print_result(result, out, fmt=fmt)


@app.command()
def template(
    kind: Annotated[str, typer.Argument(help="projects | progress | enterprises")],
    out_file: Annotated[Path | None, typer.Option("--out", help="输出文件（默认 <类型>_模板.xlsx）")] = None,
    db: DbOption = None,
) -> None:
    """下载空白导入模板（xlsx，含填写说明）。"""
    from . import ingest as ingest_mod

    if kind not in ingest_mod.KINDS:
        fail(f"未知的台账类型 {kind!r}，可选 projects、progress、enterprises。")
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
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="只列出最近的 N 个批次")] = None,
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
        batches.print_batches(frame, out)


@app.command()
def undo(
    batch: Annotated[int, typer.Argument(help="批次编号（见 portfolio imports）")],
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
    out.print(f"已保存用户 {user_id}（{role}{'，' + unit if unit else ''}）。")


@user_app.command("list")
def user_list(
    as_json: Annotated[bool, typer.Option("--json", help="输出 JSON")] = False,
    db: DbOption = None,
) -> None:
    """列出全部用户。"""
    from rich.table import Table

    from . import access

    try:
        with store.connect(db, read_only=True) as con:
            users = access.list_users(con)
    except store.StoreError as exc:
        fail(str(exc))
    if as_json:
        print_json(users.to_dicts())
        return
    table = Table("用户", "姓名", "角色", "单位", "启用")
    for row in users.iter_rows(named=True):
        table.add_row(row["user_id"], row["name"] or "", access.ROLE_LABELS.get(row["role"], row["role"]),
                      row["unit_id"] or "", "是" if row["active"] else "否")
    out.print(table)


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
    env = dict(os.environ)
    if db is not None:
        env["PORTFOLIO_DB"] = str(db.resolve())
    if read_only:
        env[local_mode.READ_ONLY_ENV] = "1"
    cmd = [sys.executable, "-m", "streamlit", "run", str(app_file), "--server.port", str(port),
           "--server.address", address, "--server.headless", "true"]
    raise typer.Exit(subprocess.call(cmd, env=env))


def main() -> None:
    """Entry point of the console script."""
    try:
        app()
    except KeyboardInterrupt:
        err.print("已中断。")
        sys.exit(130)


if __name__ == "__main__":
    main()
