"""情景推演 page: runs in both languages, an empty scenario is today's forecast, a cancel lowers it,
a viewer cannot save, save then reopen restores the changes, a bad change shows the library's sentence."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from portfolio import access, fmt, i18n, scenarios, store, targets
from tests.app.conftest import no_exception, page_text

PAGE = "app_pages/whatif.py"
BIG = "CC2016-0001"  # 奥迪Q工厂: the largest remaining plan of the sample
OTHER = "CC2016-0634"


def latest_month(db: Path) -> date:
    with store.connect(db, read_only=True) as con:
        return store.progress_months(con)[-1]


def forecast_card(at: AppTest, lang: str = "zh") -> list[str]:
    """The values of the forecast cards (one a metric)."""
    return [m.value for m in at.metric if m.label == i18n.t("wi.card.forecast", lang)]


def add_change(at: AppTest, pid: str, kind: str, value: float | None = None) -> None:
    at.selectbox(key="wi_kind").set_value(kind).run()
    at.selectbox(key="wi_pick").set_value(pid)
    if kind == "slip" and value is not None:
        at.number_input(key="wi_months").set_value(int(value))
    if kind == "scale" and value is not None:
        at.number_input(key="wi_factor").set_value(value)
    at.button(key="wi_add_change").click().run()


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_page_runs_and_with_no_change_after_equals_before(open_page: Callable[..., AppTest], app_db: Path,
                                                              lang: str) -> None:
    at = open_page(PAGE, lang=lang)
    no_exception(at)
    assert at.title[0].value == i18n.t("wi.title", lang)
    assert i18n.t("wi.none", lang) in page_text(at)
    with store.connect(app_db, read_only=True) as con:
        checks = targets.target_checks(con, as_of=latest_month(app_db))
    expected = [f"{fmt.yi(v)} {i18n.t('unit.yi', lang)}" for v in checks["forecast_wan"]]
    assert forecast_card(at, lang) == expected
    # no change: every delta is zero and the status is the same before and after
    deltas = [m.delta for m in at.metric if m.label == i18n.t("wi.card.forecast", lang)]
    assert deltas == [f"+0.0 {i18n.t('unit.yi', lang)}"] * 2
    assert len(at.get("vega_lite_chart")) == 2  # the S-curve and the chain map


def test_cancelling_a_project_lowers_the_forecast_shown(open_page: Callable[..., AppTest], app_db: Path) -> None:
    at = open_page(PAGE)
    before = forecast_card(at)
    add_change(at, BIG, "cancel")
    no_exception(at)
    after = forecast_card(at)
    assert float(after[0].split()[0].replace(",", "")) < float(before[0].split()[0].replace(",", ""))
    # the figure is the library's own
    with store.connect(app_db, read_only=True) as con:
        out = scenarios.apply(con, scenarios.Scenario(changes=(scenarios.Change("cancel", BIG),)),
                              as_of=latest_month(app_db))
    assert after[0] == f"{fmt.yi(out.after['forecast_wan'][0])} 亿元"
    # the answer is also where the eye is: a toast with each metric's forecast before → after
    toasts = [t.value for t in at.toast]
    assert any(f"→ {fmt.yi(out.after['forecast_wan'][0])} 亿元" in t for t in toasts), toasts
    assert f"{BIG} 取消" in page_text(at)
    assert at.session_state["wi_changes"] == [{"kind": "cancel", "project_id": BIG}]
    # the projects changed are listed, and removing the change restores the baseline
    assert any("奥迪Q工厂" in df.value.to_string() for df in at.dataframe)
    at.button(key=f"wi_remove_0_{BIG}").click().run()
    assert forecast_card(at) == before


def test_a_bad_change_shows_the_librarys_sentence_and_is_not_kept(open_page: Callable[..., AppTest]) -> None:
    at = open_page(PAGE)
    add_change(at, OTHER, "scale", 50.0)
    no_exception(at)
    errors = [e.value for e in at.error]
    assert any("剩余计划倍数应在 0–10 之间" in e for e in errors), errors
    assert not at.session_state["wi_changes"] if "wi_changes" in at.session_state else True
    assert i18n.t("wi.none", "zh") in page_text(at)


def test_a_viewer_can_run_but_cannot_save(open_page: Callable[..., AppTest], app_db: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from app_pages import ui

    viewer = access.User(user_id="v1", role="viewer")
    monkeypatch.setattr(ui, "current_user", lambda: viewer)
    at = open_page(PAGE)
    add_change(at, BIG, "slip", 3)
    no_exception(at)
    assert at.button(key="wi_save").disabled
    assert i18n.t("wi.save_denied", "zh") in page_text(at)
    with store.connect(app_db, read_only=True) as con:
        assert scenarios.saved(con).is_empty()


def test_save_then_reopen_restores_the_changes(open_page: Callable[..., AppTest], app_db: Path) -> None:
    at = open_page(PAGE)
    add_change(at, BIG, "slip", 3)
    add_change(at, OTHER, "scale", 0.5)
    slipped = forecast_card(at)
    at.text_input(key="wi_name").set_value("奥迪推迟一季")
    at.button(key="wi_save").click().run()
    no_exception(at)
    message = i18n.t("wi.saved", "zh", name="奥迪推迟一季", n=2)
    assert [t.value for t in at.toast] == [message]
    assert message in [s.value for s in at.success]  # at the button too
    with store.connect(app_db, read_only=True) as con:
        kept = scenarios.load(con, "奥迪推迟一季")
    assert [c.record() for c in kept.changes] == [{"kind": "slip", "project_id": BIG, "months": 3},
                                                  {"kind": "scale", "project_id": OTHER, "factor": 0.5}]
    # clear, then reopen: the same changes and the same figures
    at.button(key="wi_clear").click().run()
    assert i18n.t("wi.none", "zh") in page_text(at)
    at.selectbox(key="wi_open").set_value("奥迪推迟一季")
    at.button(key="wi_open_button").click().run()
    no_exception(at)
    assert at.session_state["wi_changes"] == [c.record() for c in kept.changes]
    assert forecast_card(at) == slipped
    assert at.text_input(key="wi_name").value == "奥迪推迟一季"
    # a second scenario: the two compare side by side
    at.button(key="wi_clear").click().run()
    add_change(at, BIG, "cancel")
    at.text_input(key="wi_name").set_value("奥迪取消")
    at.button(key="wi_save").click().run()
    no_exception(at)
    table = next(df.value for df in at.dataframe if "A · 奥迪取消" in df.value.columns)
    assert "B · 奥迪推迟一季" in table.columns


def test_a_new_project_from_the_form_raises_the_forecast_and_marks_its_segment(open_page: Callable[..., AppTest]) -> None:
    at = open_page(PAGE)
    before = forecast_card(at)
    at.text_input(key="wi_add_id").set_value("MH2016-0001")
    at.text_input(key="wi_add_name").set_value("车联网服务谋划项目")
    at.selectbox(key="wi_add_unit").set_value("JK")
    at.selectbox(key="wi_add_node").set_value("auto.connected")
    at.number_input(key="wi_add_plan").set_value(200_000.0)
    at.button(key="wi_add_submit").click().run()
    no_exception(at)
    assert [c["kind"] for c in at.session_state["wi_changes"]] == ["add"]
    after = forecast_card(at)
    assert float(after[0].split()[0].replace(",", "")) > float(before[0].split()[0].replace(",", ""))
    assert at.selectbox(key="wi_chain").value == "auto"  # the map shows the chain the scenario touches
    # an id already in the library is refused with the library's sentence
    at.text_input(key="wi_add_id").set_value(BIG)
    at.button(key="wi_add_submit").click().run()
    assert any("已在项目库中" in e.value for e in at.error)
    assert len(at.session_state["wi_changes"]) == 1
