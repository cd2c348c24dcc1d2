"""Benchmark: build and load the sample plan at 1004, 100,000 and 1,000,000 projects.

    python benchmarks/bench_sample.py                      # all sizes, updates docs/benchmarks.md
    python benchmarks/bench_sample.py --sizes 1004 100000  # some sizes
    python benchmarks/bench_sample.py --no-write           # print only

Each size runs in its own process (clean peak memory). Two measurements per size:
``build`` is the pure in-memory build (:func:`portfolio.sample.build_sample`), split into its
phases; ``init`` is ``store.init_db(..., sample=True, projects=N)`` into a fresh file: schema,
reference data, build, insert through registered Arrow frames, commit and checkpoint. The
results replace the section between the ``sample`` markers in docs/benchmarks.md, so other
benchmarks can share that file.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "benchmarks.md"
BEGIN, END = "<!-- bench_sample:begin -->", "<!-- bench_sample:end -->"
SIZES = (1004, 100_000, 1_000_000)


def measure(n: int) -> dict[str, object]:
    """Build, then init a database, for one size; returns timings in seconds and counts."""
    from portfolio import sample, store

    marks: list[tuple[str, float]] = []
    load = os.getloadavg()[0]

    def stamp(message: str) -> None:
        marks.append((message, time.perf_counter()))

    t0 = time.perf_counter()
    built = sample.build_sample(n, progress=stamp)
    build_s = time.perf_counter() - t0
    phases = [(m, round(b - a, 3)) for (m, a), (_, b) in zip(marks, [*marks[1:], ("end", t0 + build_s)],
                                                              strict=True)]
    rows = {"projects": built.projects.height, "enterprises": built.enterprises.height,
            "progress": built.progress.height}
    del built

    marks.clear()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bench.duckdb"
        t0 = time.perf_counter()
        store.init_db(path, sample=True, projects=n, progress=stamp)
        init_s = time.perf_counter() - t0
        size_mb = path.stat().st_size / 2**20
        writes = [m for m in marks if m[0].startswith("写入")]
        insert_s = t0 + init_s - writes[0][1] if writes else None
        with store.connect(path, read_only=True) as con:  # the one checked open
            stored = {t: con.execute(f"select count(*) from {t}").fetchall()[0][0] for t in rows}
    if stored != rows:
        raise SystemExit(f"stored rows {stored} differ from built rows {rows}")
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"n": n, "build_s": round(build_s, 2), "phases": phases,
            "init_s": round(init_s, 2), "insert_commit_s": round(insert_s, 2) if insert_s else None,
            "rows": rows, "db_mb": round(size_mb, 1), "peak_rss_mb": round(peak_mb),
            "load_1min": round(load, 1)}


def run_isolated(n: int) -> dict[str, object]:
    """Measure one size in a fresh interpreter."""
    out = subprocess.run([sys.executable, __file__, "--one", str(n)], check=True,
                         capture_output=True, text=True, cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])


def table(results: list[dict[str, object]]) -> str:
    """The Markdown section with the results and the machine they ran on."""
    import duckdb
    import numpy
    import polars

    lines = [
        BEGIN,
        "## 示例数据生成与写入 (sample plan: build and load)",
        "",
        f"Run `python benchmarks/bench_sample.py` on {datetime.now():%Y-%m-%d}: "
        f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"duckdb {duckdb.__version__}, polars {polars.__version__}, numpy {numpy.__version__}.",
        "`build` = `sample.build_sample(N)` in memory; `init` = `store.init_db(..., sample=True, "
        "projects=N)` into a new file (schema, reference data, build, insert via registered Arrow "
        "frames, commit, checkpoint); `insert+commit` = the part of `init` after the build.",
        "",
        "The machine is shared: `load` is the 1-minute load average when the size started;",
        "with load above the CPU count, expect the times to stretch accordingly.",
        "",
        "| projects | progress rows | enterprises | build s | init s | insert+commit s | file MB "
        "| peak RSS MB | load |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        rows = r["rows"]
        assert isinstance(rows, dict)
        lines.append(
            f"| {r['n']:,} | {rows['progress']:,} | {rows['enterprises']:,} | {r['build_s']} "
            f"| {r['init_s']} | {r['insert_commit_s']} | {r['db_mb']} | {r['peak_rss_mb']} "
            f"| {r['load_1min']} |"
        )
    lines += ["", "Build phases (seconds):", ""]
    for r in results:
        phases = r["phases"]
        assert isinstance(phases, list)
        lines.append(f"- {r['n']:,}: " + "; ".join(f"{m.rstrip('…')} {s}" for m, s in phases))
    lines.append(END)
    return "\n".join(lines)


def write(section: str) -> None:
    """Replace the sample section of docs/benchmarks.md (or append it)."""
    text = DOC.read_text(encoding="utf-8") if DOC.exists() else "# 性能测试 (benchmarks)\n"
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        text = head + section + rest.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    DOC.parent.mkdir(parents=True, exist_ok=True)
    DOC.write_text(text, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--no-write", action="store_true", help="print only, leave the docs alone")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.one), ensure_ascii=False))
        return
    results = []
    for n in args.sizes:
        result = run_isolated(n)
        print(json.dumps(result, ensure_ascii=False), flush=True)
        results.append(result)
    section = table(results)
    print(section)
    if not args.no_write:
        write(section)
        print(f"updated {DOC.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
