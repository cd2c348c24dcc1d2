"""Importing by plan year and the statistics bureau's figures: --kind actuals, --year, 年度, closed years."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import fastexcel
import polars as pl
import pytest
import xlsxwriter
from polars.testing import assert_frame_equal
from typer.testing import CliRunner

from portfolio import access, batches, edits, ingest, store, years
from portfolio.cli import app

TARGETS_2017 = {"industrial_investment": Decimal("26000000"), "tech_upgrade_investment": Decimal("15500000")}
PROJECT_HEADER = ["项目编号", "项目名称", "责任单位", "建设性质", "项目状态", "总投资(万元)", "年度计划投资(万元)"]
ACTUALS_HEADER = ["月份", "指标", "本年累计(万元)", "同比增长(%)"]
TABLES = ("projects", "progress", "plans", "actuals", "plan_years", "audit_log", "batches", "meta")
BUREAU = access.User(user_id="bureau", role="bureau", name="局机关")


# --------------------------------------------------------------------------- helpers


def write_csv(path: Path, header: list[str], rows: list[list[Any]], *, title: str | None = None) -> Path:
    """A CSV ledger (cells with a comma are quoted), with an optional title line."""
    def cell(value: Any) -> str:
        text = "" if value is None else str(value)
        return f'"{text}"' if "," in text else text

    lines = ([title] if title else []) + [",".join(header)] + [",".join(cell(v) for v in row) for row in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def snapshot(db: Path) -> dict[str, pl.DataFrame]:
    """Every table an import may touch, in full."""
    with store.connect(db, read_only=True) as con:
        return {t: store.fetch(con, f"select * from {t} order by all") for t in TABLES}


def assert_untouched(db: Path, before: dict[str, pl.DataFrame]) -> None:
    after = snapshot(db)
    for table, frame in before.items():
        assert_frame_equal(after[table], frame)


def rows(db: Path, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    with store.connect(db, read_only=True) as con:
        return con.execute(sql, params or []).fetchall()


def identity(result: ingest.IngestResult) -> bool:
    """The CONTRACT's accounting: every row read lands in exactly one count."""
    return (result.inserted + result.updated + result.unchanged + result.rejected + result.skipped
            == result.rows_read)


def reasons(result: ingest.IngestResult) -> list[tuple[int, str, str]]:
    return result.errors.select("row", "column", "reason").rows()


def open_2017(db: Path) -> None:
    with store.connect(db) as con:
        years.open_year(con, 2017, targets=TARGETS_2017)


@pytest.fixture
def db2016(empty_db: Path, tmp_path: Path) -> Path:
    """The reference database with three 2016 projects (A2 finished) and some 2016 progress."""
    ledger = write_csv(tmp_path / "p2016.csv", PROJECT_HEADER, [
        ["A1", "甲", "汽开区", "新建", "在建", 5000, 1000],
        ["A2", "乙", "汽开区", "新建", "竣工", 5000, 2000],
        ["A3", "丙", "高新区", "扩建", "在建", 8000, 3000],
    ])
    assert ingest.ingest_file(empty_db, ledger).inserted == 3
    progress = write_csv(tmp_path / "g2016.csv", ["项目编号", "月份", "本月完成投资(万元)"],
                         [["A1", "2016.3", 100], ["A3", "2016.4", 200]])
    assert ingest.ingest_file(empty_db, progress).inserted == 2
    return empty_db


# --------------------------------------------------------------------------- the statistics: reading


def test_an_actuals_ledger_is_read_with_title_rows_totals_and_the_usual_ways_of_writing(
        empty_db: Path, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "统计.csv", ACTUALS_HEADER, [
        ["2016年1-2月", "工业投资", "3,000", "12.5"],
        [None, None, None, None],
        ["2016年3月", "工业投资", "1.5亿", "下降4.6%"],
        ["42491", "工业投资", "１６０００", "增长3%"],                # Excel serial = 2016-05-01
        ["2016.3", "其中：技术改造投资", "800万元", None],
        ["2016.4", "tech_upgrade_investment", "9000", "-1.5"],
        ["2016-02", "规模以上工业总产值", "2.5亿", "7"],
        ["合计", None, "9,999", None],
    ], title="长春市统计局 2016年主要工业指标")
    result = ingest.ingest_file(empty_db, path, kind="actuals")
    assert result.errors.is_empty()
    assert (result.rows_read, result.inserted, result.skipped, result.skipped_rows) == (7, 6, 1, [10])
    assert identity(result) and result.kind == "actuals" and result.year == 2016
    assert rows(empty_db, "select month, metric, cumulative_wan::varchar, yoy_pct::varchar, updated_by"
                          " from actuals order by metric, month") == [
        (date(2016, 2, 1), "industrial_investment", "3000.00", "12.50", "cli"),
        (date(2016, 3, 1), "industrial_investment", "15000.00", "-4.60", "cli"),
        (date(2016, 5, 1), "industrial_investment", "16000.00", "3.00", "cli"),
        (date(2016, 2, 1), "industrial_output", "25000.00", "7.00", "cli"),
        (date(2016, 3, 1), "tech_upgrade_investment", "800.00", None, "cli"),
        (date(2016, 4, 1), "tech_upgrade_investment", "9000.00", "-1.50", "cli"),
    ]


def test_the_kind_is_found_from_the_headers_and_english_headers_work_too(empty_db: Path, tmp_path: Path) -> None:
    chinese = write_csv(tmp_path / "a.csv", ["统计月份", "指标名称", "本年累计", "同比增速"],
                        [["2016.9", "工业投资", "21000000", "12"]])
    english = write_csv(tmp_path / "b.csv", ["month", "metric", "cumulative_wan", "yoy_pct"],
                        [["2016-09", "industrial_investment", "21000000", "12"]])
    first = ingest.ingest_file(empty_db, chinese)
    second = ingest.ingest_file(empty_db, english)
    assert (first.kind, first.inserted, second.kind, second.unchanged) == ("actuals", 1, "actuals", 1)


def test_units_come_from_the_header_a_unit_column_or_the_indicator(empty_db: Path, tmp_path: Path) -> None:
    in_yi = write_csv(tmp_path / "yi.csv", ["月份", "指标", "本年累计(亿元)"], [["2016.9", "工业投资", "2100"]])
    assert ingest.ingest_file(empty_db, in_yi).inserted == 1
    per_row = write_csv(tmp_path / "row.csv", ["月份", "指标", "计量单位", "本年累计"], [
        ["2016.9", "技术改造投资", "亿元", "1259"],
        ["2016.9", "规上工业产值(亿元)", None, "0.5"],
        ["2016.8", "规上工业产值", "亿美元", "1"],
    ])
    result = ingest.ingest_file(empty_db, per_row)
    assert reasons(result) == [(4, "计量单位", "计量单位无法识别（可写 亿元、万元、元）")]
    clash = write_csv(tmp_path / "clash.csv", ["月份", "指标", "本年累计(万元)"], [["2016.8", "工业投资（亿元）", "1"]])
    assert reasons(ingest.ingest_file(empty_db, clash)) == [
        (2, "本年累计(万元)", "该行的计量单位（亿元）与表头的单位（万元）不一致")]
    assert rows(empty_db, "select metric, cumulative_wan::varchar from actuals order by 1") == [
        ("industrial_investment", "21000000.00"), ("industrial_output", "5000.00"),
        ("tech_upgrade_investment", "12590000.00")]


def test_bad_cells_are_rejected_with_row_column_and_reason(empty_db: Path, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "bad.csv", ACTUALS_HEADER, [
        ["2016.1", "工业增加值", "100", "1"],
        ["2016.2", "工业投资", "-5", "1"],
        ["2016.3", "工业投资", "约100", "1"],
        ["2016.4", "工业投资", "100", "1000"],
        ["2016.5", "工业投资", "200", "-100"],
        ["2016.6", "工业投资", "300", "很多"],
        ["2016.7", "工业投资", "400", "999.99"],
        ["2016.8", "工业投资", "500", "-99.99"],
        ["2016.9", "技术改造投资", "10", None],
        ["2016.9", "技术改造投资", "10", None],
        ["2016.13", "工业投资", "600", None],
    ])
    result = ingest.ingest_file(empty_db, path)
    assert reasons(result) == [
        (2, "指标", "指标无效（可填：工业投资、技术改造投资、规上工业产值）"),
        (3, "本年累计(万元)", "金额不能为负数"),
        (4, "本年累计(万元)", "金额无法识别（可写 3000、3,000、1.5亿、800万元、5000000元）"),
        (5, "同比增长(%)", "同比增长超出合理范围（应大于 -100%、小于 1000%）"),
        (6, "同比增长(%)", "同比增长超出合理范围（应大于 -100%、小于 1000%）"),
        (7, "同比增长(%)", "同比增长无法识别（可写 12.5、-4.6、12.5%、增长12%、下降4.6%）"),
        (10, "月份", "文件内同一月份同一指标重复"),
        (11, "月份", "文件内同一月份同一指标重复"),
        (12, "月份", "日期无法识别（可写 2016.3、2016年3月、2016-03-15、2016/3/15 或 Excel 日期）"),
    ]
    assert (result.inserted, result.rejected) == (2, 9) and identity(result)


def test_a_cumulative_that_falls_within_a_year_is_rejected_naming_the_other_month(
        empty_db: Path, tmp_path: Path) -> None:
    stored = write_csv(tmp_path / "s.csv", ACTUALS_HEADER, [["2016.6", "工业投资", "6000", None],
                                                            ["2015.12", "工业投资", "90000", None]])
    assert ingest.ingest_file(empty_db, stored).inserted == 2
    path = write_csv(tmp_path / "f.csv", ACTUALS_HEADER, [
        ["2016.3", "工业投资", "3000", None],
        ["2016.4", "工业投资", "2000", None],   # below March in the file: both rows are doubtful
        ["2016.7", "工业投资", "5000", None],   # below June in the database
        ["2016.1", "工业投资", "100", None],    # a new year starts from zero: December 2015 is no bar
    ])
    result = ingest.ingest_file(empty_db, path)
    falls = "：同一年内累计数不应下降（cumulative falls within the year）"
    assert reasons(result) == [
        (2, "本年累计(万元)", "本年累计大于 2016-04（第 3 行）的 2000.00 万元" + falls),
        (3, "本年累计(万元)", "本年累计小于 2016-03（第 2 行）的 3000.00 万元" + falls),
        (4, "本年累计(万元)", "本年累计小于 2016-06（库中已有）的 6000.00 万元" + falls),
    ]
    assert (result.inserted, result.rejected) == (1, 3)


def test_a_unit_user_cannot_import_the_city_statistics(empty_db: Path, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "a.csv", ACTUALS_HEADER, [["2016.9", "工业投资", "100", None]])
    unit_user = access.User(user_id="qk", role="unit", unit_id="QK")
    result = ingest.ingest_file(empty_db, path, user=unit_user)
    assert reasons(result) == [(2, "指标", "统计局数据是全市的数字，责任单位用户不能导入（admins and bureau only）")]
    assert rows(empty_db, "select count(*) from actuals") == [(0,)]


# --------------------------------------------------------------------------- the statistics: writing and undo


def test_reimporting_changes_nothing_and_a_correction_is_audited_and_undone(empty_db: Path, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "a.csv", ACTUALS_HEADER, [["2016.8", "工业投资", "1000", "5"],
                                                          ["2016.9", "工业投资", "2000", "6"]])
    first = ingest.ingest_file(empty_db, path)
    again = ingest.ingest_file(empty_db, path)
    assert (again.unchanged, again.revision) == (2, first.revision)
    before = snapshot(empty_db)["actuals"].drop("updated_at", "updated_by")
    fixed = write_csv(tmp_path / "b.csv", ACTUALS_HEADER, [["2016.9", "工业投资", "2100", None]])
    correction = ingest.ingest_file(empty_db, fixed)
    assert correction.updated == 1
    assert rows(empty_db, "select record_id, action, old_values, new_values from audit_log where batch_id = ?",
                [correction.batch]) == [
        ("2016-09/industrial_investment", "update", '{"cumulative_wan":"2000.00","yoy_pct":"6.00"}',
         '{"cumulative_wan":"2100.00","yoy_pct":null}')]
    with store.connect(empty_db) as con:
        batches.undo(con, correction.batch or 0, user=BUREAU)
        undone_first = batches.undo(con, first.batch or 0, user=BUREAU)
    assert undone_first.deleted == 2
    assert rows(empty_db, "select count(*) from actuals") == [(0,)]
    with store.connect(empty_db) as con:  # redo the first import: the rows come back exactly
        batches.undo(con, undone_first.batch, user=BUREAU)
    assert_frame_equal(snapshot(empty_db)["actuals"].drop("updated_at", "updated_by"),
                       before)


def test_a_database_error_leaves_the_database_as_it_was(empty_db: Path, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_csv(tmp_path / "a.csv", ACTUALS_HEADER, [["2016.9", "工业投资", "2000", "6"]])
    before = snapshot(empty_db)

    def broken(con: duckdb.DuckDBPyConnection, frame: pl.DataFrame, **_: object) -> None:
        raise duckdb.ConstraintException("simulated failure")

    monkeypatch.setattr(store, "audit_frame", broken)
    with pytest.raises(ingest.ImportFailed, match="已全部撤销"):
        ingest.ingest_file(empty_db, path)
    assert_untouched(empty_db, before)


# --------------------------------------------------------------------------- closed years: months


def test_months_of_a_closed_year_are_read_only_for_progress_and_statistics(db2016: Path, tmp_path: Path) -> None:
    open_2017(db2016)
    progress = write_csv(tmp_path / "g.csv", ["项目编号", "月份", "本月完成投资(万元)"], [
        ["A1", "2016.12", "10"], ["A1", "2015.6", "10"], ["A1", "2017.2", "10"], ["A1", "2018.1", "10"],
        ["A1", "3月", "10"]])
    result = ingest.ingest_file(db2016, progress)
    assert reasons(result) == [
        (2, "月份", "该月份属于已结转的年度 2016，只读（year 2016 is closed）"),
        (3, "月份", "该月份早于已结转的年度 2016，只读（before the closed year 2016）"),
        (5, "月份", "月份晚于当前计划年度 2017 年12月；2018 年的进度请在开启 2018 年度（portfolio year open 2018）"
                  "后导入（after the current plan year）"),
    ]
    assert rows(db2016, "select month from progress where year(month) = 2017 order by 1") == [
        (date(2017, 2, 1),), (date(2017, 3, 1),)]  # 3月 takes the current plan year
    actuals = write_csv(tmp_path / "a.csv", ACTUALS_HEADER, [["2016.12", "工业投资", "21000000", "12"],
                                                             ["2017.2", "工业投资", "2000000", "3"]])
    result = ingest.ingest_file(db2016, actuals)
    assert reasons(result) == [(2, "月份", "该月份属于已结转的年度 2016，只读（year 2016 is closed）")]
    assert result.inserted == 1 and identity(result)


def test_progress_after_the_current_december_waits_for_the_next_year(db2016: Path, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "g.csv", ["项目编号", "月份", "本月完成投资(万元)"], [["A1", "2017.1", "10"]])
    assert reasons(ingest.ingest_file(db2016, path))[0][2].startswith("月份晚于当前计划年度 2016 年12月")


def test_the_progress_form_refuses_a_month_of_a_closed_year_and_says_so(db2016: Path) -> None:
    open_2017(db2016)
    with store.connect(db2016) as con:
        assert edits.progress_locked(con, date(2016, 11, 1)) == (
            "2016-11 属于已结转的年度 2016，进度只读，不能再修改（year 2016 is closed）。")
        assert edits.progress_locked(con, date(2017, 3, 1)) is None
        with pytest.raises(edits.EditRefused, match="已结转的年度 2016"):
            edits.record_progress(con, {"project_id": "A1", "month": date(2016, 11, 1), "completed_wan": 5},
                                  user=BUREAU)
        assert edits.record_progress(con, {"project_id": "A1", "month": date(2017, 3, 1), "completed_wan": 5},
                                     user=BUREAU) == "inserted"
    assert rows(db2016, "select count(*) from progress where year(month) = 2016") == [(2,)]


def test_a_batch_of_a_closed_year_is_not_undone(db2016: Path, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "g.csv", ["项目编号", "月份", "本月完成投资(万元)"], [["A1", "2016.9", "10"]])
    batch = ingest.ingest_file(db2016, path).batch or 0
    open_2017(db2016)
    before = snapshot(db2016)
    with store.connect(db2016) as con, pytest.raises(batches.UndoRefused, match="已结转的 2016 年度"):
        batches.undo(con, batch, user=BUREAU)
    assert_untouched(db2016, before)


def test_a_history_years_batch_is_not_undone_once_a_later_year_is_closed(db2016: Path, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "p2015.csv", PROJECT_HEADER, [["H1", "历史项目", "绿园", "扩建", "竣工", 3000, 1500]])
    batch = ingest.ingest_file(db2016, path, year=2015).batch or 0
    open_2017(db2016)
    before = snapshot(db2016)
    with store.connect(db2016) as con, pytest.raises(batches.UndoRefused, match="H1/2015、H1"):
        batches.undo(con, batch, user=BUREAU)
    assert_untouched(db2016, before)


# --------------------------------------------------------------------------- --year and 年度


@pytest.mark.parametrize(("year", "message"), [
    (2016, "2016 年度已结转，数据不再修改（year 2016 is closed and read-only）。"),
    (2018, "2018 年度尚未开启，请先运行 portfolio year open 2018（year 2018 is not open yet）。"),
    (1850, "年度 1850 超出可接受的范围（2000–2100）（year out of range）。"),
])
def test_a_closed_or_unopened_year_is_refused_with_exit_2_and_nothing_written(
        db2016: Path, tmp_path: Path, year: int, message: str) -> None:
    open_2017(db2016)
    path = write_csv(tmp_path / "p.csv", PROJECT_HEADER, [["A1", "甲", "汽开区", "新建", "在建", 5000, 700]])
    before = snapshot(db2016)
    result = CliRunner().invoke(app, ["ingest", str(path), "--year", str(year), "--db", str(db2016)])
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.strip().splitlines() == [f"错误: {message}"]
    assert_untouched(db2016, before)
    assert not (tmp_path / "p.rejects.csv").exists()


def test_a_history_year_writes_its_plans_and_only_new_projects(db2016: Path, tmp_path: Path) -> None:
    before = snapshot(db2016)["projects"]
    path = write_csv(tmp_path / "p2015.csv", PROJECT_HEADER, [
        ["A1", "甲（旧名）", "汽开区", "新建", "前期", 4000, 500],   # exists: only its 2015 plan is written
        ["H1", "历史项目", "绿园", "扩建", "竣工", 3000, 1500],      # new: inserted, not in the 2016 plan
    ])
    result = ingest.ingest_file(db2016, path, year=2015)
    assert (result.inserted, result.updated, result.unchanged, result.year, result.years, result.plans) == (
        2, 0, 0, 2015, {2015: 2}, 2)
    assert_frame_equal(snapshot(db2016)["projects"].filter(pl.col("project_id") != "H1"), before)
    assert rows(db2016, "select project_id, year, annual_plan_wan::varchar from plans order by 2, 1") == [
        ("A1", 2015, "500.00"), ("H1", 2015, "1500.00"),
        ("A1", 2016, "1000.00"), ("A2", 2016, "2000.00"), ("A3", 2016, "3000.00")]
    assert rows(db2016, "select name, status, annual_plan_wan::varchar from projects where project_id = 'H1'") == [
        ("历史项目", "竣工", "0.00")]
    with store.connect(db2016, read_only=True) as con:
        in_2016 = store.fetch(con, "select project_id from project_tiers_in(2016) order by 1")["project_id"]
        in_2015 = store.fetch(con, "select project_id, annual_plan_wan::varchar as plan from project_tiers_in(2015)"
                                   " order by 1").rows()
    assert in_2016.to_list() == ["A1", "A2", "A3"]
    assert in_2015 == [("A1", "500.00"), ("H1", "1500.00")]
    assert rows(db2016, "select table_name, record_id, action from audit_log where batch_id = ? order by all",
                [result.batch]) == [("plans", "A1/2015", "insert"), ("plans", "H1/2015", "insert"),
                                    ("projects", "H1", "insert")]
    again = ingest.ingest_file(db2016, path, year=2015)
    assert (again.unchanged, again.revision) == (2, result.revision)
    with store.connect(db2016) as con:
        batches.undo(con, result.batch or 0, user=BUREAU)
    assert_frame_equal(snapshot(db2016)["projects"], before)
    assert rows(db2016, "select count(*) from plans where year = 2015") == [(0,)]


def test_a_bare_month_takes_the_year_given(db2016: Path, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "g.csv", ["项目编号", "月份", "本月完成投资(万元)"], [["A1", "11月", "10"]])
    assert ingest.ingest_file(db2016, path, year=2015).inserted == 1
    assert rows(db2016, "select month from progress where completed_wan = 10") == [(date(2015, 11, 1),)]


def test_a_year_column_places_each_row_and_refuses_closed_unopened_and_contradicting_years(
        db2016: Path, tmp_path: Path) -> None:
    header = [*PROJECT_HEADER, "年度"]
    before_rollover = write_csv(tmp_path / "multi2016.csv", header, [
        ["A1", "甲", "汽开区", "新建", "在建", 5000, 1100, None],     # blank: the current year
        ["A1", "甲", "汽开区", "新建", "在建", 5000, 400, "2015年"],  # history (no year closed yet)
        ["A3", "丙", "高新区", "扩建", "在建", 8000, 900, "2017"],    # not open
        ["A3", "丙", "高新区", "扩建", "在建", 8000, 900, "明年"],    # unreadable
    ])
    result = ingest.ingest_file(db2016, before_rollover)
    assert reasons(result) == [
        (4, "年度", "2017 年度尚未开启，请先运行 portfolio year open 2017（year 2017 is not open yet）"),
        (5, "年度", "年度无法识别（应为 2016 这样的四位年份）"),
    ]
    assert (result.inserted, result.updated, result.rejected, result.years) == (1, 1, 2, {2015: 1, 2016: 1})
    open_2017(db2016)
    after_rollover = write_csv(tmp_path / "multi2017.csv", header, [
        ["A1", "甲", "汽开区", "新建", "在建", 5000, 1500, None],     # blank: the current year, 2017
        ["A1", "甲", "汽开区", "新建", "在建", 5000, 450, "2015年"],  # history, closed with 2016
        ["A2", "乙", "汽开区", "新建", "在建", 5000, 800, "2016"],    # closed
    ])
    result = ingest.ingest_file(db2016, after_rollover)
    assert reasons(result) == [
        (3, "年度", "2015 年度已结转，数据不再修改（year 2015 is closed and read-only）"),
        (4, "年度", "2016 年度已结转，数据不再修改（year 2016 is closed and read-only）"),
    ]
    assert (result.inserted, result.updated, result.rejected, result.years) == (0, 1, 2, {2017: 1})
    assert rows(db2016, "select year, annual_plan_wan::varchar from plans where project_id = 'A1' order by 1") == [
        (2015, "400.00"), (2016, "1100.00"), (2017, "1500.00")]
    explicit = write_csv(tmp_path / "explicit.csv", header, [
        ["A1", "甲", "汽开区", "新建", "在建", 5000, 1600, "2017"],
        ["A3", "丙", "高新区", "扩建", "在建", 8000, 900, "2018"],
    ])
    result = ingest.ingest_file(db2016, explicit, year=2017)
    assert reasons(result) == [
        (3, "年度", "2018 年度尚未开启，请先运行 portfolio year open 2018（year 2018 is not open yet）"),
        (3, "年度", "年度 2018 与 --year 2017 不一致（the row's year differs from --year）"),
    ]
    assert result.updated == 1


def test_a_new_project_with_rows_of_a_history_year_and_the_current_one_joins_both(
        db2016: Path, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "both.csv", [*PROJECT_HEADER, "年度"], [
        ["N2", "新项目", "汽开区", "新建", "在建", 6000, 700, "2015"],
        ["N2", "新项目", "汽开区", "新建", "在建", 6000, 900, None],
    ])
    result = ingest.ingest_file(db2016, path)
    assert (result.inserted, result.years) == (2, {2015: 1, 2016: 1})
    assert rows(db2016, "select year, annual_plan_wan::varchar from plans where project_id = 'N2' order by 1") == [
        (2015, "700.00"), (2016, "900.00")]
    with store.connect(db2016, read_only=True) as con:
        assert store.fetch(con, "select project_id from project_tiers_in(2016) where project_id = 'N2'").height == 1


def test_the_new_years_ledger_fills_the_carried_plans_and_adds_projects(db2016: Path, tmp_path: Path) -> None:
    open_2017(db2016)
    assert rows(db2016, "select project_id, annual_plan_wan from plans where year = 2017 order by 1") == [
        ("A1", None), ("A3", None)]  # carried, their plan empty; A2 finished and stays in 2016
    path = write_csv(tmp_path / "p2017.csv", PROJECT_HEADER, [
        ["A1", "甲", "汽开区", "新建", "在建", 5000, 1500],
        ["A3", "丙", "高新区", "扩建", "在建", 8000, 0],       # a plan of 0 is a plan: no longer empty
        ["A2", "乙", "汽开区", "新建", "在建", 6000, 800],     # finished in 2016, back in 2017
        ["N1", "新项目", "汽开区", "新建", "前期", 8000, 100],
    ])
    before = snapshot(db2016)
    result = CliRunner().invoke(app, ["ingest", str(path), "--year", "2017", "--json", "--db", str(db2016)])
    assert result.exit_code == 0, result.stderr
    payload = json.loads(result.stdout)
    assert {k: payload[k] for k in ("rows_read", "inserted", "updated", "unchanged", "rejected", "skipped",
                                    "year", "years", "plans")} == {
        "rows_read": 4, "inserted": 1, "updated": 3, "unchanged": 0, "rejected": 0, "skipped": 0,
        "year": 2017, "years": {"2017": 4}, "plans": 3}
    assert rows(db2016, "select project_id, year, annual_plan_wan::varchar, closed from plans order by 2, 1") == [
        ("A1", 2016, "1000.00", True), ("A2", 2016, "2000.00", True), ("A3", 2016, "3000.00", True),
        ("A1", 2017, "1500.00", False), ("A2", 2017, "800.00", False), ("A3", 2017, "0.00", False),
        ("N1", 2017, "100.00", False)]
    with store.connect(db2016, read_only=True) as con:
        assert years.year_table(con).filter(pl.col("year") == 2017)["without_plan"].to_list() == [0]
        closed = store.fetch(con, "select project_id, status, total_investment_wan::varchar as total"
                                  " from project_tiers_in(2016) order by 1").rows()
    assert closed == [("A1", "在建", "5000.00"), ("A2", "竣工", "5000.00"), ("A3", "在建", "8000.00")]
    with store.connect(db2016) as con:  # undo: the carried plans are empty again, exactly as before
        batches.undo(con, payload["batch"], user=BUREAU)
    after = snapshot(db2016)
    assert_frame_equal(after["plans"], before["plans"])
    assert_frame_equal(after["projects"].drop("version", "updated_at", "updated_by"),
                       before["projects"].drop("version", "updated_at", "updated_by"))


def test_the_current_year_imports_as_before_and_keeps_its_plans_in_step(db2016: Path, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "p.csv", PROJECT_HEADER, [["A1", "甲", "汽开区", "新建", "在建", 5000, 1200]])
    result = ingest.ingest_file(db2016, path, year=2016)
    assert (result.updated, result.plans) == (1, 0)
    assert rows(db2016, "select table_name from audit_log where batch_id = ?", [result.batch]) == [("projects",)]
    assert rows(db2016, "select annual_plan_wan::varchar from plans where project_id = 'A1' and year = 2016") == [
        ("1200.00",)]


# --------------------------------------------------------------------------- templates


def test_the_actuals_template_has_the_contract_headers(empty_db: Path, tmp_path: Path) -> None:
    out = tmp_path / "统计局数据模板.xlsx"
    result = CliRunner().invoke(app, ["template", "--kind", "actuals", "--out", str(out), "--db", str(empty_db)])
    assert result.exit_code == 0, result.stderr
    sheet = fastexcel.read_excel(out.read_bytes()).load_sheet(0, header_row=1).to_polars()
    assert sheet.columns[:4] == ACTUALS_HEADER
    blank = write_xlsx_from_template(out, tmp_path / "filled.xlsx")
    assert ingest.ingest_file(empty_db, blank).inserted == 1
    assert CliRunner().invoke(app, ["template", "projects", "--kind", "actuals", "--out",
                                    str(tmp_path / "x.xlsx")]).exit_code == 2


def write_xlsx_from_template(template: Path, target: Path) -> Path:
    """The template's header row with one filled row under its title row."""
    header = fastexcel.read_excel(template.read_bytes()).load_sheet(0, header_row=1).to_polars().columns
    wb = xlsxwriter.Workbook(str(target))
    ws = wb.add_worksheet("统计局数据")
    ws.write_row(0, 0, ["长春市统计局月度数据"])
    ws.write_row(1, 0, header)
    ws.write_row(2, 0, ["2016年1-9月", "工业投资", "15,800,000", "12.3"])
    wb.close()
    return target


# --------------------------------------------------------------------------- the import page


@pytest.fixture
def page_on(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Open 数据导入 in AppTest on a given database (the tests/app harness, on a small database)."""
    from streamlit.testing.v1 import AppTest

    from app_pages import ui
    from portfolio import local_mode

    monkeypatch.setattr(ui, "client_request", lambda: local_mode.Client(address="127.0.0.1"))
    root = Path(__file__).resolve().parents[1]

    def _open(db: Path) -> AppTest:
        monkeypatch.setenv("PORTFOLIO_DB", str(db))
        at = AppTest.from_file(str(root / "app.py"), default_timeout=120)
        at.session_state["ui_lang"] = "zh"
        at.run()
        at.switch_page("app_pages/data_import.py")
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        return at

    return _open


def test_the_import_page_offers_the_statistics_and_a_year_defaulting_to_the_current_one(
        db2016: Path, page_on: Any) -> None:
    at = page_on(db2016)
    assert "im_tpl_actuals" in {b.key for b in at.download_button}
    assert at.selectbox(key="im_year_zh").value == 2016
    assert at.selectbox(key="im_year_zh").options == ["2016（当前年度）", "2015（历史年度）", "2014（历史年度）",
                                                   "2013（历史年度）"]
    kind = at.selectbox(key="im_kind_zh")
    assert "统计局数据" in kind.options
    kind.set_value("actuals").run()
    ledger = "\n".join([",".join(ACTUALS_HEADER), "2016年1-9月,工业投资,\"2,100\",12", "2016.9,技改投资,1000,-3"])
    at.file_uploader(key="im_file").set_value(("统计.csv", ledger.encode("utf-8"), "text/csv")).run()
    assert not at.exception, [e.value for e in at.exception]
    assert {m.label: m.value for m in at.metric}["可导入"] == "2"
    shown = next(d.value for d in at.dataframe if "指标" in d.value.columns)
    assert shown["指标"].tolist() == ["工业投资", "技术改造投资"]
    at.button(key="im_go").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert rows(db2016, "select metric, cumulative_wan::varchar, updated_by from actuals order by 1") == [
        ("industrial_investment", "2100.00", "本机用户<local>"), ("tech_upgrade_investment", "1000.00", "本机用户<local>")]


def test_a_history_year_picked_on_the_page_writes_that_years_plans(db2016: Path, page_on: Any) -> None:
    at = page_on(db2016)
    at.selectbox(key="im_year_zh").set_value(2015).run()
    ledger = "\n".join([",".join(PROJECT_HEADER), "A1,甲,汽开区,新建,前期,4000,500"])
    at.file_uploader(key="im_file").set_value(("p2015.csv", ledger.encode("utf-8"), "text/csv")).run()
    assert "按计划年度：2015 年度 1 行。" in [c.value for c in at.caption]
    at.button(key="im_go").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert rows(db2016, "select year, annual_plan_wan::varchar from plans where project_id = 'A1' order by 1") == [
        (2015, "500.00"), (2016, "1000.00")]
    open_2017(db2016)
    at = page_on(db2016)  # once a year is closed, so are the years before it: only the current year is offered
    assert at.selectbox(key="im_year_zh").options == ["2017（当前年度）"]
