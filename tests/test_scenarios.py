"""What if (portfolio/scenarios.py): a scenario changes the forecast, never the data."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import duckdb
import polars as pl
import pytest

from portfolio import scenarios as sc
from portfolio import store, targets

AS_OF = date(2016, 9, 1)


@pytest.fixture(scope="module")
def shared_db(tmp_path_factory: pytest.TempPathFactory, sample_db_template: Path) -> Path:
    path = tmp_path_factory.mktemp("whatif") / "portfolio.duckdb"
    path.write_bytes(sample_db_template.read_bytes())
    return path


@pytest.fixture(scope="module")
def con(shared_db: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    c = store.open_connection(shared_db, read_only=True)
    try:
        yield c
    finally:
        c.close()


@pytest.fixture(scope="module")
def base(con: duckdb.DuckDBPyConnection) -> targets.CheckPayload:
    return targets.check_payload(con, as_of=AS_OF)


def test_an_empty_scenario_is_the_baseline_exactly(con: duckdb.DuckDBPyConnection, base: targets.CheckPayload) -> None:
    out = sc.apply(con, sc.Scenario(), payload=base)
    m = out.metrics()
    check = {r["metric"]: r for r in targets.check_report(con, as_of=AS_OF)["metrics"]}
    for r in out.report()["metrics"]:  # the JSON: exactly check's figure
        assert r["forecast_wan_before"] == r["forecast_wan_after"] == check[r["metric"]]["forecast_wan"]
        assert r["probability_before"] == r["probability_after"] == check[r["metric"]]["probability_meet_target"]
    for r in m.iter_rows(named=True):
        assert r["forecast_wan_before"] == r["forecast_wan_after"]
        assert r["forecast_low_wan_before"] == r["forecast_low_wan_after"]
        assert r["probability_meet_target_before"] == r["probability_meet_target_after"]
        assert r["status_before"] == r["status_after"]
    assert out.units["forecast_change_wan"].abs().max() == 0
    assert out.chains["forecast_change_wan"].abs().max() == 0
    assert out.gaps.height == 0


def test_cancelling_the_ten_largest_remaining_plans_lowers_each_forecast_by_their_forecast_rest(
        con: duckdb.DuckDBPyConnection, base: targets.CheckPayload) -> None:
    # independent: the ten projects and their figures straight from the rules' SQL
    rows = con.execute("""
        select project_id, remaining_plan_wan, forecast_wan - completed_wan::double as rest, is_tech_upgrade
        from project_status_at(?) order by remaining_plan_wan desc, project_id limit 10""", [AS_OF]).fetchall()
    ids = [r[0] for r in rows]
    expected = {"industrial_investment": sum(r[2] for r in rows),
                "tech_upgrade_investment": sum(r[2] for r in rows if r[3])}
    remaining = {"industrial_investment": sum(r[1] for r in rows),
                 "tech_upgrade_investment": sum(r[1] for r in rows if r[3])}
    out = sc.apply(con, sc.Scenario(changes=tuple(sc.Change("cancel", p) for p in ids)), payload=base)
    for r in out.metrics().iter_rows(named=True):
        drop = r["forecast_wan_before"] - r["forecast_wan_after"]
        assert drop == pytest.approx(expected[r["metric"]], abs=0.01)
        # at most the remaining plans at the fastest pace the rules allow (a project ahead of its
        # schedule is forecast to finish its remaining plan faster than planned)
        cap = float(base.settings.forecast["ratio_cap"])
        assert 0 <= drop <= remaining[r["metric"]] * cap + 0.01
        assert r["forecast_high_wan_after"] <= r["forecast_high_wan_before"]
        assert r["planned_wan_after"] <= r["planned_wan_before"]  # a cancelled plan is what was done
    assert set(out.projects["project_id"]) == set(ids)
    assert (out.projects["forecast_change_wan"] <= 0).all()


@pytest.mark.parametrize("months", [1, 2, 3, 6, 12])
def test_slipping_never_raises_a_forecast(con: duckdb.DuckDBPyConnection, base: targets.CheckPayload,
                                          months: int) -> None:
    ids = base.projects.filter(pl.col("remaining_plan_wan") > 0).sort("project_id")["project_id"].head(40).to_list()
    out = sc.apply(con, sc.Scenario(changes=tuple(sc.Change("slip", p, months=months) for p in ids)), payload=base,
                   chain_gaps=False)
    assert (out.projects["forecast_change_wan"] <= 1e-9).all()
    for r in out.metrics().iter_rows(named=True):
        assert r["forecast_wan_after"] <= r["forecast_wan_before"] + 1e-6
    if months >= 12 - AS_OF.month:  # everything left moves past December
        assert out.projects["remaining_plan_wan_after"].max() == 0


def test_scale_stop_and_a_new_project(con: duckdb.DuckDBPyConnection, base: targets.CheckPayload) -> None:
    pid = base.projects.filter(pl.col("remaining_plan_wan") > 1000).sort("project_id")["project_id"][0]
    row = base.projects.filter(pl.col("project_id") == pid).row(0, named=True)
    unit = row["unit_id"]
    half = sc.apply(con, sc.Scenario(changes=(sc.Change("scale", pid, factor=0.5),)), payload=base, chain_gaps=False)
    got = half.projects.row(0, named=True)
    assert got["remaining_plan_wan_after"] == pytest.approx(row["remaining_plan_wan"] * 0.5)
    assert got["forecast_change_wan"] == pytest.approx(-row["remaining_plan_wan"] * 0.5 * row["pace"])
    stop = sc.apply(con, sc.Scenario(changes=(sc.Change("stop", pid),)), payload=base, chain_gaps=False)
    assert stop.projects["forecast_wan_after"][0] == pytest.approx(float(row["completed_wan"]))
    new = {"project_id": "WHATIF-1", "name": "新增测试项目", "unit_id": unit, "annual_plan_wan": 30000,
           "total_investment_wan": 120000, "start_date": date(2016, 10, 1), "nature": "新建"}
    added = sc.apply(con, sc.Scenario(changes=(sc.Change("add", "WHATIF-1", row=new),)), payload=base, chain_gaps=False)
    m = added.metrics().filter(pl.col("metric") == "industrial_investment").row(0, named=True)
    # starts after the as-of month: all of its plan is still to come, at the prior pace (1.0)
    assert m["forecast_change_wan"] == pytest.approx(30000 * float(added.settings.forecast["prior_ratio"]))
    units = added.units.filter((pl.col("metric") == "industrial_investment") & (pl.col("unit_id") == unit))
    assert units["forecast_change_wan"][0] == pytest.approx(m["forecast_change_wan"])
    assert added.frame.filter(pl.col("project_id") == "WHATIF-1")["tier"][0] is not None


def test_a_bad_scenario_is_refused_in_one_sentence(con: duckdb.DuckDBPyConnection, base: targets.CheckPayload) -> None:
    pid = base.projects["project_id"][0]
    bad = [
        sc.Scenario(changes=(sc.Change("slip", "NOPE-1", months=2),)),
        sc.Scenario(changes=(sc.Change("slip", pid, months=0),)),
        sc.Scenario(changes=(sc.Change("scale", pid, factor=-1.0),)),
        sc.Scenario(changes=(sc.Change("scale", pid, factor=float("nan")),)),
        sc.Scenario(changes=(sc.Change("stop", pid), sc.Change("cancel", pid))),
        sc.Scenario(changes=(sc.Change("add", pid, row={"project_id": pid, "name": "x", "unit_id": "u",
                                                         "annual_plan_wan": 1}),)),
        sc.Scenario(changes=(sc.Change("add", "N-2", row={"project_id": "N-2"}),)),
    ]
    for scenario in bad:
        with pytest.raises(sc.ScenarioError) as err:
            sc.apply(con, scenario, payload=base, chain_gaps=False)
        assert str(err.value).startswith("情景无法推演") and "\n" not in str(err.value)
    with pytest.raises(sc.ScenarioError):
        sc.changes_from_options(slip=["CC2016-0001"])
    with pytest.raises(sc.ScenarioError):
        sc.changes_from_options(scale=["CC2016-0001=abc"])


def test_the_inverse_question_names_the_smallest_set_that_closes_the_gap(base: targets.CheckPayload) -> None:
    shown, n, gap = sc.accelerators(base, metric="industrial_investment")
    assert gap == pytest.approx(float(base.checks.filter(pl.col("metric") == "industrial_investment")
                                      ["forecast_gap_wan"][0]))
    extra = shown["achievable_extra_wan"]
    assert (extra.diff().drop_nulls() <= 1e-9).all()  # largest first
    if gap > 0 and n is not None:
        assert shown["cumulative_extra_wan"][n - 1] >= gap
        assert n == 1 or shown["cumulative_extra_wan"][n - 2] < gap
    segments = sc.segments_gaining(shown, n)
    assert segments["extra_wan"].sum() <= extra.head(n or len(extra)).sum() + 1e-6


def test_saving_and_loading_a_scenario_never_touches_the_data(tmp_path: Path, sample_db: Path) -> None:
    def data_digest() -> str:
        with store.connect(sample_db, read_only=True) as c:
            rows = c.execute("select * from projects order by project_id").fetchall()
            rows += c.execute("select * from progress order by project_id, month").fetchall()
        return hashlib.sha256(repr(rows).encode()).hexdigest()

    before = data_digest()
    scenario = sc.Scenario(changes=(sc.Change("slip", "CC2016-0001", months=3), sc.Change("cancel", "CC2016-0002")),
                           name="奥迪推迟一季度", note="联席会议 9 月")
    with store.connect(sample_db) as c:
        sc.save(c, scenario, user="tester")
    with store.connect(sample_db, read_only=True) as c:
        back = sc.load(c, "奥迪推迟一季度")
        listed = sc.saved(c)
        out = sc.apply(c, back, as_of=AS_OF, chain_gaps=False)
        with pytest.raises(sc.ScenarioError, match="没有名为"):
            sc.load(c, "不存在")
    assert back.changes == scenario.changes and back.note == "联席会议 9 月"
    assert listed["name"].to_list() == ["奥迪推迟一季度"] and listed["changes"][0] == 2
    assert out.metrics()["forecast_change_wan"].min() < 0 and out.metrics()["forecast_change_wan"].max() <= 0
    assert data_digest() == before
    for name in ("", "a" * 61, "../x", "=cmd|x"):
        with pytest.raises(sc.ScenarioError):
            sc.check_name(name)


def test_cancelling_and_adding_projects_moves_the_chain_classes_after_the_pipeline(
        con: duckdb.DuckDBPyConnection, base: targets.CheckPayload) -> None:
    from portfolio import chains

    after = chains.after_pipeline(con)
    closed = after.filter((pl.col("change") == "closed") & (pl.col("addressed_by").list.len() > 0)).row(0, named=True)
    # cancel every pipeline project that closes this gap: it stays a gap after the pipeline
    out = sc.apply(con, sc.Scenario(changes=tuple(sc.Change("cancel", p) for p in closed["addressed_by"])),
                   payload=base)
    row = out.gaps.filter(pl.col("node_id") == closed["node_id"]).row(0, named=True)
    assert row["kind_before"] is None and row["kind_after"] is not None  # the gap no longer closes
    assert out.report()["gaps"][0]["node_id"] in set(out.gaps["node_id"])
    # a new project on an empty segment that stays a gap gives it a firm: its class moves
    open_gap = after.filter((pl.col("change") == "remains") & (pl.col("firms_before") == 0)).row(0, named=True)
    unit = base.projects["unit_id"][0]
    new = {"project_id": "WHATIF-GAP", "name": "补链招商项目", "unit_id": unit, "annual_plan_wan": 20000,
           "total_investment_wan": 100000, "chain_id": open_gap["chain_id"], "node_id": open_gap["node_id"],
           "enterprise": "新引进企业", "status": "谋划"}
    added = sc.apply(con, sc.Scenario(changes=(sc.Change("add", "WHATIF-GAP", row=new),)), payload=base)
    row = added.gaps.filter(pl.col("node_id") == open_gap["node_id"]).row(0, named=True)
    assert row["kind_before"] == open_gap["kind_after"] and row["kind_after"] != row["kind_before"]


def test_a_new_project_saved_as_json_applies_as_it_did_before_saving(con: duckdb.DuckDBPyConnection,
                                                                     base: targets.CheckPayload) -> None:
    # a saved scenario keeps a new project's dates as text (Change.record): reloaded, it must apply the same
    unit = base.projects["unit_id"][0]
    new = {"project_id": "WHATIF-2", "name": "新增测试项目", "unit_id": unit, "annual_plan_wan": 30000,
           "start_date": date(2016, 10, 1)}
    first = sc.Scenario(changes=(sc.Change("add", "WHATIF-2", row=new),))
    again = sc.Scenario.from_record(json.loads(json.dumps(first.record())))
    assert again.changes[0].row is not None and again.changes[0].row["start_date"] == "2016-10-01"
    a = sc.apply(con, first, payload=base, chain_gaps=False).metrics()
    b = sc.apply(con, again, payload=base, chain_gaps=False).metrics()
    assert a["forecast_wan_after"].to_list() == b["forecast_wan_after"].to_list()
    bad = sc.Scenario(changes=(sc.Change("add", "WHATIF-3", row={**new, "project_id": "WHATIF-3",
                                                                   "start_date": "十月"}),))
    with pytest.raises(sc.ScenarioError, match="应为日期"):
        sc.apply(con, bad, payload=base, chain_gaps=False)
