"""One chain analysis a plan year: one read of the year's projects, every view of it the same as alone."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from portfolio import chains, store, years
from tests.test_chains import COVERED, LINE, LINE_EDGES, db, load  # noqa: F401  (db is a fixture)

TARGETS_2017 = {"industrial_investment": Decimal("26000000"), "tech_upgrade_investment": Decimal("15500000")}


class Recorder:
    """A connection that notes the text of every query run through it (and runs it)."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self._con = con
        self.queries: list[str] = []

    def sql(self, query: str, *args: Any, **kwargs: Any) -> Any:
        self.queries.append(query)
        return self._con.sql(query, *args, **kwargs)

    def execute(self, query: str, *args: Any, **kwargs: Any) -> Any:
        self.queries.append(query)
        return self._con.execute(query, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._con, name)


def year_reads(queries: list[str]) -> int:
    """How many queries read the plan year's projects (the project_tiers / project_tiers_in macros)."""
    return sum("project_tiers" in q for q in queries)


def test_gaps_report_reads_the_years_projects_once(sample_db_template: Path) -> None:
    with store.connect(sample_db_template, read_only=True) as con:
        rec = Recorder(con)
        report = chains.gaps_report(rec)  # type: ignore[arg-type]
        assert report["gaps"]
        assert year_reads(rec.queries) == 1
        rec.queries.clear()
        chains.chain_map_frames(rec, chain="auto")  # type: ignore[arg-type]
        assert year_reads(rec.queries) == 1
        # the query reads only the columns the analysis uses, never the project's text for every row
        (query,) = [q for q in rec.queries if "project_tiers" in q]
        assert "select *" not in query.split("from project_tiers")[0].rsplit("yp as", 1)[-1]


def test_every_view_of_one_analysis_equals_the_call_that_makes_its_own(sample_db_template: Path) -> None:
    with store.connect(sample_db_template, read_only=True) as con:
        an = chains.analysis(con)
        # its coverage is the view's (v_chain_coverage), though counted in one pass over the year's projects
        coverage = chains.segment_coverage(con)
        assert_frame_equal(an.classes.select(coverage.columns), coverage)
        assert_frame_equal(store.fetch(con, "select * from v_chain_coverage"), coverage)
        assert_frame_equal(chains.gaps_of(an), chains.gaps(con))
        assert_frame_equal(chains.gaps_of(an, chain="rail"), chains.gaps(con, chain="rail"))
        assert_frame_equal(chains.after_of(an, chain="auto"), chains.after_pipeline(con, chain="auto"))
        assert_frame_equal(chains.disagreements_of(an), chains.role_disagreements(con))
        assert_frame_equal(an.classes, chains.segment_classes(con))
        for got, want in zip(chains.map_frames_of(an, chain="auto"), chains.chain_map_frames(con, chain="auto"),
                             strict=True):
            assert_frame_equal(got, want)
        assert chains.report_of(an, limit=None, ids_limit=None) == chains.gaps_report(con, limit=None, ids_limit=None)
        assert chains.report_of(an, chain="auto") == chains.gaps_report(con, chain="auto")
        assert chains.summary_of(an).to_dicts() == chains.gaps_report(con)["summary"]["by_chain"]
        with pytest.raises(ValueError, match="未知的产业链"):
            chains.gaps_of(an, chain="nope")


def test_an_analysis_that_kept_fifty_ids_a_segment_counts_them_all_and_refuses_to_list_more(
        db: duckdb.DuckDBPyConnection) -> None:  # noqa: F811
    load(db, LINE, LINE_EDGES, COVERED, [(f"P{i:02d}", "m1", "在建", "补链") for i in range(60)])
    whole = chains.analysis(db)
    cut = chains.analysis(db, ids_limit=50)
    m1 = whole.classes.filter(pl.col("node_id") == "m1").row(0, named=True)
    m1_cut = cut.classes.filter(pl.col("node_id") == "m1").row(0, named=True)
    assert m1["pipeline_ids"] == [f"P{i:02d}" for i in range(60)]
    assert m1_cut["pipeline_ids"] == m1["pipeline_ids"][:50]
    assert m1_cut["pipeline_projects"] == 60
    # the reasons name the first five and count all sixty, whichever the analysis kept
    assert m1_cut["reasons"] == m1["reasons"]
    assert "P00、P01、P02、P03、P04 等 60 个项目" in m1["reasons"][-1]
    gap = {g["node_id"]: g for g in chains.report_of(cut)["gaps"]}["m1"]
    assert (gap["addressed_by"], gap["addressed_count"]) == (m1["pipeline_ids"][:50], 60)
    assert chains.report_of(cut) == chains.gaps_report(db)
    with pytest.raises(ValueError, match="50"):
        chains.report_of(cut, ids_limit=None)


def test_a_closed_years_gaps_are_those_of_the_projects_as_they_were_closed(
        sample_db: Path) -> None:
    with store.connect(sample_db) as con:
        before = chains.gaps_report(con, limit=None, ids_limit=None)
        years.open_year(con, 2017, targets=TARGETS_2017)
        # after the rollover the library changes: a declared role, a segment, a status, a name
        con.execute("update projects set status = '在建', chain_role = '丰链', node_id = 'rail.tcms', name = '改名'"
                    " where project_id in (select project_id from projects order by project_id limit 40)")
        store.bump_revision(con)
    with store.connect(sample_db, read_only=True) as con:
        closed = chains.gaps_report(con, year=2016, limit=None, ids_limit=None)
        current = chains.gaps_report(con, limit=None, ids_limit=None)
        assert years.is_closed(con, 2016)
    assert {k: v for k, v in closed.items() if k != "year"} == {k: v for k, v in before.items() if k != "year"}
    assert closed["year"] == 2016 and current["year"] == 2017
    # the current year reads the projects as they are now: those carried into 2017 declare 丰链 on 通信控制
    renamed = [d for d in current["role_disagreements"] if d["project"] == "改名"]
    assert renamed and {(d["node_id"], d["declared_role"], d["segment_kind"]) for d in renamed} == {
        ("rail.tcms", "丰链", "补链")}
    assert not [d for d in closed["role_disagreements"] if d["project"] == "改名"]
    tcms = {g["node_id"]: g["addressed_count"] for g in current["gaps"]}["rail.tcms"]
    assert tcms == {g["node_id"]: g["addressed_count"] for g in closed["gaps"]}["rail.tcms"] + len(renamed)


def test_disagreements_compared_a_group_at_a_time_are_those_of_a_project_at_a_time(sample_db_template: Path) -> None:
    """The query groups the declared roles (segment, chain, role) and keeps each group's first rows; the
    disagreements are those of comparing every pipeline project's role with its segment's class."""
    from portfolio import config

    with store.connect(sample_db_template, read_only=True) as con:
        an = chains.analysis(con)
        cut = chains.analysis(con, ids_limit=50, disagreements_limit=3)
        statuses = ", ".join(f"'{s}'" for s in config.PIPELINE_STATUSES)
        declared = store.fetch(con, "select project_id, name as project, status, node_id, chain_id as project_chain_id,"
                                    f" chain_role from project_tiers() where status in ({statuses})"
                                    " and chain_role is not null")
    seg = an.classes.select("node_id", "chain_id", pl.col("name").alias("node"), "kind")
    want = (
        declared.join(seg, on="node_id", how="left")
        .filter(pl.col("kind").is_null() | (pl.col("kind") != pl.col("chain_role")))
        .select("project_id", "project", "status", pl.coalesce("chain_id", "project_chain_id").alias("chain_id"),
                "node_id", "node", pl.col("chain_role").alias("declared_role"), pl.col("kind").alias("segment_kind"))
        .sort("project_id")
    )
    assert want.height > 50 and want["segment_kind"].null_count() and want["chain_id"].n_unique() > 1
    assert_frame_equal(an.disagreements.select(want.columns), want)
    # every reason names the project's own segment and role
    assert all(r["declared_role"] in r["reason"] for r in an.disagreements.iter_rows(named=True))
    # the cut analysis: the first three of every chain, every one counted
    for chain in [None, *want["chain_id"].unique().sort().to_list()]:
        whole = want if chain is None else want.filter(pl.col("chain_id") == chain)
        assert_frame_equal(chains.disagreements_of(cut, chain=chain), chains.disagreements_of(an, chain=chain).head(3))
        assert chains.disagreements_of(cut, chain=chain)["project_id"].to_list() == whole["project_id"].head(3).to_list()
        assert chains.report_of(cut, chain=chain, limit=3) == chains.report_of(an, chain=chain, limit=3)
        summary = chains.report_of(cut, chain=chain, limit=3)["role_disagreement_summary"]
        assert summary["total"] == whole.height == sum(k["count"] for k in summary["by_kind"])
    with pytest.raises(ValueError, match="3"):
        chains.report_of(cut, limit=None)
    with pytest.raises(ValueError, match="3"):
        chains.report_of(cut, limit=4)
