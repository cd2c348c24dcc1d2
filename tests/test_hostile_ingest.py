"""Hostile ledgers: files that try to take the process down, values the calendar cannot hold,
rows that try to escape their unit, subtotal rows, formula cells, and any text round-tripping.

Each test names the class of attack of issue 11 it covers. Subprocess tests run the real
command (`python -m portfolio.cli`), so a crash is a crash and not an exception pytest catches.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import openpyxl
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from portfolio import config, export, ingest, store

# --------------------------------------------------------------------------- helpers

_CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/worksheets/sheet1.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
    '</Types>')
_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Target="xl/workbook.xml" '
    'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument"/>'
    '</Relationships>')
_WORKBOOK = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
    'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
    '<sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>')
_WORKBOOK_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Target="worksheets/sheet1.xml" '
    'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet"/>'
    '</Relationships>')


def far_cell_xlsx(path: Path, *, dimension: str | None = "A1:XFD1048576", padding: int = 0,
                  far: bool = True) -> Path:
    """A minimal workbook (under 2 KB) with a cell at A1 and one at XFD1048576.

    The Excel reader sizes its grid from the cells' extent: 1,048,576 × 16,384 cells, 512 GB.
    ``dimension=None`` leaves out the declaration, so only the reader itself meets the size;
    ``padding`` adds that many bytes of whitespace inside the sheet (a compressible part);
    ``far=False`` leaves out the far cell (a harmless sheet).
    """
    dim = f'<dimension ref="{dimension}"/>' if dimension else ""
    far_row = '<row r="1048576"><c r="XFD1048576" t="inlineStr"><is><t>x</t></is></c></row>' if far else ""
    sheet = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        f'{dim}<sheetData>{" " * padding}'
        f'<row r="1"><c r="A1" t="inlineStr"><is><t>项目编号</t></is></c></row>{far_row}'
        '</sheetData></worksheet>')
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", _CONTENT_TYPES)
        z.writestr("_rels/.rels", _RELS)
        z.writestr("xl/workbook.xml", _WORKBOOK)
        z.writestr("xl/_rels/workbook.xml.rels", _WORKBOOK_RELS)
        z.writestr("xl/worksheets/sheet1.xml", sheet)
    return path


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def cli(*args: str | Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """The real command in its own process (a crash shows as a signal, not an exception)."""
    return subprocess.run([sys.executable, "-m", "portfolio.cli", *map(str, args)],
                          capture_output=True, text=True, timeout=timeout, check=False)


def one_sentence(stderr: str) -> str:
    """The error line of a refused command: one line, no traceback."""
    assert "Traceback" not in stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    return lines[0]


PROJECT_HEADER = ["项目编号", "项目名称", "建设单位", "责任单位", "建设性质", "项目状态", "总投资(万元)",
                  "开工时间", "竣工时间", "备注"]


def project_row(code: str | None, name: str = "示例项目", *, unit: str = "汽开区", start: str = "2016.3",
                end: str = "2017.10", note: str = "", enterprise: str = "示例企业") -> list[str | None]:
    return [code, name, enterprise, unit, "新建", "在建", "3000", start, end, note]


def write_csv(path: Path, header: list[str], rows: list[list[str | None]]) -> Path:
    pl.DataFrame([dict(zip(header, r, strict=True)) for r in rows],
                 schema=dict.fromkeys(header, pl.String), orient="row").write_csv(path)
    return path


# --------------------------------------------------------------------------- 1. hostile files


def test_the_far_cell_workbook_really_aborts_an_unprotected_excel_reader(tmp_path: Path) -> None:
    # The fixture is what it claims: fastexcel called directly dies (a signal, not an exception).
    # The address-space cap only keeps a machine that overcommits memory from trying to comply.
    book = far_cell_xlsx(tmp_path / "far.xlsx")
    assert book.stat().st_size < 2048
    code = ("import resource, fastexcel\n"
            "resource.setrlimit(resource.RLIMIT_AS, (8 << 30, 8 << 30))\n"
            f"fastexcel.read_excel({str(book)!r}).load_sheet(0, header_row=None, dtypes='string')\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=120, check=False)
    assert proc.returncode < 0 or proc.returncode > 128, proc.stderr[-500:]
    assert b"memory allocation" in proc.stderr


def test_a_workbook_declaring_a_huge_sheet_is_refused_before_it_is_parsed(
        empty_db: Path, tmp_path: Path) -> None:
    book = far_cell_xlsx(tmp_path / "far.xlsx")
    before = sha256(empty_db)
    proc = cli("ingest", book, "--db", empty_db)
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-500:])
    line = one_sentence(proc.stderr)
    assert "A1:XFD1048576" in line and "超过导入上限" in line
    assert sha256(empty_db) == before


def test_a_workbook_hiding_its_size_is_stopped_by_the_reader_process(empty_db: Path, tmp_path: Path) -> None:
    book = far_cell_xlsx(tmp_path / "hidden.xlsx", dimension=None)
    before = sha256(empty_db)
    proc = cli("ingest", book, "--db", empty_db)
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-500:])
    line = one_sentence(proc.stderr)
    assert "内存上限" in line and "hidden.xlsx" in line
    assert sha256(empty_db) == before


def test_the_caller_survives_the_reader_and_says_so_in_one_sentence(tmp_path: Path) -> None:
    book = far_cell_xlsx(tmp_path / "hidden.xlsx", dimension=None)
    with pytest.raises(ingest.FileProblem, match=r"内存上限（6,144 MB）") as info:
        ingest.read_ledger(book)
    assert "\n" not in str(info.value)
    # and the process that asked is fine: it reads an honest file right after
    honest = write_csv(tmp_path / "ok.csv", PROJECT_HEADER, [project_row("CC-1")])
    assert ingest.read_ledger(honest).frame.height == 1


def test_a_zip_bomb_is_refused_by_its_compression_ratio(tmp_path: Path) -> None:
    book = far_cell_xlsx(tmp_path / "bomb.xlsx", dimension="A1", padding=8 << 20, far=False)
    assert book.stat().st_size < 64 << 10
    with pytest.raises(ingest.FileProblem, match="压缩比超过 200 倍"):
        ingest.read_ledger(book)


def test_limits_come_from_the_configuration(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    for name in ("units.toml", "chains.toml"):
        (data / name).write_bytes((config.ROOT / "data" / name).read_bytes())
    toml = (config.ROOT / "data" / "targets.toml").read_text(encoding="utf-8")
    toml = re.sub(r"(?m)^max_rows = .*$", "max_rows = 2", toml)
    toml = re.sub(r"(?m)^min_date = .*$", "min_date = 2000-01-01", toml)
    (data / "targets.toml").write_text(toml, encoding="utf-8")
    limits = config.import_limits(data)
    assert (limits.max_rows, str(limits.min_date)) == (2, "2000-01-01")
    ledger = write_csv(tmp_path / "three.csv", PROJECT_HEADER, [project_row(f"CC-{i}") for i in range(3)])
    with pytest.raises(ingest.FileProblem, match="超过导入上限（2 行"):
        ingest.read_ledger(ledger, limits=limits)
    (data / "targets.toml").write_text(toml + "\n[import_limits.nested]\n", encoding="utf-8")
    config._targets_cfg.cache_clear()
    with pytest.raises(config.ConfigError, match="nested"):
        config.import_limits(data)
    config._targets_cfg.cache_clear()


def test_a_csv_or_parquet_wider_than_the_limit_is_refused(empty_db: Path, tmp_path: Path) -> None:
    wide = [*PROJECT_HEADER, *(f"x{i}" for i in range(1100))]
    frame = pl.DataFrame([dict(zip(wide, [*project_row("CC-1"), *([""] * 1100)], strict=True))],
                         schema=dict.fromkeys(wide, pl.String), orient="row")
    frame.write_csv(tmp_path / "wide.csv")
    frame.write_parquet(tmp_path / "wide.parquet")
    before = sha256(empty_db)
    for name in ("wide.csv", "wide.parquet"):
        proc = cli("ingest", tmp_path / name, "--db", empty_db)
        assert proc.returncode == 2, proc.stderr[-500:]
        assert "超过导入上限" in one_sentence(proc.stderr)
    assert sha256(empty_db) == before


def test_an_honest_parquet_still_imports_through_the_reader_process(empty_db: Path, tmp_path: Path) -> None:
    frame = pl.DataFrame([dict(zip(PROJECT_HEADER, project_row("CC-PQ"), strict=True))],
                         schema=dict.fromkeys(PROJECT_HEADER, pl.String), orient="row")
    frame.write_parquet(tmp_path / "ok.parquet")
    result = ingest.ingest_file(empty_db, tmp_path / "ok.parquet")
    assert (result.inserted, result.rejected) == (1, 0)


# --------------------------------------------------------------------------- 2. dates


def test_dates_outside_1900_to_2100_are_rejected_with_row_column_value_and_reason(
        empty_db: Path, tmp_path: Path) -> None:
    ledger = write_csv(tmp_path / "dates.csv", PROJECT_HEADER, [
        project_row("CC-1", start="0000-01-01"),
        project_row("CC-2", end="2200-01-01"),
        project_row("CC-3", start="1899.12"),
        project_row("CC-4", start="1900-01-01", end="2100-12-31"),
    ])
    proc = cli("ingest", ledger, "--json", "--db", empty_db)
    assert proc.returncode == 0, proc.stderr[-500:]
    payload = json.loads(proc.stdout)
    reason = "日期超出可接受的范围（1900-01-01 至 2100-12-31）"
    assert payload["errors"] == [
        {"row": 2, "column": "开工时间", "value": "0000-01-01", "reason": reason},
        {"row": 3, "column": "竣工时间", "value": "2200-01-01", "reason": reason},
        {"row": 4, "column": "开工时间", "value": "1899.12", "reason": reason},
    ]
    assert (payload["inserted"], payload["rejected"]) == (1, 3)
    # what was stored can be shown by every output
    shown = cli("sql", "select project_id, start_date, end_date from projects", "--format", "csv",
                "--db", empty_db)
    assert shown.returncode == 0 and "CC-4,1900-01-01,2100-12-31" in shown.stdout


def test_a_progress_month_outside_the_bounds_is_rejected(sample_db: Path, tmp_path: Path) -> None:
    ledger = write_csv(tmp_path / "progress.csv", ["项目编号", "月份", "本月完成投资(万元)"], [
        ["CC2016-0001", "2101-01", "10"], ["CC2016-0001", "0001.1", "10"], ["CC2016-0001", "2016.10", "10"]])
    result = ingest.ingest_file(sample_db, ledger, kind="progress")
    assert result.errors.select("row", "column", "reason").rows() == [
        (2, "月份", "日期超出可接受的范围（1900-01-01 至 2100-12-31）"),
        (3, "月份", "日期超出可接受的范围（1900-01-01 至 2100-12-31）"),
    ]
    assert result.rejected == 2


# --------------------------------------------------------------------------- 3. scope


ENTERPRISE_HEADER = ["企业编号", "企业名称", "年产值(万元)"]


def _add_user(db: Path, user_id: str, *extra: str) -> None:
    proc = cli("user", "add", user_id, *extra, "--db", db)
    assert proc.returncode == 0, proc.stderr


def test_a_unit_users_enterprises_without_a_unit_column_belong_to_their_unit(
        empty_db: Path, tmp_path: Path) -> None:
    _add_user(empty_db, "q@qk.cn", "--role", "unit", "--unit", "QK")
    _add_user(empty_db, "g@gx.cn", "--role", "unit", "--unit", "GX")
    ledger = write_csv(tmp_path / "ent.csv", ENTERPRISE_HEADER, [["E-1", "一汽配套", "500"], ["E-2", "二号", "1"]])
    made = cli("ingest", ledger, "--json", "--user", "q@qk.cn", "--db", empty_db)
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout)["inserted"] == 2
    with store.connect(empty_db, read_only=True) as con:
        units = con.execute("select enterprise_id, unit_id from enterprises order by 1").fetchall()
    assert units == [("E-1", "QK"), ("E-2", "QK")]
    # the other unit's user cannot change them
    changed = write_csv(tmp_path / "ent2.csv", ENTERPRISE_HEADER, [["E-1", "改名", "600"]])
    other = cli("ingest", changed, "--json", "--user", "g@gx.cn", "--db", empty_db)
    payload = json.loads(other.stdout)
    assert (payload["updated"], payload["rejected"]) == (0, 1)
    assert payload["errors"][0]["reason"] == "无权修改其他单位的企业"
    with store.connect(empty_db, read_only=True) as con:
        assert con.execute("select name from enterprises where enterprise_id = 'E-1'").fetchall() == [("一汽配套",)]


def test_rows_without_a_unit_are_refused_when_the_unit_is_not_clear(empty_db: Path, tmp_path: Path) -> None:
    ledger = write_csv(tmp_path / "ent.csv", ["企业编号", "企业名称", "责任单位"],
                       [["E-1", "甲", None], ["E-2", "乙", "汽开区"], ["E-3", "丙", "高新区"]])
    result = ingest.ingest_file(empty_db, ledger, allowed_units={"QK", "GX"})
    assert result.errors.select("row", "reason").rows() == [(2, "责任单位为空：以责任单位身份导入的行须写明本单位")]
    assert (result.inserted, result.rejected) == (2, 1)


def test_a_stored_row_of_no_unit_is_not_open_to_every_unit(empty_db: Path, tmp_path: Path) -> None:
    orphan = write_csv(tmp_path / "orphan.csv", ENTERPRISE_HEADER, [["E-9", "无主企业", "1"]])
    assert ingest.ingest_file(empty_db, orphan).inserted == 1  # an admin may leave the unit blank
    claim = write_csv(tmp_path / "claim.csv", ["企业编号", "企业名称", "责任单位"], [["E-9", "改名", "汽开区"]])
    result = ingest.ingest_file(empty_db, claim, allowed_units={"QK"})
    assert result.errors.select("row", "reason").rows() == [(2, "无权修改其他单位的企业")]


def test_a_unit_users_blank_project_unit_is_their_own_and_progress_keeps_to_it(
        sample_db: Path, tmp_path: Path) -> None:
    ledger = write_csv(tmp_path / "p.csv", PROJECT_HEADER, [project_row("CC-NEW", unit="")])
    result = ingest.ingest_file(sample_db, ledger, allowed_units={"QK"})
    assert (result.inserted, result.rejected) == (1, 0)
    with store.connect(sample_db, read_only=True) as con:
        assert con.execute("select unit_id from projects where project_id = 'CC-NEW'").fetchall() == [("QK",)]
        other = con.execute("select project_id from projects where unit_id <> 'QK' limit 1").fetchall()[0][0]
    progress = write_csv(tmp_path / "m.csv", ["项目编号", "月份", "本月完成投资(万元)"],
                         [["CC-NEW", "2016.9", "5"], [other, "2016.9", "5"]])
    done = ingest.ingest_file(sample_db, progress, kind="progress", allowed_units={"QK"})
    assert done.errors.select("row", "reason").rows() == [(3, "无权修改其他单位的项目")]
    assert done.inserted == 1


def test_the_app_forms_share_the_date_bounds_and_the_unit_scope(sample_db: Path) -> None:
    from datetime import date

    from portfolio import access, edits

    unit_user = access.User("q@qk.cn", "unit", unit_id="QK")
    record = {"project_id": "CC-FORM", "name": "表单项目", "nature": "新建", "status": "在建",
              "total_investment_wan": 3000}
    with store.connect(sample_db) as con:
        with pytest.raises(edits.EditRefused, match="日期超出可接受的范围"):
            edits.create_project(con, {**record, "start_date": date(1, 1, 1)}, user=unit_user)
        edits.create_project(con, record, user=unit_user)  # no unit given: the user's own
        assert con.execute("select unit_id from projects where project_id = 'CC-FORM'").fetchall() == [("QK",)]


def test_a_new_user_in_the_app_starts_as_a_viewer(sample_db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from streamlit.testing.v1 import AppTest

    from app_pages import ui
    from portfolio import local_mode

    monkeypatch.setattr(ui, "client_request", lambda: local_mode.Client(address="127.0.0.1"))
    monkeypatch.setenv("PORTFOLIO_DB", str(sample_db))
    at = AppTest.from_file(str(config.ROOT / "app.py"), default_timeout=120)
    at.run()
    at.switch_page("app_pages/admin.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.selectbox(key="admin_user_role").value == "viewer"


# --------------------------------------------------------------------------- 4. subtotal rows


def test_subtotal_rows_are_recognised_by_a_label_in_any_text_column(empty_db: Path, tmp_path: Path) -> None:
    ledger = write_csv(tmp_path / "totals.csv", PROJECT_HEADER, [
        project_row("CC-1"),
        project_row(None, "汽车产业链小计", unit="", enterprise=""),                 # row 3: label in the name
        project_row("CC-2", "合计量仪表生产线"),                                      # row 4: a project
        project_row(None, "", unit="", enterprise="", note="合计"),                  # row 5: label in the note
        project_row("", "汽开区总计（12项）", unit="", enterprise=""),                # row 6
        project_row(None, "总计算中心"),                                              # row 7: no label, no code
    ])
    result = ingest.ingest_file(empty_db, ledger)
    assert result.skipped_rows == [3, 5, 6]
    assert result.errors.select("row", "reason").rows() == [(7, "必填项为空")]
    assert (result.inserted, result.rejected, result.skipped, result.rows_read) == (2, 1, 3, 6)
    assert result.inserted + result.updated + result.unchanged + result.rejected + result.skipped == result.rows_read


# --------------------------------------------------------------------------- 5. formula cells in rejects

HOSTILE = ['=HYPERLINK("http://evil.example","点我")', "+cmd|' /C calc'!A0", "@SUM(1+1)", "-2+3",
           "http://evil.example/x", "mailto:x@evil.example"]


def test_the_rejects_csv_neutralises_formula_cells_and_the_xlsx_keeps_text_as_text(
        empty_db: Path, tmp_path: Path) -> None:
    ledger = write_csv(tmp_path / "bad.csv", PROJECT_HEADER, [
        project_row(f"CC-{i}", text, enterprise=text, note=text, start="不是日期") for i, text in enumerate(HOSTILE)])
    result = ingest.ingest_file(empty_db, ledger)
    assert result.rejected == len(HOSTILE)
    back = pl.read_csv(result.rejects_file, infer_schema=False)
    assert back["项目名称"].to_list() == ["'" + t if t[0] in "=+-@" else t for t in HOSTILE]
    xlsx = tmp_path / "bad.rejects.xlsx"
    ingest.ingest_file(empty_db, ledger, rejects=xlsx)
    sheet = openpyxl.load_workbook(xlsx)["拒收行"]
    header = [c.value for c in sheet[1]]
    cells = [row[header.index("项目名称")] for row in sheet.iter_rows(min_row=2)]
    assert [c.value for c in cells] == HOSTILE
    assert {c.data_type for c in cells} == {"s"}
    assert all(c.hyperlink is None for c in cells)


# --------------------------------------------------------------------------- 6. any text round-trips

# What the importer changes, documented in docs/import.md (文字单元格): whitespace at either end
# is stripped (Unicode White_Space, as polars strips it), CR LF and CR become LF, and control
# characters other than tab and LF and U+FFFE/U+FFFF are dropped; a dash-only cell is blank;
# 无/暂无… in 存在问题 means no problem. Text is generated without those, so it must come back
# exactly. "x005F_" is left out because openpyxl's reader deletes it (Excel reads it right).
_WHITE = set("\t\n\x0b\x0c\r \x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000") | {chr(c) for c in range(0x2000, 0x200B)}
_DROPPED = re.compile(ingest.CONTROL_RE.replace(r"\x{FFFE}", "\ufffe").replace(r"\x{FFFF}", "\uffff") + "|\r")


def _storable(text: str) -> bool:
    return (bool(text) and text[0] not in _WHITE and text[-1] not in _WHITE and not _DROPPED.search(text)
            and text not in ingest.DASHES and "x005F_" not in text
            and not re.search(ingest.NO_PROBLEM_RE, re.sub(r"\s+", "", text).lower()))


TEXT = st.one_of(
    st.sampled_from(['=HYPERLINK("http://x","y")', "[red]x[/red]", "'前导引号", "a\tb", "一\n二", "_x0041_",
                     "[/red]", "http://evil.example", "-1200", "１２００", "合计", "  ", "😀🏭", "\u202e反转",
                     "mailto:x@evil.example", "external:c:\\evil.xlsx", "http://e.example/" + "a" * 2100]),
    st.text(alphabet=st.characters(exclude_categories=("Cs",)), min_size=1, max_size=30),
).filter(_storable)
ROW = st.fixed_dictionaries({"name": TEXT, "enterprise": TEXT, "note": TEXT, "problems": TEXT})


def test_control_characters_are_dropped_line_breaks_and_tabs_kept(empty_db: Path, tmp_path: Path) -> None:
    name = "a\x01b\x1b[31mc\r\nd\re\tf\x7f\x85g\ufffe"
    ledger = write_csv(tmp_path / "ctl.csv", PROJECT_HEADER, [project_row("CC-1", name)])
    assert ingest.ingest_file(empty_db, ledger).inserted == 1
    with store.connect(empty_db, read_only=True) as con:
        frame = store.fetch(con, "select name from projects")
    assert frame["name"].to_list() == ["ab[31mc\nd\ne\tfg"]
    sheet = openpyxl.load_workbook(io.BytesIO(export.write_xlsx({"s": frame}) or b""))["s"]
    assert sheet["A2"].value == "ab[31mc\nd\ne\tfg"


def _ledgers(folder: Path, rows: list[dict[str, str]], fmt: str) -> tuple[Path, Path]:
    projects = pl.DataFrame({
        "项目编号": [f"RT-{i}" for i in range(len(rows))], "项目名称": [r["name"] for r in rows],
        "建设单位": [r["enterprise"] for r in rows], "责任单位": ["汽开区"] * len(rows),
        "建设性质": ["新建"] * len(rows), "项目状态": ["在建"] * len(rows), "总投资(万元)": ["3000"] * len(rows),
        "备注": [r["note"] for r in rows]})
    progress = pl.DataFrame({"项目编号": [f"RT-{i}" for i in range(len(rows))], "月份": ["2016.9"] * len(rows),
                             "本月完成投资(万元)": ["1"] * len(rows), "存在问题": [r["problems"] for r in rows]})
    if fmt == "csv":
        projects.write_csv(folder / "p.csv")
        progress.write_csv(folder / "m.csv")
        return folder / "p.csv", folder / "m.csv"
    for frame, name in ((projects, "p.xlsx"), (progress, "m.xlsx")):
        export.write_xlsx({"台账": frame}, folder / name)
    return folder / "p.xlsx", folder / "m.xlsx"


def _exported(db: Path) -> list[dict[str, Any]]:
    """The stored texts as the app's downloads write them (export.write_xlsx), read by openpyxl."""
    with store.connect(db, read_only=True) as con:
        frame = store.fetch(con, "select p.project_id, p.name, p.enterprise, p.note, g.problems from projects p"
                                 " join progress g using (project_id) order by p.project_id")
    book = openpyxl.load_workbook(io.BytesIO(export.write_xlsx({"导出": frame}) or b""))
    rows = list(book["导出"].iter_rows(values_only=True))
    return sorted((dict(zip(rows[0], r, strict=True)) for r in rows[1:]), key=lambda r: r["project_id"])


def _expected(rows: list[dict[str, str]]) -> list[dict[str, Any]]:
    return sorted(({"project_id": f"RT-{i}", **r} for i, r in enumerate(rows)), key=lambda r: r["project_id"])


_ROUND_TRIP = settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                             HealthCheck.filter_too_much, HealthCheck.too_slow])


@settings(_ROUND_TRIP, max_examples=50)
@given(rows=st.lists(ROW, min_size=1, max_size=4))
def test_any_cell_text_round_trips_from_a_csv_import_to_the_xlsx_export(
        rows: list[dict[str, str]], _reference_db_template: Path) -> None:
    # The import's text path (read_ledger, validate, upsert) on one connection per example;
    # ingest_file adds only the transaction, the batch and the backup around it.
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        db = folder / "rt.duckdb"
        db.write_bytes(_reference_db_template.read_bytes())
        with store.connect(db) as con:
            for path, kind in zip(_ledgers(folder, rows, "csv"), ("projects", "progress"), strict=True):
                valid, errors = ingest.validate(con, ingest.read_ledger(path, kind=kind))
                assert errors.is_empty(), errors.to_dicts()
                assert ingest.upsert(con, kind, valid, actor="test")["inserted"] == len(rows)
        assert _exported(db) == _expected(rows)


@settings(_ROUND_TRIP, max_examples=12)
@given(rows=st.lists(ROW, min_size=1, max_size=40))
def test_any_cell_text_round_trips_from_an_xlsx_import_to_the_xlsx_export(
        rows: list[dict[str, str]], _reference_db_template: Path) -> None:
    # Every xlsx is read by a child process (about half a second each): fewer, bigger files.
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        db = folder / "rt.duckdb"
        db.write_bytes(_reference_db_template.read_bytes())
        p, m = _ledgers(folder, rows, "xlsx")
        assert ingest.ingest_file(db, p, kind="projects").inserted == len(rows)
        assert ingest.ingest_file(db, m, kind="progress").inserted == len(rows)
        assert _exported(db) == _expected(rows)
