"""`portfolio whatif` as people and scripts run it: the baseline exactly, the data never changed."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from portfolio import fmt, store

AS_OF = date(2016, 9, 1)
METRICS = ("industrial_investment", "tech_upgrade_investment")


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory, sample_db_template: Path) -> Path:
    path = tmp_path_factory.mktemp("whatif_cli") / "portfolio.duckdb"
    path.write_bytes(sample_db_template.read_bytes())
    return path


def run(db: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PORTFOLIO_DB", "PORTFOLIO_USER")}
    return subprocess.run([sys.executable, "-m", "portfolio.cli", *args, "--db", str(db)], capture_output=True,
                          text=True, encoding="utf-8", env=env, timeout=300, check=False)


def whatif(db: Path, *args: str) -> dict[str, Any]:
    done = run(db, "whatif", "--as-of", "2016-09", *args, "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def by_metric(payload: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {m["metric"]: m for m in payload["metrics"]}


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def tables(path: Path) -> dict[str, pl.DataFrame]:
    """Every table's rows, sorted: the database's contents."""
    with store.connect(path, read_only=True) as con:
        names = [r[0] for r in con.execute("select table_name from duckdb_tables() where schema_name = 'main'"
                                           " and not temporary order by table_name").fetchall()]
        return {n: store.fetch(con, f'select * from "{n}" order by all') for n in names}


def test_an_empty_scenario_is_the_check_forecast_exactly(db: Path) -> None:
    check = run(db, "check", "--as-of", "2016-09", "--json")
    assert check.returncode in (0, 1), check.stderr
    expected = {m["metric"]: m for m in json.loads(check.stdout)["metrics"]}
    got = whatif(db)
    assert got["changes"] == [] and got["as_of"] == "2016-09"
    assert set(by_metric(got)) == set(METRICS)
    for metric, m in by_metric(got).items():
        assert m["forecast_wan_before"] == m["forecast_wan_after"] == expected[metric]["forecast_wan"]
        assert m["forecast_low_wan_after"] == expected[metric]["forecast_low_wan"]
        assert m["forecast_high_wan_after"] == expected[metric]["forecast_high_wan"]
        assert m["status_before"] == m["status_after"] == expected[metric]["status"]
    assert got["gaps"] == [] and got["units"] == [] and got["chains"] == []


def test_cancelling_the_ten_largest_remaining_plans_drops_each_forecast_by_their_forecast_rest(db: Path) -> None:
    # independent: the ten projects and the expected drop straight from the rules' view
    with store.connect(db, read_only=True) as con:
        rows = con.execute("""
            select project_id, forecast_wan - completed_wan::double, remaining_plan_wan, is_tech_upgrade
            from project_status_at(?) order by remaining_plan_wan desc, project_id limit 10""", [AS_OF]).fetchall()
        cap = con.execute("select ratio_cap from v_rules").fetchall()[0][0]
    ids = [r[0] for r in rows]
    expected = {"industrial_investment": sum(r[1] for r in rows),
                "tech_upgrade_investment": sum(r[1] for r in rows if r[3])}
    remaining = {"industrial_investment": sum(r[2] for r in rows),
                 "tech_upgrade_investment": sum(r[2] for r in rows if r[3])}
    got = whatif(db, *[a for pid in ids for a in ("--cancel", pid)])
    assert [c["project_id"] for c in got["changes"]] == ids
    assert all(c["kind"] == "cancel" for c in got["changes"])
    for metric, m in by_metric(got).items():
        drop = m["forecast_wan_before"] - m["forecast_wan_after"]
        assert drop == pytest.approx(expected[metric], abs=0.01)
        assert 0 < drop <= remaining[metric] * float(cap) + 0.01
    assert {p["project_id"] for p in got["projects"]} == set(ids)


def test_slipping_never_raises_a_forecast(db: Path) -> None:
    with store.connect(db, read_only=True) as con:
        ids = [r[0] for r in con.execute("select project_id from project_status_at(?) order by project_id limit 12",
                                         [AS_OF]).fetchall()]
    got = whatif(db, *[a for i, pid in enumerate(ids) for a in ("--slip", f"{pid}={i % 12 + 1}")])
    for m in got["metrics"]:
        assert m["forecast_wan_after"] <= m["forecast_wan_before"]
        assert m["forecast_high_wan_after"] <= m["forecast_high_wan_before"] + 0.01
    assert all(p["forecast_change_wan"] <= 0 for p in got["projects"])
    assert all(u["forecast_change_wan"] <= 0 for u in got["units"])


def test_a_saved_scenario_reproduces_the_same_json_and_only_the_scenarios_table_changes(db: Path, tmp_path: Path
                                                                                          ) -> None:
    path = tmp_path / "save.duckdb"
    path.write_bytes(db.read_bytes())
    before = tables(path)
    saved = whatif(path, "--slip", "CC2016-0001=3", "--cancel", "CC2016-0002", "--save", "奥迪推迟一季度",
                   "--note", "联席会议提问")
    after = tables(path)
    assert set(before) == set(after)
    changed = [n for n in before if not before[n].equals(after[n])]
    assert changed == ["scenarios"]
    assert after["scenarios"]["name"].to_list() == ["奥迪推迟一季度"]
    again = whatif(path, "--scenario", "奥迪推迟一季度")
    assert again == saved
    assert saved["scenario"] == "奥迪推迟一季度" and saved["note"] == "联席会议提问"
    # more options add to the saved scenario; the same project given again takes the new change
    more = whatif(path, "--scenario", "奥迪推迟一季度", "--stop", "CC2016-0001")
    assert {(c["project_id"], c["kind"]) for c in more["changes"]} == {("CC2016-0001", "stop"),
                                                                      ("CC2016-0002", "cancel")}


def test_a_new_project_from_a_ledger_raises_the_forecast_by_its_plan_at_the_prior_pace(db: Path, tmp_path: Path
                                                                                     ) -> None:
    ledger = tmp_path / "new.csv"
    ledger.write_text("项目编号,项目名称,责任单位,建设性质,项目状态,总投资(万元),年度计划投资(万元),开工时间\n"
                      "WHATIF-NEW1,新增测试项目,CY,新建,谋划,50000,30000,2016-10\n", encoding="utf-8")
    before = digest(db)
    got = whatif(db, "--add", str(ledger))
    assert digest(db) == before
    assert got["changes"][0]["kind"] == "add" and got["changes"][0]["project_id"] == "WHATIF-NEW1"
    m = by_metric(got)["industrial_investment"]
    assert 0 < m["forecast_wan_after"] - m["forecast_wan_before"] <= 30000 * 1.5


@pytest.mark.parametrize("args", [
    ["--cancel", "NO-SUCH-PROJECT"],
    ["--slip", "CC2016-0001=13"],
    ["--slip", "CC2016-0001=0"],
    ["--slip", "CC2016-0001=x"],
    ["--slip", "CC2016-0001"],
    ["--scale", "CC2016-0001=abc"],
    ["--scale", "CC2016-0001=-1"],
    ["--scale", "CC2016-0001=nan"],
    ["--add", "/no/such/ledger.csv"],
    ["--scenario", "没有这个情景"],
    ["--slip", "CC2016-0001=3", "--save", "a/b"],
    ["--cancel", "NO-SUCH-PROJECT", "--save", "好名字"],
    ["--stop", "CC2016-0001", "--cancel", "CC2016-0001"],
])
def test_bad_input_is_one_sentence_exit_2_and_nothing_is_written(db: Path, args: list[str]) -> None:
    before = digest(db)
    done = run(db, "whatif", *args)
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("错误") and "Traceback" not in done.stderr
    assert digest(db) == before
    with store.connect(db, read_only=True) as con:
        assert con.execute("select count(*) from scenarios").fetchall()[0][0] == 0


def test_an_unreadable_added_ledger_is_refused(db: Path, tmp_path: Path) -> None:
    ledger = tmp_path / "bad.csv"
    ledger.write_text("项目编号,项目名称\nX-1,只有名字\n", encoding="utf-8")
    done = run(db, "whatif", "--add", str(ledger))
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1


def test_the_text_names_the_changes_and_the_figures_before_and_after(db: Path) -> None:
    args = ["--cancel", "CC2016-0001", "--slip", "CC2016-0002=3"]
    got = whatif(db, *args)
    done = run(db, "whatif", "--as-of", "2016-09", *args)
    assert done.returncode == 0, done.stderr
    text = done.stdout
    assert "CC2016-0001 取消" in text and "CC2016-0002 推迟 3 个月" in text
    for m in got["metrics"]:
        assert m["label"] in text
        assert fmt.yi(m["forecast_wan_before"]) in text and fmt.yi(m["forecast_wan_after"]) in text
    assert "→" in text and "变化的项目" in text and "奥迪Q工厂" in text
    assert "还差" in text or "无需加速" in text


def test_the_text_of_an_empty_scenario_says_so(db: Path) -> None:
    done = run(db, "whatif", "--as-of", "2016-09")
    assert done.returncode == 0, done.stderr
    assert "没有变化" in done.stdout and "年末预测" in done.stdout
