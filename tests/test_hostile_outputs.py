"""Hostile output paths: no write ever lands on the database, the input or someone else's file."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from portfolio import files
from portfolio.cli import app

ROOT = Path(__file__).resolve().parents[1]
MESSY = ROOT / "tests" / "data" / "projects_messy.csv"  # has rejected rows, so a rejects file is written
runner = CliRunner()


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def _one_sentence_refusal(code: int, output: str) -> None:
    assert code == 2
    assert "Traceback" not in output
    assert output.count("错误") == 1


@pytest.fixture
def ledger(tmp_path: Path) -> Path:
    target = tmp_path / "ledger.csv"
    shutil.copy(MESSY, target)
    return target


@pytest.mark.parametrize("what", ["database", "wal", "symlink", "hardlink"])
def test_ingest_refuses_rejects_over_the_database_and_leaves_it_byte_identical(
        sample_db: Path, ledger: Path, tmp_path: Path, what: str) -> None:
    target = {"database": sample_db, "wal": sample_db.with_name(sample_db.name + ".wal"),
              "symlink": tmp_path / "link.csv", "hardlink": tmp_path / "hard.csv"}[what]
    if what == "symlink":
        target.symlink_to(sample_db)
    if what == "hardlink":
        os.link(sample_db, target)
    before = _sha(sample_db)
    code, output = _run("ingest", str(ledger), "--rejects", str(target), "--db", str(sample_db))
    _one_sentence_refusal(code, output)
    assert "数据库" in output
    assert _sha(sample_db) == before
    assert not sample_db.with_name(sample_db.name + ".wal").exists()


def test_ingest_refuses_rejects_over_the_ledger_being_read(sample_db: Path, ledger: Path) -> None:
    before, db_before = _sha(ledger), _sha(sample_db)
    code, output = _run("ingest", str(ledger), "--rejects", str(ledger), "--db", str(sample_db))
    _one_sentence_refusal(code, output)
    assert "正在读取" in output
    assert (_sha(ledger), _sha(sample_db)) == (before, db_before)


def test_ingest_refuses_rejects_over_a_file_the_tool_did_not_write(sample_db: Path, ledger: Path,
                                                                   tmp_path: Path) -> None:
    theirs = tmp_path / "notes.csv"
    theirs.write_text("someone's own notes\n", encoding="utf-8")
    code, output = _run("ingest", str(ledger), "--rejects", str(theirs), "--db", str(sample_db))
    _one_sentence_refusal(code, output)
    assert theirs.read_text(encoding="utf-8") == "someone's own notes\n"


def test_the_default_rejects_file_is_replaced_on_the_next_import_but_a_foreign_one_is_not(
        sample_db: Path, ledger: Path) -> None:
    default = ledger.with_name("ledger.rejects.csv")
    assert _run("ingest", str(ledger), "--db", str(sample_db))[0] == 0
    first = default.read_bytes()
    assert _run("ingest", str(ledger), "--db", str(sample_db))[0] == 0
    assert default.read_bytes() == first  # replaced by the same content: it was ours
    default.write_text("edited by a person\n", encoding="utf-8")
    code, output = _run("ingest", str(ledger), "--db", str(sample_db))
    assert code == 0
    assert default.read_text(encoding="utf-8") == "edited by a person\n"
    assert ledger.with_name("ledger.rejects-2.csv").exists()
    assert "ledger.rejects-2.csv" in output


def test_template_refuses_the_database_and_replaces_its_own_file(sample_db: Path, tmp_path: Path) -> None:
    before = _sha(sample_db)
    code, output = _run("template", "projects", "--out", str(sample_db), "--db", str(sample_db))
    _one_sentence_refusal(code, output)
    assert _sha(sample_db) == before
    target = tmp_path / "t.xlsx"
    assert _run("template", "projects", "--out", str(target))[0] == 0
    assert _run("template", "projects", "--out", str(target))[0] == 0


def test_report_writes_nothing_when_one_of_its_files_belongs_to_someone_else(
        sample_db: Path, tmp_path: Path) -> None:
    out = tmp_path / "reports"
    out.mkdir()
    theirs = out / "portfolio-report-2016-09.md"
    theirs.write_text("mine\n", encoding="utf-8")
    code, output = _run("report", "--out", str(out), "--db", str(sample_db))
    _one_sentence_refusal(code, output)
    assert sorted(p.name for p in out.iterdir()) == ["portfolio-report-2016-09.md"]
    assert theirs.read_text(encoding="utf-8") == "mine\n"


def test_report_replaces_its_own_files_and_recognises_reports_of_earlier_versions(
        sample_db: Path, tmp_path: Path) -> None:
    out = tmp_path / "reports"
    assert _run("report", "--out", str(out), "--format", "md,html", "--db", str(sample_db))[0] == 0
    assert _run("report", "--out", str(out), "--format", "md,html", "--db", str(sample_db))[0] == 0
    (out / files.MANIFEST).unlink()  # as an earlier version left the folder: snapshot, no manifest
    assert _run("report", "--out", str(out), "--format", "md", "--db", str(sample_db))[0] == 0


def test_check_output_refuses_directories_and_any_duckdb_file(sample_db: Path, tmp_path: Path) -> None:
    with pytest.raises(files.UnsafeOutput, match="文件夹"):
        files.check_output(tmp_path, kind="rejects")
    other = tmp_path / "other.csv"  # a database with a misleading name, not the one in use
    shutil.copy(sample_db, other)
    with pytest.raises(files.UnsafeOutput, match="DuckDB"):
        files.check_output(other, kind="rejects", db=tmp_path / "in-use.duckdb")


def test_atomic_keeps_the_old_file_when_the_writer_fails(tmp_path: Path) -> None:
    target = tmp_path / "out.md"
    files.write_output(target, "old\n", kind="report")
    with pytest.raises(RuntimeError), files.atomic(target, kind="report") as tmp:
        tmp.write_text("half", encoding="utf-8")
        raise RuntimeError("disk full")
    assert target.read_text(encoding="utf-8") == "old\n"
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_kill_during_report_leaves_whole_files_or_none_and_the_next_run_cleans_up(
        sample_db: Path, tmp_path: Path) -> None:
    out = tmp_path / "reports"
    proc = subprocess.Popen(
        [sys.executable, "-m", "portfolio.cli", "report", "--out", str(out), "--db", str(sample_db)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT, text=True)
    assert proc.stderr is not None
    for line in proc.stderr:  # kill while the first file is being rendered
        if "HTML" in line:
            break
    time.sleep(0.3)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=120)
    for written in out.glob("portfolio-report-*"):
        if written.suffix == ".html":
            assert written.read_text(encoding="utf-8").rstrip().endswith("</html>")
    # every leftover is a hidden temporary file; the next run completes and removes them
    assert all(p.name.startswith(".") for p in out.iterdir() if p.is_file())
    assert _run("report", "--out", str(out), "--db", str(sample_db))[0] == 0
    assert [p.name for p in out.iterdir() if p.name.endswith(".tmp")] == []
    assert (out / "portfolio-report-2016-09.html").read_text(encoding="utf-8").rstrip().endswith("</html>")
