"""Reading untrusted spreadsheets where a crash or a runaway allocation cannot reach the caller.

A 1.7 KB xlsx whose sheet holds a cell at A1 and one at XFD1048576 makes the Excel reader ask
for 512 GB and abort the whole process; in the app that process is the server everyone uses.
So an upload is read in two steps:

1. **Cheap checks in the caller** (:func:`check_file`): the file size; for the zip formats
   (xlsx, xlsm, xlsb, ods) the number of parts, their unpacked size and compression ratio (a
   zip bomb) and every worksheet's declared ``<dimension ref=…>``, read with a bounded
   streaming read of its first 64 KiB; for parquet the footer's size. Nothing here parses the
   sheets themselves.
2. **Parsing in a child process** (:func:`read_in_child`): ``python -m portfolio.ingest.child``
   (:mod:`portfolio.ingest.child`) caps its own address space (``RLIMIT_AS``) before it
   parses anything or imports the Excel reader, reads the workbook or parquet file, checks the grid against the limits and hands it back as an Arrow
   IPC file. A crash, an abort or the memory cap kills only the child; a time limit stops a
   child that runs too long. The caller raises :class:`Refused` with one sentence.

The limits are :class:`portfolio.config.ImportLimits` (``[import_limits]`` in targets.toml).
"""

from __future__ import annotations

import json
import os
import re
import signal
import struct
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import polars as pl

from ..config import ImportLimits, import_limits
from .errors import first_line

ZIP_SUFFIXES = (".xlsx", ".xlsm", ".xlsb", ".ods")
#: An xlsx has a dozen parts; a workbook of many sheets a few hundred.
MAX_ZIP_PARTS = 10_000
#: Parts smaller than this may compress as well as they like (small, so harmless).
RATIO_FLOOR_BYTES = 1 << 20
#: How much of a worksheet part is unpacked to find its <dimension>: it is the second element.
HEAD_BYTES = 65_536
#: A parquet footer (schema and row-group metadata) of a real ledger is a few KB.
MAX_PARQUET_FOOTER_BYTES = 8 << 20
MB = 1 << 20
_DIMENSION_RE = re.compile(
    rb"<(?:\w+:)?dimension\b[^>]*?\bref\s*=\s*[\"']([A-Za-z]{0,4})(\d{0,10})(?::([A-Za-z]{1,4})(\d{1,10}))?[\"']")
_WORKSHEET_RE = re.compile(r"^xl/worksheets/[^/]+\.xml$", re.IGNORECASE)


class Refused(ValueError):
    """The file breaks an import limit or could not be read safely (one sentence, nothing read)."""


# --------------------------------------------------------------------------- cheap checks


def check_file(path: Path, limits: ImportLimits | None = None) -> None:
    """Refuse a file over the size limits before anything parses it (see the module docstring)."""
    limits = limits or import_limits()
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise Refused(f"无法读取文件 {path.name}：{exc.strerror}（unreadable file）。") from exc
    if size > limits.max_file_mb * MB:
        raise Refused(f"文件 {path.name} 有 {size / MB:,.0f} MB，超过导入上限 {limits.max_file_mb:,} MB，"
                      f"请拆分后再导入（file too large）。")
    suffix = path.suffix.lower()
    if suffix in ZIP_SUFFIXES:
        _check_zip(path, size, limits)
    elif suffix == ".parquet":
        _check_parquet_footer(path, size)


def _zip_directory(path: Path, size: int) -> tuple[int, int]:
    """The part count and central-directory size from the end record, before zipfile parses it."""
    back = min(size, 22 + 65_535)
    with path.open("rb") as fh:
        fh.seek(size - back)
        tail = fh.read(back)
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or len(tail) - at < 22:
        raise Refused(f"无法读取 Excel 文件 {path.name}：它不是 zip 格式，可能已损坏或只是改了扩展名（unreadable file）。")
    entries, directory = struct.unpack("<HI", tail[at + 10:at + 16])
    return entries, directory


def _check_zip(path: Path, size: int, limits: ImportLimits) -> None:
    entries, directory = _zip_directory(path, size)
    # 0xFFFF is the zip64 marker: more parts than any workbook has.
    if entries > MAX_ZIP_PARTS or directory > MAX_ZIP_PARTS * 1024:
        raise Refused(f"{path.name} 含有过多的部件（{entries:,} 个），不是正常的 Excel 文件（too many zip parts）。")
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
            total = 0
            for info in infos:
                total += info.file_size
                if info.file_size > RATIO_FLOOR_BYTES and \
                        info.file_size > limits.max_compression_ratio * max(info.compress_size, 1):
                    raise Refused(
                        f"{path.name} 中的 {info.filename} 压缩比超过 {limits.max_compression_ratio} 倍"
                        f"（{info.compress_size:,} 字节解压为 {info.file_size:,} 字节），疑似压缩炸弹，未读取（zip bomb）。")
            if total > limits.max_uncompressed_mb * MB:
                raise Refused(f"{path.name} 解压后有 {total / MB:,.0f} MB，超过导入上限 "
                              f"{limits.max_uncompressed_mb:,} MB，请拆分后再导入（unpacked size too large）。")
            for info in infos:
                if _WORKSHEET_RE.match(info.filename):
                    with archive.open(info) as part:
                        head = part.read(HEAD_BYTES)
                    _check_dimension(path, info.filename, head, limits)
    except Refused:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, RuntimeError, OSError, EOFError,
            ValueError) as exc:
        raise Refused(f"无法读取 Excel 文件 {path.name}：{first_line(exc)}（unreadable file）。") from exc


def _column_number(letters: str) -> int:
    number = 0
    for ch in letters.upper():
        number = number * 26 + ord(ch) - ord("A") + 1
    return number


def _check_dimension(path: Path, part: str, head: bytes, limits: ImportLimits) -> None:
    """Refuse a worksheet whose declared range is beyond the row, column or cell limits."""
    m = _DIMENSION_RE.search(head)
    if m is None:
        return  # no declaration: the child process's memory cap still holds
    col1, row1, col2, row2 = (g.decode("ascii") if g else "" for g in m.groups())
    rows = int(row2 or row1 or 1)
    cols = _column_number(col2 or col1 or "A")
    ref = m.group(0).split(b"ref", 1)[1].strip(b" =\"'").decode("ascii", "replace")
    if rows > limits.max_rows or cols > limits.max_columns or rows * cols > limits.max_cells:
        raise Refused(
            f"{path.name} 的工作表 {Path(part).name} 声明的范围是 {ref}（{rows:,} 行 × {cols:,} 列），超过导入上限"
            f"（{limits.max_rows:,} 行、{limits.max_columns:,} 列、{limits.max_cells:,} 个单元格），未读取；"
            f"请删去远处的空白格式或另存为新文件后再导入（sheet too large）。")


def _check_parquet_footer(path: Path, size: int) -> None:
    with path.open("rb") as fh:
        if size < 12:
            raise Refused(f"{path.name} 不是有效的 parquet 文件（not a parquet file）。")
        fh.seek(size - 8)
        footer_len, magic = struct.unpack("<I4s", fh.read(8))
    if magic != b"PAR1":
        raise Refused(f"{path.name} 不是有效的 parquet 文件（not a parquet file）。")
    if footer_len > min(size, MAX_PARQUET_FOOTER_BYTES):
        raise Refused(f"{path.name} 的元数据有 {footer_len:,} 字节，不是正常的台账文件（parquet footer too large）。")


def check_grid(grid: pl.DataFrame, name: str, limits: ImportLimits) -> None:
    """Refuse a read grid with more rows or columns than the limits allow."""
    if grid.height > limits.max_rows or grid.width > limits.max_columns:
        raise Refused(f"{name} 有 {grid.height:,} 行 × {grid.width:,} 列，超过导入上限（{limits.max_rows:,} 行、"
                      f"{limits.max_columns:,} 列），请拆分后再导入（too many rows or columns）。")


# --------------------------------------------------------------------------- the child process


def read_in_child(path: Path, mode: str, *, kind: str | None = None, sheet: str | None = None,
                  limits: ImportLimits | None = None) -> tuple[pl.DataFrame, str | None, int | None]:
    """Check ``path``, then parse it in a capped child process: (grid, sheet name, header index).

    ``mode`` is ``excel`` (the sheet with a header row, as :func:`portfolio.ingest.read_ledger`
    chooses it) or ``parquet``. A refused or failed read raises :class:`Refused`.
    """
    limits = limits or import_limits()
    check_file(path, limits)
    package_root = str(Path(__file__).resolve().parents[2])
    env = dict(os.environ, POLARS_MAX_THREADS="2", MALLOC_ARENA_MAX="2", RUST_BACKTRACE="0",
               PYTHONPATH=os.pathsep.join(p for p in (package_root, os.environ.get("PYTHONPATH")) if p))
    with tempfile.TemporaryDirectory(prefix="portfolio_read_") as tmp:
        out = Path(tmp)
        request = {"mode": mode, "path": str(path.resolve()), "kind": kind, "sheet": sheet,
                   "memory_mb": limits.reader_memory_mb, "max_rows": limits.max_rows,
                   "max_columns": limits.max_columns, "max_cells": limits.max_cells,
                   "max_uncompressed_mb": limits.max_uncompressed_mb}
        (out / "request.json").write_text(json.dumps(request), encoding="utf-8")
        with (out / "stderr.txt").open("wb") as err:
            try:
                proc = subprocess.run([sys.executable, "-m", "portfolio.ingest.child", str(out)],
                                      stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
                                      env=env, timeout=limits.reader_timeout_s, check=False)
            except subprocess.TimeoutExpired as exc:
                raise Refused(f"读取 {path.name} 超过 {limits.reader_timeout_s:,} 秒仍未完成，已停止，"
                              f"文件可能过大或已损坏（reader timed out）。") from exc
        result_file = out / "result.json"
        if proc.returncode != 0 or not result_file.exists():
            raise Refused(crash_message(path, proc.returncode, (out / "stderr.txt").read_bytes(), limits))
        result: dict[str, Any] = json.loads(result_file.read_text(encoding="utf-8"))
        if "error" in result:
            raise Refused(result["error"])
        grid = pl.read_ipc(out / "grid.arrow")
    check_grid(grid, path.name, limits)
    return grid, result.get("sheet"), result.get("header_idx")


def crash_message(path: Path, code: int, stderr: bytes, limits: ImportLimits) -> str:
    memory = b"memory allocation" in stderr or b"MemoryError" in stderr or code in (
        -signal.SIGKILL, -signal.SIGABRT, -signal.SIGSEGV, -signal.SIGBUS)
    if memory:
        return (f"读取 {path.name} 时超出内存上限（{limits.reader_memory_mb:,} MB），读取进程已停止，"
                f"文件过大或已损坏，未导入任何内容（out of memory while reading）。")
    return f"读取 {path.name} 的进程异常退出（代码 {code}），文件可能已损坏，未导入任何内容（reader failed）。"
