"""Industrial chains: the segment graph, its metrics and the 补链 / 增链 / 丰链 gap analysis.

networkx stays inside this module; everything public takes and returns polars frames or
plain dicts. The rules are DOMAIN §5; the scores, factors and distances are documented in
``docs/chains.md`` and held in the constants below, so the docs and the code say one thing.

Graph loops here run once per *segment* (a hundred or so), never per project or enterprise:
those are aggregated in SQL first (:func:`segment_coverage`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import duckdb
import networkx as nx
import polars as pl

from . import config, store, views

#: Stage order inside a chain; 配套服务 may link anywhere (data/chains.toml).
STAGE_RANK = {"上游": 0, "中游": 1, "下游": 2}
#: Proximity and dependence decay: a segment d steps away counts DECAY**(d-1), up to MAX_DISTANCE.
DECAY = 0.5
MAX_DISTANCE = 3
#: 丰链 when the HHI of local output is strictly above this (0–10000 scale).
HHI_THRESHOLD = 2500
KINDS = config.CHAIN_ROLES  # 补链, 增链, 丰链 in this order
KINDS_EN = {"补链": "fill", "增链": "extend", "丰链": "enrich"}
#: Score = Σ coefficient × factor, each factor in [0, 1].
SCORE_WEIGHTS: dict[str, dict[str, float]] = {
    "补链": {"dependence_norm": 0.5, "betweenness_norm": 0.3, "weight_norm": 0.2},
    "增链": {"density": 0.5, "weight_norm": 0.3, "betweenness_norm": 0.2},
    "丰链": {"dependence_norm": 0.4, "concentration": 0.3, "weight_norm": 0.3},
}
#: Factor values carried on every gap of a class (raw values beside the normalised ones).
FACTORS: dict[str, tuple[str, ...]] = {
    "补链": ("dependence_wan", "dependence_norm", "betweenness", "betweenness_norm", "weight",
             "weight_norm", "present_successors"),
    "增链": ("density", "weight", "weight_norm", "betweenness", "betweenness_norm",
             "present_predecessors", "emerging"),
    "丰链": ("firms", "hhi", "concentration", "dependence_wan", "dependence_norm", "weight",
             "weight_norm"),
}

Con = duckdb.DuckDBPyConnection


class ChainDefinitionError(ValueError):
    """The chain definition (segments and edges) is inconsistent."""


# --------------------------------------------------------------------------- definition

def load_definition(con: Con) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The segments (with chain names) and edges from the database, validated."""
    nodes = store.fetch(
        con,
        "select n.node_id, n.chain_id, c.name as chain, coalesce(c.name_en, c.name) as chain_en,"
        " n.name, coalesce(n.name_en, n.name) as name_en, n.stage, n.weight::double as weight,"
        " n.emerging from chain_nodes n left join chains c using (chain_id)"
        " order by c.rowid, n.rowid",
    )
    edges = store.fetch(
        con,
        "select src_node_id, dst_node_id, weight::double as weight from chain_edges"
        " order by rowid",
    )
    validate_definition(nodes, edges)
    return nodes, edges


def _label(row: dict[str, Any]) -> str:
    return f"{row['name']}({row['node_id']}，{row['stage']})"


def _path(g: nx.DiGraph, cycle: list[tuple[Any, ...]]) -> str:
    names = [g.nodes[u].get("name", u) for u, *_ in cycle] + [g.nodes[cycle[0][0]].get("name", cycle[0][0])]
    return " → ".join(names)


def validate_definition(nodes: pl.DataFrame, edges: pl.DataFrame) -> None:
    """Raise ChainDefinitionError naming the culprit when the chain definition is inconsistent.

    Checks: unique segment ids, known stages, every edge endpoint exists, stages never run
    backwards inside a chain (配套服务 exempt), no cycle inside a chain or across chains,
    every chain weakly connected by its own edges.
    """
    dup = nodes.filter(pl.col("node_id").is_duplicated())["node_id"].unique().sort().to_list()
    if dup:
        raise ChainDefinitionError(f"环节编号重复：{'、'.join(dup)}（duplicate segment id）。")
    info = {r["node_id"]: r for r in nodes.iter_rows(named=True)}
    for r in info.values():
        if r["stage"] not in config.STAGES:
            raise ChainDefinitionError(
                f"环节 {r['name']}({r['node_id']}) 的阶段“{r['stage']}”无效，应为 上游/中游/下游/配套服务。")
    chain_name = {r["chain_id"]: r.get("chain") or r["chain_id"] for r in info.values()}
    for src, dst in edges.select("src_node_id", "dst_node_id").iter_rows():
        for end in (src, dst):
            if end not in info:
                raise ChainDefinitionError(
                    f"产业链连接 {src} → {dst} 引用了不存在的环节 {end}（edge to a missing segment）。")
        s, d = info[src], info[dst]
        if (s["chain_id"] == d["chain_id"] and s["stage"] in STAGE_RANK and d["stage"] in STAGE_RANK
                and STAGE_RANK[s["stage"]] > STAGE_RANK[d["stage"]]):
            raise ChainDefinitionError(
                f"产业链“{chain_name[s['chain_id']]}”内的连接 {_label(s)} → {_label(d)} 逆向："
                "链内只能 上游 → 中游 → 下游（stage runs backwards）。")
    g = _digraph(nodes, edges)
    for chain_id, members in _members(nodes).items():
        sub = g.subgraph(members)
        try:
            cycle = nx.find_cycle(sub)
        except nx.NetworkXNoCycle:
            cycle = None
        if cycle:
            raise ChainDefinitionError(
                f"产业链“{chain_name[chain_id]}”内存在环路：{_path(g, cycle)}（cycle inside a chain）。")
        parts = sorted(nx.weakly_connected_components(sub), key=lambda c: (-len(c), min(c)))
        if len(parts) > 1:
            stray = sorted(n for part in parts[1:] for n in part)
            names = "、".join(f"{info[n]['name']}({n})" for n in stray)
            raise ChainDefinitionError(
                f"产业链“{chain_name[chain_id]}”不连通：环节 {names} 与其余环节没有链内连接"
                "（chain not weakly connected）。")
    try:
        cycle = nx.find_cycle(g)
    except nx.NetworkXNoCycle:
        return
    raise ChainDefinitionError(
        f"跨产业链的连接形成环路：{_path(g, cycle)}（cycle across chains）。")


def _members(nodes: pl.DataFrame) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for node_id, chain_id in nodes.select("node_id", "chain_id").iter_rows():
        out.setdefault(chain_id, []).append(node_id)
    return out


def _digraph(nodes: pl.DataFrame, edges: pl.DataFrame) -> nx.DiGraph:
    g = nx.DiGraph()
    for r in nodes.select("node_id", "chain_id", "name").iter_rows(named=True):
        g.add_node(r["node_id"], chain_id=r["chain_id"], name=r["name"])
    g.add_edges_from(edges.select("src_node_id", "dst_node_id").iter_rows())
    return g


def resolve_chain(con: Con, chain: str) -> str:
    """The chain id for an id, name, English name or alias; ValueError listing valid names."""
    rows = con.execute(
        "select chain_id, name, name_en, coalesce(aliases, []) from chains order by rowid").fetchall()
    key = chain.strip().casefold()
    for chain_id, name, name_en, aliases in rows:
        if key in {chain_id.casefold(), name.casefold(), (name_en or "").casefold(),
                   *(a.casefold() for a in aliases)}:
            return str(chain_id)
    valid = "、".join(f"{name}（{chain_id}）" for chain_id, name, *_ in rows)
    raise ValueError(f"未知的产业链“{chain}”；可选：{valid}。")


# --------------------------------------------------------------------------- coverage

def segment_coverage(con: Con) -> pl.DataFrame:
    """Per segment: local firms, Σ output, HHI, pipeline and finished projects (SQL aggregates).

    ``hhi`` is on the 0–10000 scale (null without firms; equal shares when all output is 0);
    ``concentrated`` is the exact test HHI > 2500, done on integer cents.
    """
    # One SQL text for the library and the v_chain_coverage view, so the two cannot drift.
    return store.fetch(con, views.CHAIN_COVERAGE.sql)


# --------------------------------------------------------------------------- metrics

def segment_metrics(source: Con | pl.DataFrame, *, edges: pl.DataFrame | None = None) -> pl.DataFrame:
    """Coverage plus graph metrics per segment, from a connection or a coverage frame and edges.

    Adds: ``betweenness`` (combined graph) and ``betweenness_chain`` (in-chain edges), both
    normalised; ``descendants``; present successors / predecessors; ``dependence_direct_wan``
    (Σ output of present direct successors) and ``dependence_wan`` (present descendants
    within MAX_DISTANCE steps, each weighted DECAY**(d-1)); ``articulation`` /
    ``articulation_chain`` (cut vertices of the undirected graph); ``density`` (relatedness:
    Σ proximity of present segments / Σ proximity of all segments within MAX_DISTANCE
    undirected steps, proximity DECAY**(d-1)); ``related_present`` (those present segments).
    """
    if isinstance(source, pl.DataFrame):
        if edges is None:
            raise ValueError("segment_metrics 需要 edges 参数（给出覆盖表时必须同时给出连接表）。")
        validate_definition(source, edges)
        return _metrics(source, edges)
    _, edges = load_definition(source)
    return _metrics(segment_coverage(source), edges)


def _metrics(coverage: pl.DataFrame, edges: pl.DataFrame) -> pl.DataFrame:
    g = _digraph(coverage, edges)
    u = g.to_undirected()
    present = set(coverage.filter(pl.col("firms") >= 1)["node_id"].to_list())
    output = dict(zip(coverage["node_id"].to_list(),
                      coverage["output_wan"].cast(pl.Float64).to_list(), strict=True))
    between = nx.betweenness_centrality(g, normalized=True)
    between_chain: dict[str, float] = {}
    cut_chain: set[str] = set()
    for members in _members(coverage).values():
        between_chain.update(nx.betweenness_centrality(g.subgraph(members), normalized=True))
        cut_chain.update(nx.articulation_points(u.subgraph(members)))
    cut = set(nx.articulation_points(u))
    rows = []
    for node in coverage["node_id"].to_list():
        down = nx.single_source_shortest_path_length(g, node, cutoff=MAX_DISTANCE)
        near = nx.single_source_shortest_path_length(u, node, cutoff=MAX_DISTANCE)
        prox = {v: DECAY ** (d - 1) for v, d in near.items() if d >= 1}
        total = sum(prox.values())
        related = sorted((v for v in prox if v in present), key=lambda v: (near[v], v))
        rows.append({
            "node_id": node,
            "betweenness": between[node],
            "betweenness_chain": between_chain[node],
            "descendants": len(nx.descendants(g, node)),
            "successors": g.out_degree(node),
            "present_successors": [v for v in g.successors(node) if v in present],
            "present_predecessors": [v for v in g.predecessors(node) if v in present],
            "dependence_direct_wan": sum(output[v] for v in g.successors(node) if v in present),
            "dependence_wan": sum(output[v] * DECAY ** (d - 1)
                                  for v, d in down.items() if d >= 1 and v in present),
            "articulation": node in cut,
            "articulation_chain": node in cut_chain,
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


# --------------------------------------------------------------------------- classification

def _norm(column: str) -> pl.Expr:
    top = pl.col(column).max()
    return pl.when(top > 0).then(pl.col(column) / top).otherwise(0.0)


def classify(metrics: pl.DataFrame) -> pl.DataFrame:
    """Add ``kind`` (DOMAIN §5), ``category``, normalised factors, ``score`` and reasons to metrics."""
    present = pl.col("firms") >= 1
    n_succ = pl.col("present_successors").list.len()
    n_pred = pl.col("present_predecessors").list.len()
    kind = (
        pl.when(~present & (n_succ >= 1)).then(pl.lit("补链"))
        .when(~present & ((n_pred >= 1) | pl.col("emerging"))).then(pl.lit("增链"))
        .when(present & ((pl.col("firms") == 1) | pl.col("concentrated"))).then(pl.lit("丰链"))
        .otherwise(pl.lit(None, dtype=pl.String))
    )
    frame = (
        metrics
        .with_columns(
            present.alias("present"),
            kind.alias("kind"),
            _norm("dependence_wan").alias("dependence_norm"),
            _norm("betweenness").alias("betweenness_norm"),
            _norm("weight").alias("weight_norm"),
            (pl.col("hhi") / 10000).alias("concentration"),
        )
        .with_columns(
            pl.coalesce(
                pl.col("kind"),
                pl.when(pl.col("present")).then(pl.lit("已覆盖")).otherwise(pl.lit("未覆盖")),
            ).alias("category"),
            pl.when(pl.col("kind").is_null()).then(None)
            .otherwise(pl.coalesce(*[
                pl.when(pl.col("kind") == k).then(
                    pl.sum_horizontal([pl.col(f).fill_null(0.0) * w for f, w in weights.items()]))
                for k, weights in SCORE_WEIGHTS.items()
            ]).round(4)).alias("score"),
        )
    )
    zh, en = _reasons(frame)
    return frame.with_columns(
        pl.Series("reasons", zh, dtype=pl.List(pl.String)),
        pl.Series("reasons_en", en, dtype=pl.List(pl.String)),
    )


def analyse(coverage: pl.DataFrame, edges: pl.DataFrame, *, validate: bool = True) -> pl.DataFrame:
    """Metrics and classification of every segment from a coverage frame and the edges."""
    if validate:
        validate_definition(coverage, edges)
    return classify(_metrics(coverage, edges))


def _yi(wan: float) -> str:
    """万元 shown as 亿元 with at most two decimals."""
    text = f"{wan / config.WAN_PER_YI:,.2f}".rstrip("0").rstrip(".")
    return text or "0"


def _bn(wan: float) -> str:
    """万元 shown as billion yuan (1 bn = 10亿元 = 100,000万元)."""
    return f"{wan / 100_000:,.2f} bn yuan"


def _reasons(frame: pl.DataFrame) -> tuple[list[list[str]], list[list[str]]]:
    """Reasons a person can check, in Chinese and English (one pass over the segments)."""
    seg = {r["node_id"]: r for r in frame.iter_rows(named=True)}

    def name(v: str, chain_id: str, en: bool = False) -> str:
        s = seg[v]
        label = str(s["name_en"] if en else s["name"])
        if s["chain_id"] != chain_id:
            label += f" [{s['chain_en']}]" if en else f"［{s['chain']}］"
        return label

    def firms(vs: Iterable[str], chain_id: str, en: bool = False) -> str:
        if en:
            return "; ".join(f"{name(v, chain_id, True)} ({seg[v]['firms']} "
                             f"firm{'' if seg[v]['firms'] == 1 else 's'}, output "
                             f"{_bn(float(seg[v]['output_wan']))})" for v in vs)
        return "、".join(f"{name(v, chain_id)} 有 {seg[v]['firms']} 家企业"
                         f"（产值 {_yi(float(seg[v]['output_wan']))}亿元）" for v in vs)

    zh_all: list[list[str]] = []
    en_all: list[list[str]] = []
    for r in frame.iter_rows(named=True):
        kind, cid = r["kind"], r["chain_id"]
        zh: list[str] = []
        en: list[str] = []
        if kind == "补链":
            zh.append(f"本地无企业；直接下游 {firms(r['present_successors'], cid)}依赖此环节")
            en.append(f"No local firm; present direct customers rely on it: "
                      f"{firms(r['present_successors'], cid, True)}")
            zh.append(f"下游依赖产值 {_yi(r['dependence_wan'])}亿元（含间接下游折算），"
                      f"中介中心度 {r['betweenness']:.4f}（相对值 {r['betweenness_norm']:.2f}），"
                      f"环节权重 {r['weight']:g}")
            en.append(f"Dependent output {_bn(r['dependence_wan'])} (indirect customers "
                      f"discounted), betweenness {r['betweenness']:.4f} (relative "
                      f"{r['betweenness_norm']:.2f}), weight {r['weight']:g}")
        elif kind == "增链":
            if r["present_predecessors"]:
                zh.append(f"本地无企业，本地也无直接下游；上游 {firms(r['present_predecessors'], cid)}，"
                          "可向下延伸")
                en.append(f"No local firm and no local customer; local suppliers "
                          f"{firms(r['present_predecessors'], cid, True)} can extend into it")
            if r["emerging"]:
                zh.append("属新兴环节" if r["present_predecessors"] else "本地无企业；属新兴环节")
                en.append("An emerging segment" if r["present_predecessors"]
                          else "No local firm; an emerging segment")
            near = r["related_present"][:3]
            more = len(r["related_present"]) - len(near)
            zh.append(f"关联密度 {r['density']:.2f}（{MAX_DISTANCE} 步内本地已有企业的环节："
                      + ("、".join(name(v, cid) for v in near) + (f" 等 {len(r['related_present'])} 个" if more else "")
                         if near else "无") + "）")
            en.append(f"Relatedness density {r['density']:.2f} (present segments within "
                      f"{MAX_DISTANCE} steps: " + (", ".join(name(v, cid, True) for v in near)
                                                   + (f" and {more} more" if more else "") if near else "none") + ")")
        elif kind == "丰链":
            top = r["top_enterprise"]
            share = float(r["top_output_wan"]) / float(r["output_wan"]) if float(r["output_wan"]) else 1 / r["firms"]
            if r["firms"] == 1:
                zh.append(f"本地仅 1 家企业（{top}，产值 {_yi(float(r['output_wan']))}亿元）")
                en.append(f"A sole local firm ({top}, output {_bn(float(r['output_wan']))})")
            else:
                zh.append(f"本地 {r['firms']} 家企业，产值集中度 HHI {r['hhi']:,.0f} > {HHI_THRESHOLD:,}"
                          f"（最大一家 {top} 占 {share:.0%}）")
                en.append(f"{r['firms']} local firms, output concentration HHI {r['hhi']:,.0f} > "
                          f"{HHI_THRESHOLD:,} (largest, {top}, has {share:.0%})")
            if r["present_successors"]:
                zh.append(f"直接下游 {firms(r['present_successors'], cid)}依赖此环节")
                en.append(f"Local customers rely on it: {firms(r['present_successors'], cid, True)}")
        if kind is not None:
            ids = r["pipeline_ids"]
            if ids:
                shown = "、".join(ids[:5]) + (f" 等 {len(ids)} 个项目" if len(ids) > 5 else " ")
                zh.append(f"在库项目（谋划/前期/在建）{shown}正在{kind}")
                en.append(f"Pipeline projects {', '.join(ids[:5])}" + (f" and {len(ids) - 5} more" if len(ids) > 5 else "")
                          + f" address it ({KINDS_EN[kind]})")
            else:
                zh.append("暂无在库项目：招商目标")
                en.append("No pipeline project: an investment-promotion target")
        zh_all.append(zh)
        en_all.append(en)
    return zh_all, en_all


# --------------------------------------------------------------------------- gaps

def _inputs(con: Con) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    _, edges = load_definition(con)
    coverage = segment_coverage(con)
    return coverage, edges, analyse(coverage, edges, validate=False)


def segment_classes(con: Con) -> pl.DataFrame:
    """Every segment of the combined graph with coverage, metrics, kind, category and score."""
    return _inputs(con)[2]


def _gap_rows(classes: pl.DataFrame, chain_id: str | None) -> pl.DataFrame:
    order = {k: i for i, k in enumerate(KINDS)}
    frame = classes.filter(pl.col("kind").is_not_null())
    if chain_id is not None:
        frame = frame.filter(pl.col("chain_id") == chain_id)
    return (
        frame
        .with_columns(pl.col("kind").replace_strict(order, return_dtype=pl.Int8).alias("_order"))
        .sort(["_order", "score", "node_id"], descending=[False, True, False])
        .with_columns(
            (pl.int_range(pl.len()).over("kind") + 1).alias("rank"),
            pl.col("name").alias("node"),
            pl.col("name_en").alias("node_en"),
            pl.col("pipeline_ids").alias("addressed_by"),
            (pl.col("pipeline_projects") == 0).alias("open"),
        )
        .drop("_order")
    )


def gaps(con: Con, *, chain: str | None = None) -> pl.DataFrame:
    """The gap segments (补链 / 增链 / 丰链), ranked by score within each kind, optionally one chain."""
    chain_id = resolve_chain(con, chain) if chain else None
    return _gap_rows(segment_classes(con), chain_id)


def _disagreements(con: Con, classes: pl.DataFrame, chain_id: str | None) -> pl.DataFrame:
    pipe = ", ".join("?" for _ in config.PIPELINE_STATUSES)
    declared = store.fetch(
        con,
        "select project_id, name as project, status, node_id, chain_id as project_chain_id,"
        f" chain_role from projects where chain_role is not null and status in ({pipe})"
        " order by project_id",
        list(config.PIPELINE_STATUSES),
    )
    seg = classes.select(
        "node_id", "chain_id", "chain",
        pl.col("name").alias("node"),
        pl.col("name_en").alias("node_en"),
        "kind", "present", "firms",
        pl.col("reasons").list.first().alias("_why"),
        pl.col("reasons_en").list.first().alias("_why_en"),
    )
    frame = (
        declared
        .join(seg, on="node_id", how="left", maintain_order="left")
        .filter(pl.col("kind").is_null() | (pl.col("kind") != pl.col("chain_role")))
        .with_columns(pl.coalesce("chain_id", "project_chain_id").alias("chain_id"))
    )
    if chain_id is not None:
        frame = frame.filter(pl.col("chain_id") == chain_id)
    role = pl.col("chain_role")
    reason = (
        pl.when(pl.col("node").is_null())
        .then(pl.format("项目申报为{}，但没有指定有效的产业链环节（{}），无法核对", role,
                        pl.col("node_id").fill_null("空")))
        .when(pl.col("kind").is_not_null())
        .then(pl.format("项目申报为{}，但环节“{}”按规则属于{}：{}", role, "node", "kind", "_why"))
        .when(pl.col("present"))
        .then(pl.format("项目申报为{}，但环节“{}”本地已有 {} 家企业且产值不集中，不是缺口",
                        role, "node", "firms"))
        .otherwise(pl.format("项目申报为{}，但环节“{}”本地无企业、本地上下游也无企业且非新兴环节，"
                             "不是优先缺口", role, "node"))
    )
    reason_en = (
        pl.when(pl.col("node").is_null())
        .then(pl.format("Declared {} but has no valid chain segment ({})",
                        role.replace_strict(KINDS_EN, default="?"), pl.col("node_id").fill_null("none")))
        .when(pl.col("kind").is_not_null())
        .then(pl.format("Declared {} but segment {} is {} by the rules: {}",
                        role.replace_strict(KINDS_EN, default="?"), "node_en",
                        pl.col("kind").replace_strict(KINDS_EN, default="?"), "_why_en"))
        .when(pl.col("present"))
        .then(pl.format("Declared {} but segment {} already has {} local firms, not concentrated",
                        role.replace_strict(KINDS_EN, default="?"), "node_en", "firms"))
        .otherwise(pl.format("Declared {} but segment {} has no local firm, no local neighbour and "
                             "is not emerging", role.replace_strict(KINDS_EN, default="?"), "node_en"))
    )
    return frame.select(
        "project_id", "project", "status", "chain_id", "chain", "node_id", "node",
        pl.col("chain_role").alias("declared_role"),
        pl.col("kind").alias("segment_kind"),
        reason.alias("reason"),
        reason_en.alias("reason_en"),
    )


def role_disagreements(con: Con, *, chain: str | None = None) -> pl.DataFrame:
    """Pipeline projects whose declared chain_role differs from their segment's class, with a reason."""
    chain_id = resolve_chain(con, chain) if chain else None
    return _disagreements(con, segment_classes(con), chain_id)


CHANGES = {"closed": "缺口消除", "changed": "类别改变", "remains": "仍为缺口", "new": "新出现"}


def _after(coverage: pl.DataFrame, edges: pl.DataFrame, classes: pl.DataFrame,
           chain_id: str | None) -> pl.DataFrame:
    newly = (pl.col("firms") == 0) & (pl.col("pipeline_projects") > 0)
    builders = pl.col("pipeline_builders")
    # equal (unknown) output shares: HHI = 10000 / n, above 2500 exactly when n < 4
    future = coverage.with_columns(
        pl.when(newly).then(builders).otherwise(pl.col("firms")).alias("firms"),
        pl.when(newly).then(10000.0 / builders).otherwise(pl.col("hhi")).alias("hhi"),
        pl.when(newly).then(builders < 4).otherwise(pl.col("concentrated")).alias("concentrated"),
        pl.when(newly).then(pl.lit("在库项目建成后")).otherwise(pl.col("top_enterprise"))
        .alias("top_enterprise"),
    )
    after = analyse(future, edges, validate=False).select(
        "node_id", pl.col("firms").alias("firms_after"), pl.col("kind").alias("kind_after"))
    frame = (
        classes
        .select("chain_id", "chain", "node_id", pl.col("name").alias("node"),
                pl.col("name_en").alias("node_en"), pl.col("firms").alias("firms_before"),
                pl.col("kind").alias("kind_before"), pl.col("pipeline_ids").alias("addressed_by"))
        .join(after, on="node_id", how="left", maintain_order="left")
        .filter(pl.col("kind_before").is_not_null() | pl.col("kind_after").is_not_null())
        .with_columns(
            pl.when(pl.col("kind_after").is_null()).then(pl.lit("closed"))
            .when(pl.col("kind_before").is_null()).then(pl.lit("new"))
            .when(pl.col("kind_before") != pl.col("kind_after")).then(pl.lit("changed"))
            .otherwise(pl.lit("remains"))
            .alias("change"),
        )
        .with_columns(pl.col("change").replace_strict(CHANGES).alias("change_zh"))
    )
    if chain_id is not None:
        frame = frame.filter(pl.col("chain_id") == chain_id)
    return frame


def after_pipeline(con: Con, *, chain: str | None = None) -> pl.DataFrame:
    """Reclassify as if every pipeline project were finished: which gaps close, change or remain.

    An absent segment with pipeline projects becomes present: each distinct builder
    (``projects.enterprise``, else the project) becomes one local enterprise, with equal
    shares of an unknown output (counted as 0 in others' dependence). Present segments keep
    their firms. ``change`` is closed / changed / remains / new (a segment that becomes a gap
    because a new firm now relies on it).
    """
    chain_id = resolve_chain(con, chain) if chain else None
    coverage, edges, classes = _inputs(con)
    return _after(coverage, edges, classes, chain_id)


def _json_value(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 6)
    if isinstance(value, pl.Series):
        return value.to_list()
    return value


def gaps_report(con: Con, *, chain: str | None = None) -> dict[str, Any]:
    """The ``portfolio gaps --json`` payload (CONTRACT shape plus summary, disagreements, after view)."""
    chain_id = resolve_chain(con, chain) if chain else None
    coverage, edges, classes = _inputs(con)
    rows = _gap_rows(classes, chain_id)
    gap_list = [
        {
            "chain": r["chain"], "chain_id": r["chain_id"], "node_id": r["node_id"],
            "node": r["node"], "node_en": r["node_en"], "stage": r["stage"], "kind": r["kind"],
            "rank": r["rank"], "score": r["score"],
            "factors": {f: _json_value(float(r[f]) if f == "dependence_wan" else r[f])
                        for f in FACTORS[r["kind"]]},
            "reasons": r["reasons"], "reasons_en": r["reasons_en"],
            "addressed_by": r["addressed_by"], "open": r["open"],
            "firms": r["firms"], "output_wan": r["output_wan"],
        }
        for r in rows.iter_rows(named=True)
    ]
    scope = classes if chain_id is None else classes.filter(pl.col("chain_id") == chain_id)
    by_chain = (
        scope
        .group_by("chain_id", "chain", maintain_order=True)
        .agg(
            pl.len().alias("segments"),
            pl.col("present").sum().alias("present"),
            *[(pl.col("kind") == k).sum().alias(k) for k in KINDS],
            (pl.col("kind").is_not_null() & (pl.col("pipeline_projects") == 0)).sum().alias("open"),
        )
    )
    after = _after(coverage, edges, classes, chain_id)
    disagreements = _disagreements(con, classes, chain_id)
    return {
        "chain": chain_id,
        "gaps": gap_list,
        "summary": {
            "by_chain": by_chain.to_dicts(),
            "by_kind": {k: sum(1 for g in gap_list if g["kind"] == k) for k in KINDS},
            "open": sum(1 for g in gap_list if g["open"]),
            "segments": scope.height,
        },
        "role_disagreements": disagreements.to_dicts(),
        "after_pipeline": {
            "counts": {c: after.filter(pl.col("change") == c).height for c in CHANGES},
            "segments": after.to_dicts(),
        },
        "scoring": SCORE_WEIGHTS,
    }


def print_gaps(result: dict[str, Any], console: Any) -> None:
    """Print a gaps report as rich tables in Chinese.

    Chain, segment and project names are data: never read as markup, control characters shown
    as visible escapes, whatever console is given.
    """
    from rich.table import Table
    from rich.text import Text

    from .textsafe import visible

    def say(line: str, **style: Any) -> None:
        console.print(Text(visible(line), **style))

    def cells(*values: object) -> list[Text]:
        return [Text(visible(v)) for v in values]

    summary = Table(title="产业链缺口概览（补链 / 增链 / 丰链）")
    for col in ("产业链", "环节", "已覆盖", *KINDS, "待招商"):
        summary.add_column(col, justify="left" if col == "产业链" else "right")
    for r in result["summary"]["by_chain"]:
        summary.add_row(*cells(r["chain"], r["segments"], r["present"], *(r[k] for k in KINDS), r["open"]))
    console.print(summary)
    for kind in KINDS:
        items = [g for g in result["gaps"] if g["kind"] == kind]
        if not items:
            continue
        table = Table(title=f"{kind}（{len(items)} 个，按得分排序）")
        for col in ("序", "产业链", "环节", "得分", "本地企业", "在库项目"):
            table.add_column(col, justify="right" if col in ("序", "得分", "本地企业") else "left",
                             no_wrap=col != "在库项目")
        for g in items:
            ids = g["addressed_by"]
            projects = ("、".join(ids[:2]) + (f" 等{len(ids)}个" if len(ids) > 2 else "")
                        if ids else "—（招商目标）")
            table.add_row(*cells(g["rank"], g["chain"], g["node"], f"{g['score']:.3f}", g["firms"], projects))
        console.print(table)
        for g in items:
            say(f"  {g['rank']}. {g['node']}：" + "；".join(g["reasons"][:-1]))
    dis = result["role_disagreements"]
    if dis:
        say(f"申报的链上作用与环节类别不一致（{len(dis)} 个项目）", style="bold")
        for d in dis[:30]:
            say(f"  {d['project_id']} {d['project']}：{d['reason']}")
        if len(dis) > 30:
            say(f"  ……其余 {len(dis) - 30} 个见 --json 输出。")
    counts = result["after_pipeline"]["counts"]
    say("在库项目全部建成后：" + "，".join(f"{CHANGES[c]} {n} 个" for c, n in counts.items()) + "。")


# --------------------------------------------------------------------------- layout

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


def chain_map_frames(con: Con, *, chain: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Nodes (layout, category, firms, output, projects) and edges of one chain for :func:`charts.chain_map`."""
    chain_id = resolve_chain(con, chain)
    _, edges, classes = _inputs(con)
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
