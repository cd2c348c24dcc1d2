"""总览 page: pipeline size, the two targets and their forecast, alerts, the month picker, both languages."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from app_pages import ui
from portfolio import i18n, store, targets
from tests.app.conftest import no_exception, page_text

PAGE = "app_pages/overview.py"


def report(db: Path, as_of: date | None = None) -> dict[str, Any]:
    """The library's check report on the database the app works on."""
    with store.connect(db, read_only=True) as con:
        return targets.check_report(con, as_of=as_of)


def yi(wan: float) -> str:
    """万元 as the page prints 亿元: one decimal, thousands separated."""
    return f"{wan / 10_000:,.1f}"


def metric_value(at: AppTest, label_key: str, lang: str, nth: int = 0) -> str:
    """The value of the ``nth`` metric card labelled with the catalogue key ``label_key``."""
    label = i18n.t(label_key, lang)
    return [m.value for m in at.metric if m.label == label][nth]


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_overview_shows_pipeline_targets_and_forecast_as_the_library_computes_them(
        open_page: Callable[..., AppTest], app_db: Path, lang: str) -> None:
    at = open_page(PAGE, lang=lang)
    no_exception(at)
    expected = report(app_db)
    text = page_text(at)
    assert metric_value(at, "ov.projects", lang) == f"{expected['projects']:,}"
    assert expected["projects"] == 1004
    for i, m in enumerate(expected["metrics"]):
        assert i18n.t("ov.target_line", lang, target=yi(m["target_wan"]), growth=f"{m['growth_pct']:g}%") in text
        assert metric_value(at, "ov.forecast", lang, i) == yi(m["forecast_wan"])
        assert metric_value(at, "ov.ytd", lang, i) == yi(m["completed_wan"])
        assert i18n.t("ov.forecast_range", lang, low=yi(m["forecast_low_wan"]),
                      high=yi(m["forecast_high_wan"])) in [str(x.proto.delta_description) for x in at.metric]
    assert {yi(m["target_wan"]) for m in expected["metrics"]} == {"2,352.0", "1,410.0"}
    assert i18n.t("ov.lagging", lang, n=expected["lagging_count"]) in text
    assert i18n.t("ov.problems", lang, n=expected["open_problem_count"]) in text
    # each card explains its status badge; 技术改造投资 is 滞后 because its forecast upper bound is below 1,410亿
    tech = next(m for m in expected["metrics"] if m["metric"] == "tech_upgrade_investment")
    assert (tech["status"], tech["status_basis"]) == ("off_track", "forecast_below_target")
    for m in expected["metrics"]:
        reason = ui.plain(m["status_reason_en"] if lang == "en" else m["status_reason"])
        assert i18n.t("ov.status_reason", lang, status=i18n.t(f"status.{m['status']}", lang), reason=reason) in text
    assert "低于目标 1,410.00 亿元" in tech["status_reason"] and "below the target 1,410.00" in tech["status_reason_en"]


def test_overview_month_picker_recomputes_the_figures(open_page: Callable[..., AppTest], app_db: Path) -> None:
    at = open_page(PAGE)
    latest = metric_value(at, "ov.ytd", "zh")
    at.selectbox(key="ov_month").set_value(date(2016, 6, 1)).run()
    no_exception(at)
    june = report(app_db, date(2016, 6, 1))
    assert metric_value(at, "ov.ytd", "zh") == yi(june["metrics"][0]["completed_wan"])
    assert metric_value(at, "ov.ytd", "zh") != latest
    assert "2016-06" in page_text(at)


def test_overview_language_switch_changes_the_labels(open_page: Callable[..., AppTest]) -> None:
    at = open_page(PAGE, lang="zh")
    assert at.title[0].value == "总览"
    zh_labels = {m.label for m in at.metric}
    at.segmented_control(key="ui_lang_switch").set_value("en").run()
    no_exception(at)
    assert at.title[0].value == "Overview"
    en_labels = {m.label for m in at.metric}
    assert i18n.t("ov.projects", "en") in en_labels
    assert not zh_labels & en_labels


def test_only_the_open_tabs_group_chart_is_built(open_page: Callable[..., AppTest],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """By chain / by unit: the open tab's bars are built and sent, the other's when it is picked."""
    from portfolio import charts

    built: list[str] = []
    original = charts.group_bars

    def counting(*args: Any, **kwargs: Any) -> Any:
        built.append(kwargs["group"])
        return original(*args, **kwargs)

    monkeypatch.setattr(charts, "group_bars", counting)
    at = open_page(PAGE)
    assert built == ["chain"]
    drawn = [c.proto.spec for c in at.get("vega_lite_chart")]
    at.session_state["ov_group_tab_zh"] = i18n.t("ov.by_unit", "zh")
    at.run()
    no_exception(at)
    assert built == ["chain", "unit"]
    now = [c.proto.spec for c in at.get("vega_lite_chart")]
    assert len(now) == len(drawn) and now != drawn  # the unit bars in place of the chain bars
