"""SQL 查询 page: examples run, refusals are errors (not exceptions), the row cap, the schema browser."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from portfolio import sandbox, store
from tests.app.conftest import no_exception, page_text

PAGE = "app_pages/sql_console.py"


def run_sql(at: AppTest, sql: str, *, max_rows: int | None = None) -> AppTest:
    at.text_area(key="sq_sql").set_value(sql)
    if max_rows is not None:
        at.number_input(key="sq_max_rows").set_value(max_rows)
    return at.button(key="sq_run").click().run()


def result_table(at: AppTest) -> object:
    return at.dataframe[-1].value


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_sql_page_opens_with_the_schema_comments_in_both_languages(open_page: Callable[..., AppTest],
                                                                   lang: str) -> None:
    at = open_page(PAGE, lang=lang)
    no_exception(at)
    at.selectbox(key=f"sq_object_{lang}").set_value("projects").run()
    assert "项目库" in page_text(at)  # the table's Chinese comment
    columns = at.dataframe[0].value
    assert "project_id" in set(columns["column_name"])
    assert columns["column_comment"].notna().all()


def test_an_example_query_loads_and_runs(open_page: Callable[..., AppTest], app_db: Path) -> None:
    at = open_page(PAGE)
    at.selectbox(key="sq_example_zh").set_value("10_tiers").run()
    at.button(key="sq_load").click().run()
    expected = next(e["sql"] for e in sandbox.example_queries() if e["name"] == "10_tiers")
    assert at.text_area(key="sq_sql").value == expected
    at.button(key="sq_run").click().run()
    no_exception(at)
    table = result_table(at)
    with store.connect(app_db, read_only=True) as con:
        total = con.execute("select count(*) from projects").fetchall()[0][0]
    assert int(table["项目数"].sum()) == total
    assert f"{len(table)} 行" in page_text(at)
    assert {b.key for b in at.download_button} >= {"sq_csv", "sq_xlsx"}


@pytest.mark.parametrize("sql, words", [
    ("delete from projects", "SQL 控制台只读"),
    ("select 1; select 2", "一次只能执行一条语句"),
    ("select * from read_csv('/etc/passwd')", "不能读取或列出文件"),
    ("select nonsense from projects", "SQL 执行出错"),
])
def test_a_refused_query_is_shown_as_an_error(open_page: Callable[..., AppTest], app_db: Path, sql: str,
                                              words: str) -> None:
    at = run_sql(open_page(PAGE), sql)
    no_exception(at)
    assert len(at.error) == 1 and words in at.error[0].value
    with store.connect(app_db, read_only=True) as con:
        assert con.execute("select count(*) from projects").fetchall()[0][0] > 0


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_row_cap_says_first_n_of_m(open_page: Callable[..., AppTest], app_db: Path, lang: str) -> None:
    at = run_sql(open_page(PAGE, lang=lang), "select project_id from projects order by project_id", max_rows=5)
    no_exception(at)
    assert list(result_table(at)["project_id"]) == [f"CC2016-000{i}" for i in range(1, 6)]
    with store.connect(app_db, read_only=True) as con:
        total = con.execute("select count(*) from projects").fetchall()[0][0]
    note = f"显示前 5 行，共 {total:,} 行" if lang == "zh" else f"First 5 of {total:,} rows"
    assert any(note in w.value for w in at.warning)


def test_the_lagging_example_shows_every_lagging_project_the_overview_counts(open_page: Callable[..., AppTest],
                                                                            app_db: Path) -> None:
    from portfolio import targets

    at = open_page(PAGE)
    at.selectbox(key="sq_example_zh").set_value("02_lagging_projects").run()
    at.button(key="sq_load").click().run()
    at.button(key="sq_run").click().run()
    no_exception(at)
    with store.connect(app_db, read_only=True) as con:
        lagging = targets.check_report(con)["lagging_count"]
    assert lagging > 100 and len(result_table(at)) == lagging
    assert not at.warning
    at = run_sql(at, at.text_area(key="sq_sql").value, max_rows=100)
    assert any(f"显示前 100 行，共 {lagging} 行" in w.value for w in at.warning)


def test_the_schema_browser_loads_a_select_into_the_editor(open_page: Callable[..., AppTest], app_db: Path) -> None:
    at = open_page(PAGE)
    at.selectbox(key="sq_object_zh").set_value("v_unit_progress").run()
    at.button(key="sq_select_from").click().run()
    assert at.text_area(key="sq_sql").value == "select *\nfrom v_unit_progress\nlimit 100"
    at.button(key="sq_run").click().run()
    with store.connect(app_db, read_only=True) as con:
        assert len(result_table(at)) == con.execute("select count(*) from v_unit_progress").fetchall()[0][0]


def test_the_downloads_are_built_on_click_without_a_rerun(open_page: Callable[..., AppTest]) -> None:
    at = run_sql(open_page(PAGE), "select 1 as a")
    buttons = {b.key: b for b in at.download_button}
    for key in ("sq_csv", "sq_xlsx"):
        assert buttons[key].proto.ignore_rerun and buttons[key].proto.deferred_file_id
