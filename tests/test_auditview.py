"""auditview: the audit log as people read it — labels, actions, field lines with units, filters, xlsx."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import duckdb
import openpyxl
import polars as pl
import pytest

from portfolio import access, auditview, batches, edits, store
from portfolio.auditview import Filter

PID = "CC2016-0001"
ADMIN = access.LOCAL_USER
VIEWER = access.User(user_id="li@gxj.cn", role="viewer", name="李四")


@pytest.fixture
def logged(sample_db: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """The sample with an edit, a progress entry, a new user and an undo, all through the library."""
    with store.connect(sample_db) as con:
        v = edits.get_project(con, PID)
        assert v is not None
        edits.update_project(con, PID, {"name": "=1+1", "annual_plan_wan": Decimal("900000"), "is_major": False,
                                        "start_date": date(2016, 5, 1)},
                             expected_version=v["version"], user=ADMIN)
        edits.record_progress(con, {"project_id": PID, "month": date(2016, 9, 1), "completed_wan": Decimal("1234.5"),
                                    "physical_pct": Decimal("45"), "problems": "缺地"}, user=ADMIN)
        access.save_user(con, ADMIN, user_id="zhang@gxj.cn", role="viewer", name="张三")
        yield con


def changes(frame: pl.DataFrame) -> list[str]:
    return frame["变更内容"].to_list()


def test_headers_are_chinese_and_english_by_language(logged: duckdb.DuckDBPyConnection) -> None:
    zh = auditview.audit_frame(logged, ADMIN)
    assert zh.columns == ["时间", "操作", "项目", "对象", "变更内容", "操作人", "批次", "来源"]
    en = auditview.audit_frame(logged, ADMIN, lang="en")
    assert en.columns == ["When", "Action", "Project", "Record", "Changes", "Who", "Batch", "Source"]
    assert zh.height == en.height == auditview.audit_count(logged, ADMIN)


def test_an_edit_reads_as_one_line_per_changed_field_with_units(logged: duckdb.DuckDBPyConnection) -> None:
    edit = auditview.audit_frame(logged, ADMIN, Filter(project=PID)).filter(pl.col("对象") == "项目").row(0, named=True)
    assert edit["操作"] == "修改"
    assert edit["项目"] == f"{PID} =1+1"
    assert edit["变更内容"].split("\n") == [
        "项目名称：奥迪Q工厂 → =1+1",
        "年度计划投资：1,004,843.00 万元 → 900,000.00 万元",
        "开工时间：2015-06 → 2016-05",
        "是否重大产业化项目：是 → 否",
    ]
    progress = auditview.audit_frame(logged, ADMIN, Filter(project=PID)).filter(pl.col("对象") == "月度进度 2016-09")
    lines = progress["变更内容"][0].split("\n")
    assert lines[0] == "本月完成投资：0.00 万元 → 1,234.50 万元"
    assert lines[1].startswith("形象进度：") and lines[1].endswith(" → 45.0%")
    assert lines[2].endswith(" → 缺地")


def test_every_action_written_has_a_chinese_name(logged: duckdb.DuckDBPyConnection) -> None:
    batch = logged.execute("select max(batch_id) from batches where table_name = 'projects'").fetchall()[0][0]
    batches.undo(logged, batch, user=ADMIN)
    store.audit(logged, actor="system", action="upgrade", table="meta", old={"schema_version": 1},
                new={"schema_version": 2}, source="upgrade")
    store.audit(logged, actor="system", action="year_open", table="plan_years", record_id="2017",
                old={"plan_year": 2016}, new={"plan_year": 2017, "carried": 3, "targets": {"industrial_investment": "1"}},
                source="year open 2017")
    store.audit(logged, actor="system", action="delete", table="projects", record_id="X1",
                old={"name": "旧项目", "total_investment_wan": "5000.00"}, source="undo")
    store.audit(logged, actor="ops", action="insert", table="projects", record_id="X2",
                new={"name": "新项目", "unit_id": "QK"}, source="import:台账.xlsx")
    frame = auditview.audit_frame(logged, ADMIN)
    written = {r[0] for r in logged.execute("select distinct action from audit_log").fetchall()}
    assert written >= {"insert", "update", "delete", "init", "config", "upgrade", "year_open"}
    assert set(frame["操作"]) <= {"新增", "修改", "删除", "导入（新增）", "导入（修改）", "撤销", "初始化", "规则设置",
                                   "升级数据库", "开启年度"}
    assert set(frame["操作"]) >= {"撤销", "初始化", "规则设置", "升级数据库", "开启年度", "导入（新增）", "新增", "修改"}
    imported = frame.filter(pl.col("操作") == "导入（新增）").row(0, named=True)
    assert imported["来源"] == "导入 台账.xlsx"
    assert imported["变更内容"] == "项目名称：新项目\n责任单位：长春汽车经济技术开发区"
    deleted = frame.filter(pl.col("项目").str.starts_with("X1")).row(0, named=True)
    assert deleted["变更内容"].split("\n") == ["项目名称：旧项目 → —", "总投资：5,000.00 万元 → —"]
    opened = frame.filter(pl.col("操作") == "开启年度").row(0, named=True)
    assert opened["对象"] == "计划年度 2017"
    assert "计划年度：2016 → 2017" in opened["变更内容"].split("\n")


def test_no_cell_holds_json_or_none(logged: duckdb.DuckDBPyConnection) -> None:
    for lang in ("zh", "en"):
        frame = auditview.audit_frame(logged, ADMIN, lang=lang, limit=None)
        cells = [str(v) for row in frame.iter_rows() for v in row]
        assert all(v is not None for row in frame.iter_rows() for v in row)
        assert not any("{" in c or '"' in c for c in cells), [c for c in cells if "{" in c][:3]
        assert "None" not in cells and "null" not in " ".join(cells) and "" not in cells


def test_users_row_shows_role_and_yes_no(logged: duckdb.DuckDBPyConnection) -> None:
    row = auditview.audit_frame(logged, ADMIN, Filter(person=ADMIN.label)).filter(pl.col("对象") == "用户 zhang@gxj.cn")
    assert row["变更内容"][0].split("\n") == ["用户标识：zhang@gxj.cn", "姓名：张三", "角色：只读", "启用：是"]
    assert row["项目"][0] == "—"


def test_filters_select_by_person_project_batch_and_dates(logged: duckdb.DuckDBPyConnection) -> None:
    store.audit(logged, actor="张三<zhang@gxj.cn>", action="update", table="progress", record_id="CC2016-0002/2016-08",
                old={"completed_wan": "1.00"}, new={"completed_wan": "2.00"}, source="app", batch_id=999)
    logged.execute("update audit_log set \"at\" = timestamp '2026-01-15 09:00' where batch_id = 999")
    zhang = auditview.audit_frame(logged, ADMIN, Filter(person="张三<zhang@gxj.cn>"))
    assert zhang["操作人"].to_list() == ["张三<zhang@gxj.cn>"]
    assert zhang["对象"].to_list() == ["月度进度 2016-08"] and zhang["项目"][0].startswith("CC2016-0002 ")
    assert auditview.audit_frame(logged, ADMIN, Filter(batch=999)).height == 1
    assert auditview.audit_frame(logged, ADMIN, Filter(project="CC2016-0002"))["批次"].to_list() == ["999"]
    mine = auditview.audit_frame(logged, ADMIN, Filter(project=PID))
    assert mine.height == 2 and set(mine["项目"].str.slice(0, len(PID))) == {PID}
    jan = Filter(since=date(2026, 1, 15), until=date(2026, 1, 15))
    assert auditview.audit_count(logged, ADMIN, jan) == 1
    assert auditview.audit_count(logged, ADMIN, Filter(until=date(2026, 1, 14))) == 0
    today = Filter(since=date.today() - timedelta(days=1))
    assert auditview.audit_count(logged, ADMIN, today) == auditview.audit_count(logged, ADMIN) - 1
    assert "张三<zhang@gxj.cn>" in auditview.audit_people(logged, ADMIN)
    # paging: the second page starts where the first ended
    first = auditview.audit_frame(logged, ADMIN, limit=2)
    second = auditview.audit_frame(logged, ADMIN, limit=2, offset=2)
    assert pl.concat([first, second]).equals(auditview.audit_frame(logged, ADMIN, limit=4))


def test_whole_log_is_for_administrators_a_projects_history_for_whoever_sees_it(logged: duckdb.DuckDBPyConnection) -> None:
    with pytest.raises(access.PermissionDenied):
        auditview.audit_frame(logged, VIEWER)
    with pytest.raises(access.PermissionDenied):
        auditview.audit_frame(logged, VIEWER, Filter(project=PID, person=ADMIN.label))
    with pytest.raises(access.PermissionDenied):
        auditview.audit_xlsx(logged, VIEWER)
    with pytest.raises(access.PermissionDenied):
        auditview.audit_frame(logged, None, Filter(project=PID))
    mine = auditview.audit_frame(logged, VIEWER, Filter(project=PID))
    assert mine.height == 2 and "用户" not in " ".join(mine["对象"])


def test_hostile_values_are_rendered_inert(logged: duckdb.DuckDBPyConnection) -> None:
    store.audit(logged, actor="=HYPERLINK(\"x\")", action="update", table="progress", record_id=f"{PID}/2016-07",
                old={"problems": "正常"}, new={"problems": "第一行\r\n伪造行：0 → 1\x1b[31m\u202e"}, source="app")
    row = auditview.audit_frame(logged, ADMIN, limit=1).row(0, named=True)
    assert row["变更内容"].split("\n") == ["存在问题：正常 → 第一行 ↵ 伪造行：0 → 1\\x1b[31m\\u202e"]
    assert row["操作人"] == "=HYPERLINK(\"x\")"
    book = openpyxl.load_workbook(io.BytesIO(auditview.audit_xlsx(logged, ADMIN, Filter(project=PID))))
    sheet = book.active
    assert sheet is not None
    cells = [c for r in sheet.iter_rows() for c in r if c.value is not None]
    assert all(c.data_type == "s" for c in cells if str(c.value).startswith("="))
    assert any(c.value == "=HYPERLINK(\"x\")" for c in cells)  # shown as text, never run


def test_xlsx_has_a_title_row_chinese_headers_and_a_name_saying_what_it_holds(logged: duckdb.DuckDBPyConnection) -> None:
    chosen = Filter(project=PID)
    data = auditview.audit_xlsx(logged, ADMIN, chosen, now=datetime(2026, 11, 30, 9, 5))
    sheet = openpyxl.load_workbook(io.BytesIO(data)).active
    assert sheet is not None
    rows = [[c for c in r] for r in sheet.iter_rows(values_only=True)]
    assert rows[0][0] == f"修改记录 · 项目 {PID} · 共 2 条 · 导出于 2026-11-30 09:05"
    assert list(rows[2]) == ["时间", "操作", "项目", "对象", "变更内容", "操作人", "批次", "来源"]
    assert len(rows) == 3 + 2 and "None" not in {str(v) for r in rows[3:] for v in r}
    assert auditview.export_name(chosen) == f"修改记录_项目{PID}.xlsx"
    assert auditview.export_name(Filter(person="张三<zhang@gxj.cn>", since=date(2026, 11, 1), until=date(2026, 11, 30))) \
        == "审计日志_张三_2026-11-01至2026-11-30.xlsx"
    assert auditview.export_name(Filter(batch=5, person="a/b:c"), lang="en") == "audit-log_a-b-c_batch-5.xlsx"
    assert auditview.export_name(Filter(project=PID, since=date(2016, 9, 1)), lang="en") \
        == f"change-history_project-{PID}_2016-09-01_onwards.xlsx"


def test_export_is_capped_and_says_so(logged: duckdb.DuckDBPyConnection, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(auditview, "EXPORT_ROWS", 2)
    total = auditview.audit_count(logged, ADMIN)
    sheet = openpyxl.load_workbook(io.BytesIO(auditview.audit_xlsx(logged, ADMIN))).active
    assert sheet is not None
    rows = list(sheet.iter_rows(values_only=True))
    assert f"前 2 条，共 {total:,} 条" in str(rows[0][0]) and len(rows) == 3 + 2


def test_formatting_is_one_query_not_a_loop_per_row(logged: duckdb.DuckDBPyConnection) -> None:
    """Many rows come back formatted in one call; the per-field work is the DuckDB query's."""
    frame = pl.DataFrame({
        "actor": ["bulk"] * 5000, "action": ["update"] * 5000, "table_name": ["progress"] * 5000,
        "record_id": [f"{PID}/2016-{m:02d}" for m in [1] * 5000],
        "old_values": ['{"completed_wan": "1000.00"}'] * 5000,
        "new_values": [f'{{"completed_wan": "{i}.50"}}' for i in range(5000)], "source": ["app"] * 5000,
    })
    store.audit_frame(logged, frame, batch_id=4242)
    shown = auditview.audit_frame(logged, ADMIN, Filter(batch=4242), limit=None)
    assert shown.height == 5000
    assert shown["变更内容"][0] == "本月完成投资：1,000.00 万元 → 4,999.50 万元"
