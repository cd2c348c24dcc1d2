"""The chain definition: segments and edges from the database, checked, and chain names resolved."""

from __future__ import annotations

from typing import Any

import duckdb
import networkx as nx
import polars as pl

from .. import config, store
from .rules import STAGE_RANK

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
    key = (tuple(nodes.rows()), tuple(edges.rows()))
    if key not in _VALIDATED:  # a definition seldom changes: check each one once a process
        validate_definition(nodes, edges)
        if len(_VALIDATED) >= 32:
            _VALIDATED.clear()
        _VALIDATED.add(key)
    return nodes, edges


#: The definitions (their rows) :func:`load_definition` found valid.
_VALIDATED: set[tuple[tuple[tuple[Any, ...], ...], tuple[tuple[Any, ...], ...]]] = set()


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
