"""A hostile upload in a real browser: the server shows one error and keeps serving everyone.

The workbook is under 2 KB, with a cell at A1 and one at XFD1048576: read in the server's own
process, the Excel reader asks for 512 GB and aborts the server (see
tests/test_hostile_ingest.py, which shows an unprotected reader dying on it). The app runs on
its own port here, so a crash cannot take the other browser tests' server down with it.
"""

from __future__ import annotations

import shutil
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import free_port, screenshot, start_app, wait_for, wait_idle
from tests.test_hostile_ingest import far_cell_xlsx

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def own_app(browser: Any, sample_db_template: Path,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """The app on a private port and database, with its process for a liveness check."""
    db = tmp_path_factory.mktemp("hostile_upload") / "portfolio.duckdb"
    shutil.copy(sample_db_template, db)
    port = free_port()
    proc = start_app(db, port=port)
    try:
        wait_for(f"http://127.0.0.1:{port}/_stcore/health", timeout=90)
        yield f"http://127.0.0.1:{port}", proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=10) as resp:
            return resp.status == 200
    except OSError:
        return False


def _upload(page: Any, proc: subprocess.Popen[bytes], path: Path, expect: str) -> str:
    """Upload ``path`` on the import page and return the error the page shows.

    Fails as soon as the server process is gone (the old code's abort), else waits generously.
    """
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(path))
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    alert = page.locator('[data-testid="stAlert"]').filter(has_text=expect)
    for _ in range(150):  # a hang guard only: each try waits up to 2 s for the message
        assert proc.poll() is None, f"the server died reading {path.name} (exit {proc.returncode})"
        try:
            alert.first.wait_for(timeout=2_000)
            break
        except PlaywrightTimeout:
            continue
    else:
        pytest.fail(f"no error shown for {path.name}")
    wait_idle(page)
    return str(alert.first.inner_text())


def test_an_oversized_workbook_upload_shows_an_error_and_the_server_keeps_answering(
        page: Any, own_app: tuple[str, subprocess.Popen[bytes]], tmp_path: Path) -> None:
    url, proc = own_app
    page.goto(url, timeout=90_000)
    wait_idle(page)
    page.locator('[data-testid="stSidebarNavLink"]').filter(has_text="数据导入").click()
    wait_idle(page)

    declared = _upload(page, proc, far_cell_xlsx(tmp_path / "far.xlsx"), "超过导入上限")
    assert "A1:XFD1048576" in declared
    screenshot(page, "hostile_upload_refused")
    assert proc.poll() is None and _healthy(url)

    # the same workbook without its <dimension>: only the capped reader process meets the size
    hidden = _upload(page, proc, far_cell_xlsx(tmp_path / "hidden.xlsx", dimension=None), "内存上限")
    assert "hidden.xlsx" in hidden
    assert proc.poll() is None and _healthy(url)
    assert page.locator('[data-testid="stException"]').count() == 0

    # another page of the same server renders for the same visitor
    page.locator('[data-testid="stSidebarNavLink"]').filter(has_text="总览").click()
    wait_idle(page)
    assert page.locator("h1").count() >= 1
    assert page.locator('[data-testid="stException"]').count() == 0
    assert proc.poll() is None and _healthy(url)
