"""The label catalogue: every user-facing label in Chinese and English, looked up by key.

One catalogue, split by area into modules of this package (``common``, ``pages``, ``report``)
so the app and the report speak the same words. Chinese is the default language.
"""

from __future__ import annotations

from collections.abc import Mapping

from . import common, local, pages, pages_a, pages_b, report, whatif

LANGS = ("zh", "en")
DEFAULT_LANG = "zh"

CATALOGUE: dict[str, tuple[str, str]] = {}
for _part in (common.LABELS, local.LABELS, pages.LABELS, pages_a.LABELS, pages_b.LABELS, report.LABELS,
              whatif.LABELS):
    _clash = set(CATALOGUE) & set(_part)
    if _clash:
        raise RuntimeError(f"duplicate label keys: {sorted(_clash)}")
    CATALOGUE.update(_part)


def t(key: str, lang: str = DEFAULT_LANG, /, **values: object) -> str:
    """The label for ``key`` in ``lang``, with ``{name}`` placeholders filled from ``values``.

    An unknown key returns the key itself so a missing label is visible, never a crash.
    """
    pair = CATALOGUE.get(key)
    text = key if pair is None else pair[1 if lang == "en" else 0]
    return text.format(**values) if values else text


def enum_label(value: str | None, lang: str = DEFAULT_LANG) -> str:
    """The display label of a stored enumeration value (建设性质, 状态, 层级, 链上作用 …)."""
    if value is None:
        return "—"
    if lang != "en":
        return value
    return ENUM_EN.get(value, value)


def translate_columns(columns: Mapping[str, str] | list[str], lang: str = DEFAULT_LANG) -> dict[str, str]:
    """Map database column names to display headers via ``col.<name>`` keys."""
    return {c: t(f"col.{c}", lang) if f"col.{c}" in CATALOGUE else c for c in columns}


ENUM_EN: dict[str, str] = {
    "新建": "New build", "扩建": "Expansion", "改建及技术改造": "Renovation / tech upgrade",
    "谋划": "Planned", "前期": "Preparatory", "在建": "Under construction", "竣工": "Completed",
    "达产达效": "In full production",
    "市级": "City leader", "局级": "Bureau leader", "处室": "Bureau division", "属地": "Local dept.",
    "补链": "Fill (补链)", "增链": "Extend (增链)", "丰链": "Enrich (丰链)",
    "上游": "Upstream", "中游": "Midstream", "下游": "Downstream", "配套服务": "Services",
    "国家级开发区": "National zone", "主城区": "Main district", "县域": "County-level",
    "on_track": "On track", "at_risk": "At risk", "off_track": "Off track",
    "red": "Red", "amber": "Amber", "green": "Green",
}
