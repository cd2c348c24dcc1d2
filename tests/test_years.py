"""Plan years: the January rollover, closed years that never change, --year, the official figures."""

from __future__ import annotations

import hashlib
import itertools
import json
import subprocess
import sys
from datetime import date
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from portfolio import chains, store, targets, years
from portfolio.store.schema import SCHEMA_VERSION

GOALS = {"industrial_investment": Decimal("26000000"), "tech_upgrade_investment": Decimal("15500000")}


def cli(db: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"PORTFOLIO_DB": str(db), "PORTFOLIO_BACKUP_BEFORE_IMPORT": "0", "PATH": "/usr/bin:/bin",
           "HOME": str(db.parent)}
    return subprocess.run([sys.executable, "-m", "portfolio.cli", *args], capture_output=True, text=True,
                          env=env, timeout=600, check=False)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_year_open_carries_unfinished_projects_and_refuses_a_second_time(sample_db: Path) -> None:
    with store.connect(sample_db, read_only=True) as con:
        unfinished = con.execute("select count(*) from projects where status not in ('竣工', '达产达效')"
                                 ).fetchall()[0][0]
    done = cli(sample_db, "year", "open", "2017", "--target", "industrial_investment=2600亿",
               "--target", "tech_upgrade_investment=1550亿", "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert (result["year"], result["closed_year"]) == (2017, 2016)
    assert result["carried"] == unfinished and result["carried"] + result["finished"] == 1004
    assert {t["metric"]: t["value_wan"] for t in result["targets"]} == {
        "industrial_investment": 26000000.0, "tech_upgrade_investment": 15500000.0}
    before = digest(sample_db)
    again = cli(sample_db, "year", "open", "2017", "--target", "industrial_investment=2600亿",
                "--target", "tech_upgrade_investment=1550亿")
    assert again.returncode == 2 and "2017 年度已经开启" in again.stderr and "Traceback" not in again.stderr
    assert digest(sample_db) == before
    with store.connect(sample_db, read_only=True) as con:
        assert years.current_year(con) == 2017 and years.plan_years(con) == [2016, 2017]
        rows = con.execute("select count(*), count(annual_plan_wan) from plans where year = 2017").fetchall()[0]
        assert rows == (unfinished, 0)  # carried with an empty plan until the ledger arrives
        assert con.execute("select sum(annual_plan_wan) from projects").fetchall()[0][0] == 0
        assert con.execute("select value_wan from targets where year = 2017 and metric = 'industrial_investment'"
                           " and scope = 'city'").fetchall()[0][0] == Decimal("26000000.00")


@pytest.mark.parametrize(("year", "targets_args", "said"), [
    ("2019", ["--target", "industrial_investment=1", "--target", "tech_upgrade_investment=1"], "只能开启下一个年度 2017"),
    ("2016", [], "2016 年度已经开启"),
    ("2017", ["--target", "industrial_investment=2600亿"], "缺少目标：tech_upgrade_investment"),
    ("2017", ["--target", "industrial_investment=很多"], "无法识别"),
    ("2017", ["--target", "gdp=1亿"], "不认识的指标"),
])
def test_a_year_that_cannot_open_is_refused_and_nothing_changes(sample_db: Path, year: str, targets_args: list[str],
                                                                said: str) -> None:
    before = digest(sample_db)
    done = cli(sample_db, "year", "open", year, *targets_args)
    assert done.returncode == 2 and said in done.stderr and "Traceback" not in done.stderr
    assert digest(sample_db) == before


def test_check_and_gaps_of_a_closed_year_are_what_they_were_before_the_rollover(sample_db: Path) -> None:
    with store.connect(sample_db, read_only=True) as con:
        check_before = targets.check_report(con, as_of=date(2016, 9, 1), year=2016)
        gaps_before = chains.gaps_report(con, year=2016)
    with store.connect(sample_db) as con:
        years.open_year(con, 2017, targets=GOALS, actor="test")
        # later life of the projects: a finished one changes, a carried one grows and moves unit
        con.execute("update projects set status = '竣工', total_investment_wan = total_investment_wan * 20,"
                    " leader = 'someone else' where project_id in (select project_id from projects limit 50)")
        gone = con.execute("select project_id from projects p where not exists (select 1 from progress g"
                           " where g.project_id = p.project_id) limit 1").fetchall()
        con.execute("delete from projects where project_id = ?", [gone[0][0]])  # a project without progress
        store.bump_revision(con)
    with store.connect(sample_db, read_only=True) as con:
        assert targets.check_report(con, as_of=date(2016, 9, 1), year=2016) == check_before
        assert chains.gaps_report(con, year=2016) == gaps_before
        now = targets.check_report(con)
    assert now["year"] == 2017 and now["metrics"][0]["target_wan"] == 26000000.0


def test_the_cli_check_of_2016_is_byte_identical_after_the_rollover(sample_db: Path) -> None:
    before = cli(sample_db, "check", "--year", "2016", "--as-of", "2016-09", "--json")
    assert before.returncode in (0, 1), before.stderr
    opened = cli(sample_db, "year", "open", "2017", "--target", "industrial_investment=2600亿",
                 "--target", "tech_upgrade_investment=1550亿")
    assert opened.returncode == 0, opened.stderr
    after = cli(sample_db, "check", "--year", "2016", "--as-of", "2016-09", "--json")
    assert after.stdout == before.stdout and after.returncode == before.returncode
    current = json.loads(cli(sample_db, "check", "--json").stdout)
    assert current["year"] == 2017
    unknown = cli(sample_db, "check", "--year", "2014")
    assert unknown.returncode == 2 and "没有 2014 计划年度" in unknown.stderr


def test_the_current_years_plans_follow_the_projects_and_saved_sql_keeps_working(con: duckdb.DuckDBPyConnection
                                                                                  ) -> None:
    con.execute("insert into projects (project_id, name, unit_id, nature, status, total_investment_wan,"
                " annual_plan_wan) values ('A', 'a', 'JK', '新建', '在建', 5000, 1200)")
    store.bump_revision(con)
    assert con.execute("select year, annual_plan_wan from plans where project_id = 'A'").fetchall() == [
        (2016, Decimal("1200.00"))]
    con.execute("update projects set annual_plan_wan = 900 where project_id = 'A'")
    store.bump_revision(con)
    assert con.execute("select annual_plan_wan from plans where project_id = 'A'").fetchall()[0][0] == Decimal("900")
    years.open_year(con, 2017, targets=GOALS)
    assert con.execute("select year, annual_plan_wan, closed from plans where project_id = 'A' order by year"
                       ).fetchall() == [(2016, Decimal("900.00"), True), (2017, None, False)]
    con.execute("update projects set annual_plan_wan = 3000 where project_id = 'A'")  # the 2017 plan arrives
    store.bump_revision(con)
    assert con.execute("select year, annual_plan_wan from plans where project_id = 'A' order by year").fetchall() == [
        (2016, Decimal("900.00")), (2017, Decimal("3000.00"))]
    con.execute("delete from projects where project_id = 'A'")
    store.bump_revision(con)
    assert con.execute("select year from plans where project_id = 'A'").fetchall() == [(2016,)]


def test_months_without_investment_are_counted_across_the_year_boundary(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("insert into projects (project_id, name, unit_id, nature, status, total_investment_wan,"
                " annual_plan_wan, start_date) values ('S', 's', 'JK', '新建', '在建', 9000, 3000, '2016-03-01')")
    con.execute("insert into progress (project_id, month, completed_wan) values"
                " ('S', '2016-10-01', 500), ('S', '2016-11-01', 0), ('S', '2016-12-01', 0)")
    store.bump_revision(con)
    years.open_year(con, 2017, targets=GOALS)
    con.execute("update projects set annual_plan_wan = 3000 where project_id = 'S'")
    con.execute("insert into progress (project_id, month, completed_wan) values ('S', '2017-01-01', 0)")
    store.bump_revision(con)
    row = targets.project_frame(con, as_of=date(2017, 1, 1)).to_dicts()[0]
    assert row["idle_months"] == 3  # November, December and January
    assert row["stalled"] is True  # the rules stall a project after 3 idle months
    assert row["cumulative_wan"] == Decimal("500.00") and row["completed_wan"] == 0
    assert row["completed_prev_wan"] == 0  # January 2016 had nothing


def test_init_on_an_open_later_year_keeps_its_targets_and_the_current_year(sample_db: Path) -> None:
    with store.connect(sample_db) as con:
        years.open_year(con, 2017, targets=GOALS)
    store.init_db(sample_db)  # refresh the reference data in place
    with store.connect(sample_db, read_only=True) as con:
        assert years.current_year(con) == 2017
        assert con.execute("select count(*) from targets where year = 2017 and scope = 'city'").fetchall()[0][0] == 2


def test_an_older_database_gets_its_plan_year_and_plans_on_upgrade(empty_db: Path) -> None:
    with store.connect(empty_db) as con:
        con.execute("insert into projects (project_id, name, unit_id, nature, status, total_investment_wan,"
                    " annual_plan_wan) values ('A', 'a', 'JK', '新建', '在建', 5000, 1200)")
        for table in ("plans", "plan_years", "actuals"):
            con.execute(f"drop table {table}")
        store.set_meta(con, "schema_version", "4")
    with store.connect(empty_db, read_only=True) as con:  # the first open upgrades in place
        assert store.get_meta(con, "schema_version") == str(SCHEMA_VERSION)
        assert con.execute("select year from plan_years").fetchall() == [(2016,)]
        assert con.execute("select project_id, year, annual_plan_wan from plans").fetchall() == [
            ("A", 2016, Decimal("1200.00"))]


def test_the_official_figures_and_growth_come_from_actuals(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("insert into projects (project_id, name, unit_id, nature, status, total_investment_wan,"
                " annual_plan_wan) values ('A', 'a', 'JK', '扩建', '在建', 50000, 12000)")
    con.execute("insert into progress (project_id, month, completed_wan) values"
                " ('A', '2015-03-01', 1000), ('A', '2016-02-01', 700), ('A', '2016-03-01', 800)")
    con.execute("insert into actuals (month, metric, cumulative_wan, yoy_pct) values"
                " ('2015-03-01', 'industrial_investment', 2000000, null),"
                " ('2016-03-01', 'industrial_investment', 2150000.50, 7.5),"
                " ('2016-03-01', 'tech_upgrade_investment', 1200000, null)")
    store.bump_revision(con)
    metrics = {m["metric"]: m for m in targets.check_report(con, as_of=date(2016, 3, 1))["metrics"]}
    ind, tech = metrics["industrial_investment"], metrics["tech_upgrade_investment"]
    cur, prev = con.execute(
        "select c.cumulative_wan::double, p.cumulative_wan::double from actuals c join actuals p"
        " on p.metric = c.metric and p.month = c.month - interval 1 year"
        " where c.month = '2016-03-01' and c.metric = 'industrial_investment'").fetchall()[0]
    assert ind["official_completed_wan"] == cur and ind["completed_prev_wan"] == prev
    assert ind["yoy_pct"] == pytest.approx((cur / prev - 1) * 100, abs=1e-4)
    assert ind["official_yoy_pct"] == 7.5
    assert ind["official_diff_wan"] == pytest.approx(cur - 1500)
    # 2015 is not a plan year here: last year's library is unknown, not the project's own 2015 work
    assert ind["library_prev_wan"] is None and ind["library_yoy_pct"] is None
    assert tech["official_completed_wan"] == 1200000.0
    assert tech["completed_prev_wan"] is None and tech["yoy_pct"] is None  # no 2015 figure for 技改
    view = store.fetch(con, "select * from v_official_vs_library where month = '2016-03-01'"
                            " and metric = 'industrial_investment'").to_dicts()[0]
    assert view["library_cumulative_wan"] == Decimal("1500.00")
    assert view["official_cumulative_wan"] == Decimal("2150000.50")
    assert view["difference_wan"] == Decimal("2148500.50")


def test_the_sources_plan_counts_belong_to_the_first_plan_year(sample_db: Path) -> None:
    with store.connect(sample_db) as con:
        years.open_year(con, 2017, targets=GOALS)
    with store.connect(sample_db, read_only=True) as con:
        old = targets.check_report(con, as_of=date(2016, 9, 1), year=2016)
        new = targets.check_report(con)
        view = con.execute("select plan_cumulative_count from v_tiers").fetchall()
    assert [t["plan_cumulative_count"] for t in old["tiers"]] == [84, 520, 780, 1004]
    assert [t["plan_cumulative_count"] for t in new["tiers"]] == [None] * 4
    assert view == [(None,)] * 4
    assert sum(t["count"] for t in new["tiers"]) + new["below_tier_count"] == new["projects"]
    assert all(r["plan_count"] is None for r in new["responsibility"] if "plan_count" in r)


def test_the_librarys_growth_compares_with_last_years_library_by_unit_too(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("insert into projects (project_id, name, unit_id, nature, status, total_investment_wan,"
                " annual_plan_wan) values ('A', 'a', 'JK', '扩建', '在建', 50000, 12000),"
                " ('F', 'f', 'GX', '新建', '竣工', 9000, 3000)")
    con.execute("insert into progress (project_id, month, completed_wan) values"
                " ('A', '2016-01-01', 100), ('A', '2016-02-01', 50), ('F', '2016-01-01', 300),"
                " ('A', '2017-01-01', 600)")
    store.bump_revision(con)
    years.open_year(con, 2017, targets=GOALS)
    con.execute("update projects set unit_id = 'GX' where project_id = 'A'")  # A moves unit in 2017
    store.bump_revision(con)
    payload = targets.check_payload(con, as_of=date(2017, 1, 1))
    city = {m["metric"]: m for m in payload.report["metrics"]}
    # last year's library in January: A 100 + F 300 (F finished in 2016 but was in 2016's library)
    assert city["industrial_investment"]["library_prev_wan"] == 400.0
    assert city["industrial_investment"]["library_yoy_pct"] == pytest.approx((600 / 400 - 1) * 100)
    assert city["tech_upgrade_investment"]["library_prev_wan"] == 100.0  # only A is 扩建
    units = {(u["metric"], u["unit_id"]): u for u in payload.report["by_unit"]}
    # by unit as each year saw it: 2016's JK had A (100), GX had F (300); 2017's GX has A (600)
    assert units[("industrial_investment", "GX")]["library_prev_wan"] == 300.0
    assert units[("industrial_investment", "GX")]["completed_wan"] == 600.0
    view = dict(con.execute("select metric, library_prev_wan::double from v_target_progress").fetchall())
    assert view == {"industrial_investment": 400.0, "tech_upgrade_investment": 100.0}


@pytest.mark.parametrize("current", [2016, 2015])
def test_project_tiers_in_is_each_years_membership_rule(sample_db: Path, current: int,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """A project belongs to year y by its plans row of y (a closed row as frozen); a project without
    any plans row belongs to the current year; one with rows of other years only does not. Checked
    against the rule computed independently, row by row, for a current year that is open and one
    that is closed (meta plan_year set back)."""
    with store.connect(sample_db) as con:
        ids = [r[0] for r in con.execute("select project_id from projects order by 1 limit 6").fetchall()]
        con.execute("delete from plans where project_id in (?, ?)", ids[:2])  # no plans row at all
        con.execute("update plans set year = 2015, closed = true, name = '旧名', annual_plan_wan = 7"
                    " where project_id in (?, ?)", ids[1:3])  # ids[2]: a 2015 row only (ids[1] has none)
        con.execute("insert into plans (project_id, year, annual_plan_wan, closed, name, unit_id, status,"
                    " total_investment_wan) values (?, 2015, 3, true, '冻结', 'U', '在建', 5000),"
                    " ('DELETED', 2015, 4, true, '已删', 'U', '竣工', 9000)", [ids[3]])
        con.execute("insert or replace into meta values ('plan_year', ?)", [str(current)])
        projects = {r[0]: (r[1], r[2]) for r in con.execute("select project_id, name, annual_plan_wan from projects").fetchall()}
        plans = con.execute("select project_id, year, closed, name, annual_plan_wan from plans").fetchall()
        got = {y: sorted(con.execute(f"select project_id, name, annual_plan_wan from project_tiers_in({y})").fetchall())
               for y in (2014, 2015, 2016)}
        # a few projects' rows (project_rows: the same rule with the ids in every scan) are theirs of the macro
        # (the ids written into the query, as in a large library, and as a list parameter)
        some = [*ids, "DELETED", "NOWHERE", "O'Brien"]
        for y, inline in itertools.product((2014, 2015, 2016), (0, 10**9)):
            monkeypatch.setattr(targets.status, "INLINE_IDS_FROM", inline)
            whole = store.fetch(con, "select * from project_status_at(?) where project_id in"
                                     " (select unnest(?::varchar[])) order by project_id", [date(y, 9, 1), some])
            few = targets.status.project_rows(con, as_of=date(y, 9, 1), ids=some).sort("project_id")
            assert few.equals(whole) and (y == 2014 or not whole.is_empty()), (y, inline)
    with_rows = {p for p, *_ in plans}
    for y in (2014, 2015, 2016):
        want = []
        of_year = {p: (closed, name, plan) for p, yr, closed, name, plan in plans if yr == y}
        for p, (closed, name, plan) in of_year.items():
            if closed:
                want.append((p, name, Decimal(plan or 0)))
            elif y == current:
                want.append((p, *projects[p]))
            else:
                want.append((p, projects[p][0], Decimal(plan or 0)))
        if y == current:
            want += [(p, *projects[p]) for p in projects if p not in with_rows]
        assert got[y] == sorted(want), y
    assert ids[0] in {p for p, *_ in got[current]} and ids[2] not in {p for p, *_ in got[2016]}
    assert ("DELETED", "已删", Decimal("4.00")) in got[2015]
