"""The scheduled report: the same numbers as `check` and `gaps`, in HTML, xlsx and Markdown."""

from __future__ import annotations

import html as html_lib
import re
import subprocess
import sys
import textwrap
import tomllib
from datetime import date, datetime
from pathlib import Path
from typing import Any

import openpyxl
import polars as pl
import pytest
from typer.testing import CliRunner

from portfolio import chains, cli, report, store, targets
from portfolio.i18n import t

DATA = Path(__file__).resolve().parents[1] / "data"
SEPT = date(2016, 9, 1)
NOW = datetime(2016, 10, 25, 6, 30)
EVIL = "<script>alert(1)</script>"


@pytest.fixture(scope="module")
def reference(sample_db_template: Path) -> dict[str, Any]:
    """What `portfolio check` and `portfolio gaps` say about the sample, September 2016."""
    with store.connect(sample_db_template, read_only=True) as con:
        return {"check": targets.check_report(con, as_of=SEPT), "gaps": chains.gaps_report(con)}


@pytest.fixture(scope="module")
def built(sample_db_template: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The September report of the sample in all three formats, and its text."""
    out = tmp_path_factory.mktemp("report")
    paths = report.build_report(sample_db_template, as_of=SEPT, out_dir=out, now=NOW)
    by_suffix = {p.suffix: p for p in paths}
    return {
        "out": out, "paths": paths, "html": by_suffix[".html"].read_text(encoding="utf-8"),
        "md": by_suffix[".md"].read_text(encoding="utf-8"), "xlsx": by_suffix[".xlsx"],
    }


def cells(html: str, key: str) -> list[str]:
    """The texts of the elements carrying ``data-key="key"``, in page order."""
    return [html_lib.unescape(m) for m in re.findall(rf'data-key="{re.escape(key)}">([^<]*)<', html)]


def yi(wan: float | None) -> str:
    return "—" if wan is None else f"{wan / 10_000:,.2f}"


def pct(ratio: float | None) -> str:
    return "—" if ratio is None else f"{ratio * 100:.1f}%"


def sheet_rows(path: Path, name: str) -> list[dict[str, Any]]:
    """The rows of one sheet as dicts keyed by the header row."""
    wb = openpyxl.load_workbook(path, read_only=False)
    ws = wb[name]
    rows = list(ws.iter_rows(values_only=True))
    header = rows[0]
    return [dict(zip(header, r, strict=True)) for r in rows[1:]]


# --------------------------------------------------------------------------------------------
# files and sections


def test_the_report_writes_three_files_named_by_month_and_a_snapshot(built: dict[str, Any]) -> None:
    assert [p.name for p in built["paths"]] == [
        "portfolio-report-2016-09.html", "portfolio-report-2016-09.xlsx", "portfolio-report-2016-09.md"]
    snap = built["out"] / "snapshots" / "2016-09"
    projects = pl.read_parquet(snap / "projects.parquet")
    gaps = pl.read_parquet(snap / "gaps.parquet")
    assert projects.height == 1004
    assert {"project_id", "name", "status", "flag", "tier", "unit_id"} <= set(projects.columns)
    assert {"node_id", "kind", "open"} <= set(gaps.columns)


def test_every_section_is_present_in_the_html(built: dict[str, Any]) -> None:
    html = built["html"]
    for section in ("cover", "targets", "tiers", "units", "chains", "lagging", "responsibility", "gaps",
                    "maps", "disagreements", "month", "notes"):
        assert '<section class="' in html and f'id="{section}"' in html, section
    assert 'id="changes"' not in html  # the first report in its folder compares with nothing
    for heading in ("工业投资与产业链缺口分析月报", "2016年9月", "一、年度目标完成情况", "二、投资规模档次",
                    "三、分责任单位", "四、分产业链", "五、滞后项目及存在问题", "六、包保责任落实",
                    "七、补链、增链、丰链", "待招商缺口", "八、产业链图谱", "九、链上作用申报与环节类别不一致",
                    "十、本月情况", "这是本目录中的第一份报告", "生成时间：2016-10-25 06:30", "示例数据"):
        assert heading in html, heading
    assert html.count("<svg") == 6  # S-curve, funnel, units, chains, two chain maps
    assert "report." not in re.sub(r"portfolio-report-\S+", "", html)  # every label resolved


def test_the_html_is_self_contained_and_references_no_address_outside(built: dict[str, Any]) -> None:
    html = built["html"]
    addresses = set(re.findall(r"(?:https?:)?//[\w.-]+[^\s\"'<>)]*", html))
    assert {a for a in addresses if not a.startswith("http://www.w3.org/")} == set()
    for tag in ("<script", "<link", "<img", "<iframe", "@import", "@font-face", "url(http"):
        assert tag not in html.lower()


def test_the_html_prints_on_a4_with_page_breaks_and_page_numbers(built: dict[str, Any]) -> None:
    html = built["html"]
    assert "size: A4;" in html and "counter(page)" in html
    assert "section.major { break-before: page; }" in html
    assert "thead { display: table-header-group; }" in html


# --------------------------------------------------------------------------------------------
# the numbers equal those of `check` and `gaps`


def test_the_target_figures_in_the_html_equal_the_check_report(built: dict[str, Any], reference: dict[str, Any]) -> None:
    html = built["html"]
    for m in reference["check"]["metrics"]:
        for key in ("target_wan", "planned_wan", "completed_wan", "expected_wan", "linear_expected_wan",
                    "forecast_wan"):
            assert yi(m[key]) in cells(html, f"{m['metric']}.{key}"), (m["metric"], key)
        for key in ("coverage", "ytd_ratio", "linear_ratio", "probability_meet_target"):
            assert cells(html, f"{m['metric']}.{key}")[-1] == pct(m[key]), (m["metric"], key)
        assert f"{yi(m['forecast_low_wan'])}–{yi(m['forecast_high_wan'])}" in html
        # the cover card and the targets table say why the status is what it is
        assert cells(html, f"{m['metric']}.status_reason") == [m["status_reason"]]
        assert html.count(m["status_reason"]) >= 3, m["metric"]  # card, targets table, highlights
    assert "低于目标 1,410.00 亿元，判为滞后" in html


def test_tiers_units_lagging_and_responsibility_in_the_html_equal_the_check_report(
        built: dict[str, Any], reference: dict[str, Any]) -> None:
    html, check = built["html"], reference["check"]
    assert cells(html, "tier.count") == [f"{r['count']:,}" for r in check["tiers"]]
    assert cells(html, "tier.cumulative_count") == [f"{r['cumulative_count']:,}" for r in check["tiers"]]
    assert cells(html, "tier.plan_wan") == [yi(r["plan_wan"]) for r in check["tiers"]]
    # units in the order of units.toml, chains in that of chains.toml (projects without a chain last)
    unit_order = [u["unit_id"] for u in tomllib.loads((DATA / "units.toml").read_text(encoding="utf-8"))["unit"]]
    chain_order = [c["chain_id"] for c in tomllib.loads((DATA / "chains.toml").read_text(encoding="utf-8"))["chain"]]
    units = sorted((r for r in check["by_unit"] if r["metric"] == "industrial_investment"),
                   key=lambda r: unit_order.index(r["unit_id"]))
    chain_rows = sorted((r for r in check["by_chain"] if r["metric"] == "industrial_investment"),
                        key=lambda r: chain_order.index(r["chain_id"]) if r["chain_id"] else len(chain_order))
    planned = cells(html, "group.planned_wan")
    assert planned == [yi(r["planned_wan"]) for r in units + chain_rows]
    assert cells(html, "group.completed_wan") == [yi(r["completed_wan"]) for r in units + chain_rows]
    shown = check["lagging_projects"][: report.LAGGING_TOP]
    assert cells(html, "lag.expected_wan") == [f"{r['expected_wan']:,.0f}" for r in shown]
    assert cells(html, "lag.completed_wan") == [f"{r['completed_wan']:,.0f}" for r in shown]
    assert f"滞后项目（红、黄标识或停滞）共 {check['lagging_count']} 个" in html
    for r in shown:
        assert f'data-project="{r["project_id"]}"' in html
        if r["open_problems"]:
            assert html_lib.escape(r["open_problems"]) in html
    assert cells(html, "resp.count") == [f"{r['count']:,}" for r in check["responsibility"]]


def test_the_gap_figures_in_the_html_equal_the_gaps_report(built: dict[str, Any], reference: dict[str, Any]) -> None:
    html, gaps = built["html"], reference["gaps"]
    assert cells(html, "gapsum.open") == [str(r["open"]) for r in gaps["summary"]["by_chain"]]
    for kind in chains.KINDS:
        assert cells(html, f"gapsum.{kind}") == [str(r[kind]) for r in gaps["summary"]["by_chain"]]
    assert cells(html, "gap.score") == [f"{g['score']:.3f}" for g in gaps["gaps"]]
    for g in gaps["gaps"]:
        if g["open"]:
            assert g["reasons"][0] in html_lib.unescape(html)
    assert f"不一致：{len(gaps['role_disagreements'])} 个" in html


def test_the_report_payload_equals_check_report_key_by_key(sample_db_template: Path, reference: dict[str, Any]) -> None:
    with store.connect(sample_db_template, read_only=True) as con:
        data = report.collect(con, as_of=SEPT, now=NOW)
    check = reference["check"]
    for key, value in data.check.items():
        if key == "lagging_projects":
            assert value == check[key][: report.LAGGING_TOP]
        elif key == "violations":
            assert value == check[key][: report.VIOLATIONS_TOP]
        else:
            assert value == check[key], key
    assert data.gaps == reference["gaps"]
    assert data.lagging.height == check["lagging_count"]
    assert data.violations.height == sum(check["violation_counts"].values())


def test_the_xlsx_has_one_sheet_per_table_with_units_in_the_headers(built: dict[str, Any], reference: dict[str, Any]) -> None:
    wb = openpyxl.load_workbook(built["xlsx"])
    assert wb.sheetnames == ["目标", "月度进度", "统计局与项目库", "预测驱动项目", "档次", "责任单位", "产业链", "滞后项目", "包保",
                             "包保问题", "缺口", "待招商缺口", "申报不一致", "本月新报问题"]
    for ws in wb.worksheets:
        assert ws.freeze_panes == "A2", ws.title
    targets_ws = wb["目标"]
    headers = [c.value for c in targets_ws[1]]
    assert "累计完成（亿元）" in headers and "项目库年度计划（亿元）" in headers and "季节完成率" in headers
    col = headers.index("累计完成（亿元）") + 1
    assert targets_ws.cell(2, col).number_format == "#,##0.00"
    assert targets_ws.cell(2, headers.index("季节完成率") + 1).number_format == "0.0%"
    check, gaps = reference["check"], reference["gaps"]
    rows = sheet_rows(built["xlsx"], "目标")
    for row, m in zip(rows, check["metrics"], strict=True):
        assert row["指标"] == m["label"]
        assert row["状态说明"] == m["status_reason"]
        for header, key in (("年度目标（亿元）", "target_wan"), ("累计完成（亿元）", "completed_wan"),
                            ("季节预期（亿元）", "expected_wan"), ("年末预测（亿元）", "forecast_wan"),
                            ("预测下限（亿元）", "forecast_low_wan"), ("预测上限（亿元）", "forecast_high_wan")):
            assert row[header] * 10_000 == pytest.approx(m[key], abs=1e-6), header
        assert row["季节完成率"] == m["ytd_ratio"]
    tiers = sheet_rows(built["xlsx"], "档次")
    assert [r["累计"] for r in tiers] == [r["cumulative_count"] for r in check["tiers"]]
    units = sheet_rows(built["xlsx"], "责任单位")
    assert len(units) == len(check["by_unit"])
    assert sum(r["累计完成（亿元）"] for r in units if r["指标"] == "工业投资") * 10_000 == pytest.approx(
        check["metrics"][0]["completed_wan"], abs=0.05)
    lagging = sheet_rows(built["xlsx"], "滞后项目")
    assert len(lagging) == check["lagging_count"]
    assert [r["项目编号"] for r in lagging[:50]] == [r["project_id"] for r in check["lagging_projects"]]
    assert lagging[0]["已完成（万元）"] == check["lagging_projects"][0]["completed_wan"]
    assert len(sheet_rows(built["xlsx"], "包保问题")) == sum(check["violation_counts"].values())
    assert [r["项目数"] for r in sheet_rows(built["xlsx"], "包保")] == [r["count"] for r in check["responsibility"]]
    assert len(sheet_rows(built["xlsx"], "缺口")) == len(gaps["gaps"])
    assert len(sheet_rows(built["xlsx"], "待招商缺口")) == gaps["summary"]["open"]
    assert len(sheet_rows(built["xlsx"], "申报不一致")) == len(gaps["role_disagreements"])


def test_the_markdown_summary_carries_the_targets_top_lagging_and_top_gaps(
        built: dict[str, Any], reference: dict[str, Any]) -> None:
    md, check, gaps = built["md"], reference["check"], reference["gaps"]
    assert md.startswith("# 工业投资与产业链缺口分析月报（2016年9月）〔示例数据〕")
    for m in check["metrics"]:
        found = re.search(rf"- {m['label']}：累计完成 ([\d,.]+) 亿元，为季节预期的 ([\d.]+%)；"
                          rf"年末预测 ([\d,.]+) 亿元（区间 ([\d,.]+)–([\d,.]+)），目标 [\d,.]+ 亿元。(\S+?)：(.+)。$",
                          md, re.MULTILINE)
        assert found, m["label"]
        # the status is followed by its reason, built by the library
        assert found.groups() == (yi(m["completed_wan"]), pct(m["ytd_ratio"]), yi(m["forecast_wan"]),
                                  yi(m["forecast_low_wan"]), yi(m["forecast_high_wan"]), t(f"status.{m['status']}"),
                                  m["status_reason"])
    tech = next(m for m in check["metrics"] if m["metric"] == "tech_upgrade_investment")
    assert "滞后：年末预测上限 1,3" in md and "低于目标 1,410.00 亿元，判为滞后" in md and tech["status"] == "off_track"
    for i, r in enumerate(check["lagging_projects"][:5], start=1):
        assert f"{i}. {r['name']}（{r['unit_name']}）：应完成 {r['expected_wan']:,.0f} 万元" in md
    top = sorted((g for g in gaps["gaps"] if g["open"]), key=lambda g: (-g["score"], g["node_id"]))[:5]
    for i, g in enumerate(top, start=1):
        assert f"{i}. {g['chain']} · {g['node']}（{g['kind']}，得分 {g['score']:.3f}）" in md
    assert f"待招商缺口（{gaps['summary']['open']}）" in md
    assert md.count("这是本目录中的第一份报告") == 1 and "## 与上月相比" not in md
    assert len(md.splitlines()) < 60


# --------------------------------------------------------------------------------------------
# behaviour


def test_two_runs_give_the_same_report_apart_from_the_generation_time(
        sample_db_template: Path, built: dict[str, Any], tmp_path: Path) -> None:
    paths = report.build_report(sample_db_template, as_of=SEPT, out_dir=tmp_path,
                                now=datetime(2016, 10, 26, 8, 0))
    again = {p.suffix: p for p in paths}
    stamp = re.compile(r"(生成时间：)\d{4}-\d\d-\d\d \d\d:\d\d")
    assert stamp.sub("", again[".html"].read_text(encoding="utf-8")) == stamp.sub("", built["html"])
    assert stamp.sub("", again[".md"].read_text(encoding="utf-8")) == stamp.sub("", built["md"])
    for name in openpyxl.load_workbook(built["xlsx"]).sheetnames:
        assert sheet_rows(again[".xlsx"], name) == sheet_rows(built["xlsx"], name), name


def test_names_are_escaped_in_every_format(sample_db: Path, tmp_path: Path) -> None:
    with store.connect(sample_db) as con:
        con.execute("update projects set name = ? where project_id = 'CC2016-0001'", [EVIL])
        con.execute("update projects set name = '=HYPERLINK(\"x\")' where project_id = 'CC2016-0024'")
    paths = {p.suffix: p for p in report.build_report(sample_db, as_of=SEPT, out_dir=tmp_path, now=NOW)}
    html = paths[".html"].read_text(encoding="utf-8")
    assert EVIL not in html and "<script" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    md = paths[".md"].read_text(encoding="utf-8")
    assert "\\<script\\>alert(1)\\</script\\>" in md
    lagging = sheet_rows(paths[".xlsx"], "滞后项目")
    assert EVIL in [r["项目"] for r in lagging]
    # a name that looks like a formula stays text in Excel
    ws = openpyxl.load_workbook(paths[".xlsx"])["滞后项目"]
    formula_like = [c for c in ws["B"] if c.value == '=HYPERLINK("x")']
    assert formula_like and all(c.data_type == "s" for c in formula_like)


def test_a_list_longer_than_a_sheet_holds_is_cut_said_so_and_written_whole_beside_the_report(
        sample_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with store.connect(sample_db) as con:  # a formula-like name must stay text in the CSV too
        con.execute("update projects set name = '=HYPERLINK(\"x\")' where project_id = 'CC2016-0024'")
        check = targets.check_report(con, as_of=SEPT, limit=10_000)
        disagreements = chains.gaps_report(con, limit=None)["role_disagreements"]
    monkeypatch.setattr(report.data, "SHEET_ROWS", 50)
    paths = {p.name: p for p in report.build_report(sample_db, as_of=SEPT, out_dir=tmp_path, now=NOW)}
    lagging_csv, dis_csv = "portfolio-report-2016-09-lagging.csv", "portfolio-report-2016-09-disagreements.csv"
    assert set(paths) == {"portfolio-report-2016-09.html", "portfolio-report-2016-09.xlsx",
                          "portfolio-report-2016-09.md", lagging_csv, dis_csv}
    n, d = check["lagging_count"], len(disagreements)
    assert n > 50 and d > 50 and len(check["violations"]) <= 50  # the sample: 292 lagging, 98 disagreements
    # the sheet: a title row saying what was cut and where the rest is, then the first 50 rows
    ws = openpyxl.load_workbook(paths["portfolio-report-2016-09.xlsx"])["滞后项目"]
    rows = list(ws.iter_rows(values_only=True))
    assert rows[0][0] == f"本表只列出前 50 行（共 {n} 行）；全部 {n} 行见报告旁的 {lagging_csv}。"
    header, body = rows[2], rows[3:]
    assert len(body) == 50
    assert [r[0] for r in body] == [r["project_id"] for r in check["lagging_projects"][:50]]
    # the CSV: every row, the same columns, formulas defused
    whole = pl.read_csv(paths[lagging_csv], infer_schema=False)
    assert tuple(whole.columns) == header and whole.height == n
    assert whole["项目编号"].to_list() == [r["project_id"] for r in check["lagging_projects"]]
    assert "'=HYPERLINK(\"x\")" in whole["项目"].to_list()
    assert pl.read_csv(paths[dis_csv], infer_schema=False)["项目编号"].to_list() == [
        r["project_id"] for r in disagreements]
    # a sheet under the cap is as before: header first
    assert [c.value for c in openpyxl.load_workbook(paths["portfolio-report-2016-09.xlsx"])["包保问题"][1]][0] == "问题类型"
    # the HTML and the Markdown say so too
    html = html_lib.unescape(paths["portfolio-report-2016-09.html"].read_text(encoding="utf-8"))
    assert (f"共 {n} 项，此处列出前 20 项；Excel 附表“滞后项目”列出前 50 项，全部 {n} 项见报告旁的 {lagging_csv}。"
            in html)
    assert f"Excel 附表“申报不一致”列出前 50 项，全部 {d} 项见报告旁的 {dis_csv}。" in html
    assert f"“滞后项目”共 {n} 行，见 {lagging_csv}" in html
    md = paths["portfolio-report-2016-09.md"].read_text(encoding="utf-8")
    assert f"完整清单（CSV）：{lagging_csv}、{dis_csv}" in md


def test_without_as_of_the_latest_month_with_progress_is_reported(sample_db_template: Path, tmp_path: Path) -> None:
    paths = report.build_report(sample_db_template, out_dir=tmp_path, formats=["md"], now=NOW)
    assert [p.name for p in paths] == ["portfolio-report-2016-09.md"]


def test_a_month_without_progress_is_refused_and_nothing_is_written(sample_db_template: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    with pytest.raises(ValueError, match="2016-11 没有月度进度数据"):
        report.build_report(sample_db_template, as_of=date(2016, 11, 1), out_dir=out)
    assert not out.exists()
    result = CliRunner().invoke(cli.app, ["report", "--db", str(sample_db_template), "--as-of", "2016-11",
                                          "--out", str(out)])
    assert result.exit_code == 2
    assert not out.exists()


def test_an_empty_database_is_refused_with_a_clear_error(empty_db: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="没有任何月度进度数据"):
        report.build_report(empty_db, out_dir=tmp_path / "out")


def test_the_cli_prints_the_paths_it_wrote(sample_db_template: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(cli.app, ["report", "--db", str(sample_db_template), "--as-of", "2016-09",
                                          "--out", str(tmp_path), "--format", "md,html"])
    assert result.exit_code == 0, result.output
    printed = [line for line in result.stdout.splitlines() if line.endswith((".html", ".md"))]
    assert printed == [str(tmp_path / "portfolio-report-2016-09.html"), str(tmp_path / "portfolio-report-2016-09.md")]
    assert (tmp_path / "snapshots" / "2016-09" / "projects.parquet").exists()


def test_the_english_report_resolves_every_label(sample_db_template: Path) -> None:
    with store.connect(sample_db_template, read_only=True) as con:
        data = report.collect(con, as_of=SEPT, now=NOW)
    html = report.render_html(data, "en")
    assert "Monthly industrial investment and chain-gap report" in html and "September 2016" in html
    assert "report." not in re.sub(r"portfolio-report-\S+", "", html)
    assert "Industrial investment: cumulative completion" in html
    for m in data.check["metrics"]:
        assert m["status_reason_en"] in html
    assert "below the target 1,410.00" in html


HOLD_SCRIPT = textwrap.dedent(
    """
    import sys, time, duckdb
    con = duckdb.connect(sys.argv[1])
    con.execute("begin transaction")
    con.execute("update projects set note = 'held' where project_id = 'CC2016-0001'")
    print("holding", flush=True)
    time.sleep(float(sys.argv[2]))
    open(sys.argv[3], "w").close()  # a mark that exists before the lock is let go
    con.execute("commit")
    con.close()
    """
)


def test_the_report_waits_for_a_writer_and_then_succeeds(sample_db: Path, tmp_path: Path) -> None:
    script = tmp_path / "hold.py"
    script.write_text(HOLD_SCRIPT)
    released = tmp_path / "released"
    holder = subprocess.Popen([sys.executable, str(script), str(sample_db), "2", str(released)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "holding"
        paths = report.build_report(sample_db, as_of=SEPT, out_dir=tmp_path / "out", formats=["md"], now=NOW)
        assert released.exists()  # it waited for the writer: the mark is made just before its release
    finally:
        holder.wait(timeout=60)
    assert holder.returncode == 0
    assert paths[0].read_text(encoding="utf-8").startswith("# 工业投资与产业链缺口分析月报")


# --------------------------------------------------------------------------------------------
# since last month


def test_changes_since_last_month_come_from_the_previous_snapshot(sample_db: Path, tmp_path: Path) -> None:
    out = tmp_path / "reports"
    report.build_report(sample_db, as_of=date(2016, 8, 1), out_dir=out, formats=["md"], now=NOW)
    with store.connect(sample_db) as con:
        open_gap = chains.gaps(con).filter(pl.col("open")).row(0, named=True)
        con.execute("update projects set status = '竣工' where project_id = 'CC2016-0002'")
        con.execute(
            "insert into projects (project_id, name, unit_id, chain_id, node_id, nature, status,"
            " total_investment_wan, annual_plan_wan) values ('CC2016-9999', ?, 'JK', ?, ?, '新建', '前期', 50000, 0)",
            [EVIL, open_gap["chain_id"], open_gap["node_id"]],
        )
    paths = {p.suffix: p for p in report.build_report(sample_db, as_of=SEPT, out_dir=out, now=NOW)}
    with store.connect(sample_db, read_only=True) as con:
        data = report.collect(con, as_of=SEPT, now=NOW)
    previous = report.previous_snapshot(out, "2016-09")
    assert previous is not None and previous.month == "2016-08"
    aug = pl.read_parquet(out / "snapshots" / "2016-08" / "projects.parquet")
    changes = report.compare(data.snapshot, previous)
    assert changes["new_projects"]["project_id"].to_list() == ["CC2016-9999"]
    assert changes["status_changes"].select("project_id", "status_before", "status").rows() == [
        ("CC2016-0002", aug.filter(pl.col("project_id") == "CC2016-0002")["status"][0], "竣工")]
    assert changes["gaps_closed"]["node"].to_list() == [open_gap["node"]]
    assert changes["removed_projects"].height == 0
    # flags worsened: independently, green → amber/red or amber → red between the snapshots
    rank = {"green": 0, "amber": 1, "red": 2}
    before = dict(aug.select("project_id", "flag").iter_rows())
    worse = {pid for pid, flag in data.snapshot.projects.select("project_id", "flag").iter_rows()
             if flag in ("amber", "red") and pid in before
             and (before[pid] is None or rank[flag] > rank[before[pid]])}
    assert set(changes["flags_worsened"]["project_id"].to_list()) == worse
    html = paths[".html"].read_text(encoding="utf-8")
    assert "与 2016-08 的快照比较" in html and 'id="no-previous"' not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    md = paths[".md"].read_text(encoding="utf-8")
    assert (f"与 2016-08 相比：新增项目 1 个，状态变化 1 个，预警恶化 {len(worse)} 个，新增缺口 0 个，"
            f"消除缺口 1 个。") in md
    changes_sheet = sheet_rows(paths[".xlsx"], "变化")
    kinds = [r["变化"] for r in changes_sheet]
    assert kinds.count("新增项目") == 1 and kinds.count("状态变化") == 1 and kinds.count("预警恶化") == len(worse)


def test_the_latest_earlier_snapshot_is_used_when_last_month_has_none(tmp_path: Path) -> None:
    empty = pl.DataFrame({"project_id": []}, schema={"project_id": pl.String})
    for month in ("2016-05", "2016-07", "2016-10"):
        report.write_snapshot(tmp_path, report.Snapshot(month=month, projects=empty, gaps=empty))
    (tmp_path / "snapshots" / "2016-08").mkdir()  # an incomplete folder is ignored
    found = report.previous_snapshot(tmp_path, "2016-09")
    assert found is not None and found.month == "2016-07"
    assert report.previous_snapshot(tmp_path, "2016-05") is None


def test_a_report_memory_limit_too_small_reads_again_without_it_and_says_so(
        sample_db_template: Path, tmp_path: Path) -> None:
    """Within a memory limit DuckDB may run out; the report is then read without it, the same report."""
    said: list[str] = []
    small = report.build_report(sample_db_template, as_of=SEPT, out_dir=tmp_path / "small", formats=["md"],
                                now=NOW, progress=said.append, memory="1KB")
    plain = report.build_report(sample_db_template, as_of=SEPT, out_dir=tmp_path / "plain", formats=["md"], now=NOW)
    assert any("内存上限" in line and "1KB" in line for line in said)
    assert small[0].read_bytes() == plain[0].read_bytes()


def test_the_report_puts_the_memory_limit_back_and_leaves_the_insertion_order_alone(sample_db_template: Path) -> None:
    """The limit and the check's settings stay with the report's reading: other connections of the
    process (the app's) keep theirs."""
    with store.connect(sample_db_template, read_only=True) as con:
        setting = "select current_setting('memory_limit'), current_setting('preserve_insertion_order')"
        before = con.execute(setting).fetchall()
        report._collect(con, lambda _m: None, limit="900MB", as_of=SEPT, year=None, now=NOW, scenarios=())
        assert con.execute(setting).fetchall() == before
        assert before[0][1] is True


@pytest.mark.parametrize("value", ["lots", "800", "-1GB", "1GB; drop table projects"])
def test_an_unreadable_report_memory_limit_is_refused_before_anything_is_read(
        value: str, sample_db_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORTFOLIO_REPORT_MEMORY", value)
    with pytest.raises(ValueError, match="PORTFOLIO_REPORT_MEMORY"):
        report.memory_limit()
    result = CliRunner().invoke(cli.app, ["report", "--db", str(sample_db_template), "--as-of", "2016-09",
                                          "--out", str(tmp_path / "out"), "--format", "md"])
    assert result.exit_code == 2 and "PORTFOLIO_REPORT_MEMORY" in result.output
    assert not (tmp_path / "out").exists()


def test_the_report_job_reads_its_memory_limit_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PORTFOLIO_REPORT_MEMORY", raising=False)
    assert report.memory_limit() == report.REPORT_MEMORY
    monkeypatch.setenv("PORTFOLIO_REPORT_MEMORY", " 2GB ")
    assert report.memory_limit() == "2GB"
    monkeypatch.setenv("PORTFOLIO_REPORT_MEMORY", "0")
    assert report.memory_limit() is None
