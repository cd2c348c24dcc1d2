"""Local mode in headless Chromium: another computer, a proxied request, read-only, broken sign-in.

"Another computer" is this machine's own non-loopback address: the app listens on it and the
browser connects to it, so the app sees a peer that is not 127.0.0.1, exactly as a colleague's
computer would look. The proxied request goes to the loopback app with an X-Forwarded-For
header, as nginx in front of it would send.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import ROOT, free_port, screenshot, start_app, wait_for, wait_idle
from tests.e2e.edit_flow import open_edit_tab, open_projects, pick_project

pytestmark = pytest.mark.e2e


def _host_address() -> str | None:
    """A non-loopback IPv4 address of this machine, or None."""
    candidates: list[str] = []
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("192.0.2.1", 9))  # no packet is sent: this only picks the outgoing interface
            candidates.append(s.getsockname()[0])
    except OSError:
        pass
    try:
        out = subprocess.run(["hostname", "-I"], capture_output=True, text=True, timeout=10).stdout
        candidates += out.split()
    except (OSError, subprocess.SubprocessError):
        pass
    for address in candidates:
        if "." in address and not address.startswith("127."):
            return address
    return None


@pytest.fixture(scope="module")
def host_ip() -> str:
    address = _host_address()
    if address is None:
        pytest.skip("this machine has no non-loopback IPv4 address to stand in for another computer")
    return address


def _checksum(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _launch(cmd: list[str], db: Path, *, cwd: Path, extra_env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    env = dict(os.environ, PORTFOLIO_DB=str(db), PYTHONUNBUFFERED="1", HOME=str(cwd))
    env.pop("PORTFOLIO_READ_ONLY", None)
    env.update(extra_env or {})
    log = open(db.with_suffix(".log"), "wb")  # noqa: SIM115 - closed with the process
    # a session of its own: `portfolio serve` starts streamlit as a child, stopped with it below
    return subprocess.Popen(cmd, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop the server and whatever it started (its whole process group, when it leads one)."""
    try:
        leads = os.getpgid(proc.pid) == proc.pid
    except ProcessLookupError:
        return
    if not leads:  # started by conftest.start_app: the process alone
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=15)
            if sig == signal.SIGTERM:
                os.killpg(proc.pid, signal.SIGKILL)  # a child that outlived its parent
            return
        except subprocess.TimeoutExpired:
            continue
        except ProcessLookupError:
            return


@pytest.fixture(scope="module")
def network_app(browser: Any, host_ip: str, sample_db_template: Path,
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """`streamlit run app.py` started directly on this machine's network address, no sign-in."""
    home = tmp_path_factory.mktemp("network")
    db = home / "portfolio.duckdb"
    shutil.copy(sample_db_template, db)
    port = free_port()
    proc = _launch([sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.headless", "true",
                    "--server.port", str(port), "--server.address", host_ip,
                    "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"], db, cwd=home)
    try:
        wait_for(f"http://{host_ip}:{port}/_stcore/health", timeout=90)
        yield f"http://{host_ip}:{port}", db
    finally:
        _stop(proc)


@pytest.fixture(scope="module")
def read_only_app(browser: Any, host_ip: str, sample_db_template: Path,
                  tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """`portfolio serve --read-only` on this machine's network address, no sign-in."""
    home = tmp_path_factory.mktemp("readonly")
    db = home / "portfolio.duckdb"
    shutil.copy(sample_db_template, db)
    port = free_port()
    proc = _launch([sys.executable, "-m", "portfolio.cli", "serve", "--address", host_ip, "--port", str(port),
                    "--read-only", "--db", str(db)], db, cwd=home)
    try:
        wait_for(f"http://{host_ip}:{port}/_stcore/health", timeout=90)
        yield f"http://{host_ip}:{port}", db
    finally:
        _stop(proc)


def _assert_local_only_page(page: Any, title: str = "仅限本机使用") -> None:
    assert page.locator("h1").first.inner_text().strip() == title
    assert page.locator('[data-testid="stMetric"]').count() == 0
    assert page.locator('[data-testid="stDataFrame"]').count() == 0
    assert page.locator('[data-testid="stSidebarNavLink"]').count() == 0
    assert page.locator('[data-testid="stException"]').count() == 0
    assert page.get_by_role("button", name="保存修改").count() == 0
    body = page.inner_text("body")
    assert "亿元" not in body and "示例数据" not in body


def test_another_computer_sees_the_local_only_page_and_no_figures(page: Any, network_app: tuple[str, Path]) -> None:
    url, db = network_app
    before = _checksum(db)
    page.goto(url, timeout=90_000)
    wait_idle(page)
    _assert_local_only_page(page)
    body = page.inner_text("body")
    assert "本机模式" in body and "docs/access.md" in body and "原因：访问来自另一台电脑。" in body
    screenshot(page, "local_only_zh")

    page.get_by_text("English", exact=True).click()
    wait_idle(page)
    _assert_local_only_page(page, "This computer only")
    assert "Reason: the request comes from another computer." in page.inner_text("body")
    screenshot(page, "local_only_en")

    page.goto(f"{url}/projects", timeout=90_000)  # asking for a page by its address changes nothing
    wait_idle(page)
    _assert_local_only_page(page)
    assert _checksum(db) == before


def test_a_proxied_request_on_loopback_is_refused(browser: Any, app_url: str) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="zh-CN",
                                  extra_http_headers={"X-Forwarded-For": "203.0.113.9", "X-Real-IP": "203.0.113.9"})
    try:
        pg = context.new_page()
        pg.goto(app_url, timeout=90_000)
        wait_idle(pg)
        _assert_local_only_page(pg)
        body = pg.inner_text("body")
        # uvicorn takes the client from X-Forwarded-For when the proxy is on loopback, so the app
        # sees 203.0.113.9; either reason is a refusal
        assert "原因：访问来自另一台电脑。" in body or "原因：访问经过了代理服务器转发。" in body
    finally:
        context.close()


def test_a_read_only_visitor_sees_the_data_but_cannot_save(page: Any, read_only_app: tuple[str, Path]) -> None:
    url, db = read_only_app
    before = _checksum(db)
    page.goto(url, timeout=90_000)
    wait_idle(page)
    page.locator('[data-testid="stMetric"]').first.wait_for(timeout=60_000)  # the figures are there
    assert "只读模式" in page.inner_text("body")
    assert "访客 · visitor · 只读" in page.locator('[data-testid="stSidebar"]').inner_text()
    nav = page.locator('[data-testid="stSidebarNavLink"]').all_inner_texts()
    assert "用户与日志" not in "".join(nav)
    screenshot(page, "read_only_banner")

    open_projects(page, url)
    pick_project(page, "CC2016-0001")
    save = open_edit_tab(page)
    assert save.is_disabled()
    page.get_by_role("tab", name="填报进度").click()
    wait_idle(page)
    assert page.get_by_role("button", name="保存进度").is_disabled()
    page.locator('[data-testid="stExpander"]').filter(has_text="新建项目").locator("summary").click()
    wait_idle(page)
    assert page.get_by_role("button", name="新建", exact=True).is_disabled()
    screenshot(page, "read_only_projects")
    assert _checksum(db) == before


def test_a_broken_sign_in_file_stops_the_app_with_its_reason(page: Any, sample_db_template: Path,
                                                             tmp_path: Path) -> None:
    db = tmp_path / "portfolio.duckdb"
    shutil.copy(sample_db_template, db)
    (tmp_path / ".streamlit").mkdir()
    (tmp_path / ".streamlit" / "secrets.toml").write_text(
        '[auth]\nredirect_uri = "http://localhost:8501/oauth2callback"\ncookie_secret = "too-short"\n'
        'client_id = "portfolio"\nserver_metadata_url = "http://127.0.0.1:9/.well-known/openid-configuration"\n',
        encoding="utf-8")
    port = free_port()
    proc = start_app(db, port=port, secrets_dir=tmp_path)
    try:
        wait_for(f"http://127.0.0.1:{port}/_stcore/health", timeout=90)
        page.goto(f"http://127.0.0.1:{port}", timeout=90_000)
        wait_idle(page)
        body = page.inner_text("body")
        assert page.locator("h1").first.inner_text().strip() == "登录设置不可用"
        assert "缺少 client_secret" in body and "cookie_secret 太短" in body
        assert "不会退回本机模式" in body
        assert page.locator('[data-testid="stSidebarNavLink"]').count() == 0
        assert page.get_by_role("button", name="登录").count() == 0
        screenshot(page, "auth_broken")
    finally:
        _stop(proc)
