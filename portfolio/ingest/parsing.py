"""Parsing cells: polars expressions that turn a ledger's text into typed values.

Every parser is an expression over a whole column (no Python loop per row): amounts in any
of the ways staff write them (3,000 / １２００ / 1.5亿 / 800万元) to DECIMAL 万元, dates
(2016.3 / 2016年3月 / Excel serials), months, percentages and 是/否. A cell a parser cannot
read becomes null; validation turns "text given, no value" into the reason the user sees.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from datetime import date
from decimal import Decimal

import polars as pl

from .catalogue import ENUM_ALIASES

MONEY = pl.Decimal(18, 2)
PCT = pl.Decimal(5, 2)
_WIDE = pl.Decimal(38, 10)

_TRUE = ("是", "y", "yes", "true", "t", "1", "1.0", "√", "✓", "✔", "对", "有")
_FALSE = ("否", "n", "no", "false", "f", "0", "0.0", "×", "✗", "x", "无", "不是")
_BOOLS = {**dict.fromkeys(_TRUE, True), **dict.fromkeys(_FALSE, False)}

_FULL = [chr(c) for c in range(0xFF01, 0xFF5F)] + ["\u3000"]
_HALF = [chr(c - 0xFEE0) for c in range(0xFF01, 0xFF5F)] + [" "]
NO_PROBLEM_RE = r"^(无|暂无|没有|无问题|暂无问题|没有问题|无困难|暂无困难|无此项|正常|none|n/?a)$"
#: Characters the importer drops from every cell: C0 controls but tab and LF (CR becomes LF
#: first), DEL and the C1 controls, and U+FFFE / U+FFFF, which XML (and so xlsx) cannot hold.
CONTROL_RE = r"[\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F\x{FFFE}\x{FFFF}]"
DASHES = ["-", "--", "—", "——", "–", "/", "\\", "－", "／"]


def clean_text(e: pl.Expr) -> pl.Expr:
    """Clean text: CR LF and CR become LF, other control characters are dropped, leading and
    trailing whitespace is stripped; blank and dash-only cells (-, —, /) become null.

    Tab and LF are kept (an Excel cell holds them as they are). The dropped characters
    (:data:`CONTROL_RE`) are invisible, most cannot be stored in xlsx except as ``_xHHHH_``
    escapes that not every reader decodes, and they can steer a terminal.
    """
    s = e.str.replace_all(r"\r\n?", "\n").str.replace_all(CONTROL_RE, "").str.strip_chars()
    return pl.when((s == "") | s.is_in(DASHES)).then(None).otherwise(s)


def half_width(e: pl.Expr) -> pl.Expr:
    """Full-width letters, digits and the ideographic space as their half-width forms."""
    return e.str.replace_many(_FULL, _HALF)


def lookup_key(e: pl.Expr) -> pl.Expr:
    """A cell as a lookup key: half-width, no whitespace, lower case."""
    return half_width(e).str.replace_all(r"\s+", "").str.to_lowercase()


def parse_amount(e: pl.Expr, unit: str | None = None) -> pl.Expr:
    """Text → DECIMAL(18,2) 万元: 3,000 / １２００ / 1.5亿 / 800万元 / 5000000元; half-up rounding."""
    s = half_width(e).str.replace_all(r"[\s,¥￥]", "")
    g = s.str.extract_groups(r"^([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)(亿元|亿|万元|万|元)?$")
    number = g.struct.field("1").cast(_WIDE, strict=False)
    suffix = g.struct.field("2").fill_null(unit or "万元")
    factor = (
        pl.when(suffix.str.starts_with("亿")).then(pl.lit(Decimal(10000), _WIDE))
        .when(suffix == "元").then(pl.lit(Decimal("0.0001"), _WIDE))
        .otherwise(pl.lit(Decimal(1), _WIDE))
    )
    return (number * factor).round(2, mode="half_away_from_zero").cast(MONEY, strict=False)


def parse_date(e: pl.Expr) -> pl.Expr:
    """Text → Date: 2016.3 / 2016年3月 / 2016-03-15 / 2016/3/15 / 2016年3月15日 / 20160315 / Excel serial."""
    s = half_width(e).str.replace(r"[ T]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?$", "").str.replace_all(r"\s+", "")
    g = s.str.extract_groups(r"^(\d{4})[年./\-](\d{1,2})(?:[月./\-](?:(\d{1,2})日?)?)?$")
    c = s.str.extract_groups(r"^(\d{4})(\d{2})(\d{2})?$")
    year = pl.coalesce(g.struct.field("1"), c.struct.field("1"))
    month = pl.coalesce(g.struct.field("2"), c.struct.field("2")).str.zfill(2)
    day = pl.coalesce(g.struct.field("3"), c.struct.field("3"), pl.lit("1")).str.zfill(2)
    ymd = pl.concat_str([year, month, day], separator="-").str.to_date("%Y-%m-%d", strict=False)
    serial = s.str.extract(r"^(\d{5})(?:\.\d+)?$", 1).cast(pl.Int64)  # Excel day numbers, 1927–2173
    return pl.coalesce(ymd, pl.lit(date(1899, 12, 30)) + pl.duration(days=serial))


def parse_month(e: pl.Expr, *, default_year: int) -> pl.Expr:
    """Text → first day of the month; a bare month (9 / 9月) takes ``default_year``."""
    bare = half_width(e).str.strip_chars().str.extract(r"^(\d{1,2})月?$", 1)
    fallback = pl.concat_str([pl.lit(str(default_year)), bare.str.zfill(2), pl.lit("01")], separator="-")
    return pl.coalesce(parse_date(e), fallback.str.to_date("%Y-%m-%d", strict=False)).dt.truncate("1mo")


def parse_period(e: pl.Expr, *, default_year: int) -> pl.Expr:
    """A statistics period → the first day of its last month: 2016年1-9月 / 1—9月 / 2016.9 / 9月.

    The bureau's 本年累计 is published for 1-N月 (1-2月 together): the period ends in month N."""
    s = half_width(e).str.replace_all(r"\s+", "").str.replace(r"(\d{1,2})[-–—~～至到](\d{1,2})月$", "${2}月")
    return parse_month(s, default_year=default_year)


def parse_year(e: pl.Expr) -> pl.Expr:
    """Text → a plan year (Int32): 2016, 2016年, 2016年度, 2016.0; anything else null."""
    s = half_width(e).str.replace_all(r"\s+", "")
    return s.str.extract(r"^(\d{4})(?:\.0+)?(?:年度?)?$", 1).cast(pl.Int32, strict=False)


def parse_growth(e: pl.Expr) -> pl.Expr:
    """Text → growth in percent: 12.5 / -4.6 / 12.5% / 增长12% / 下降4.6% / 持平; the range is checked by validation."""
    s = half_width(e).str.replace_all(r"[\s%]", "").str.replace(r"^同比", "")
    falls = s.str.contains(r"^(下降|降低|减少|降|减)")
    number = s.str.replace(r"^(增长|增加|上升|下降|降低|减少|增|升|降|减)", "").cast(_WIDE, strict=False)
    value = (pl.when(s == "持平").then(pl.lit(Decimal(0), _WIDE))
             .when(falls).then(-number)
             .otherwise(number))
    return value.round(2, mode="half_away_from_zero")


def parse_amount_unit(e: pl.Expr) -> pl.Expr:
    """A 计量单位 cell (or the unit written after an indicator, 工业投资（亿元）) → 亿元 / 万元 / 元, else null."""
    s = half_width(e).str.replace_all(r"[\s()\[\]【】]", "")
    return s.replace_strict({"亿元": "亿元", "亿": "亿元", "万元": "万元", "万": "万元", "元": "元"},
                            default=None, return_dtype=pl.String)


def parse_pct(e: pl.Expr) -> pl.Expr:
    """Text → percent number (45, 45%, 45.5); range is checked by validation."""
    return half_width(e).str.replace_all(r"[\s%]", "").cast(_WIDE, strict=False).round(2, mode="half_away_from_zero")


def parse_bool(e: pl.Expr) -> pl.Expr:
    """Text → Boolean: 是/否, Y/N, true/false, 1/0, √/×."""
    return lookup_key(e).replace_strict(_BOOLS, default=None, return_dtype=pl.Boolean)


def enum_map(name: str, choices: Iterable[str]) -> dict[str, str]:
    """Every accepted spelling of an enumeration (as a lookup key) to its canonical value."""
    out = {c: c for c in choices}
    for canonical, aliases in ENUM_ALIASES.get(name, {}).items():
        out.update(dict.fromkeys(aliases, canonical))
    return {_py_key(k): v for k, v in out.items()}


def _py_key(text: str) -> str:
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text)).lower()


def unit_key(e: pl.Expr) -> pl.Expr:
    """A responsible unit's lookup key: 长春市 / 长春 dropped from the front."""
    return lookup_key(e).str.replace(r"^长春市?", "")


def chain_key(e: pl.Expr) -> pl.Expr:
    """A chain's lookup key: 产业链 dropped from the end."""
    return lookup_key(e).str.replace(r"产业链$", "")
