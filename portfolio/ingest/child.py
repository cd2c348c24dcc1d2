"""The capped reader process: ``python -m portfolio.ingest.child FOLDER``.

:func:`portfolio.ingest.safe_read.read_in_child` writes ``request.json`` into FOLDER and starts
this module. It caps its own address space (``RLIMIT_AS``) before it parses anything, reads the
workbook (the sheet :func:`portfolio.ingest.reading.parse_excel` chooses) or the parquet file,
checks the grid against the limits and writes ``grid.arrow`` and ``result.json`` (or the error
sentence). A crash, an abort or the memory cap kills only this process. It is a module of its
own, imported by nothing, so running it with ``-m`` never finds it already imported.
"""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path
from typing import Any

import polars as pl

from ..config import ImportLimits
from .errors import first_line
from .reading import parse_excel  # it imports fastexcel when it runs: under the cap
from .safe_read import MB, Refused, check_grid, crash_message


def main(folder: Path) -> int:
    """Cap memory first, then parse and write grid.arrow and result.json into ``folder``."""
    request = json.loads((folder / "request.json").read_text(encoding="utf-8"))
    try:
        import resource
    except ImportError:  # not a Unix system: no cap, the crash still stays in this process
        pass
    else:
        cap = int(request["memory_mb"]) * MB
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    limits = ImportLimits(max_rows=request["max_rows"], max_columns=request["max_columns"],
                          max_cells=request["max_cells"], max_uncompressed_mb=request["max_uncompressed_mb"])
    path = Path(request["path"])
    result: dict[str, Any]
    try:
        if request["mode"] == "excel":
            grid, sheet, header_idx = parse_excel(path, request["kind"], request["sheet"])
        else:
            grid, sheet, header_idx = _parse_parquet(path, limits), None, 0
        check_grid(grid, path.name, limits)
        grid.write_ipc(folder / "grid.arrow")
        result = {"sheet": sheet, "header_idx": header_idx}
    except MemoryError:
        result = {"error": crash_message(path, -signal.SIGABRT, b"MemoryError", ImportLimits(
            reader_memory_mb=int(request["memory_mb"])))}
    except (Refused, ValueError) as exc:  # ingest.FileProblem is a ValueError
        result = {"error": str(exc)}
    tmp = folder / "result.json.tmp"
    tmp.write_text(json.dumps(result, ensure_ascii=False), encoding="utf-8")
    tmp.replace(folder / "result.json")
    return 0


def _parse_parquet(path: Path, limits: ImportLimits) -> pl.DataFrame:
    """A parquet ledger as a grid of strings whose first row holds the column names (in the child)."""
    import pyarrow.parquet as pq

    try:
        meta = pq.read_metadata(path)
    except Exception as exc:
        raise Refused(f"无法读取 parquet 文件 {path.name}：{first_line(exc)}（unreadable file）。") from exc
    unpacked = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
    if meta.num_rows > limits.max_rows or meta.num_columns > limits.max_columns \
            or meta.num_rows * meta.num_columns > limits.max_cells or unpacked > limits.max_uncompressed_mb * MB:
        raise Refused(f"{path.name} 有 {meta.num_rows:,} 行 × {meta.num_columns:,} 列（解压后约 {unpacked / MB:,.0f} MB），"
                      f"超过导入上限（{limits.max_rows:,} 行、{limits.max_columns:,} 列、"
                      f"{limits.max_uncompressed_mb:,} MB），请拆分后再导入（too large）。")
    try:
        frame = pl.read_parquet(path)
        body = frame.select(pl.col(c).cast(pl.String).alias(f"c{i}") for i, c in enumerate(frame.columns))
    except Exception as exc:
        raise Refused(f"无法读取 parquet 文件 {path.name}：{first_line(exc)}（unreadable file）。") from exc
    header = pl.DataFrame([pl.Series(f"c{i}", [name], pl.String) for i, name in enumerate(frame.columns)])
    return pl.concat([header, body])


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
