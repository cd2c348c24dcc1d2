"""Reference configuration: units, chains and targets read from ``data/*.toml``."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, fields
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import polars as pl

ROOT = Path(__file__).resolve().parent.parent

#: Enumerations shared by the schema, the import validation and the app.
NATURES = ("新建", "扩建", "改建及技术改造")
STATUSES = ("谋划", "前期", "在建", "竣工", "达产达效")
PIPELINE_STATUSES = ("谋划", "前期", "在建")
FINISHED_STATUSES = ("竣工", "达产达效")
LEADER_LEVELS = ("市级", "局级", "处室", "属地")  # highest first
CHAIN_ROLES = ("补链", "增链", "丰链")
STAGES = ("上游", "中游", "下游", "配套服务")
UNIT_KINDS = ("国家级开发区", "主城区", "县域")
PROBLEM_LEVELS = ("属地", "处室", "局级", "市级")

WAN_PER_YI = 10_000


def data_dir() -> Path:
    """The folder holding the reference configuration (``$PORTFOLIO_DATA_DIR`` or ``data/``)."""
    return Path(os.environ.get("PORTFOLIO_DATA_DIR", ROOT / "data"))


def default_db_path() -> Path:
    """``$PORTFOLIO_DB`` if set, else ``data/portfolio.duckdb`` (CONTRACT)."""
    env = os.environ.get("PORTFOLIO_DB")
    return Path(env) if env else data_dir() / "portfolio.duckdb"


def _load(name: str, folder: Path | None = None) -> dict[str, Any]:
    path = (folder or data_dir()) / name
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError as exc:
        raise ConfigError(f"配置文件缺失：{path}（reference configuration file missing）") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"配置文件 {path} 格式错误：{exc}") from exc


class ConfigError(ValueError):
    """A reference configuration file is missing or malformed."""


@dataclass(frozen=True)
class Reference:
    """The reference tables, as polars frames, ready to load into the store."""

    units: pl.DataFrame
    chains: pl.DataFrame
    chain_nodes: pl.DataFrame
    chain_edges: pl.DataFrame
    targets: pl.DataFrame
    settings: dict[str, Any]


@lru_cache(maxsize=8)
def _targets_cfg(folder: Path, _stamp: tuple[int, int]) -> dict[str, Any]:
    return _load("targets.toml", folder)


def targets_config(folder: Path | None = None) -> dict[str, Any]:
    """The parsed ``targets.toml`` (tiers, thresholds, seasonal profile, rules).

    Read again whenever the file changes (its modification time and size), so a long-running
    app sees an edit and can say that the file differs from the rules in force."""
    folder = folder or data_dir()
    try:
        st = (folder / "targets.toml").stat()
        stamp = (st.st_mtime_ns, st.st_size)
    except OSError:
        stamp = (0, 0)  # _load says what is wrong
    return _targets_cfg(folder, stamp)


@dataclass(frozen=True)
class ImportLimits:
    """What an import accepts before and while reading a file (``[import_limits]`` in targets.toml).

    Generous on purpose: a city's ledger has thousands of rows and fewer than 100 columns, a
    province's about a million rows. Anything beyond is refused before it is parsed, and the
    spreadsheet reader runs in a child process capped at ``reader_memory_mb`` and
    ``reader_timeout_s`` (docs/import.md, 文件的上限).
    """

    max_file_mb: int = 256  # the file as uploaded
    max_uncompressed_mb: int = 4096  # an xlsx/ods is a zip: the sum of its parts unpacked
    max_compression_ratio: int = 200  # a part unpacking to more than this × its packed size
    max_rows: int = 1_048_576  # Excel's own maximum
    max_columns: int = 1_024
    max_cells: int = 30_000_000  # rows × columns a sheet declares (about 100 bytes each to read)
    reader_memory_mb: int = 6144  # address-space cap of the spreadsheet reader process
    reader_timeout_s: int = 600
    min_date: date = date(1900, 1, 1)  # dates (开工/竣工时间, 月份) outside are rejected
    max_date: date = date(2100, 12, 31)


def import_limits(folder: Path | None = None) -> ImportLimits:
    """The ``[import_limits]`` table of targets.toml over the defaults of :class:`ImportLimits`."""
    table = targets_config(folder).get("import_limits", {})
    known = {f.name: f for f in fields(ImportLimits)}
    values: dict[str, Any] = {}
    for key, value in table.items():
        if key not in known:
            raise ConfigError(f"targets.toml: [import_limits] 中没有 {key} 这一项（可用：{', '.join(known)}）。")
        if key.endswith("_date"):
            ok = isinstance(value, date) and not isinstance(value, datetime)
        else:
            ok = isinstance(value, int) and not isinstance(value, bool) and value > 0
        if not ok:
            kind = "日期（如 1900-01-01）" if key.endswith("_date") else "正整数"
            raise ConfigError(f"targets.toml: [import_limits] {key} 应为{kind}。")
        values[key] = value
    limits = ImportLimits(**values)
    if limits.min_date >= limits.max_date:
        raise ConfigError("targets.toml: [import_limits] min_date 应早于 max_date。")
    return limits


def seasonal_shares(folder: Path | None = None) -> list[float]:
    """Monthly shares of the year's investment (12 values summing to 1)."""
    shares = [float(x) for x in targets_config(folder)["seasonal_profile"]["shares"]]
    if len(shares) != 12 or abs(sum(shares) - 1.0) > 1e-9:
        raise ConfigError("targets.toml: seasonal_profile.shares 必须是12个月份、合计为1。")
    return shares


def tiers_frame(folder: Path | None = None) -> pl.DataFrame:
    """The tier bands, highest first: tier, tier_en, min_wan, plan_count, plan_cumulative_count."""
    rows = targets_config(folder)["tier"]
    return pl.DataFrame(rows).select(
        pl.col("tier"),
        pl.col("tier_en"),
        pl.col("min_wan").cast(pl.Int64),
        pl.col("plan_count").cast(pl.Int64),
        pl.col("plan_cumulative_count").cast(pl.Int64),
    ).sort("min_wan", descending=True)


def load_reference(folder: Path | None = None) -> Reference:
    """Read units, chains and targets from the TOML files and check them for consistency."""
    folder = folder or data_dir()
    u = _load("units.toml", folder)
    c = _load("chains.toml", folder)
    t = _load("targets.toml", folder)

    units = pl.DataFrame(
        [
            {
                "unit_id": r["unit_id"],
                "name": r["name"],
                "short_name": r.get("short_name", r["name"]),
                "kind": r["kind"],
                "aliases": list(r.get("aliases", [])),
            }
            for r in u["unit"]
        ],
        schema={"unit_id": pl.String, "name": pl.String, "short_name": pl.String,
                "kind": pl.String, "aliases": pl.List(pl.String)},
    )
    chains_rows, node_rows, edge_rows = [], [], []
    for ch in c["chain"]:
        chains_rows.append(
            {
                "chain_id": ch["chain_id"],
                "name": ch["name"],
                "name_en": ch.get("name_en", ch["name"]),
                "is_assumption": bool(ch.get("assumed", False)),
                "aliases": list(ch.get("aliases", [])),
            }
        )
        for node in ch["nodes"]:
            node_id, name, stage, weight, emerging, *rest = node
            node_rows.append(
                {
                    "node_id": node_id,
                    "chain_id": ch["chain_id"],
                    "name": name,
                    "name_en": rest[0] if rest else name,
                    "stage": stage,
                    "weight": float(weight),
                    "emerging": bool(emerging),
                }
            )
        for edge in ch.get("edges", []):
            edge_rows.append({"src_node_id": edge[0], "dst_node_id": edge[1],
                              "weight": float(edge[2]) if len(edge) > 2 else 1.0})
    for edge in c.get("cross_edges", []):
        edge_rows.append({"src_node_id": edge[0], "dst_node_id": edge[1],
                          "weight": float(edge[2]) if len(edge) > 2 else 1.0})

    chains = pl.DataFrame(chains_rows, schema={"chain_id": pl.String, "name": pl.String,
                                               "name_en": pl.String, "is_assumption": pl.Boolean,
                                               "aliases": pl.List(pl.String)})
    nodes = pl.DataFrame(node_rows, schema={"node_id": pl.String, "chain_id": pl.String,
                                            "name": pl.String, "name_en": pl.String,
                                            "stage": pl.String, "weight": pl.Float64,
                                            "emerging": pl.Boolean})
    edges = pl.DataFrame(edge_rows, schema={"src_node_id": pl.String, "dst_node_id": pl.String,
                                            "weight": pl.Float64})
    targets = pl.DataFrame(
        [
            {
                "year": int(r["year"]),
                "metric": r["metric"],
                "scope": r.get("scope", "city"),
                "value_wan": float(r["value_wan"]),
                "growth_pct": float(r["growth_pct"]) if "growth_pct" in r else None,
                "label": r.get("label", r["metric"]),
                "is_optional": bool(r.get("optional", False)),
            }
            for r in t["target"]
        ],
        schema={"year": pl.Int32, "metric": pl.String, "scope": pl.String,
                "value_wan": pl.Float64, "growth_pct": pl.Float64, "label": pl.String,
                "is_optional": pl.Boolean},
    )
    _check_reference(units, chains, nodes, edges)
    from .chains.rules import ChainRules  # the chain rules' own check; imported late (no cycle)

    rules = ChainRules.from_table(c.get("rules"), source=str(folder / "chains.toml"))
    return Reference(units, chains, nodes, edges, targets, {**t, "chain_rules": rules.to_table()})


def _check_reference(units: pl.DataFrame, chains: pl.DataFrame, nodes: pl.DataFrame,
                     edges: pl.DataFrame) -> None:
    for frame, key, what in ((units, "unit_id", "单位"), (chains, "chain_id", "产业链"),
                             (nodes, "node_id", "环节")):
        dup = frame.filter(pl.col(key).is_duplicated())[key].unique().to_list()
        if dup:
            raise ConfigError(f"{what}编号重复：{', '.join(sorted(dup))}")
    bad_kind = units.filter(~pl.col("kind").is_in(UNIT_KINDS))["unit_id"].to_list()
    if bad_kind:
        raise ConfigError(f"单位类型无效：{', '.join(bad_kind)}")
    bad_stage = nodes.filter(~pl.col("stage").is_in(STAGES))["node_id"].to_list()
    if bad_stage:
        raise ConfigError(f"环节的阶段无效：{', '.join(bad_stage)}（应为 上游/中游/下游/配套服务）")
    known = set(nodes["node_id"].to_list())
    for src, dst in edges.select("src_node_id", "dst_node_id").iter_rows():
        for end in (src, dst):
            if end not in known:
                raise ConfigError(f"产业链连接 {src} → {dst} 引用了不存在的环节 {end}")
