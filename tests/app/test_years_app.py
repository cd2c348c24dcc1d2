"""Plan years in the app: the year picker shared by every page, closed years read-only, the
year-on-year cards (with and without the statistics bureau's figures), the 同比 columns and a
project's years."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from portfolio import i18n, monthly, store, targets, years
from tests.app.conftest import ROOT, no_exception, open_tab, page_text

OVERVIEW = "app_pages/overview.py"
TARGETS_2017 = {"industrial_investment": Decimal(26_000_000), "tech_upgrade_investment": Decimal(15_500_000)}
#: The statistics bureau's 本年累计 (万元) for September 2016 and 2015, and its published growth.
OFFICIAL = {
    (date(2016, 9, 1), "industrial_investment"): (Decimal("17300000"), Decimal("10.3")),
    (date(2016, 9, 1), "tech_upgrade_investment"): (Decimal("9800000"), None),
    (date(2015, 9, 1), "industrial_investment"): (Decimal("15700000"), None),
}


@pytest.fixture
def two_years(app_db: Path) -> Path:
    """The sample with 2017 opened (2016 closed): the app's database."""
    with store.connect(app_db) as con:
        years.open_year(con, 2017, targets=TARGETS_2017, actor="test")
    return app_db


@pytest.fixture
def no_statistics(app_db: Path) -> Path:
    """The sample without any of the statistics bureau's figures (as before they are imported)."""
    with store.connect(app_db) as con:
        con.execute("delete from actuals")
        store.bump_revision(con)
    return app_db


@pytest.fixture
def with_statistics(no_statistics: Path) -> Iterator[Path]:
    """The sample with a few of the statistics bureau's figures (2015-09 only for industrial investment)."""
    with store.connect(no_statistics) as con:
        for (month, metric), (value, yoy) in OFFICIAL.items():
            con.execute("insert into actuals (month, metric, cumulative_wan, yoy_pct) values (?, ?, ?, ?)",
                        [month, metric, value, yoy])
        store.bump_revision(con)
    yield no_statistics


def frame_with(at: AppTest, column: str) -> Any:
    """The first table on the page with a column headed ``column``."""
    return next(d.value for d in at.dataframe if column in d.value.columns)


def run_app(lang: str = "zh", page: str = OVERVIEW) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.session_state["ui_lang"] = lang
    at.run()
    no_exception(at)
    if page != OVERVIEW:
        at.switch_page(page)
        at.run()
        no_exception(at)
    return at


def pick_year(at: AppTest, key: str, year: int) -> None:
    """Choose ``year`` in the page's year picker (by position: the labels are translated)."""
    box = at.selectbox(key=key)
    box.select_index(next(i for i, o in enumerate(box.options) if o.startswith(str(year)))).run()
    no_exception(at)


def metric(at: AppTest, label_key: str, lang: str = "zh", nth: int = 0) -> Any:
    """The ``nth`` metric card labelled with the catalogue key ``label_key``."""
    return [m for m in at.metric if m.label == i18n.t(label_key, lang)][nth]


def yi(wan: Any) -> str:
    """万元 as the overview prints 亿元."""
    return f"{float(wan) / 10_000:,.1f}"


def check(db: Path, as_of: date) -> dict[str, Any]:
    with store.connect(db, read_only=True) as con:
        return targets.check_report(con, as_of=as_of)


# ------------------------------------------------------------------------------- the year picker
@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_year_picker_offers_both_years_and_each_shows_its_own_targets(two_years: Path, lang: str) -> None:
    at = run_app(lang)
    box = at.selectbox(key="ov_month_year")
    assert box.value == 2017  # the current plan year first
    assert box.options == [i18n.t("ui.year_closed", lang, year=2016), i18n.t("ui.year_current", lang, year=2017)]
    # a new year without progress: January, said so, and the new targets
    assert at.selectbox(key="ov_month").options == ["2017-01"]
    text = page_text(at)
    assert i18n.t("ui.no_progress_year", lang, year=2017) in text
    assert i18n.t("ov.plans_pending", lang, n="860", year=2017) in text  # carried over, plans not imported
    growth = check(two_years, date(2017, 1, 1))["metrics"][0]["growth_pct"]  # on the 2016 target: 10.54%
    assert i18n.t("ov.target_line", lang, target="2,600.0", growth=f"{growth:g}%") in text
    assert i18n.t("ui.closed_short", lang) not in text
    assert metric(at, "ov.library_yoy", lang).value == i18n.t("ov.library_yoy_none", lang)  # nothing done yet

    pick_year(at, "ov_month_year", 2016)
    assert at.selectbox(key="ov_month").value == date(2016, 9, 1)
    assert at.selectbox(key="ov_month").options == [f"2016-{m:02d}" for m in range(1, 10)]
    text = page_text(at)
    assert i18n.t("ov.target_line", lang, target="2,352.0", growth="12%") in text
    assert i18n.t("ui.closed_short", lang) in text  # 已结转（只读）
    want = check(two_years, date(2016, 9, 1))
    assert want["year"] == 2016 and want["projects"] == 1004
    assert metric(at, "ov.projects", lang).value == "1,004"
    assert [m.value for m in at.metric if m.label == i18n.t("ov.ytd", lang)] == [
        yi(m["completed_wan"]) for m in want["metrics"]]


def test_the_chosen_year_is_shared_by_every_page(two_years: Path) -> None:
    at = run_app()
    pick_year(at, "ov_month_year", 2016)
    for page, key in (("app_pages/targets.py", "tg_month"), ("app_pages/projects.py", "pj_as_of"),
                      ("app_pages/leaders.py", "ld_month"), ("app_pages/reports.py", "rp_as_of")):
        at.switch_page(page)
        at.run()
        no_exception(at)
        assert at.selectbox(key=f"{key}_year").value == 2016, page
        assert at.selectbox(key=key).value == date(2016, 9, 1), page
    at.switch_page("app_pages/chains.py")
    at.run()
    no_exception(at)
    assert at.selectbox(key="ch_year").value == 2016
    # back to 2017 on one page: the overview follows
    at.switch_page("app_pages/targets.py")
    at.run()
    pick_year(at, "tg_month_year", 2017)
    assert at.selectbox(key="tg_month").value == date(2017, 1, 1)
    at.switch_page(OVERVIEW)
    at.run()
    no_exception(at)
    assert at.selectbox(key="ov_month_year").value == 2017
    assert i18n.t("ov.target_line", "zh", target="2,600.0", growth="10.54%") in page_text(at)


def test_a_closed_year_disables_every_project_form_and_says_why(two_years: Path) -> None:
    at = run_app(page="app_pages/projects.py")
    forms = (("edit", "pj_edit_submit"), ("entry", "pj_entry_submit"))  # each in its tab, drawn when open
    assert not at.button(key="pj_new_submit").disabled
    assert [open_tab(at, tab).button(key=k).disabled for tab, k in forms] == [False, False]
    pick_year(at, "pj_as_of_year", 2016)
    note = i18n.t("ui.closed_form", "zh", year=2016, current=2017)
    assert at.button(key="pj_new_submit").disabled
    for tab, k in forms:
        open_tab(at, tab)
        assert at.button(key=k).disabled
        assert page_text(at).count(note) >= 2  # the new project's form and the open tab's
    # the 2016 list is the closed year's: every project of 2016, its plan as it was
    assert "共 1,004 个项目" in page_text(at)


def test_the_leaders_page_counts_the_chosen_years_projects(two_years: Path) -> None:
    at = run_app(page="app_pages/leaders.py")
    with store.connect(two_years, read_only=True) as con:
        now = targets.check_report(con, as_of=date(2017, 1, 1))["responsibility"]
        then = targets.check_report(con, as_of=date(2016, 9, 1))["responsibility"]
    assert sum(r["count"] for r in now) == 860 and sum(r["count"] for r in then) == 1004
    count = i18n.t("ld.col.count", "zh")
    assert frame_with(at, count)[count].sum() == 860
    pick_year(at, "ld_month_year", 2016)
    assert frame_with(at, count)[count].sum() == 1004


# ------------------------------------------------------------------------------- year on year
@pytest.mark.parametrize("lang", ["zh", "en"])
def test_without_statistics_the_cards_say_so_rather_than_show_zero(no_statistics: Path, lang: str) -> None:
    at = run_app(lang)
    cards = [m for m in at.metric if m.label == i18n.t("ov.official", lang)]
    assert [c.value for c in cards] == [i18n.t("ov.official_none", lang)] * 2  # 暂无统计数据
    # the pipeline's own growth does not need the bureau: it shows what the check computes, if anything
    want = check(no_statistics, date(2016, 9, 1))["metrics"]
    assert [m.value for m in at.metric if m.label == i18n.t("ov.library_yoy", lang)] == [
        i18n.t("ov.library_yoy_none", lang) if m["library_yoy_pct"] is None else f"{m['library_yoy_pct']:+.1f}%"
        for m in want]


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_cards_show_the_bureaus_figure_its_growth_and_the_difference(with_statistics: Path, lang: str) -> None:
    at = run_app(lang)
    want = {m["metric"]: m for m in check(with_statistics, date(2016, 9, 1))["metrics"]}
    industry, tech = want["industrial_investment"], want["tech_upgrade_investment"]
    assert industry["official_completed_wan"] == 17_300_000 and industry["completed_prev_wan"] == 15_700_000
    assert industry["yoy_pct"] == pytest.approx((17_300_000 / 15_700_000 - 1) * 100, abs=0.01)
    assert tech["official_completed_wan"] == 9_800_000 and tech["yoy_pct"] is None
    first, second = [m for m in at.metric if m.label == i18n.t("ov.official", lang)]
    assert first.value == "1,730.0"
    assert first.proto.delta == f"{industry['yoy_pct']:+.1f}%" == "+10.2%"
    assert first.proto.delta_description == i18n.t("ov.official_yoy", lang)
    diff = industry["official_completed_wan"] - industry["completed_wan"]
    assert f"{diff / 10_000:,.1f}" in first.proto.help
    # 技改 has this year's figure but none for last year: no growth, and it says why
    assert second.value == "980.0" and not second.proto.delta
    assert second.proto.delta_description == i18n.t("ov.official_no_prev", lang)


def test_the_library_growth_card_compares_the_same_projects_with_last_year(two_years: Path) -> None:
    """2017 has no progress yet; the 2016 months of its projects are last year's figures."""
    with store.connect(two_years) as con:  # one month of 2017 progress for one project
        pid = con.execute("select project_id from plans where year = 2017 order by project_id limit 1").fetchall()[0][0]
        con.execute("insert into progress (project_id, month, completed_wan) values (?, ?, 5000)",
                    [pid, date(2017, 1, 1)])
        store.bump_revision(con)
    at = run_app()
    want = {m["metric"]: m for m in check(two_years, date(2017, 1, 1))["metrics"]}
    industry = want["industrial_investment"]
    assert industry["library_prev_wan"] > 0 and industry["completed_wan"] == 5000
    card = metric(at, "ov.library_yoy")
    assert card.value == f"{industry['library_yoy_pct']:+.1f}%"
    assert card.proto.delta_description == i18n.t("ov.library_yoy_delta", "zh", prev=yi(industry["library_prev_wan"]))
    # the S-curve's last-year line ends January on the card's figure
    with store.connect(two_years, read_only=True) as con:
        frame = monthly.targets_monthly(con, as_of=date(2017, 1, 1), metric="industrial_investment")
    assert float(frame["cumulative_prev_wan"][0]) == pytest.approx(industry["library_prev_wan"], abs=0.01)


def test_the_targets_tables_carry_the_growth_column(with_statistics: Path) -> None:
    at = run_app(page="app_pages/targets.py")
    city = frame_with(at, i18n.t("tg.col.item", "zh"))
    items = city[city.columns[0]].to_list()
    for key in ("tg.col.official_yi", "tg.col.official_yoy_pct", "tg.col.official_diff_yi", "tg.col.yoy_pct",
                "tg.col.prev_yi"):
        assert i18n.t(key, "zh") in items, key
    row = city[city[city.columns[0]] == i18n.t("tg.col.official_yi", "zh")]
    assert row.iloc[0, 1] == "1,730.0"  # written the one way (fmt: thousands separators)
    at.segmented_control(key="tg_by").set_value("unit").run()
    no_exception(at)
    units = frame_with(at, i18n.t("tg.col.unit", "zh"))
    assert i18n.t("tg.col.yoy_pct", "zh") in units.columns
    assert i18n.t("tg.col.prev_yi", "zh") in units.columns


def test_the_project_page_shows_the_projects_years(two_years: Path) -> None:
    at = run_app(page="app_pages/projects.py")
    pid = at.selectbox(key="pj_pick").value
    with store.connect(two_years, read_only=True) as con:
        plans = dict(con.execute("select year, annual_plan_wan from plans where project_id = ?", [pid]).fetchall())
        done = dict(con.execute("select year(month), sum(completed_wan) from progress where project_id = ?"
                                " group by all", [pid]).fetchall())
    open_tab(at, "years")
    table = frame_with(at, "year_state")  # headers come from column_config, which AppTest does not apply
    assert table["year"].to_list() == sorted({*plans, *done})
    assert {2016, 2017} <= set(plans) and plans[2017] is None  # carried over, its 2017 plan not imported yet
    by_year = table.set_index("year")
    assert by_year.loc[2016, "year_state"] == i18n.t("pj.year.closed", "zh")
    assert by_year.loc[2017, "year_state"] == i18n.t("pj.year.current", "zh")
    assert by_year.loc[2016, "plan"] == str(round(float(plans[2016]) / 10_000, 2))
    assert by_year.loc[2017, "plan"] == i18n.t("pj.year.none_plan", "zh")
    assert by_year.loc[2016, "done"] == pytest.approx(round(float(done[2016]) / 10_000, 2))
    total = sum(done.values())
    assert table["cumulative"].to_list()[-1] == pytest.approx(round(float(total) / 10_000, 2))
    line = i18n.t("pj.cumulative_line", "zh", value=f"{float(total) / 10_000:,.2f}", month="2017-01")
    assert line in page_text(at)  # 开累 up to the as-of month, earlier years included
