"""Hostile output: user text is data, every engine value prints, options are checked, output is bounded.

Text that looks like rich markup (``[/red]``), escape sequences and direction overrides pass
through every command as data: shown literally, control characters written as visible
escapes, never a traceback after a committed write. Every DuckDB value renders in table, CSV
and JSON. Bad options and SQL files are one sentence and exit 2. CSV written for people
neutralises formula cells. CSV and JSON are streamed within a row and a byte cap.
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import duckdb
import polars as pl
import pytest
from typer.testing import CliRunner, Result

from portfolio import cli, export, sandbox, store

#: Markup that would close a style nobody opened (rich raised MarkupError), markup that would
#: vanish, a clear-screen escape, a bell and a right-to-left override.
HOSTILE = "[/red][bold]x\x1b[2J\x07\u202e[red]y[/red]"
#: How it must appear on a terminal: brackets kept, every control character a visible escape.
SHOWN = "[/red][bold]x\\x1b[2J\\x07\\u202e[red]y[/red]"
#: The importer drops C0/C1 control characters from every cell; the rest must survive as data.
IMPORTED = "[/red][bold]x[2J\u202e[red]y[/red]"
IMPORTED_SHOWN = "[/red][bold]x[2J\\u202e[red]y[/red]"
runner = CliRunner()


@pytest.fixture(autouse=True)
def _wide_consoles(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Wide consoles, so a table cell is never folded across lines in these assertions."""
    for console in (cli.out, cli.err):
        monkeypatch.setattr(console, "_width", 400)
    yield


def _invoke(*args: str) -> Result:
    return runner.invoke(cli.app, list(args))


def _shown_safely(result: Result, *, code: int | tuple[int, ...] = 0) -> str:
    """The command's whole output, after checking it ended as it should and leaked no control character."""
    codes = code if isinstance(code, tuple) else (code,)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code in codes, result.output
    text = result.stdout + result.stderr
    assert "Traceback" not in text
    leaked = [c for c in text if (ord(c) < 0x20 and c not in "\n") or 0x7F <= ord(c) < 0xA0 or c == "\u202e"]
    assert leaked == [], f"raw control characters reached the terminal: {leaked!r}"
    return text


# --- user text through the commands -----------------------------------------------------------


def _hostile_ledger(path: Path) -> None:
    """Two projects: one with a hostile name (imported), one with a hostile amount (rejected)."""
    path.write_text(
        "项目编号,项目名称,建设单位,责任单位,建设性质,项目状态,总投资(万元),年度计划投资(万元)\n"
        f"HX-0001,\"{HOSTILE}\",\"{HOSTILE}\",CY,新建,在建,5000,1000\n"
        f"HX-0002,正常名称,某公司,CY,新建,在建,\"{HOSTILE}\",1000\n",
        encoding="utf-8",
    )


def test_ingest_prints_a_hostile_name_and_value_literally_after_committing(empty_db: Path, tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.csv"
    _hostile_ledger(ledger)
    text = _shown_safely(_invoke("ingest", str(ledger), "--db", str(empty_db)))
    assert SHOWN in text or IMPORTED_SHOWN in text  # the rejected amount, in the errors table
    with store.connect(empty_db, read_only=True) as con:
        names = con.execute("select name, enterprise from projects where project_id = 'HX-0001'").fetchall()
    assert names in ([(HOSTILE, HOSTILE)], [(IMPORTED, IMPORTED)])  # stored as given (controls dropped)


def test_sql_shows_hostile_text_literally_in_a_table(empty_db: Path, tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.csv"
    _hostile_ledger(ledger)
    _shown_safely(_invoke("ingest", str(ledger), "--db", str(empty_db)))
    text = _shown_safely(_invoke("sql", "select name as \"[b]名称\x1b[0m\", enterprise from projects",
                                 "--db", str(empty_db)))
    assert text.count(SHOWN) == 2 or text.count(IMPORTED_SHOWN) == 2
    assert "[b]名称\\x1b[0m" in text


def test_user_add_and_list_show_a_hostile_user_id_literally(empty_db: Path) -> None:
    added = _shown_safely(_invoke("user", "add", HOSTILE, "--role", "viewer", "--name", HOSTILE,
                                  "--db", str(empty_db)))
    assert SHOWN in added
    listed = _shown_safely(_invoke("user", "list", "--db", str(empty_db)))
    assert listed.count(SHOWN) == 2
    as_json = _invoke("user", "list", "--json", "--db", str(empty_db))
    _shown_safely(as_json)  # ESC escaped by JSON itself, the bidi override as \u202e
    assert [u["user_id"] for u in json.loads(as_json.stdout)] == [HOSTILE]  # JSON keeps the data exact


def test_an_unknown_hostile_user_is_one_refusal_with_the_text_visible(empty_db: Path, tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.csv"
    _hostile_ledger(ledger)
    text = _shown_safely(_invoke("ingest", str(ledger), "--user", HOSTILE, "--db", str(empty_db)), code=2)
    assert SHOWN in text and "错误" in text
    assert len(text.strip().splitlines()) == 1


@pytest.fixture
def hostile_sample(sample_db: Path) -> Path:
    """The sample plan with every project name, enterprise and problem text made hostile."""
    with store.connect(sample_db) as con:
        con.execute("update projects set name = ? || project_id, enterprise = ?", [HOSTILE, HOSTILE])
        con.execute("update progress set problems = ? where problems is not null", [HOSTILE])
        con.execute("update enterprises set name = ? || enterprise_id", [HOSTILE])
    return sample_db


def test_check_shows_hostile_project_names_and_problems_literally(hostile_sample: Path) -> None:
    text = _shown_safely(_invoke("check", "--db", str(hostile_sample)), code=(0, 1))
    assert SHOWN in text and "滞后最多的项目" in text


def test_gaps_shows_hostile_project_names_literally(hostile_sample: Path) -> None:
    with store.connect(hostile_sample) as con:
        con.execute("update chains set name = ? || chain_id", [HOSTILE])
        con.execute("update chain_nodes set name = ? || node_id", [HOSTILE])
    text = _shown_safely(_invoke("gaps", "--db", str(hostile_sample)))
    assert SHOWN in text


def test_the_consoles_never_read_markup_or_emoji_codes() -> None:
    for console in (cli.out, cli.err):
        assert console._markup is False and console._emoji is False and console._highlight is False


def test_fail_writes_the_message_as_data(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(Exception):  # noqa: B017 - typer.Exit
        cli.fail(f"文件 {HOSTILE} 无法读取。")
    err = capsys.readouterr().err
    assert err.strip() == f"错误: 文件 {SHOWN} 无法读取。"


# --- every value the engine can produce --------------------------------------------------------

# (expression, its CSV / table text, its JSON value); JSON numbers compared exactly as Decimal.
VALUES: list[tuple[str, str, object]] = [
    ("'infinity'::date", "infinity", "infinity"),
    ("'-infinity'::date", "-infinity", "-infinity"),
    ("'-infinity'::timestamp", "-infinity", "-infinity"),
    ("'infinity'::timestamptz", "infinity", "infinity"),
    ("'infinity'::timestamp_s", "infinity", "infinity"),
    ("'-infinity'::timestamp_ms", "-infinity", "-infinity"),
    ("'infinity'::timestamp_ns", "infinity", "infinity"),
    ("'294247-01-10'::timestamp", "294247-01-10 00:00:00", "294247-01-10 00:00:00"),
    ("date '0000-01-01'", "0001-01-01 (BC)", "0001-01-01 (BC)"),
    ("'1000-01-01 (BC)'::date", "1000-01-01 (BC)", "1000-01-01 (BC)"),
    ("date '10000-01-01'", "10000-01-01", "10000-01-01"),
    ("date '2016-09-01'", "2016-09-01", "2016-09-01"),
    ("99999999999999999999999999.9999999999::decimal(38,10)", "99999999999999999999999999.9999999999",
     Decimal("99999999999999999999999999.9999999999")),
    ("(-99999999999999999999999999.9999999999)::decimal(38,10)", "-99999999999999999999999999.9999999999",
     Decimal("-99999999999999999999999999.9999999999")),
    ("170141183460469231731687303715884105727::hugeint", "170141183460469231731687303715884105727",
     170141183460469231731687303715884105727),
    ("(-170141183460469231731687303715884105727 - 1)::hugeint", "-170141183460469231731687303715884105728",
     -170141183460469231731687303715884105728),
    ("12345::hugeint", "12345", 12345),
    ("340282366920938463463374607431768211455::uhugeint", "340282366920938463463374607431768211455",
     340282366920938463463374607431768211455),
    ("18446744073709551615::ubigint", "18446744073709551615", 18446744073709551615),
    ("interval 1 year + interval 3 second - interval 2 day", "1 year -2 days 00:00:03",
     "1 year -2 days 00:00:03"),
    ("[1, null, 3]", "[1, null, 3]", [1, None, 3]),
    ("{'a': 1, 'b': [date '2016-01-01', 'infinity'::date]}", '{"a": 1, "b": ["2016-01-01", "infinity"]}',
     {"a": 1, "b": ["2016-01-01", "infinity"]}),
    ("map([1, 2], ['x', 'y'])", '{"1": "x", "2": "y"}', {"1": "x", "2": "y"}),
    ("union_value(s := 'q')::union(n integer, s varchar)", "q", "q"),
    ("[1.5, 'nan'::double]::double[2]", None, [Decimal("1.5"), None]),
    ("[interval 1 day]", '["1 day"]', ["1 day"]),
    ("[340282366920938463463374607431768211455::uhugeint]", "[340282366920938463463374607431768211455]",
     [340282366920938463463374607431768211455]),
    ("row(1, 'a')", '[1, "a"]', [1, "a"]),
    ("'\\xff\\xfe\\x00a'::blob", "\\xFF\\xFE\\x00a", "\\xFF\\xFE\\x00a"),
    ("'nan'::double", "nan", None),
    ("'-inf'::double", "-inf", None),
    ("'0101'::bit", "0101", "0101"),
    ("'00000000-0000-0000-0000-000000000001'::uuid", "00000000-0000-0000-0000-000000000001",
     "00000000-0000-0000-0000-000000000001"),
    ("'12:00:00+02'::timetz", "12:00:00+02", "12:00:00+02"),
    ("'a'::enum('a', 'b')", "a", "a"),
    ("'{\"k\": [1, 2]}'::json", None, {"k": [1, 2]}),
    ("null::date", "", None),
    ("true", "true", True),
    ("[[1, 2], [3]]", "[[1, 2], [3]]", [[1, 2], [3]]),
]


@pytest.mark.parametrize("fmt", ["table", "csv", "json"])
@pytest.mark.parametrize(("expr", "text", "value"), VALUES, ids=[v[0][:40] for v in VALUES])
def test_every_engine_value_prints_in_every_format(
    empty_db: Path, expr: str, text: str | None, value: object, fmt: str
) -> None:
    result = _invoke("sql", f"select {expr} as x", "--format", fmt, "--db", str(empty_db))
    output = _shown_safely(result)
    if fmt == "json":
        rows = json.loads(result.stdout, parse_float=Decimal)
        assert rows == [{"x": value}]
    elif fmt == "csv":
        assert list(csv.reader(io.StringIO(result.stdout)))[0] == ["x"]
        if text == "":  # NULL is an empty field
            assert result.stdout == "x\n\n"
        elif text is not None:
            assert list(csv.reader(io.StringIO(result.stdout)))[1:] == [[text]]
    elif text:
        assert text in output


def test_every_engine_value_comes_back_in_a_frame_for_the_app(empty_db: Path) -> None:
    columns = ", ".join(f"{expr} as c{i}" for i, (expr, _, _) in enumerate(VALUES))
    result = sandbox.run_query(empty_db, f"select {columns}")
    assert result.frame.width == len(VALUES)
    assert result.frame.rows()  # every value converts to Python
    csv_text = sandbox.to_csv(result.frame)
    assert list(csv.reader(io.StringIO(csv_text)))[1][0] == "infinity"
    assert export.write_xlsx({"query": result.frame})


def test_hugeint_sums_and_dates_stay_native_in_the_frame(empty_db: Path) -> None:
    frame = sandbox.run_query(empty_db, "select sum(range) as s, date '2016-09-01' as d from range(10)").frame
    assert frame.schema["s"] == pl.Decimal(38, 0) and frame.schema["d"] == pl.Date
    assert frame.row(0)[0] == 45


# --- options and SQL files ----------------------------------------------------------------------


def _run(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    """The real console entry point (``main``), as a user's shell runs it."""
    return subprocess.run([sys.executable, "-m", "portfolio.cli", *args], capture_output=True, text=True,
                          timeout=120, input=None if stdin is None else stdin.decode())


def _one_sentence(proc: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert proc.stdout == ""
    assert "Traceback" not in proc.stderr and "\x1b" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    for needle in needles:
        assert needle in proc.stderr


@pytest.mark.parametrize(
    ("option", "value", "needle"),
    [
        ("--max-rows", "99999999999999999999", "--max-rows"),
        ("--max-rows", "-1", "--max-rows"),
        ("--max-rows", "ten", "--max-rows"),
        ("--timeout", "0", "--timeout"),
        ("--timeout", "-5", "--timeout"),
        ("--timeout", "nan", "--timeout"),
        ("--timeout", "inf", "--timeout"),
        ("--timeout", "1e400", "--timeout"),
        ("--timeout", "99999999999", "--timeout"),
        ("--max-bytes", "0", "--max-bytes"),
        ("--max-bytes", "lots", "--max-bytes"),
        ("--max-bytes", "99999999999999999999T", "--max-bytes"),
        ("--format", "[/red]\x1b[2J", "table"),
    ],
)
def test_out_of_range_options_are_one_sentence_and_exit_2(empty_db: Path, option: str, value: str,
                                                         needle: str) -> None:
    _one_sentence(_run("sql", "select 1", option, value, "--db", str(empty_db)), needle)


def test_an_unknown_option_is_one_sentence_with_its_text_visible(empty_db: Path) -> None:
    _one_sentence(_run("sql", "select 1", "--bogus\x1b[2J", "--db", str(empty_db)), "--bogus\\x1b[2J")


def test_zero_rows_gives_the_header_and_says_so(empty_db: Path) -> None:
    proc = _run("sql", "select 1 as a", "--max-rows", "0", "--format", "csv", "--db", str(empty_db))
    assert proc.returncode == 0 and proc.stdout == "a\n" and "显示前 0 行，共 1 行" in proc.stderr


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b"select '\xff\xfe' as x", "编码"),
        (b"select 1\x00\x00", "编码"),
        (b"-- " + b"x" * (2 * 2**20), "1 MiB"),
    ],
    ids=["invalid-utf8", "binary", "too-large"],
)
def test_an_unreadable_sql_file_is_one_sentence(empty_db: Path, tmp_path: Path, content: bytes, needle: str) -> None:
    path = tmp_path / "q.sql"
    path.write_bytes(content)
    _one_sentence(_run("sql", "-f", str(path), "--db", str(empty_db)), needle)


def test_a_missing_or_directory_sql_file_is_one_sentence(empty_db: Path, tmp_path: Path) -> None:
    _one_sentence(_run("sql", "-f", str(tmp_path / "none.sql"), "--db", str(empty_db)), "none.sql")
    _one_sentence(_run("sql", "-f", str(tmp_path), "--db", str(empty_db)), str(tmp_path))


def test_a_gbk_sql_file_and_a_bom_are_read(empty_db: Path, tmp_path: Path) -> None:
    gbk = tmp_path / "gbk.sql"
    gbk.write_bytes("select '工业投资' as 指标".encode("gb18030"))
    bom = tmp_path / "bom.sql"
    bom.write_bytes("\ufeffselect '工业投资' as 指标".encode())
    for path in (gbk, bom):
        result = _invoke("sql", "-f", str(path), "--format", "json", "--db", str(empty_db))
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout) == [{"指标": "工业投资"}]


# --- CSV for people --------------------------------------------------------------------------------

FORMULAS = ("select '=HYPERLINK(\"http://x\",\"y\")' as \"=a\", '+cmd|'' /C calc''!A0' as b, '@SUM(1)' as c,"
            " '-1200' as d, -5 as e, chr(9) || 'x' as f, chr(13) || 'y' as g, '-2+3' as h, '普通' as i,"
            " 'a'::enum('a') as j, union_value(s := '=1')::union(n integer, s varchar) as k")


def test_csv_neutralises_formula_cells_and_json_keeps_them(empty_db: Path) -> None:
    result = _invoke("sql", FORMULAS, "--format", "csv", "--db", str(empty_db))
    assert result.exit_code == 0, result.output
    header, row = list(csv.reader(io.StringIO(result.stdout, newline="")))
    assert header[0] == "'=a"
    assert row == ["'=HYPERLINK(\"http://x\",\"y\")", "'+cmd|' /C calc'!A0", "'@SUM(1)", "-1200", "-5",
                   "'\tx", "'\ry", "'-2+3", "普通", "a", "'=1"]
    as_json = _invoke("sql", FORMULAS, "--format", "json", "--db", str(empty_db))
    first = json.loads(as_json.stdout)[0]
    assert first["=a"] == "=HYPERLINK(\"http://x\",\"y\")" and first["c"] == "@SUM(1)" and first["e"] == -5


def test_the_apps_csv_download_is_formula_safe_and_xlsx_keeps_text(empty_db: Path) -> None:
    frame = sandbox.run_query(empty_db, FORMULAS).frame
    header, row = list(csv.reader(io.StringIO(sandbox.to_csv(frame), newline="")))
    assert row[0] == "'=HYPERLINK(\"http://x\",\"y\")" and row[3] == "-1200"
    import openpyxl

    book = openpyxl.load_workbook(io.BytesIO(export.write_xlsx({"query": frame})))
    values = [c.value for c in next(book.worksheets[0].iter_rows(min_row=2, max_row=2))]
    assert values[0] == "=HYPERLINK(\"http://x\",\"y\")" and values[2] == "@SUM(1)"


def test_csv_on_a_terminal_shows_control_characters_as_escapes(empty_db: Path) -> None:
    buffer = io.StringIO()
    sandbox.stream_query(empty_db, "select 'a' || chr(27) || '[2J' as x", buffer, fmt="csv", terminal=True)
    assert buffer.getvalue() == "x\na\\x1b[2J\n"
    redirected = io.StringIO()
    sandbox.stream_query(empty_db, "select 'a' || chr(27) || '[2J' as x", redirected, fmt="csv")
    assert redirected.getvalue() == "x\na\x1b[2J\n"  # a file gets the data exactly


def test_json_escapes_what_a_terminal_would_obey_and_reads_back_the_same(empty_db: Path) -> None:
    buffer = io.StringIO()
    sandbox.stream_query(empty_db, "select chr(27) || chr(155) || chr(8238) || chr(8232) as x", buffer, fmt="json")
    text = buffer.getvalue()
    assert all(ord(c) < 0x7F or ord(c) >= 0xA0 for c in text) and "\u202e" not in text
    assert json.loads(text) == [{"x": "\x1b\x9b\u202e\u2028"}]


# --- bounded and streamed -----------------------------------------------------------------------------


class _Recorder(io.StringIO):
    """A text sink that remembers the size of every write."""

    def __init__(self) -> None:
        super().__init__()
        self.sizes: list[int] = []

    def write(self, text: str) -> int:
        self.sizes.append(len(text))
        return super().write(text)


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_csv_and_json_are_written_batch_by_batch(empty_db: Path, fmt: str) -> None:
    """About 40 MB of output leaves in pieces of a few MB: no write holds the whole result."""
    sink = _Recorder()
    rows = 40_000
    written = sandbox.stream_query(empty_db, f"select range as i, repeat('x', 1000) as t from range({rows})", sink,
                                   fmt=fmt, max_rows=rows)
    assert written.rows == rows and not written.truncated
    assert sum(sink.sizes) > 40_000_000
    assert len(sink.sizes) >= 6
    assert max(sink.sizes) < 3 * sandbox.FORMAT_BYTES


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_output_stops_at_the_byte_cap_and_stays_well_formed(empty_db: Path, fmt: str) -> None:
    sink = io.StringIO()
    written = sandbox.stream_query(empty_db, "select range as i, repeat('长', 50) as t from range(100000)", sink,
                                   fmt=fmt, max_rows=10**6, max_bytes=100_000)
    data = sink.getvalue().encode()
    assert written.truncated_by == "bytes" and len(data) == written.bytes <= 100_000
    assert written.bytes > 90_000  # it filled the budget, it did not stop at the first batch
    if fmt == "json":
        assert len(json.loads(data)) == written.rows
    else:
        assert len(data.decode().splitlines()) == written.rows + 1
    assert "--max-bytes" in sandbox.stream_notice(written)


def test_the_cli_says_on_stderr_when_the_byte_cap_cut_the_output(empty_db: Path) -> None:
    result = _invoke("sql", "select range from range(100000)", "--format", "json", "--max-rows", "200000",
                     "--max-bytes", "10K", "--db", str(empty_db))
    assert result.exit_code == 0
    assert len(result.stdout.encode()) <= 10 * 1024
    assert len(json.loads(result.stdout)) > 100
    assert "10 KiB" in result.stderr and "--max-bytes" in result.stderr


def test_the_frame_is_capped_by_bytes_too(empty_db: Path) -> None:
    result = sandbox.run_query(empty_db, "select repeat('x', 1000) as t from range(50000)", max_rows=10**6,
                               max_bytes=2**20)
    assert result.truncated_by == "bytes" and 0 < result.frame.height < 1100
    assert result.frame.estimated_size() <= 2**20 * 1.1


_PEAK = """
import resource, subprocess, sys
proc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
print(proc.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def test_streaming_a_large_csv_keeps_memory_near_a_fixed_ceiling(empty_db: Path) -> None:
    """About 700 MB of CSV must not need 700 MB of memory (it took 2.9 GB before streaming)."""
    query = "select range as i, repeat('长', 100) || range as t, 'x' || range as u from range(2000000)"
    proc = subprocess.run(
        [sys.executable, "-c", _PEAK, sys.executable, "-m", "portfolio.cli", "sql", query, "--format", "csv",
         "--max-rows", "3000000", "--db", str(empty_db)],
        capture_output=True, text=True, timeout=600)
    code, peak_kb = map(int, proc.stdout.split())
    assert code == 0, proc.stderr
    assert peak_kb < 600 * 1024, f"peak RSS {peak_kb // 1024} MB"


def test_a_closed_pipe_ends_quietly(empty_db: Path) -> None:
    script = (f"{sys.executable} -m portfolio.cli sql 'select range from range(2000000)' --format csv "
              f"--max-rows 3000000 --db '{empty_db}' | head -n 2")
    proc = subprocess.run(["bash", "-o", "pipefail", "-c", script], capture_output=True, text=True, timeout=300)
    assert proc.stdout.splitlines() == ["range", "0"]
    assert "Traceback" not in proc.stderr and "Error" not in proc.stderr


def test_engine_values_do_not_break_duckdb_for_later_queries(empty_db: Path) -> None:
    """The HUGEINT that Arrow cannot carry as DECIMAL(38) never reaches the engine again as one."""
    frame = sandbox.run_query(empty_db, "select (-170141183460469231731687303715884105727 - 1)::hugeint as h").frame
    assert frame["h"].to_list() == ["-170141183460469231731687303715884105728"]
    assert sandbox.to_csv(frame).splitlines()[1] == "-170141183460469231731687303715884105728"
    with duckdb.connect(str(empty_db), read_only=True) as con:
        assert con.execute("select 1").fetchall() == [(1,)]

