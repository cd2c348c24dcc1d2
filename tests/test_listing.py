"""The 项目库 list in the database: filters, search, order, pages, count and sums agree with the project frame."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path

import duckdb
import polars as pl
import pytest

from portfolio import listing, store, targets

AS_OF = date(2016, 9, 1)


@pytest.fixture(scope="module")
def sample_con(sample_db_template: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection to the sample plan (the tests only read)."""
    with store.connect(sample_db_template, read_only=True) as con:
        yield con


@pytest.fixture(scope="module")
def frame(sample_con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """Every project at the month, as the other pages see them."""
    return targets.project_performance(sample_con, as_of=AS_OF)


def test_the_first_page_is_the_first_projects_by_id_with_the_count_and_sums_of_all(
        sample_con: duckdb.DuckDBPyConnection, frame: pl.DataFrame) -> None:
    page = listing.list_projects(sample_con, as_of=AS_OF, limit=50)
    assert page.rows.columns == list(listing.LIST_COLS)
    assert page.rows["project_id"].to_list() == frame.sort("project_id")["project_id"].head(50).to_list()
    assert page.matched == page.total == frame.height
    assert page.pages == -(-frame.height // 50)
    for column in listing.SUMS:
        assert page.sums[column] == Decimal(str(frame[column].sum()))


def test_filters_search_and_order_match_the_project_frame(sample_con: duckdb.DuckDBPyConnection,
                                                           frame: pl.DataFrame) -> None:
    unit = frame["unit_id"][0]
    page = listing.list_projects(sample_con, as_of=AS_OF, filters={"unit_id": [unit], "status": ["在建", "前期"]},
                                 lagging=True, sort="behind_wan", descending=True, offset=3, limit=7)
    expected = (frame
                .filter(pl.col("unit_id") == unit, pl.col("status").is_in(["在建", "前期"]), pl.col("is_lagging"))
                .sort(["behind_wan", "project_id"], descending=[True, False], nulls_last=True))
    assert page.matched == expected.height > 10
    assert page.total == frame.height
    assert page.rows["project_id"].to_list() == expected["project_id"].slice(3, 7).to_list()
    assert page.sums["completed_wan"] == Decimal(str(expected["completed_wan"].sum()))


def test_search_reads_the_text_literally_and_ignores_case(sample_con: duckdb.DuckDBPyConnection,
                                                           frame: pl.DataFrame) -> None:
    page = listing.list_projects(sample_con, as_of=AS_OF, search="cc2016-00", limit=None)
    assert page.rows["project_id"].to_list() == frame.filter(
        pl.col("project_id").str.starts_with("CC2016-00"))["project_id"].sort().to_list()
    assert listing.list_projects(sample_con, as_of=AS_OF, search="%").matched == 0  # not a LIKE pattern
    name = frame["name"][5]
    assert frame["project_id"][5] in listing.list_projects(sample_con, as_of=AS_OF, search=name).rows["project_id"]


def test_a_page_past_the_end_is_empty_but_still_counts(sample_con: duckdb.DuckDBPyConnection,
                                                       frame: pl.DataFrame) -> None:
    page = listing.list_projects(sample_con, as_of=AS_OF, offset=frame.height + 10, limit=50)
    assert page.rows.is_empty()
    assert page.matched == frame.height
    nothing = listing.list_projects(sample_con, as_of=AS_OF, search="没有这个项目")
    assert (nothing.matched, nothing.rows.height, nothing.sums["annual_plan_wan"]) == (0, 0, Decimal(0))


def test_unknown_columns_are_refused(sample_con: duckdb.DuckDBPyConnection) -> None:
    with pytest.raises(ValueError, match="排序"):
        listing.list_projects(sample_con, as_of=AS_OF, sort="name; drop table projects")
    with pytest.raises(ValueError, match="筛选"):
        listing.list_projects(sample_con, as_of=AS_OF, filters={"note": ["x"]})


def test_project_facts_is_the_project_s_list_row(sample_con: duckdb.DuckDBPyConnection, frame: pl.DataFrame) -> None:
    pid = frame["project_id"][-1]
    facts = listing.project_facts(sample_con, pid, as_of=AS_OF)
    assert facts is not None
    row = frame.filter(pl.col("project_id") == pid).row(0, named=True)
    assert {k: facts[k] for k in ("name", "completed_wan", "performance", "flag", "tier")} == {
        k: row[k] for k in ("name", "completed_wan", "performance", "flag", "tier")}
    assert listing.project_facts(sample_con, "NO-SUCH", as_of=AS_OF) is None
