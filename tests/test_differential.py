"""Differential test: for random rules and every month of the sample, every figure a view gives
equals the library's (check_report, target_checks, tier_summary, rollup, lagging, the months).

The views read the database; the library reads frames it holds. Both run the rules written once
(portfolio.targets, portfolio.monthly), so what this checks is that nothing on either path adds,
drops or reinterprets a figure: the rules in force, the month, the inputs, the rounding.
"""

from __future__ import annotations

import dataclasses
from datetime import date
from pathlib import Path

import duckdb
import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from portfolio import monthly, rules, store, targets

MONTHS = range(9, 0, -1)  # the sample reports January–September 2016; the views follow the latest


def random_rules(base: rules.Rules, seed: int) -> rules.Rules:
    """Thresholds, tier bounds and a seasonal profile drawn at random (seeded)."""
    rng = np.random.default_rng(seed)
    weights = rng.integers(0, 20, 12)
    weights[rng.integers(0, 12)] += 1  # never all zero
    if seed % 2:
        weights[:2] = 0  # winter months without weight: the even-spread fallback
    shares = tuple(float(w) / float(weights.sum()) for w in weights)
    bounds = sorted(rng.choice(np.arange(500, 150_000, 250), size=len(base.bands), replace=False), reverse=True)
    bands = tuple(dataclasses.replace(t, min_wan=int(b)) for t, b in zip(base.bands, bounds, strict=True))
    at_risk = float(rng.uniform(0.5, 0.95))
    amber = float(rng.uniform(0.3, 0.8))
    return dataclasses.replace(
        base, shares=shares, bands=bands,
        at_risk=at_risk, on_track=at_risk + float(rng.uniform(0.0, 0.2)),
        coverage_at_risk=float(rng.uniform(0.9, 1.1)),
        amber=amber, green=amber + float(rng.uniform(0.0, 0.3)),
        stalled_months=int(rng.integers(1, 4)),
        forecast={**base.forecast, "seed": float(rng.integers(1, 10_000))},
    )


def view(con: duckdb.DuckDBPyConnection, name: str) -> pl.DataFrame:
    return con.sql(f"select * from {name}").pl()


def same(got: pl.DataFrame, expected: pl.DataFrame, *, what: str) -> None:
    """Every column both frames have, equal (floats to 1e-9 relative: sums in another order)."""
    cols = [c for c in expected.columns if c in got.columns]
    assert len(cols) >= min(len(expected.columns), len(got.columns)) - 3, what
    try:
        assert_frame_equal(got.select(cols), expected.select(cols), check_dtypes=False, check_exact=False,
                           rel_tol=1e-9, abs_tol=1e-6)
    except AssertionError as exc:
        raise AssertionError(f"{what}: {exc}") from None


@pytest.mark.parametrize("seed", [0, 1])
def test_every_view_figure_equals_the_library_for_random_rules_and_every_month(sample_db: Path, seed: int) -> None:
    with store.connect(sample_db) as con:
        chosen = random_rules(rules.in_force(con), seed)
        assert rules.apply(con, chosen, actor="test")
        assert rules.in_force(con) == chosen
        for month_no in MONTHS:
            as_of = date(2016, month_no, 1)
            con.execute("delete from progress where month > ?", [as_of])
            assert con.execute("select as_of from v_plan_context").fetchall() == [(as_of,)]
            _compare(con, as_of, chosen)


def _compare(con: duckdb.DuckDBPyConnection, as_of: date, chosen: rules.Rules) -> None:
    where = f"{as_of:%Y-%m}"
    cfg = targets.settings(con)
    context = view(con, "v_plan_context").row(0, named=True)
    assert (context["on_track"], context["at_risk"], context["flag_green"], context["stalled_months"]) == (
        chosen.on_track, chosen.at_risk, chosen.green, chosen.stalled_months)
    assert context["seasonal_share"] == cfg.cumulative_share(as_of.month)

    payload = targets.check_payload(con, as_of=as_of)  # what check, the overview and the report show
    projects, checks, report = payload.projects, payload.checks, payload.report
    status = view(con, "v_project_status")
    assert status.columns == projects.columns
    same(status, projects, what=f"v_project_status {where}")
    same(status, targets.project_frame(con, as_of=as_of), what=f"project_frame {where}")

    progress = view(con, "v_target_progress")
    same(progress, checks, what=f"v_target_progress {where}")
    same(progress, targets.target_checks(con, as_of=as_of), what=f"target_checks {where}")
    assert progress["status"].to_list() == checks["status"].to_list()
    assert progress["status_reason"].to_list() == checks["status_reason"].to_list()

    same(view(con, "v_tiers"), targets.tier_summary(con), what=f"v_tiers {where}")
    same(view(con, "v_tiers"), targets.tiers_of(projects, tiers=cfg.tiers), what=f"tiers_of {where}")
    same(view(con, "v_unit_progress"), targets.rollup_of(projects, by="unit"), what=f"v_unit_progress {where}")
    same(view(con, "v_leader_load"), targets.rollup_of(projects, by="leader"), what=f"v_leader_load {where}")

    months = monthly.targets_monthly(con, as_of=as_of).rename({
        "month_index": "month_no", "seasonal_share": "cumulative_share",
        "linear_cumulative_wan": "linear_expected_wan"})
    same(view(con, "v_monthly_progress"), months, what=f"v_monthly_progress {where}")

    for metric, row in zip(report["metrics"], progress.iter_rows(named=True), strict=True):
        assert metric["metric"] == row["metric"] and metric["status"] == row["status"], where
        for key in ("target_wan", "planned_wan", "completed_wan", "expected_wan", "forecast_wan",
                    "forecast_low_wan", "forecast_high_wan"):
            assert metric[key] == pytest.approx(float(row[key]), abs=0.011), (where, key)
        for key in ("coverage", "ytd_ratio", "probability_meet_target"):
            assert metric[key] == pytest.approx(row[key], abs=6e-5), (where, key)
    tiers = view(con, "v_tiers")
    assert [t["count"] for t in report["tiers"]] == tiers["count"].to_list()
    assert [t["min_wan"] for t in report["tiers"]] == [b.min_wan for b in chosen.bands]
    assert report["below_tier_count"] == status["tier"].null_count()
    assert report["lagging_count"] == status["is_lagging"].sum() == view(con, "v_unit_progress")["lagging_count"].sum()
    assert report["stalled_count"] == status["stalled"].sum()
    assert report["open_problem_count"] == status["open_problems"].count()
    lagging = payload.lagging
    assert lagging["project_id"].to_list()[:50] == [r["project_id"] for r in report["lagging_projects"]]
    assert set(lagging["project_id"]) == set(status.filter("is_lagging")["project_id"])
