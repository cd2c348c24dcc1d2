"""The 报告 page in a real browser: downloads clicked one after another quickly all arrive.

Before the fix each click reran the page, the rerun gave every deferred download a new id and
dropped the old ones, and a second button clicked meanwhile asked for a dropped id: the server
logged "Deferred file … not found" and that file never came. Here the report is built on the
page (a toast confirms it), then every download (HTML, Excel, Markdown and a long list's CSV) is
clicked without waiting, and every download event must bring its file, with the right name and
the bytes on disk.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import screenshot, served, wait_idle

pytestmark = pytest.mark.e2e

MONTH = "2016-09"
FORMATS = {f"portfolio-report-{MONTH}.{fmt}" for fmt in ("html", "xlsx", "md")}
#: A long list's CSV as the report writes it beside the xlsx (a real one needs over 100,000 rows).
LIST_CSV = f"portfolio-report-{MONTH}-lagging.csv"


@pytest.fixture(scope="module")
def report_server(browser: Any, tmp_path_factory: pytest.TempPathFactory,
                  sample_db_template: Path) -> Iterator[tuple[str, Path, Path]]:
    """The app on its own copy of the sample, writing reports to its own folder: (url, folder, log)."""
    root = tmp_path_factory.mktemp("reports_e2e")
    db = root / "portfolio.duckdb"
    shutil.copy(sample_db_template, db)
    folder = root / "reports"
    folder.mkdir()
    (folder / LIST_CSV).write_bytes("\ufeff项目编号,项目名称\nP0001,示例\n".encode())
    with served(db, extra_env={"PORTFOLIO_REPORTS": str(folder)}) as url:
        yield url, folder, db.with_suffix(".log")


@pytest.fixture
def download_page(browser: Any) -> Iterator[Any]:
    """A page at 1280×800 that accepts downloads."""
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="zh-CN", accept_downloads=True)
    pg = context.new_page()
    try:
        yield pg
    finally:
        context.close()


def click_all_and_collect(pg: Any, buttons: Any, expected: int, *, timeout_s: float = 60) -> dict[str, bytes]:
    """Click every button without waiting between clicks; the downloads that arrive, by file name."""
    arrived: list[Any] = []

    def on_download(download: Any) -> None:
        arrived.append(download)

    pg.on("download", on_download)
    for i in range(buttons.count()):
        buttons.nth(i).click()
    waited = 0.0
    while len(arrived) < expected and waited < timeout_s:  # a safety net, not a time bound
        pg.wait_for_timeout(250)  # lets Playwright deliver the download events (time.sleep would not)
        waited += 0.25
    pg.wait_for_timeout(1000)  # a late extra download would show here
    out: dict[str, bytes] = {}
    for download in arrived:
        assert download.failure() is None, download.failure()
        out[download.suggested_filename] = Path(download.path()).read_bytes()
    pg.remove_listener("download", on_download)
    return out


def test_report_downloads_clicked_quickly_all_arrive(download_page: Any,
                                                      report_server: tuple[str, Path, Path]) -> None:
    url, folder, log = report_server
    pg = download_page
    pg.goto(f"{url}/reports")
    wait_idle(pg)
    pg.get_by_role("button", name="生成报告").click()
    toast = pg.locator('[data-testid="stToast"]').filter(has_text=f"{MONTH} 月报已生成")
    toast.wait_for(timeout=180_000)
    assert toast.is_visible()
    box = toast.bounding_box()
    assert box is not None and box["y"] >= 0 and box["y"] + box["height"] <= 800  # in the viewport
    wait_idle(pg)
    screenshot(pg, "reports_built")

    # the freshly built report: HTML, Excel, Markdown, one after another, quickly
    new = pg.locator('[class*="st-key-rp_new_"] [data-testid="stDownloadButton"] button')
    assert new.count() == 3
    got = click_all_and_collect(pg, new, 3)
    assert set(got) == FORMATS
    for name, data in got.items():
        assert data and data == (folder / name).read_bytes(), name

    # the folder's list: the same three and the long list's CSV, all four quickly
    listed = pg.locator(f'[class*="st-key-rp_{MONTH}_"] [data-testid="stDownloadButton"] button')
    assert listed.count() == 4
    got = click_all_and_collect(pg, listed, 4)
    assert set(got) == FORMATS | {LIST_CSV}
    for name, data in got.items():
        assert data and data == (folder / name).read_bytes(), name
    assert "not found" not in log.read_text(encoding="utf-8", errors="replace")
