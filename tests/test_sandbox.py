"""The ad-hoc SQL console: one read-only query, refused politely otherwise, changing nothing."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import threading
from decimal import Decimal
from pathlib import Path

import duckdb
import polars as pl
import pytest
from polars.testing import assert_frame_equal
from rich.console import Console
from typer.testing import CliRunner

from portfolio import cli, console, sandbox, store

SECRET = "secret.csv"
#: A query no machine finishes (10^13 rows, filtered so no shortcut applies); a bare
#: ``count(*) from range(10000000000)`` is answered in about a second, so it is no runaway.
RUNAWAY = "select count(*) from range(10000000000000) a where a.range % 7 = 3"


@pytest.fixture
def db(empty_db: Path) -> Path:
    """The reference database with a readable CSV file beside it (a tempting target)."""
    (empty_db.parent / SECRET).write_text("a,b\n1,2\n", encoding="utf-8")
    return empty_db


def _state(db: Path) -> dict[str, object]:
    """Everything a refused statement must leave alone: the folder's files and every table."""
    files = {p.name: (p.stat().st_size, p.stat().st_mtime_ns, hashlib.sha256(p.read_bytes()).hexdigest())
             for p in sorted(db.parent.rglob("*")) if p.is_file()}
    dirs = sorted(str(p.relative_to(db.parent)) for p in db.parent.rglob("*") if p.is_dir())
    con = duckdb.connect(str(db), read_only=True)
    try:
        tables = [r[0] for r in con.execute(
            "select table_name from duckdb_tables() order by table_name").fetchall()]
        sums = {t: con.execute(f"select count(*), bit_xor(hash(x)) from {t} x").fetchall()[0]
                for t in tables}
        views = con.execute("select view_name, sql from duckdb_views() where not internal"
                            " order by view_name").fetchall()
    finally:
        con.close()
    return {"files": files, "dirs": dirs, "tables": sums, "views": views}


# (statement, reason); {dir} is the database's folder, which holds secret.csv.
REFUSALS: list[tuple[str, str]] = [
    ("create table x (i integer)", "ddl"),
    ("create temp table x as select 1 as i", "ddl"),
    ("create or replace view units as select 1 as i", "ddl"),
    ("create macro twice(a) as a * 2", "ddl"),
    ("create secret s (type s3, key_id 'k', secret 's')", "ddl"),
    ("drop table progress", "ddl"),
    ("alter table projects add column x integer", "ddl"),
    ("comment on table projects is '改了'", "ddl"),
    ("insert into units values ('X', 'x', 'x', '县域', [])", "dml"),
    ("update targets set value_wan = 0", "dml"),
    ("delete from chain_edges", "dml"),
    ("truncate audit_log", "dml"),
    ("with t as (select 1) insert into meta select 'k', 'v'", "dml"),
    ("merge into meta using (select 'k' as key) s on (meta.key = s.key) when matched then delete", "dml"),
    ("explain analyze delete from chain_edges", "dml"),
    ("copy units to '{dir}/units.csv'", "copy"),
    ("copy (select * from projects) to '{dir}/p.parquet' (format parquet)", "copy"),
    ("copy units from '{dir}/" + SECRET + "'", "copy"),
    ("export database '{dir}/export'", "export"),
    ("import database '{dir}/export'", "export"),
    ("attach '{dir}/other.duckdb' as other", "attach"),
    ("attach ':memory:' as mem", "attach"),
    ("detach database portfolio", "attach"),
    ("install httpfs", "extension"),
    ("load httpfs", "extension"),
    ("force install json", "extension"),
    ("set threads = 8", "setting"),
    ("set enable_external_access = true", "setting"),
    ("reset memory_limit", "setting"),
    ("set variable x = 1", "setting"),
    ("use memory", "setting"),
    ("pragma threads = 8", "setting"),
    ("pragma enable_profiling", "setting"),
    ("set profiling_output = '{dir}/profile.json'", "setting"),
    ("call pragma_version()", "call"),
    ("checkpoint", "checkpoint"),
    ("force checkpoint", "checkpoint"),
    ("call checkpoint()", "checkpoint"),
    ("vacuum", "maintenance"),
    ("analyze", "maintenance"),
    ("begin transaction", "transaction"),
    ("commit", "transaction"),
    ("prepare p as select 1", "prepare"),
    ("execute p", "prepare"),
    ("select * from read_csv('{dir}/" + SECRET + "')", "file_access"),
    ("select * from read_csv_auto('{dir}/" + SECRET + "')", "file_access"),
    ("select * from read_parquet('{dir}/*.parquet')", "file_access"),
    ("select * from parquet_scan('{dir}/x.parquet')", "file_access"),
    ("select * from read_json('{dir}/" + SECRET + "')", "file_access"),
    ("select * from read_json_auto('{dir}/" + SECRET + "')", "file_access"),
    ("select * from read_text('{dir}/" + SECRET + "')", "file_access"),
    ("select * from read_blob('{dir}/" + SECRET + "')", "file_access"),
    ("select * from glob('{dir}/*')", "file_access"),
    ("select * from sniff_csv('{dir}/" + SECRET + "')", "file_access"),
    ("select * from '{dir}/" + SECRET + "'", "file_access"),
    ("from '{dir}/" + SECRET + "'", "file_access"),
    ("select count(*) from units where exists (select * from read_text('{dir}/" + SECRET + "'))",
     "file_access"),
    ("with f as (select * from glob('{dir}/*')) select * from f", "file_access"),
    # not visible to the pre-check: the engine itself refuses
    ("select * from query('select * from read_text(''{dir}/" + SECRET + "'')')", "file_access"),
    ("summarize select * from read_csv('{dir}/" + SECRET + "')", "file_access"),
    ("show '{dir}/" + SECRET + "'", "file_access"),
    ("pivot read_csv('{dir}/" + SECRET + "') on a", "file_access"),
    ("describe from read_csv('{dir}/" + SECRET + "')", "file_access"),
    ("select 1; select 2", "multiple_statements"),
    ("select 1; drop table projects", "multiple_statements"),
    ("", "empty"),
    ("-- 只有注释\n", "empty"),
    ("update extensions", "not_allowed"),
]


@pytest.mark.parametrize(("template", "reason"), REFUSALS, ids=[r[0][:40] for r in REFUSALS])
def test_the_console_refuses_and_changes_nothing(db: Path, template: str, reason: str) -> None:
    statement = template.format(dir=db.parent)
    before = _state(db)
    with pytest.raises(sandbox.QueryRefused) as refused:
        sandbox.run_query(db, statement, timeout=10)
    assert refused.value.reason == reason
    message = str(refused.value)
    assert "\n" not in message and any("\u4e00" <= ch <= "\u9fff" for ch in message)
    assert _state(db) == before


@pytest.mark.parametrize(("template", "reason"), REFUSALS, ids=[r[0][:40] for r in REFUSALS])
def test_the_engine_alone_changes_nothing_even_without_the_pre_check(
    db: Path, template: str, reason: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The friendly pre-check is a courtesy; read-only + no external access + locked settings guard."""
    monkeypatch.setattr(sandbox.guard, "_check_statement", lambda parser, stmt: None)
    statement = template.format(dir=db.parent)
    before = _state(db)
    with contextlib.suppress(sandbox.QueryRefused):
        sandbox.run_query(db, statement, timeout=10)
    assert _state(db) == before


def test_a_sandbox_connection_is_read_only_without_external_access_and_locked(db: Path) -> None:
    with sandbox.sandbox_connection(db) as con:
        settings = dict(con.execute(
            "select name, value from duckdb_settings() where name in ('access_mode',"
            " 'enable_external_access', 'autoload_known_extensions', 'autoinstall_known_extensions',"
            " 'python_enable_replacements', 'lock_configuration', 'threads', 'temp_directory')"
        ).fetchall())
    assert settings == {
        "access_mode": "read_only", "enable_external_access": "false",
        "autoload_known_extensions": "false", "autoinstall_known_extensions": "false",
        "python_enable_replacements": "false", "lock_configuration": "true",
        "threads": str(sandbox.THREADS), "temp_directory": "",
    }


def test_running_queries_leaves_the_database_file_byte_for_byte_unchanged(db: Path) -> None:
    before = _state(db)
    sandbox.run_query(db, "select * from projects")
    sandbox.run_query(db, "summarize units")
    sandbox.run_query(db, "explain analyze select count(*) from chain_nodes")
    assert _state(db) == before


def test_python_variables_are_not_readable_from_the_console(db: Path) -> None:
    hidden_frame = pl.DataFrame({"secret": [1]})  # noqa: F841 - the query names it
    with pytest.raises(sandbox.QueryError) as failed:
        sandbox.run_query(db, "select * from hidden_frame")
    assert failed.value.reason == "sql_error"
    assert "hidden_frame" in str(failed.value)


@pytest.mark.parametrize(
    "statement",
    [
        "select unit_id, name from units order by unit_id",
        "with u as (select * from units) select unit_id, name from u order by unit_id",
        "from units select unit_id, name order by unit_id",
        "  -- 注释\n  SELECT unit_id, name FROM units ORDER BY unit_id;  ",
        "(select unit_id, name from units) order by unit_id",
    ],
)
def test_ordinary_queries_return_the_rows(db: Path, statement: str) -> None:
    result = sandbox.run_query(db, statement)
    with duckdb.connect(str(db), read_only=True) as con:
        expected = con.sql("select unit_id, name from units order by unit_id").pl()
    assert_frame_equal(result.frame, expected)
    assert result.truncated is False
    assert result.elapsed_s > 0


@pytest.mark.parametrize(
    ("statement", "columns"),
    [
        ("describe projects", ["column_name", "column_type"]),
        ("show tables", ["name"]),
        ("summarize units", ["column_name", "column_type", "min", "max"]),
        ("explain select * from units", ["explain_key", "explain_value"]),
        ("pragma table_info('units')", ["cid", "name", "type"]),
        ("pragma version", ["library_version"]),
        ("pivot (select kind from units) on kind using count(*)", ["主城区", "县域", "国家级开发区"]),
        ("select * from duckdb_columns() where table_name = 'units'", ["comment", "data_type"]),
    ],
)
def test_read_only_helpers_are_allowed(db: Path, statement: str, columns: list[str]) -> None:
    result = sandbox.run_query(db, statement)
    assert set(columns) <= set(result.frame.columns)
    assert result.frame.height >= 1


def _stopped_by_the_timer(db: Path, statement: str, timeout: float) -> sandbox.QueryTimeout:
    """Run a runaway query in a thread; the timer must stop it (60 s is only a safety net)."""
    caught: list[BaseException] = []

    def run() -> None:
        try:
            sandbox.run_query(db, statement, timeout=timeout)
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            caught.append(exc)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(60)
    assert not worker.is_alive(), "the query was never interrupted"
    assert len(caught) == 1 and isinstance(caught[0], sandbox.QueryTimeout), caught
    return caught[0]


def test_a_runaway_query_is_interrupted_on_its_own_connection(db: Path) -> None:
    stopped = _stopped_by_the_timer(db, RUNAWAY, timeout=1.0)
    assert stopped.reason == "timeout"
    assert "1 秒" in str(stopped)
    assert isinstance(stopped.__cause__, duckdb.InterruptException)  # the engine was interrupted
    # the next query runs normally
    assert sandbox.run_query(db, "select 42 as answer").frame["answer"].to_list() == [42]


def test_a_runaway_cross_join_is_interrupted(db: Path) -> None:
    stopped = _stopped_by_the_timer(
        db, "select sum(a.range * b.range) from range(200000) a, range(200000) b", timeout=1.0)
    assert stopped.reason == "timeout"


def test_a_timeout_while_csv_is_being_streamed_stops_the_stream(db: Path) -> None:
    out = io.StringIO()
    with pytest.raises(sandbox.QueryTimeout):
        sandbox.stream_query(db, RUNAWAY, out, fmt="csv", timeout=0.5)
    assert out.getvalue() == "count_star()\n"  # the header, then nothing: the count never finished


@pytest.mark.parametrize(("max_rows", "rows", "truncated"), [(10, 10, True), (25, 25, False),
                                                             (30, 25, False), (0, 0, True)])
def test_the_row_cap_keeps_at_most_max_rows_and_says_so(
    db: Path, max_rows: int, rows: int, truncated: bool
) -> None:
    result = sandbox.run_query(db, "select range as i from range(25) order by i", max_rows=max_rows)
    assert result.frame.height == rows
    assert result.frame["i"].to_list() == list(range(rows))
    assert result.truncated is truncated


def test_a_huge_result_is_streamed_only_up_to_the_cap(db: Path) -> None:
    # fetching every row would take hours and end in QueryTimeout; the cap stops the fetch
    result = sandbox.run_query(db, "select range as i from range(10000000000)", max_rows=5, timeout=60)
    assert result.frame.height == 5 and result.truncated and result.truncated_by == "rows"
    out = io.StringIO()
    written = sandbox.stream_query(db, "select range as i from range(10000000000)", out, fmt="json",
                                   max_rows=5, timeout=60)
    assert written.rows == 5 and written.truncated_by == "rows"
    assert json.loads(out.getvalue()) == [{"i": i} for i in range(5)]


def test_bad_options_are_refused(db: Path) -> None:
    with pytest.raises(sandbox.QueryRefused) as refused:
        sandbox.run_query(db, "select 1", timeout=0)
    assert refused.value.reason == "bad_option"
    with pytest.raises(sandbox.QueryRefused):
        sandbox.run_query(db, "select 1", max_rows=-1)


def test_engine_errors_become_one_clear_sentence(db: Path) -> None:
    with pytest.raises(sandbox.QueryError) as failed:
        sandbox.run_query(db, "select no_such_column from units")
    assert failed.value.reason == "sql_error"
    assert str(failed.value).startswith("SQL 执行出错：") and "\n" not in str(failed.value)
    with pytest.raises(sandbox.QueryError) as bad:
        sandbox.run_query(db, "selec 1")
    assert bad.value.reason == "syntax"


def test_a_missing_database_is_a_store_error(tmp_path: Path) -> None:
    with pytest.raises(store.DatabaseMissing):
        sandbox.run_query(tmp_path / "nope.duckdb", "select 1")
    assert list(tmp_path.iterdir()) == []


def test_repeated_column_names_and_exotic_types_still_come_back(db: Path) -> None:
    result = sandbox.run_query(
        db, "select 1 as a, 2 as a, interval 1 day as iv,"
            " union_value(n := 1)::union(n integer, s varchar) as u")
    assert result.frame.columns == ["a", "a_2", "iv", "u"]
    assert result.frame.row(0) == (1, 2, "1 day", "1")


# --- output ----------------------------------------------------------------------------------


def _money(db: Path) -> sandbox.QueryResult:
    return sandbox.run_query(
        db, "select metric, value_wan, growth_pct, year, label, [1, 2] as l"
            " from targets where scope = 'city' order by metric")


def test_json_output_is_an_array_of_row_objects_with_exact_decimal_numbers(db: Path) -> None:
    out = io.StringIO()
    console.print_result(_money(db), Console(file=out, width=40), fmt="json")
    text = out.getvalue()
    rows = json.loads(text, parse_float=Decimal)
    assert isinstance(rows, list) and len(rows) == 3
    first = {r["metric"]: r for r in rows}["industrial_investment"]
    assert first["value_wan"] == Decimal("23520000.00")
    assert first["growth_pct"] == Decimal("12.00")
    assert first["label"] == "工业投资" and first["l"] == [1, 2] and first["year"] == 2016
    assert '"value_wan": 23520000.00' in text


def test_csv_output_has_a_header_and_exact_amounts(db: Path) -> None:
    out = io.StringIO()
    console.print_result(_money(db), Console(file=out, width=40), fmt="csv")
    lines = out.getvalue().splitlines()
    assert lines[0] == "metric,value_wan,growth_pct,year,label,l"
    assert "industrial_investment,23520000.00,12.00,2016,工业投资,\"[1, 2]\"" in lines


def test_csv_keeps_tabs_markup_and_long_lines_intact(db: Path) -> None:
    out = io.StringIO()
    result = sandbox.run_query(db, "select 'a' || chr(9) || 'b' as t, '[red]x[/red]' as m, repeat('长', 300) as l")
    console.print_result(result, Console(file=out, width=20), fmt="csv")
    assert out.getvalue() == "t,m,l\na\tb,[red]x[/red]," + "长" * 300 + "\n"


def test_table_output_ends_with_a_row_count_and_a_truncation_notice(db: Path) -> None:
    screen = Console(record=True, width=200)
    result = sandbox.run_query(db, "select unit_id as 单位编号, name as 单位 from units", max_rows=3)
    console.print_result(result, screen, fmt="table")
    text = screen.export_text()
    assert "单位编号" in text and "长春经济技术开发区" in text
    assert "显示前 3 行，共" in text and "用时" in text


def test_a_long_table_lists_only_the_first_rows_and_says_so(db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(console, "TABLE_MAX_ROWS", 5)
    screen = Console(record=True, width=200)
    result = sandbox.run_query(db, "select range as i from range(12)")
    console.print_result(result, screen, fmt="table")
    text = screen.export_text()
    assert "12 行" in text and "表格只列出前 5 行" in text
    assert [line.strip("│ ") for line in text.splitlines() if line.startswith("│")] == ["0", "1", "2", "3", "4"]


def test_truncated_csv_keeps_the_notice_off_stdout(db: Path) -> None:
    out = io.StringIO()
    notes = Console(record=True, width=200)
    result = sandbox.run_query(db, "select unit_id from units order by unit_id", max_rows=2)
    console.print_result(result, Console(file=out), fmt="csv", notices=notes)
    assert out.getvalue().splitlines() == ["unit_id", "CY", "DH"]
    assert "显示前 2 行，共" in notes.export_text()


# --- schema browser and examples -------------------------------------------------------------


def test_the_schema_browser_lists_tables_and_views_with_chinese_comments(db: Path) -> None:
    frame = sandbox.schema_browser(db)
    with duckdb.connect(str(db), read_only=True) as con:
        expected = con.execute(
            "select count(*) from duckdb_columns() where schema_name = 'main' and not internal"
        ).fetchall()[0][0]
    assert frame.height == expected
    row = frame.filter((pl.col("object_name") == "projects") & (pl.col("column_name") == "total_investment_wan"))
    assert row.select("object_type", "object_comment", "data_type", "column_comment").row(0) == (
        "table", store.COMMENTS["projects"][0], "DECIMAL(18,2)", "总投资（万元）")


def test_example_queries_carry_a_title_and_a_single_statement() -> None:
    examples = sandbox.example_queries()
    assert 8 <= len(examples) <= 12
    for example in examples:
        assert example["title"] and not example["title"].startswith("-")
        assert any("\u4e00" <= ch <= "\u9fff" for ch in example["title"])
        sandbox.check_query(example["sql"])


def test_every_example_query_runs_on_the_sample_plan(sample_db_template: Path) -> None:
    runner = CliRunner()
    for example in sandbox.example_queries():
        path = sandbox.queries_dir() / f"{example['name']}.sql"
        result = runner.invoke(cli.app, ["sql", "-f", str(path), "--format", "json",
                                         "--db", str(sample_db_template)])
        assert result.exit_code == 0, (example["name"], result.output)
        rows = json.loads(result.stdout)
        assert rows, f"{example['name']} returned no rows on the sample plan"


# --- command line ----------------------------------------------------------------------------


def test_cli_refusal_exits_2_with_one_line_on_stderr(db: Path) -> None:
    before = _state(db)
    result = CliRunner().invoke(cli.app, ["sql", "drop table projects", "--db", str(db)])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1
    assert "只读" in result.stderr
    assert _state(db) == before


def test_cli_json_format_gives_an_array_of_objects(db: Path) -> None:
    result = CliRunner().invoke(cli.app, ["sql", "select unit_id, kind from units order by unit_id",
                                          "--format", "json", "--db", str(db)])
    assert result.exit_code == 0
    rows = json.loads(result.stdout)
    assert rows[0] == {"unit_id": "CY", "kind": "主城区"} and len(rows) == 14


def test_cli_reads_the_query_from_a_file(db: Path, tmp_path: Path) -> None:
    query = tmp_path / "q.sql"
    query.write_text("-- 各类单位数\nselect kind, count(*) as n from units group by kind order by kind\n",
                     encoding="utf-8")
    result = CliRunner().invoke(cli.app, ["sql", "-f", str(query), "--format", "csv", "--db", str(db)])
    assert result.exit_code == 0
    assert result.stdout.splitlines() == ["kind,n", "主城区,5", "县域,5", "国家级开发区,4"]


def test_cli_timeout_exits_2(db: Path) -> None:
    result = CliRunner().invoke(cli.app, ["sql", RUNAWAY,
                                          "--timeout", "0.5", "--db", str(db)])
    assert result.exit_code == 2
    assert "超过 0.5 秒" in result.stderr
