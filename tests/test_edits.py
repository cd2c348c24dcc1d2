"""Editing a project and entering progress through the app's forms: validation, locking, access."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from portfolio import access, edits, store

BUREAU = access.User("b@gxj.cn", "bureau", name="王科长")


@pytest.fixture
def project(sample_db: Path) -> dict:
    with store.connect(sample_db, read_only=True) as con:
        row = edits.get_project(con, "CC2016-0001")
    assert row is not None
    return row


def test_an_edit_reaches_the_database_bumps_the_version_and_is_audited(sample_db: Path, project: dict) -> None:
    new_plan = project["annual_plan_wan"] - Decimal("100.50")
    with store.connect(sample_db) as con:
        version = edits.update_project(con, "CC2016-0001", {"annual_plan_wan": new_plan, "note": "调整计划"},
                                       expected_version=project["version"], user=BUREAU)
        row = edits.get_project(con, "CC2016-0001")
        log = store.fetch(con, "select actor, action, old_values->>'annual_plan_wan' as old,"
                               " new_values->>'annual_plan_wan' as new from audit_log"
                               " where table_name = 'projects' and record_id = 'CC2016-0001'")
    assert version == project["version"] + 1
    assert row is not None and row["annual_plan_wan"] == new_plan and row["version"] == version
    assert row["updated_by"] == BUREAU.label
    assert log.rows() == [(BUREAU.label, "update", str(project["annual_plan_wan"]), str(new_plan))]


def test_a_stale_edit_is_refused_and_the_other_change_survives(sample_db: Path, project: dict) -> None:
    with store.connect(sample_db) as con:
        edits.update_project(con, "CC2016-0001", {"note": "第一人"}, expected_version=project["version"], user=BUREAU)
        with pytest.raises(edits.StaleEdit, match="刷新"):
            edits.update_project(con, "CC2016-0001", {"note": "第二人"},
                                 expected_version=project["version"], user=BUREAU)
        row = edits.get_project(con, "CC2016-0001")
    assert row is not None and row["note"] == "第一人"


def test_the_form_uses_the_import_validation(sample_db: Path, project: dict) -> None:
    with store.connect(sample_db) as con:
        with pytest.raises(edits.EditRefused, match="年度计划投资") as info:
            edits.update_project(con, "CC2016-0001",
                                 {"annual_plan_wan": project["total_investment_wan"] + 1},
                                 expected_version=project["version"], user=BUREAU)
        assert info.value.errors.height == 1
        with pytest.raises(edits.EditRefused, match="责任单位"):
            edits.update_project(con, "CC2016-0001", {"unit_id": "火星区"},
                                 expected_version=project["version"], user=BUREAU)
        row = edits.get_project(con, "CC2016-0001")
    assert row == project


def test_a_unit_user_may_not_edit_another_units_project_nor_move_one_away(sample_db: Path, project: dict) -> None:
    other = "JK" if project["unit_id"] != "JK" else "QK"
    outsider = access.User("o@x.cn", "unit", unit_id=other)
    insider = access.User("i@x.cn", "unit", unit_id=project["unit_id"])
    with store.connect(sample_db) as con:
        with pytest.raises(access.PermissionDenied):
            edits.update_project(con, "CC2016-0001", {"note": "x"}, expected_version=project["version"],
                                 user=outsider)
        with pytest.raises(access.PermissionDenied):
            edits.update_project(con, "CC2016-0001", {"unit_id": other}, expected_version=project["version"],
                                 user=insider)
        edits.update_project(con, "CC2016-0001", {"note": "本单位修改"}, expected_version=project["version"],
                             user=insider)
        row = edits.get_project(con, "CC2016-0001")
    assert row is not None and row["note"] == "本单位修改" and row["unit_id"] == project["unit_id"]


def test_a_viewer_changes_nothing(sample_db: Path, project: dict) -> None:
    viewer = access.User("v@x.cn", "viewer")
    with store.connect(sample_db) as con:
        with pytest.raises(access.PermissionDenied):
            edits.update_project(con, "CC2016-0001", {"note": "x"}, expected_version=project["version"], user=viewer)
        with pytest.raises(access.PermissionDenied):
            edits.record_progress(con, {"project_id": "CC2016-0001", "month": "2016-10", "completed_wan": 1},
                                  user=viewer)


def test_progress_entry_inserts_then_updates_then_is_unchanged(sample_db: Path) -> None:
    record = {"project_id": "CC2016-0001", "month": "2016年10月", "completed_wan": "1.2亿",
              "physical_pct": "65%", "problems": "设备到货延迟", "problem_level": "局级"}
    with store.connect(sample_db) as con:
        assert edits.record_progress(con, record, user=BUREAU) == "inserted"
        assert edits.record_progress(con, record | {"completed_wan": "13000"}, user=BUREAU) == "updated"
        assert edits.record_progress(con, record | {"completed_wan": "13000"}, user=BUREAU) == "unchanged"
        row = con.execute("select completed_wan, physical_pct, problems from progress"
                          " where project_id = 'CC2016-0001' and month = date '2016-10-01'").fetchall()
        history = edits.project_history(con, "CC2016-0001")
    assert row == [(Decimal("13000.00"), Decimal("65.00"), "设备到货延迟")]
    assert history["action"].to_list() == ["update", "insert"]


def test_bad_progress_is_refused_with_the_reason(sample_db: Path) -> None:
    with store.connect(sample_db) as con, pytest.raises(edits.EditRefused, match="形象进度"):
        edits.record_progress(con, {"project_id": "CC2016-0001", "month": "2016-10",
                                    "completed_wan": 5, "physical_pct": 140}, user=BUREAU)


def test_a_new_project_is_created_once(sample_db: Path) -> None:
    record = {"project_id": "NEW-1", "name": "新项目", "unit_id": "汽开区", "nature": "新建", "status": "谋划",
              "total_investment_wan": 5000, "annual_plan_wan": 0, "chain_id": "汽车", "node_id": "整车制造"}
    with store.connect(sample_db) as con:
        edits.create_project(con, record, user=BUREAU)
        with pytest.raises(edits.EditRefused, match="已存在"):
            edits.create_project(con, record, user=BUREAU)
        row = edits.get_project(con, "NEW-1")
    assert row is not None and (row["unit_id"], row["node_id"], row["version"]) == ("QK", "auto.vehicle", 1)


def test_existing_keys_match_every_key_column(sample_db: Path) -> None:
    rows = pl.DataFrame({"project_id": ["CC2016-0001", "CC2016-0001", "NOPE"],
                         "month": [date(2016, 1, 1), date(2030, 1, 1), date(2016, 1, 1)]})
    with store.connect(sample_db, read_only=True) as con:
        found = edits.existing_keys(con, "progress", rows)
        actuals = edits.existing_keys(con, "actuals", pl.DataFrame(
            {"month": [date(1990, 1, 1)], "metric": ["industrial_investment"]}))
    assert found.rows() == [("CC2016-0001", date(2016, 1, 1))]
    assert actuals.is_empty()


def test_the_name_lookups_follow_the_units_as_they_change(sample_db: Path, project: dict) -> None:
    """The form's unit, chain and segment lookups are kept between saves only while their tables are
    unchanged: an alias added (or a unit renamed) is known to the very next save."""
    with store.connect(sample_db) as con:
        with pytest.raises(edits.EditRefused, match="责任单位"):
            edits.update_project(con, "CC2016-0001", {"unit_id": "火星区"},
                                 expected_version=project["version"], user=BUREAU)
        unit = con.execute("select unit_id from units where unit_id <> ? order by 1 limit 1",
                           [project["unit_id"]]).fetchall()[0][0]
        con.execute("update units set aliases = list_append(coalesce(aliases, []), '火星区') where unit_id = ?",
                    [unit])
        version = edits.update_project(con, "CC2016-0001", {"unit_id": "火星区"},
                                       expected_version=project["version"], user=BUREAU)
        assert edits.get_project(con, "CC2016-0001")["unit_id"] == unit  # type: ignore[index]
        con.execute("update units set aliases = list_filter(aliases, lambda a: a <> '火星区') where unit_id = ?",
                    [unit])
        with pytest.raises(edits.EditRefused, match="责任单位"):
            edits.update_project(con, "CC2016-0001", {"unit_id": "火星区"}, expected_version=version, user=BUREAU)
