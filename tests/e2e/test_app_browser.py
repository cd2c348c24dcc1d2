"""The app in a real browser: every page in both languages, no exception, an edit saved."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from portfolio import store
from tests.e2e.conftest import screenshot, wait_idle

pytestmark = pytest.mark.e2e

PAGES = ["overview", "projects", "targets", "whatif", "chains", "leaders", "data_import", "sql_console",
         "reports", "admin"]


def _visit(page: Any, url: str) -> None:
    page.goto(url, timeout=90_000)
    wait_idle(page)


def _nav(page: Any) -> list[str]:
    """The sidebar links' labels (without the icon's ligature text)."""
    return [t.strip().splitlines()[-1].strip() for t in
            page.locator('[data-testid="stSidebarNavLink"]').all_inner_texts()]


def _switch_language(page: Any, label: str) -> None:
    page.locator('[data-testid="stSidebar"]').get_by_role("radio", name=label, exact=True).click()
    wait_idle(page)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_page_renders_without_an_exception(page: Any, app_url: str, lang: str) -> None:
    _visit(page, app_url)
    if lang == "en":
        _switch_language(page, "English")
        assert _nav(page)[0] == "Overview"
    else:
        assert _nav(page)[0] == "总览"
    links = page.locator('[data-testid="stSidebarNavLink"]')
    assert links.count() == len(PAGES)
    for index, name in enumerate(PAGES):
        links.nth(index).click()
        wait_idle(page)
        page.wait_for_timeout(800)  # let charts draw
        assert page.locator('[data-testid="stException"]').count() == 0, f"exception on {name} ({lang})"
        assert page.locator("h1").count() >= 1, f"no title on {name}"
        screenshot(page, f"{name}_{lang}")


def test_the_sample_banner_and_the_key_numbers_show(page: Any, app_url: str) -> None:
    _visit(page, app_url)
    body = page.inner_text("body")
    assert "示例数据" in body
    assert "1,004" in body or "1004" in body
    assert "2,352" in body and "1,410" in body


def test_language_switch_changes_the_labels_and_back(page: Any, app_url: str) -> None:
    _visit(page, app_url)
    _switch_language(page, "English")
    assert "Projects" in _nav(page)
    _switch_language(page, "中文")
    assert "项目库" in _nav(page)


def test_an_edit_in_the_browser_reaches_the_database(page: Any, app_url: str, e2e_db: Path) -> None:
    from tests.e2e.edit_flow import edit_note

    note = edit_note(page, app_url, project_id="CC2016-0010", text="浏览器测试备注")
    screenshot(page, "project_edit_saved")
    with store.connect(e2e_db, read_only=True) as con:
        row = con.execute("select note, updated_by from projects where project_id = 'CC2016-0010'").fetchall()
        log = con.execute("select actor from audit_log where table_name = 'projects'"
                          " and record_id = 'CC2016-0010'").fetchall()
    assert row[0][0] == note
    assert log and log[-1][0] == "本机用户<local>"
