"""Every page fits the screens the staff use (1280×800 and 1024×768, both languages): no sideways
scrolling of the page, no card value cut to "…"; a saved month of progress confirms in view;
the audit log reads in Chinese."""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import screenshot, served, wait_idle
from tests.e2e.edit_flow import open_projects, pick_project

SIZES = [(1280, 800), (1024, 768)]

#: What the page measures: the page's own sideways overflow, the main column's, and every card
#: label, value or delta whose text is wider than its box (drawn with "…").
MEASURE = """() => {
  const de = document.documentElement;
  const main = document.querySelector('[data-testid="stMain"]');
  const cut = [];
  document.querySelectorAll('[data-testid="stMetric"] div, [data-testid="stMetric"] p').forEach(e => {
    if (e.children.length === 0 && e.scrollWidth > e.clientWidth + 1) cut.push(e.innerText.slice(0, 40));
  });
  return {page: de.scrollWidth - de.clientWidth, main: main ? main.scrollWidth - main.clientWidth : 0,
          cut: cut, cards: document.querySelectorAll('[data-testid="stMetric"]').length};
}"""


@pytest.fixture(scope="module")
def fit_url(browser: Any, tmp_path_factory: pytest.TempPathFactory, sample_db_template: Path) -> Iterator[str]:
    """The app on a private copy of the sample (the save below writes to it)."""
    db = tmp_path_factory.mktemp("fit") / "portfolio.duckdb"
    shutil.copy(sample_db_template, db)
    with served(db) as url:
        yield url


def new_page(browser: Any, width: int, height: int) -> tuple[Any, Any]:
    context = browser.new_context(viewport={"width": width, "height": height}, locale="zh-CN")
    return context, context.new_page()


def no_exception(page: Any) -> None:
    assert page.locator('[data-testid="stException"]').count() == 0, page.locator("body").inner_text()[:2000]


@pytest.mark.parametrize("lang", ["zh", "en"])
@pytest.mark.parametrize(("width", "height"), SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
def test_every_page_fits_without_sideways_scrolling_or_cut_cards(browser: Any, fit_url: str, lang: str,
                                                                  width: int, height: int) -> None:
    context, page = new_page(browser, width, height)
    try:
        page.goto(fit_url, timeout=90_000)
        wait_idle(page)
        if lang == "en":
            page.locator('[data-testid="stSidebar"]').get_by_role("radio", name="English", exact=True).click()
            wait_idle(page)
        links = page.locator('[data-testid="stSidebarNavLink"]')
        pages = [(links.nth(i).inner_text().strip().splitlines()[-1], links.nth(i).get_attribute("href"))
                 for i in range(links.count())]
        assert len(pages) >= 8, pages
        cards = 0
        for i, (name, href) in enumerate(pages):
            page.locator('[data-testid="stSidebarNavLink"]').nth(i).click()
            wait_idle(page)
            no_exception(page)
            seen = page.evaluate(MEASURE)
            where = f"{name} at {width}×{height} ({lang})"
            assert seen["page"] <= 1, f"{where}: the page scrolls sideways by {seen['page']} px"
            assert seen["main"] <= 1, f"{where}: the main column scrolls sideways by {seen['main']} px"
            assert not seen["cut"], f"{where}: card texts cut: {seen['cut']}"
            cards += seen["cards"]
            if lang == "zh" or href and href.rstrip("/").endswith(("targets", "chains")):
                slug = (href or "home").rstrip("/").rsplit("/", 1)[-1]
                slug = slug if re.fullmatch(r"[a-z_]+", slug) else "overview"
                screenshot(page, f"fit_{slug}_{width}_{lang}")
        assert cards >= 8  # the overview's and the targets' cards were measured, not skipped
    finally:
        context.close()


def in_view(page: Any, locator: Any) -> bool:
    box = locator.bounding_box()
    return box is not None and box["y"] >= 0 and box["y"] + min(box["height"], 40) <= page.viewport_size["height"]


@pytest.mark.parametrize(("width", "height"), SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
def test_saving_a_month_of_progress_confirms_where_the_eye_is(browser: Any, fit_url: str, width: int,
                                                               height: int) -> None:
    context, page = new_page(browser, width, height)
    try:
        open_projects(page, fit_url)
        pick_project(page, "CC2016-0002")
        page.get_by_role("tab", name="填报进度").click()
        wait_idle(page)
        form = page.locator('[data-testid="stForm"]').filter(has=page.get_by_role("button", name="保存进度"))
        amount = form.get_by_label("完成投资（万元）", exact=True).first
        value = f"{1000 + width % 97}.50"
        amount.fill(value)
        amount.press("Tab")
        save = page.get_by_role("button", name="保存进度")
        save.scroll_into_view_if_needed()
        save.click()
        # the toast, and the message under the form whose tab stays open
        toast = page.locator('[data-testid="stToast"]').filter(has_text="CC2016-0002")
        toast.first.wait_for(timeout=90_000)
        assert in_view(page, toast.first), "the toast is outside the screen"
        message = page.locator('[data-testid="stAlert"]').filter(has_text="CC2016-0002")
        message.first.wait_for(timeout=90_000)
        wait_idle(page)
        assert page.get_by_role("tab", name="填报进度").get_attribute("aria-selected") == "true"
        message.first.scroll_into_view_if_needed()
        assert in_view(page, message.first)
        assert page.get_by_role("button", name="保存进度").is_visible()  # still at the form, not sent elsewhere
        screenshot(page, f"fit_progress_saved_{width}")
        # the audit log says what happened in Chinese
        page.locator('[data-testid="stSidebarNavLink"]').filter(has_text="用户与日志").click()
        wait_idle(page)
        page.get_by_role("tab", name="修改日志").click()
        wait_idle(page)
        deadline = time.monotonic() + 60
        body = page.locator("body").inner_text()
        while "CC2016-0002" not in body and time.monotonic() < deadline:
            time.sleep(0.5)
            body = page.locator("body").inner_text()
        grid = page.locator('[data-testid="stDataFrame"] >> visible=true').first
        grid.wait_for(timeout=60_000)
        deadline = time.monotonic() + 60
        cells = grid.text_content() or ""  # the grid's cells (drawn on a canvas, kept in its accessible table)
        while "CC2016-0002" not in cells and time.monotonic() < deadline:
            time.sleep(0.5)
            cells = grid.text_content() or ""
        for header in ("时间", "操作", "项目", "变更内容"):
            assert header in cells, cells[:500]
        assert "→" in cells and "万元" in cells, cells[:1000]  # 字段：旧值 → 新值, with its unit
        for raw in ("audit_id", "table_name", "old_values", "None", '{"'):
            assert raw not in body and raw not in cells, raw
        no_exception(page)
        screenshot(page, f"fit_audit_{width}")
    finally:
        context.close()


def test_one_units_lagging_projects_download_as_a_file_people_can_send(browser: Any, fit_url: str) -> None:
    """项目库 filtered to 汽开区 and 滞后项目, exported: named for what it holds, a first row saying
    so, Chinese headers with their units, 红/黄/绿 and 是/否."""
    import io

    import openpyxl

    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="zh-CN", accept_downloads=True)
    page = context.new_page()
    try:
        open_projects(page, fit_url)
        unit_box = page.locator('[data-testid="stMultiSelect"]').filter(has_text="责任单位").first
        unit_box.locator("input").click()
        page.keyboard.type("汽开区")
        page.get_by_role("option").filter(has_text="汽开区").first.click()
        page.keyboard.press("Escape")
        wait_idle(page)
        page.locator('[data-testid="stCheckbox"]').filter(has_text="滞后项目").first.click()
        wait_idle(page)
        button = page.get_by_role("button", name=re.compile("导出筛选结果"))
        with page.expect_download(timeout=90_000) as info:
            button.click()
        download = info.value
        name = download.suggested_filename
        assert name.startswith("项目库_") and "长春汽车经济技术开发区" in name and "仅滞后" in name, name
        assert name.endswith("_2016-09.xlsx"), name
        ws = openpyxl.load_workbook(io.BytesIO(Path(download.path()).read_bytes())).active
        rows = list(ws.iter_rows(values_only=True))
        title, header, data = rows[0][0], rows[2], rows[3:]
        assert "项目库" in title and "长春汽车经济技术开发区" in title and "截至2016年9月" in title, title
        assert f"共 {len(data)} 行" in title
        assert {"项目编号", "名称", "预警", "滞后", "重大产业化项目", "年度计划投资（万元）"} <= set(header), header
        col = {h: i for i, h in enumerate(header)}
        assert data and all(r[col["滞后"]] == "是" for r in data)
        assert {r[col["预警"]] for r in data} <= {"红", "黄", "绿", None}
        assert {r[col["重大产业化项目"]] for r in data} <= {"是", "否"}
        assert all(isinstance(r[col["年度计划投资（万元）"]], int | float) for r in data)
    finally:
        context.close()
