"""目标进度 page: the checks against the library, scope and filters that change the tables, both languages."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path

import polars as pl
import pytest
from streamlit.testing.v1 import AppTest

from portfolio import fmt, i18n, store, targets
from tests.app.conftest import no_exception, page_text

PAGE = "app_pages/targets.py"


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


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_targets_page_checks_agree_with_the_library(open_page: Callable[..., AppTest], app_db: Path,
                                                    lang: str) -> None:
    at = open_page(PAGE, lang=lang)
    no_exception(at)
    with store.connect(app_db, read_only=True) as con:
        checks = targets.target_checks(con, as_of=latest_month(app_db))
    city = table(at, "tg.col.item", lang)
    rows = dict(zip(city[:, 0].to_list(), zip(city[:, 1].to_list(), city[:, 2].to_list(), strict=True), strict=True))
    for column, key in (("target_wan", "tg.col.target_yi"), ("completed_wan", "tg.col.completed_yi"),
                        ("forecast_wan", "tg.col.forecast_yi")):
        # written the one way (fmt.yi: 亿元, thousands separators, one decimal)
        assert rows[i18n.t(key, lang)] == tuple(fmt.yi(v) for v in checks[column])
    assert rows[i18n.t("tg.col.projects", lang)] == tuple(f"{n:,}" for n in checks["projects"])
    assert i18n.t("tg.basis", lang, basis=i18n.t("tg.basis.city", lang)) in page_text(at)
    # the status comes with its reason: 技术改造投资 is 滞后 because its forecast upper bound is below 1,410亿
    reasons = rows[i18n.t("tg.col.status_reason", lang)]
    assert reasons == tuple(checks["status_reason_en" if lang == "en" else "status_reason"])
    assert rows[i18n.t("tg.col.status", lang)][1] == i18n.t("status.off_track", lang)
    assert ("低于目标 1,410.00 亿元" if lang == "zh" else "below the target 1,410.00") in reasons[1]


def test_targets_page_scope_by_unit_lists_every_unit_with_its_allocated_target(
        open_page: Callable[..., AppTest], app_db: Path) -> None:
    at = open_page(PAGE)
    at.segmented_control(key="tg_by").set_value("unit").run()
    no_exception(at)
    with store.connect(app_db, read_only=True) as con:
        by_unit = targets.target_checks(con, as_of=latest_month(app_db), by="unit").filter(
            pl.col("metric") == "industrial_investment")
    shown = table(at, "tg.col.unit")
    assert sorted(shown[i18n.t("tg.col.unit", "zh")].to_list()) == sorted(by_unit["unit_name"].to_list())
    assert i18n.t("tg.basis", "zh", basis=i18n.t("tg.basis.allocated", "zh")) in page_text(at)


def test_targets_page_unit_filter_narrows_the_lagging_list(open_page: Callable[..., AppTest], app_db: Path) -> None:
    at = open_page(PAGE)
    with store.connect(app_db, read_only=True) as con:
        lagging = targets.lagging_projects(con, as_of=latest_month(app_db))
    project_id = i18n.t("col.project_id", "zh")
    assert table(at, "col.project_id")[project_id].to_list() == lagging["project_id"].to_list()
    unit = lagging["unit_id"][0]
    at.multiselect(key="tg_unit").set_value([unit]).run()
    no_exception(at)
    shown = table(at, "col.project_id")
    assert shown[project_id].to_list() == lagging.filter(pl.col("unit_id") == unit)["project_id"].to_list()
    assert 0 < shown.height < lagging.height
    at.multiselect(key="tg_flag").set_value(["stalled"]).run()
    stalled = lagging.filter((pl.col("unit_id") == unit) & pl.col("stalled"))
    assert table(at, "col.project_id")[project_id].to_list() == stalled["project_id"].to_list()


def test_targets_page_speaks_english_after_the_switch(open_page: Callable[..., AppTest]) -> None:
    at = open_page(PAGE)
    assert at.title[0].value == i18n.t("tg.title", "zh")
    at.segmented_control(key="ui_lang_switch").set_value("en").run()
    no_exception(at)
    assert at.title[0].value == "Targets and progress"
    assert i18n.t("tg.col.project", "en") in table(at, "col.project_id", "en").columns
