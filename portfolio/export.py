"""Excel out: frames to a workbook with number formats, frozen headers and fitted widths.

Shared by the app's downloads and the scheduled report's xlsx.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from pathlib import Path

import polars as pl

_MONEY_SUFFIXES = ("_wan", "_yi", "（万元）", "（亿元）", "(万元)", "(亿元)")


def _is_money(name: str) -> bool:
    return name.endswith(_MONEY_SUFFIXES)


def _is_ratio(name: str) -> bool:
    return name.endswith(("_ratio", "_share", "率", "占比")) or name in {"coverage", "performance"}


def _display_width(value: object) -> int:
    text = "" if value is None else str(value)
    # CJK characters take two columns in Excel's default font.
    return sum(2 if ord(ch) > 0x2E80 else 1 for ch in text)


def write_xlsx(sheets: Mapping[str, pl.DataFrame], target: str | Path | io.BytesIO | None = None,
               *, titles: Mapping[str, str] | None = None) -> bytes | None:
    """Write one sheet per frame; returns the bytes when ``target`` is None.

    Money columns (``*_wan``/``*_yi`` or headers ending in （万元）/（亿元）) get a thousands
    format with two decimals, ratios a percentage format; headers are frozen and bold; column
    widths fit the content (CJK counted double). An optional title row goes above the header.
    """
    buffer = io.BytesIO() if target is None else target
    used: set[str] = set()
    import xlsxwriter

    workbook = xlsxwriter.Workbook(buffer if isinstance(buffer, io.BytesIO) else str(buffer),
                                   {"in_memory": True, "default_date_format": "yyyy-mm-dd",
                                    # a cell text such as "=HYPERLINK(…)" stays text, never a formula,
                                    # and "http://…", "mailto:…", "external:…" stay text, never links
                                    # (a link drops "mailto:", and a URL over 2079 characters is not
                                    # written at all)
                                    "strings_to_formulas": False, "strings_to_urls": False,
                                    # NaN / ±inf (a query can return them) as #NUM! / #DIV/0!, not a crash
                                    "nan_inf_to_errors": True})
    try:
        header_fmt = workbook.add_format({"bold": True, "bg_color": "#DCE6F1", "border": 1,
                                          "text_wrap": True, "valign": "vcenter"})
        title_fmt = workbook.add_format({"bold": True, "font_size": 13})
        money_fmt = workbook.add_format({"num_format": "#,##0.00"})
        ratio_fmt = workbook.add_format({"num_format": "0.0%"})
        date_fmt = workbook.add_format({"num_format": "yyyy-mm-dd"})
        for raw_name, frame in sheets.items():
            name = _sheet_name(raw_name, used)
            sheet = workbook.add_worksheet(name)
            top = 0
            if titles and raw_name in titles:
                sheet.write(0, 0, titles[raw_name], title_fmt)
                top = 2
            flat = _flatten(frame)
            for col, column in enumerate(flat.columns):
                sheet.write(top, col, column, header_fmt)
                dtype = flat.schema[column]
                fmt = None
                if dtype.is_numeric() and _is_money(column):
                    fmt = money_fmt
                elif dtype.is_numeric() and _is_ratio(column):
                    fmt = ratio_fmt
                elif dtype == pl.Date or dtype == pl.Datetime:
                    fmt = date_fmt
                values = flat.get_column(column).to_list()
                for row, value in enumerate(values, start=top + 1):
                    if value is None:
                        continue
                    if fmt is not None:
                        sheet.write(row, col, value, fmt)
                    else:
                        sheet.write(row, col, value)
                sample = values[:500]
                width = max([_display_width(column)] + [_display_width(v) for v in sample])
                sheet.set_column(col, col, min(max(width + 2, 6), 60))
            sheet.freeze_panes(top + 1, 0)
            if flat.width and flat.height:
                sheet.autofilter(top, 0, top + flat.height, flat.width - 1)
    finally:
        workbook.close()
    if isinstance(buffer, io.BytesIO) and target is None:
        return buffer.getvalue()
    return None


def _flatten(frame: pl.DataFrame) -> pl.DataFrame:
    """Lists and structs as text; decimals as floats (Excel has no decimal type)."""
    exprs = []
    for name, dtype in frame.schema.items():
        col = pl.col(name)
        if isinstance(dtype, pl.List):
            exprs.append(col.cast(pl.List(pl.String)).list.join("、").alias(name))
        elif isinstance(dtype, pl.Struct):
            exprs.append(col.struct.json_encode().alias(name))
        elif isinstance(dtype, pl.Decimal):
            exprs.append(col.cast(pl.Float64).alias(name))
        else:
            exprs.append(col)
    return frame.select(exprs) if exprs else frame


def _sheet_name(name: str, used: set[str]) -> str:
    clean = "".join("_" if ch in "[]:*?/\\" else ch for ch in name)[:31] or "Sheet"
    candidate, n = clean, 2
    while candidate.lower() in used:
        suffix = f"_{n}"
        candidate = clean[: 31 - len(suffix)] + suffix
        n += 1
    used.add(candidate.lower())
    return candidate
