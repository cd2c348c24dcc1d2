"""Month snapshots under ``<out>/snapshots/YYYY-MM/`` and what changed between two of them."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from ..files import atomic
from .data import FLAG_RANK, Snapshot

SNAPSHOT_DIR = "snapshots"


def snapshot_path(out_dir: Path, month: str) -> Path:
    """The folder of one month's snapshot: ``<out>/snapshots/YYYY-MM``."""
    return Path(out_dir) / SNAPSHOT_DIR / month


def previous_snapshot(out_dir: Path, month: str) -> Snapshot | None:
    """The latest snapshot of a month before ``month`` under ``out_dir``, or None."""
    root = Path(out_dir) / SNAPSHOT_DIR
    if not root.is_dir():
        return None
    earlier = sorted(p.name for p in root.iterdir()
                     if p.is_dir() and len(p.name) == 7 and p.name < month
                     and (p / "projects.parquet").exists() and (p / "gaps.parquet").exists())
    if not earlier:
        return None
    folder = root / earlier[-1]
    return Snapshot(month=earlier[-1], projects=pl.read_parquet(folder / "projects.parquet"),
                    gaps=pl.read_parquet(folder / "gaps.parquet"))


def write_snapshot(out_dir: Path, snap: Snapshot) -> Path:
    """Write (or replace) one month's snapshot; each file appears whole or not at all."""
    folder = snapshot_path(out_dir, snap.month)
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in (("projects", snap.projects), ("gaps", snap.gaps)):
        with atomic(folder / f"{name}.parquet") as tmp:
            frame.write_parquet(tmp)
    return folder


def compare(current: Snapshot, previous: Snapshot) -> dict[str, pl.DataFrame]:
    """What changed between two snapshots: new and removed projects, status changes, flags that
    worsened, gaps opened, closed or reclassified."""
    cur, old = current.projects, previous.projects
    info = ["project_id", "name", "unit_name", "tier", "status", "total_investment_wan"]
    both = cur.join(old.select("project_id", pl.col("status").alias("status_before"),
                               pl.col("flag").alias("flag_before"), pl.col("stalled").alias("stalled_before")),
                    on="project_id", how="inner")
    rank = FLAG_RANK
    worse = (
        both
        .with_columns(
            pl.col("flag").replace_strict(rank, default=None, return_dtype=pl.Int64).alias("_now"),
            pl.col("flag_before").replace_strict(rank, default=None, return_dtype=pl.Int64).alias("_before"),
        )
        .filter((pl.col("_now") >= 1) & (pl.col("_before").is_null() | (pl.col("_now") > pl.col("_before"))))
        .sort(["_now", "total_investment_wan", "project_id"], descending=[True, True, False])
        .select("project_id", "name", "unit_name", "tier", "flag_before", "flag", "stalled", "total_investment_wan")
    )
    gaps_now = current.gaps.filter(pl.col("open"))
    gaps_then = previous.gaps.filter(pl.col("open"))
    kinds = current.gaps.join(previous.gaps.select("node_id", pl.col("kind").alias("kind_before")),
                              on="node_id", how="full", coalesce=True)
    closed = (
        gaps_then
        .join(gaps_now.select("node_id"), on="node_id", how="anti")
        .join(current.gaps.select("node_id", pl.col("kind").alias("kind_now"), pl.col("addressed").alias("addressed_now")),
              on="node_id", how="left")
        .select("chain", "node", "kind", "kind_now", "addressed_now")
    )
    return {
        "new_projects": cur.join(old.select("project_id"), on="project_id", how="anti")
        .sort(["total_investment_wan", "project_id"], descending=[True, False]).select(info),
        "removed_projects": old.join(cur.select("project_id"), on="project_id", how="anti")
        .sort("project_id").select(info),
        "status_changes": both.filter(pl.col("status") != pl.col("status_before"))
        .sort(["total_investment_wan", "project_id"], descending=[True, False])
        .select("project_id", "name", "unit_name", "status_before", "status", "total_investment_wan"),
        "flags_worsened": worse,
        "gaps_opened": gaps_now.join(gaps_then.select("node_id"), on="node_id", how="anti")
        .select("chain", "node", "kind"),
        "gaps_closed": closed,
        "gaps_reclassified": kinds.filter(pl.col("kind").is_not_null() & pl.col("kind_before").is_not_null()
                                          & (pl.col("kind") != pl.col("kind_before")))
        .select("chain", "node", "kind_before", "kind"),
    }
