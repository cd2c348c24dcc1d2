"""Tests for portfolio.ingest: reading messy ledgers, parsing, validation, upsert, rejects, CLI."""

from __future__ import annotations

import json
import os
import shutil
import time
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import fastexcel
import polars as pl
import pytest
import xlsxwriter
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal
from typer.testing import CliRunner

from portfolio import ingest, store
from portfolio.cli import app

HEADER = ["序号", "项目编号", "项目名称", "建设单位", "产业链", "产业链环节", "责任单位", "建设性质",
          "项目状态", "总投资（万元）", "年度计划投资(万元)", "开工时间", "竣工时间", "包保领导", "包保层级",
          "是否重大产业化项目", "链上作用", "备注"]

GOOD = {"序号": "1", "项目编号": "P100", "项目名称": "测试项目", "建设单位": "测试企业", "产业链": "汽车",
        "产业链环节": "整车制造", "责任单位": "汽开区", "建设性质": "新建", "项目状态": "在建",
        "总投资（万元）": "5000", "年度计划投资(万元)": "2000", "开工时间": "2016.3", "竣工时间": "2017.6",
        "包保领导": "张三", "包保层级": "处室", "是否重大产业化项目": "否", "链上作用": "补链", "备注": ""}


# --------------------------------------------------------------------------- helpers and fixtures


def write_xlsx(path: Path, rows: list[list[Any]], sheet: str = "台账") -> Path:
    """Write rows (None = empty cell, datetime = a real date cell) with xlsxwriter."""
    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet(sheet)
    fmt = wb.add_format({"num_format": "yyyy-mm-dd"})
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            if isinstance(value, datetime):
                ws.write_datetime(r, c, value, fmt)
            elif value is not None:
                ws.write(r, c, value)
    wb.close()
    return path


def write_csv(path: Path, header: list[str], rows: list[dict[str, str]], *, encoding: str = "utf-8",
              title: str | None = None) -> Path:
    """A CSV ledger with an optional title line above the header."""
    lines = ([title] if title else []) + [",".join(header)]
    lines += [",".join(_csv_cell(row.get(h, "")) for h in header) for row in rows]
    path.write_bytes(("\n".join(lines) + "\n").encode(encoding))
    return path


def _csv_cell(value: str) -> str:
    return f'"{value}"' if "," in value else value


def project(**changes: str) -> dict[str, str]:
    """A valid project row with some cells changed."""
    return {**GOOD, **changes}


def snapshot(db: Path) -> dict[str, pl.DataFrame]:
    """Every data table in full, to prove that nothing was written."""
    with store.connect(db, read_only=True) as con:
        return {t: store.fetch(con, f"select * from {t} order by all")
                for t in ("projects", "progress", "enterprises", "audit_log", "meta")}


def assert_untouched(db: Path, before: dict[str, pl.DataFrame]) -> None:
    after = snapshot(db)
    for table, frame in before.items():
        assert_frame_equal(after[table], frame)


def ingest_rows(db: Path, tmp_path: Path, rows: list[dict[str, str]], name: str = "ledger.csv",
                header: list[str] = HEADER, **kwargs: Any) -> ingest.IngestResult:
    return ingest.ingest_file(db, write_csv(tmp_path / name, header, rows), **kwargs)


@pytest.fixture(scope="session")
def reference_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database with the reference data only, built once and copied by ``db``."""
    return store.init_db(tmp_path_factory.mktemp("reference") / "reference.duckdb")


@pytest.fixture
def db(tmp_path: Path, reference_db: Path) -> Path:
    """A fresh database with the reference data only (store.init_db, no sample)."""
    return Path(shutil.copy(reference_db, tmp_path / "db.duckdb"))


@pytest.fixture
def messy_ledger(tmp_path: Path) -> Path:
    """An .xlsx ledger as the districts send it: title rows, blank rows, 序号, 合计, mixed forms."""
    rows: list[list[Any]] = [
        ["2016年长春市工业投资项目台账"],
        [None, "填报单位：市工信局", None, None, None, "单位：万元"],
        [],
        HEADER,
        [1, "P001", "奥迪Q工厂", "一汽-大众", "汽车", "整车制造", "汽开区", "新建", "在建",
         "1.5亿", "3,000", "2016.3", "2017年12月", "李市长", "市领导", "是", "补链", None],
        [2, "P002", "聚乳酸项目", "吉林中粮", None, "聚乳酸", "长春高新技术产业开发区", "技改", "续建",
         "１２００", "800万元", datetime(2016, 3, 15), "2016/12/31", None, "局级", "Y", None, "备注"],
        [],
        [3, 1003, "动车组检修基地", "长客", "轨道客车", "动车组检修", "绿园", "扩建", "前期",
         "5000万", 1200.5, 42430, "2017-06-30", None, "处室", 1, "丰链", None],
        ["小计", None, None, None, None, None, None, None, None, "21200", "5000"],
        [4, "P004", "汽车电子园", "某公司", "电子信息", "汽车电子", "高新区", "改建及技术改造", "谋划",
         "250000000元", "0", "2016年3月15日", "2018.10", None, "属地", "否", "增链", None],
        [None, None, None, None, None, None, None, None, None, None, None, None, None, None, None, None, None, " "],
        ["合 计", None, None, None, None, None, None, None, None, "46200", "5000"],
    ]
    return write_xlsx(tmp_path / "台账.xlsx", rows)


EXPECTED_PROJECTS = pl.DataFrame(
    {
        "project_id": ["1003", "P001", "P002", "P004"],
        "name": ["动车组检修基地", "奥迪Q工厂", "聚乳酸项目", "汽车电子园"],
        "chain_id": ["rail", "auto", "bio", "elec"],
        "node_id": ["rail.maint", "auto.vehicle", "bio.pla", "elec.autoelec"],
        "unit_id": ["LY", "QK", "GX", "GX"],
        "nature": ["扩建", "新建", "改建及技术改造", "改建及技术改造"],
        "status": ["前期", "在建", "在建", "谋划"],
        "total_investment_wan": [Decimal("5000.00"), Decimal("15000.00"), Decimal("1200.00"), Decimal("25000.00")],
        "annual_plan_wan": [Decimal("1200.50"), Decimal("3000.00"), Decimal("800.00"), Decimal("0.00")],
        "start_date": [date(2016, 3, 1), date(2016, 3, 1), date(2016, 3, 15), date(2016, 3, 15)],
        "end_date": [date(2017, 6, 30), date(2017, 12, 1), date(2016, 12, 31), date(2018, 10, 1)],
        "leader_level": ["处室", "市级", "局级", "属地"],
        "is_major": [True, True, True, False],
        "chain_role": ["丰链", "补链", None, "增链"],
    },
    schema_overrides={"total_investment_wan": pl.Decimal(18, 2), "annual_plan_wan": pl.Decimal(18, 2)},
)


# --------------------------------------------------------------------------- parsing


def parse(expr: Any, values: list[str | None]) -> list[Any]:
    return pl.DataFrame({"s": values}, schema={"s": pl.String}).select(expr(pl.col("s")).alias("v"))["v"].to_list()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("3000", "3000.00"), ("3,000", "3000.00"), ("１２００", "1200.00"), ("1.5亿", "15000.00"),
        ("1.5亿元", "15000.00"), ("800万元", "800.00"), ("800万", "800.00"), ("5000000元", "500.00"),
        (" 2,500.75 ", "2500.75"), ("0.30000000000000004", "0.30"), ("12345元", "1.23"),
        ("15050元", "1.51"), ("0.000123亿", "1.23"), ("１，２００．５", "1200.50"), ("-5", "-5.00"),
        ("1e3", "1000.00"), ("¥3000", "3000.00"),
    ],
)
def test_each_amount_form_parses_to_the_exact_decimal_in_wan(text: str, expected: str) -> None:
    assert parse(ingest.parse_amount, [text]) == [Decimal(expected)]


@pytest.mark.parametrize("text", ["abc", "1.2.3", "约3000", "3000美元", "三千万"])
def test_an_unreadable_amount_parses_to_null(text: str) -> None:
    assert parse(ingest.parse_amount, [text]) == [None]


def test_a_header_unit_scales_plain_numbers_but_not_explicit_suffixes() -> None:
    assert parse(lambda e: ingest.parse_amount(e, "亿元"), ["1.5", "800万"]) == [Decimal("15000.00"), Decimal("800.00")]
    assert parse(lambda e: ingest.parse_amount(e, "元"), ["5000000"]) == [Decimal("500.00")]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2016.3", date(2016, 3, 1)), ("2016年3月", date(2016, 3, 1)), ("2016-03", date(2016, 3, 1)),
        ("2016-03-15", date(2016, 3, 15)), ("2016/3/15", date(2016, 3, 15)),
        ("2016年3月15日", date(2016, 3, 15)), ("42430", date(2016, 3, 1)), ("42430.0", date(2016, 3, 1)),
        ("2016-03-15 00:00:00", date(2016, 3, 15)), ("20160315", date(2016, 3, 15)),
        ("２０１６年３月", date(2016, 3, 1)), ("2016.10", date(2016, 10, 1)), ("2016. 3", date(2016, 3, 1)),
    ],
)
def test_each_date_form_parses_to_the_exact_date(text: str, expected: date) -> None:
    assert parse(ingest.parse_date, [text]) == [expected]


@pytest.mark.parametrize("text", ["2016-13", "2016-02-30", "2016", "明年三月", "3/15/2016"])
def test_an_impossible_or_partial_date_parses_to_null(text: str) -> None:
    assert parse(ingest.parse_date, [text]) == [None]


def test_a_month_is_normalised_to_its_first_day_and_a_bare_month_takes_the_plan_year() -> None:
    got = parse(lambda e: ingest.parse_month(e, default_year=2016), ["2016-09-20", "2016年9月", "9月", "9", "13月"])
    assert got == [date(2016, 9, 1)] * 4 + [None]


def test_booleans_accept_the_usual_spellings() -> None:
    got = parse(ingest.parse_bool, ["是", "否", "Y", "n", "TRUE", "false", "1", "0", "√", "×", "也许"])
    assert got == [True, False, True, False, True, False, True, False, True, False, None]


@pytest.mark.parametrize(
    "header",
    ["总投资（万元）", "总投资(万元)", "总投资", " 总 投 资 （ 万元 ）", "总投资\n(万元)", "TOTAL_INVESTMENT_WAN",
     "计划总投资（万元）", "*总投资"],
)
def test_header_variants_map_to_the_same_column(header: str) -> None:
    key, _unit = ingest.normalize_header(header)
    assert ingest.HEADER_MAPS["projects"][key] == "total_investment_wan"


def test_a_header_unit_is_recognised() -> None:
    assert ingest.normalize_header("总投资（亿元）") == ("总投资", "亿元")
    assert ingest.normalize_header("形象进度(%)") == ("形象进度", "%")
    assert ingest.normalize_header("2016年计划投资") == ("计划投资", None)


# --------------------------------------------------------------------------- reading


def test_the_header_row_is_found_under_title_rows_and_rows_keep_their_excel_numbers(messy_ledger: Path) -> None:
    ledger = ingest.read_ledger(messy_ledger)
    assert (ledger.kind, ledger.header_row, ledger.sheet) == ("projects", 4, "台账")
    assert ledger.frame["_row"].to_list() == [5, 6, 8, 10]
    assert ledger.skipped_rows == [9, 12]
    assert ledger.rows_read == 6
    assert "序号" in ledger.frame.columns and "序号" not in ledger.columns


def test_a_messy_xlsx_imports_with_every_form_read_correctly(db: Path, messy_ledger: Path) -> None:
    result = ingest.ingest_file(db, messy_ledger)
    assert (result.rows_read, result.inserted, result.rejected, result.skipped) == (6, 4, 0, 2)
    assert result.errors.is_empty() and result.rejects_file is None
    with store.connect(db, read_only=True) as con:
        got = store.fetch(con, f"select {', '.join(EXPECTED_PROJECTS.columns)} from projects order by project_id")
    assert_frame_equal(got, EXPECTED_PROJECTS)


def test_utf8_utf8_bom_and_gbk_csv_read_the_same(db: Path, tmp_path: Path) -> None:
    rows = [project(项目编号="P1", **{"总投资（万元）": "3,000"}), project(项目编号="P2", 责任单位="朝阳区", 项目名称="中文，带逗号")]
    frames = []
    for encoding in ("utf-8", "utf-8-sig", "gbk", "gb18030"):
        path = write_csv(tmp_path / f"{encoding}.csv", HEADER, rows, encoding=encoding, title="2016年项目台账,,,")
        ledger = ingest.read_ledger(path)
        assert ledger.header_row == 2
        frames.append(ledger.frame)
    for frame in frames[1:]:
        assert_frame_equal(frame, frames[0])
    assert frames[0]["项目名称"].to_list() == ["测试项目", "中文，带逗号"]
    assert frames[0]["_row"].to_list() == [3, 4]


def test_a_csv_with_blank_lines_keeps_the_line_numbers(tmp_path: Path) -> None:
    path = tmp_path / "gaps.csv"
    body = ",".join(HEADER) + "\n\n" + ",".join(GOOD[h] for h in HEADER) + "\n,,,\n合计,,,,,,,,,9000\n"
    path.write_text("台账\n" + body, encoding="utf-8")
    ledger = ingest.read_ledger(path)
    assert ledger.frame["_row"].to_list() == [4]
    assert ledger.skipped_rows == [6]


def test_a_typed_parquet_file_imports(db: Path, tmp_path: Path) -> None:
    frame = pl.DataFrame({
        "project_id": ["Q1", "Q2"], "name": ["甲", "乙"], "unit_id": ["JK", "净月区"],
        "nature": ["新建", "扩建"], "status": ["在建", "在建"],
        "total_investment_wan": [1500.5, 20000.0], "annual_plan_wan": [100, 200],
        "start_date": [date(2016, 4, 1), date(2016, 5, 20)], "is_major": [True, False],
    })
    path = tmp_path / "ledger.parquet"
    frame.write_parquet(path)
    result = ingest.ingest_file(db, path)
    assert (result.inserted, result.rejected, result.header_row) == (2, 0, 1)
    with store.connect(db, read_only=True) as con:
        got = store.fetch(con, "select project_id, unit_id, total_investment_wan, annual_plan_wan, start_date,"
                               " is_major from projects order by project_id")
    assert got.rows() == [("Q1", "JK", Decimal("1500.50"), Decimal("100.00"), date(2016, 4, 1), True),
                          ("Q2", "JY", Decimal("20000.00"), Decimal("200.00"), date(2016, 5, 20), False)]


def test_the_first_sheet_with_a_header_is_used_and_a_named_sheet_can_be_chosen(tmp_path: Path) -> None:
    path = tmp_path / "two.xlsx"
    wb = xlsxwriter.Workbook(str(path))
    wb.add_worksheet("说明").write(0, 0, "填表说明：金额单位万元")
    data = wb.add_worksheet("数据")
    data.write_row(0, 0, ["项目编号", "月份", "本月完成投资(万元)"])
    data.write_row(1, 0, ["P1", "2016.9", "100"])
    wb.close()
    assert ingest.read_ledger(path).sheet == "数据"
    assert ingest.read_ledger(path, sheet="数据").kind == "progress"


@pytest.mark.parametrize(
    ("header", "kind"),
    [
        (["项目编号", "项目名称", "月份", "本月完成投资（万元）", "形象进度（%）", "存在问题"], "progress"),
        (["序号", "企业编号", "企业名称", "责任单位", "产业链环节", "年产值（万元）", "是否重点企业"], "enterprises"),
        (["project_id", "name", "unit_id", "nature", "status", "total_investment_wan"], "projects"),
    ],
)
def test_the_kind_is_detected_from_the_headers(tmp_path: Path, header: list[str], kind: str) -> None:
    path = write_csv(tmp_path / "k.csv", header, [dict.fromkeys(header, "1")])
    assert ingest.read_ledger(path).kind == kind


# --------------------------------------------------------------------------- file problems


def _garbage(tmp_path: Path) -> Path:
    path = tmp_path / "broken.xlsx"
    path.write_bytes(b"PK\x03\x04 this is not a workbook")
    return path


FILE_PROBLEMS = {
    "no header": (lambda p: write_csv(p / "a.csv", ["甲", "乙", "丙"], [{"甲": "1"}]), "找不到表头行"),
    "missing column": (lambda p: write_csv(p / "b.csv", [h for h in HEADER if h != "项目状态"], [GOOD]),
                       "缺少必需的列：项目状态"),
    "unreadable": (_garbage, "无法读取 Excel 文件"),
    "wrong extension": (lambda p: (p / "c.docx").write_bytes(b"x") and p / "c.docx", "不支持的文件类型 .docx"),
    "missing file": (lambda p: p / "nope.csv", "文件不存在"),
    "empty csv": (lambda p: (p / "e.csv").write_bytes(b"") or p / "e.csv", "是空的"),
    "ambiguous kind": (lambda p: write_csv(p / "d.csv", ["编号", "名称"], [{"编号": "1"}]), "请用 --kind 指定"),
}


@pytest.mark.parametrize("case", sorted(FILE_PROBLEMS))
def test_a_file_problem_raises_and_leaves_the_database_untouched(db: Path, tmp_path: Path, case: str) -> None:
    make, message = FILE_PROBLEMS[case]
    path = make(tmp_path)
    before = snapshot(db)
    with pytest.raises(ingest.FileProblem) as info:
        ingest.ingest_file(db, path)
    if message:
        assert message in str(info.value)
    assert "\n" not in str(info.value)
    assert_untouched(db, before)


def test_a_kind_that_does_not_match_the_headers_is_a_file_problem(db: Path, messy_ledger: Path) -> None:
    with pytest.raises(ingest.FileProblem, match="看起来是项目台账，与 --kind progress 不符"):
        ingest.ingest_file(db, messy_ledger, kind="progress")


def test_an_unknown_sheet_is_a_file_problem(db: Path, messy_ledger: Path) -> None:
    with pytest.raises(ingest.FileProblem, match="工作表 '汇总' 不存在"):
        ingest.ingest_file(db, messy_ledger, sheet="汇总")


def test_a_database_error_rolls_everything_back(db: Path, messy_ledger: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = snapshot(db)

    def broken(con: duckdb.DuckDBPyConnection, frame: pl.DataFrame, **_: object) -> None:
        raise duckdb.ConstraintException("simulated failure")

    monkeypatch.setattr(store, "audit_frame", broken)
    with pytest.raises(ingest.ImportFailed, match="已全部撤销"):
        ingest.ingest_file(db, messy_ledger)
    assert_untouched(db, before)


# --------------------------------------------------------------------------- validation


PROJECT_REJECTS = [
    ({"项目编号": ""}, "项目编号", "必填项为空"),
    ({"项目名称": " "}, "项目名称", "必填项为空"),
    ({"总投资（万元）": "-"}, "总投资（万元）", "必填项为空"),
    ({"总投资（万元）": "约5000"}, "总投资（万元）", "金额无法识别"),
    ({"年度计划投资(万元)": "-100"}, "年度计划投资(万元)", "金额不能为负数"),
    ({"开工时间": "明年"}, "开工时间", "日期无法识别"),
    ({"建设性质": "新开"}, "建设性质", "建设性质无效（可填：新建、扩建、改建及技术改造）"),
    ({"项目状态": "停工"}, "项目状态", "项目状态无效"),
    ({"包保层级": "省级"}, "包保层级", "包保层级无效"),
    ({"链上作用": "强化"}, "链上作用", "链上作用无效"),
    ({"是否重大产业化项目": "也许"}, "是否重大产业化项目", "是/否无法识别"),
    ({"年度计划投资(万元)": "6000"}, "年度计划投资(万元)", "年度计划投资大于总投资"),
    ({"开工时间": "2017.9", "竣工时间": "2017.6"}, "开工时间", "开工时间晚于竣工时间"),
    ({"责任单位": "火星区"}, "责任单位", "未知的责任单位"),
    ({"产业链": "造船"}, "产业链", "未知的产业链"),
    ({"产业链环节": "造船厂"}, "产业链环节", "未知的产业链环节"),
    ({"产业链环节": "聚乳酸"}, "产业链环节", "产业链环节不属于所填产业链"),
    ({"总投资（万元）": "999.99", "年度计划投资(万元)": "0"}, "总投资（万元）", "总投资低于1000万元"),
]


@pytest.mark.parametrize(("change", "column", "reason"), PROJECT_REJECTS, ids=[r[2][:12] for r in PROJECT_REJECTS])
def test_each_bad_project_cell_is_rejected_with_its_row_column_and_reason(
    db: Path, tmp_path: Path, change: dict[str, str], column: str, reason: str
) -> None:
    rows = [project(项目编号="OK1"), project(**{"项目编号": "BAD", **change}), project(项目编号="OK2")]
    result = ingest_rows(db, tmp_path, rows)
    assert (result.inserted, result.rejected) == (2, 1)
    assert result.errors.height == 1
    error = result.errors.row(0, named=True)
    assert (error["row"], error["column"]) == (3, column)
    expected = change[column].strip() if column in change else GOOD[column]
    assert error["value"] == (expected if expected not in ("", "-") else None)
    assert reason in error["reason"]


def test_a_row_with_several_errors_reports_each_but_counts_once(db: Path, tmp_path: Path) -> None:
    bad = project(项目编号="B", 责任单位="火星区", 建设性质="?", **{"总投资（万元）": "abc"})
    result = ingest_rows(db, tmp_path, [bad])
    assert result.rejected == 1
    assert sorted(result.errors["column"].to_list()) == sorted(["责任单位", "建设性质", "总投资（万元）"])


def test_every_occurrence_of_a_duplicated_project_id_is_rejected(db: Path, tmp_path: Path) -> None:
    rows = [project(项目编号="D1"), project(项目编号="D1", 项目名称="另一个"), project(项目编号="D2")]
    result = ingest_rows(db, tmp_path, rows)
    assert (result.inserted, result.rejected) == (1, 2)
    assert result.errors.select("row", "reason").rows() == [(2, "文件内项目编号重复"), (3, "文件内项目编号重复")]


def test_a_segment_without_chain_resolves_when_its_name_is_unique(db: Path, tmp_path: Path) -> None:
    result = ingest_rows(db, tmp_path, [project(项目编号="S1", 产业链="", 产业链环节="聚乳酸")])
    assert result.inserted == 1
    with store.connect(db, read_only=True) as con:
        assert store.fetch(con, "select chain_id, node_id from projects").rows() == [("bio", "bio.pla")]


def test_units_and_chains_are_found_by_name_short_name_alias_or_id(db: Path, tmp_path: Path) -> None:
    names = ["长春汽车经济技术开发区", "汽开区", "汽开", "QK", "长春市汽开区", "汽 开 区"]
    chains = ["汽车", "汽车产业链", "auto", "汽车及零部件", "Automotive", "汽车产业"]
    rows = [project(项目编号=f"U{i}", 责任单位=u, 产业链=c) for i, (u, c) in enumerate(zip(names, chains, strict=True))]
    result = ingest_rows(db, tmp_path, rows)
    assert result.inserted == len(names), result.errors
    with store.connect(db, read_only=True) as con:
        assert store.fetch(con, "select distinct unit_id, chain_id from projects").rows() == [("QK", "auto")]


# --------------------------------------------------------------------------- upsert, audit, revision


def test_importing_the_same_file_twice_changes_nothing_the_second_time(db: Path, messy_ledger: Path) -> None:
    first = ingest.ingest_file(db, messy_ledger)
    before = snapshot(db)
    second = ingest.ingest_file(db, messy_ledger)
    assert (second.inserted, second.updated, second.unchanged) == (0, 0, first.inserted)
    assert second.revision == first.revision
    assert_untouched(db, before)


def test_an_update_bumps_version_and_writes_old_and_new_values_to_the_audit_log(db: Path, tmp_path: Path) -> None:
    ingest_rows(db, tmp_path, [project(项目编号="V1"), project(项目编号="V2")])
    with store.connect(db, read_only=True) as con:
        audit_before = store.fetch(con, "select count(*) as n from audit_log")["n"][0]
    changed = project(项目编号="V1", **{"总投资（万元）": "0.8亿", "包保层级": "局领导"})
    result = ingest_rows(db, tmp_path, [changed, project(项目编号="V2")], actor="张科长", source="test")
    assert (result.updated, result.unchanged) == (1, 1)
    with store.connect(db, read_only=True) as con:
        rows = store.fetch(con, "select project_id, version, updated_by, total_investment_wan, leader_level"
                                " from projects order by project_id").rows()
        audit = store.fetch(con, "select actor, action, table_name, record_id, old_values, new_values, source"
                                 " from audit_log order by audit_id").slice(audit_before)
    assert rows == [("V1", 2, "张科长", Decimal("8000.00"), "局级"), ("V2", 1, "cli", Decimal("5000.00"), "处室")]
    assert audit.height == 1
    entry = audit.row(0, named=True)
    assert (entry["actor"], entry["action"], entry["table_name"], entry["record_id"], entry["source"]) == (
        "张科长", "update", "projects", "V1", "test")
    assert json.loads(entry["old_values"]) == {"total_investment_wan": "5000.00", "leader_level": "处室"}
    assert json.loads(entry["new_values"]) == {"total_investment_wan": "8000.00", "leader_level": "局级"}


def test_audit_rows_written_a_chunk_at_a_time_are_the_same_rows_in_the_same_order(
        db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    query = ("select action, table_name, record_id, old_values, new_values, source from audit_log"
             " where table_name = 'projects' order by audit_id")
    rows = [project(项目编号=f"C{i}") for i in range(5)]
    changed = [project(项目编号=f"C{i}", **{"总投资（万元）": "0.8亿"}) for i in (1, 3)] + rows[:1]
    whole = db.with_name("whole.duckdb")
    shutil.copy(db, whole)
    ingest_rows(whole, tmp_path, rows, source="s")
    ingest_rows(whole, tmp_path, changed, source="s")
    monkeypatch.setattr(ingest.writing, "AUDIT_CHUNK", 2)  # 5 inserts in 3 chunks, 2 updates in 1
    first = ingest_rows(db, tmp_path, rows, source="s")
    second = ingest_rows(db, tmp_path, changed, source="s")
    assert (first.rows_read, first.inserted, second.updated, second.unchanged) == (5, 5, 2, 1)
    with store.connect(db, read_only=True) as con, store.connect(whole, read_only=True) as ref:
        chunked, at_once = store.fetch(con, query), store.fetch(ref, query)
    assert chunked.height == 7
    assert chunked["record_id"].to_list() == ["C0", "C1", "C2", "C3", "C4", "C1", "C3"]
    assert_frame_equal(chunked, at_once)


def test_an_insert_is_audited_with_its_new_values(db: Path, tmp_path: Path) -> None:
    ingest_rows(db, tmp_path, [project(项目编号="A1")], source="src")
    with store.connect(db, read_only=True) as con:
        entry = store.fetch(con, "select action, record_id, old_values, new_values from audit_log"
                                 " where table_name = 'projects'").row(0, named=True)
    assert (entry["action"], entry["record_id"], entry["old_values"]) == ("insert", "A1", None)
    new = json.loads(entry["new_values"])
    assert (new["total_investment_wan"], new["start_date"], new["is_major"], new["unit_id"]) == (
        "5000.00", "2016-03-01", False, "QK")


def test_columns_missing_from_the_file_keep_their_stored_values(db: Path, tmp_path: Path) -> None:
    ingest_rows(db, tmp_path, [project(项目编号="K1")])
    header = [h for h in HEADER if h not in ("包保领导", "开工时间", "年度计划投资(万元)")]
    result = ingest_rows(db, tmp_path, [project(项目编号="K1", 项目名称="改名")], name="partial.csv", header=header)
    assert result.updated == 1
    with store.connect(db, read_only=True) as con:
        row = store.fetch(con, "select name, leader, start_date, annual_plan_wan from projects").row(0)
    assert row == ("改名", "张三", date(2016, 3, 1), Decimal("2000.00"))


def test_cross_checks_use_stored_values_for_columns_absent_from_the_file(db: Path, tmp_path: Path) -> None:
    ingest_rows(db, tmp_path, [project(项目编号="X1")])
    header = [h for h in HEADER if h not in ("年度计划投资(万元)", "开工时间")]
    row = project(项目编号="X1", **{"总投资（万元）": "1500", "竣工时间": "2015.1"})
    result = ingest_rows(db, tmp_path, [row], name="x.csv", header=header)
    assert sorted(result.errors["reason"].to_list()) == ["年度计划投资大于总投资", "开工时间晚于竣工时间"]


@given(st.lists(st.sampled_from(["good", "dup", "bad_amount", "small", "total", "blank", "bad_unit", "again"]),
                min_size=1, max_size=12))
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_the_counts_always_add_up_to_rows_read(tmp_path: Path, reference_db: Path, kinds: list[str]) -> None:
    db = Path(shutil.copy(reference_db, tmp_path / f"inv{time.monotonic_ns()}.duckdb"))
    ingest_rows(db, tmp_path, [project(项目编号="E0")], name="seed.csv")
    rows = []
    for i, k in enumerate(kinds):
        rows.append({
            "good": project(项目编号=f"G{i}"), "dup": project(项目编号="DUP"),
            "bad_amount": project(项目编号=f"B{i}", **{"总投资（万元）": "x"}),
            "small": project(项目编号=f"S{i}", **{"总投资（万元）": "10", "年度计划投资(万元)": "1"}),
            "total": {"序号": "合计", "总投资（万元）": "100"}, "blank": {},
            "bad_unit": project(项目编号=f"U{i}", 责任单位="?"), "again": project(项目编号="E0"),
        }[k])
    result = ingest_rows(db, tmp_path, rows, name=f"inv{len(kinds)}.csv").to_dict()
    parts = result["inserted"] + result["updated"] + result["unchanged"] + result["rejected"] + result["skipped"]
    assert parts == result["rows_read"] == len([k for k in kinds if k != "blank"])
    assert result["skipped"] == kinds.count("total")


# --------------------------------------------------------------------------- progress and enterprises


PROGRESS_HEADER = ["项目编号", "项目名称", "月份", "本月完成投资（万元）", "形象进度（%）", "存在问题", "问题协调层级"]


@pytest.fixture
def with_projects(db: Path, tmp_path: Path) -> Path:
    """The database with projects P1 (汽开区) and P2 (朝阳区)."""
    ingest_rows(db, tmp_path, [project(项目编号="P1"), project(项目编号="P2", 责任单位="朝阳区")], name="p.csv")
    return db


def test_progress_imports_with_months_normalised_and_rejects_each_problem(with_projects: Path, tmp_path: Path) -> None:
    rows = [
        {"项目编号": "P1", "月份": "2016年3月", "本月完成投资（万元）": "1,200", "形象进度（%）": "30%", "存在问题": "征地"},
        {"项目编号": "P1", "月份": "2016-04-20", "本月完成投资（万元）": "0.1亿", "形象进度（%）": "45",
         "问题协调层级": "市领导"},
        {"项目编号": "P2", "月份": "42430", "本月完成投资（万元）": ""},
        {"项目编号": "P9", "月份": "2016.3", "本月完成投资（万元）": "5"},
        {"项目编号": "P2", "月份": "2016.4", "本月完成投资（万元）": "5", "形象进度（%）": "120"},
        {"项目编号": "P2", "月份": "2016.5", "本月完成投资（万元）": "5"},
        {"项目编号": "P2", "月份": "2016年5月", "本月完成投资（万元）": "6"},
    ]
    result = ingest_rows(with_projects, tmp_path, rows, header=PROGRESS_HEADER, name="prog.csv")
    assert (result.kind, result.inserted, result.rejected) == ("progress", 3, 4)
    assert result.errors.select("row", "reason").rows() == [
        (5, "项目编号不在项目库中（请先导入项目）"), (6, "形象进度应在 0–100 之间"),
        (7, "文件内同一项目同一月份重复"), (8, "文件内同一项目同一月份重复"),
    ]
    with store.connect(with_projects, read_only=True) as con:
        got = store.fetch(con, "select project_id, month, completed_wan, physical_pct, problems, problem_level"
                               " from progress order by all")
    assert got.rows() == [
        ("P1", date(2016, 3, 1), Decimal("1200.00"), Decimal("30.00"), "征地", None),
        ("P1", date(2016, 4, 1), Decimal("1000.00"), Decimal("45.00"), None, "市级"),
        ("P2", date(2016, 3, 1), Decimal("0.00"), None, None, None),
    ]
    again = ingest_rows(with_projects, tmp_path, rows, header=PROGRESS_HEADER, name="prog.csv")
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 3)


def test_a_progress_update_is_audited_with_project_and_month(with_projects: Path, tmp_path: Path) -> None:
    row = {"项目编号": "P1", "月份": "2016.3", "本月完成投资（万元）": "100"}
    ingest_rows(with_projects, tmp_path, [row], header=PROGRESS_HEADER, name="a.csv")
    result = ingest_rows(with_projects, tmp_path, [{**row, "本月完成投资（万元）": "150"}],
                         header=PROGRESS_HEADER, name="b.csv")
    assert result.updated == 1
    with store.connect(with_projects, read_only=True) as con:
        entry = store.fetch(con, "select record_id, old_values, new_values from audit_log"
                                 " where action = 'update'").row(0)
    assert entry[0] == "P1/2016-03"
    assert json.loads(entry[1]) == {"completed_wan": "100.00"} and json.loads(entry[2]) == {"completed_wan": "150.00"}


def test_enterprises_import_and_update_by_enterprise_id(db: Path, tmp_path: Path) -> None:
    header = ["序号", "企业编号", "企业名称", "责任单位", "产业链", "产业链环节", "年产值（亿元）", "是否重点企业"]
    rows = [
        {"企业编号": "E1", "企业名称": "一汽", "责任单位": "汽开区", "产业链环节": "整车制造", "年产值（亿元）": "1500",
         "是否重点企业": "是"},
        {"企业编号": "E2", "企业名称": "中粮", "责任单位": "绿园区", "产业链": "生物", "产业链环节": "聚乳酸",
         "年产值（亿元）": "800万"},
        {"企业编号": "E3", "企业名称": "坏", "产业链": "汽车", "产业链环节": "聚乳酸"},
    ]
    result = ingest_rows(db, tmp_path, rows, header=header, name="ent.csv")
    assert (result.kind, result.inserted, result.rejected) == ("enterprises", 2, 1)
    with store.connect(db, read_only=True) as con:
        got = store.fetch(con, "select * exclude (leader_level, is_sample) from enterprises order by all")
    assert got.rows() == [("E1", "一汽", "QK", "auto.vehicle", Decimal("15000000.00"), True),
                          ("E2", "中粮", "LY", "bio.pla", Decimal("800.00"), False)]


# --------------------------------------------------------------------------- rights


def test_a_unit_user_cannot_change_other_units_projects(with_projects: Path, tmp_path: Path) -> None:
    rows = [project(项目编号="P1", 项目名称="改"), project(项目编号="P2", 项目名称="改", 责任单位="朝阳区"),
            project(项目编号="P3", 责任单位="朝阳区"), project(项目编号="P1x", 责任单位="汽开区")]
    result = ingest_rows(with_projects, tmp_path, rows, allowed_units={"QK"})
    assert (result.updated, result.inserted, result.rejected) == (1, 1, 2)
    assert set(result.errors["reason"]) == {"无权修改其他单位的项目"}
    moved = ingest_rows(with_projects, tmp_path, [project(项目编号="P2", 责任单位="汽开区")], name="m.csv",
                        allowed_units={"QK"})
    assert moved.rejected == 1, "moving another unit's project into one's own unit is refused"


def test_a_unit_user_cannot_report_progress_for_other_units_projects(with_projects: Path, tmp_path: Path) -> None:
    rows = [{"项目编号": "P1", "月份": "2016.3", "本月完成投资（万元）": "1"},
            {"项目编号": "P2", "月份": "2016.3", "本月完成投资（万元）": "1"}]
    result = ingest_rows(with_projects, tmp_path, rows, header=PROGRESS_HEADER, name="p.csv", allowed_units={"CY"})
    assert result.errors.select("row", "reason").rows() == [(2, "无权修改其他单位的项目")]


# --------------------------------------------------------------------------- rejects file


def test_rejects_go_next_to_the_input_as_utf8_bom_csv_with_the_original_cells(db: Path, tmp_path: Path) -> None:
    result = ingest_rows(db, tmp_path, [project(项目编号="R1", 责任单位="火星区")], name="台账.csv")
    path = tmp_path / "台账.rejects.csv"
    assert result.rejects_file == str(path)
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    back = pl.read_csv(path, infer_schema=False)
    assert back.columns[:4] == ["行号", "列", "值", "原因"]
    assert back.select("行号", "列", "值", "原因", "项目编号", "项目名称").rows() == [
        ("2", "责任单位", "火星区", "未知的责任单位", "R1", "测试项目")]


def test_rejects_can_be_written_to_an_xlsx_path(db: Path, tmp_path: Path) -> None:
    target = tmp_path / "out" / "拒收.xlsx"
    target.parent.mkdir()
    ingest_rows(db, tmp_path, [project(项目编号="R1", 建设性质="?")], rejects=target)
    back = fastexcel.read_excel(str(target)).load_sheet("拒收行", dtypes="string").to_polars()
    assert back.select("列", "原因").rows() == [("建设性质", "建设性质无效（可填：新建、扩建、改建及技术改造）")]


def test_an_unwritable_rejects_path_refuses_the_whole_import(db: Path, tmp_path: Path) -> None:
    before = snapshot(db)
    with pytest.raises(ingest.FileProblem, match="无法写入拒收文件"):
        ingest_rows(db, tmp_path, [project(项目编号="OK"), project(项目编号="R", 建设性质="?")],
                    rejects=tmp_path / "no" / "such" / "dir.csv")
    assert_untouched(db, before)


# --------------------------------------------------------------------------- CLI


def test_the_cli_exits_2_with_one_line_on_stderr_for_a_file_problem(db: Path, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "bad.csv", ["甲", "乙"], [{"甲": "1"}])
    result = CliRunner().invoke(app, ["ingest", str(path), "--db", str(db)])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1
    assert "找不到表头行" in result.stderr


def test_the_cli_prints_the_contract_json(db: Path, messy_ledger: Path) -> None:
    result = CliRunner().invoke(app, ["ingest", str(messy_ledger), "--db", str(db), "--json"])
    assert result.exit_code == 0, result.stderr
    payload = json.loads(result.stdout)
    assert {"file", "kind", "rows_read", "inserted", "updated", "unchanged", "rejected", "skipped",
            "rejects_file", "errors"} <= payload.keys()
    assert (payload["rows_read"], payload["inserted"], payload["skipped"], payload["skipped_rows"]) == (6, 4, 2, [9, 12])


def test_the_cli_summary_names_the_counts_and_the_first_errors(db: Path, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "s.csv", HEADER, [project(项目编号="C1"), project(项目编号="C2", 责任单位="火星区")])
    result = CliRunner().invoke(app, ["ingest", str(path), "--db", str(db)])
    assert result.exit_code == 0
    assert "新增 1" in result.stdout and "拒收 1" in result.stdout and "未知的责任单位" in result.stdout


# --------------------------------------------------------------------------- template


@pytest.mark.parametrize("kind", ingest.KINDS)
def test_the_template_has_the_headers_and_an_explanation_sheet_and_reads_back(tmp_path: Path, kind: str) -> None:
    path = tmp_path / f"{kind}.xlsx"
    path.write_bytes(ingest.template_xlsx(kind))
    reader = fastexcel.read_excel(str(path))
    assert reader.sheet_names == [ingest.KIND_LABELS[kind], "说明"]
    ledger = ingest.read_ledger(path)
    assert (ledger.kind, ledger.header_row, ledger.rows_read) == (kind, 2, 0)
    assert list(ledger.columns) == [f.name for f in ingest.FIELDS[kind]]
    notes = reader.load_sheet("说明", dtypes="string").to_polars()
    assert notes["列名"].head(len(ingest.FIELDS[kind])).to_list() == [f.header for f in ingest.FIELDS[kind]]


# --------------------------------------------------------------------------- scale


@pytest.mark.slow
def test_a_large_csv_imports_in_seconds(db: Path, tmp_path: Path) -> None:
    """The measurement in docs/import.md: ``INGEST_SCALE_ROWS=100000 pytest -k large_csv -s``."""
    n = int(os.environ.get("INGEST_SCALE_ROWS", "20000"))

    def cycle(values: list[str]) -> pl.Expr:
        return pl.col("序号").mod(len(values)).replace_strict(dict(enumerate(values)), return_dtype=pl.String)

    frame = pl.DataFrame({"序号": range(n)}).select(
        pl.col("序号"),
        pl.format("P{}", pl.col("序号")).alias("项目编号"),
        pl.format("项目{}", pl.col("序号")).alias("项目名称"),
        pl.format("企业{}", pl.col("序号").mod(5000)).alias("建设单位"),
        cycle(["整车制造", "聚乳酸", "动车组", "汽车电子", ""]).alias("产业链环节"),
        cycle(["汽开区", "经开区", "高新区", "南关区", "朝阳", "长春净月高新技术产业开发区", "九台区"]).alias("责任单位"),
        cycle(["新建", "扩建", "技改"]).alias("建设性质"),
        cycle(["在建", "续建", "前期", "谋划"]).alias("项目状态"),
        cycle(["3,000", "1.5亿", "１２００", "5000万元", "250000000元"]).alias("总投资（万元）"),
        cycle(["1000", "800万", "600", "0.2亿", ""]).alias("年度计划投资（万元）"),
        cycle(["2016.3", "2016年4月", "2016-05-15", "42430", "2016/3/15"]).alias("开工时间"),
        pl.lit("2018年12月").alias("竣工时间"),
        cycle(["市领导", "局级", "处室", "属地"]).alias("包保层级"),
        cycle(["是", "否", "", ""]).alias("是否重大产业化项目"),
    )
    path = tmp_path / "big.csv"
    frame.write_csv(path, include_bom=True)
    timings = []
    for _ in range(2):
        started, cpu = time.perf_counter(), time.process_time()
        result = ingest.ingest_file(db, path)
        timings.append((time.perf_counter() - started, time.process_time() - cpu))
    assert (result.unchanged, result.rejected) == (n, 0)
    with store.connect(db, read_only=True) as con:
        total = store.fetch(con, "select sum(total_investment_wan) as s from projects")["s"][0]
    per_cycle = [Decimal(3000), Decimal(15000), Decimal(1200), Decimal(5000), Decimal(25000)]
    assert total == sum(per_cycle[i % 5] for i in range(n))
    (first, first_cpu), (second, second_cpu) = timings
    print(f"\n{n} rows: first import {first:.2f} s (CPU {first_cpu:.2f} s), "
          f"second, all unchanged {second:.2f} s (CPU {second_cpu:.2f} s)")


# --------------------------------------------------------------------------- the documented examples

DATA = Path(__file__).parent / "data"


def test_the_example_ledgers_in_the_guide_import_as_documented(db: Path, tmp_path: Path) -> None:
    """docs/import.md shows these two files being imported; keep the guide true."""
    for name in ("projects_messy.csv", "progress_messy.csv"):
        shutil.copy(DATA / name, tmp_path / name)
    projects = ingest.ingest_file(db, tmp_path / "projects_messy.csv").to_dict()
    progress = ingest.ingest_file(db, tmp_path / "progress_messy.csv").to_dict()
    assert [projects[k] for k in ("rows_read", "inserted", "rejected", "skipped", "skipped_rows")] == [8, 4, 2, 2, [8, 12]]
    assert [(e["row"], e["reason"].split("（")[0].split("，")[0]) for e in projects["errors"]] == [
        (10, "总投资低于1000万元"), (11, "产业链环节不属于所填产业链"), (11, "年度计划投资大于总投资")]
    assert [progress[k] for k in ("rows_read", "inserted", "rejected")] == [5, 3, 2]
    with store.connect(db, read_only=True) as con:
        got = store.fetch(con, "select project_id, total_investment_wan, annual_plan_wan, start_date from projects"
                               " order by project_id")
        month = store.fetch(con, "select sum(completed_wan) as s, min(month) as m, max(month) as x from progress")
    assert got.rows() == [
        ("CC2016-001", Decimal("15000.00"), Decimal("3000.00"), date(2016, 3, 1)),
        ("CC2016-002", Decimal("1200.00"), Decimal("800.00"), date(2016, 3, 15)),
        ("CC2016-003", Decimal("5000.00"), Decimal("1200.50"), date(2016, 3, 1)),
        ("CC2016-004", Decimal("25000.00"), Decimal("0.00"), date(2016, 4, 1)),
    ]
    assert month.row(0) == (Decimal("1500.00"), date(2016, 9, 1), date(2016, 9, 1))


def test_only_rows_without_a_key_or_with_合计_as_key_are_total_rows(tmp_path: Path) -> None:
    rows = [project(项目编号="T1", 备注="合计3个子项目"), project(项目编号="T2", 项目名称="总计算中心"),
            {"项目编号": "合计", "总投资（万元）": "10000"}, {"项目名称": "小计（汽开区）"},
            project(项目编号="T3", 项目名称="小计")]
    ledger = ingest.read_ledger(write_csv(tmp_path / "t.csv", HEADER, rows))
    assert ledger.skipped_rows == [4, 5]
    assert ledger.frame["_row"].to_list() == [2, 3, 6]


def test_rejects_fall_back_to_the_current_directory_when_the_input_folder_is_not_writable(
    db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_csv(tmp_path / "ro.csv", HEADER, [project(项目编号="R", 建设性质="?")])
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    real = ingest.writing._write_table

    def refuse_input_folder(table: pl.DataFrame, target: Path, *, xlsx: bool) -> None:
        if target.parent == tmp_path:
            raise PermissionError(13, "Permission denied")
        real(table, target, xlsx=xlsx)

    monkeypatch.setattr(ingest.writing, "_write_table", refuse_input_folder)
    result = ingest.ingest_file(db, path)
    assert result.rejects_file == str(here / "ro.rejects.csv")
    assert (here / "ro.rejects.csv").exists()


def test_no_problem_words_are_not_recorded_as_problems(con: duckdb.DuckDBPyConnection) -> None:
    import polars as pl

    raw = pl.DataFrame({"raw_problems": ["无", " 暂无 ", "没有问题", "N/A", "资金未到位", "无人机采购延迟", None]})
    field = next(f for f in ingest.FIELDS["progress"] if f.name == "problems")
    parsed = raw.select(ingest.validation._parse_expr(field, None, None).alias("problems"))["problems"].to_list()  # type: ignore[arg-type]
    assert parsed == [None, None, None, None, "资金未到位", "无人机采购延迟", None]
