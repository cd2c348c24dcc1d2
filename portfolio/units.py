"""Responsible units (责任单位) as every page, export and report shows them: one name, one order.

A unit is displayed by its full name (``units.name``, e.g. 长春汽车经济技术开发区) and listed in
the order of ``data/units.toml`` (national zones, main districts, counties), never alphabetically.
Where a unit is picked, its label adds the short name and every alias the label would not already
match, so typing 汽车经济, 汽开区 or 汽车产业开发区 finds the same unit: Streamlit's pickers match
what the user types against the label as an in-order subsequence (their ``fuzzy`` filter).
"""

from __future__ import annotations

import duckdb
import polars as pl

from . import store

#: The columns of :func:`units_frame`, in order.
COLUMNS = ("unit_id", "name", "short_name", "kind", "aliases", "position", "display_name", "label", "search_text")

#: Position given to a unit id that is not in the units table (listed after every known unit).
UNKNOWN_POSITION = 1_000_000


def units_frame(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """Every unit in the configured order with its display name, picker label and search text.

    The order is that of ``data/units.toml``: ``init`` loads the table in that order in one
    insert, and the table keeps its rows in insert order (``rowid``).
    """
    raw = store.fetch(con, "select unit_id, name, short_name, kind, aliases from units order by rowid")
    return describe(raw)


def describe(units: pl.DataFrame) -> pl.DataFrame:
    """Add ``position``, ``display_name``, ``label`` and ``search_text`` to units given in configured order."""
    aliases = units["aliases"].to_list() if "aliases" in units.columns else [None] * units.height
    # a few dozen reference rows: the label is built per unit (no data rows are looped over)
    labels = [picker_label(name, short, alias or [])
              for name, short, alias in zip(units["name"], units["short_name"], aliases, strict=True)]
    searches = [" ".join(dict.fromkeys([name, short, *(alias or [])]))
                for name, short, alias in zip(units["name"], units["short_name"], aliases, strict=True)]
    return units.with_columns(
        pl.int_range(pl.len(), dtype=pl.Int64).alias("position"),
        pl.col("name").alias("display_name"),
        pl.Series("label", labels, dtype=pl.String),
        pl.Series("search_text", searches, dtype=pl.String),
    ).select(COLUMNS)


def _finds(text: str, typed: str) -> bool:
    """True when ``typed`` is an in-order subsequence of ``text`` (case-insensitive), as a picker matches."""
    rest = iter(text.casefold())
    return all(ch in rest for ch in typed.casefold())


def picker_label(name: str, short_name: str | None, aliases: list[str]) -> str:
    """The full name, then in brackets the short name and the aliases typing would not find otherwise.

    ``长春汽车经济技术开发区（汽开区，汽车产业开发区）``: the short name is what staff say, so it is
    always shown when it differs; an alias only when the label would not match it already.
    ``南关区`` stays ``南关区``.
    """
    extra = [short_name] if short_name and short_name != name else []
    for word in aliases:
        label = f"{name}（{'，'.join(extra)}）" if extra else name
        if word and not _finds(label, word):
            extra.append(word)
    return f"{name}（{'，'.join(extra)}）" if extra else name


def labels(units: pl.DataFrame) -> dict[str, str]:
    """unit_id → picker label, in configured order."""
    return dict(zip(units["unit_id"], units["label"], strict=True))


def names(units: pl.DataFrame) -> dict[str, str]:
    """unit_id → display name (the full name), in configured order."""
    return dict(zip(units["unit_id"], units["display_name"], strict=True))


def position(units: pl.DataFrame, column: str = "unit_id") -> pl.Expr:
    """The configured position of the unit in ``column`` (unknown units after every known one).

    ``column`` holds unit ids, or display names when it is ``unit_name``.
    """
    key = "display_name" if column == "unit_name" else "unit_id"
    order = dict(zip(units[key], units["position"], strict=True))
    return pl.col(column).replace_strict(order, default=UNKNOWN_POSITION, return_dtype=pl.Int64)


def in_unit_order(frame: pl.DataFrame, units: pl.DataFrame, *, column: str = "unit_id",
                  then: list[str] | None = None) -> pl.DataFrame:
    """``frame`` sorted by the configured unit order of ``column`` (then by ``then``), stable otherwise."""
    keys = [position(units, column).alias("_unit_position"), *(then or [])]
    return frame.sort(keys, maintain_order=True, nulls_last=True)


def matching(units: pl.DataFrame, typed: str) -> pl.DataFrame:
    """The units whose full name, short name or an alias contains ``typed`` (case-insensitive)."""
    needle = typed.strip().casefold()
    if not needle:
        return units
    return units.filter(pl.col("search_text").str.to_lowercase().str.contains(needle, literal=True))
