"""用户与日志 · 修改日志 and a project's 修改记录: Chinese headers and actions, field lines, filters, no JSON."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from portfolio import access, edits, store
from tests.app.conftest import no_exception, open_tab, page_text

PID = "CC2016-0001"  # the project the 项目库 page shows first
ZH = ["时间", "操作", "项目", "对象", "变更内容", "操作人", "批次", "来源"]
EN = ["When", "Action", "Project", "Record", "Changes", "Who", "Batch", "Source"]


@pytest.fixture
def edited(app_db: Path) -> Path:
    """The sample after one edit of the first project and one month of its progress."""
    with store.connect(app_db) as con:
        v = edits.get_project(con, PID)
        assert v is not None
        edits.update_project(con, PID, {"annual_plan_wan": Decimal("900000"), "note": "=1+1\r\n第二行"},
                             expected_version=v["version"], user=access.LOCAL_USER)
        edits.record_progress(con, {"project_id": PID, "month": date(2016, 9, 1), "completed_wan": Decimal("1234.5"),
                                    "physical_pct": Decimal("45")}, user=access.LOCAL_USER)
        access.save_user(con, access.LOCAL_USER, user_id="zhang@gxj.cn", role="viewer", name="张三")
    return app_db


def audit_table(at: AppTest, columns: list[str]) -> pd.DataFrame:
    return next(d.value for d in at.dataframe if list(d.value.columns[:2]) == columns[:2])


def assert_readable(table: pd.DataFrame) -> None:
    cells = [str(v) for v in table.to_numpy().ravel()]
    assert cells and not [c for c in cells if c in ("None", "nan", "") or "{" in c or "null" in c]


@pytest.mark.parametrize(("lang", "columns"), [("zh", ZH), ("en", EN)])
def test_the_admin_audit_tab_reads_in_the_ui_language(open_page: Callable[..., AppTest], edited: Path,
                                                      lang: str, columns: list[str]) -> None:
    at = open_page("app_pages/admin.py", lang=lang)
    no_exception(at)
    table = audit_table(at, columns)
    assert list(table.columns) == columns
    assert_readable(table)
    if lang == "zh":
        assert {"修改", "新增", "初始化", "规则设置"} <= set(table["操作"])
        progress = table[table["对象"] == "月度进度 2016-09"].iloc[0]
        assert progress["变更内容"].split("；")[0] == "本月完成投资：0.00 万元 → 1,234.50 万元"
        edit = table[table["对象"] == "项目"].iloc[0]
        assert "年度计划投资：1,004,843.00 万元 → 900,000.00 万元" in edit["变更内容"].split("；")
        assert "备注：示例数据 → =1+1 ↵ 第二行" in edit["变更内容"].split("；")
        assert "修改日志" in [t.label for t in at.tabs]
        assert "共" in page_text(at)


def test_the_admin_filters_narrow_the_log_and_name_the_download(open_page: Callable[..., AppTest], edited: Path) -> None:
    at = open_page("app_pages/admin.py")
    at.selectbox(key="admin_audit_person").set_value(access.LOCAL_USER.label).run()
    at.text_input(key="admin_audit_project").set_value(PID).run()
    no_exception(at)
    table = audit_table(at, ZH)
    assert set(table["操作人"]) == {access.LOCAL_USER.label} and len(table) == 2
    assert all(p.startswith(PID) for p in table["项目"])
    # the export holds what the filter shows (its file name is auditview.export_name's, tested in tests/)
    download = next(b for b in at.get("download_button") if b.proto.id.endswith("admin_audit_xlsx"))
    assert download.proto.label == "下载 Excel（2 条）"
    tomorrow = date.today() + timedelta(days=1)  # a date input offers ten years either side of today
    at.date_input(key="admin_audit_since").set_value(tomorrow).run()
    at.date_input(key="admin_audit_until").set_value(tomorrow).run()
    no_exception(at)
    assert "没有符合条件的修改记录。" in page_text(at)


@pytest.mark.parametrize(("lang", "columns"), [("zh", ZH), ("en", EN)])
def test_a_projects_history_tab_reads_in_the_ui_language(open_page: Callable[..., AppTest], edited: Path,
                                                         lang: str, columns: list[str]) -> None:
    at = open_tab(open_page("app_pages/projects.py", lang=lang), "history", lang=lang)
    table = audit_table(at, columns)
    assert list(table.columns) == [c for c in columns if c not in ("项目", "Project")]
    assert len(table) == 2
    assert_readable(table)
    if lang == "zh":
        assert list(table["操作"]) == ["修改", "修改"]
        assert list(table["对象"]) == ["月度进度 2016-09", "项目"]
    download = next(b for b in at.get("download_button") if b.proto.id.endswith("pj_history_xlsx"))
    assert download.proto.label == ("下载 Excel（2 条）" if lang == "zh" else "Download Excel (2 entries)")
