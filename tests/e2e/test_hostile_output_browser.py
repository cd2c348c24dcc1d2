"""User text in a real browser: Markdown, HTML, LaTeX and colour directives in data show as typed.

AppTest sees only the Markdown source; this checks what Streamlit actually draws from
``ui.plain``'s escapes: the visible text is exactly the stored text, and no bold, colour,
formula or HTML element was made from it.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from portfolio import store
from tests.e2e.conftest import served, wait_idle

pytestmark = pytest.mark.e2e

MARKUP = "**粗体** :red[红] $x^2$ <b>h</b> _斜_ [链接](http://x)"


@pytest.fixture(scope="module")
def marked_url(browser: Any, tmp_path_factory: pytest.TempPathFactory, sample_db_template: Path) -> Iterator[str]:
    """The app serving a copy of the sample plan whose project names and problems are Markdown."""
    db = tmp_path_factory.mktemp("marked") / "portfolio.duckdb"
    shutil.copy(sample_db_template, db)
    with store.connect(db) as con:
        con.execute("update projects set name = ? || project_id", [MARKUP])
        con.execute("update progress set problems = ? where problems is not null", [MARKUP])
    with served(db) as url:
        yield url


def _no_markup_made(page: Any) -> None:
    """No element was made from the data (the page's own bold labels may hold it whole)."""
    main = page.locator('[data-testid="stMain"]')
    for tag, text in (("b", "h"), ("strong", "粗体"), ("em", "斜"), ("a", "链接")):
        assert main.locator(tag, has_text=re.compile(f"^{text}$")).count() == 0, tag
    assert main.locator(".katex").count() == 0


def _wait_for_text(page: Any, text: str) -> None:
    """Wait until the main area shows ``text`` (a loaded machine draws a long page in bursts)."""
    page.wait_for_function(
        "t => (document.querySelector('[data-testid=\"stMain\"]')?.innerText || '').includes(t)",
        arg=text, timeout=120_000)


def test_a_projects_name_is_drawn_exactly_as_stored(page: Any, marked_url: str) -> None:
    page.goto(f"{marked_url}/projects", timeout=90_000)
    wait_idle(page)
    _wait_for_text(page, MARKUP + "CC2016-0001")
    assert page.locator('[data-testid="stException"]').count() == 0
    heading = page.locator('[data-testid="stHeading"] h3').first.inner_text().strip()
    assert heading == MARKUP + "CC2016-0001"
    _no_markup_made(page)


def test_the_overviews_lists_draw_names_and_problems_as_stored(page: Any, marked_url: str) -> None:
    page.goto(marked_url, timeout=90_000)
    wait_idle(page)
    _wait_for_text(page, MARKUP)
    assert page.locator('[data-testid="stException"]').count() == 0
    assert MARKUP in page.locator('[data-testid="stMain"]').inner_text()
    _no_markup_made(page)
