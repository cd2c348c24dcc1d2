"""The rules in force: one runtime home (the database), applied from the files with an audit trail,
and the status rule that puts the forecast first."""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import duckdb
import polars as pl
import pytest
from typer.testing import CliRunner

from portfolio import config, i18n, rules, store, targets
from portfolio.cli import app
from portfolio.targets import engine

runner = CliRunner()


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private copy of the configuration files ($PORTFOLIO_DATA_DIR points at it)."""
    folder = tmp_path / "data"
    folder.mkdir()
    for name in ("targets.toml", "units.toml", "chains.toml"):
        shutil.copy(config.ROOT / "data" / name, folder / name)
    monkeypatch.setenv("PORTFOLIO_DATA_DIR", str(folder))
    return folder


@pytest.fixture
def db(data_dir: Path) -> Path:
    """A reference-only database built from the private configuration."""
    return store.init_db(data_dir / "portfolio.duckdb")


def edit(folder: Path, pattern: str, replacement: str, name: str = "targets.toml") -> None:
    """Replace the first match of ``pattern`` (a regular expression) in a configuration file."""
    path = folder / name
    text, n = re.subn(pattern, replacement, path.read_text(encoding="utf-8"), count=1, flags=re.M)
    assert n == 1, pattern
    path.write_text(text, encoding="utf-8")


@pytest.fixture
def con(db: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    with store.connect(db) as connection:
        yield connection


# --- one runtime home ------------------------------------------------------------------------


def test_an_edited_file_changes_nothing_until_it_is_applied_and_every_command_says_so(
        db: Path, data_dir: Path) -> None:
    edit(data_dir, r"^on_track = 0\.95", "on_track = 0.90")
    edit(data_dir, r"^min_wan = 3000$", "min_wan = 5000")
    with store.connect(db, read_only=True) as c:
        assert targets.settings(c).on_track == 0.95
        assert c.execute("select on_track from v_rules").fetchall() == [(0.95,)]
        changes = {ch.key: (ch.old, ch.new) for ch in rules.pending(c)}
        message = rules.pending_message(c)
    assert changes == {"status_thresholds.on_track": (0.95, 0.90), "tier[3000万–1亿元].min_wan": (3000, 5000)}
    assert message is not None and "portfolio init" in message and "status_thresholds.on_track: 0.95 → 0.9" in message
    result = runner.invoke(app, ["check", "--json", "--db", str(db)])
    assert result.exit_code in (0, 1), result.output
    assert "targets.toml 与数据库中生效的规则不同（2 项" in result.stderr
    assert json.loads(result.stdout)["rules"]["status"].count("0.95") == 1  # the rules in force


def test_init_applies_the_files_and_records_each_change_in_the_audit_log(db: Path, data_dir: Path) -> None:
    with store.connect(db, read_only=True) as c:
        revision = int(store.get_meta(c, "revision") or 0)
    edit(data_dir, r"^on_track = 0\.95", "on_track = 0.90")
    edit(data_dir, r"^hhi_threshold = 2500", "hhi_threshold = 3000", name="chains.toml")
    result = runner.invoke(app, ["init", "--db", str(db)])
    assert result.exit_code == 0, result.output
    assert "已应用规则与目标的变更 2 项" in result.stdout
    with store.connect(db, read_only=True) as c:
        assert targets.settings(c).on_track == 0.90
        assert c.execute("select on_track from v_plan_context").fetchall() == [(0.90,)]
        assert json.loads(store.get_meta(c, "rule.chain_rules") or "{}")["hhi_threshold"] == 3000
        audit = c.execute("select actor, action, table_name, record_id, old_values, new_values, source, batch_id"
                          " from audit_log where action = 'config' and source = ? order by record_id", [rules.SOURCE]).fetchall()
        batch = c.execute("select kind, source, table_name, updated from batches where batch_id = ?",
                          [audit[0][-1]]).fetchall()
        assert rules.pending(c) == []
        assert int(store.get_meta(c, "revision") or 0) > revision
    assert [(a[0], a[2], a[3], json.loads(a[4]), json.loads(a[5]), a[6]) for a in audit] == [
        ("cli", "rules", "chains.toml [rules].hhi_threshold", {"value": 2500}, {"value": 3000}, rules.SOURCE),
        ("cli", "rules", "status_thresholds.on_track", {"value": 0.95}, {"value": 0.9}, rules.SOURCE),
    ]
    assert batch == [("init", rules.SOURCE, "rules", 2)]
    again = runner.invoke(app, ["init", "--db", str(db)])
    assert again.exit_code == 0 and "已应用" not in again.stdout
    with store.connect(db, read_only=True) as c:
        assert c.execute("select count(*) from audit_log where source = ?", [rules.SOURCE]).fetchall() == [(2,)]


def test_a_changed_target_in_the_file_is_said_and_applied_like_a_rule(db: Path, data_dir: Path) -> None:
    edit(data_dir, r"^value_wan = 14100000 ", "value_wan = 14200000 ")
    with store.connect(db, read_only=True) as c:
        assert [c.key for c in rules.pending(c)] == ["target[2016/tech_upgrade_investment/city].value_wan/growth_pct"]
    assert runner.invoke(app, ["init", "--db", str(db)]).exit_code == 0
    with store.connect(db, read_only=True) as c:
        assert targets.city_targets(c, 2016)["target_wan"][1] == pytest.approx(14_200_000)
        assert rules.pending(c) == []


def test_a_file_that_breaks_a_rule_is_named_and_the_rules_in_force_stay(db: Path, data_dir: Path) -> None:
    edit(data_dir, r"^at_risk = 0\.85", "at_risk = 0.99")
    with pytest.raises(config.ConfigError, match="at_risk ≤ on_track"):
        rules.from_file(data_dir)
    result = runner.invoke(app, ["check", "--db", str(db)])
    assert result.exit_code in (0, 1)
    assert "at_risk ≤ on_track" in result.stderr and "仍按数据库中的规则计算" in result.stderr
    refused = runner.invoke(app, ["init", "--db", str(db)])
    assert refused.exit_code == 2 and "at_risk ≤ on_track" in refused.stderr
    with store.connect(db, read_only=True) as c:
        assert targets.settings(c).at_risk == 0.85


@pytest.mark.parametrize(("pattern", "replacement", "says"), [
    (r"^shares = \[0\.02", "shares = [0.03", "合计为1"),
    (r"^stalled_months = 2", "stalled_months = 0", "stalled_months"),
    (r'^major_min_level = "局级"', 'major_min_level = "科室"', "不是包保层级"),
    (r"^min_wan = 3000$", "min_wan = 10000", "不能重复"),
])
def test_each_rule_is_checked_when_the_file_is_read(data_dir: Path, pattern: str, replacement: str, says: str) -> None:
    edit(data_dir, pattern, replacement)
    with pytest.raises(config.ConfigError, match=says):
        rules.from_file(data_dir)


def test_an_older_database_gets_the_rules_it_lacks_from_the_files_when_it_is_upgraded(db: Path) -> None:
    with store.connect(db) as c:
        c.execute("delete from meta where key like 'rule.forecast.%' or key in ('rule.min_level', 'rule.plan_counts')")
        c.execute("update meta set value = '2' where key = 'schema_version'")
        assert rules.stored(c) is None
    with store.connect(db, read_only=True) as c:
        assert rules.in_force(c) == rules.from_file()
        assert c.execute("select seed from v_rules").fetchall() == [(2016,)]
        rows = c.execute("select new_values from audit_log where action = 'config' and source = 'schema'"
                         " order by audit_id").fetchall()
    assert set(json.loads(rows[-1][0])) == {*(f"rule.forecast.{k}" for k in rules.FORECAST_DEFAULTS),
                                            "rule.forecast.z_low", "rule.forecast.z_high", "rule.min_level",
                                            "rule.plan_counts"}


def test_every_reader_takes_the_rules_from_the_database(con: duckdb.DuckDBPyConnection) -> None:
    changed = dataclasses.replace(rules.in_force(con), on_track=0.5, at_risk=0.25, green=0.4, amber=0.2,
                                  stalled_months=3, min_level="局级", min_level_from_wan=5000.0)
    assert [c.key for c in rules.apply(con, changed, actor="test")] == [
        "status_thresholds.on_track", "status_thresholds.at_risk", "project_flags.green", "project_flags.amber",
        "project_flags.stalled_months", "responsibility.min_level_from_wan", "responsibility.min_level"]
    cfg = targets.settings(con)
    view = con.sql("select * from v_rules").pl().row(0, named=True)
    assert (cfg.on_track, cfg.at_risk, cfg.green, cfg.amber, cfg.stalled_months) == (0.5, 0.25, 0.4, 0.2, 3)
    assert (view["on_track"], view["at_risk"], view["flag_green"], view["flag_amber"], view["stalled_months"],
            view["min_level"], view["min_level_from_wan"]) == (0.5, 0.25, 0.4, 0.2, 3, "局级", 5000.0)


# --- texts built from the settings ------------------------------------------------------------


def test_the_responsibility_texts_are_built_from_the_rules_in_force(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("insert into projects (project_id, name, unit_id, nature, status, total_investment_wan,"
                " annual_plan_wan, leader, leader_level) values"
                " ('P1', '甲', 'JK', '新建', '在建', 6000, 100, '张三', '处室'),"
                " ('P2', '乙', 'JK', '新建', '在建', 4000, 100, '李四', '处室')")
    rules.apply(con, dataclasses.replace(rules.in_force(con), min_level="局级", min_level_from_wan=5000.0),
                actor="test")
    report = targets.check_report(con, as_of=date(2016, 1, 1))
    assert report["violation_labels"]["below_min_level"] == "5000万元以上低于局级包保"
    assert [(v["project_id"], v["required_level"]) for v in report["violations"]] == [("P1", "局级")]
    assert "达到5000万元应由局级或以上包保" in report["violations"][0]["reason"]
    assert "总投资5000万元以上由局级或以上包保" in report["rules"]["responsibility"]
    assert "3000" not in json.dumps(report["violation_labels"], ensure_ascii=False)
    words = report["rule_words"]  # what the report's and the pages' catalogue texts are filled with
    assert i18n.t("report.rule.below_min_level", "zh", **words) == "5000万元以上低于局级包保"
    assert i18n.t("report.rule.below_min_level", "en", **words) == "≥ RMB 50m held below Bureau leader"
    assert "总投资5000万元以上由局级或以上包保" in i18n.t("ld.violations_caption", "zh", **words)


# --- the status rule: the forecast first ------------------------------------------------------

STATUS_CASES = [
    # ytd, coverage, low, high, target → status, basis
    (1.20, 1.1, 900.0, 990.0, 1000, "off_track", "forecast_below_target"),
    (0.96, 1.1, 990.0, 1100.0, 1000, "on_track", "ratio_on_track"),
    (0.95, 1.1, 990.0, 1100.0, 1000, "on_track", "ratio_on_track"),
    (0.96, 0.9, 990.0, 1100.0, 1000, "at_risk", "coverage_cap"),
    (0.90, 1.1, 950.0, 1100.0, 1000, "at_risk", "ratio_at_risk"),
    (0.85, 1.1, 950.0, 1100.0, 1000, "at_risk", "ratio_at_risk"),
    (0.50, 1.1, 950.0, 1100.0, 1000, "off_track", "ratio_off_track"),
    (0.50, 1.1, 1000.0, 1100.0, 1000, "at_risk", "forecast_meets_target"),
    (0.50, 1.1, 1000.004, 999.999, 1000, "at_risk", "forecast_meets_target"),  # rounded to cents: 1000.00
    (None, None, 0.0, 0.0, 0, None, None),
]


def test_the_status_puts_the_forecast_first_then_the_ratio_and_the_coverage() -> None:
    frame = pl.DataFrame(STATUS_CASES, schema=["ytd", "coverage", "low", "high", "target", "status", "basis"],
                         orient="row")
    got = engine.run(
        "select metric_status(ytd, coverage, low, high, target, 0.95, 0.85, 1.0) as status,"
        " metric_status_basis(ytd, coverage, low, high, target, 0.95, 0.85, 1.0) as basis,"
        " metric_status_reason(ytd, coverage, low, high, target, 0.95, 0.85, 1.0) as reason,"
        " metric_status_reason_en(ytd, coverage, low, high, target, 0.95, 0.85, 1.0) as reason_en from cases",
        cases=frame)
    assert got["status"].to_list() == frame["status"].to_list()
    assert got["basis"].to_list() == frame["basis"].to_list()
    assert got["reason"][0] == "年末预测上限 0.10 亿元低于目标 0.10 亿元，判为滞后（不论季节完成率）"
    assert got["reason"][3] == "季节完成率 96.0% 达到正常线 95%，但计划覆盖率 90.0% 低于 100%，最多为有风险"
    assert got["reason"][7] == "季节完成率 50.0% 低于 85%，但年末预测下限 0.10 亿元已达目标，最多为有风险"
    assert got["reason_en"][0] == ("the forecast upper bound 0.10 is below the target 0.10 (RMB 100m): "
                                   "off track whatever the year-to-date ratio")
    assert got["reason"].null_count() == got["reason_en"].null_count() == 1  # no status, no reason


def test_on_the_sample_tech_upgrade_is_off_track_because_its_forecast_cannot_reach_the_target(
        sample_db_template: Path) -> None:
    with store.connect(sample_db_template, read_only=True) as c:
        report = targets.check_report(c, as_of=date(2016, 9, 1))
        view = {r[0]: r[1:] for r in c.execute(
            "select metric, status, status_basis, status_reason from v_target_progress").fetchall()}
    tech = {m["metric"]: m for m in report["metrics"]}["tech_upgrade_investment"]
    assert tech["ytd_ratio"] > 0.85  # the year-to-date ratio alone says 有风险 …
    assert tech["forecast_high_wan"] < tech["target_wan"]  # … the forecast cannot reach the target
    assert (tech["status"], tech["status_basis"]) == ("off_track", "forecast_below_target")
    assert tech["status_reason"].startswith("年末预测上限 1,3") and "低于目标 1,410.00 亿元" in tech["status_reason"]
    assert view["tech_upgrade_investment"] == (tech["status"], tech["status_basis"], tech["status_reason"])
    result = runner.invoke(app, ["check", "--as-of", "2016-09", "--db", str(sample_db_template)])
    assert result.exit_code == 1  # a metric is off track
    assert "技术改造投资：滞后——年末预测上限" in result.stdout


def test_the_draws_are_standard_normal_and_fixed_by_seed_key_and_draw() -> None:
    got = engine.run("select std_normal(2016, 'x', range) as z, std_normal(2016, 'y', range) as w,"
                     " std_normal(2016, 'x', range) as again from range(100000)")
    z = got["z"].to_numpy()
    assert abs(z.mean()) < 0.02 and abs(z.std() - 1) < 0.02
    assert abs(float(pl.Series(z).quantile(0.9, "linear")) - 1.2816) < 0.03
    assert abs(float(pl.Series(z).quantile(0.1, "linear")) + 1.2816) < 0.03
    assert got["z"].to_list() == got["again"].to_list()
    assert abs(float(pl.DataFrame({"z": z, "w": got["w"]}).select(pl.corr("z", "w")).item())) < 0.02
