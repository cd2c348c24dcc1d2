"""Vectorised drawing helpers shared by the sample builders (numpy + polars, no per-row loops)."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

import numpy as np
import polars as pl

from .params import _GIVEN, _SURNAMES, _TRADE_A, _TRADE_B, MONEY, UNIT_AFFINITY, UNIT_WEIGHTS

Array = np.ndarray


def _rng(seed: int, stream: int) -> np.random.Generator:
    return np.random.default_rng([seed, stream])


def _apportion(total: int, weights: Sequence[float] | Array) -> Array:
    """Split ``total`` into integers proportional to ``weights`` (largest remainder, exact)."""
    w = np.asarray(weights, dtype=float)
    quota = total * w / w.sum()
    base = np.floor(quota).astype(np.int64)
    order = np.argsort(-(quota - base), kind="stable")
    base[order[: total - int(base.sum())]] += 1
    return base


def _pick(rng: np.random.Generator, candidates: Array, weights: Array, k: int) -> Array:
    """k candidates without replacement, chance proportional to weight (Efraimidis–Spirakis)."""
    k = min(k, len(candidates))
    if k <= 0:
        return candidates[:0]
    keys = np.log(rng.random(len(candidates))) / np.maximum(weights, 1e-12)
    return candidates[np.argpartition(-keys, k - 1)[:k]]


def _choice(rng: np.random.Generator, cdf: Array, rows: Array) -> Array:
    """Per-row categorical draw; ``cdf[rows]`` is each row's cumulative distribution."""
    u = rng.random(len(rows))
    return (u[:, None] > cdf[rows]).sum(axis=1)


def _log_uniform(rng: np.random.Generator, lo: float, hi: float, size: int, skew: float) -> Array:
    """Log-uniform on [lo, hi); ``skew`` > 1 puts more weight at the low end."""
    return lo * (hi / lo) ** (rng.random(size) ** skew)


def _cents_to_money(col: str, dtype: pl.Decimal = MONEY) -> pl.Expr:
    """Integer hundredths → exact DECIMAL (no float on the way)."""
    return (pl.col(col).cast(pl.Decimal(38, 0)) * Decimal("0.01")).cast(dtype).alias(col)


def _unit_cdf(units: pl.DataFrame, chain_ids: Sequence[str]) -> Array:
    """Rows: chains then off-chain (''), columns: units; the cumulative unit distribution."""
    ids = units["unit_id"].to_list()
    rows = []
    for chain in [*chain_ids, ""]:
        aff = UNIT_AFFINITY.get(chain, {})
        w = np.array([UNIT_WEIGHTS.get(u, 1.0) * aff.get(u, 1.0) for u in ids])
        rows.append(np.cumsum(w / w.sum()))
    cdf = np.array(rows)
    cdf[:, -1] = 1.0
    return cdf


def _places(units: pl.DataFrame) -> pl.Series:
    """Firm-name prefix per unit: the county's own name for county units, else 长春."""
    return pl.Series([short.rstrip("市县区") if kind == "县域" else "长春"
                      for short, kind in units.select("short_name", "kind").iter_rows()])


def _people(rng: np.random.Generator, k: int) -> list[str]:
    """k distinct synthetic personal names."""
    picks = rng.permutation(len(_SURNAMES) * len(_GIVEN))[:k]
    return [_SURNAMES[i // len(_GIVEN)] + _GIVEN[i % len(_GIVEN)] for i in picks]


def _trades() -> pl.Series:
    """Two-character trade names (字号) for synthetic firms."""
    return pl.Series([a + b for a in _TRADE_A for b in _TRADE_B])


def _prepare(nodes: pl.DataFrame, units: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Inputs in a fixed order with plain types, so the database and the TOML agree."""
    nodes = nodes.select(
        pl.col("node_id"),
        pl.col("chain_id"),
        pl.col("name"),
        pl.col("weight").cast(pl.Float64),
        pl.col("emerging").cast(pl.Boolean),
    ).sort("chain_id", "node_id")
    return nodes, units.select("unit_id", "short_name", "kind").sort("unit_id")
