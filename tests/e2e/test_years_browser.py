"""Two plan years in a real browser: the sample after `portfolio year open 2017`, the year picker
beside the as-of month, each year's own figures, the closed year read-only, both languages."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from portfolio import store, years
from tests.e2e.conftest import ROOT, screenshot, served, wait_idle

pytestmark = pytest.mark.e2e

YEAR_LABEL = {"zh": "计划年度", "en": "Plan year"}
OPTION = {("zh", 2016): "2016年（已结转）", ("zh", 2017): "2017年（当前）",
          ("en", 2016): "2016 (closed)", ("en", 2017): "2017 (current)"}
CLOSED = {"zh": "已结转（只读）", "en": "Closed (read-only)"}


@pytest.fixture(scope="module")
def two_year_db(tmp_path_factory: pytest.TempPathFactory, sample_db_template: Path) -> Path:
    """A copy of the sample where 2017 was opened with the CLI, as staff do in January."""
    path = tmp_path_factory.mktemp("years_e2e") / "portfolio.duckdb"
    shutil.copy(sample_db_template, path)
    done = subprocess.run(
        [sys.executable, "-m", "portfolio.cli", "year", "open", "2017", "--db", str(path),
         "--target", "industrial_investment=2600亿", "--target", "tech_upgrade_investment=1550亿"],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    with store.connect(path, read_only=True) as con:
        assert years.plan_years(con) == [2016, 2017] and years.current_year(con) == 2017
    return path


@pytest.fixture(scope="module")
def years_url(browser: Any, two_year_db: Path) -> Iterator[str]:
    """The app on the two-year database (its own server: the session's app stays one year)."""
    with served(two_year_db) as url:
        yield url


@pytest.fixture
def tall_page(browser: Any) -> Iterator[Any]:
    """A browser page 1280×1500: the overview's cards, curve and alerts in one screenshot."""
    context = browser.new_context(viewport={"width": 1280, "height": 1500}, locale="zh-CN")
    pg = context.new_page()
    try:
        yield pg
    finally:
        context.close()


def year_box(page: Any, lang: str) -> Any:
    """The main area's plan-year picker."""
    return page.locator('[data-testid="stMain"] [data-testid="stSelectbox"]').filter(
        has_text=YEAR_LABEL[lang]).first


def shown(box: Any) -> str:
    """The option a select box shows (its input's value)."""
    return str(box.locator("input").input_value())


def wait_text(page: Any, text: str) -> None:
    """Wait until the page shows ``text`` (a generous safety net, not a speed limit)."""
    page.get_by_text(text, exact=False).first.wait_for(timeout=90_000)


def pick_year(page: Any, lang: str, year: int) -> None:
    """Open the year picker and choose ``year``; wait until the picker shows it and the run ends."""
    box = year_box(page, lang)
    box.locator("input").click()
    options = page.get_by_role("option")
    offered = [o.strip() for o in options.all_inner_texts()]
    assert offered == [OPTION[(lang, 2016)], OPTION[(lang, 2017)]], offered
    options.filter(has_text=OPTION[(lang, year)]).first.click()
    from playwright.sync_api import expect

    expect(box.locator("input")).to_have_value(OPTION[(lang, year)], timeout=90_000)
    wait_idle(page)


def no_exception(page: Any) -> None:
    assert page.locator('[data-testid="stException"]').count() == 0, page.inner_text("body")[:2000]


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_year_picker_switches_between_2016_and_2017(tall_page: Any, years_url: str, lang: str) -> None:
    page = tall_page
    page.goto(years_url, timeout=90_000)
    wait_idle(page)
    if lang == "en":
        page.locator('[data-testid="stSidebar"]').get_by_role("radio", name="English", exact=True).click()
        wait_idle(page)
    wait_text(page, "2,600.0")  # the current year first: 2017's target
    no_exception(page)
    box = year_box(page, lang)
    assert shown(box) == OPTION[(lang, 2017)]
    body = page.inner_text("body")
    assert "2,352.0" not in body and CLOSED[lang] not in body
    screenshot(page, f"years_overview_2017_{lang}")

    pick_year(page, lang, 2016)
    wait_text(page, "2,352.0")
    wait_text(page, CLOSED[lang])
    no_exception(page)
    body = page.inner_text("body")
    assert "2,600.0" not in body
    assert "1,410.0" in body and "1,685.2" in body  # 2016's targets and its completed to September
    assert "2016-09" in body  # the month follows the year: 2016's latest month with progress
    screenshot(page, f"years_overview_2016_{lang}")

    # the chosen year follows to another page; its forms are closed
    page.locator('[data-testid="stSidebarNavLink"]').nth(1).click()
    wait_idle(page)
    wait_text(page, CLOSED[lang])
    assert shown(year_box(page, lang)) == OPTION[(lang, 2016)]
    no_exception(page)

    pick_year(page, lang, 2017)
    no_exception(page)
    page.locator('[data-testid="stSidebarNavLink"]').nth(0).click()
    wait_idle(page)
    wait_text(page, "2,600.0")
    assert shown(year_box(page, lang)) == OPTION[(lang, 2017)]
