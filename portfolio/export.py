"""Excel out: frames to a workbook with number formats, frozen headers and fitted widths.

Shared by the app's downloads and the scheduled report's xlsx. A sheet of more than
:data:`FAST_ROWS` rows has its data rows rendered as XML by polars, column by column and a
chunk of rows at a time, instead of cell by cell through xlsxwriter (which costs several
microseconds a cell: 300,000 rows of 18 columns took over a minute). The workbook around them
(styles, headers, widths, frozen panes, filters) is still xlsxwriter's; the cells read back the
same (a test compares both ways on awkward values).
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

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


#: Sheets longer than this are written through :func:`_rows_xml` (vectorised), shorter ones cell by cell.
FAST_ROWS = 2_000
#: Rows rendered per chunk on the fast path (bounds the memory of one chunk's XML text).
CHUNK_ROWS = 20_000
#: Excel's limit of rows in a sheet (header and title included); rows past it are not written.
EXCEL_ROWS = 1_048_576
_EXCEL_TEXT = 32_767  # UTF-16 code units in one cell


@dataclass
class _FastSheet:
    """A long sheet whose data rows are put into the workbook's XML after xlsxwriter closes it."""

    frame: pl.DataFrame
    top: int  # the header's row (0-based); data starts on the row after it
    styles: list[int | None]  # xf index of each column's number format


def write_xlsx(sheets: Mapping[str, pl.DataFrame], target: str | Path | io.BytesIO | None = None,
               *, titles: Mapping[str, str] | None = None) -> bytes | None:
    """Write one sheet per frame; returns the bytes when ``target`` is None.

    Money columns (``*_wan``/``*_yi`` or headers ending in （万元）/（亿元）) get a thousands
    format with two decimals, ratios a percentage format; headers are frozen and bold; column
    widths fit the content (CJK counted double). An optional title row goes above the header.
    Sheets longer than :data:`FAST_ROWS` rows are rendered vectorised (same cells, inline text).
    """
    buffer = io.BytesIO()
    used: set[str] = set()
    fast: dict[str, _FastSheet] = {}
    import xlsxwriter

    workbook = xlsxwriter.Workbook(buffer, {"in_memory": True, "default_date_format": "yyyy-mm-dd",
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
        for index, (raw_name, frame) in enumerate(sheets.items(), start=1):
            name = _sheet_name(raw_name, used)
            sheet = workbook.add_worksheet(name)
            top = 0
            if titles and raw_name in titles:
                sheet.write(0, 0, titles[raw_name], title_fmt)
                top = 2
            flat = flatten(frame).head(max(EXCEL_ROWS - top - 1, 0))
            vectorised = flat.height > FAST_ROWS and _fast_ok(flat)
            styles: list[int | None] = []
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
                series = flat.get_column(column)
                sample = series.head(500).to_list()
                if vectorised:
                    # the index the cells will name; asking for it also puts the format in styles.xml
                    styles.append(None if fmt is None else fmt._get_xf_index())
                else:
                    for row, value in enumerate(series.to_list(), start=top + 1):
                        if value is None:
                            continue
                        if fmt is not None:
                            sheet.write(row, col, value, fmt)
                        else:
                            sheet.write(row, col, value)
                width = max([_display_width(column)] + [_display_width(v) for v in sample])
                sheet.set_column(col, col, min(max(width + 2, 6), 60))
            if vectorised:
                fast[f"xl/worksheets/sheet{index}.xml"] = _FastSheet(flat, top, styles)
            sheet.freeze_panes(top + 1, 0)
            if flat.width and flat.height:
                sheet.autofilter(top, 0, top + flat.height, flat.width - 1)
    finally:
        workbook.close()
    content = _with_rows(buffer.getvalue(), fast) if fast else buffer.getvalue()
    if target is None:
        return content
    if isinstance(target, io.BytesIO):
        target.write(content)
    else:
        Path(target).write_bytes(content)
    return None


_FAST_TYPES = (pl.String, pl.Boolean, pl.Date, pl.Null, pl.Categorical, pl.Enum)


def _fast_ok(flat: pl.DataFrame) -> bool:
    """True when every column is of a kind the vectorised path writes (else cell by cell)."""
    for name, dtype in flat.schema.items():
        if dtype.is_numeric() and not isinstance(dtype, pl.Decimal):
            continue
        if not isinstance(dtype, _FAST_TYPES) and dtype not in _FAST_TYPES:
            return False
        if dtype == pl.Date and (flat[name] < date(1900, 3, 1)).any():
            return False  # Excel's 1900 leap-year serials: leave the old dates to xlsxwriter
    return True


def _column_letter(col: int) -> str:
    letters = ""
    col += 1
    while col:
        col, rem = divmod(col - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


def _text_cells(series: pl.Series) -> pl.Series:
    """Text as xlsxwriter writes it inline: cut to Excel's cell limit, control characters as
    ``_xHHHH_`` (a literal ``_xHHHH_`` escaped as ``_x005F_xHHHH_``), XML escaped."""
    s = series.cast(pl.String)
    long = s.str.len_chars() > _EXCEL_TEXT // 2
    if long.any():  # a few very long texts: cut them in Python by UTF-16 units, as Excel counts
        where = long.arg_true()
        cut = [v.encode("utf-16-le")[: 2 * _EXCEL_TEXT].decode("utf-16-le", errors="ignore")
               for v in s.gather(where).to_list()]
        s = s.scatter(where, cut)
    if s.str.contains(r"_x[0-9a-fA-F]{4}_").any():
        s = s.str.replace_all(r"(_x[0-9a-fA-F]{4}_)", "_x005F$1")
    if s.str.contains(r"[\x00-\x08\x0b-\x1f\ufffe\uffff]").any():
        for code in [*range(0x00, 0x09), *range(0x0B, 0x20), 0xFFFE, 0xFFFF]:
            s = s.str.replace_all(chr(code), f"_x{code:04X}_", literal=True)
    for char, entity in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;")):
        s = s.str.replace_all(char, entity, literal=True)
    return s


def _cell_expr(name: str, dtype: Any, letter: str, style: int | None, row: pl.Expr) -> pl.Expr:
    """One column's cells as XML text ("" for an empty cell), as xlsxwriter would write them."""
    s_attr = "" if style is None else f' s="{style}"'
    col = pl.col(name)
    open_tag = [pl.lit(f'<c r="{letter}'), row, pl.lit(f'"{s_attr}')]
    if dtype == pl.Boolean:
        body = pl.concat_str([*open_tag, pl.lit(' t="b"><v>'), col.cast(pl.UInt8).cast(pl.String),
                              pl.lit("</v></c>")])
    elif dtype == pl.Date:
        days = (col - pl.lit(date(1899, 12, 31))).dt.total_days()
        serial = pl.when(days > 59).then(days + 1).otherwise(days)
        body = pl.concat_str([*open_tag, pl.lit("><v>"), serial.cast(pl.String), pl.lit("</v></c>")])
    elif dtype.is_numeric():
        number = pl.concat_str([*open_tag, pl.lit("><v>"), col.cast(pl.String), pl.lit("</v></c>")])
        if dtype.is_float():
            def error(formula: str, value: str) -> pl.Expr:
                return pl.concat_str([*open_tag, pl.lit(f' t="e"><f>{formula}</f><v>{value}</v></c>')])
            number = (pl.when(col.is_nan()).then(error("#NUM!", "#NUM!"))
                      .when(col == float("inf")).then(error("1/0", "#DIV/0!"))
                      .when(col == float("-inf")).then(error("-1/0", "#DIV/0!"))
                      .otherwise(number))
        body = number
    elif dtype == pl.Null:
        return pl.lit("")
    else:  # text; an empty text is an empty cell, as in xlsxwriter, which keeps outer spaces so
        space = pl.when(col.str.contains(r"^\s|\s$")).then(pl.lit(' xml:space="preserve"')).otherwise(pl.lit(""))
        body = pl.when(col != "").then(pl.concat_str([
            *open_tag, pl.lit(' t="inlineStr"><is><t'), space, pl.lit(">"), col, pl.lit("</t></is></c>")]))
    return body.fill_null("")


def _rows_xml(sheet: _FastSheet) -> Iterator[bytes]:
    """The sheet's data rows as ``<row>`` elements, CHUNK_ROWS rows at a time."""
    frame = sheet.frame
    texts = [n for n, t in frame.schema.items() if not (t.is_numeric() or t in (pl.Boolean, pl.Date, pl.Null))]
    row = pl.col("_r")
    cells = [_cell_expr(name, dtype, _column_letter(i), sheet.styles[i], row)
             for i, (name, dtype) in enumerate(frame.schema.items())]
    for start in range(0, frame.height, CHUNK_ROWS):
        chunk = frame.slice(start, CHUNK_ROWS)
        chunk = chunk.with_columns(
            *[_text_cells(chunk.get_column(n)).alias(n) for n in texts],
            (pl.int_range(pl.len()) + (start + sheet.top + 2)).cast(pl.String).alias("_r"),
        )
        line = pl.concat_str(cells)
        xml = chunk.select(  # a row of empty cells is not written, as in xlsxwriter
            pl.when(line != "").then(pl.concat_str([pl.lit('<row r="'), row, pl.lit('">'), line, pl.lit("</row>")]))
            .otherwise(pl.lit("")).str.join("")).item()
        yield xml.encode("utf-8")


_DIMENSION = re.compile(rb'<dimension ref="([A-Z]+[0-9]+)(?::[A-Z]+[0-9]+)?"/>')


def _with_rows(content: bytes, fast: Mapping[str, _FastSheet]) -> bytes:
    """The workbook with the long sheets' data rows put into their (header-only) sheet XML."""
    out = io.BytesIO()
    # the long parts at the fastest deflate level: level 6 took four times as long for a 10 % smaller file
    with zipfile.ZipFile(io.BytesIO(content)) as src, \
            zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as dst:
        for info in src.infolist():
            body = src.read(info)
            sheet = fast.get(info.filename)
            if sheet is None:
                dst.writestr(info, body)
                continue
            frame = sheet.frame
            last = f"{_column_letter(frame.width - 1)}{sheet.top + 1 + frame.height}"
            body = _DIMENSION.sub(rb'<dimension ref="\1:' + last.encode() + rb'"/>', body, count=1)
            head, sep, tail = body.partition(b"</sheetData>")
            if not sep:  # xlsxwriter writes an empty <sheetData/> for a sheet without cells
                head, sep, tail = body.partition(b"<sheetData/>")
                head, tail = head + b"<sheetData>", tail
            big = frame.height * max(frame.width, 1) * 100 > 2**31  # the part may pass 2 GiB: zip64
            # opened by name: dated 1980-01-01 like xlsxwriter's parts, so the bytes do not depend on the clock
            with dst.open(info.filename, "w", force_zip64=big) as part:
                part.write(head)
                for chunk in _rows_xml(sheet):
                    part.write(chunk)
                part.write(b"</sheetData>" + tail)
    return out.getvalue()


def flatten(frame: pl.DataFrame, *, decimals: bool = False) -> pl.DataFrame:
    """Lists and structs as text; decimals as floats (Excel has no decimal type) unless ``decimals``."""
    exprs = []
    for name, dtype in frame.schema.items():
        col = pl.col(name)
        if isinstance(dtype, pl.List):
            exprs.append(col.cast(pl.List(pl.String)).list.join("、").alias(name))
        elif isinstance(dtype, pl.Struct):
            exprs.append(col.struct.json_encode().alias(name))
        elif isinstance(dtype, pl.Decimal) and not decimals:
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
