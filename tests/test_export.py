"""Excel out: values, number formats, frozen headers."""

from __future__ import annotations

import io
from decimal import Decimal

import openpyxl
import polars as pl

from portfolio import export


def test_workbook_keeps_values_and_formats_money_and_freezes_headers() -> None:
    frame = pl.DataFrame({
        "项目": ["甲", "乙"],
        "total_investment_wan": [Decimal("3000.50"), Decimal("120000.00")],
        "completion_ratio": [0.935, 1.2],
        "tags": [["补链"], ["丰链", "增链"]],
    })
    data = export.write_xlsx({"项目/清单": frame}, titles={"项目/清单": "测试标题"})
    assert data is not None
    book = openpyxl.load_workbook(io.BytesIO(data))
    sheet = book["项目_清单"]
    assert sheet["A1"].value == "测试标题"
    assert [c.value for c in sheet[3]] == ["项目", "total_investment_wan", "completion_ratio", "tags"]
    assert sheet["B4"].value == 3000.5 and sheet["B5"].value == 120000
    assert sheet["B4"].number_format == "#,##0.00"
    assert sheet["C4"].number_format == "0.0%"
    assert sheet["D5"].value == "丰链、增链"
    assert sheet.freeze_panes == "A4"


def test_sheet_names_are_made_unique_and_legal() -> None:
    data = export.write_xlsx({"a" * 40: pl.DataFrame({"x": [1]}), "a" * 41: pl.DataFrame({"x": [2]})})
    assert data is not None
    names = openpyxl.load_workbook(io.BytesIO(data)).sheetnames
    assert len(names) == 2 and len(set(names)) == 2 and all(len(n) <= 31 for n in names)
