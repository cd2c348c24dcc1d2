"""The sample's local enterprises on chain segments: 677 key firms and smaller ones, with gaps."""

from __future__ import annotations

import numpy as np
import polars as pl

from .. import config
from .draw import _apportion, _choice, _log_uniform, _places, _prepare, _rng, _trades, _unit_cdf
from .params import (
    _TRADE_A,
    _TRADE_B,
    ANCHORS,
    CITY_HELD_ENTERPRISES,
    ENTERPRISE_CHAINS,
    MARK,
    MONEY,
    SEGMENT_FIRMS,
)

MIN_COVERED = 5  # firms on a covered segment: five of comparable size keep HHI near 10000 / 5


def _segment_plan(nodes: pl.DataFrame) -> pl.DataFrame:
    """Per segment: key firms, how many are not anchors, their output, and smaller firms."""
    rows: list[dict[str, object]] = []
    for chain, (n_key, n_small, output) in sorted(ENTERPRISE_CHAINS.items()):
        sub = nodes.filter(pl.col("chain_id") == chain)
        ids, w = sub["node_id"].to_list(), sub["weight"].to_numpy()
        fixed = np.array([SEGMENT_FIRMS.get(i, -1) for i in ids], dtype=np.int64)
        covered = fixed < 0
        spare = n_key - int(fixed[~covered].sum()) - MIN_COVERED * int(covered.sum())
        if spare < 0:
            raise ValueError(f"示例企业设计有误：产业链 {chain} 的重点企业数不足以覆盖各环节。")
        key = np.where(covered, MIN_COVERED, fixed)
        if covered.any():
            key[covered] += _apportion(spare, w[covered])
        others = key - np.array([sum(a[2] == i for a in ANCHORS) for i in ids], dtype=np.int64)
        free = output - sum(a[4] for a in ANCHORS if a[2] in ids)
        out = free * w * others / max(float((w * others).sum()), 1.0)
        small = np.zeros(len(ids), dtype=np.int64)
        thick = key >= MIN_COVERED
        if thick.any():
            small[thick] = _apportion(n_small, w[thick])
        rows += [{"node_id": i, "key": int(k), "others": int(o), "out": float(v), "small": int(m)}
                 for i, k, o, v, m in zip(ids, key, others, out, small, strict=True)]
    return pl.DataFrame(rows, schema={"node_id": pl.String, "key": pl.Int64, "others": pl.Int64,
                                      "out": pl.Float64, "small": pl.Int64})


def build_enterprises(nodes: pl.DataFrame, units: pl.DataFrame, *, seed: int = 2016) -> pl.DataFrame:
    """Local enterprises on chain segments: 677 key firms (≥ 1亿) and smaller ones, with gaps.

    The frame has one column more than the table: ``short_name``, the trade name used in
    project names (not stored).
    """
    nodes, units = _prepare(nodes, units)
    rng = _rng(seed, 1)
    plan = _segment_plan(nodes)
    seg = np.arange(plan.height)
    key, others = plan["key"].to_numpy(), plan["others"].to_numpy()
    # key firms: a floor of 1亿 each plus a Dirichlet share of the rest of the segment's output
    owner = np.repeat(seg, others)
    alpha = np.where(key <= 3, 2.0, np.maximum(1.0, 40.0 / np.maximum(others, 1)))
    g = rng.gamma(alpha[owner])
    share = g / np.bincount(owner, weights=g, minlength=len(seg))[owner]
    room = np.maximum(plan["out"].to_numpy(), others * 12_000.0) - others * 10_000.0
    key_out = np.round(10_000 + share * room[owner])
    small_owner = np.repeat(seg, plan["small"].to_numpy())
    small_out = np.round(_log_uniform(rng, 800, 9_900, len(small_owner), 1.3))
    node_pos = {nid: i for i, nid in enumerate(plan["node_id"])}
    anchors = [a for a in ANCHORS if a[2] in node_pos]
    rest = [None] * (len(owner) + len(small_owner))
    frame = pl.DataFrame({
        "seg": np.concatenate([[node_pos[a[2]] for a in anchors], owner, small_owner]),
        "rank": np.repeat([0, 1, 2], [len(anchors), len(owner), len(small_owner)]),
        "name": [a[0] + MARK for a in anchors] + rest,
        "short": [a[1] for a in anchors] + rest,
        "unit": [a[3] for a in anchors] + rest,
        "output": np.concatenate([[a[4] for a in anchors], key_out, small_out]),
    }, schema_overrides={"seg": pl.Int64, "name": pl.String, "short": pl.String,
                         "unit": pl.String, "output": pl.Int64})
    frame = frame.sort("seg", "rank", maintain_order=True)
    n = frame.height
    chain_ids = sorted(ENTERPRISE_CHAINS)
    seg_chain = np.array([chain_ids.index(i.split(".")[0]) for i in plan["node_id"]])
    drawn = _choice(rng, _unit_cdf(units, chain_ids), seg_chain[frame["seg"].to_numpy()])
    output = frame["output"].to_numpy()
    level = np.where(output >= 100_000, 1, np.where(output >= 10_000, 2, 3))
    level[np.argsort(-output, kind="stable")[:CITY_HELD_ENTERPRISES]] = 0
    products = nodes.join(plan.select("node_id"), on="node_id", how="semi")["name"]
    return frame.with_columns(
        units["unit_id"].gather(drawn).alias("unit_drawn"),
        _places(units).gather(drawn).alias("place"),
        _trades().gather(rng.permutation(len(_TRADE_A) * len(_TRADE_B))[:n]).alias("trade"),
        products.gather(frame["seg"]).alias("product"),
        pl.Series(config.LEADER_LEVELS).gather(level).alias("level"),
        plan["node_id"].gather(frame["seg"]).alias("node_id"),
    ).select(
        pl.format("QY{}", pl.int_range(1, n + 1).cast(pl.String).str.zfill(4)).alias("enterprise_id"),
        pl.coalesce(
            pl.col("name"),
            pl.concat_str("place", "trade", "product", pl.lit("有限公司" + MARK)),
        ).alias("name"),
        pl.coalesce("unit", "unit_drawn").alias("unit_id"),
        pl.col("node_id"),
        pl.col("output").cast(MONEY).alias("output_wan"),
        (pl.col("output") >= 10_000).alias("is_key"),
        pl.col("level").alias("leader_level"),
        pl.lit(True).alias("is_sample"),
        pl.coalesce("short", "trade").alias("short_name"),
    )
