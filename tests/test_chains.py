"""Chain graphs and the 补链 / 增链 / 丰链 gap analysis, on small hand-made graphs and the sample."""

from __future__ import annotations

import importlib
import json
from collections.abc import Iterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal
from rich.console import Console
from typer.testing import CliRunner

from portfolio import chains, config, console, store
from portfolio.cli import app

# A node: (node_id, chain_id, stage, weight, emerging, name); names default to the id.
Node = tuple[Any, ...]
CHAIN_NAMES = {"c1": ("测试链", "Test chain", ["测试", "test"]), "c2": ("邻链", "Next chain", [])}


def _nodes_frame(nodes: Sequence[Node]) -> pl.DataFrame:
    rows = []
    for n in nodes:
        node_id, chain_id, stage, *rest = n
        weight = rest[0] if len(rest) > 0 else 1.0
        emerging = rest[1] if len(rest) > 1 else False
        name = rest[2] if len(rest) > 2 else node_id
        rows.append({"node_id": node_id, "chain_id": chain_id, "name": name, "name_en": node_id,
                     "stage": stage, "weight": float(weight), "emerging": emerging})
    return pl.DataFrame(rows, schema={"node_id": pl.String, "chain_id": pl.String,
                                      "name": pl.String, "name_en": pl.String,
                                      "stage": pl.String, "weight": pl.Float64,
                                      "emerging": pl.Boolean})


def _edges_frame(edges: Sequence[tuple[str, str]]) -> pl.DataFrame:
    return pl.DataFrame({"src_node_id": [s for s, _ in edges], "dst_node_id": [d for _, d in edges],
                         "weight": [1.0] * len(edges)},
                        schema={"src_node_id": pl.String, "dst_node_id": pl.String,
                                "weight": pl.Float64})


def load(con: duckdb.DuckDBPyConnection, nodes: Sequence[Node], edges: Sequence[tuple[str, str]],
         firms: Sequence[tuple[str, str, float]] = (),
         projects: Sequence[tuple[Any, ...]] = ()) -> duckdb.DuckDBPyConnection:
    """Replace the chain definition, enterprises (node, name, output 万元) and projects
    (project_id, node, status, declared role[, builder[, total investment 万元]]; by default no
    builder and 1000 + i 万元) of an in-memory database."""
    for table in ("chains", "chain_nodes", "chain_edges", "enterprises", "projects"):
        con.execute(f"delete from {table}")
    frame = _nodes_frame(nodes)
    for chain_id in frame["chain_id"].unique(maintain_order=True).to_list():
        name, name_en, aliases = CHAIN_NAMES.get(chain_id, (chain_id, chain_id, []))
        con.execute("insert into chains (chain_id, name, name_en, aliases) values (?, ?, ?, ?)",
                    [chain_id, name, name_en, aliases])
    _many(con, "insert into chain_nodes values (?, ?, ?, ?, ?, ?, ?)",
                    frame.select("node_id", "chain_id", "name", "name_en", "stage", "weight",
                                 "emerging").rows())
    _many(con, "insert into chain_edges values (?, ?, 1)", [list(e) for e in edges])
    _many(
        con, "insert into enterprises (enterprise_id, name, node_id, output_wan) values (?, ?, ?, ?)",
        [[f"E{i}", name, node, Decimal(str(out))] for i, (node, name, out) in enumerate(firms)])
    _many(
        con, "insert into projects (project_id, name, unit_id, node_id, nature, status,"
        " total_investment_wan, annual_plan_wan, chain_role, enterprise)"
        " values (?, ?, 'u1', ?, '新建', ?, ?, ?, ?, ?)",
        [[pid, f"项目{pid}", node, status, Decimal(str(rest[1])) if len(rest) > 1 else Decimal(1000 + i),
          Decimal(100 + i), role, rest[0] if rest else None]
         for i, (pid, node, status, role, *rest) in enumerate(projects)])
    return con


def _many(con: duckdb.DuckDBPyConnection, sql: str, rows: Sequence[Sequence[Any]]) -> None:
    if rows:
        con.executemany(sql, list(rows))


@pytest.fixture
def db() -> Iterator[duckdb.DuckDBPyConnection]:
    """An in-memory database with the schema and nothing else."""
    con = duckdb.connect()
    store.create_schema(con)
    yield con
    con.close()


def kinds(con: duckdb.DuckDBPyConnection) -> dict[str, str | None]:
    frame = chains.segment_classes(con)
    return dict(zip(frame["node_id"].to_list(), frame["kind"].to_list(), strict=True))


def row(con: duckdb.DuckDBPyConnection, node_id: str) -> dict[str, Any]:
    return chains.segment_classes(con).filter(pl.col("node_id") == node_id).to_dicts()[0]


# A small chain: two suppliers s1, s2 → m1 → d1 → svc, and a second chain whose x supplies d1.
LINE: list[Node] = [
    ("s1", "c1", "上游", 1.0, False, "钢材"), ("s2", "c1", "上游", 1.0, False, "铝材"),
    ("m1", "c1", "中游", 1.5, False, "底盘"), ("d1", "c1", "下游", 2.0, False, "整车制造"),
    ("svc", "c1", "配套服务", 0.5, False, "物流"),
    ("x", "c2", "中游", 1.2, False, "汽车电子"), ("y", "c2", "上游", 1.0, False, "芯片"),
]
LINE_EDGES = [("s1", "m1"), ("s2", "m1"), ("m1", "d1"), ("d1", "svc"), ("y", "x"), ("x", "d1")]
#: Five equal firms on 整车制造: present and not concentrated (HHI 2000), output 100万元.
COVERED = [("d1", f"车企{i}", 20.0) for i in range(5)]


# --------------------------------------------------------------------------- definition

def test_the_reference_chains_toml_passes_validation() -> None:
    ref = config.load_reference()
    chains.validate_definition(ref.chain_nodes, ref.chain_edges)
    assert ref.chain_nodes.height == 121


def test_load_definition_reads_the_reference_chains(con: duckdb.DuckDBPyConnection) -> None:
    nodes, edges = chains.load_definition(con)
    assert (nodes.height, nodes["chain_id"].n_unique()) == (121, 10)
    assert edges.height == config.load_reference().chain_edges.height
    assert nodes.filter(pl.col("node_id") == "auto.vehicle")["chain"].to_list() == ["汽车"]


@pytest.mark.parametrize(
    ("nodes", "edges", "sentence"),
    [
        ([("a", "c1", "上游"), ("b", "c1", "中游")], [("a", "b"), ("b", "zz")],
         "产业链连接 b → zz 引用了不存在的环节 zz"),
        ([("a", "c1", "中游", 1, False, "甲"), ("b", "c1", "中游", 1, False, "乙")],
         [("a", "b"), ("b", "a")], "产业链“测试链”内存在环路：甲 → 乙 → 甲"),
        ([("a", "c1", "上游"), ("b", "c1", "中游"), ("c", "c1", "下游", 1, False, "孤岛")],
         [("a", "b")], "产业链“测试链”不连通：环节 孤岛(c) 与其余环节没有链内连接"),
        ([("a", "c1", "下游", 1, False, "整车"), ("b", "c1", "上游", 1, False, "钢材")],
         [("a", "b")], "产业链“测试链”内的连接 整车(a，下游) → 钢材(b，上游) 逆向"),
        ([("a", "c1", "上游", 1, False, "甲"), ("b", "c1", "下游", 1, False, "乙"),
          ("p", "c2", "上游", 1, False, "丙"), ("q", "c2", "下游", 1, False, "丁")],
         [("a", "b"), ("p", "q"), ("b", "p"), ("q", "a")],
         "跨产业链的连接形成环路：甲 → 乙 → 丙 → 丁 → 甲"),
    ],
    ids=["missing-endpoint", "in-chain-cycle", "disconnected", "backwards-stage", "cross-chain-cycle"],
)
def test_a_bad_definition_raises_a_sentence_naming_the_culprit(
    db: duckdb.DuckDBPyConnection, nodes: list[Node], edges: list[tuple[str, str]], sentence: str,
) -> None:
    load(db, nodes, edges)
    with pytest.raises(chains.ChainDefinitionError) as caught:
        chains.load_definition(db)
    assert sentence in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_a_duplicate_segment_id_is_refused() -> None:
    nodes = _nodes_frame([("a", "c1", "上游"), ("a", "c1", "中游")])  # the database refuses it too
    with pytest.raises(chains.ChainDefinitionError, match="环节编号重复：a"):
        chains.validate_definition(nodes, _edges_frame([]))


def test_service_segments_may_link_against_the_stage_order() -> None:
    nodes = _nodes_frame([("a", "c1", "上游"), ("b", "c1", "下游"), ("svc", "c1", "配套服务")])
    chains.validate_definition(nodes, _edges_frame([("svc", "a"), ("a", "b")]))
    chains.validate_definition(nodes, _edges_frame([("a", "b"), ("b", "svc")]))


def test_cross_chain_edges_may_run_against_the_stage_order() -> None:
    nodes = _nodes_frame([("a", "c1", "下游"), ("b", "c2", "上游")])
    chains.validate_definition(nodes, _edges_frame([("a", "b")]))


# --------------------------------------------------------------------------- coverage

def test_coverage_sums_firms_output_and_projects_like_plain_python(db: duckdb.DuckDBPyConnection) -> None:
    firms = [("d1", "一汽", 1500.5), ("d1", "二汽", 20.25), ("m1", "富奥", 300.0), ("zz", "无环节", 9.0)]
    projects = [("P1", "m1", "谋划", None), ("P2", "m1", "在建", "补链"), ("P3", "m1", "竣工", None),
                ("P4", "s1", "达产达效", None), ("P5", "s1", "前期", None)]
    load(db, LINE, LINE_EDGES, firms, projects)
    got = chains.segment_coverage(db).filter(pl.col("node_id").is_in(["s1", "m1", "d1", "svc"]))
    invest = {pid: Decimal(1000 + i) for i, (pid, *_) in enumerate(projects)}
    plan = {pid: Decimal(100 + i) for i, (pid, *_) in enumerate(projects)}
    assert got["node_id"].to_list() == ["s1", "m1", "d1", "svc"]
    assert got["firms"].to_list() == [0, 1, 2, 0]
    assert got["output_wan"].to_list() == [Decimal("0"), Decimal("300"), Decimal("1520.75"), Decimal("0")]
    assert got["pipeline_projects"].to_list() == [1, 2, 0, 0]
    assert got["pipeline_investment_wan"].to_list() == [invest["P5"], invest["P1"] + invest["P2"],
                                                         Decimal(0), Decimal(0)]
    assert got["pipeline_plan_wan"].to_list() == [plan["P5"], plan["P1"] + plan["P2"], Decimal(0), Decimal(0)]
    assert got["pipeline_ids"].to_list() == [["P5"], ["P1", "P2"], [], []]
    assert got["finished_projects"].to_list() == [1, 1, 0, 0]
    assert got["top_enterprise"].to_list() == [None, "富奥", "一汽", None]
    hhi = 10000 * (1500.5**2 + 20.25**2) / 1520.75**2
    assert got["hhi"].to_list()[1:3] == [10000.0, pytest.approx(hhi)]


def test_hhi_exactly_2500_is_not_concentrated_and_just_above_is(db: duckdb.DuckDBPyConnection) -> None:
    nodes = [("a", "c1", "上游"), ("b", "c1", "中游"), ("c", "c1", "下游")]
    firms = [*(("a", f"甲{i}", 25.0) for i in range(4)),                       # 4 × 25² = 2500
             ("b", "乙1", 26.0), ("b", "乙2", 25.0), ("b", "乙3", 25.0), ("b", "乙4", 24.0),  # 2502
             *(("c", f"丙{i}", 0.0) for i in range(4))]                       # equal shares of 0
    load(db, nodes, [("a", "b"), ("b", "c")], firms)
    cov = chains.segment_coverage(db)
    assert cov["hhi"].to_list() == [2500.0, 2502.0, 2500.0]
    assert cov["concentrated"].to_list() == [False, True, False]
    assert kinds(db) == {"a": None, "b": "丰链", "c": None}


# --------------------------------------------------------------------------- classification

def test_an_absent_segment_whose_direct_customer_is_present_is_a_fill_gap(db: duckdb.DuckDBPyConnection) -> None:
    firms = [("d1", "一汽", 1_000_000.0), ("d1", "二汽", 400_000.0), ("d1", "三汽", 120_000.0)]
    load(db, LINE, LINE_EDGES, firms)
    got = kinds(db)
    # three firms always have HHI ≥ 3333, so 整车制造 itself is thin (丰链)
    assert got == {"s1": None, "s2": None, "m1": "补链", "d1": "丰链", "svc": "增链", "x": "补链", "y": None}
    r = row(db, "m1")
    assert r["reasons"][0] == "本地无企业；直接下游 整车制造 有 3 家企业（产值 152亿元）依赖此环节"
    assert r["reasons_en"][0].startswith("No local firm; present direct customers rely on it: d1 (3 firms")
    assert r["reasons"][-1] == "暂无在库项目：招商目标"


def test_dependence_counts_customers_in_other_chains(db: duckdb.DuckDBPyConnection) -> None:
    load(db, LINE, LINE_EDGES, [("d1", "一汽", 50_000.0)])
    r = row(db, "x")
    assert (r["kind"], r["dependence_direct_wan"], r["dependence_wan"]) == ("补链", 50_000.0, 50_000.0)
    assert "直接下游 整车制造［测试链］ 有 1 家企业（产值 5亿元）" in r["reasons"][0]
    # y supplies x, which supplies d1: d1 counts half for y (two steps), and y is not a fill gap
    y = row(db, "y")
    assert (y["kind"], y["dependence_direct_wan"], y["dependence_wan"]) == (None, 0.0, 25_000.0)


def test_a_segment_without_successors_extends_a_present_predecessor(db: duckdb.DuckDBPyConnection) -> None:
    load(db, LINE, LINE_EDGES, [("d1", "一汽", 10.0), ("d1", "二汽", 10.0)])
    r = row(db, "svc")
    assert (r["successors"], r["kind"]) == (0, "增链")
    assert r["reasons"][0].startswith("本地无企业，本地也无直接下游；上游 整车制造 有 2 家企业")


def test_the_emerging_flag_makes_an_isolated_absent_segment_an_extension(db: duckdb.DuckDBPyConnection) -> None:
    nodes = [*LINE, ("new", "c3", "中游", 1.0, True, "氢能"), ("old", "c4", "中游", 1.0, False, "旧环节")]
    load(db, nodes, LINE_EDGES, [("d1", "一汽", 10.0)])
    assert (kinds(db)["new"], kinds(db)["old"]) == ("增链", None)
    r = row(db, "new")
    assert (r["density"], r["betweenness"], r["descendants"]) == (0.0, 0.0, 0)
    assert r["reasons"][0] == "本地无企业；属新兴环节"


def test_a_sole_supplier_is_an_enrich_gap_with_its_name(db: duckdb.DuckDBPyConnection) -> None:
    load(db, LINE, LINE_EDGES, [("m1", "富奥", 30_000.0), ("d1", "一汽", 10.0), ("d1", "二汽", 10.0)])
    r = row(db, "m1")
    assert (r["kind"], r["hhi"], r["concentration"]) == ("丰链", 10000.0, 1.0)
    assert r["reasons"][0] == "本地仅 1 家企业（富奥，产值 3亿元）"
    assert r["reasons"][1].startswith("直接下游 整车制造 有 2 家企业")


def test_a_present_segment_is_never_a_fill_or_extend_gap(db: duckdb.DuckDBPyConnection) -> None:
    firms = [(n, f"{n}{i}", 10.0) for n in ("s1", "m1", "d1", "svc", "x") for i in range(5)]
    load(db, LINE, LINE_EDGES, firms)
    assert kinds(db) == {"s1": None, "s2": "补链", "m1": None, "d1": None, "svc": None, "x": None,
                         "y": "补链"}


def test_metrics_match_hand_computed_values_on_a_path() -> None:
    nodes = _nodes_frame([("p", "c1", "上游"), ("q", "c1", "中游"), ("r", "c1", "中游"),
                          ("s", "c1", "下游")])
    cov = nodes.with_columns(
        pl.Series("firms", [0, 0, 1, 2]),
        pl.Series("output_wan", [0.0, 0.0, 100.0, 60.0]).cast(pl.Decimal(38, 2)),
        pl.Series("hhi", [None, None, 10000.0, 5000.0]),
        pl.Series("concentrated", [False, False, True, True]),
        pl.Series("top_enterprise", [None, None, "r0", "s0"]),
        pl.Series("top_output_wan", [0.0, 0.0, 100.0, 30.0]).cast(pl.Decimal(38, 2)),
        pl.Series("pipeline_projects", [0, 1, 0, 0]),
        pl.Series("pipeline_ids", [[], ["P1"], [], []], dtype=pl.List(pl.String)),
        pl.lit("测试链").alias("chain"),
        pl.lit("Test chain").alias("chain_en"),
    )
    got = chains.segment_metrics(cov, edges=_edges_frame([("p", "q"), ("q", "r"), ("r", "s")]))
    expected = pl.DataFrame({
        "node_id": ["p", "q", "r", "s"],
        # directed betweenness normalised by (n-1)(n-2) = 6: q lies on p→r, p→s; r on p→s, q→s
        "betweenness": [0.0, 2 / 6, 2 / 6, 0.0],
        "descendants": [3, 2, 1, 0],
        "dependence_direct_wan": [0.0, 100.0, 60.0, 0.0],
        "dependence_wan": [0.5 * 100 + 0.25 * 60, 100 + 0.5 * 60, 60.0, 0.0],
        "articulation": [False, True, True, False],
        # p: q at 1 (absent), r at 2 (0.5), s at 3 (0.25) → 0.75 / 1.75
        # q: p at 1 (absent), r at 1, s at 2 → 1.5 / 2.5; s: r at 1, q at 2, p at 3 → 1 / 1.75
        "density": [0.75 / 1.75, 1.5 / 2.5, 1.0 / 2.5, 1.0 / 1.75],
    })
    assert_frame_equal(got.select(expected.columns), expected, check_dtypes=False)
    assert got["related_present"].to_list()[0] == ["r", "s"]
    classes = chains.classify(got)
    assert classes["kind"].to_list() == [None, "补链", "丰链", "丰链"]
    assert classes["category"].to_list() == ["未覆盖", "补链", "丰链", "丰链"]


def test_articulation_points_are_reported_per_chain_and_combined(db: duckdb.DuckDBPyConnection) -> None:
    load(db, LINE, LINE_EDGES)
    frame = chains.segment_metrics(db).select("node_id", "articulation", "articulation_chain")
    cut = frame.filter(pl.col("articulation"))["node_id"].to_list()
    cut_chain = frame.filter(pl.col("articulation_chain"))["node_id"].to_list()
    assert (cut, cut_chain) == (["m1", "d1", "x"], ["m1", "d1"])
    between = chains.segment_metrics(db).filter(pl.col("node_id") == "x")
    # x relays y → d1 and y → svc on the combined graph; it relays nothing inside its own chain
    assert between["betweenness_chain"].to_list() == [0.0]
    assert between["betweenness"].to_list()[0] > 0


def test_scores_are_the_documented_weighted_sums_of_the_factors(db: duckdb.DuckDBPyConnection) -> None:
    firms = [("d1", "一汽", 90.0), ("m1", "富奥", 30.0), ("x", "长光", 10.0)]
    load(db, LINE, LINE_EDGES, firms)
    report = chains.gaps_report(db)
    assert {g["kind"] for g in report["gaps"]} == {"补链", "增链", "丰链"}
    for gap in report["gaps"]:
        weights = report["scoring"][gap["kind"]]
        assert gap["score"] == pytest.approx(sum(w * gap["factors"][f] for f, w in weights.items()), abs=1e-3)
        assert set(gap["factors"]) == set(chains.FACTORS[gap["kind"]])
        assert all(0 <= gap["factors"][f] <= 1 for f in weights)


# --------------------------------------------------------------------------- properties

@st.composite
def graphs(draw: st.DrawFn) -> tuple[list[Node], list[tuple[str, str]], list[int]]:
    """A connected single-chain DAG with stages in order, plus a firm count per segment."""
    n = draw(st.integers(2, 9))
    stages = sorted(draw(st.lists(st.sampled_from(["上游", "中游", "下游"]), min_size=n, max_size=n)),
                    key=chains.STAGE_RANK.__getitem__)
    nodes: list[Node] = [(f"n{i}", "c1", stages[i], 1.0, draw(st.booleans())) for i in range(n)]
    edges = {(f"n{draw(st.integers(0, i - 1))}", f"n{i}") for i in range(1, n)}
    extra = draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=n))
    edges |= {(f"n{a}", f"n{b}") for a, b in extra if a < b}
    firms = draw(st.lists(st.integers(0, 3), min_size=n, max_size=n))
    return nodes, sorted(edges), firms


def _firms(counts: Sequence[int]) -> list[tuple[str, str, float]]:
    return [(f"n{i}", f"企业{i}-{k}", 10.0 + k) for i, c in enumerate(counts) for k in range(c)]


def with_firms(con: duckdb.DuckDBPyConnection, edges: pl.DataFrame, counts: Sequence[int]) -> dict[str, str | None]:
    """Replace only the enterprises (the definition stays) and classify again."""
    con.execute("delete from enterprises")
    _many(con, "insert into enterprises (enterprise_id, name, node_id, output_wan) values (?, ?, ?, ?)",
          [[f"E{i}", name, node, out] for i, (node, name, out) in enumerate(_firms(counts))])
    frame = chains.analyse(chains.segment_coverage(con), edges, validate=False)
    return dict(zip(frame["node_id"].to_list(), frame["kind"].to_list(), strict=True))


@pytest.fixture(scope="module")
def scratch() -> Iterator[duckdb.DuckDBPyConnection]:
    """One in-memory database reused by the property tests (each example replaces its rows)."""
    con = duckdb.connect()
    store.create_schema(con)
    yield con
    con.close()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=graphs())
def test_adding_a_local_enterprise_to_a_fill_gap_never_leaves_it_a_fill_gap(
    scratch: duckdb.DuckDBPyConnection, case: tuple[list[Node], list[tuple[str, str]], list[int]],
) -> None:
    nodes, edges, counts = case
    load(scratch, nodes, edges)
    links = _edges_frame(edges)
    before = with_firms(scratch, links, counts)
    for node, kind in before.items():
        if kind == "补链":
            more = list(counts)
            more[int(node[1:])] += 1
            assert with_firms(scratch, links, more)[node] != "补链"


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=graphs())
def test_removing_the_only_firm_of_a_segment_with_a_present_customer_makes_it_a_fill_gap(
    scratch: duckdb.DuckDBPyConnection, case: tuple[list[Node], list[tuple[str, str]], list[int]],
) -> None:
    nodes, edges, counts = case
    counts = [1 if c else 0 for c in counts]
    load(scratch, nodes, edges)
    links = _edges_frame(edges)
    for i, c in enumerate(counts):
        customers = [d for s, d in edges if s == f"n{i}" and counts[int(d[1:])] > 0]
        if c == 1 and customers:
            fewer = list(counts)
            fewer[i] = 0
            assert with_firms(scratch, links, fewer)[f"n{i}"] == "补链"


# --------------------------------------------------------------------------- report

def test_the_report_has_the_contract_keys_and_ranks_within_each_kind(db: duckdb.DuckDBPyConnection) -> None:
    firms = [("d1", "一汽", 90.0), ("m1", "富奥", 30.0), ("x", "长光", 10.0)]
    load(db, LINE, LINE_EDGES, firms, [("P1", "s1", "在建", "补链")])
    report = chains.gaps_report(db)
    assert {"gaps", "summary", "role_disagreements", "after_pipeline", "chain"} <= set(report)
    for gap in report["gaps"]:
        assert {"chain", "node_id", "node", "kind", "score", "factors", "reasons", "addressed_by",
                "chain_id", "stage", "open", "reasons_en"} <= set(gap)
        assert gap["reasons"] and gap["reasons_en"]
    order = [(chains.KINDS.index(g["kind"]), -g["score"]) for g in report["gaps"]]
    assert order == sorted(order)
    s1 = next(g for g in report["gaps"] if g["node_id"] == "s1")
    assert (s1["kind"], s1["addressed_by"], s1["open"]) == ("补链", ["P1"], False)
    assert s1["reasons"][-1] == "在库项目（谋划/前期/在建）P1 正在补链"
    json.dumps(report, default=store._json_default)


def test_the_report_filters_by_chain_name_alias_or_id(db: duckdb.DuckDBPyConnection) -> None:
    load(db, LINE, LINE_EDGES, [("d1", "一汽", 90.0)])
    every = chains.gaps_report(db)
    assert {g["chain_id"] for g in every["gaps"]} == {"c1", "c2"}
    for name in ("测试链", "test", "C1", "Test chain"):
        only = chains.gaps_report(db, chain=name)
        assert only["chain"] == "c1"
        assert only["gaps"] == [g for g in every["gaps"] if g["chain_id"] == "c1"]
        assert [r["chain_id"] for r in only["summary"]["by_chain"]] == ["c1"]


def test_an_unknown_chain_is_refused_with_the_valid_names(db: duckdb.DuckDBPyConnection) -> None:
    load(db, LINE, LINE_EDGES)
    with pytest.raises(ValueError, match="未知的产业链“火星”；可选：测试链（c1）、邻链（c2）。"):
        chains.gaps(db, chain="火星")


def test_declared_roles_that_disagree_with_the_segment_class_are_listed(db: duckdb.DuckDBPyConnection) -> None:
    firms = COVERED
    projects = [("P1", "m1", "在建", "补链"),   # agrees
                ("P2", "m1", "前期", "增链"),   # 补链 segment
                ("P3", "d1", "谋划", "丰链"),   # covered segment
                ("P4", "s1", "谋划", "补链"),   # absent, no neighbour present
                ("P5", "nope", "谋划", "补链"),  # unknown segment
                ("P6", "m1", "竣工", "增链")]   # finished: not checked
    load(db, LINE, LINE_EDGES, firms, projects)
    got = chains.role_disagreements(db)
    assert got.select("project_id", "declared_role", "segment_kind").rows() == [
        ("P2", "增链", "补链"), ("P3", "丰链", None), ("P4", "补链", None), ("P5", "补链", None)]
    reasons = got["reason"].to_list()
    assert reasons[0] == ("项目申报为增链，但环节“底盘”按规则属于补链：本地无企业；直接下游 整车制造 有 5 家企业"
                          "（产值 0.01亿元）依赖此环节")
    assert reasons[1] == "项目申报为丰链，但环节“整车制造”本地已有 5 家企业且产值不集中，不是缺口"
    assert "本地无企业、本地上下游也无企业且非新兴环节" in reasons[2]
    assert reasons[3] == "项目申报为补链，但没有指定有效的产业链环节（nope），无法核对"
    assert all(got["reason_en"].str.starts_with("Declared"))


def test_the_payload_cuts_long_lists_and_counts_them_whole(db: duckdb.DuckDBPyConnection) -> None:
    # m1 is a 补链 gap: five projects on it, four declaring another role (disagreements)
    projects = [(f"P{i}", "m1", "在建", "增链" if i % 2 else "丰链") for i in range(1, 5)]
    load(db, LINE, LINE_EDGES, COVERED, [*projects, ("P5", "m1", "前期", "补链"), ("P6", "nope", "谋划", "补链")])
    whole = chains.gaps_report(db, limit=None, ids_limit=None)
    cut = chains.gaps_report(db, limit=2, ids_limit=3)
    m1 = {g["node_id"]: g for g in whole["gaps"]}["m1"]
    m1_cut = {g["node_id"]: g for g in cut["gaps"]}["m1"]
    assert m1["addressed_by"] == ["P1", "P2", "P3", "P4", "P5"] and m1["addressed_count"] == 5
    assert m1_cut["addressed_by"] == ["P1", "P2", "P3"] and m1_cut["addressed_count"] == 5
    after = {s["node_id"]: s for s in cut["after_pipeline"]["segments"]}["m1"]
    assert (after["addressed_by"], after["addressed_count"]) == (["P1", "P2", "P3"], 5)
    assert [d["project_id"] for d in whole["role_disagreements"]] == ["P1", "P2", "P3", "P4", "P6"]
    assert cut["role_disagreements"] == whole["role_disagreements"][:2]
    summary = cut["role_disagreement_summary"]
    assert (summary["total"], summary["shown"]) == (5, 2)
    assert {(k["declared_role"], k["segment_kind"], k["no_segment"]): k["count"] for k in summary["by_kind"]} == {
        ("增链", "补链", False): 2, ("丰链", "补链", False): 2, ("补链", None, True): 1}
    assert cut["limits"] == {"role_disagreements": 2, "addressed_by": 3}
    assert whole["limits"] == {"role_disagreements": None, "addressed_by": None}
    # everything else is the same
    drop = ("gaps", "role_disagreements", "role_disagreement_summary", "after_pipeline", "limits")
    assert {k: v for k, v in cut.items() if k not in drop} == {k: v for k, v in whole.items() if k not in drop}


def test_after_the_pipeline_a_fill_gap_becomes_a_sole_supplier_and_new_gaps_appear(
    db: duckdb.DuckDBPyConnection,
) -> None:
    load(db, LINE, LINE_EDGES, COVERED, [("P1", "m1", "在建", "补链"), ("P2", "svc", "谋划", "增链")])
    got = chains.after_pipeline(db).select("node_id", "kind_before", "kind_after", "change")
    assert got.rows() == [
        ("s1", None, "补链", "new"), ("s2", None, "补链", "new"),
        ("m1", "补链", "丰链", "changed"), ("svc", "增链", "丰链", "changed"),
        ("x", "补链", "补链", "remains"),
    ]


def test_after_the_pipeline_a_gap_with_four_builders_closes(db: duckdb.DuckDBPyConnection) -> None:
    projects = [(f"P{i}", "m1", "在建", "补链", f"新企业{i}", 1000) for i in range(4)]
    load(db, LINE, LINE_EDGES, COVERED, projects)
    got = chains.after_pipeline(db, chain="c1").filter(pl.col("node_id") == "m1")
    # four builders of equal investment, so equal output: HHI 10000 / 4 = 2500, not above 2500
    assert got.select("firms_before", "firms_after", "hhi_after", "kind_before", "kind_after", "change").rows() == [
        (0, 4, 2500.0, "补链", None, "closed")]
    report = chains.gaps_report(db, chain="c1")["after_pipeline"]
    assert report["counts"] == {"closed": 1, "changed": 0, "remains": 1, "new": 2}  # svc remains 增链


def test_print_gaps_writes_chinese_tables(db: duckdb.DuckDBPyConnection) -> None:
    load(db, LINE, LINE_EDGES, [("d1", "一汽", 90.0)], [("P2", "m1", "前期", "增链")])
    out = Console(record=True, width=200)
    console.print_gaps(chains.gaps_report(db), out)
    text = out.export_text()
    for expected in ("产业链缺口概览", "补链（2 个，按得分排序）", "底盘", "P2",
                     "申报的链上作用与环节类别不一致（1 个项目）", "在库项目全部建成后",
                     "年产值按其在库项目总投资 × 1 估算"):
        assert expected in text


# --------------------------------------------------------------------------- layout

def test_layout_puts_stages_left_to_right_and_other_chains_at_the_sides(db: duckdb.DuckDBPyConnection) -> None:
    load(db, LINE, LINE_EDGES)
    pos = chains.layout(db, chain="测试链")
    got = {r["node_id"]: (r["x"], r["column"], r["external"]) for r in pos.iter_rows(named=True)}
    assert got == {"x": (0, "外链供应", True), "s1": (1, "上游", False), "s2": (1, "上游", False),
                   "m1": (2, "中游", False), "d1": (3, "下游", False), "svc": (4, "配套服务", False)}
    upstream = pos.filter(pl.col("x") == 1)["y"].sort().to_list()
    assert upstream == [-0.5, 0.5]
    assert pos.filter(pl.col("x") == 2)["y"].to_list() == [0.0]


def test_layout_splits_a_stage_whose_segments_supply_each_other_into_sub_columns() -> None:
    nodes = _nodes_frame([("a", "c1", "上游"), ("b", "c1", "中游"), ("c", "c1", "中游"),
                          ("d", "c1", "中游"), ("e", "c1", "下游")])
    edges = _edges_frame([("a", "b"), ("b", "c"), ("c", "e"), ("a", "d"), ("d", "e")])
    pos = chains.layout(nodes, chain="c1", edges=edges)
    got = dict(zip(pos["node_id"].to_list(), zip(pos["x"].to_list(), pos["column"].to_list(), strict=True),
                   strict=True))
    assert got == {"a": (0, "上游"), "b": (1, "中游"), "d": (1, "中游"), "c": (2, "中游"), "e": (3, "下游")}


def test_layout_from_frames_needs_the_edges() -> None:
    with pytest.raises(ValueError, match="edges"):
        chains.layout(_nodes_frame(LINE), chain="c1")


def test_chain_map_frames_carry_category_and_cross_edges(db: duckdb.DuckDBPyConnection) -> None:
    load(db, LINE, LINE_EDGES, COVERED, [("P1", "m1", "在建", None)])
    nodes, edges = chains.chain_map_frames(db, chain="c1")
    cat = dict(zip(nodes["node_id"].to_list(), nodes["category"].to_list(), strict=True))
    assert cat == {"x": "补链", "s1": "未覆盖", "s2": "未覆盖", "m1": "补链", "d1": "已覆盖", "svc": "增链"}
    assert edges.filter(pl.col("cross"))[["src_node_id", "dst_node_id"]].rows() == [("x", "d1")]
    assert ("y", "x") not in edges[["src_node_id", "dst_node_id"]].rows()


# --------------------------------------------------------------------------- CLI

@pytest.fixture
def line_db(tmp_path: Path) -> Path:
    """A database file holding the small hand-made chains."""
    path = tmp_path / "line.duckdb"
    with store.connect(path, must_exist=False) as con:
        store.create_schema(con)
        load(con, LINE, LINE_EDGES, COVERED, [("P1", "m1", "在建", "补链")])
    return path


def test_cli_gaps_json_has_the_contract_keys_and_filters_by_chain(line_db: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["gaps", "--json", "--db", str(line_db)])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert {g["node_id"] for g in payload["gaps"]} == {"m1", "x", "svc"}
    only = json.loads(runner.invoke(app, ["gaps", "--json", "--chain", "邻链", "--db", str(line_db)]).stdout)
    assert [g["node_id"] for g in only["gaps"]] == ["x"]


def test_cli_gaps_json_cuts_long_lists_by_default_and_all_lists_every_row(tmp_path: Path) -> None:
    shown = importlib.import_module("portfolio.chains.gaps")
    n = shown.DISAGREEMENTS_SHOWN + 20  # more than either default
    path = tmp_path / "many.duckdb"
    with store.connect(path, must_exist=False) as con:
        store.create_schema(con)
        load(con, LINE, LINE_EDGES, COVERED, [(f"P{i:03d}", "m1", "在建", "增链") for i in range(n)])
    runner = CliRunner()
    default = runner.invoke(app, ["gaps", "--json", "--db", str(path)])
    every = runner.invoke(app, ["gaps", "--json", "--all", "--db", str(path)])
    assert default.exit_code == every.exit_code == 0, default.output + every.output
    cut, whole = json.loads(default.stdout), json.loads(every.stdout)
    assert len(cut["role_disagreements"]) == shown.DISAGREEMENTS_SHOWN and len(whole["role_disagreements"]) == n
    assert cut["role_disagreement_summary"]["total"] == whole["role_disagreement_summary"]["total"] == n
    assert cut["role_disagreement_summary"]["by_kind"] == [
        {"declared_role": "增链", "segment_kind": "补链", "no_segment": False, "count": n}]
    m1 = [g for g in cut["gaps"] if g["node_id"] == "m1"][0]
    m1_all = [g for g in whole["gaps"] if g["node_id"] == "m1"][0]
    assert (len(m1["addressed_by"]), m1["addressed_count"]) == (shown.ADDRESSED_SHOWN, n)
    assert (len(m1_all["addressed_by"]), m1_all["addressed_count"]) == (n, n)
    for gap in cut["gaps"]:  # the CONTRACT keys stay
        assert {"chain", "node_id", "node", "kind", "score", "factors", "reasons", "addressed_by"} <= set(gap)
    assert len(default.stdout) < len(every.stdout)
    # the tables on the terminal still count every project
    text = runner.invoke(app, ["gaps", "--db", str(path)])
    assert f"（{n} 个项目）" in text.stdout and f"等{n}个" in text.stdout


def test_cli_gaps_refuses_an_unknown_chain_with_exit_code_2(line_db: Path) -> None:
    result = CliRunner().invoke(app, ["gaps", "--chain", "火星", "--db", str(line_db)])
    assert result.exit_code == 2
    assert "未知的产业链“火星”" in result.stderr


def test_cli_gaps_refuses_a_bad_chain_definition_with_the_sentence(tmp_path: Path) -> None:
    path = tmp_path / "bad.duckdb"
    with store.connect(path, must_exist=False) as con:
        store.create_schema(con)
        load(con, [("a", "c1", "下游", 1, False, "整车"), ("b", "c1", "上游", 1, False, "钢材")], [("a", "b")])
    result = CliRunner().invoke(app, ["gaps", "--db", str(path)])
    assert result.exit_code == 2
    assert "产业链“测试链”内的连接 整车(a，下游) → 钢材(b，上游) 逆向" in result.stderr


# --------------------------------------------------------------------------- the sample plan

@pytest.fixture(scope="module")
def sample(sample_db_template: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection to the sample plan."""
    with store.connect(sample_db_template, read_only=True) as con:
        yield con


#: The sample's gaps by design (docs/sample.md §3): absent segments with and without projects.
SAMPLE_FILL = {"rail.tcms": False, "bio.isosorbide": False, "elec.imagechip": False, "aero.uav": False,
               "equip.cnc_sys": True, "aero.heli": True, "pharma.cro": True}  # node → open
SAMPLE_EXTEND = {"auto.autonomous": False, "mat.3dprint": False,
                 "auto.parking": True, "auto.connected": True, "nev.recycle": True}
SAMPLE_SOLE = {"rail.emu", "rail.testline", "aero.satellite", "aero.gaplane", "bio.pla", "elec.oled",
               "nev.magnet", "mat.oledmat", "agri.egg"}


def test_the_sample_has_the_designed_gaps(sample: duckdb.DuckDBPyConnection) -> None:
    report = chains.gaps_report(sample)
    assert report["summary"]["by_kind"] == {"补链": 7, "增链": 5, "丰链": 41}
    assert (report["summary"]["open"], report["summary"]["segments"]) == (9, 121)
    kinds = {g["node_id"]: g for g in report["gaps"]}
    assert {n: g["open"] for n, g in kinds.items() if g["kind"] == "补链"} == SAMPLE_FILL
    assert {n: g["open"] for n, g in kinds.items() if g["kind"] == "增链"} == SAMPLE_EXTEND
    assert {n for n, g in kinds.items() if g["kind"] == "丰链" and g["firms"] == 1} == SAMPLE_SOLE
    # 整车制造: three 一汽 firms dominate nineteen
    vehicle = kinds["auto.vehicle"]
    assert (vehicle["kind"], vehicle["firms"], round(vehicle["factors"]["hhi"])) == ("丰链", 19, 5215)
    for gap in report["gaps"]:
        assert gap["reasons"] and gap["reasons_en"] and gap["factors"]
        ids = {r[0] for r in sample.execute(
            "select project_id from projects where node_id = ? and status in ('谋划', '前期', '在建')",
            [gap["node_id"]]).fetchall()}
        assert set(gap["addressed_by"]) == ids
        assert gap["open"] == (not ids)


def test_sample_cli_gaps_json_has_the_contract_keys_and_chain_filter(sample_db_template: Path) -> None:
    runner = CliRunner()
    payload = json.loads(runner.invoke(app, ["gaps", "--json", "--db", str(sample_db_template)]).stdout)
    assert payload["gaps"]
    for gap in payload["gaps"]:
        assert {"chain", "node_id", "node", "kind", "score", "factors", "reasons", "addressed_by"} <= set(gap)
        assert gap["kind"] in ("补链", "增链", "丰链")
    auto = runner.invoke(app, ["gaps", "--json", "--chain", "汽车", "--db", str(sample_db_template)])
    assert auto.exit_code == 0
    assert {g["chain"] for g in json.loads(auto.stdout)["gaps"]} == {"汽车"}
