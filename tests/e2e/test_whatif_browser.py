"""情景推演 in a real browser, both languages: pick a project, slip it, the forecast falls and the
chart is drawn, save the scenario by name and see the toast; the page never scrolls sideways at
1280×800 or 1024×768."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from portfolio import i18n
from tests.e2e.conftest import screenshot, served, wait_idle
from tests.e2e.test_fit_browser import MEASURE

PROJECT = "CC2016-0001"  # 奥迪Q工厂: the largest remaining plan of the sample


@pytest.fixture(scope="module")
def whatif_url(browser: Any, tmp_path_factory: pytest.TempPathFactory, sample_db_template: Path) -> Iterator[str]:
    """The app on a private copy of the sample (saving a scenario writes to it)."""
    db = tmp_path_factory.mktemp("whatif") / "portfolio.duckdb"
    shutil.copy(sample_db_template, db)
    with served(db) as url:
        yield url


def no_exception(page: Any) -> None:
    assert page.locator('[data-testid="stException"]').count() == 0, page.locator("body").inner_text()[:2000]


def forecast(page: Any, lang: str) -> str:
    """The first forecast card's value (工业投资, after the scenario)."""
    card = page.locator('[data-testid="stMetric"]').filter(has_text=i18n.t("wi.card.forecast", lang)).first
    return str(card.locator('[data-testid="stMetricValue"]').inner_text()).strip()


def yi(text: str) -> float:
    return float(text.split()[0].replace(",", ""))


def fits(page: Any, where: str) -> None:
    seen = page.evaluate(MEASURE)
    assert seen["page"] <= 1, f"{where}: the page scrolls sideways by {seen['page']} px"
    assert seen["main"] <= 1, f"{where}: the main column scrolls sideways by {seen['main']} px"
    assert not seen["cut"], f"{where}: card texts cut: {seen['cut']}"


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_slip_a_project_see_the_forecast_fall_and_save_the_scenario(browser: Any, whatif_url: str,
                                                                     lang: str) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="zh-CN")
    page = context.new_page()
    try:
        page.goto(whatif_url, timeout=90_000)
        wait_idle(page)
        if lang == "en":
            page.locator('[data-testid="stSidebar"]').get_by_role("radio", name="English", exact=True).click()
            wait_idle(page)
        page.locator('[data-testid="stSidebarNavLink"]').filter(has_text=i18n.t("nav.whatif", lang)).click()
        wait_idle(page)
        no_exception(page)
        assert page.locator("h1").filter(has_text=i18n.t("wi.title", lang)).count() == 1
        before = forecast(page, lang)
        fits(page, f"what if at 1280×800 ({lang}), no change")

        # pick the project by typing its id, keep the default change (slip 3 months), add it
        select = page.locator('[data-testid="stSelectbox"]').filter(has_text=i18n.t("wi.pick", lang)).first
        select.locator("input").click()
        page.keyboard.type(PROJECT)
        page.get_by_role("option").filter(has_text=PROJECT).first.click()
        wait_idle(page)
        page.get_by_role("button", name=i18n.t("wi.add_change", lang)).click()
        wait_idle(page)
        deadline = time.monotonic() + 60
        while forecast(page, lang) == before and time.monotonic() < deadline:
            time.sleep(0.3)
        wait_idle(page)  # the cards come first; the run goes on to draw the charts
        no_exception(page)
        after = forecast(page, lang)
        assert yi(after) < yi(before), (before, after)
        charts = page.locator('[data-testid="stVegaLiteChart"]')
        while charts.count() < 2 and time.monotonic() < deadline:
            time.sleep(0.3)
        assert charts.count() >= 2  # the S-curve and the chain map
        assert charts.first.locator("svg, canvas").count() >= 1
        fits(page, f"what if at 1280×800 ({lang}), one slip")
        screenshot(page, f"whatif_{lang}_1280")

        # save it by name: the toast, and the message at the button
        name = f"奥迪推迟一季 {lang}"
        field = page.get_by_label(i18n.t("wi.name", lang), exact=True)
        field.fill(name)
        field.press("Tab")
        wait_idle(page)
        page.get_by_role("button", name=i18n.t("wi.save", lang)).click()
        message = i18n.t("wi.saved", lang, name=name, n=1)
        page.locator('[data-testid="stToast"]').filter(has_text=message).first.wait_for(timeout=90_000)
        page.locator('[data-testid="stAlert"]').filter(has_text=message).first.wait_for(timeout=90_000)
        wait_idle(page)
        no_exception(page)
        assert forecast(page, lang) == after  # the figures stay those of the scenario saved

        page.set_viewport_size({"width": 1024, "height": 768})
        wait_idle(page)
        fits(page, f"what if at 1024×768 ({lang})")
        screenshot(page, f"whatif_{lang}_1024")
    finally:
        context.close()
