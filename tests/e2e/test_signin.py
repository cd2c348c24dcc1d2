"""Sign-in through a local OpenID Connect provider, in headless Chromium.

`oidc-provider-mock` runs on loopback; the app reads an [auth] table from a secrets file made
for the test. A `unit` user of 长春汽车经济技术开发区 (QK) signs in: they cannot save a project
of another unit, and a change to their own project names them in the audit log.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from portfolio import access, store
from tests.e2e.conftest import free_port, screenshot, start_app, wait_for, wait_idle
from tests.e2e.edit_flow import note_field, open_edit_tab, open_projects, pick_project

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A local OpenID Connect test provider on a free loopback port."""
    pytest.importorskip("oidc_provider_mock", reason="pip install -e '.[dev]' installs oidc-provider-mock")
    port = free_port()
    cwd = tmp_path_factory.mktemp("oidc")  # not the project root: keep its modules off sys.path
    proc = subprocess.Popen([sys.executable, "-m", "oidc_provider_mock", "-p", str(port)], cwd=cwd,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(f"http://127.0.0.1:{port}/.well-known/openid-configuration", timeout=60)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=15)


@pytest.fixture(scope="module")
def signed_app(browser: Any, provider: str, sample_db_template: Path,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """The app with sign-in configured against the test provider, and its database."""
    home = tmp_path_factory.mktemp("signed")
    db = home / "portfolio.duckdb"
    shutil.copy(sample_db_template, db)
    with store.connect(db) as con:
        access.save_user(con, access.SYSTEM_USER, user_id="li@qk.cn", role="unit", unit_id="QK",
                         name="李四", email="li@qk.cn")
    port = free_port()
    (home / ".streamlit").mkdir()
    (home / ".streamlit" / "secrets.toml").write_text(
        "[auth]\n"
        f'redirect_uri = "http://localhost:{port}/oauth2callback"\n'
        'cookie_secret = "e2e-cookie-secret-0123456789abcdef"\n'
        'client_id = "portfolio-e2e"\n'
        'client_secret = "e2e-secret"\n'
        f'server_metadata_url = "{provider}/.well-known/openid-configuration"\n',
        encoding="utf-8",
    )
    proc = start_app(db, port=port, secrets_dir=home)
    try:
        wait_for(f"http://127.0.0.1:{port}/_stcore/health", timeout=90)
        yield f"http://localhost:{port}", db
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


def _sign_in(page: Any, url: str, subject: str) -> None:
    page.goto(url, timeout=90_000)
    wait_idle(page)
    page.get_by_role("button", name="登录").click()
    page.wait_for_selector("input[name=sub]", timeout=30_000)
    page.fill("input[name=sub]", subject)
    page.get_by_role("button", name="Authorize").click()
    page.wait_for_url(f"{url}/**", timeout=30_000)
    wait_idle(page)


def test_an_unregistered_person_sees_only_ask_an_administrator(page: Any, signed_app: tuple[str, Path]) -> None:
    url, _ = signed_app
    _sign_in(page, url, "stranger@x.cn")
    body = page.inner_text("body")
    assert "尚未开通" in body
    assert page.locator('[data-testid="stSidebarNavLink"]').count() <= 1
    screenshot(page, "signin_unknown")


def test_a_unit_user_cannot_change_another_units_project(page: Any, signed_app: tuple[str, Path]) -> None:
    url, db = signed_app
    _sign_in(page, url, "li@qk.cn")
    assert "李四 · li@qk.cn · 责任单位 · QK" in page.locator('[data-testid="stSidebar"]').inner_text()
    open_projects(page, url)
    with store.connect(db, read_only=True) as con:
        other = con.execute("select project_id from projects where unit_id <> 'QK' order by project_id limit 1").fetchall()[0][0]
        own = con.execute("select project_id from projects where unit_id = 'QK' order by project_id limit 1").fetchall()[0][0]
    pick_project(page, other)
    assert open_edit_tab(page).is_disabled()
    screenshot(page, "signin_unit_other_project")

    pick_project(page, own)
    save = open_edit_tab(page)
    assert save.is_enabled()
    note_field(page).fill("汽开区自行维护")
    save.click()
    wait_idle(page)
    page.get_by_text("已保存项目", exact=False).first.wait_for(timeout=30_000)
    with store.connect(db, read_only=True) as con:
        rows = con.execute("select note, updated_by from projects where project_id = ?", [own]).fetchall()
        actors = con.execute("select distinct actor from audit_log where table_name = 'projects'").fetchall()
    assert rows == [("汽开区自行维护", "李四<li@qk.cn>")]
    assert actors == [("李四<li@qk.cn>",)]
