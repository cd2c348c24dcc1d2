"""Hostile output in the app: user text in Markdown elements is escaped, SQL results are capped by bytes.

A project name, a problem, a unit user's id or an SQL error reaches Streamlit's Markdown
renderer (subheaders, captions, alerts, lists) only through ``ui.plain``: every punctuation
mark escaped, so ``**x**``, ``:red[x]``, ``$x$`` and ``<b>`` are shown as typed.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from app_pages import ui
from portfolio import store
from tests.app.conftest import no_exception, open_tab, page_text

#: Markdown, a colour directive, LaTeX, HTML and an emoji code: none may be rendered.
MARKUP = "**粗体** :red[红] $x^2$ <b>h</b> :smile: _斜_"


def test_plain_escapes_every_markdown_sign_and_nothing_else() -> None:
    assert ui.plain("**a** :red[b] $c$ <i>") == r"\*\*a\*\* \:red\[b\] \$c\$ \<i\>"
    assert ui.plain("长春汽车产业园 2016") == "长春汽车产业园 2016"
    assert ui.plain(None) == ""


@pytest.fixture
def marked_db(app_db: Path) -> Path:
    """The sample plan with every project name and open problem written in Markdown."""
    with store.connect(app_db) as con:
        con.execute("update projects set name = ? || project_id", [MARKUP])
        con.execute("update progress set problems = ? where problems is not null", [MARKUP])
    return app_db


def test_a_projects_name_and_problem_are_shown_as_typed(open_page: Callable[..., AppTest], marked_db: Path) -> None:
    with store.connect(marked_db) as con:  # the project's latest month reports a problem: an open one
        con.execute("update progress set problems = ?, problem_level = '局级' where project_id = 'CC2016-0001'"
                    " and month = (select max(month) from progress where project_id = 'CC2016-0001')", [MARKUP])
    at = open_page("app_pages/projects.py")
    no_exception(at)
    assert at.subheader[0].value == ui.plain(MARKUP + "CC2016-0001")
    open_tab(at, "problems")
    warnings = "\n".join(w.value for w in at.warning)
    assert ui.plain(MARKUP) in warnings and MARKUP not in warnings


def test_the_overviews_lists_show_names_and_problems_as_typed(open_page: Callable[..., AppTest],
                                                             marked_db: Path) -> None:
    at = open_page("app_pages/overview.py")
    no_exception(at)
    text = page_text(at)
    assert ui.plain(MARKUP) in text
    assert MARKUP not in text  # never handed to Markdown unescaped


def test_an_sql_error_quoting_the_query_is_shown_as_typed(open_page: Callable[..., AppTest]) -> None:
    at = open_page("app_pages/sql_console.py")
    at.text_area(key="sq_sql").set_value('select "**粗体** :red[红] $x$" from projects')
    at.button(key="sq_run").click().run()
    no_exception(at)
    assert len(at.error) == 1
    assert r"\*\*粗体\*\* \:red\[红\] \$x\$" in at.error[0].value


def test_a_huge_result_is_capped_by_bytes_on_the_sql_page(open_page: Callable[..., AppTest]) -> None:
    at = open_page("app_pages/sql_console.py")
    at.text_area(key="sq_sql").set_value("select range as i, repeat('长', 20000) as t from range(2000)")
    at.number_input(key="sq_max_rows").set_value(100_000)
    at.button(key="sq_run").click().run()
    no_exception(at)
    shown = len(at.dataframe[-1].value)
    assert 0 < shown < 2000  # 2000 rows of 60 KB each would be a 120 MB message
    assert any("32 MiB" in w.value for w in at.warning)
