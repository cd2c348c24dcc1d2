"""A saved scenario in the monthly report: an appendix in the HTML, the Markdown and the xlsx."""

from __future__ import annotations

import html as html_lib
import os
import re
import subprocess
import sys
from datetime import date, datetime
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from portfolio import report, store
from portfolio import scenarios as sc

SEPT = date(2016, 9, 1)
NOW = datetime(2016, 10, 25, 6, 30)
NAME = "奥迪推迟一季度"


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory, sample_db_template: Path) -> Path:
    """The sample with one saved scenario: 奥迪Q工厂 slips a quarter, CC2016-0002 is cancelled."""
    path = tmp_path_factory.mktemp("report_scenario") / "portfolio.duckdb"
    path.write_bytes(sample_db_template.read_bytes())
    scenario = sc.Scenario(changes=(sc.Change("slip", "CC2016-0001", months=3), sc.Change("cancel", "CC2016-0002")),
                           name=NAME, note="联席会议 <b>提问</b>")
    with store.connect(path) as con:
        sc.save(con, scenario, user="tester")
    return path


@pytest.fixture(scope="module")
def expected(db: Path) -> dict[str, Any]:
    with store.connect(db, read_only=True) as con:
        return sc.apply(con, sc.load(con, NAME), as_of=SEPT).report()


@pytest.fixture(scope="module")
def built(db: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("report_scenario_out")
    paths = {p.suffix: p for p in report.build_report(db, as_of=SEPT, out_dir=out, now=NOW, scenarios=[NAME])}
    return {"html": paths[".html"].read_text(encoding="utf-8"), "md": paths[".md"].read_text(encoding="utf-8"),
            "xlsx": paths[".xlsx"]}


def yi(wan: float) -> str:
    return f"{wan / 10_000:,.2f}"


def test_the_html_appendix_names_the_changes_both_metrics_and_says_it_is_not_the_plan(
        built: dict[str, Any], expected: dict[str, Any]) -> None:
    page = built["html"]
    assert 'id="scenarios"' in page and "附录：情景推演" in page and '<a href="#scenarios">' in page
    assert "情景推演不是计划" in page
    section = page[page.index('id="scenarios"'):page.index('id="notes"')]
    assert f"情景“{NAME}”" in section
    assert "CC2016-0001 推迟 3 个月" in section and "CC2016-0002 取消" in section
    assert "&lt;b&gt;提问&lt;/b&gt;" in section and "<b>提问</b>" not in section  # the note is data
    for m in expected["metrics"]:
        before = re.findall(rf'data-key="scenario\.{m["metric"]}\.before">([^<]*)<', section)
        after = re.findall(rf'data-key="scenario\.{m["metric"]}\.after">([^<]*)<', section)
        assert [html_lib.unescape(x) for x in before] == [yi(m["forecast_wan_before"])]
        assert [html_lib.unescape(x) for x in after] == [yi(m["forecast_wan_after"])]
    for u in expected["units"]:
        assert html_lib.escape(u["unit_name"]) in section
    assert "report." not in re.sub(r"portfolio-report-\S+", "", page)


def test_the_markdown_appendix_has_the_changes_and_the_figures(built: dict[str, Any], expected: dict[str, Any]
                                                              ) -> None:
    md = built["md"]
    part = md[md.index("## 附录：情景推演"):]
    assert "情景推演不是计划" in part and f"### 情景“{NAME}”" in part
    assert "- CC2016-0001 推迟 3 个月" in part
    for m in expected["metrics"]:
        assert f"年末预测 {yi(m['forecast_wan_before'])} → {yi(m['forecast_wan_after'])} 亿元" in part


def test_the_xlsx_has_a_scenario_sheet_with_the_figures(built: dict[str, Any], expected: dict[str, Any]) -> None:
    wb = openpyxl.load_workbook(built["xlsx"])
    assert "情景推演" in wb.sheetnames
    rows = list(wb["情景推演"].iter_rows(values_only=True))
    assert str(rows[0][0]).startswith("情景推演不是计划")
    header = next(i for i, r in enumerate(rows) if r[0] == "情景")
    body = [dict(zip(rows[header], r, strict=True)) for r in rows[header + 1:]]
    changes = [r["名称"] for r in body if r["内容"] == "变化"]
    assert changes == ["CC2016-0001 推迟 3 个月", "CC2016-0002 取消（退出储备和在建项目）"]
    metrics = {r["指标"]: r for r in body if r["内容"] == "指标"}
    for m in expected["metrics"]:
        row = metrics[m["label"]]
        assert row["当前预测（亿元）"] == pytest.approx(m["forecast_wan_before"] / 10_000, abs=1e-5)
        assert row["情景预测（亿元）"] == pytest.approx(m["forecast_wan_after"] / 10_000, abs=1e-5)
    moved = {(r["指标"], r["名称"]) for r in body if r["内容"] == "责任单位"}
    assert moved == {(next(m["label"] for m in expected["metrics"] if m["metric"] == u["metric"]), u["unit_name"])
                     for u in expected["units"]}


def test_a_report_without_scenarios_has_no_appendix(db: Path, tmp_path: Path) -> None:
    paths = {p.suffix: p for p in report.build_report(db, as_of=SEPT, out_dir=tmp_path, now=NOW, formats=["html", "md"])}
    assert 'id="scenarios"' not in paths[".html"].read_text(encoding="utf-8")
    assert "情景推演" not in paths[".md"].read_text(encoding="utf-8")


def _run(db: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PORTFOLIO_DB"}
    return subprocess.run([sys.executable, "-m", "portfolio.cli", "report", "--as-of", "2016-09", "--db", str(db), *args],
                          capture_output=True, text=True, encoding="utf-8", env=env, timeout=600, check=False)


def test_the_command_takes_names_comma_separated_or_repeated(db: Path, tmp_path: Path) -> None:
    with store.connect(db) as con:
        sc.save(con, sc.Scenario(changes=(sc.Change("stop", "CC2016-0003"),), name="停工一个"), user="tester")
    done = _run(db, "--out", str(tmp_path), "--format", "md", "--scenario", f"{NAME},停工一个")
    assert done.returncode == 0, done.stderr
    md = (tmp_path / "portfolio-report-2016-09.md").read_text(encoding="utf-8")
    assert f"### 情景“{NAME}”" in md and "### 情景“停工一个”" in md


def test_an_unknown_scenario_name_exits_2_and_writes_nothing(db: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    done = _run(db, "--out", str(out), "--scenario", NAME, "--scenario", "没有这个情景")
    assert done.returncode == 2
    assert "没有名为“没有这个情景”的情景" in done.stderr and "Traceback" not in done.stderr
    assert [line for line in done.stderr.splitlines() if line.startswith("错误")] == [done.stderr.splitlines()[-1]]
    assert not out.exists()
