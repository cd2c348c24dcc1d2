"""Per-segment coverage (SQL aggregates) and graph metrics (networkx) of the combined chain graph."""

from __future__ import annotations

import functools

import duckdb
import networkx as nx
import polars as pl

from .. import store
from . import sql
from .definition import load_definition, validate_definition
from .rules import ChainRules, chain_rules, kind_expr, load_rules

Con = duckdb.DuckDBPyConnection


def segment_coverage(con: Con, *, rules: ChainRules | None = None, year: int | None = None) -> pl.DataFrame:
    """Per segment: local firms, Σ output, HHI, pipeline and finished projects (SQL aggregates).

    ``hhi`` is on the 0–10000 scale (null without firms; equal shares when all output is 0);
    ``concentrated`` is the exact test "HHI above ``[rules] hhi_threshold``", on integer cents.
    The pipeline is plan ``year``'s (default the current one).
    """
    # The v_chain_coverage view's SQL, with the threshold the library reads (the same meta copy)
    return store.fetch(con, sql.coverage_sql(threshold=_threshold(rules or chain_rules(con)),
                                             projects=sql.year_projects(year)))


def _threshold(rules: ChainRules) -> str:
    return str(int(rules.hhi_threshold))


def segment_kinds(
    nodes: pl.DataFrame, edges: pl.DataFrame, enterprises: pl.DataFrame, *,
    con: Con | None = None, rules: ChainRules | None = None,
) -> dict[str, str | None]:
    """The class of each segment (补链 / 增链 / 丰链 / None) for the firms given, without graph metrics.

    The same concentration SQL and class rule as :func:`portfolio.chains.segment_classes`, over
    frames: ``nodes`` (``node_id``, ``emerging``), ``edges`` and ``enterprises`` (``node_id``,
    ``name``, ``output_wan``). ``rules`` default to ``con``'s (:func:`chain_rules`), else to
    data/chains.toml; without ``con`` a scratch in-memory database runs the SQL. The sample
    plan builds its declared chain roles with this.
    """
    firms = enterprises.select("node_id", "name", pl.col("output_wan").cast(pl.Decimal(18, 2)))
    # the caller's connection itself, not a cursor: inside `init` the rules are not committed yet
    rules = rules or (chain_rules(con) if con is not None else load_rules())
    scratch = con is None
    if con is None:
        con = duckdb.connect(":memory:")
    con.register("_segment_firms", firms)
    try:
        stats = con.sql(sql.segment_firms_sql("_segment_firms", _threshold(rules))).pl()
    finally:
        con.unregister("_segment_firms")
        if scratch:
            con.close()
    frame = nodes.select("node_id", "emerging").join(
        stats.select("node_id", "firms", "concentrated"), on="node_id", how="left", maintain_order="left")
    frame = kinds(frame.with_columns(pl.col("firms").fill_null(0)), edges).select("node_id", "kind")
    return dict(frame.iter_rows())


def kinds(segments: pl.DataFrame, edges: pl.DataFrame) -> pl.DataFrame:
    """``segments`` with ``kind``: the class rule (:func:`kind_expr`) without graph metrics.

    ``segments`` has ``node_id``, ``firms``, ``concentrated`` and ``emerging``; a segment is
    present with a firm, and its present direct successors and predecessors are counted over
    ``edges``. The after-the-pipeline view and :func:`segment_kinds` class segments so.
    """
    present = segments.filter(pl.col("firms") >= 1).select("node_id")
    links = edges.select("src_node_id", "dst_node_id").unique()
    n_succ = (links.join(present, left_on="dst_node_id", right_on="node_id", how="semi")
              .group_by("src_node_id").len("n_present_successors").rename({"src_node_id": "node_id"}))
    n_pred = (links.join(present, left_on="src_node_id", right_on="node_id", how="semi")
              .group_by("dst_node_id").len("n_present_predecessors").rename({"dst_node_id": "node_id"}))
    return (
        segments
        .join(n_succ, on="node_id", how="left", maintain_order="left")
        .join(n_pred, on="node_id", how="left", maintain_order="left")
        .with_columns(pl.col("n_present_successors", "n_present_predecessors").fill_null(0))
        .with_columns(kind_expr().alias("kind"))
        .drop("n_present_successors", "n_present_predecessors")
    )


# --------------------------------------------------------------------------- metrics

def segment_metrics(source: Con | pl.DataFrame, *, edges: pl.DataFrame | None = None,
                    rules: ChainRules | None = None) -> pl.DataFrame:
    """Coverage plus graph metrics per segment, from a connection or a coverage frame and edges.

    Adds: ``betweenness`` (combined graph) and ``betweenness_chain`` (in-chain edges), both
    normalised; ``descendants``; present successors / predecessors; ``dependence_direct_wan``
    (Σ output of present direct successors) and ``dependence_wan`` (present descendants
    within ``max_distance`` steps, each weighted ``decay``**(d-1)); ``articulation`` /
    ``articulation_chain`` (cut vertices of the undirected graph); ``density`` (relatedness:
    Σ proximity of present segments / Σ proximity of all segments within ``max_distance``
    undirected steps, proximity ``decay``**(d-1)); ``related_present`` (those present segments).
    ``decay`` and ``max_distance`` are the chain rules (``rules``, default: the database's
    copy, or data/chains.toml for frames).
    """
    if isinstance(source, pl.DataFrame):
        if edges is None:
            raise ValueError("segment_metrics 需要 edges 参数（给出覆盖表时必须同时给出连接表）。")
        validate_definition(source, edges)
        return _metrics(source, edges, rules or load_rules())
    _, edges = load_definition(source)
    rules = rules or chain_rules(source)
    return _metrics(segment_coverage(source, rules=rules), edges, rules)


#: A segment's place in the graph, whatever its firms: ``(betweenness, betweenness_chain,
#: descendants, successors, predecessors, articulation, articulation_chain, down, near)`` with
#: ``down``/``near`` the (segment, distance) pairs within ``reach`` steps, directed/undirected.
Place = tuple[float, float, int, tuple[str, ...], tuple[str, ...], bool, bool,
              tuple[tuple[str, int], ...], tuple[tuple[str, int], ...]]


@functools.lru_cache(maxsize=16)
def _structure(nodes: tuple[tuple[str, str], ...], links: tuple[tuple[str, str], ...],
               reach: int) -> dict[str, Place]:
    """Every segment's :data:`Place` in the graph of ``nodes`` ((node_id, chain_id), in order) and
    ``links`` (src, dst): what the metrics need of the graph alone, computed once per definition
    (the firms and the pipeline change every month; the chains' definition seldom)."""
    g = nx.DiGraph()
    for node, chain in nodes:
        g.add_node(node, chain_id=chain)
    g.add_edges_from(links)
    u = g.to_undirected()
    members: dict[str, list[str]] = {}
    for node, chain in nodes:
        members.setdefault(chain, []).append(node)
    between = nx.betweenness_centrality(g, normalized=True)
    between_chain: dict[str, float] = {}
    cut_chain: set[str] = set()
    for group in members.values():
        between_chain.update(nx.betweenness_centrality(g.subgraph(group), normalized=True))
        cut_chain.update(nx.articulation_points(u.subgraph(group)))
    cut = set(nx.articulation_points(u))
    return {
        node: (between[node], between_chain[node], len(nx.descendants(g, node)),
               tuple(g.successors(node)), tuple(g.predecessors(node)), node in cut, node in cut_chain,
               tuple(nx.single_source_shortest_path_length(g, node, cutoff=reach).items()),
               tuple(nx.single_source_shortest_path_length(u, node, cutoff=reach).items()))
        for node, _ in nodes
    }


def _metrics(coverage: pl.DataFrame, edges: pl.DataFrame, rules: ChainRules) -> pl.DataFrame:
    decay, reach = rules.decay, rules.max_distance
    places = _structure(tuple(coverage.select("node_id", "chain_id").iter_rows()),
                        tuple(edges.select("src_node_id", "dst_node_id").iter_rows()), int(reach))
    present = set(coverage.filter(pl.col("firms") >= 1)["node_id"].to_list())
    output = dict(zip(coverage["node_id"].to_list(),
                      coverage["output_wan"].cast(pl.Float64).to_list(), strict=True))
    rows = []
    for node in coverage["node_id"].to_list():
        between, between_chain, descendants, succ, pred, cut, cut_chain, down, near_pairs = places[node]
        near = dict(near_pairs)
        prox = {v: decay ** (d - 1) for v, d in near_pairs if d >= 1}
        total = sum(prox.values())
        related = sorted((v for v in prox if v in present), key=lambda v: (near[v], v))
        rows.append({
            "node_id": node,
            "betweenness": between,
            "betweenness_chain": between_chain,
            "descendants": descendants,
            "successors": len(succ),
            "present_successors": [v for v in succ if v in present],
            "present_predecessors": [v for v in pred if v in present],
            "dependence_direct_wan": sum(output[v] for v in succ if v in present),
            "dependence_wan": sum(output[v] * decay ** (d - 1) for v, d in down if d >= 1 and v in present),
            "articulation": cut,
            "articulation_chain": cut_chain,
            "density": sum(prox[v] for v in related) / total if total else 0.0,
            "related_present": related,
        })
    metrics = pl.DataFrame(rows, schema={
        "node_id": pl.String, "betweenness": pl.Float64, "betweenness_chain": pl.Float64,
        "descendants": pl.Int64, "successors": pl.Int64,
        "present_successors": pl.List(pl.String), "present_predecessors": pl.List(pl.String),
        "dependence_direct_wan": pl.Float64, "dependence_wan": pl.Float64,
        "articulation": pl.Boolean, "articulation_chain": pl.Boolean, "density": pl.Float64,
        "related_present": pl.List(pl.String),
    })
    return coverage.join(metrics, on="node_id", how="left", maintain_order="left")
