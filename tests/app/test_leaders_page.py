"""包保 page: counts per level against the source, per leader, a leader's projects, rule checks, both languages."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path

import polars as pl
import pytest
from streamlit.testing.v1 import AppTest

from portfolio import i18n, store, targets
from tests.app.conftest import no_exception

PAGE = "app_pages/leaders.py"


def latest_month(db: Path) -> date:
    """The as-of month the page opens on (the latest with progress)."""
    with store.connect(db, read_only=True) as con:
        return store.progress_months(con)[-1]


def table(at: AppTest, header_key: str, lang: str = "zh") -> pl.DataFrame:
    """The first table on the page with a column headed by the catalogue key ``header_key``."""
    header = i18n.t(header_key, lang)
    for frame in at.dataframe:
        if header in frame.value.columns:
            return pl.from_pandas(frame.value)
    raise AssertionError(f"no table with a column {header!r}")


def leaders(db: Path) -> pl.DataFrame:
    with store.connect(db, read_only=True) as con:
        return targets.rollup(con, as_of=latest_month(db), by="leader")


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_leaders_page_counts_levels_and_rule_violations_as_the_library_does(
        open_page: Callable[..., AppTest], app_db: Path, lang: str) -> None:
    at = open_page(PAGE, lang=lang)
    no_exception(at)
    with store.connect(app_db, read_only=True) as con:
        counts = {r["leader_level"]: r for r in targets.responsibility_counts(con).iter_rows(named=True)}
        violations = targets.responsibility_violations(con)
    cards = {m.label: m.value for m in at.metric}
    city, bureau, local = (i18n.enum_label(v, lang) for v in ("市级", "局级", "属地"))
    division_or_above = i18n.t("ld.or_above", lang, level=i18n.enum_label("处室", lang))
    assert cards[city] == str(counts["市级"]["count"])
    assert cards[bureau] == str(counts["局级"]["count"])
    assert cards[division_or_above] == str(counts["处室"]["cumulative_count"])
    assert cards[local] == str(counts["属地"]["count"])
    assert [cards[k] for k in (city, bureau, division_or_above, local)] == ["23", "135", "780", "224"]
    assert table(at, "ld.col.rule", lang).height == violations.height
    assert cards[i18n.t("ld.rule.no_owner", lang)] == str(violations.filter(pl.col("rule") == "no_owner").height)
    assert table(at, "ld.col.plan_count", lang).height == len(counts)


def test_leaders_page_level_filter_and_drill_down_change_the_tables(
        open_page: Callable[..., AppTest], app_db: Path) -> None:
    at = open_page(PAGE)
    everyone = leaders(app_db)
    leader_col = i18n.t("tg.col.leader", "zh")
    assert table(at, "tg.col.leader")[leader_col].to_list() == everyone["leader"].to_list()
    at.multiselect(key="ld_level").set_value(["市级"]).run()
    no_exception(at)
    city = everyone.filter(pl.col("leader_level") == "市级")
    assert table(at, "tg.col.leader")[leader_col].to_list() == city["leader"].to_list()
    pick = city.row(city.height - 1, named=True)
    at.selectbox(key="ld_leader").set_value((pick["leader"], pick["leader_level"])).run()
    no_exception(at)
    projects = table(at, "tg.col.status_project")
    assert projects.height == pick["projects"]
    with store.connect(app_db, read_only=True) as con:
        owned = targets.project_performance(con, as_of=latest_month(app_db)).filter(pl.col("leader") == pick["leader"])
    assert sorted(projects[i18n.t("col.project_id", "zh")].to_list()) == sorted(owned["project_id"].to_list())


def test_leaders_page_speaks_english_after_the_switch(open_page: Callable[..., AppTest]) -> None:
    at = open_page(PAGE)
    assert at.title[0].value == i18n.t("ld.title", "zh")
    at.segmented_control(key="ui_lang_switch").set_value("en").run()
    no_exception(at)
    assert at.title[0].value == "Responsibility (包保)"
    reasons = table(at, "ld.col.rule", "en")[i18n.t("ld.col.reason", "en")].to_list()
    assert reasons and all(r.isascii() for r in reasons)
