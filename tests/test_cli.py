"""The `portfolio` command as people and scripts use it: documented, acting as a user, exit codes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import openpyxl
import polars as pl
import typer.main
from typer.testing import CliRunner

from portfolio import store
from portfolio.cli import app

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()


def _commands() -> list[str]:
    group = typer.main.get_command(app)
    names = []
    for name, cmd in group.commands.items():  # type: ignore[attr-defined]
        sub = getattr(cmd, "commands", None)
        names += [f"{name} {s}" for s in sub] if sub else [name]
    return names


def test_every_command_is_documented_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    missing = [c for c in _commands() if f"portfolio {c}" not in readme]
    assert missing == []


def test_contract_commands_exist() -> None:
    assert {"init", "ingest", "check", "gaps", "report", "sql", "serve"} <= set(_commands())


def _ledger(sample_db: Path, path: Path) -> None:
    with store.connect(sample_db, read_only=True) as con:
        frame = store.fetch(
            con,
            "select project_id as 项目编号, name as 项目名称, unit_id as 责任单位, nature as 建设性质,"
            " status as 项目状态, total_investment_wan as \"总投资(万元)\","
            " annual_plan_wan - 1 as \"年度计划投资(万元)\" from projects"
            " where project_id in ('CC2016-0001', 'CC2016-0005') order by project_id",
        )
    frame.with_columns(pl.col(pl.Decimal).cast(pl.String)).write_csv(path)


def test_a_unit_user_imports_only_their_own_units_rows_and_is_named(sample_db: Path, tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.csv"
    _ledger(sample_db, ledger)
    added = runner.invoke(app, ["user", "add", "q@qk.cn", "--role", "unit", "--unit", "QK", "--name", "李四",
                                "--db", str(sample_db)])
    assert added.exit_code == 0, added.output
    result = runner.invoke(app, ["ingest", str(ledger), "--json", "--user", "q@qk.cn", "--db", str(sample_db)])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert (payload["updated"], payload["rejected"]) == (1, 1)
    assert payload["errors"][0]["reason"] == "无权修改其他单位的项目"
    with store.connect(sample_db, read_only=True) as con:
        log = con.execute("select actor, record_id from audit_log where table_name = 'projects'").fetchall()
    assert log == [("李四<q@qk.cn>", "CC2016-0001")]


def test_an_unknown_or_read_only_user_is_refused_with_exit_2(sample_db: Path, tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.csv"
    _ledger(sample_db, ledger)
    unknown = runner.invoke(app, ["ingest", str(ledger), "--user", "nobody@x.cn", "--db", str(sample_db)])
    assert unknown.exit_code == 2
    assert "未登记" in unknown.output
    runner.invoke(app, ["user", "add", "v@x.cn", "--role", "viewer", "--db", str(sample_db)])
    viewer = runner.invoke(app, ["ingest", str(ledger), "--user", "v@x.cn", "--db", str(sample_db)])
    assert viewer.exit_code == 2
    assert "无权" in viewer.output
    with store.connect(sample_db, read_only=True) as con:
        assert con.execute("select count(*) from audit_log where table_name = 'projects'").fetchall() == [(0,)]


def test_user_list_shows_roles_as_json(empty_db: Path) -> None:
    runner.invoke(app, ["user", "add", "a@gxj.cn", "--role", "admin", "--db", str(empty_db)])
    bad = runner.invoke(app, ["user", "add", "u@x.cn", "--role", "unit", "--db", str(empty_db)])
    assert bad.exit_code == 2
    listed = runner.invoke(app, ["user", "list", "--json", "--db", str(empty_db)])
    users = json.loads(listed.stdout)
    assert [(u["user_id"], u["role"], u["email"]) for u in users] == [("a@gxj.cn", "admin", "a@gxj.cn")]


def test_template_writes_the_import_headers(tmp_path: Path) -> None:
    target = tmp_path / "t.xlsx"
    result = runner.invoke(app, ["template", "projects", "--out", str(target)])
    assert result.exit_code == 0, result.output
    cells = [c.value for row in openpyxl.load_workbook(target).worksheets[0].iter_rows() for c in row]
    assert {"项目编号", "项目名称", "责任单位", "总投资(万元)"} <= {str(c) for c in cells if c}


def test_a_bad_month_is_one_sentence_and_exit_2(sample_db: Path) -> None:
    result = runner.invoke(app, ["check", "--as-of", "2016-13", "--db", str(sample_db)])
    assert result.exit_code == 2
    assert re.search(r"YYYY-MM", result.output)
    assert "Traceback" not in result.output


def test_check_prints_each_status_with_its_reason(sample_db_template: Path) -> None:
    payload = json.loads(runner.invoke(app, ["check", "--json", "--db", str(sample_db_template)]).output)
    result = runner.invoke(app, ["check", "--db", str(sample_db_template)], env={"COLUMNS": "400"})
    assert result.exit_code == 1  # a metric is off track
    shown = {"on_track": "正常", "at_risk": "有风险", "off_track": "滞后"}
    for m in payload["metrics"]:
        assert f"{m['label']}：{shown[m['status']]}——{m['status_reason']}。" in result.output
    # 技术改造投资 is 滞后 because its forecast upper bound is below 1,410亿, whatever its ratio
    assert re.search(r"技术改造投资：滞后——年末预测上限 1,3\d\d\.\d\d 亿元低于目标 1,410\.00 亿元", result.output)
