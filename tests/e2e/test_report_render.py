"""The HTML report in a real browser: it renders offline, and prints to A4 on several pages."""

from __future__ import annotations

import re
import shutil
import subprocess
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest

from portfolio import report

SHOTS = Path(__file__).resolve().parent / "screenshots"

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def report_html(sample_db_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The September 2016 report of the sample, as HTML."""
    out = tmp_path_factory.mktemp("report-e2e")
    (path,) = report.build_report(sample_db_template, as_of=date(2016, 9, 1), out_dir=out, formats=["html"],
                                  now=datetime(2016, 10, 25, 6, 30))
    return path


def pdf_pages(pdf: bytes, path: Path) -> int:
    """Page count: pdfinfo when installed, else the page objects in the file."""
    if shutil.which("pdfinfo"):
        info = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True, check=True).stdout
        return int(re.search(r"^Pages:\s+(\d+)", info, re.M).group(1))  # type: ignore[union-attr]
    return len(re.findall(rb"/Type\s*/Page\b", pdf))


def test_the_report_renders_offline_and_prints_to_several_a4_pages(browser: Any, report_html: Path) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 1000}, locale="zh-CN")
    page = context.new_page()
    asked: list[str] = []
    page.on("request", lambda request: asked.append(request.url))
    try:
        page.goto(report_html.as_uri())
        page.wait_for_load_state("load")
        assert [url for url in asked if not url.startswith("file://")] == []
        assert page.locator("h1").first.inner_text().startswith("工业投资与产业链缺口分析月报")
        assert page.locator("#sample-badge").inner_text() == "示例数据"
        assert page.locator("section.major").count() >= 9
        # every chart is drawn: inline SVG with a real size
        sizes = page.eval_on_selector_all("figure svg", "els => els.map(e => e.getBoundingClientRect().width)")
        assert len(sizes) == 6 and min(sizes) > 300
        # the Chinese text uses a CJK font, not boxes: the title is wider than its Latin fallback would be
        assert page.eval_on_selector("h1", "e => e.getBoundingClientRect().width") > 300
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / "report.png"))
        page.screenshot(path=str(SHOTS / "report_full.png"), full_page=True)
        pdf_path = SHOTS / "report.pdf"
        pdf = page.pdf(path=str(pdf_path), format="A4", print_background=True, prefer_css_page_size=True)
    finally:
        context.close()
    assert pdf.startswith(b"%PDF")
    assert pdf_pages(pdf, pdf_path) >= 2


#: The text column of an A4 portrait page with the report's 15 mm side margins: 180 mm at 96 dpi.
A4_COLUMN_PX = 180 / 25.4 * 96


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_table_fits_the_a4_column_when_printed(browser: Any, sample_db_template: Path,
                                                     tmp_path: Path, lang: str) -> None:
    (path,) = report.build_report(sample_db_template, as_of=date(2016, 9, 1), out_dir=tmp_path, formats=["html"],
                                  now=datetime(2016, 10, 25, 6, 30), lang=lang)
    context = browser.new_context(viewport={"width": int(A4_COLUMN_PX), "height": 1000},
                                  locale="zh-CN" if lang == "zh" else "en-US")
    page = context.new_page()
    try:
        page.emulate_media(media="print")
        page.goto(path.as_uri())
        page.wait_for_load_state("load")
        widths = page.eval_on_selector_all(
            "section:not(.wide) table",
            "els => els.map(t => [t.closest('section').id, t.getBoundingClientRect().width, t.scrollWidth])")
        assert len(widths) >= 12
        too_wide = [(section, round(w), s) for section, w, s in widths if max(w, s) > A4_COLUMN_PX]
        assert too_wide == []  # the unit and chain tables, with their 同比 column, too
        assert page.evaluate("document.documentElement.scrollWidth") <= A4_COLUMN_PX
        # a 同比 column in both group tables, a year-on-year sentence per metric under the targets
        assert page.locator("table.groups").count() == 2
        assert page.locator("table.groups thead th").all_inner_texts().count(
            "同比" if lang == "zh" else "YoY") == 2
        assert page.locator("#targets p.yoy").count() == 2
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.locator("#units").screenshot(path=str(SHOTS / f"report_units_a4_{lang}.png"))
    finally:
        context.close()
