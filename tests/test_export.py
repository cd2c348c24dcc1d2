"""Excel out: values, number formats, frozen headers."""

from __future__ import annotations

import io
import math
import re
import zipfile
from datetime import date, datetime
from decimal import Decimal

import openpyxl
import polars as pl
import pytest

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


AWKWARD = ["<script>alert(1)</script>", "a&b>c", "=1+1", "http://x.y", "  lead", "tail  ", "", None, "行\n换",
           "ctl\x01\x1f", "\ufffe", "x" * 40_000, "😀" * 20_000, "普通", "_x0041_", "\t tab"]


def _awkward_frame() -> pl.DataFrame:
    n = len(AWKWARD) * 3
    return pl.DataFrame({
        "text": AWKWARD * 3,
        "amount_wan": [Decimal("1234.50"), None, Decimal("-3.10")] * (n // 3),
        "share": [0.935, float("nan"), float("inf")] * (n // 3),
        "count": [1, None, 2**40] * (n // 3),
        "flag": [True, False, None] * (n // 3),
        "day": [date(2016, 9, 1), None, date(1900, 3, 1)] * (n // 3),
        "tags": [["补链"], [], None] * (n // 3),
        "nothing": [None] * n,
    }, schema_overrides={"amount_wan": pl.Decimal(38, 2), "nothing": pl.Null})


def _cells(data: bytes) -> tuple[list[list[tuple[object, str]]], tuple[object, ...]]:
    sheet = openpyxl.load_workbook(io.BytesIO(data))["s"]
    cells = [[("nan" if isinstance(c.value, float) and math.isnan(c.value) else c.value, c.number_format)
              for c in row] for row in sheet.iter_rows()]
    return cells, (sheet.dimensions, sheet.freeze_panes, sheet.auto_filter.ref)


def _sheet_xml(data: bytes) -> str:
    with zipfile.ZipFile(io.BytesIO(data)) as book:
        return book.read("xl/worksheets/sheet1.xml").decode()


def _texts(data: bytes) -> list[str]:
    """The distinct cell texts as written in the XML (shared or inline), escapes and all."""
    with zipfile.ZipFile(io.BytesIO(data)) as book:
        xml = "".join(book.read(n).decode() for n in book.namelist()
                      if n == "xl/sharedStrings.xml" or n.startswith("xl/worksheets/"))
    return sorted(set(re.findall(r"<t(?: [^>]*)?>(.*?)</t>", xml, flags=re.S)))


def test_a_long_sheet_written_vectorised_reads_back_as_cell_by_cell(monkeypatch: pytest.MonkeyPatch) -> None:
    frame = _awkward_frame()
    # openpyxl reads "_x0041_" back from shared strings only (its escape is written alike, see _texts)
    plain = frame.filter(pl.col("text").ne_missing("_x0041_"))

    def both(frame: pl.DataFrame) -> tuple[bytes, bytes]:
        with monkeypatch.context() as m:
            slow = export.write_xlsx({"s": frame}, titles={"s": "标题"})
            m.setattr(export, "FAST_ROWS", 0)  # every sheet takes the vectorised path
            m.setattr(export, "CHUNK_ROWS", 7)  # in several chunks
            fast = export.write_xlsx({"s": frame}, titles={"s": "标题"})
        assert slow is not None and fast is not None
        return slow, fast

    slow, fast = both(plain)
    assert "inlineStr" in _sheet_xml(fast) and "inlineStr" not in _sheet_xml(slow)
    assert _cells(fast) == _cells(slow)  # values, number formats, dimension, frozen header, filter
    slow, fast = both(frame)
    assert _texts(fast) == _texts(slow)  # the same escapes (_xHHHH_, &amp; …) as xlsxwriter
    sheet = openpyxl.load_workbook(io.BytesIO(fast))["s"]
    assert sheet["A6"].value == "=1+1" and sheet["A6"].data_type == "s"  # text, never a formula
    # cut to Excel's 32,767 UTF-16 units, like xlsxwriter (an emoji takes two)
    assert (len(sheet["A15"].value), len(sheet["A16"].value)) == (32_767, 16_383)


def test_a_sheet_with_datetimes_stays_on_the_cell_by_cell_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(export, "FAST_ROWS", 0)
    frame = pl.DataFrame({"when": [datetime(2016, 9, 1, 8, 30)], "x": [1]})
    data = export.write_xlsx({"s": frame})
    assert data is not None and "inlineStr" not in _sheet_xml(data)
    assert openpyxl.load_workbook(io.BytesIO(data))["s"]["A2"].value == datetime(2016, 9, 1, 8, 30)
