"""A result cut at the row or byte cap says how many rows the query has in all.

The sandbox counts the statement (``count(*)`` over the same relation, same connection, same
timer) only when it cut the result; a count that runs out of time gives the lower bound it knows
("共至少"). The rows and the CSV/JSON data are those of the cap either way; the note goes to
stderr on the command line.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from portfolio import console, sandbox, store, targets

#: Fetching its first rows is instant; counting it never ends (10^13 rows, filtered: no shortcut).
ENDLESS = "select a.range as i from range(10000000000000) a where a.range % 7 = 3"


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "portfolio.cli", *args], capture_output=True, text=True,
                          timeout=300)


def test_a_result_cut_at_the_row_cap_counts_every_row(empty_db: Path) -> None:
    result = sandbox.run_query(empty_db, "select range as i from range(25)", max_rows=10)
    assert result.frame["i"].to_list() == list(range(10))
    assert result.truncated_by == "rows" and result.total == 25 and result.total_exact


def test_a_whole_result_is_not_counted_again(empty_db: Path) -> None:
    result = sandbox.run_query(empty_db, "select range as i from range(25)", max_rows=25)
    assert not result.truncated and result.total_rows is None and result.total == 25


def test_a_result_cut_at_the_byte_cap_counts_every_row(empty_db: Path) -> None:
    result = sandbox.run_query(empty_db, "select repeat('x', 1000) as t from range(5000)", max_bytes=100_000)
    assert result.truncated_by == "bytes" and 0 < result.frame.height < 5000
    assert result.total == 5000 and result.total_exact


def test_a_count_that_runs_out_of_time_keeps_the_rows_and_gives_a_lower_bound(empty_db: Path) -> None:
    result = sandbox.run_query(empty_db, ENDLESS, max_rows=3, timeout=3)
    assert result.frame["i"].to_list() == [3, 10, 17]
    assert result.truncated and not result.total_exact and result.total >= 4
    screen = Console(record=True, width=300)
    console.print_result(result, screen, fmt="table")
    assert f"显示前 3 行，共至少 {result.total:,} 行" in screen.export_text()


def test_the_terminal_table_says_first_n_of_m(empty_db: Path) -> None:
    screen = Console(record=True, width=300)
    console.print_result(sandbox.run_query(empty_db, "select range as i from range(1234)", max_rows=100), screen)
    text = screen.export_text()
    assert "显示前 100 行，共 1,234 行（First 100 of 1,234 rows）" in text and "--max-rows" in text


def test_a_streamed_cut_counts_every_row_and_writes_only_the_capped_rows(empty_db: Path) -> None:
    out = io.BytesIO()
    written = sandbox.stream_query(empty_db, "select range as i from range(25)", out, fmt="csv", max_rows=10)
    assert out.getvalue().decode().splitlines() == ["i", *map(str, range(10))]
    assert written.total_rows == 25 and written.total_exact
    assert sandbox.stream_notice(written).startswith("显示前 10 行，共 25 行")


def test_a_streamed_count_out_of_time_says_at_least(empty_db: Path) -> None:
    written = sandbox.stream_query(empty_db, ENDLESS, io.BytesIO(), fmt="json", max_rows=3, timeout=3)
    assert written.rows == 3 and not written.total_exact
    assert "共至少" in sandbox.stream_notice(written)


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_portfolio_sql_notes_the_total_on_stderr_and_keeps_the_data_unchanged(empty_db: Path, fmt: str) -> None:
    proc = _cli("sql", "select range as i from range(25)", "--max-rows", "10", "--format", fmt, "--db", str(empty_db))
    assert proc.returncode == 0, proc.stderr
    if fmt == "csv":
        assert proc.stdout.splitlines() == ["i", *map(str, range(10))]
    else:
        assert json.loads(proc.stdout) == [{"i": i} for i in range(10)]
    assert "显示前 10 行，共 25 行" in proc.stderr and "显示前" not in proc.stdout


def test_portfolio_sql_table_says_first_n_of_m(empty_db: Path) -> None:
    proc = _cli("sql", "select range as i from range(25)", "--max-rows", "10", "--db", str(empty_db))
    assert proc.returncode == 0 and "显示前 10 行，共 25 行" in proc.stdout


def test_the_lagging_example_returns_every_lagging_project(sample_db: Path) -> None:
    example = next(e for e in sandbox.example_queries() if e["name"] == "02_lagging_projects")
    with store.connect(sample_db, read_only=True) as con:
        lagging = targets.check_report(con)["lagging_count"]
    assert lagging > 100  # the sample has more than the example's old silent limit
    whole = sandbox.run_query(sample_db, example["sql"])
    assert whole.frame.height == lagging and not whole.truncated
    capped = sandbox.run_query(sample_db, example["sql"], max_rows=100)
    assert capped.frame.height == 100 and capped.total == lagging and capped.total_exact
