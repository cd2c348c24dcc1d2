"""How figures are written for people: one module for the pages, the exports, the report and the CLI.

- money: 亿元 with one decimal in headlines and cards (``2,352.0``), 万元 with thousands separators
  and two decimals in detail tables (``16,851,761.17``); the unit is in the label, never guessed;
- percentages with one decimal (``94.3%``), growth with its sign (``+9.0%``);
- months as ``2016-09`` in tables and ``2016年9月`` in sentences (``Sep 2016`` in English);
- flags as 红/黄/绿, booleans as 是/否, nothing as ``—``;
- a capped list says ``显示前 N 行，共 M 行``.

Exports go through :func:`for_people` (vectorised, a million rows in a fraction of a second):
numbers stay numbers (Excel formats them), flags and booleans become words, timestamps dates.
:func:`export_title` writes the first row saying what a file holds and as of when, and
:func:`export_name` a file name that says the same.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

import polars as pl

from . import config
from .i18n import t

NONE = "—"
MONTHS_EN = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
#: The flag values the rules write and their words.
FLAG_WORDS = {"red": ("红", "Red"), "amber": ("黄", "Amber"), "green": ("绿", "Green")}
#: Columns that hold a flag value.
FLAG_COLUMNS = ("flag",)


def _en(lang: str) -> bool:
    return lang == "en"


def yi(wan: Any, digits: int = 1) -> str:
    """万元 as 亿元, thousands separators, ``digits`` decimals (headlines: 1): 23,520,000 → ``2,352.0``."""
    if wan is None:
        return NONE
    return f"{float(wan) / config.WAN_PER_YI:,.{digits}f}"


def wan(value: Any, digits: int = 2) -> str:
    """万元 with thousands separators and two decimals (detail tables): ``16,851,761.17``."""
    return NONE if value is None else f"{float(value):,.{digits}f}"


def pct(ratio: Any, digits: int = 1) -> str:
    """A ratio as a percentage with one decimal: 0.943 → ``94.3%``."""
    return NONE if ratio is None else f"{float(ratio) * 100:.{digits}f}%"


def pct_of(percent: Any, digits: int = 1) -> str:
    """A value already in percent with one decimal: 12 → ``12.0%``."""
    return NONE if percent is None else f"{float(percent):.{digits}f}%"


def growth(percent: Any, digits: int = 1) -> str:
    """A growth in percent with its sign: 9 → ``+9.0%``."""
    return NONE if percent is None else f"{float(percent):+.{digits}f}%"


def count(n: Any) -> str:
    """A count with thousands separators."""
    return NONE if n is None else f"{int(n):,}"


def month(d: date | datetime | None, lang: str = "zh", *, long: bool = False) -> str:
    """``2016-09`` (tables), or with ``long`` ``2016年9月`` / ``Sep 2016`` (sentences, titles)."""
    if d is None:
        return NONE
    if not long:
        return f"{d.year:04d}-{d.month:02d}"
    return f"{MONTHS_EN[d.month - 1]} {d.year}" if _en(lang) else f"{d.year}年{d.month}月"


def day(d: date | datetime | None) -> str:
    """A day as ``2016-09-30`` (never with a time of day)."""
    return NONE if d is None else f"{d.year:04d}-{d.month:02d}-{d.day:02d}"


def flag(value: str | None, lang: str = "zh") -> str:
    """``red`` → 红 (Red); anything else as it is, nothing as ``—``."""
    if value is None:
        return NONE
    words = FLAG_WORDS.get(value)
    return value if words is None else words[1 if _en(lang) else 0]


def yes_no(value: Any, lang: str = "zh") -> str:
    """True → 是 (Yes), False → 否 (No), nothing → ``—``."""
    if value is None:
        return NONE
    return ("Yes" if value else "No") if _en(lang) else ("是" if value else "否")


def capped(shown: int, total: int, lang: str = "zh") -> str:
    """What a cut list says: ``显示前 1,000 行，共 295,435 行``."""
    return t("fmt.capped", lang, n=f"{shown:,}", total=f"{total:,}")


def for_people(frame: pl.DataFrame, lang: str = "zh") -> pl.DataFrame:
    """A frame as people read it in a file: flags as 红/黄/绿, booleans as 是/否, timestamps as
    dates, decimals as numbers (Excel has no decimal type). Numbers stay numbers, so a
    spreadsheet can still add them up; the unit is in each header. Vectorised."""
    yes, no = ("Yes", "No") if _en(lang) else ("是", "否")
    flags = {k: v[1 if _en(lang) else 0] for k, v in FLAG_WORDS.items()}
    exprs = []
    for name, dtype in frame.schema.items():
        col = pl.col(name)
        if dtype == pl.Boolean:
            exprs.append(pl.when(col).then(pl.lit(yes)).when(col.not_()).then(pl.lit(no)).alias(name))
        elif name in FLAG_COLUMNS and dtype == pl.String:
            exprs.append(col.replace(flags).alias(name))
        elif isinstance(dtype, pl.Datetime):
            exprs.append(col.dt.date().alias(name))
        elif isinstance(dtype, pl.Decimal):
            exprs.append(col.cast(pl.Float64).alias(name))
        else:
            exprs.append(col)
    return frame.select(exprs) if exprs else frame


def export_title(what: str, *, as_of: date | None = None, filters: Iterable[str] = (), rows: int | None = None,
                 lang: str = "zh", today: date | None = None) -> str:
    """The first row of an exported sheet: what it holds, under which filter, as of when.

    ``长春市项目库 · 汽开区 · 仅滞后 · 截至2016年9月 · 共 45 行 · 导出于 2026-11-30``"""
    parts = [what, *[f for f in filters if f]]
    if as_of is not None:
        parts.append(t("fmt.as_of", lang, month=month(as_of, lang, long=True)))
    if rows is not None:
        parts.append(t("fmt.rows", lang, n=f"{rows:,}"))
    parts.append(t("fmt.exported", lang, day=day(today or date.today())))
    return " · ".join(parts)


_UNSAFE_NAME = re.compile(r'[\\/:*?"<>|\x00-\x1f\x7f]+')


def export_name(*parts: str | None, as_of: date | None = None, ext: str = "xlsx") -> str:
    """A file name that says what the file holds: ``滞后项目_汽开区_2016-09.xlsx``.

    Characters no file system takes (``/ \\ : * ? " < > |``, control characters) become ``-``;
    each part is kept short so the whole name stays well under the limits of mail and zip tools."""
    words = [_UNSAFE_NAME.sub("-", str(p)).strip(" .-")[:40] for p in parts if p]
    if as_of is not None:
        words.append(month(as_of))
    stem = "_".join(w for w in words if w) or "export"
    return f"{stem}.{ext}"


__all__ = [
    "NONE", "capped", "count", "day", "export_name", "export_title", "flag", "for_people", "growth", "month",
    "pct", "pct_of", "wan", "yes_no", "yi",
]
