"""Benchmark: the named views over a Parquet export against the same views on the database.

    python benchmarks/bench_parquet.py --db 100000=/tmp/p100k.duckdb --db 1000000=/tmp/p1m.duckdb \
        --out /tmp/bench-parquet --repeat 3 --province 2 4

For each database: ``portfolio export --parquet`` once (time, size, peak memory), then, in a
fresh process per run and interleaved (database, Parquet, database, …), the time to open, and
the time of ``v_target_progress``, ``v_unit_progress``, ``project_status_at(as-of)`` (every
row, into polars) and the library's check (``targets.check_report``), with the process's peak
RSS. ``--province K`` opens the largest export K times as K cities (``parquet.open_province``)
and times the union views and ``province_status_at``. Prints medians and the load average as
Markdown (docs/scale.md records them). The databases are only read; give copies of databases
of an older schema version (the first open upgrades them).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from datetime import date, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
AS_OF = date(2016, 9, 1)
QUERIES = {
    "v_target_progress": "select * from v_target_progress",
    "v_unit_progress": "select * from v_unit_progress",
    "project_status_at": f"select * from project_status_at(date '{AS_OF.isoformat()}')",
}


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(mode: str, path: str, extra: str | None) -> dict[str, Any]:
    """One measured run in this (fresh) process."""
    from portfolio import parquet, store, targets

    out: dict[str, Any] = {"mode": mode, "load": os.getloadavg()[0]}
    t0 = time.perf_counter()
    if mode == "export":
        result = parquet.export_parquet(path, extra or "")
        out.update(seconds=time.perf_counter() - t0, bytes=result.bytes, files=result.files,
                   rows=result.tables, rss_mb=_rss_mb())
        return out
    if mode == "db":
        con = store.open_connection(path, read_only=True)
    elif mode == "parquet":
        con = parquet.open_export(path)
    else:  # province: K cities over the same export
        con = parquet.open_province({f"city{i}": path for i in range(1, int(extra or 2) + 1)})
    out["open_s"] = time.perf_counter() - t0
    out["rss_open_mb"] = _rss_mb()
    for name, sql in QUERIES.items():
        t = time.perf_counter()
        if mode == "province" and name == "project_status_at":
            rows = parquet.province_status_at(con, AS_OF).height
        else:
            rows = con.sql(sql).pl().height
        out[f"{name}_s"] = time.perf_counter() - t
        out[f"{name}_rows"] = rows
        out[f"rss_{name}_mb"] = _rss_mb()
    if mode != "province":
        t = time.perf_counter()
        report = targets.check_report(con, as_of=AS_OF, year=None)
        out["check_s"] = time.perf_counter() - t
        out["check_status"] = [m["status"] for m in report["metrics"]]
    out["rss_mb"] = _rss_mb()
    con.close()
    return out


def run_child(*args: str) -> dict[str, Any]:
    done = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True, text=True,
                          timeout=3600)
    if done.returncode != 0:
        raise SystemExit(f"child {args} failed:\n{done.stderr}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def _med(runs: list[dict[str, Any]], key: str) -> float:
    return statistics.median(float(r[key]) for r in runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", action="append", default=[], help="SIZE=PATH of a sample database")
    parser.add_argument("--out", type=Path, default=Path("/tmp/bench-parquet"))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--province", type=int, nargs="*", default=[])
    parser.add_argument("--export-dir", type=Path, action="append", default=[],
                        help="SIZE=FOLDER of an existing export to reuse (no new export)")
    parser.add_argument("--child", nargs="+")
    args = parser.parse_args()
    if args.child:
        mode, path, *rest = args.child
        print(json.dumps(child(mode, path, rest[0] if rest else None), default=str))
        return
    import duckdb
    import polars

    sizes = [(int(s), Path(p)) for s, p in (d.split("=", 1) for d in args.db)]
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    print(f"Run `python benchmarks/bench_parquet.py` on {datetime.now():%Y-%m-%d %H:%M} (commit {commit}):"
          f" {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()},"
          f" duckdb {duckdb.__version__}, polars {polars.__version__}; as-of {AS_OF:%Y-%m}.")
    args.out.mkdir(parents=True, exist_ok=True)
    exports: dict[int, dict[str, Any]] = {}
    folders: dict[int, Path] = {}
    reuse = {int(s): Path(f) for s, f in (str(d).split("=", 1) for d in args.export_dir)}
    for n, db in sizes:
        folders[n] = reuse.get(n, args.out / f"export-{n}")
        if n in reuse:
            continue
        exports[n] = run_child("export", str(db), str(folders[n]))
        print(f"export {n:,}: {json.dumps(exports[n], default=str)}", file=sys.stderr)
    runs: dict[tuple[int, str], list[dict[str, Any]]] = {}
    for rep in range(args.repeat):
        for n, db in sizes:
            for mode, path in (("db", db), ("parquet", folders[n])) if rep % 2 == 0 else \
                              (("parquet", folders[n]), ("db", db)):
                r = run_child(mode, str(path))
                runs.setdefault((n, mode), []).append(r)
                print(f"{n:,} {mode} #{rep + 1}: {json.dumps(r, default=str)}", file=sys.stderr)
    print("\n| projects | export s | export MiB | files | export peak RSS MiB | load |")
    print("|---:|---:|---:|---:|---:|---:|")
    for n in exports:
        e = exports[n]
        print(f"| {n:,} | {e['seconds']:.1f} | {e['bytes'] / 2**20:,.1f} | {e['files']} | {e['rss_mb']:,.0f} "
              f"| {e['load']:.1f} |")
    if args.repeat:
        print(f"\nMedians of {args.repeat} runs, each in a fresh process (seconds; RSS = the process's peak):\n")
        print("| projects | source | open s | v_target_progress s | v_unit_progress s | project_status_at s "
              "| check s | peak RSS MiB | load (min–max) |")
        print("|---:|---|---:|---:|---:|---:|---:|---:|---|")
    for n, _ in sizes if args.repeat else []:
        for mode in ("db", "parquet"):
            rs = runs[(n, mode)]
            loads = [r["load"] for r in rs]
            print(f"| {n:,} | {'database' if mode == 'db' else 'Parquet'} | {_med(rs, 'open_s'):.2f} "
                  f"| {_med(rs, 'v_target_progress_s'):.2f} | {_med(rs, 'v_unit_progress_s'):.2f} "
                  f"| {_med(rs, 'project_status_at_s'):.2f} | {_med(rs, 'check_s'):.2f} "
                  f"| {_med(rs, 'rss_mb'):,.0f} | {min(loads):.1f}–{max(loads):.1f} |")
    if args.province and sizes:
        n = max(folders)
        print(f"\nProvince: the {n:,}-project export opened K times as K cities (one run each):\n")
        print("| cities | projects | open s | v_target_progress s | v_unit_progress s "
              "| province_status_at s | peak RSS MiB | load |")
        print("|---:|---:|---:|---:|---:|---:|---:|---:|")
        for k in args.province:
            r = run_child("province", str(folders[n]), str(k))
            print(f"province {k}: {json.dumps(r, default=str)}", file=sys.stderr)
            print(f"| {k} | {k * n:,} | {r['open_s']:.2f} | {r['v_target_progress_s']:.2f} "
                  f"| {r['v_unit_progress_s']:.2f} | {r['project_status_at_s']:.2f} | {r['rss_mb']:,.0f} "
                  f"| {r['load']:.1f} |")


if __name__ == "__main__":
    main()
