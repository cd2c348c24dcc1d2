"""Reading a ledger file: find the header row under the title rows, map the headers, drop totals.

:func:`read_ledger` reads an .xlsx / .csv / .parquet file into a :class:`Ledger`: one text
column per original header, every data row with its Excel row number, 合计/小计 rows set aside.
The file is untrusted: its size is checked first and workbooks and parquet files are parsed in
the capped reader process (:mod:`portfolio.ingest.safe_read`).
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from .. import config
from . import safe_read
from .catalogue import FIELDS, HEADER_MAPS, KEYS, KIND_LABELS, KINDS, normalize_header
from .errors import FileProblem, first_line
from .parsing import clean_text

EXCEL_SUFFIXES = (".xlsx", ".xlsm", ".xls", ".xlsb", ".ods")
HEADER_SCAN_ROWS = 20
#: A 合计 / 小计 / 总计 / 共计 label: 合计 anywhere in a cell; a cell that starts with the label
#: (小计（汽开区）, 总计：12项) or ends with it (汽车产业链小计, 汽开区总计（12项）). 总计算中心 is no label.
_TOTAL_RE = (r"合\s*计|^\s*[小总共]\s*计\s*($|[:：(（\d、个项])"
             r"|[小总共]\s*计\s*(?:[(（][^)）]*[)）]|\d+\s*[个项]?)?\s*[:：]?\s*$")


@dataclass
class Ledger:
    """A read ledger: one String column per original header, ``_row`` = Excel row number."""

    path: Path
    kind: str
    frame: pl.DataFrame
    columns: dict[str, str]  # field -> original column name in ``frame``
    units: dict[str, str | None]  # field -> unit suffix of its header (亿元 / 万元 / 元 / %)
    header_row: int
    sheet: str | None = None
    skipped_rows: list[int] = field(default_factory=list)

    @property
    def rows_read(self) -> int:
        """Non-blank rows under the header, total rows (合计/小计) included."""
        return self.frame.height + len(self.skipped_rows)


def read_ledger(path: str | Path, *, kind: str | None = None, sheet: str | None = None,
                limits: config.ImportLimits | None = None) -> Ledger:
    """Read an .xlsx / .csv / .parquet ledger, find its header row and its kind.

    The file is untrusted: it is checked against ``limits`` (``[import_limits]`` in
    targets.toml) before it is parsed, and spreadsheets and parquet files are parsed in a
    capped child process (:mod:`portfolio.ingest.safe_read`), so no file can take the caller down.
    """
    path = Path(path)
    if kind is not None and kind not in KINDS:
        raise FileProblem(f"未知的台账类型 {kind!r}，可选 {'、'.join(KINDS)}（unknown kind）。")
    if not path.is_file():
        raise FileProblem(f"文件不存在：{path}（file not found）。")
    limits = limits or config.import_limits()
    suffix = path.suffix.lower()
    if suffix in EXCEL_SUFFIXES:
        grid, sheet_name, offset, header_idx = _read_excel(path, kind, sheet, limits)
    elif suffix == ".csv":
        grid, sheet_name, offset, header_idx = _read_csv(path, limits), None, 1, None
    elif suffix == ".parquet":
        grid, sheet_name, offset, header_idx = _read_parquet(path, limits), None, 1, 0
    else:
        raise FileProblem(f"不支持的文件类型 {suffix or '（无扩展名）'}，请用 .xlsx、.csv 或 .parquet（unsupported file type）。")
    if sheet is not None and sheet_name is None:
        raise FileProblem(f"{path.name} 不是 Excel 文件，不能指定工作表 {sheet!r}。")
    if header_idx is None:
        header_idx = _find_header(grid, kind)
        if header_idx is None and kind is not None and (other := _find_header(grid, None)) is not None:
            looks = _detect_kind(list(grid.row(other)), path)
            raise FileProblem(f"{path.name} 的表头看起来是{KIND_LABELS[looks]}，与 --kind {kind} 不符（kind mismatch）。")
        if header_idx is None:
            raise FileProblem(f"在 {path.name} 的前{HEADER_SCAN_ROWS}行中找不到表头行（至少要有 项目编号、项目名称 等两个列名）（no header row found）。")
    return _build_ledger(path, grid, header_idx, offset, kind, sheet_name)


def _read_excel(path: Path, kind: str | None, sheet: str | None,
                limits: config.ImportLimits) -> tuple[pl.DataFrame, str, int, int | None]:
    """A workbook checked, then parsed by :func:`parse_excel` in the capped reader process."""
    try:
        grid, name, header_idx = safe_read.read_in_child(path, "excel", kind=kind, sheet=sheet, limits=limits)
    except safe_read.Refused as exc:
        raise FileProblem(str(exc)) from exc
    return grid, name or "", 1, header_idx


def parse_excel(path: Path, kind: str | None, sheet: str | None) -> tuple[pl.DataFrame, str, int | None]:
    """The first sheet with a header row (or ``sheet``): (grid, sheet name, header index).

    Runs inside the reader process of :mod:`portfolio.ingest.safe_read`, never in the caller: the
    Excel reader can abort the process on a hostile workbook.
    """
    import fastexcel

    try:
        reader = fastexcel.read_excel(str(path))
        names = list(reader.sheet_names)
        if sheet is not None and sheet not in names:
            raise FileProblem(f"工作表 {sheet!r} 不存在，{path.name} 中有：{'、'.join(names)}（unknown sheet）。")
        chosen = [sheet] if sheet is not None else names
        grid = pl.DataFrame()
        for name in chosen:
            # skip_rows=0 keeps leading blank rows, so frame index + 1 is the Excel row number.
            grid = reader.load_sheet(name, header_row=None, dtypes="string", skip_rows=0).to_polars()
            if (header_idx := _find_header(grid, kind)) is not None:
                return grid, name, header_idx
    except FileProblem:
        raise
    except MemoryError:
        raise
    except Exception as exc:  # fastexcel raises several unrelated types for a damaged file
        raise FileProblem(f"无法读取 Excel 文件 {path.name}：{first_line(exc)}（unreadable file）。") from exc
    return grid, chosen[0] if chosen else "", None


def _read_csv(path: Path, limits: config.ImportLimits) -> pl.DataFrame:
    """A CSV as a grid of strings, read here: its size is checked first and bounds the memory."""
    try:
        safe_read.check_file(path, limits)
        data = path.read_bytes()
    except safe_read.Refused as exc:
        raise FileProblem(str(exc)) from exc
    except OSError as exc:
        raise FileProblem(f"无法读取文件 {path.name}：{exc.strerror}（unreadable file）。") from exc
    if not data.strip():
        raise FileProblem(f"文件 {path.name} 是空的（empty file）。")
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    else:
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            try:
                data = data.decode("gb18030").encode("utf-8")
            except UnicodeDecodeError as exc:
                raise FileProblem(f"无法识别 {path.name} 的文字编码（应为 UTF-8 或 GBK）（unknown encoding）。") from exc
    head = data[:65536].decode("utf-8", errors="ignore").splitlines()[:HEADER_SCAN_ROWS * 3]
    width = max((line.count(",") + 1 for line in head), default=1)
    if width > limits.max_columns:
        raise FileProblem(f"{path.name} 的一行有 {width:,} 列，超过导入上限 {limits.max_columns:,} 列"
                          f"（too many columns）。")
    try:
        grid = pl.read_csv(
            io.BytesIO(data), has_header=False, infer_schema=False,
            schema={f"c{i}": pl.String for i in range(width)}, missing_columns="insert",
            truncate_ragged_lines=True,
        )
    except pl.exceptions.PolarsError as exc:
        raise FileProblem(f"无法解析 CSV 文件 {path.name}：{first_line(exc)}（malformed CSV）。") from exc
    try:
        safe_read.check_grid(grid, path.name, limits)
    except safe_read.Refused as exc:
        raise FileProblem(str(exc)) from exc
    return grid


def _read_parquet(path: Path, limits: config.ImportLimits) -> pl.DataFrame:
    """A parquet file checked, then read in the capped reader process (header names as row 0)."""
    try:
        grid, _sheet, _header = safe_read.read_in_child(path, "parquet", limits=limits)
    except safe_read.Refused as exc:
        raise FileProblem(str(exc)) from exc
    return grid


def _header_scores(cells: Iterable[object]) -> dict[str, int]:
    keys = {normalize_header(c)[0] for c in cells if c is not None and str(c).strip()}
    return {kind: len(keys & HEADER_MAPS[kind].keys()) for kind in KINDS}


def _find_header(grid: pl.DataFrame, kind: str | None) -> int | None:
    best, best_idx = 1, None
    for idx, row in enumerate(grid.head(HEADER_SCAN_ROWS).iter_rows()):
        scores = _header_scores(row)
        score = scores[kind] if kind else max(scores.values())
        if score > best:
            best, best_idx = score, idx
    return best_idx


def _detect_kind(headers: list[object], path: Path) -> str:
    scores = _header_scores(headers)
    ranked = sorted(scores.items(), key=lambda kv: -kv[1])
    if ranked[0][1] == ranked[1][1]:
        raise FileProblem(f"无法从表头判断 {path.name} 是哪种台账，请用 --kind 指定（ambiguous kind）。")
    return ranked[0][0]


def _build_ledger(path: Path, grid: pl.DataFrame, header_idx: int, offset: int,
                  kind: str | None, sheet: str | None) -> Ledger:
    headers = list(grid.row(header_idx))
    kind = kind or _detect_kind(headers, path)
    mapping = HEADER_MAPS[kind]
    names: list[str] = []
    columns: dict[str, str] = {}
    units: dict[str, str | None] = {}
    for i, cell in enumerate(headers):
        text = str(cell).strip() if cell is not None and str(cell).strip() else f"第{i + 1}列"
        name = text if text not in names else f"{text}({i + 1})"
        names.append(name)
        key, unit = normalize_header(text)
        target = mapping.get(key)
        if target is None:
            continue
        if target in columns:
            raise FileProblem(f"表头中 {columns[target]} 和 {name} 指的是同一列，请删去一列（duplicate column）。")
        columns[target], units[target] = name, unit
    missing = [f.header for f in FIELDS[kind] if f.required and f.name not in columns]
    if missing:
        raise FileProblem(f"{path.name} 缺少必需的列：{'、'.join(missing)}（required column missing）。")
    body = (
        grid.slice(header_idx + 1)
        .rename(dict(zip(grid.columns, names, strict=True)))
        .with_row_index("_row", offset=header_idx + 1 + offset)
        .with_columns(pl.col("_row").cast(pl.Int64))
    )
    body = body.filter(pl.any_horizontal(pl.col(n).str.contains(r"\S").fill_null(False) for n in names))
    # A total row has no key of its own and a 合计/小计/总计 label in any of its cells (or the
    # label written in the key column). A row with a key is data, whatever its name says
    # (合计量仪表生产线). A cheap literal test first, the regex on the few rows left.
    key_cell = clean_text(pl.col(columns[KEYS[kind][0]]))
    candidates = body.filter(pl.any_horizontal(pl.col(n).str.contains("计", literal=True).fill_null(False)
                                               for n in names))
    totals = candidates.filter(
        (key_cell.is_null() & pl.any_horizontal(pl.col(n).str.contains(_TOTAL_RE).fill_null(False) for n in names))
        | key_cell.str.contains(_TOTAL_RE).fill_null(False)
    )["_row"]
    body = body.filter(~pl.col("_row").is_in(totals.implode()))
    empty = [n for n in names if n not in columns.values() and body[n].null_count() == body.height]
    return Ledger(
        path=path,
        kind=kind,
        frame=body.drop(empty),
        columns=columns,
        units=units,
        header_row=header_idx + offset,
        sheet=sheet,
        skipped_rows=totals.to_list(),
    )
