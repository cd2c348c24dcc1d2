"""Hostile input to `imports` / `undo`: exit 2 with one sentence and the database untouched; any text undone exactly."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from portfolio import access, batches, edits, ingest, store

ADMIN = access.User("a@gxj.cn", "admin")


def digest(db: Path) -> str:
    return hashlib.sha256(db.read_bytes()).hexdigest()


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "portfolio.cli", *args], capture_output=True, text=True,
                          timeout=300)


@pytest.mark.parametrize("args", [
    ["undo", "--", "-1"], ["undo", "0"], ["undo", "99999999999999999999"], ["undo", "abc"],
    ["undo", "9223372036854775807"], ["undo", "1"],
    ["imports", "--limit", "0"], ["imports", "--limit", "99999999999999999999"],
], ids=lambda a: " ".join(a))
def test_bad_batch_numbers_and_limits_are_one_sentence_and_change_no_byte(sample_db: Path, args: list[str]) -> None:
    before = digest(sample_db)
    done = run_cli(*args[:1], "--db", str(sample_db), *args[1:])
    assert done.returncode == 2
    assert "Traceback" not in done.stderr and done.stderr.strip().count("\n") == 0
    assert done.stderr.startswith("错误")
    assert digest(sample_db) == before


def test_a_refused_undo_leaves_the_file_byte_identical(sample_db: Path, tmp_path: Path) -> None:
    ledger = tmp_path / "l.csv"
    ledger.write_text("项目编号,项目名称,责任单位,建设性质,项目状态,总投资(万元),备注\n"
                      "CC2016-0001,奥迪Q工厂,汽开区,新建,在建,1500000,导入\n", encoding="utf-8")
    result = ingest.ingest_file(sample_db, ledger)
    with store.connect(sample_db) as con:
        row = edits.get_project(con, "CC2016-0001")
        assert row is not None
        edits.update_project(con, "CC2016-0001", {"note": "[/red]\x1b[2J"}, expected_version=row["version"],
                             user=ADMIN)
        con.execute("checkpoint")
    before = digest(sample_db)
    done = run_cli("undo", str(result.batch), "--db", str(sample_db))
    assert done.returncode == 2 and "nothing undone" in done.stderr and "Traceback" not in done.stderr
    assert digest(sample_db) == before


TEXT = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), min_size=1, max_size=40)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(note=TEXT, leader=TEXT)
def test_any_text_is_undone_and_redone_exactly(empty_db: Path, note: str, leader: str) -> None:
    with store.connect(empty_db) as con:
        record = {"project_id": "H-1", "name": "甲", "unit_id": "QK", "nature": "新建", "status": "在建",
                  "total_investment_wan": 5000, "note": "原来的", "leader": None}
        if edits.get_project(con, "H-1") is None:
            edits.create_project(con, record, user=ADMIN)
        row = edits.get_project(con, "H-1")
        assert row is not None
        try:
            version = edits.update_project(con, "H-1", {"note": note, "leader": leader},
                                           expected_version=row["version"], user=ADMIN)
        except edits.EditRefused:
            return  # refused by validation: nothing to undo
        if version == row["version"]:
            return  # the same values again: no batch
        changed = edits.get_project(con, "H-1")
        batch = batches.list_batches(con, limit=1)["batch"][0]
        undone = batches.undo(con, batch, user=ADMIN)
        back = edits.get_project(con, "H-1")
        batches.undo(con, undone.batch, user=ADMIN)
        again = edits.get_project(con, "H-1")
    assert back is not None and changed is not None and again is not None
    assert (back["note"], back["leader"]) == (row["note"], row["leader"])
    assert (again["note"], again["leader"]) == (changed["note"], changed["leader"])
