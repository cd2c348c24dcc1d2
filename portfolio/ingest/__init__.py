"""Importing ledgers (台账): reading, header mapping, parsing, validation, rejects, upsert, audit.

The path of a file: :func:`read_ledger` finds the header row under the title rows and keeps
every data row's Excel row number; :func:`validate` parses and checks every cell with polars
expressions (no Python loop per row) and returns the valid rows and one error per failed check;
:func:`upsert` writes the inserted and changed rows with their audit trail; :func:`ingest_file`
does all three in one transaction and writes the rejects file. File-level problems raise
:class:`FileProblem` before anything is written.
"""

from __future__ import annotations

import io
import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from .. import access, backup, config, export, files, store, textsafe
from . import safe_read

KINDS = ("projects", "progress", "enterprises")
KIND_LABELS = {"projects": "项目台账", "progress": "月度进度", "enterprises": "企业名录"}
EXCEL_SUFFIXES = (".xlsx", ".xlsm", ".xls", ".xlsb", ".ods")
HEADER_SCAN_ROWS = 20
MIN_PROJECT_WAN = Decimal(1000)
MONEY = pl.Decimal(18, 2)
PCT = pl.Decimal(5, 2)
_WIDE = pl.Decimal(38, 10)


class FileProblem(ValueError):
    """A problem with the whole file (unreadable, no header, missing column…): nothing is written."""


class ImportFailed(store.StoreError):
    """The database refused the write; the transaction was rolled back."""


# --------------------------------------------------------------------------- header catalogue


@dataclass(frozen=True)
class Field:
    """One importable column: its database name, Chinese header, type and accepted aliases."""

    name: str
    header: str
    type: str  # id | text | amount | date | month | bool | pct | enum | unit | chain | node
    required: bool = False
    aliases: tuple[str, ...] = ()
    choices: tuple[str, ...] = ()
    help: str = ""


_AMOUNT_HELP = "数字，默认单位万元；可写 3,000、１２００、1.5亿、800万元、5000000元"
_DATE_HELP = "2016.3、2016年3月、2016-03-15、2016/3/15、2016年3月15日 或 Excel 日期；只写到月份时取当月1日"
_BOOL_HELP = "是/否、Y/N、true/false、1/0、√；空白为否"

FIELDS: dict[str, tuple[Field, ...]] = {
    "projects": (
        Field("project_id", "项目编号", "id", True, ("编号", "项目代码", "项目编码", "项目ID"),
              help="唯一编号，重复导入时据此更新"),
        Field("name", "项目名称", "text", True, ("名称",)),
        Field("enterprise", "建设单位", "text", False, ("项目单位", "建设企业", "业主单位", "企业名称", "企业")),
        Field("chain_id", "产业链", "chain", False, ("所属产业链", "产业链名称", "chain"),
              help="产业链名称、别名或编号"),
        Field("node_id", "产业链环节", "node", False, ("环节", "所属环节", "产业链节点", "链上环节", "node"),
              help="环节名称或编号；名称在各链中唯一时可不填产业链"),
        Field("unit_id", "责任单位", "unit", True, ("所属单位", "属地", "责任主体", "县(市)区", "所在地区", "unit"),
              help="单位全称、简称（如 汽开区）或编号"),
        Field("park", "所在园区", "text", False, ("园区", "所属园区")),
        Field("nature", "建设性质", "enum", True, ("性质", "项目性质"), config.NATURES,
              help="技改、技术改造 视为 改建及技术改造；改扩建 视为 扩建"),
        Field("status", "项目状态", "enum", True, ("状态", "建设状态", "项目阶段"), config.STATUSES,
              help="续建、新开工 视为 在建；储备 视为 谋划"),
        Field("total_investment_wan", "总投资(万元)", "amount", True,
              ("总投资", "计划总投资", "项目总投资", "总投资额", "total_investment"),
              help=_AMOUNT_HELP + "；须不少于1000万元"),
        Field("annual_plan_wan", "年度计划投资(万元)", "amount", False,
              ("年度计划投资", "年度计划", "本年计划投资", "计划投资", "年计划投资", "当年计划投资", "annual_plan"),
              help=_AMOUNT_HELP + "；不得大于总投资，空白为0"),
        Field("start_date", "开工时间", "date", False, ("开工日期", "计划开工时间", "开工年月"), help=_DATE_HELP),
        Field("end_date", "竣工时间", "date", False, ("竣工日期", "计划竣工时间", "完工时间", "竣工年月"),
              help=_DATE_HELP + "；不得早于开工时间"),
        Field("leader", "包保领导", "text", False, ("包保责任人", "责任领导")),
        Field("leader_level", "包保层级", "enum", False, ("包保级别", "领导层级"), config.LEADER_LEVELS,
              help="市领导 视为 市级，局领导 视为 局级"),
        Field("is_major", "是否重大产业化项目", "bool", False, ("重大产业化项目", "是否重大项目", "重大项目"),
              help=_BOOL_HELP),
        Field("chain_role", "链上作用", "enum", False, ("补链增链丰链", "补链/增链/丰链", "补增丰"), config.CHAIN_ROLES,
              help="延链 视为 增链，强链 视为 丰链"),
        Field("note", "备注", "text", False, ("说明",)),
    ),
    "progress": (
        Field("project_id", "项目编号", "id", True, ("编号", "项目代码", "项目编码", "项目ID"),
              help="须已在项目库中"),
        Field("month", "月份", "month", True, ("月度", "填报月份", "统计月份", "年月"),
              help="2016.9、2016年9月、2016-09 等，记为当月1日；只写 9月 时取项目库的计划年度"),
        Field("completed_wan", "本月完成投资(万元)", "amount", True,
              ("本月完成投资", "当月完成投资", "本月完成", "月度完成投资", "完成投资", "completed"),
              help=_AMOUNT_HELP + "；当月数，不是累计数；空白为0"),
        Field("physical_pct", "形象进度(%)", "pct", False, ("形象进度", "工程形象进度", "physical"),
              help="0–100 的数字，可带 %"),
        Field("problems", "存在问题", "text", False, ("存在的问题", "存在问题及困难", "困难问题", "问题")),
        Field("problem_level", "问题协调层级", "enum", False, ("协调层级", "问题层级", "提交层级"),
              config.PROBLEM_LEVELS, help="问题提交协调的层级"),
    ),
    "enterprises": (
        Field("enterprise_id", "企业编号", "id", True, ("编号", "企业代码", "统一社会信用代码", "企业ID"),
              help="唯一编号，重复导入时据此更新"),
        Field("name", "企业名称", "text", True, ("名称", "企业")),
        Field("unit_id", "责任单位", "unit", False, ("所属单位", "属地", "所在地区", "unit"),
              help="单位全称、简称或编号"),
        Field("chain_id", "产业链", "chain", False, ("所属产业链", "chain"),
              help="只用于确定环节，不单独保存"),
        Field("node_id", "产业链环节", "node", False, ("环节", "所属环节", "node"), help="环节名称或编号"),
        Field("output_wan", "年产值(万元)", "amount", False, ("年产值", "产值", "工业总产值", "output"),
              help=_AMOUNT_HELP + "；空白为0"),
        Field("is_key", "是否重点企业", "bool", False, ("重点企业", "是否亿元以上企业"), help=_BOOL_HELP),
        Field("leader_level", "包保层级", "enum", False, ("包保级别",), config.LEADER_LEVELS),
    ),
}
KEYS: dict[str, tuple[str, ...]] = {
    "projects": ("project_id",),
    "progress": ("project_id", "month"),
    "enterprises": ("enterprise_id",),
}
#: Blank cells of these present columns take the column default instead of NULL.
_DEFAULTS: dict[str, Any] = {"annual_plan_wan": Decimal(0), "completed_wan": Decimal(0),
                             "output_wan": Decimal(0), "is_major": False, "is_key": False}
_LOOKUP_ONLY = {"enterprises": {"chain_id"}}

#: Tolerant spellings of the enumerations (keys compared without spaces, half-width, lower case).
ENUM_ALIASES: dict[str, dict[str, tuple[str, ...]]] = {
    "nature": {"新建": ("新建项目",), "扩建": ("扩建项目", "改扩建", "扩能"),
               "改建及技术改造": ("技改", "技术改造", "改建", "改造", "技改项目", "技术改造项目",
                           "改建及技改", "改造升级", "改建和技术改造")},
    "status": {"谋划": ("谋划中", "谋划项目", "储备", "储备项目"),
               "前期": ("前期工作", "前期阶段", "前期项目", "拟开工"),
               "在建": ("续建", "新开工", "建设中", "施工中", "在建项目", "开工", "已开工"),
               "竣工": ("已竣工", "完工", "建成", "竣工投产", "已建成"),
               "达产达效": ("达产", "达效", "已达产", "投产达效")},
    "leader_level": {"市级": ("市领导", "市级领导", "市", "市级包保"),
                     "局级": ("局领导", "局级领导", "局", "局级包保"),
                     "处室": ("处级", "处室领导", "处", "处室包保", "科室"),
                     "属地": ("属地部门", "县区", "区县", "属地包保", "区级", "县级")},
    "chain_role": {"补链": ("补链项目", "补"), "增链": ("增链项目", "延链", "增", "延"),
                   "丰链": ("丰链项目", "强链", "丰", "强")},
}
ENUM_ALIASES["problem_level"] = ENUM_ALIASES["leader_level"]
_TRUE = ("是", "y", "yes", "true", "t", "1", "1.0", "√", "✓", "✔", "对", "有")
_FALSE = ("否", "n", "no", "false", "f", "0", "0.0", "×", "✗", "x", "无", "不是")
_BOOLS = {**dict.fromkeys(_TRUE, True), **dict.fromkeys(_FALSE, False)}

_FULL = [chr(c) for c in range(0xFF01, 0xFF5F)] + ["\u3000"]
_HALF = [chr(c - 0xFEE0) for c in range(0xFF01, 0xFF5F)] + [" "]
NO_PROBLEM_RE = r"^(无|暂无|没有|无问题|暂无问题|没有问题|无困难|暂无困难|无此项|正常|none|n/?a)$"
#: A 合计 / 小计 / 总计 / 共计 label: 合计 anywhere in a cell; a cell that starts with the label
#: (小计（汽开区）, 总计：12项) or ends with it (汽车产业链小计, 汽开区总计（12项）). 总计算中心 is no label.
_TOTAL_RE = (r"合\s*计|^\s*[小总共]\s*计\s*($|[:：(（\d、个项])"
             r"|[小总共]\s*计\s*(?:[(（][^)）]*[)）]|\d+\s*[个项]?)?\s*[:：]?\s*$")
#: Characters the importer drops from every cell: C0 controls but tab and LF (CR becomes LF
#: first), DEL and the C1 controls, and U+FFFE / U+FFFF, which XML (and so xlsx) cannot hold.
CONTROL_RE = r"[\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F\x{FFFE}\x{FFFF}]"
#: Excel's limit on the characters in one cell; longer text would be cut off by every export.
MAX_CELL_CHARS = 32_767
_DASHES = ["-", "--", "—", "——", "–", "/", "\\", "－", "／"]
_UNIT_RE = re.compile(r"^(.+?)[(\[]?(?:单位[:：]?)?(亿元|万元|元|%)[)\]]?$")


def normalize_header(text: object) -> tuple[str, str | None]:
    """A header cell as a lookup key (NFKC, no spaces, lower case) and its unit suffix if any."""
    s = unicodedata.normalize("NFKC", str(text))
    s = re.sub(r"\s+", "", s).lower().strip("*:：")
    s = re.sub(r"^\d{4}年度?", "", s)
    m = _UNIT_RE.match(s)
    return (m.group(1), m.group(2)) if m else (s, None)


def _header_map(kind: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for f in FIELDS[kind]:
        for name in (f.header, f.name, *f.aliases):
            out.setdefault(normalize_header(name)[0], f.name)
    return out


HEADER_MAPS = {kind: _header_map(kind) for kind in KINDS}


# --------------------------------------------------------------------------- reading


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
    capped child process (:mod:`portfolio.safe_read`), so no file can take the caller down.
    """
    path = Path(path)
    if kind is not None and kind not in KINDS:
        raise FileProblem(f"未知的台账类型 {kind!r}，可选 projects、progress、enterprises（unknown kind）。")
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
    """A workbook checked, then parsed by :func:`_parse_excel` in the capped reader process."""
    try:
        grid, name, header_idx = safe_read.read_in_child(path, "excel", kind=kind, sheet=sheet, limits=limits)
    except safe_read.Refused as exc:
        raise FileProblem(str(exc)) from exc
    return grid, name or "", 1, header_idx


def _parse_excel(path: Path, kind: str | None, sheet: str | None) -> tuple[pl.DataFrame, str, int | None]:
    """The first sheet with a header row (or ``sheet``): (grid, sheet name, header index).

    Runs inside the reader process of :mod:`portfolio.safe_read`, never in the caller: the
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
        raise FileProblem(f"无法读取 Excel 文件 {path.name}：{_first_line(exc)}（unreadable file）。") from exc
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
        raise FileProblem(f"无法解析 CSV 文件 {path.name}：{_first_line(exc)}（malformed CSV）。") from exc
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


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]


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
    key_cell = _text(pl.col(columns[KEYS[kind][0]]))
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


# --------------------------------------------------------------------------- parsing expressions


def _text(e: pl.Expr) -> pl.Expr:
    """Clean text: CR LF and CR become LF, other control characters are dropped, leading and
    trailing whitespace is stripped; blank and dash-only cells (-, —, /) become null.

    Tab and LF are kept (an Excel cell holds them as they are). The dropped characters
    (:data:`CONTROL_RE`) are invisible, most cannot be stored in xlsx except as ``_xHHHH_``
    escapes that not every reader decodes, and they can steer a terminal.
    """
    s = e.str.replace_all(r"\r\n?", "\n").str.replace_all(CONTROL_RE, "").str.strip_chars()
    return pl.when((s == "") | s.is_in(_DASHES)).then(None).otherwise(s)


def _half(e: pl.Expr) -> pl.Expr:
    return e.str.replace_many(_FULL, _HALF)


def _key(e: pl.Expr) -> pl.Expr:
    return _half(e).str.replace_all(r"\s+", "").str.to_lowercase()


def parse_amount(e: pl.Expr, unit: str | None = None) -> pl.Expr:
    """Text → DECIMAL(18,2) 万元: 3,000 / １２００ / 1.5亿 / 800万元 / 5000000元; half-up rounding."""
    s = _half(e).str.replace_all(r"[\s,¥￥]", "")
    g = s.str.extract_groups(r"^([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)(亿元|亿|万元|万|元)?$")
    number = g.struct.field("1").cast(_WIDE, strict=False)
    suffix = g.struct.field("2").fill_null(unit or "万元")
    factor = (
        pl.when(suffix.str.starts_with("亿")).then(pl.lit(Decimal(10000), _WIDE))
        .when(suffix == "元").then(pl.lit(Decimal("0.0001"), _WIDE))
        .otherwise(pl.lit(Decimal(1), _WIDE))
    )
    return (number * factor).round(2, mode="half_away_from_zero").cast(MONEY, strict=False)


def parse_date(e: pl.Expr) -> pl.Expr:
    """Text → Date: 2016.3 / 2016年3月 / 2016-03-15 / 2016/3/15 / 2016年3月15日 / 20160315 / Excel serial."""
    s = _half(e).str.replace(r"[ T]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?$", "").str.replace_all(r"\s+", "")
    g = s.str.extract_groups(r"^(\d{4})[年./\-](\d{1,2})(?:[月./\-](?:(\d{1,2})日?)?)?$")
    c = s.str.extract_groups(r"^(\d{4})(\d{2})(\d{2})?$")
    year = pl.coalesce(g.struct.field("1"), c.struct.field("1"))
    month = pl.coalesce(g.struct.field("2"), c.struct.field("2")).str.zfill(2)
    day = pl.coalesce(g.struct.field("3"), c.struct.field("3"), pl.lit("1")).str.zfill(2)
    ymd = pl.concat_str([year, month, day], separator="-").str.to_date("%Y-%m-%d", strict=False)
    serial = s.str.extract(r"^(\d{5})(?:\.\d+)?$", 1).cast(pl.Int64)  # Excel day numbers, 1927–2173
    return pl.coalesce(ymd, pl.lit(date(1899, 12, 30)) + pl.duration(days=serial))


def parse_month(e: pl.Expr, *, default_year: int) -> pl.Expr:
    """Text → first day of the month; a bare month (9 / 9月) takes ``default_year``."""
    bare = _half(e).str.strip_chars().str.extract(r"^(\d{1,2})月?$", 1)
    fallback = pl.concat_str([pl.lit(str(default_year)), bare.str.zfill(2), pl.lit("01")], separator="-")
    return pl.coalesce(parse_date(e), fallback.str.to_date("%Y-%m-%d", strict=False)).dt.truncate("1mo")


def parse_pct(e: pl.Expr) -> pl.Expr:
    """Text → percent number (45, 45%, 45.5); range is checked by validation."""
    return _half(e).str.replace_all(r"[\s%]", "").cast(_WIDE, strict=False).round(2, mode="half_away_from_zero")


def parse_bool(e: pl.Expr) -> pl.Expr:
    """Text → Boolean: 是/否, Y/N, true/false, 1/0, √/×."""
    return _key(e).replace_strict(_BOOLS, default=None, return_dtype=pl.Boolean)


def _enum_map(name: str, choices: Iterable[str]) -> dict[str, str]:
    out = {c: c for c in choices}
    for canonical, aliases in ENUM_ALIASES.get(name, {}).items():
        out.update(dict.fromkeys(aliases, canonical))
    return {_py_key(k): v for k, v in out.items()}


def _py_key(text: str) -> str:
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text)).lower()


# --------------------------------------------------------------------------- reference lookups


@dataclass(frozen=True)
class _Reference:
    units: dict[str, str]
    chains: dict[str, str]
    nodes_in_chain: dict[str, str]  # "chain_id|key" -> node_id
    nodes_unique: dict[str, str]  # key -> node_id when the name is unique across chains
    nodes_ambiguous: list[str]
    node_chain: dict[str, str]
    plan_year: int


def _unit_key(e: pl.Expr) -> pl.Expr:
    return _key(e).str.replace(r"^长春市?", "")


def _chain_key(e: pl.Expr) -> pl.Expr:
    return _key(e).str.replace(r"产业链$", "")


def _lookup(frame: pl.DataFrame, key_cols: list[str], value: str, norm: Callable[[pl.Expr], pl.Expr],
            prefix: pl.Expr | None = None) -> pl.DataFrame:
    """All (key, value) pairs with each key normalised; keys naming two values are dropped."""
    parts = [frame.select(norm(pl.col(c).cast(pl.String)).alias("key"), pl.col(value)) for c in key_cols]
    pairs = pl.concat(parts).drop_nulls().unique()
    if prefix is not None:
        pairs = pairs.join(frame.select(value, prefix.alias("_p")), on=value).select(
            pl.concat_str(["_p", "key"], separator="|").alias("key"), pl.col(value))
    return pairs.with_columns(pl.col(value).n_unique().over("key").alias("n"))


def _reference(con: duckdb.DuckDBPyConnection) -> _Reference:
    units = store.fetch(con, "select unit_id, name, short_name, aliases from units").explode("aliases")
    chains = store.fetch(con, "select chain_id, name, name_en, aliases from chains").explode("aliases")
    nodes = store.fetch(con, "select node_id, chain_id, name, name_en from chain_nodes")
    u = _lookup(units, ["unit_id", "name", "short_name", "aliases"], "unit_id", _unit_key)
    c = _lookup(chains, ["chain_id", "name", "name_en", "aliases"], "chain_id", _chain_key)
    by_name = _lookup(nodes, ["node_id", "name", "name_en"], "node_id", _key)
    in_chain = _lookup(nodes, ["node_id", "name", "name_en"], "node_id", _key, prefix=pl.col("chain_id"))

    def as_dict(f: pl.DataFrame, value: str) -> dict[str, str]:
        return dict(f.filter(pl.col("n") == 1).select("key", value).iter_rows())

    year = store.get_meta(con, "plan_year") or str(config.targets_config().get("plan_year", 2016))
    return _Reference(
        units=as_dict(u, "unit_id"),
        chains=as_dict(c, "chain_id"),
        nodes_in_chain=as_dict(in_chain, "node_id"),
        nodes_unique=as_dict(by_name, "node_id"),
        nodes_ambiguous=by_name.filter(pl.col("n") > 1)["key"].unique().to_list(),
        node_chain=dict(nodes.select("node_id", "chain_id").iter_rows()),
        plan_year=int(year),
    )


def _current(con: duckdb.DuckDBPyConnection, table: str, keys: pl.DataFrame, columns: list[str]) -> pl.DataFrame:
    """The stored rows whose keys appear in ``keys`` (a semi join inside DuckDB)."""
    key_cols = ", ".join(keys.columns)
    cols = ", ".join(dict.fromkeys([*keys.columns, *columns]))
    con.register("_ingest_keys", keys.unique())
    try:
        return con.sql(f"select {cols} from {table} semi join _ingest_keys using ({key_cols})").pl()
    finally:
        con.unregister("_ingest_keys")


# --------------------------------------------------------------------------- validation


def validate(con: duckdb.DuckDBPyConnection, ledger: Ledger, *,
             allowed_units: set[str] | None = None) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Parse and check every row: (valid normalised rows with ``_row``, errors row/column/value/reason)."""
    kind = ledger.kind
    ref = _reference(con)
    fields = {f.name: f for f in FIELDS[kind] if f.name in ledger.columns}
    raw = ledger.frame.select(
        pl.col("_row"),
        *(_text(pl.col(ledger.columns[name])).alias(f"raw_{name}") for name in fields),
    )
    # A unit user's rows belong to their unit: with exactly one unit, a row that names none
    # takes it (an enterprise list without 责任单位 included); otherwise _checks refuses it.
    own = next(iter(allowed_units)) if allowed_units is not None and len(allowed_units) == 1 else None
    if own is not None and kind != "progress":
        if "unit_id" not in fields:
            fields["unit_id"] = next(f for f in FIELDS[kind] if f.name == "unit_id")
        fill = pl.col("raw_unit_id").fill_null(pl.lit(own)) if "raw_unit_id" in raw.columns else pl.lit(own)
        raw = raw.with_columns(fill.alias("raw_unit_id"))
    headers = {**{f.name: f.header for f in FIELDS[kind]}, **ledger.columns}
    parsed = raw.with_columns(_parse_expr(f, ledger.units.get(f.name), ref).alias(f.name) for f in fields.values())
    if "node_id" in fields:
        parsed = _resolve_nodes(parsed, ref)
    parsed = _join_current(con, kind, parsed)
    checks = _checks(kind, fields, allowed_units, config.import_limits())
    lazy = parsed.lazy()
    errors = pl.concat(
        [
            lazy.filter(bad).select(
                pl.col("_row").alias("row"),
                pl.lit(headers[name]).alias("column"),
                pl.col(f"raw_{name}").alias("value"),
                pl.lit(reason).alias("reason"),
                pl.lit(order).alias("_order"),
            )
            for order, (name, bad, reason) in enumerate(checks)
        ],
        how="vertical",
    ).sort("row", "_order").drop("_order").collect()
    keep = [name for name in fields if name not in _LOOKUP_ONLY.get(kind, set())]
    if kind == "projects" and "node_id" in fields and "chain_id" not in keep:
        keep.append("chain_id")
    valid = parsed.filter(~pl.col("_row").is_in(errors["row"].unique().implode())).select(
        "_row", *(_store_type(n) for n in keep)
    )
    return valid, errors


def _store_type(name: str) -> pl.Expr:
    e = pl.col(name).fill_null(_DEFAULTS[name]) if name in _DEFAULTS else pl.col(name)
    return e.cast(PCT) if name == "physical_pct" else e


def _parse_expr(f: Field, unit: str | None, ref: _Reference) -> pl.Expr:
    e = pl.col(f"raw_{f.name}")
    match f.type:
        case "id":
            return _half(e).str.replace_all(r"\s+", "").str.replace(r"^(\d+)\.0+$", "$1")
        case "amount":
            return parse_amount(e, unit)
        case "date":
            return parse_date(e)
        case "month":
            return parse_month(e, default_year=ref.plan_year)
        case "pct":
            return parse_pct(e)
        case "bool":
            return parse_bool(e)
        case "enum":
            return _key(e).replace_strict(_enum_map(f.name, f.choices), default=None, return_dtype=pl.String)
        case "unit":
            return _unit_key(e).replace_strict(ref.units, default=None, return_dtype=pl.String)
        case "chain":
            return _chain_key(e).replace_strict(ref.chains, default=None, return_dtype=pl.String)
        case "node":
            return _key(e)  # resolved with the chain in _resolve_nodes
    if f.name == "problems":
        # ledgers write 无 / 暂无 / 没有 for "no problem": that is no open problem, not a problem
        return pl.when(_key(e).str.contains(NO_PROBLEM_RE)).then(None).otherwise(e)
    return e


def _resolve_nodes(frame: pl.DataFrame, ref: _Reference) -> pl.DataFrame:
    chain = pl.col("chain_id") if "chain_id" in frame.columns else pl.lit(None, pl.String)
    in_chain = pl.concat_str([chain, pl.col("node_id")], separator="|").replace_strict(
        ref.nodes_in_chain, default=None, return_dtype=pl.String)
    anywhere = pl.col("node_id").replace_strict(ref.nodes_unique, default=None, return_dtype=pl.String)
    resolved = pl.when(chain.is_not_null()).then(in_chain).otherwise(anywhere)
    frame = frame.with_columns(
        resolved.alias("node_id"),
        anywhere.alias("_node_any"),
        pl.col("node_id").is_in(ref.nodes_ambiguous).alias("_node_ambiguous"),
        chain.alias("_chain_given"),
    )
    node_chain = pl.col("node_id").replace_strict(ref.node_chain, default=None, return_dtype=pl.String)
    return frame.with_columns(pl.coalesce(pl.col("_chain_given"), node_chain).alias("chain_id"))


def _join_current(con: duckdb.DuckDBPyConnection, kind: str, frame: pl.DataFrame) -> pl.DataFrame:
    """Attach the stored values the checks need (unit for rights, the other side of cross checks)."""
    ids = frame.select("project_id" if kind != "enterprises" else "enterprise_id").drop_nulls()
    if kind == "progress":
        cur = _current(con, "projects", ids, ["unit_id"])
    elif kind == "projects":
        cur = _current(con, "projects", ids, ["unit_id", "annual_plan_wan", "start_date", "end_date"])
    else:
        cur = _current(con, "enterprises", ids, ["unit_id"])
    cur = cur.rename({c: f"cur_{c}" for c in cur.columns if c not in ids.columns}).with_columns(
        pl.lit(True).alias("_exists"))
    return frame.join(cur, on=ids.columns, how="left", maintain_order="left")


def _checks(kind: str, fields: dict[str, Field], allowed_units: set[str] | None,
            limits: config.ImportLimits | None = None) -> list[tuple[str, pl.Expr, str]]:
    """Every check as (field, failing-row expression, reason); a row may fail several."""
    limits = limits or config.import_limits()
    out: list[tuple[str, pl.Expr, str]] = []
    for name, fd in fields.items():
        raw, val = pl.col(f"raw_{name}"), pl.col(name)
        if fd.required and name not in _DEFAULTS:  # a blank 本月完成投资 means 0, not a missing value
            out.append((name, raw.is_null(), "必填项为空"))
        unparsed = raw.is_not_null() & val.is_null()
        if fd.type in ("text", "id"):
            out.append((name, raw.str.len_chars() > MAX_CELL_CHARS,
                        f"文字超过 {MAX_CELL_CHARS} 个字符（Excel 单元格的上限），导出时会被截断"))
        if fd.type == "amount":
            out.append((name, unparsed, "金额无法识别（可写 3000、3,000、1.5亿、800万元、5000000元）"))
            out.append((name, val < 0, "金额不能为负数"))
        elif fd.type in ("date", "month"):
            out.append((name, unparsed, "日期无法识别（可写 2016.3、2016年3月、2016-03-15、2016/3/15 或 Excel 日期）"))
            out.append((name, ~val.is_between(limits.min_date, limits.max_date),
                        f"日期超出可接受的范围（{limits.min_date.isoformat()} 至 {limits.max_date.isoformat()}）"))
        elif fd.type == "pct":
            out.append((name, unparsed, "形象进度无法识别（应为 0–100 的数字）"))
            out.append((name, (val < 0) | (val > 100), "形象进度应在 0–100 之间"))
        elif fd.type == "bool":
            out.append((name, unparsed, "是/否无法识别（可写 是/否、Y/N、1/0、√）"))
        elif fd.type == "enum":
            out.append((name, unparsed, f"{fd.header}无效（可填：{'、'.join(fd.choices)}）"))
        elif fd.type == "unit":
            out.append((name, unparsed, "未知的责任单位"))
        elif fd.type == "chain":
            given = pl.col("_chain_given") if "node_id" in fields else val
            out.append((name, raw.is_not_null() & given.is_null(), "未知的产业链"))
        elif fd.type == "node":
            given_chain = pl.col("raw_chain_id").is_not_null() if "chain_id" in fields else pl.lit(False)
            out.append((name, unparsed & given_chain & pl.col("_node_any").is_not_null(), "产业链环节不属于所填产业链"))
            out.append((name, unparsed & ~given_chain & pl.col("_node_ambiguous"),
                        "环节名称在多条产业链中重复，请同时填写产业链"))
            out.append((name, unparsed & pl.col("_node_any").is_null() & ~pl.col("_node_ambiguous"),
                        "未知的产业链环节"))
    key = list(KEYS[kind])
    if kind == "projects":
        total = pl.col("total_investment_wan")
        out.append(("total_investment_wan", total.is_between(0, MIN_PROJECT_WAN, closed="left"),
                    "总投资低于1000万元，不属于项目库（只收录总投资1000万元及以上的工业项目）"))
        plan = pl.col("annual_plan_wan").fill_null(0) if "annual_plan_wan" in fields else pl.col("cur_annual_plan_wan")
        out.append(("annual_plan_wan" if "annual_plan_wan" in fields else "total_investment_wan",
                    plan > total, "年度计划投资大于总投资"))
        if "start_date" in fields or "end_date" in fields:
            start = pl.col("start_date") if "start_date" in fields else pl.col("cur_start_date")
            end = pl.col("end_date") if "end_date" in fields else pl.col("cur_end_date")
            out.append(("start_date" if "start_date" in fields else "end_date", start > end, "开工时间晚于竣工时间"))
        out.append(("project_id", pl.col("project_id").is_not_null() & pl.col("project_id").is_duplicated(),
                    "文件内项目编号重复"))
    elif kind == "progress":
        out.append(("project_id", pl.col("project_id").is_not_null() & pl.col("_exists").is_null(),
                    "项目编号不在项目库中（请先导入项目）"))
        dup = pl.struct(key).is_duplicated() & pl.all_horizontal(pl.col(k).is_not_null() for k in key)
        out.append(("month", dup, "文件内同一项目同一月份重复"))
    else:
        out.append(("enterprise_id", pl.col("enterprise_id").is_not_null() & pl.col("enterprise_id").is_duplicated(),
                    "文件内企业编号重复"))
    if allowed_units is not None:
        # Scope: a stored row may be changed only when it belongs to one of the user's units (a
        # stored row of no unit included), and every row written must belong to one of them.
        allowed = sorted(allowed_units)
        cur_bad = pl.col("_exists").fill_null(False) & ~pl.col("cur_unit_id").is_in(allowed).fill_null(False)
        if kind == "progress":  # progress belongs to its project's unit
            out.append(("project_id", cur_bad, "无权修改其他单位的项目"))
        else:
            has_unit = "unit_id" in fields
            new_bad = pl.col("unit_id").is_not_null() & ~pl.col("unit_id").is_in(allowed) if has_unit else pl.lit(False)
            what = "项目" if kind == "projects" else "企业"
            column = "unit_id" if has_unit else key[0]
            out.append((column, cur_bad | new_bad, f"无权修改其他单位的{what}"))
            if kind == "enterprises":  # projects: 责任单位 is required anyway
                missing = pl.col("raw_unit_id").is_null() if has_unit else pl.col("_exists").is_null()
                out.append((column, missing, "责任单位为空：以责任单位身份导入的行须写明本单位"))
    return [(name, bad.fill_null(False), reason) for name, bad, reason in out]


# --------------------------------------------------------------------------- writing


def upsert(con: duckdb.DuckDBPyConnection, kind: str, valid: pl.DataFrame, *, actor: str,
           source: str | None = None, batch_id: int | None = None,
           form: str | None = None) -> dict[str, int]:
    """Insert new rows and update changed ones by key, one audit row each; call inside a transaction.

    Only the columns present in ``valid`` are compared and written (a ledger without 包保领导
    leaves the stored leaders alone). Unchanged rows are not touched; the data revision is
    bumped once when anything was written.

    The audit rows carry ``batch_id`` (the caller then records the batch, as an import does).
    Without one, a write that changed something becomes an ``edit`` batch of its own, its
    source ``form`` (e.g. ``form:update_project``). The counts include ``batch`` (0: none).
    For undo (``batches.undo``) an insert's audit row holds the written values and an update's
    the old and new values of exactly the columns that changed, Decimal as text, dates ISO.
    """
    key = list(KEYS[kind])
    cols = [c for c in valid.columns if not c.startswith("_")]
    if not set(key) <= set(cols):
        raise ValueError(f"写入 {kind} 需要列 {', '.join(key)}。")
    if valid.is_empty():
        return {"inserted": 0, "updated": 0, "unchanged": 0, "batch": batch_id or 0}
    stored = con.sql(f"select {', '.join(cols)} from {kind} limit 0").pl().schema
    frame = valid.select(pl.col(c).cast(stored[c]) for c in cols)
    if frame.select(pl.struct(key).is_duplicated().any()).item():
        raise ValueError("同一编号在要写入的数据中出现多次，无法写入。")
    values = [c for c in cols if c not in key]
    cur = _current(con, kind, frame.select(key), values)
    cur = cur.rename({c: f"old_{c}" for c in values}).with_columns(pl.lit(True).alias("_exists"))
    changed = {c: pl.col(c).ne_missing(pl.col(f"old_{c}")) for c in values}
    action = (
        pl.when(pl.col("_exists").is_null()).then(pl.lit("insert"))
        .when(pl.any_horizontal(changed.values()) if values else pl.lit(False)).then(pl.lit("update"))
    )
    rows = frame.join(cur, on=key, how="left", maintain_order="left").with_columns(action.alias("_action"))
    inserted = rows.filter(pl.col("_action") == "insert")
    updated = rows.filter(pl.col("_action") == "update")
    _write(con, kind, inserted.select(cols), updated.select(cols), key, actor)
    record = (
        pl.concat_str([pl.col("project_id"), pl.col("month").dt.strftime("%Y-%m")], separator="/")
        if kind == "progress" else pl.col(key[0])
    )
    audit_cols = [
        pl.lit(actor).alias("actor"), pl.col("_action").alias("action"), pl.lit(kind).alias("table_name"),
        record.alias("record_id"),
    ]
    audit = pl.concat([
        inserted.select(*audit_cols, pl.lit(None, pl.String).alias("old_values"),
                        _json_object(frame.schema, values).alias("new_values")),
        updated.select(*audit_cols, _json_object(frame.schema, values, changed, prefix="old_").alias("old_values"),
                       _json_object(frame.schema, values, changed).alias("new_values")),
    ]).with_columns(pl.lit(source).cast(pl.String).alias("source"))
    counts = {"inserted": inserted.height, "updated": updated.height,
              "unchanged": frame.height - inserted.height - updated.height}
    own_batch = batch_id is None and bool(inserted.height or updated.height)
    if own_batch:
        batch_id = store.new_batch(con)
    store.audit_frame(con, audit, batch_id=batch_id)
    if own_batch:
        assert batch_id is not None
        store.record_batch(con, batch_id, actor=actor, kind="edit", source=form or source, table=kind,
                           counts=counts)
    if inserted.height or updated.height:
        store.bump_revision(con)
    return {**counts, "batch": batch_id or 0}


def _write(con: duckdb.DuckDBPyConnection, table: str, inserted: pl.DataFrame, updated: pl.DataFrame,
           key: list[str], actor: str) -> None:
    tracked = table in ("projects", "progress")
    cols = inserted.columns
    if inserted.height:
        con.register("_ingest_rows", inserted)
        try:
            extra = (", updated_by", ", ?") if tracked else ("", "")
            con.execute(f"insert into {table} ({', '.join(cols)}{extra[0]})"
                        f" select {', '.join(cols)}{extra[1]} from _ingest_rows", [actor] if tracked else [])
        finally:
            con.unregister("_ingest_rows")
    if updated.height:
        sets = [f"{c} = r.{c}" for c in cols if c not in key]
        if table == "projects":
            sets.append("version = projects.version + 1")
        if tracked:
            sets += ["updated_at = current_timestamp", "updated_by = ?"]
        where = " and ".join(f"{table}.{k} = r.{k}" for k in key)
        con.register("_ingest_rows", updated)
        try:
            con.execute(f"update {table} set {', '.join(sets)} from _ingest_rows r where {where}",
                        [actor] if tracked else [])
        finally:
            con.unregister("_ingest_rows")


def _json_object(schema: pl.Schema, cols: list[str], mask: dict[str, pl.Expr] | None = None,
                 prefix: str = "") -> pl.Expr:
    """A JSON object per row of ``cols`` (only the masked ones); Decimal and dates as strings."""
    parts = []
    for c in cols:
        value = pl.col(prefix + c)
        if schema[c] == pl.Date or isinstance(schema[c], pl.Decimal):
            value = value.cast(pl.String)
        pair = pl.struct(value.alias(c)).struct.json_encode().str.strip_prefix("{").str.strip_suffix("}")
        parts.append(pl.when(mask[c]).then(pair) if mask else pair)
    inner = pl.concat_str(parts, separator=",", ignore_nulls=True) if parts else pl.lit("")
    return pl.concat_str([pl.lit("{"), inner, pl.lit("}")])


def write_rejects(ledger: Ledger, errors: pl.DataFrame, path: str | Path | None = None, *,
                  db: str | Path | None = None) -> Path:
    """Write the errors with the original cells of their rows (UTF-8-BOM CSV, or .xlsx by suffix).

    The target is checked by :func:`files.check_output`: never the database ``db``, its WAL or
    the ledger itself, never a file the tool did not write. Without ``path`` the file goes next
    to the input (``<stem>.rejects.csv``), else to a numbered name beside it, else here.
    """
    fixed = {"row": "行号", "column": "列", "value": "值", "reason": "原因"}
    original = ledger.frame.rename({c: f"{c}(原表)" for c in ledger.frame.columns if c in fixed.values()})
    table = errors.rename(fixed).join(original, left_on="行号", right_on="_row", how="left", maintain_order="left")
    if path:
        attempts = [Path(path)]
    else:
        first = ledger.path.with_name(f"{ledger.path.stem}.rejects.csv")
        numbered = [first.with_name(f"{ledger.path.stem}.rejects-{k}.csv") for k in range(2, 10)]
        attempts = [first, *numbered, Path.cwd() / first.name]
    error: BaseException = OSError("?")
    for attempt in attempts:
        try:
            target = files.check_output(attempt, kind="rejects", db=db, inputs=[ledger.path])
            with files.atomic(target, kind="rejects") as tmp:
                _write_table(table, tmp, xlsx=target.suffix.lower() == ".xlsx")
            return target
        except files.UnsafeOutput as exc:
            if path:
                raise FileProblem(str(exc)) from exc
            error = exc
        except OSError as exc:
            error = exc
    reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
    raise FileProblem(f"无法写入拒收文件 {attempts[0]}：{reason}（cannot write rejects file）。") from error


def _write_table(table: pl.DataFrame, target: Path, *, xlsx: bool) -> None:
    """The rejects as xlsx (text cells stay text: never formulas, never links) or as CSV.

    The CSV is meant to be opened in Excel by staff, so a cell that starts with = + - @ tab or
    CR gets a leading ' (OWASP CSV injection, :func:`textsafe.formula_safe_frame`).
    """
    if xlsx:
        import xlsxwriter

        try:
            export.write_xlsx({"拒收行": table}, target)
        except xlsxwriter.exceptions.FileCreateError as exc:
            raise OSError(str(exc)) from exc
    else:
        textsafe.formula_safe_frame(table).write_csv(target, include_bom=True)


# --------------------------------------------------------------------------- the whole import


@dataclass
class IngestResult:
    """What an import did: the CONTRACT counts, the errors and where the rejects went."""

    file: str
    kind: str
    rows_read: int
    inserted: int
    updated: int
    unchanged: int
    rejected: int
    skipped: int
    rejects_file: str | None
    errors: pl.DataFrame
    skipped_rows: list[int]
    sheet: str | None = None
    header_row: int = 1
    revision: int | None = None
    batch: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """The CONTRACT's ``ingest --json`` object, plus sheet, header_row, skipped_rows, revision."""
        return {
            "file": self.file, "kind": self.kind, "rows_read": self.rows_read,
            "inserted": self.inserted, "updated": self.updated, "unchanged": self.unchanged,
            "rejected": self.rejected, "skipped": self.skipped, "rejects_file": self.rejects_file,
            "batch": self.batch,
            "errors": self.errors.select("row", "column", "value", "reason").to_dicts(),
            "skipped_rows": self.skipped_rows, "sheet": self.sheet, "header_row": self.header_row,
            "revision": self.revision,
        }


def ingest_file(
    db: str | Path | None,
    path: str | Path,
    *,
    kind: str | None = None,
    sheet: str | None = None,
    rejects: str | Path | None = None,
    actor: str = "cli",
    source: str | None = None,
    allowed_units: set[str] | None = None,
    progress: Callable[[str], Any] | None = None,
    user: access.User | None = None,
) -> IngestResult:
    """Read, validate and upsert a ledger in one transaction; write the rejects file if any.

    With ``user`` the import acts as that user: the role must allow imports, the audit log
    names them, and a ``unit`` user's rows of other units are rejected with the reason. A
    file-level problem raises :class:`FileProblem` before the database is opened; a database
    error rolls everything back and raises :class:`ImportFailed`.
    """
    if user is not None:
        access.require(user, "import")
        actor = user.label
        allowed_units = user.allowed_units if allowed_units is None else allowed_units & (user.allowed_units or allowed_units)
    say = progress or (lambda _msg: None)
    if rejects is not None:  # a wrong rejects path is refused before anything is read or written
        try:
            files.check_output(rejects, kind="rejects", db=store.resolve_db(db), inputs=[path])
        except files.UnsafeOutput as exc:
            raise FileProblem(str(exc)) from exc
    ledger = read_ledger(path, kind=kind, sheet=sheet)
    say(f"读取 {ledger.path.name}（{KIND_LABELS[ledger.kind]}）：表头在第 {ledger.header_row} 行，"
        f"数据 {ledger.rows_read} 行。")
    backup.before_import(db)  # a copy in backups/ before every import (docs/deploy.md)
    try:
        with store.connect(db) as con, store.transaction(con):
            valid, errors = validate(con, ledger, allowed_units=allowed_units)
            rejects_path = write_rejects(ledger, errors, rejects, db=store.resolve_db(db)) if errors.height else None
            batch = store.new_batch(con)  # the import is one batch, undoable as a whole
            counts = upsert(con, ledger.kind, valid, actor=actor, source=source or f"import:{ledger.path.name}",
                            batch_id=batch)
            rejected, skipped = errors["row"].n_unique(), len(ledger.skipped_rows)
            store.record_batch(con, batch, actor=actor, kind="import", source=ledger.path.name,
                               table=ledger.kind, counts={**counts, "rejected": rejected, "skipped": skipped})
            revision = int(store.get_meta(con, "revision", "0") or 0)
    except duckdb.Error as exc:
        raise ImportFailed(f"写入数据库失败，本次导入已全部撤销：{_first_line(exc)}（database error, rolled back）。") from exc
    return IngestResult(
        file=str(ledger.path), kind=ledger.kind, rows_read=ledger.rows_read,
        inserted=counts["inserted"], updated=counts["updated"], unchanged=counts["unchanged"],
        rejected=rejected, skipped=skipped,
        rejects_file=str(rejects_path) if rejects_path else None, errors=errors,
        skipped_rows=ledger.skipped_rows, sheet=ledger.sheet, header_row=ledger.header_row,
        revision=revision, batch=batch,
    )


# --------------------------------------------------------------------------- templates


def template_xlsx(kind: str) -> bytes:
    """A blank import template: title and header rows, drop-downs, and a 说明 sheet."""
    import xlsxwriter

    if kind not in KINDS:
        raise ValueError(f"未知的台账类型 {kind!r}。")
    fields = FIELDS[kind]
    buf = io.BytesIO()
    wb = xlsxwriter.Workbook(buf, {"in_memory": True})
    title = wb.add_format({"bold": True, "font_size": 14})
    head = wb.add_format({"bold": True, "bg_color": "#DDEBF7", "border": 1, "text_wrap": True, "valign": "vcenter"})
    must = wb.add_format({"bold": True, "bg_color": "#FCE4D6", "border": 1, "text_wrap": True, "valign": "vcenter",
                          "font_color": "#C00000"})
    wrap = wb.add_format({"text_wrap": True, "valign": "top"})
    ws = wb.add_worksheet(KIND_LABELS[kind])
    ws.write(0, 0, f"长春市工业投资{KIND_LABELS[kind]}（导入模板；红色表头为必填，金额单位万元）", title)
    ws.set_row(1, 32)
    ref = config.load_reference()
    lists = {"unit": ref.units["short_name"].to_list(), "chain": ref.chains["name"].to_list(),
             "bool": ["是", "否"]}
    for i, f in enumerate(fields):
        ws.write(1, i, f.header, must if f.required else head)
        ws.set_column(i, i, max(10, len(f.header) * 2 + 2))
        choices = list(f.choices) or lists.get(f.type, [])
        if choices:
            ws.data_validation(2, i, 10001, i, {"validate": "list", "source": choices, "error_type": "warning"})
    ws.freeze_panes(2, 0)
    doc = wb.add_worksheet("说明")
    doc.set_column(0, 0, 22)
    doc.set_column(1, 1, 8)
    doc.set_column(2, 2, 22)
    doc.set_column(3, 4, 60)
    for j, h in enumerate(("列名", "必填", "数据库字段", "可填的值 / 格式", "也认得的列名")):
        doc.write(0, j, h, head)
    for r, f in enumerate(fields, start=1):
        values = "、".join(f.choices) + ("；" + f.help if f.help else "") if f.choices else f.help
        doc.write_row(r, 0, [f.header, "是" if f.required else "", f.name, values, "、".join(f.aliases)], wrap)
    row = len(fields) + 2
    notes = [
        "表头上方可以有标题行，表头下方的空行不计；合计、小计、总计行自动跳过。序号等其他列会被忽略。",
        "同一编号再次导入时更新原记录；内容没有变化的行不会改动。每一处修改都记入修改日志。",
        "有问题的行不会写入，连同原因写入 <文件名>.rejects.csv，可修改后重新导入。",
        "责任单位：" + "、".join(f"{n}（{s}）" for n, s in ref.units.select("name", "short_name").iter_rows()),
        "产业链：" + "、".join(ref.chains["name"].to_list()),
    ]
    for text in notes:
        doc.merge_range(row, 0, row, 4, text, wrap)
        doc.set_row(row, 30 if len(text) < 120 else 60)
        row += 1
    wb.close()
    return buf.getvalue()
