"""portfolio/fmt.py: one way of writing each kind of figure, for pages, exports and the report."""

from __future__ import annotations

import io
from datetime import date, datetime
from decimal import Decimal

import openpyxl
import polars as pl
import pytest

from portfolio import export, fmt


def test_money_percent_and_counts_are_written_one_way() -> None:
    assert fmt.yi(23_520_000) == "2,352.0"
    assert fmt.yi(Decimal("16851761.17")) == "1,685.2"
    assert fmt.yi(16_851_761.17, 2) == "1,685.18"
    assert fmt.wan(Decimal("16851761.17")) == "16,851,761.17"
    assert fmt.pct(0.9432) == "94.3%"
    assert fmt.pct(0.30615) == "30.6%"
    assert fmt.pct_of(12) == "12.0%"
    assert fmt.growth(9) == "+9.0%"
    assert fmt.growth(-4.6) == "-4.6%"
    assert fmt.count(295_435) == "295,435"
    for f in (fmt.yi, fmt.wan, fmt.pct, fmt.pct_of, fmt.growth, fmt.count):
        assert f(None) == "—"


def test_dates_flags_and_booleans_are_words() -> None:
    assert fmt.month(date(2016, 9, 1)) == "2016-09"
    assert fmt.month(datetime(2016, 9, 1, 0, 0)) == "2016-09"
    assert fmt.month(date(2016, 9, 1), long=True) == "2016年9月"
    assert fmt.month(date(2016, 9, 1), "en", long=True) == "Sep 2016"
    assert fmt.day(datetime(2016, 9, 30, 13, 5)) == "2016-09-30"
    assert [fmt.flag(v) for v in ("red", "amber", "green", None)] == ["红", "黄", "绿", "—"]
    assert fmt.flag("red", "en") == "Red"
    assert [fmt.yes_no(v) for v in (True, False, None)] == ["是", "否", "—"]
    assert fmt.yes_no(True, "en") == "Yes"
    assert fmt.capped(1000, 295_435) == "显示前 1,000 行，共 295,435 行"
    assert fmt.capped(100, 292, "en") == "First 100 of 292 rows"


def test_for_people_turns_codes_into_words_and_keeps_numbers_numbers() -> None:
    frame = pl.DataFrame({
        "project_id": ["P1", "P2", "P3"],
        "flag": ["red", None, "green"],
        "is_lagging": [True, False, None],
        "completed_wan": [Decimal("1.50"), Decimal("2.25"), None],
        "month": [datetime(2016, 9, 1), datetime(2016, 8, 1), None],
    }, schema_overrides={"completed_wan": pl.Decimal(38, 2)})
    out = fmt.for_people(frame)
    assert out["flag"].to_list() == ["红", None, "绿"]
    assert out["is_lagging"].to_list() == ["是", "否", None]
    assert out["completed_wan"].dtype == pl.Float64 and out["completed_wan"].to_list() == [1.5, 2.25, None]
    assert out["month"].dtype == pl.Date and out["month"].to_list()[0] == date(2016, 9, 1)
    assert fmt.for_people(frame, "en")["flag"].to_list() == ["Red", None, "Green"]


def test_an_export_says_what_it_holds_in_its_name_and_first_row() -> None:
    name = fmt.export_name("项目库", "汽开区", "仅滞后", as_of=date(2016, 9, 1))
    assert name == "项目库_汽开区_仅滞后_2016-09.xlsx"
    # what no file system takes becomes "-"; nothing leads to another folder
    hostile = fmt.export_name("项目库", "../..\\a:b*c?\"<>|\n", as_of=date(2016, 9, 1))
    assert "/" not in hostile and "\\" not in hostile and "\n" not in hostile and ":" not in hostile
    assert hostile.endswith("_2016-09.xlsx")
    assert fmt.export_name(None, "") == "export.xlsx"
    title = fmt.export_title("项目库", as_of=date(2016, 9, 1), filters=["汽开区", "仅滞后"], rows=45,
                             today=date(2026, 11, 30))
    assert title == "项目库 · 汽开区 · 仅滞后 · 截至2016年9月 · 共 45 行 · 导出于 2026-11-30"


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_a_sheet_for_people_opens_with_its_title_words_and_numbers(lang: str) -> None:
    frame = pl.DataFrame({"flag": ["red", "amber"], "is_major": [True, False],
                          "annual_plan_wan": [Decimal("12345.60"), Decimal("7.00")]},
                         schema_overrides={"annual_plan_wan": pl.Decimal(38, 2)})
    sheet = fmt.for_people(frame, lang)
    title = fmt.export_title("滞后项目", as_of=date(2016, 9, 1), rows=sheet.height, lang=lang, today=date(2026, 11, 30))
    data = export.write_xlsx({"滞后项目": sheet}, titles={"滞后项目": title})
    assert data is not None
    ws = openpyxl.load_workbook(io.BytesIO(data)).active
    assert ws is not None
    rows = list(ws.iter_rows(values_only=True))
    assert rows[0][0] == title
    assert rows[2] == ("flag", "is_major", "annual_plan_wan")
    words = ({"红", "黄"}, {"是", "否"}) if lang == "zh" else ({"Red", "Amber"}, {"Yes", "No"})
    assert {rows[3][0], rows[4][0]} == words[0] and {rows[3][1], rows[4][1]} == words[1]
    assert rows[3][2] == pytest.approx(12345.6)  # a number Excel can add up, not text
