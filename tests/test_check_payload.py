"""The check payload's one pass (SQL over a temporary table in the database) against the library's
frame path: the whole project frame and the same rules run over it in memory (``checks_of``,
``ranked_of``, ``lagging_of``, ``violations_of``, ``tiers_of``, ``rollup_of``)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from portfolio import store, targets
from portfolio.targets.status import prev_frame, project_rows

AS_OF = date(2016, 9, 1)


@pytest.fixture(scope="module")
def frames(sample_db_template: Path):
    with store.connect(sample_db_template, read_only=True) as con:
        payload = targets.check_payload(con, as_of=AS_OF, limit=30, rank_top=20,
                                        rollups=("status", "leader", "unit"))
        cfg = payload.settings
        projects = targets.project_frame(con, as_of=AS_OF, cfg=cfg)
        tg, goals = targets.city_targets(con, cfg.year), targets.group_targets(con, cfg.year)
        prev = prev_frame(con, as_of=AS_OF)
        # read while the connection is open: the payload's lazy parts
        lagging, violations = payload.lagging, payload.violations
        ids = projects["project_id"].sample(40, seed=7).to_list()
        rows = project_rows(con, as_of=AS_OF, ids=ids)
        yield payload, projects, tg, goals, prev, lagging, violations, ids, rows


def _close(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return abs(a - b) <= 1e-6 * max(1.0, abs(a), abs(b))
    return a == b


def test_the_checks_equal_the_frame_path(frames) -> None:
    payload, projects, tg, goals, prev, *_ = frames
    cfg, month = payload.settings, payload.as_of.month
    want = targets.checks_of(projects, targets=tg, cfg=cfg, month=month, prev=prev)
    got = payload.checks.select(want.columns)
    for w, g in zip(want.iter_rows(named=True), got.iter_rows(named=True), strict=True):
        for k in want.columns:
            assert _close(float(w[k]) if isinstance(w[k], (int, float)) and not isinstance(w[k], bool) else w[k],
                          float(g[k]) if isinstance(g[k], (int, float)) and not isinstance(g[k], bool) else g[k]), k
    for by in ("unit", "chain"):
        want_g = targets.checks_of(projects, targets=tg, cfg=cfg, month=month, by=by, prev=prev,
                                   group_targets=goals)
        rep = {(r["metric"], r[f"{by}_id"]): r for r in payload.report[f"by_{by}"]}
        assert len(rep) == want_g.height
        for r in want_g.iter_rows(named=True):
            mine = rep[(r["metric"], r[f"{by}_id"])]
            assert mine["status"] == r["status"]
            assert mine["projects"] == r["projects"]
            assert abs(mine["forecast_wan"] - r["forecast_wan"]) <= 0.01
            assert abs(mine["planned_wan"] - float(r["planned_wan"])) <= 0.005


def test_counts_tiers_and_rollups_equal_the_frame(frames) -> None:
    payload, projects, *_ = frames
    rep = payload.report
    assert rep["projects"] == projects.height
    assert rep["lagging_count"] == int(projects["is_lagging"].sum())
    assert rep["stalled_count"] == int(projects["stalled"].sum())
    assert rep["open_problem_count"] == int(projects["open_problems"].is_not_null().sum())
    assert rep["below_tier_count"] == int(projects["tier"].is_null().sum())
    tiers = targets.tiers_of(projects, tiers=payload.settings.tiers)
    assert [(t["tier"], t["count"]) for t in rep["tiers"]] == list(zip(tiers["tier"], tiers["count"], strict=True))
    for by in ("status", "leader", "unit"):
        assert_frame_equal(payload.rollups[by], targets.rollup_of(projects, by=by), check_dtypes=False,
                           rel_tol=1e-9)


def test_lists_equal_the_frame_path(frames) -> None:
    payload, projects, _tg, _goals, _prev, lagging, violations, *_ = frames
    assert_frame_equal(lagging, targets.lagging_of(projects))
    shown = pl.DataFrame(payload.report["lagging_projects"])
    assert shown["project_id"].to_list() == lagging["project_id"].head(30).to_list()
    want_v = targets.violations_of(projects, cfg=payload.settings)
    assert_frame_equal(violations, want_v)
    assert payload.report["violation_counts"] == {
        r: n for r, n in want_v.group_by("rule", maintain_order=True).len().iter_rows()}
    ranked = targets.ranked_of(projects, checks=payload.checks, cfg=payload.settings, top=20)
    mine = payload.ranked_top(20)
    assert mine is not None
    for metric, (short, fast, potential, n) in ranked.items():
        m_short, m_fast, m_potential, m_n = mine[metric]
        assert m_short["project_id"].to_list() == short["project_id"].to_list()
        assert m_fast["project_id"].to_list() == fast["project_id"].to_list()
        assert abs(m_potential - potential) <= 1e-6 * max(1.0, potential)
        assert m_n == n
        assert m_fast["closes_gap"].to_list() == fast["closes_gap"].to_list()
    assert payload.ranked_top(21) is None


def test_a_listed_projects_full_row_is_its_row_of_the_whole_frame(frames) -> None:
    _payload, projects, *_rest, ids, rows = frames
    assert rows["project_id"].to_list() == ids
    want = projects.filter(pl.col("project_id").is_in(ids))
    assert_frame_equal(rows.sort("project_id"), want.sort("project_id"))
