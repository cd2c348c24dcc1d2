"""The chain map's layout: stage columns left to right, rows ordered to cut crossings."""

from __future__ import annotations

from collections.abc import Sequence

import duckdb
import networkx as nx
import polars as pl

from .. import config
from .definition import load_definition, resolve_chain
from .gaps import ChainAnalysis, _chain, analysis

Con = duckdb.DuckDBPyConnection

COLUMNS = ("外链供应", "上游", "中游", "下游", "配套服务", "外链需求")
COLUMNS_EN = ("Other chains (suppliers)", "Upstream", "Midstream", "Downstream", "Services",
              "Other chains (customers)")


def _layout(nodes: pl.DataFrame, edges: pl.DataFrame, chain_id: str) -> pl.DataFrame:
    members = nodes.filter(pl.col("chain_id") == chain_id)["node_id"].to_list()
    if not members:
        raise ValueError(f"产业链 {chain_id} 没有环节。")
    inside = set(members)
    stage = dict(zip(nodes["node_id"].to_list(), nodes["stage"].to_list(), strict=True))
    pairs = [(s, d) for s, d in edges.select("src_node_id", "dst_node_id").iter_rows()
             if s in inside or d in inside]
    # A stage with edges inside it (e.g. 铸锻件 → 发动机 in 中游) is split into sub-columns by
    # longest-path depth, so every in-chain edge runs left to right or across stages.
    same = nx.DiGraph()
    same.add_nodes_from(members)
    same.add_edges_from((s, d) for s, d in pairs if s in inside and d in inside and stage[s] == stage[d])
    depth: dict[str, int] = {}
    for v in nx.topological_sort(same):
        depth[v] = max((depth[p] + 1 for p in same.predecessors(v)), default=0)
    key: dict[str, tuple[int, int]] = {v: (1 + config.STAGES.index(stage[v]), depth[v]) for v in members}
    for s, d in pairs:
        if s not in inside:
            key.setdefault(s, (0, 0))
        if d not in inside:
            key.setdefault(d, (len(COLUMNS) - 1, 0))
    keys = sorted(set(key.values()))
    column = {v: keys.index(k) for v, k in key.items()}
    used = sorted(set(column.values()))
    g = nx.Graph()
    g.add_nodes_from(column)
    g.add_edges_from(pairs)
    by_col = {c: [v for v in column if column[v] == c] for c in used}
    y: dict[str, float] = {}

    def place(c: int, order: Sequence[str]) -> None:
        for i, v in enumerate(order):
            y[v] = i - (len(order) - 1) / 2

    for c in used:
        place(c, by_col[c])
    # Barycentre sweeps (Sugiyama): order each column by the mean height of its neighbours.
    for sweep in range(8):
        for c in (used if sweep % 2 == 0 else used[::-1]):
            def bary(v: str, col: int = c) -> tuple[float, float]:
                nb = [y[w] for w in g.neighbors(v) if column[w] != col]
                return (sum(nb) / len(nb) if nb else y[v], y[v])
            by_col[c] = sorted(by_col[c], key=bary)
            place(c, by_col[c])
    return pl.DataFrame(
        {
            "node_id": list(column),
            "x": [column[v] for v in column],
            "y": [y[v] for v in column],
            "column": [COLUMNS[key[v][0]] for v in column],
            "column_en": [COLUMNS_EN[key[v][0]] for v in column],
            "external": [v not in inside for v in column],
        },
        schema={"node_id": pl.String, "x": pl.Int64, "y": pl.Float64, "column": pl.String,
                "column_en": pl.String, "external": pl.Boolean},
    ).sort("x", "y")


def layout(source: Con | pl.DataFrame, *, chain: str, edges: pl.DataFrame | None = None) -> pl.DataFrame:
    """x (stage column, left to right) and y (spread, centred) per segment of one chain.

    A stage whose segments supply each other is split into sub-columns (``x`` counts
    columns, ``column`` names the stage).
    Segments of other chains linked to it are included (``external``) in a supplier column
    on the left and a customer column on the right. Give a connection, or a nodes frame and
    ``edges`` (then ``chain`` is a chain id).
    """
    if isinstance(source, pl.DataFrame):
        if edges is None:
            raise ValueError("layout 需要 edges 参数（给出环节表时必须同时给出连接表）。")
        return _layout(source, edges, chain)
    nodes, edges = load_definition(source)
    return _layout(nodes, edges, resolve_chain(source, chain))


def chain_map_frames(con: Con, *, chain: str, year: int | None = None) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Nodes (layout, category, firms, output, projects) and edges of one chain for :func:`charts.chain_map`.

    The pipeline is plan ``year``'s (default the current one; a closed year as it was closed)."""
    return map_frames_of(analysis(con, year=year), chain=resolve_chain(con, chain))


def map_frames_of(an: ChainAnalysis, *, chain: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """:func:`chain_map_frames` of an analysis; ``chain`` is a chain id."""
    chain_id = _chain(an, chain)
    if chain_id is None:
        raise ValueError("chain_map_frames 需要一条产业链（a chain id）。")
    classes, edges = an.classes, an.edges
    pos = _layout(classes, edges, chain_id)
    nodes = pos.join(
        classes.select(
            "node_id", "chain_id", "chain", "chain_en", "name", "name_en", "stage", "kind",
            "category", "score", "firms",
            pl.col("output_wan").cast(pl.Float64).alias("output_wan"),
            pl.col("pipeline_ids").alias("addressed_by"), "density",
        ),
        on="node_id", how="left", maintain_order="left",
    )
    shown = set(nodes["node_id"].to_list())
    inside = set(nodes.filter(~pl.col("external"))["node_id"].to_list())
    links = (
        edges
        .filter(pl.col("src_node_id").is_in(list(shown)) & pl.col("dst_node_id").is_in(list(shown)))
        .filter(pl.col("src_node_id").is_in(list(inside)) | pl.col("dst_node_id").is_in(list(inside)))
        .with_columns(
            ~(pl.col("src_node_id").is_in(list(inside)) & pl.col("dst_node_id").is_in(list(inside)))
            .alias("cross"),
        )
    )
    return nodes, links
