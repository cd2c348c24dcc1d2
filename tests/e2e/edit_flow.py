"""Browser steps on the 项目库 page shared by the e2e tests: pick a project, edit its note."""

from __future__ import annotations

import time
from typing import Any

from tests.e2e.conftest import wait_idle


def open_projects(page: Any, app_url: str) -> None:
    """Go to the 项目库 page through the sidebar."""
    if not page.url.startswith(app_url):
        page.goto(app_url, timeout=90_000)
        wait_idle(page)
    page.locator('[data-testid="stSidebarNavLink"]').filter(has_text="项目库").click()
    wait_idle(page)


def pick_project(page: Any, project_id: str) -> None:
    """Choose a project in the 查看项目 box by typing its code."""
    select = page.locator('[data-testid="stSelectbox"]').filter(has_text="查看项目").first
    select.locator("input").click()
    page.keyboard.type(project_id)
    page.get_by_role("option").filter(has_text=project_id).first.click()
    wait_idle(page)
    deadline = time.monotonic() + 30
    while project_id not in select.locator("input").input_value() and time.monotonic() < deadline:
        time.sleep(0.3)
    assert project_id in select.locator("input").input_value()
    wait_idle(page)


def open_edit_tab(page: Any) -> Any:
    """Open the 编辑项目 tab and return its submit button."""
    page.get_by_role("tab", name="编辑项目").click()
    wait_idle(page)
    return page.get_by_role("button", name="保存修改")


def note_field(page: Any) -> Any:
    """The 备注 field of the edit form (the new-project form has one too)."""
    form = page.locator('[data-testid="stForm"]').filter(has=page.get_by_role("button", name="保存修改"))
    return form.get_by_label("备注", exact=True)


def edit_note(page: Any, app_url: str, *, project_id: str, text: str) -> str:
    """Change a project's 备注 through the edit form; returns the note written."""
    open_projects(page, app_url)
    pick_project(page, project_id)
    save = open_edit_tab(page)
    note = f"{text} {time.strftime('%H%M%S')}"
    field = note_field(page)
    field.fill(note)
    # the form sends what the browser holds: make sure the field holds the note before saving
    deadline = time.monotonic() + 30
    while field.input_value() != note and time.monotonic() < deadline:
        time.sleep(0.3)
        field.fill(note)
    assert field.input_value() == note
    save.click()
    wait_idle(page)
    # a safety net for a loaded machine, not a speed requirement
    page.get_by_text("已保存项目", exact=False).first.wait_for(timeout=90_000)
    return note
