"""Benchmark: import 100,000 rows and undo the batch, on a 100,000-project sample database.

    python benchmarks/bench_undo.py              # updates docs/benchmarks.md
    python benchmarks/bench_undo.py --no-write   # print only

Three 100,000-row imports, each followed by ``batches.undo`` of its batch and the undo of that
undo (redo): every project changed in two columns (updates), 100,000 new projects (inserts,
so the undo deletes them), and 100,000 stored progress rows changed (updates). After each
undo the table's checksum (count and sum of row hashes, bookkeeping columns left out) is
compared with the one before the import. The results replace the section between the
``undo`` markers in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import polars as pl

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DOC = ROOT / "docs" / "benchmarks.md"
BEGIN, END = "<!-- bench_undo:begin -->", "<!-- bench_undo:end -->"
N = 100_000


def checksum(db: Path, table: str) -> tuple[object, ...]:
    from portfolio import batches, store

    with store.connect(db, read_only=True) as con:
        cols = [r[0] for r in con.execute(
            "select column_name from duckdb_columns() where table_name = ? order by column_index",
            [table]).fetchall() if r[0] not in batches.BOOKKEEPING]
        return tuple(con.execute(
            f"select count(*), sum(hash({', '.join(cols)})) from {table}").fetchall()[0])


def ledgers(db: Path, folder: Path) -> dict[str, tuple[str, Path]]:
    """The three ledgers as parquet files (headers are the database column names)."""
    from portfolio import store

    with store.connect(db, read_only=True) as con:
        projects = store.fetch(con, "select project_id, name, unit_id, nature, status, total_investment_wan,"
                                    " annual_plan_wan, note from projects order by project_id limit ?", [N])
        progress = store.fetch(con, "select project_id, strftime(month, '%Y-%m') as month, completed_wan"
                                    " from progress order by project_id, month limit ?", [N])
    out = {}
    updates = projects.with_columns((pl.col("total_investment_wan") + 1).alias("total_investment_wan"),
                                    pl.lit("批量修改").alias("note"))
    out["projects: 100,000 updated"] = ("projects", folder / "update.parquet")
    updates.write_parquet(out["projects: 100,000 updated"][1])
    inserts = projects.with_columns(("NEW-" + pl.col("project_id")).alias("project_id"))
    out["projects: 100,000 inserted"] = ("projects", folder / "insert.parquet")
    inserts.write_parquet(out["projects: 100,000 inserted"][1])
    changed = progress.with_columns((pl.col("completed_wan") + 1).alias("completed_wan"))
    out["progress: 100,000 updated"] = ("progress", folder / "progress.parquet")
    changed.write_parquet(out["progress: 100,000 updated"][1])
    return out


def measure() -> list[dict[str, object]]:
    from portfolio import access, batches, ingest, store

    rows = []
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        db = folder / "bench.duckdb"
        store.init_db(db, sample=True, projects=N)
        for label, (table, path) in ledgers(db, folder).items():
            before = checksum(db, table)
            load = os.getloadavg()[0]
            t0 = time.perf_counter()
            result = ingest.ingest_file(db, path, kind=table, user=access.SYSTEM_USER)
            ingest_s = time.perf_counter() - t0
            assert result.batch is not None and result.inserted + result.updated == N, result.to_dict()
            after = checksum(db, table)
            with store.connect(db) as con:
                t0 = time.perf_counter()
                undone = batches.undo(con, result.batch, user=access.SYSTEM_USER)
                undo_s = time.perf_counter() - t0
            same = checksum(db, table) == before
            with store.connect(db) as con:
                t0 = time.perf_counter()
                batches.undo(con, undone.batch, user=access.SYSTEM_USER)
                redo_s = time.perf_counter() - t0
            rows.append({"case": label, "ingest_s": round(ingest_s, 2), "undo_s": round(undo_s, 2),
                         "redo_s": round(redo_s, 2), "back_to_before": same,
                         "redo_equals_import": checksum(db, table) == after, "load": round(load, 1)})
            print(rows[-1], flush=True)
    return rows


def markdown(rows: list[dict[str, object]]) -> str:
    import duckdb

    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                            text=True).stdout.strip()
    lines = [
        BEGIN,
        "## 撤销一个 10 万行的导入 · Undo of a 100,000-row import",
        "",
        f"Run `python benchmarks/bench_undo.py` on {datetime.now():%Y-%m-%d} (commit {commit}): "
        f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, duckdb {duckdb.__version__}, "
        f"polars {pl.__version__}; database built by `portfolio init --sample --projects {N}`. "
        "The load average (1 min) when each import started is given: other jobs shared the machine.",
        "",
        "| 导入 import | 导入 ingest s | 撤销 undo s | 再恢复 redo s | 撤销后校验和一致 back to before | 再恢复后与导入后一致 redo = import | load |",
        "|---|---:|---:|---:|---|---|---:|",
    ]
    for r in rows:
        lines.append(f"| {r['case']} | {r['ingest_s']} | {r['undo_s']} | {r['redo_s']} | "
                     f"{'是' if r['back_to_before'] else '否'} | {'是' if r['redo_equals_import'] else '否'} | {r['load']} |")
    lines.append(END)
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    text = markdown(measure())
    print(text)
    if args.no_write:
        return
    doc = DOC.read_text(encoding="utf-8")
    if BEGIN in doc:
        doc = doc[:doc.index(BEGIN)] + text + doc[doc.index(END) + len(END):]
    else:
        doc = doc.rstrip("\n") + "\n\n" + text + "\n"
    DOC.write_text(doc, encoding="utf-8")


if __name__ == "__main__":
    main()
