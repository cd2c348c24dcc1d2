"""项目库 page: list, filters, detail, edits with optimistic locking, progress entry, new project."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from portfolio import access, edits, store
from tests.app.conftest import no_exception, open_tab, page_text

PAGE = "app_pages/projects.py"
FIRST = "CC2016-0001"  # the project the page shows first (the first row of the list)


def scalar(db: Path, sql: str, params: list[object] | None = None) -> object:
    """One value read straight from the database."""
    with store.connect(db, read_only=True) as con:
        return con.execute(sql, params or []).fetchall()[0][0]


def rows(db: Path, sql: str, params: list[object] | None = None) -> list[tuple[object, ...]]:
    """Rows read straight from the database."""
    with store.connect(db, read_only=True) as con:
        return con.execute(sql, params or []).fetchall()


def edit_key(name: str, version: int = 1, project: str = FIRST) -> str:
    return f"pj_e_{project}_{version}_{name}"


PAGE_SIZE = 100  # rows of the list per page (app_pages/projects.py)


def page_count(n: int) -> int:
    return max(1, -(-n // PAGE_SIZE))


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_projects_page_lists_every_project_one_page_at_a_time(open_page: Callable[..., AppTest], app_db: Path,
                                                               lang: str) -> None:
    at = open_page(PAGE, lang=lang)
    no_exception(at)
    total = scalar(app_db, "select count(*) from projects")
    first = at.dataframe[0].value
    assert first.shape[0] == PAGE_SIZE < total  # the browser gets one page, not the library
    assert first["project_id"].tolist() == [
        r[0] for r in rows(app_db, "select project_id from projects order by project_id limit ?", [PAGE_SIZE])]
    assert at.number_input(key="pj_page").max == page_count(total)
    text = page_text(at)
    assert f"{total:,}" in text  # the count is of every project, not of the page
    assert ("项目库" if lang == "zh" else "Projects") in text
    assert ("亿元" if lang == "zh" else "100 m yuan") in text
    # the last page holds the rest
    at.number_input(key="pj_page").set_value(page_count(total)).run()
    no_exception(at)
    last = at.dataframe[0].value
    assert last.shape[0] == total - PAGE_SIZE * (page_count(total) - 1)
    assert last["project_id"].tolist()[-1] == scalar(app_db, "select max(project_id) from projects")


def test_the_list_is_sorted_by_the_database_over_every_project(open_page: Callable[..., AppTest],
                                                               app_db: Path) -> None:
    at = open_page(PAGE)
    at.selectbox(key="pj_sort_zh").set_value("total_investment_wan").run()
    at.toggle(key="pj_desc").set_value(True).run()
    no_exception(at)
    biggest = rows(app_db, "select project_id from projects order by total_investment_wan desc nulls last, project_id"
                   " limit ?", [PAGE_SIZE])
    assert at.dataframe[0].value["project_id"].tolist() == [r[0] for r in biggest]
    # a page further on continues the same order
    at.number_input(key="pj_page").set_value(2).run()
    second = rows(app_db, "select project_id from projects order by total_investment_wan desc nulls last, project_id"
                  " limit ? offset ?", [PAGE_SIZE, PAGE_SIZE])
    assert at.dataframe[0].value["project_id"].tolist() == [r[0] for r in second]
    # a new filter starts again at the first page
    at.toggle(key="pj_f_major").set_value(True).run()
    assert at.number_input(key="pj_page").value == 1


def test_unit_filter_reduces_the_table_to_that_unit(open_page: Callable[..., AppTest], app_db: Path) -> None:
    at = open_page(PAGE)
    at.multiselect(key="pj_f_unit").set_value(["QK"]).run()
    no_exception(at)
    table = at.dataframe[0].value
    in_unit = scalar(app_db, "select count(*) from projects where unit_id = 'QK'")
    assert table.shape[0] == min(PAGE_SIZE, in_unit)
    assert at.number_input(key="pj_page").max == page_count(in_unit)
    assert f"{in_unit:,}" in page_text(at)
    assert set(table["unit"]) == {"长春汽车经济技术开发区"}  # the full name, as on every page


def test_search_and_lagging_filters_combine(open_page: Callable[..., AppTest], app_db: Path) -> None:
    at = open_page(PAGE)
    at.text_input(key="pj_f_search").set_value("cc2016-000").run()
    assert at.dataframe[0].value.shape[0] == scalar(
        app_db, "select count(*) from projects where lower(project_id) like '%cc2016-000%'")
    at.text_input(key="pj_f_search").set_value("").run()
    at.toggle(key="pj_f_lagging").set_value(True).run()
    table = at.dataframe[0].value
    assert 0 < table.shape[0] < scalar(app_db, "select count(*) from projects")
    assert table["is_lagging"].all()


def test_a_project_past_the_picker_s_first_rows_can_be_opened(open_page: Callable[..., AppTest],
                                                                app_db: Path) -> None:
    total = int(str(scalar(app_db, "select count(*) from projects")))
    last = str(scalar(app_db, "select max(project_id) from projects"))
    at = open_page(PAGE)
    assert last not in at.selectbox(key="pj_pick").options[-1]  # the picker offers the first 1,000
    at.number_input(key="pj_page").set_value(page_count(total)).run()  # the last page: its rows are offered
    at.selectbox(key="pj_pick").set_value(last).run()
    no_exception(at)
    name = scalar(app_db, "select name from projects where project_id = ?", [last])
    assert at.subheader[0].value == name
    open_tab(at, "edit")
    assert at.text_input(key=edit_key("name", project=last)).value == name


def test_an_edit_reaches_the_database_and_the_audit_log(open_page: Callable[..., AppTest], app_db: Path) -> None:
    at = open_tab(open_page(PAGE), "edit")
    at.text_input(key=edit_key("name")).set_value("奥迪Q工厂（二期）")
    at.number_input(key=edit_key("annual_plan_wan")).set_value(900000.0)
    at.button(key="pj_edit_submit").click().run()
    no_exception(at)
    assert scalar(app_db, "select name from projects where project_id = ?", [FIRST]) == "奥迪Q工厂（二期）"
    assert scalar(app_db, "select annual_plan_wan from projects where project_id = ?", [FIRST]) == Decimal("900000.00")
    assert scalar(app_db, "select version from projects where project_id = ?", [FIRST]) == 2
    assert scalar(app_db, "select actor || '|' || action from audit_log where table_name = 'projects'"
                          " and record_id = ? order by audit_id desc limit 1", [FIRST]) == "本机用户<local>|update"
    assert "已保存项目 CC2016-0001（版本 2）" in page_text(at)
    assert at.text_input(key=edit_key("name", 2)).value == "奥迪Q工厂（二期）"  # the edit tab stays open
    assert not any("操作人" in d.value.columns for d in at.dataframe)  # only the open tab is drawn
    open_tab(at, "history")
    history = next(d.value for d in at.dataframe if "操作人" in d.value.columns)  # the 修改记录 tab
    assert (history["操作人"][0], history["操作"][0], history["对象"][0]) == ("本机用户<local>", "修改", "项目")
    assert "项目名称：奥迪Q工厂 → 奥迪Q工厂（二期）" in history["变更内容"][0].split("；")


def test_a_stale_edit_is_refused_and_the_other_change_kept(open_page: Callable[..., AppTest], app_db: Path) -> None:
    at = open_tab(open_page(PAGE), "edit")  # the form is built on version 1
    other = access.User(user_id="wang", role="bureau", name="王科长")
    with store.connect(app_db) as con:
        edits.update_project(con, FIRST, {"leader": "王科长"}, expected_version=1, user=other)
    at.text_input(key=edit_key("name")).set_value("被覆盖的名称")
    at.button(key="pj_edit_submit").click().run()
    no_exception(at)
    assert any("为避免覆盖他人的修改" in e.value for e in at.error)
    assert scalar(app_db, "select name || '|' || leader || '|' || version from projects where project_id = ?",
                  [FIRST]) == "奥迪Q工厂|王科长|2"
    assert any(r"王科长\<wang\>" in w.value for w in at.warning)  # user text escaped for Markdown (ui.plain)
    at.button(key="pj_reload").click().run()  # reload: the form is now based on version 2
    at.text_input(key=edit_key("name", 2)).set_value("奥迪Q工厂（二期）")
    at.button(key="pj_edit_submit").click().run()
    assert scalar(app_db, "select name || '|' || leader || '|' || version from projects where project_id = ?",
                  [FIRST]) == "奥迪Q工厂（二期）|王科长|3"


def test_an_invalid_edit_shows_the_import_reason_and_writes_nothing(open_page: Callable[..., AppTest],
                                                                    app_db: Path) -> None:
    at = open_tab(open_page(PAGE), "edit")
    at.number_input(key=edit_key("annual_plan_wan")).set_value(2_000_000.0)  # more than the total
    at.button(key="pj_edit_submit").click().run()
    no_exception(at)
    assert any("年度计划投资大于总投资" in e.value for e in at.error)
    assert scalar(app_db, "select version from projects where project_id = ?", [FIRST]) == 1


def test_entering_a_months_progress_writes_the_row(open_page: Callable[..., AppTest], app_db: Path) -> None:
    at = open_tab(open_page(PAGE), "entry")
    at.selectbox(key=f"pj_p_month_{FIRST}").set_value(date(2016, 10, 1)).run()
    key = f"pj_p_{FIRST}_201610_"
    at.number_input(key=key + "completed").set_value(1234.5)
    at.number_input(key=key + "physical").set_value(55.0)
    at.text_area(key=key + "problems").set_value("用地手续未办完")
    at.selectbox(key=key + "level_zh").set_value("局级")
    at.button(key="pj_entry_submit").click().run()
    no_exception(at)
    with store.connect(app_db, read_only=True) as con:
        row = con.execute("select completed_wan, physical_pct, problems, problem_level, updated_by from progress"
                          " where project_id = ? and month = ?", [FIRST, date(2016, 10, 1)]).fetchall()
    assert row == [(Decimal("1234.50"), Decimal("55.00"), "用地手续未办完", "局级", "本机用户<local>")]
    assert scalar(app_db, "select count(*) from audit_log where table_name = 'progress' and record_id = ?",
                  [f"{FIRST}/2016-10"]) == 1
    assert "已新增 CC2016-0001 2016-10 的进度" in page_text(at)


def test_a_new_project_is_created_and_shown(open_page: Callable[..., AppTest], app_db: Path) -> None:
    at = open_page(PAGE)
    key = "pj_n0_"
    at.text_input(key=key + "project_id").set_value("CC2016-9001")
    at.text_input(key=key + "name").set_value("新建测试项目")
    at.selectbox(key=key + "unit_id_zh").set_value("GX")
    at.selectbox(key=key + "nature_zh").set_value("新建")
    at.selectbox(key=key + "status_zh").set_value("前期")
    at.number_input(key=key + "total_investment_wan").set_value(5000.0)
    at.button(key="pj_new_submit").click().run()
    no_exception(at)
    assert scalar(app_db, "select name || '|' || unit_id || '|' || total_investment_wan from projects"
                          " where project_id = 'CC2016-9001'") == "新建测试项目|GX|5000.00"
    assert at.selectbox(key="pj_pick").value == "CC2016-9001"
    assert "已新建项目 CC2016-9001" in page_text(at)


def test_a_viewer_sees_the_forms_disabled_with_the_reason(open_page: Callable[..., AppTest],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(access, "LOCAL_USER", access.User(user_id="guest", role="viewer"))
    at = open_page(PAGE)
    no_exception(at)
    assert at.button(key="pj_new_submit").disabled
    for tab, key in (("edit", "pj_edit_submit"), ("entry", "pj_entry_submit")):
        assert open_tab(at, tab).button(key=key).disabled
    assert any("只能查看" in c.value for c in at.caption)


def test_only_the_open_tab_is_drawn_and_it_stays_open_for_the_next_project(
        open_page: Callable[..., AppTest], monkeypatch: pytest.MonkeyPatch) -> None:
    """The project's tabs draw only the open one (a rerun on a click); the one picked stays open
    when another project is shown."""
    from portfolio import auditview

    asked: list[str] = []
    original = auditview.audit_frame

    def counting(*args: object, **kwargs: object) -> object:
        asked.append("history")
        return original(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(auditview, "audit_frame", counting)
    at = open_page(PAGE)
    assert at.get("vega_lite_chart")  # 月度进度, the first tab: its chart
    assert not [w for w in at.text_input if str(w.key or "").startswith("pj_e_")] and not asked
    open_tab(at, "edit")
    assert at.text_input(key=edit_key("name")).value
    assert not at.get("vega_lite_chart") and not asked  # neither the progress chart nor the history
    second = "CC2016-0002"  # the list's second row
    at.selectbox(key="pj_pick").set_value(second).run()
    no_exception(at)
    assert at.text_input(key=edit_key("name", project=second)).value  # the edit tab is still the open one
    open_tab(at, "history")
    assert asked == ["history"]
