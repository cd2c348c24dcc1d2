"""数据导入 · 导入记录: the batches listed; admins and bureau users undo one after confirming."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from portfolio import access, edits, ingest, store
from tests.app.conftest import no_exception, page_text

PAGE = "app_pages/data_import.py"
LEDGER = """项目编号,项目名称,责任单位,建设性质,项目状态,总投资(万元),备注
CC2016-9201,历史测试甲,汽开区,新建,在建,3000,新
CC2016-0001,奥迪Q工厂,汽开区,新建,在建,1500000,导入改的备注
"""
BUREAU = access.User("b@gxj.cn", "bureau", name="王科长")


def imported(db: Path, tmp_path: Path, name: str = "历史台账.csv") -> ingest.IngestResult:
    path = tmp_path / name
    path.write_text(LEDGER, encoding="utf-8")
    result = ingest.ingest_file(db, path, user=BUREAU)
    assert (result.inserted, result.updated) == (1, 1)
    return result


def state(db: Path) -> list[tuple[object, ...]]:
    """What the import changed, and the bookkeeping of the batches (to see that nothing moved)."""
    with store.connect(db, read_only=True) as con:
        return con.execute(
            "select (select count(*) from projects), (select note from projects where project_id = 'CC2016-0001'),"
            " (select count(*) from audit_log), (select count(*) from batches),"
            " (select value from meta where key = 'revision')").fetchall()


def texts(at: AppTest) -> list[str]:
    return [str(t.value) for t in at.text]


@pytest.mark.parametrize(("lang", "title"), [("zh", "导入记录"), ("en", "Import history")])
def test_the_history_lists_the_batches_in_both_languages(open_page: Callable[..., AppTest], app_db: Path,
                                                         tmp_path: Path, lang: str, title: str) -> None:
    result = imported(app_db, tmp_path)
    at = open_page(PAGE, lang=lang)
    no_exception(at)
    assert title in [s.value for s in at.subheader]
    shown = texts(at)
    assert "历史台账.csv" in shown and str(result.batch) in shown
    assert ("新增 1，更新 1" if lang == "zh" else "1 added, 1 updated") in shown
    assert f"ih_undo_{result.batch}" in {b.key for b in at.button}


def test_an_admin_undoes_an_import_after_confirming(open_page: Callable[..., AppTest], app_db: Path,
                                                    tmp_path: Path) -> None:
    before = state(app_db)
    result = imported(app_db, tmp_path)
    at = open_page(PAGE)
    at.button(key=f"ih_undo_{result.batch}").click().run()
    no_exception(at)
    assert any(f"确认撤销批次 {result.batch}" in w.value for w in at.warning)
    assert state(app_db)[0][:2] != before[0][:2]  # nothing undone before the confirmation
    at.button(key="ih_yes").click().run()
    no_exception(at)
    assert any(f"已撤销批次 {result.batch}：恢复 1 行，删除 1 行" in s.value for s in at.success)
    assert state(app_db)[0][:2] == before[0][:2]
    assert f"已被批次 {result.batch + 1} 撤销" in texts(at)
    assert f"ih_undo_{result.batch}" not in {b.key for b in at.button}


def test_cancel_leaves_everything_as_it_was(open_page: Callable[..., AppTest], app_db: Path, tmp_path: Path) -> None:
    result = imported(app_db, tmp_path)
    before = state(app_db)
    at = open_page(PAGE)
    at.button(key=f"ih_undo_{result.batch}").click().run()
    at.button(key="ih_no").click().run()
    no_exception(at)
    assert not at.warning and "ih_yes" not in {b.key for b in at.button}
    assert state(app_db) == before


def test_a_row_changed_since_makes_the_undo_an_error_and_changes_nothing(
        open_page: Callable[..., AppTest], app_db: Path, tmp_path: Path) -> None:
    result = imported(app_db, tmp_path)
    with store.connect(app_db) as con:
        row = edits.get_project(con, "CC2016-0001")
        assert row is not None
        edits.update_project(con, "CC2016-0001", {"note": "*之后*的修改"}, expected_version=row["version"], user=BUREAU)
    before = state(app_db)
    at = open_page(PAGE)
    at.button(key=f"ih_undo_{result.batch}").click().run()
    at.button(key="ih_yes").click().run()
    no_exception(at)
    assert len(at.error) == 1
    assert f"批次 {result.batch} 写入的 1 行此后已被修改或删除" in at.error[0].value
    assert "nothing undone" in at.error[0].value
    assert state(app_db) == before


def test_a_viewer_sees_the_history_read_only(open_page: Callable[..., AppTest], app_db: Path, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    imported(app_db, tmp_path, name="**粗体**[链接](x).csv")
    monkeypatch.setattr(access, "LOCAL_USER", access.User(user_id="v", role="viewer", name="只读者"))
    at = open_page(PAGE)
    no_exception(at)
    assert "只有管理员和局机关用户可以撤销。" in page_text(at)
    assert not [b for b in at.button if str(b.key).startswith("ih_undo_")]
    assert "**粗体**[链接](x).csv" in texts(at)  # user text shown as typed
