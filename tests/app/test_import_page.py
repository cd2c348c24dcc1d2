"""数据导入 page: preview with row-level validation before anything is written, then the import."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from portfolio import access, store
from tests.app.conftest import no_exception, page_text

PAGE = "app_pages/data_import.py"
LEDGER = """长春市工业投资项目台账（测试）,,,,,,
项目编号,项目名称,责任单位,建设性质,项目状态,总投资(万元),年度计划投资(万元)
CC2016-9101,测试项目甲,汽开区,新建,在建,"3,000",1000
CC2016-9102,测试项目乙,高新区,技改,前期,1.5亿,800万元
CC2016-9103,测试项目丙,火星区,新建,在建,5000,100
CC2016-0001,奥迪Q工厂,汽开区,新建,在建,1500000,1004843
合计,,,,,xxx,
CC2016-9104,小项目,汽开区,新建,在建,500,0
"""


@pytest.fixture
def messy_ledger() -> tuple[str, bytes, str]:
    """A projects ledger with a title row, a 合计 row, 1.5亿 / 800万元 amounts and two bad rows."""
    return ("测试台账.csv", LEDGER.encode("utf-8"), "text/csv")


def fetch(db: Path, sql: str) -> list[tuple[object, ...]]:
    """Rows read straight from the database."""
    with store.connect(db, read_only=True) as con:
        return con.execute(sql).fetchall()


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_import_page_opens_with_templates_in_both_languages(open_page: Callable[..., AppTest], lang: str) -> None:
    at = open_page(PAGE, lang=lang)
    no_exception(at)
    assert ("请选择要导入的文件" if lang == "zh" else "Choose a file to import") in page_text(at)
    assert {b.key for b in at.download_button} >= {"im_tpl_projects", "im_tpl_progress", "im_tpl_enterprises"}


def test_the_preview_shows_rejects_and_writes_nothing(open_page: Callable[..., AppTest], app_db: Path,
                                                      messy_ledger: tuple[str, bytes, str]) -> None:
    before = fetch(app_db, "select (select count(*) from projects), (select count(*) from audit_log),"
                           " (select value from meta where key = 'revision')")
    at = open_page(PAGE)
    at.file_uploader(key="im_file").set_value(messy_ledger).run()
    no_exception(at)
    assert metrics(at) == {"读取行数": "6", "可导入": "3", "其中新增": "2", "其中已有": "1", "拒收行数": "2",
                           "跳过合计行": "1"}
    rejects = next(d.value for d in at.dataframe if "reason" in d.value.columns)
    assert rejects[["row", "column", "value"]].values.tolist() == [[5, "责任单位", "火星区"],
                                                                   [8, "总投资(万元)", "500"]]
    assert rejects["reason"][0] == "未知的责任单位"
    assert "跳过的合计/小计行：第 7 行" in page_text(at)
    assert at.button(key="im_go").label == "导入 3 行"
    assert fetch(app_db, "select (select count(*) from projects), (select count(*) from audit_log),"
                         " (select value from meta where key = 'revision')") == before


def test_importing_writes_the_valid_rows_with_the_user_and_counts(open_page: Callable[..., AppTest], app_db: Path,
                                                                  messy_ledger: tuple[str, bytes, str]) -> None:
    at = open_page(PAGE)
    at.file_uploader(key="im_file").set_value(messy_ledger).run()
    at.button(key="im_go").click().run()
    no_exception(at)
    assert fetch(app_db, "select project_id, total_investment_wan::varchar, annual_plan_wan::varchar, updated_by"
                         " from projects where project_id like 'CC2016-91%' order by 1") == [
        ("CC2016-9101", "3000.00", "1000.00", "本机用户<local>"),
        ("CC2016-9102", "15000.00", "800.00", "本机用户<local>"),
    ]
    assert fetch(app_db, "select action, source, count(*) from audit_log where table_name = 'projects'"
                         " and actor = '本机用户<local>' group by all") == [("insert", "import:测试台账.csv", 2)]
    shown = metrics(at)
    assert (shown["新增"], shown["更新"], shown["未变"], shown["拒收行数"], shown["跳过合计行"]) == ("2", "0", "1", "2", "1")
    assert any("已导入" in s.value for s in at.success)
    assert "im_rejects_after" in {b.key for b in at.download_button}


def test_a_file_problem_is_one_error_and_writes_nothing(open_page: Callable[..., AppTest], app_db: Path) -> None:
    before = fetch(app_db, "select count(*) from audit_log")
    at = open_page(PAGE)
    at.file_uploader(key="im_file").set_value(("notes.csv", "随便写的,一些\n文字,而已\n".encode(), "text/csv")).run()
    no_exception(at)
    assert len(at.error) == 1 and "找不到表头行" in at.error[0].value
    assert not [b for b in at.button if b.key == "im_go"]
    assert fetch(app_db, "select count(*) from audit_log") == before


def test_a_unit_user_may_import_only_their_units_rows(open_page: Callable[..., AppTest], app_db: Path,
                                                      messy_ledger: tuple[str, bytes, str],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(access, "LOCAL_USER", access.User(user_id="qk", role="unit", unit_id="QK", name="汽开区"))
    at = open_page(PAGE)
    at.file_uploader(key="im_file").set_value(messy_ledger).run()
    rejects = next(d.value for d in at.dataframe if "reason" in d.value.columns)
    assert rejects.loc[rejects["row"] == 4, "reason"].tolist() == ["无权修改其他单位的项目"]
    at.button(key="im_go").click().run()
    assert fetch(app_db, "select project_id, updated_by from projects where project_id like 'CC2016-91%'") == [
        ("CC2016-9101", "汽开区<qk>")]


PROGRESS = "项目编号,月份,本月完成投资(万元),形象进度(%),存在问题\nCC2016-0001,2016-09,0,45,\nCC2016-0002,2016-10,100,80,\n"


@pytest.fixture
def backwards_progress(app_db: Path) -> tuple[str, bytes, str]:
    """A progress ledger taking CC2016-0001's September from 52.95% back to 45%, and a new month."""
    with store.connect(app_db) as con:
        con.execute("update progress set physical_pct = 52.95 where project_id = 'CC2016-0001'"
                    " and month = date '2016-09-01'")
    return ("进度.csv", PROGRESS.encode("utf-8"), "text/csv")


def frame_with(at: AppTest, column: str) -> Any:
    """The first table on the page with ``column``."""
    return next(d.value for d in at.dataframe if column in d.value.columns)


def test_the_preview_shows_old_to_new_and_warns_when_progress_goes_back(
        open_page: Callable[..., AppTest], backwards_progress: tuple[str, bytes, str]) -> None:
    at = open_page(PAGE)
    at.file_uploader(key="im_file").set_value(backwards_progress).run()
    no_exception(at)
    assert any("1 行有需要核对的变化（1 条提醒）" in w.value for w in at.warning)
    warned = frame_with(at, "提醒")
    assert "形象进度倒退：52.95% → 45%" in warned["提醒"].tolist()
    changes = frame_with(at, "原值")
    assert changes[["记录", "字段", "原值", "新值"]].values.tolist()[:2] == [
        ["CC2016-0001 2016-09", "形象进度", "52.95%", "45%"],
        ["CC2016-0001 2016-09", "存在问题", "设备采购延迟；拆迁安置未完成", "—"]]
    rows = frame_with(at, "导入时")
    assert rows["导入时"].tolist() == ["更新", "新增"]
    assert rows["月份"].tolist() == ["2016-09", "2016-10"]  # months, not timestamps
    assert "None" not in rows.astype(str).to_string()
    assert "im_preview_xlsx" in {b.key for b in at.download_button}
    assert at.button(key="im_go").label == "导入 2 行"


def test_after_the_import_the_preview_and_button_are_gone_and_it_is_confirmed(
        open_page: Callable[..., AppTest], app_db: Path, backwards_progress: tuple[str, bytes, str]) -> None:
    at = open_page(PAGE)
    at.file_uploader(key="im_file").set_value(backwards_progress).run()
    at.button(key="im_go").click().run()
    no_exception(at)
    assert fetch(app_db, "select physical_pct::varchar from progress where project_id = 'CC2016-0001'"
                         " and month = date '2016-09-01'") == [("45.00",)]
    assert [t.value for t in at.toast] == ["导入完成：新增 1 行，更新 1 行。"]
    assert any("已导入" in s.value for s in at.success)
    text = page_text(at)
    assert "导入前预览（尚未写入）" not in text
    assert not [b for b in at.button if b.key == "im_go"]
    assert not [d for d in at.dataframe if "原值" in d.value.columns]
    assert [u.key for u in at.get("file_uploader")] == ["im_file_1"]  # a fresh uploader, empty
    assert at.file_uploader(key="im_file_1").value in (None, [])
    # the next run keeps the outcome but shows the toast only once
    at.run()
    assert not at.toast and any("已导入" in s.value for s in at.success)


def test_an_undo_is_confirmed_with_a_toast(open_page: Callable[..., AppTest],
                                           backwards_progress: tuple[str, bytes, str]) -> None:
    at = open_page(PAGE)
    at.file_uploader(key="im_file").set_value(backwards_progress).run()
    at.button(key="im_go").click().run()
    batch = max(int(b.key.removeprefix("ih_undo_")) for b in at.button if (b.key or "").startswith("ih_undo_"))
    at.button(key=f"ih_undo_{batch}").click().run()
    at.button(key="ih_yes").click().run()
    no_exception(at)
    assert [t.value for t in at.toast] == [f"已撤销批次 {batch}。"]
    assert any(f"已撤销批次 {batch}" in s.value for s in at.success)

