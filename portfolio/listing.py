"""The 项目库 list: a plan year's projects at a month, filtered, sorted and paged in DuckDB.

The list is one query over ``project_status_at(as_of)`` (the project rules, written once):
the filters and the text search in its ``where``, the order and the page in its ``order by`` /
``limit`` / ``offset``, and the count and sums of every matching project beside the page. Only
the page's rows leave the database, so a million projects cost the app one page of rows, not
a million. :func:`project_facts` reads one project's figures by its id.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

import duckdb
import polars as pl

from . import store

#: Columns of a list row: what the list, its export and the chosen project's figures show.
LIST_COLS = (
    "project_id", "name", "enterprise", "unit_id", "unit_name", "chain_id", "chain_name", "tier", "nature",
    "status", "is_major", "leader", "leader_level", "total_investment_wan", "annual_plan_wan", "active_from",
    "active_to", "expected_wan", "completed_wan", "cumulative_wan", "behind_wan", "performance", "flag",
    "is_lagging", "stalled", "open_problems", "open_problem_level", "open_problem_since", "open_problem_months",
)
#: Filters that pick among stored values (any of the values given).
FILTERS = ("tier", "chain_id", "unit_id", "status", "nature", "leader_level")
#: Columns the list can be sorted by (ties are broken by the project id).
SORTS = ("project_id", "total_investment_wan", "annual_plan_wan", "completed_wan", "performance", "behind_wan")
#: The columns searched by the text search (case-insensitive, the text as typed).
SEARCHED = ("project_id", "name", "enterprise")
SUMS = ("total_investment_wan", "annual_plan_wan", "completed_wan")
PAGE_SIZE = 50


@dataclass(frozen=True)
class ListPage:
    """One page of the list, with the count and the sums of every project that matches."""

    rows: pl.DataFrame  # the page, in order (columns LIST_COLS)
    matched: int  # projects that match the filters
    total: int  # projects of the plan year
    sums: dict[str, Decimal]  # SUMS over the matching projects (万元)
    offset: int
    limit: int | None

    @property
    def pages(self) -> int:
        """How many pages of ``limit`` rows the matching projects fill (at least one)."""
        if not self.limit:
            return 1
        return max(1, -(-self.matched // self.limit))


def _where(filters: Mapping[str, Sequence[str]], *, major: bool, lagging: bool,
           search: str | None) -> tuple[str, dict[str, Any]]:
    parts: list[str] = []
    params: dict[str, Any] = {}
    for column, values in filters.items():
        if column not in FILTERS:
            raise ValueError(f"不能按 {column} 筛选（unknown filter）。")
        if values:
            parts.append(f"list_contains(${column}::varchar[], {column})")
            params[column] = [str(v) for v in values]
    if major:
        parts.append("coalesce(is_major, false)")
    if lagging:
        parts.append("coalesce(is_lagging, false)")
    needle = (search or "").strip().lower()
    if needle:
        parts.append("(" + " or ".join(f"contains(lower(coalesce({c}, '')), $needle)" for c in SEARCHED) + ")")
        params["needle"] = needle
    return " and ".join(parts) or "true", params


def list_projects(con: duckdb.DuckDBPyConnection, *, as_of: date, filters: Mapping[str, Sequence[str]] | None = None,
                  major: bool = False, lagging: bool = False, search: str | None = None,
                  sort: str = "project_id", descending: bool = False, offset: int = 0,
                  limit: int | None = PAGE_SIZE) -> ListPage:
    """The projects of the plan year of ``as_of`` that match, sorted, from ``offset`` (``limit`` rows, all for None).

    ``filters`` maps a column of :data:`FILTERS` to the values kept; ``major`` / ``lagging`` keep
    only major / lagging projects; ``search`` keeps projects whose id, name or builder contains
    it (ignoring case). The count and sums are of every matching project, not only the page's.
    """
    if sort not in SORTS:
        raise ValueError(f"不能按 {sort} 排序（unknown sort column）。")
    if offset < 0 or (limit is not None and limit < 1):
        raise ValueError("分页参数无效（offset must be ≥ 0, limit ≥ 1）。")
    where, params = _where(filters or {}, major=major, lagging=lagging, search=search)
    direction = "desc" if descending else "asc"
    order = f"{sort} {direction} nulls last, project_id" if sort != "project_id" else f"project_id {direction}"
    page = f"limit {int(limit)} offset {int(offset)}" if limit is not None else f"offset {int(offset)}"
    cols = ", ".join(LIST_COLS)
    sums = ", ".join(f"sum({c}) filter (where _hit) as _sum_{c}" for c in SUMS)
    sql = f"""
with s as materialized (
    select {cols}, ({where}) as _hit from project_status_at($as_of)
), t as (
    select count(*) as _total, count(*) filter (where _hit) as _matched, {sums} from s
), p as (
    select {cols} from s where _hit order by {order} {page}
)
select t.*, p.* from t left join p on true
order by {", ".join(f"p.{part}" for part in order.split(", "))}
"""
    # a page of rows is read through one plan (the relation's way binds the long query twice); every
    # row (limit None: an export) the relation's way, without a second copy
    fetch = store.fetch_few if limit is not None else store.fetch
    frame = fetch(con, sql, {"as_of": as_of, **params})
    head = frame.row(0, named=True)
    rows = frame.select(LIST_COLS)
    if rows.height == 1 and head["project_id"] is None:  # no project on this page
        rows = rows.clear()
    return ListPage(rows=rows, matched=int(head["_matched"]), total=int(head["_total"]),
                    sums={c: Decimal(head[f"_sum_{c}"] or 0) for c in SUMS}, offset=offset, limit=limit)


def project_facts(con: duckdb.DuckDBPyConnection, project_id: str, *, as_of: date) -> dict[str, Any] | None:
    """One project's list row (:data:`LIST_COLS`) at ``as_of``, or None when it is not in that plan year."""
    rows = store.fetch(con, f"select {', '.join(LIST_COLS)} from project_status_at(?) where project_id = ?",
                       [as_of, project_id]).to_dicts()
    return rows[0] if rows else None
