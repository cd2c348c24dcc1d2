"""Done when: an edit of a tier bound and a status threshold in a copy of the configuration shows
the same new figures in `portfolio check --json`, every view, every app page and the report.

Before ``portfolio init`` applies the edit every reader keeps the rules in force (and the CLI
says the file differs); after it, every reader shows the new figures, and the audit log holds
the change.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import Any

import openpyxl
import polars as pl
import pytest
from streamlit.testing.v1 import AppTest

from portfolio import config, i18n, report, rules, store, targets
from tests.app.conftest import no_exception

TOP = "10亿元以上"  # the top tier: its bound goes from 100,000 to 50,000 万元
MIDDLE = "1亿–10亿元"


def portfolio(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "portfolio.cli", *args], capture_output=True, text=True,
                          env=env, timeout=300, check=False)


def edit(path: Path, pattern: str, replacement: str) -> None:
    text, n = re.subn(pattern, replacement, path.read_text(encoding="utf-8"), count=1, flags=re.M)
    assert n == 1, pattern
    path.write_text(text, encoding="utf-8")


@pytest.fixture
def setup(tmp_path: Path, sample_db_template: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """A copy of data/ ($PORTFOLIO_DATA_DIR) and the sample database built from it ($PORTFOLIO_DB)."""
    data = tmp_path / "data"
    data.mkdir()
    for name in ("targets.toml", "units.toml", "chains.toml"):
        shutil.copy(config.ROOT / "data" / name, data / name)
    db = tmp_path / "portfolio.duckdb"
    shutil.copy(sample_db_template, db)
    monkeypatch.setenv("PORTFOLIO_DATA_DIR", str(data))
    monkeypatch.setenv("PORTFOLIO_DB", str(db))
    env = {**os.environ, "PORTFOLIO_DATA_DIR": str(data), "PORTFOLIO_DB": str(db)}
    done = portfolio("init", env=env)  # the database takes the copy's rules (the same values)
    assert done.returncode == 0, done.stderr
    assert "已应用" not in done.stdout
    return {"data": data, "db": db, "env": env, "tmp": tmp_path}


@pytest.fixture
def local_browser(monkeypatch: pytest.MonkeyPatch) -> None:
    """AppTest has no browser connection: fake one on this machine (as tests/app/conftest.py does)."""
    from app_pages import ui
    from portfolio import local_mode

    monkeypatch.setattr(ui, "client_request", lambda: local_mode.Client(address="127.0.0.1"))


def check(env: dict[str, str]) -> tuple[dict[str, Any], str]:
    result = portfolio("check", "--json", env=env)
    assert result.returncode in (0, 1), result.stderr
    return json.loads(result.stdout), result.stderr


def open_app(page: str) -> AppTest:
    at = AppTest.from_file(str(config.ROOT / "app.py"), default_timeout=120)
    at.session_state["ui_lang"] = "zh"
    at.run()
    no_exception(at)
    if page != "app_pages/overview.py":
        at.switch_page(page)
        at.run()
        no_exception(at)
    return at


def test_an_edited_tier_bound_and_threshold_show_the_same_new_figures_everywhere(
        setup: dict[str, Any], local_browser: None) -> None:
    env, db, data = setup["env"], setup["db"], setup["data"]
    before, _ = check(env)
    metrics = {m["metric"]: m for m in before["metrics"]}
    assert metrics["industrial_investment"]["status"] == "at_risk"  # 94.3% < 95%
    assert 0.90 <= metrics["industrial_investment"]["ytd_ratio"] < 0.95

    edit(data / "targets.toml", r"^min_wan = 100000$", "min_wan = 50000")
    edit(data / "targets.toml", r"^on_track = 0\.95", "on_track = 0.90")

    # not applied yet: the same figures everywhere, and the command says why
    pending, note = check(env)
    assert "targets.toml 与数据库中生效的规则不同（2 项" in note and "portfolio init" in note
    assert pending["metrics"] == before["metrics"] and pending["tiers"] == before["tiers"]

    applied = portfolio("init", env=env)
    assert applied.returncode == 0, applied.stderr
    assert "已应用规则与目标的变更 2 项" in applied.stdout
    after, note = check(env)
    assert note == ""
    status = {m["metric"]: m["status"] for m in after["metrics"]}
    assert status == {"industrial_investment": "on_track", "tech_upgrade_investment": "off_track"}
    tiers = {t["tier"]: t for t in after["tiers"]}
    assert tiers[TOP]["min_wan"] == 50_000
    assert tiers[TOP]["count"] > {t["tier"]: t for t in before["tiers"]}[TOP]["count"]
    top = tiers[TOP]["count"]
    counts = [t["count"] for t in after["tiers"]]

    with store.connect(db, read_only=True) as con:
        audit = con.execute("select record_id from audit_log where source = ? order by record_id",
                            [rules.SOURCE]).fetchall()
        progress = con.sql("select metric, status from v_target_progress").pl()
        view_tiers = con.sql("select tier, min_wan, count from v_tiers").pl()
        per_project = con.sql("select tier, count(*) as n from v_project_status group by tier").pl()
        context = con.execute("select on_track, seasonal_share from v_plan_context").fetchall()[0]
        units = con.sql("select sum(projects) as n from v_unit_progress").pl()
        moved = con.sql("select project_id, leader, leader_level from v_project_status"
                        " where total_investment_wan >= 50000 and total_investment_wan < 100000"
                        " and leader is not null order by total_investment_wan desc limit 1").pl().row(0, named=True)
        library = targets.check_report(con)
    assert audit == [("status_thresholds.on_track",), (f"tier[{TOP}].min_wan",)]
    assert dict(progress.iter_rows()) == status
    assert view_tiers["count"].to_list() == counts and view_tiers["min_wan"][0] == 50_000
    assert dict(per_project.iter_rows())[TOP] == top
    assert context[0] == 0.90
    assert units["n"][0] == after["projects"]
    assert library["tiers"] == after["tiers"] and [m["status"] for m in library["metrics"]] == list(status.values())

    # every app page
    overview = open_app("app_pages/overview.py")
    assert [m.value for m in overview.metric if m.label == i18n.t("ov.major", "zh")] == [f"{top:,}"]
    badges = [str(e.value) for e in overview.markdown if "-badge[" in str(e.value)]
    assert badges == [f":green-badge[{i18n.t('status.on_track', 'zh')}]", f":red-badge[{i18n.t('status.off_track', 'zh')}]"]

    goals = open_app("app_pages/targets.py")
    city = next(pl.from_pandas(f.value) for f in goals.dataframe if i18n.t("tg.col.item", "zh") in f.value.columns)
    rows = {r[0]: r[1:] for r in city.iter_rows()}
    assert rows[i18n.t("tg.col.status", "zh")] == (i18n.t("status.on_track", "zh"), i18n.t("status.off_track", "zh"))

    listing = open_app("app_pages/projects.py")
    table = pl.from_pandas(listing.dataframe[0].value)
    assert table.height == min(100, after["projects"])  # paged in the database, 100 a page
    with store.connect(db, read_only=True) as con:  # each listed project in the tier the library gives it
        tiers = dict(targets.project_frame(con, as_of=date.fromisoformat(after["as_of"] + "-01"))
                     .select("project_id", "tier").iter_rows())
    assert [tiers[p] for p in table["project_id"]] == table["tier"].to_list()
    assert table.filter(pl.col("tier") == TOP).height <= top

    leaders = open_app("app_pages/leaders.py")
    leaders.selectbox(key="ld_leader").set_value((moved["leader"], moved["leader_level"])).run()
    no_exception(leaders)
    drill = next(pl.from_pandas(f.value) for f in leaders.dataframe
                 if i18n.t("col.project_id", "zh") in f.value.columns and i18n.t("tg.col.tier", "zh") in f.value.columns)
    row = drill.filter(pl.col(i18n.t("col.project_id", "zh")) == moved["project_id"])
    assert row[i18n.t("tg.col.tier", "zh")].to_list() == [TOP]

    # the report
    paths = report.build_report(db, out_dir=setup["tmp"] / "reports", formats=["md", "xlsx"])
    md = next(p for p in paths if p.suffix == ".md").read_text(encoding="utf-8")
    line = next(x for x in md.splitlines() if x.startswith("- 工业投资："))
    assert f"{i18n.t('status.on_track', 'zh')}：" in line  # the status, then its reason
    wb = openpyxl.load_workbook(next(p for p in paths if p.suffix == ".xlsx"))
    sheet = [r for r in wb["档次"].iter_rows(values_only=True)][1:]
    assert [(r[0], r[1]) for r in sheet] == [(t["tier"], t["count"]) for t in after["tiers"]]
    goals_sheet = {r[0]: r[1] for r in wb["目标"].iter_rows(values_only=True)}
    assert goals_sheet["工业投资"] == i18n.t("status.on_track", "zh")
    assert goals_sheet["技术改造投资"] == i18n.t("status.off_track", "zh")


def test_the_report_builds_the_check_once(sample_db_template: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[object] = []
    frame = targets.project_frame

    def counted(*args: Any, **kwargs: Any) -> pl.DataFrame:
        calls.append(kwargs.get("as_of"))
        return frame(*args, **kwargs)

    for name in ("payload", "checks", "forecast", "rollups", "status"):
        module = importlib.import_module(f"portfolio.targets.{name}")
        if hasattr(module, "project_frame"):
            monkeypatch.setattr(module, "project_frame", counted)
    payloads: list[object] = []
    build = targets.check_payload

    def counted_payload(*args: Any, **kwargs: Any) -> Any:
        payloads.append(kwargs.get("as_of"))
        return build(*args, **kwargs)

    monkeypatch.setattr(targets, "check_payload", counted_payload)
    with store.connect(sample_db_template, read_only=True) as con:
        data = report.collect(con)
    assert len(payloads) == 1  # one check payload: one pass over the projects; the report's sections derive from it
    assert calls == []  # and no whole project frame: the lagging list reads the lagging projects' rows only
    assert data.check["lagging_count"] == data.lagging.height

