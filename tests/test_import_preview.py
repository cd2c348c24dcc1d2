"""The import preview: old → new per changed field, the warnings, and values as people write them."""

from __future__ import annotations

import io
from pathlib import Path

import openpyxl
import polars as pl
import pytest

from portfolio import export, ingest, store
from portfolio.ingest import preview

PROGRESS_HEADER = "项目编号,月份,本月完成投资(万元),形象进度(%),存在问题,问题协调层级\n"
# CC2016-0001 of the sample plan as stored (a projects ledger row that changes nothing)
AUDI = {"项目编号": "CC2016-0001", "项目名称": "奥迪Q工厂", "责任单位": "汽开区", "建设性质": "新建",
        "项目状态": "在建", "总投资(万元)": "1500000", "年度计划投资(万元)": "1004843", "开工时间": "2015-06-01",
        "竣工时间": "2017-11-30", "备注": "示例数据"}


@pytest.fixture
def db(sample_db: Path) -> Path:
    """The sample plan with CC2016-0001 at 52.95% in September 2016 (the figure staff reported)."""
    with store.connect(sample_db) as con:
        con.execute("update progress set physical_pct = 52.95, completed_wan = 12000"
                    " where project_id = 'CC2016-0001' and month = date '2016-09-01'")
    return sample_db


def run(db: Path, tmp_path: Path, text: str, name: str = "ledger.csv") -> tuple[pl.DataFrame, preview.ImportPreview]:
    """Read and validate ``text`` as a ledger file, then preview it (nothing is written)."""
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    ledger = ingest.read_ledger(path)
    with store.connect(db, read_only=True) as con:
        valid, errors = ingest.validate(con, ledger)
        assert errors.is_empty(), errors.to_dicts()
        return valid, preview.preview_changes(con, valid, ledger.kind)


def projects_csv(**changes: str) -> str:
    row = {**AUDI, **changes}
    return ",".join(row) + "\n" + ",".join(f'"{v}"' for v in row.values()) + "\n"


def test_an_updated_progress_row_lists_each_changed_field_old_to_new(db: Path, tmp_path: Path) -> None:
    _, pv = run(db, tmp_path, PROGRESS_HEADER + "CC2016-0001,2016-09,12000,45,设备采购延迟；拆迁安置未完成,市级\n")
    assert pv.changes.select("_row", "record", "field", "old", "new").rows() == [
        (2, "CC2016-0001 2016-09", "physical_pct", "52.95%", "45%")]
    assert pv.changes["line"].to_list() == ["形象进度：52.95% → 45%"]
    assert pv.counts() == {"insert": 0, "update": 1, "unchanged": 0}


def test_a_backwards_physical_progress_is_warned_with_old_and_new(db: Path, tmp_path: Path) -> None:
    _, pv = run(db, tmp_path, PROGRESS_HEADER + "CC2016-0001,2016-09,12000,45,,\n")
    warned = pv.warnings.filter(pl.col("warning") == "pct_backwards")
    assert warned.select("_row", "record", "message").rows() == [
        (2, "CC2016-0001 2016-09", "形象进度倒退：52.95% → 45%")]
    assert pv.warned_rows == 1
    # the same row is not warned a second time against August (23.29%, lower than 45%)
    assert "pct_below_previous" not in pv.warnings["warning"].to_list()


def test_a_new_month_below_the_month_before_is_warned(db: Path, tmp_path: Path) -> None:
    _, pv = run(db, tmp_path, PROGRESS_HEADER + "CC2016-0001,2016-10,100,40,,\nCC2016-0001,2016-11,100,30,,\n")
    assert pv.warnings.select("_row", "warning", "message").rows() == [
        (2, "pct_below_previous", "形象进度 40% 低于 2016-09 的 52.95%"),
        (3, "pct_below_previous", "形象进度 30% 低于 2016-10 的 40%"),  # the file's own October counts
    ]


def test_a_lower_monthly_amount_warns_that_the_cumulative_goes_back(db: Path, tmp_path: Path) -> None:
    _, pv = run(db, tmp_path, PROGRESS_HEADER + "CC2016-0001,2016-09,2000,52.95,,\n")
    assert pv.warnings.select("warning", "message").rows() == [
        ("cumulative_backwards", "累计完成投资倒退：本月完成 12,000 万元 → 2,000 万元，累计减少 10,000 万元")]


def test_a_month_above_the_annual_plan_is_warned(db: Path, tmp_path: Path) -> None:
    _, pv = run(db, tmp_path, PROGRESS_HEADER + "CC2016-0001,2016-10,1100000,60,,\n")
    assert pv.warnings.select("warning", "message").rows() == [
        ("above_plan", "本月完成 1,100,000 万元，超过项目年度计划 1,004,843 万元")]
    assert pv.counts()["insert"] == 1 and pv.changes.is_empty()  # a new row has no old values


def test_a_total_investment_changed_by_more_than_half_is_warned(db: Path, tmp_path: Path) -> None:
    _, pv = run(db, tmp_path, projects_csv(**{"总投资(万元)": "2,400,000"}))
    assert pv.changes["line"].to_list() == ["总投资：1,500,000 万元 → 2,400,000 万元"]
    assert pv.warnings.select("warning", "message").rows() == [
        ("total_jump", "总投资变化超过一半：1,500,000 万元 → 2,400,000 万元（+60.0%）")]


def test_a_lower_year_to_date_of_the_statistics_is_warned(db: Path, tmp_path: Path) -> None:
    text = "月份,指标,本年累计(万元),同比增长(%)\n2016-09,工业投资,17391000,8.97\n"
    _, pv = run(db, tmp_path, text)
    assert pv.warnings.select("record", "warning", "message").rows() == [
        ("2016-09 industrial_investment", "cumulative_backwards",
         "本年累计倒退：17,391,017.53 万元 → 17,391,000 万元")]


def test_a_clean_update_has_changes_and_no_warning(db: Path, tmp_path: Path) -> None:
    _, pv = run(db, tmp_path, PROGRESS_HEADER + "CC2016-0001,2016-09,15000,60,,\n")
    assert pv.changes.select("field", "old", "new").rows() == [
        ("completed_wan", "12,000 万元", "15,000 万元"), ("physical_pct", "52.95%", "60%"),
        ("problems", "设备采购延迟；拆迁安置未完成", "—"), ("problem_level", "市级", "—")]
    assert pv.warnings.is_empty()
    _, pv = run(db, tmp_path, projects_csv(**{"总投资(万元)": "1,650,000"}), name="p.csv")
    assert pv.warnings.is_empty() and pv.changes["field"].to_list() == ["total_investment_wan"]


def test_an_unchanged_ledger_has_no_change_and_no_warning(db: Path, tmp_path: Path) -> None:
    valid, pv = run(db, tmp_path, projects_csv())
    assert pv.counts() == {"insert": 0, "update": 0, "unchanged": 1}
    assert pv.changes.is_empty() and pv.warnings.is_empty()


def test_dates_and_empty_values_read_as_people_write_them(db: Path, tmp_path: Path) -> None:
    valid, pv = run(db, tmp_path, projects_csv(**{"开工时间": "2016年9月", "备注": ""}))
    assert pv.changes.select("label", "old", "new").rows() == [
        ("开工时间", "2015-06-01", "2016-09-01"), ("备注", "示例数据", "—")]
    shown = preview.display_rows(valid, "projects", pv, unit_names={"QK": "汽开区"})
    row = shown.row(0, named=True)
    assert (row["start_date"], row["note"], row["unit_id"], row["total_investment_wan"], row["_action"]) == (
        "2016-09-01", "", "汽开区", "1,500,000", "更新")
    text = " ".join(str(v) for v in row.values())
    assert "None" not in text and "00:00:00" not in text
    valid, pv = run(db, tmp_path, PROGRESS_HEADER + "CC2016-0001,2016-10,0,,,\n", name="g.csv")
    assert preview.display_rows(valid, "progress", pv).select("month", "physical_pct").row(0) == ("2016-10", "")


def test_the_errors_show_cells_as_written_not_as_timestamps_or_none() -> None:
    errors = pl.DataFrame({"row": [3, 4, 5], "column": ["开工时间", "总投资(万元)", "存在问题"],
                           "value": ["2016-09-01 00:00:00", None, "a\r\nb"], "reason": ["x", "y", "z"]})
    assert preview.display_errors(errors)["value"].to_list() == ["2016-09-01", "", "a⏎b"]


def test_amounts_get_thousands_separators_and_no_trailing_zeros() -> None:
    frame = pl.DataFrame({"a": ["1500000.00", "-1234.50", "0.00", "999.00", None]},
                         schema={"a": pl.String}).select(pl.col("a").cast(pl.Decimal(18, 2)))
    got = frame.select(preview.thousands(pl.col("a"), frame.schema["a"]).alias("a"))["a"].to_list()
    assert got == ["1,500,000", "-1,234.5", "0", "999", None]


def test_a_hostile_cell_stays_text_in_the_table_and_the_workbook(db: Path, tmp_path: Path) -> None:
    formula = '=HYPERLINK("http://evil.example","点我")'
    text = PROGRESS_HEADER + f'CC2016-0001,2016-09,12000,52.95,"{formula.replace(chr(34), chr(34) * 2)}",\n' \
        + 'CC2016-0001,2016-10,0,52.95,"第一行\r\n第二行\u202e",\n'
    valid, pv = run(db, tmp_path, text)
    assert pv.changes.filter(pl.col("field") == "problems")["new"].to_list() == [formula]
    shown = preview.display_rows(valid, "progress", pv)
    assert shown["problems"].to_list() == [formula, "第一行⏎第二行"]
    assert not shown["problems"].str.contains(r"[\r\n\u202e]").any()
    book = openpyxl.load_workbook(io.BytesIO(export.write_xlsx(preview.preview_sheets(valid, "progress", pv)) or b""))
    cells = [c for ws in book.worksheets for r in ws.iter_rows() for c in r if c.value == formula]
    assert cells and all(c.data_type == "s" for c in cells)  # text, never a formula


def test_the_preview_sheets_hold_every_row_with_chinese_headers(db: Path, tmp_path: Path) -> None:
    lines = "".join(f"CC2016-0001,2016-{m:02d},0,10,,\n" for m in (10, 11, 12))
    valid, pv = run(db, tmp_path, PROGRESS_HEADER + lines)
    sheets = preview.preview_sheets(valid, "progress", pv)
    assert list(sheets) == ["变化明细", "需核对", "可导入的行"]
    assert sheets["可导入的行"].columns == ["行号", "导入时", "项目编号", "月份", "完成投资（万元）", "形象进度（%）",
                                       "存在问题", "协调层级", "提醒"]
    assert sheets["可导入的行"].height == 3
    assert sheets["需核对"]["提醒"].to_list() == ["形象进度 10% 低于 2016-09 的 52.95%"]


def test_each_row_is_compared_with_its_own_projects_month_before(db: Path, tmp_path: Path) -> None:
    # 2,000 new rows at 0%: October is below the latest stored figure where that was above 0,
    # November (0% after the file's own October) never is
    ids = [f"CC2016-{i:04d}" for i in range(1, 1001)]
    lines = "".join(f"{pid},2016-{m},0,0,,\n" for pid in ids for m in ("10", "11"))
    with store.connect(db, read_only=True) as con:
        stored = con.execute("select count(*) from (select arg_max(physical_pct, month) as pct from progress"
                             " where physical_pct is not null and month < date '2016-10-01'"
                             " and project_id in (select unnest(?)) group by project_id) where pct > 0",
                             [ids]).fetchall()[0][0]
    _, pv = run(db, tmp_path, PROGRESS_HEADER + lines)
    assert pv.counts()["insert"] == 2000
    below = pv.warnings.filter(pl.col("warning") == "pct_below_previous")
    assert stored > 500 and below.height == stored
    assert below["record"].str.ends_with("2016-10").all()


def test_the_preview_speaks_english_when_asked(db: Path, tmp_path: Path) -> None:
    path = tmp_path / "en.csv"
    path.write_text(PROGRESS_HEADER + "CC2016-0001,2016-09,2000,45,,\n", encoding="utf-8")
    ledger = ingest.read_ledger(path)
    with store.connect(db, read_only=True) as con:
        valid, _ = ingest.validate(con, ledger)
        pv = preview.preview_changes(con, valid, ledger.kind, lang="en")
    assert pv.changes["line"].to_list()[:2] == ["Completed: 12,000 (10k yuan) → 2,000 (10k yuan)",
                                                "Physical progress: 52.95% → 45%"]
    assert pv.warnings["message"].to_list()[0] == "Physical progress goes back: 52.95% → 45%"
