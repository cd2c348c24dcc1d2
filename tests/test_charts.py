"""Charts: the chain map and the gap scatter render offline, in Chinese and English."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pytest

from portfolio import chains, charts, store

NODES = [
    ("s1", "c1", "钢材", "Steel", "上游"), ("m1", "c1", "底盘", "Chassis", "中游"),
    ("m2", "c1", "模块化零部件", "Modular assemblies", "中游"), ("d1", "c1", "整车制造", "Vehicle assembly", "下游"),
    ("x", "c2", "汽车电子", "Automotive electronics", "中游"),
]
EDGES = [("s1", "m1"), ("m1", "m2"), ("m2", "d1"), ("x", "d1")]


@pytest.fixture
def db() -> Iterator[duckdb.DuckDBPyConnection]:
    """A small two-chain database: 整车制造 present, 底盘 addressed by a project, 钢材 absent."""
    con = duckdb.connect()
    store.create_schema(con)
    con.executemany("insert into chains (chain_id, name, name_en) values (?, ?, ?)",
                    [["c1", "测试链", "Test chain"], ["c2", "邻链", "Next chain"]])
    con.executemany("insert into chain_nodes values (?, ?, ?, ?, ?, 1, false)",
                    [[n, c, zh, en, stage] for n, c, zh, en, stage in NODES])
    con.executemany("insert into chain_edges values (?, ?, 1)", [list(e) for e in EDGES])
    con.executemany("insert into enterprises (enterprise_id, name, node_id, output_wan) values (?, ?, ?, ?)",
                    [[f"E{i}", f"车企{i}", "d1", 200_000 + i] for i in range(5)]
                    + [["E9", "一模", "m2", 30_000]])
    con.execute("insert into projects (project_id, name, unit_id, node_id, nature, status,"
                " total_investment_wan) values ('P1', '底盘项目', 'u1', 'm1', '新建', '在建', 5000)")
    yield con
    con.close()


def spec(chart: Any) -> str:
    """The Vega-Lite spec as JSON text, without the $schema address."""
    d = chart.to_dict()
    d.pop("$schema", None)
    return json.dumps(d, ensure_ascii=False)


def test_the_chain_map_renders_to_svg_with_every_segment_name(db: duckdb.DuckDBPyConnection) -> None:
    nodes, edges = chains.chain_map_frames(db, chain="测试链")
    svg = charts.to_svg(charts.chain_map(nodes, edges))
    assert svg.startswith("<svg")
    for name in ("钢材", "底盘", "模块化零部件", "整车制造", "汽车电子", "［邻链］", "测试链 产业链图谱",
                 "上游", "中游", "下游", "外链供应"):
        assert name in svg


def test_the_chain_map_speaks_english_when_asked(db: duckdb.DuckDBPyConnection) -> None:
    nodes, edges = chains.chain_map_frames(db, chain="c1")
    svg = charts.to_svg(charts.chain_map(nodes, edges, lang="en"))
    for name in ("Steel", "Vehicle assembly", "[Next chain]", "Test chain: chain map", "Upstream"):
        assert name in svg
    assert "整车制造" not in svg


def test_the_chain_map_uses_inline_data_and_the_fixed_palette(db: duckdb.DuckDBPyConnection) -> None:
    nodes, edges = chains.chain_map_frames(db, chain="c1")
    text = spec(charts.chain_map(nodes, edges))
    assert "http" not in text and '"url"' not in text
    scales = [layer["encoding"]["color"]["scale"] for layer in json.loads(text)["layer"]
              if "scale" in layer.get("encoding", {}).get("color", {})]
    palette = {"domain": list(charts.CATEGORY_COLORS), "range": list(charts.CATEGORY_COLORS.values())}
    assert scales and all(s == palette for s in scales)  # the segments and the rings of open gaps


def test_open_gaps_are_drawn_as_the_largest_ring_and_named_with_their_class(db: duckdb.DuckDBPyConnection) -> None:
    nodes, edges = chains.chain_map_frames(db, chain="c1")
    d = charts.chain_map(nodes, edges).to_dict()
    points = next(layer["data"]["values"] for layer in d["layer"] if layer["mark"]["type"] == "point"
                  and layer["mark"].get("shape") == "circle")
    by_id = {p["node_id"]: p for p in points}
    biggest = max(p["radius"] for p in points)
    assert by_id["x"]["empty_gap"] and by_id["x"]["radius"] == biggest  # an open 补链 with no output
    assert by_id["x"]["label"].startswith("【补链】")
    assert by_id["m2"]["label"].startswith("【丰链】") and not by_id["m2"]["empty_gap"]  # a sole supplier
    assert not by_id["m1"]["empty_gap"] and "【" not in by_id["m1"]["label"]  # addressed by P1
    rings = [layer for layer in d["layer"] if layer["mark"]["type"] == "point" and layer["mark"].get("filled") is False]
    assert len(rings) == 1 and rings[0]["mark"]["size"] == charts.AREA_MAX


def test_chain_map_data_carries_class_firms_output_and_projects(db: duckdb.DuckDBPyConnection) -> None:
    nodes, edges = chains.chain_map_frames(db, chain="c1")
    d = charts.chain_map(nodes, edges).to_dict()
    points = next(layer["data"]["values"] for layer in d["layer"] if layer["mark"]["type"] == "point"
                  and layer["mark"].get("shape") == "circle")
    got = {p["node_id"]: (p["category"], p["firms"], p["output_yi"], p["projects"], p["open"]) for p in points}
    assert got == {
        "x": ("补链", 0, 0.0, "—", True),       # supplies 整车制造 across chains, no project
        "s1": ("未覆盖", 0, 0.0, "—", False),   # its only customer 底盘 is absent too
        "m1": ("补链", 0, 0.0, "P1", False),    # 模块化零部件 relies on it; P1 addresses it
        "m2": ("丰链", 1, 3.0, "—", True),      # a sole supplier, no project
        "d1": ("已覆盖", 5, 100.0, "—", False),  # five firms of about 20亿元 each
    }


def test_edges_get_an_arrowhead_each_and_cross_chain_edges_are_dashed(db: duckdb.DuckDBPyConnection) -> None:
    nodes, edges = chains.chain_map_frames(db, chain="c1")
    d = charts.chain_map(nodes, edges).to_dict()
    rules = next(layer for layer in d["layer"] if layer["mark"]["type"] == "rule")
    heads = next(layer for layer in d["layer"] if layer["mark"].get("shape") == "triangle-up")
    assert len(rules["data"]["values"]) == len(heads["data"]["values"]) == len(EDGES)
    assert [r["cross"] for r in rules["data"]["values"]].count(True) == 1
    # every in-chain edge runs left to right (stages split into sub-columns where needed)
    assert all(r["x2"] > r["x"] for r in rules["data"]["values"])


def test_to_png_returns_png_bytes(db: duckdb.DuckDBPyConnection) -> None:
    nodes, edges = chains.chain_map_frames(db, chain="c1")
    png = charts.to_png(charts.chain_map(nodes, edges), scale=1)
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5_000


def test_the_gap_scatter_shows_open_gaps_only_with_labels(db: duckdb.DuckDBPyConnection) -> None:
    gaps = chains.gaps(db)
    assert set(gaps.filter(~pl.col("open"))["node"].to_list()) == {"底盘"}
    svg = charts.to_svg(charts.gap_scatter(gaps))
    assert "汽车电子" in svg and "模块化零部件" in svg
    assert "底盘" not in svg
    assert "关联密度（可行性）" in svg


def test_the_gap_scatter_says_so_when_no_gap_is_open(db: duckdb.DuckDBPyConnection) -> None:
    gaps = chains.gaps(db).with_columns(pl.lit(False).alias("open"))
    assert "没有待招商的缺口" in charts.to_svg(charts.gap_scatter(gaps))
    assert "No open gap" in charts.to_svg(charts.gap_scatter(gaps, lang="en"))


def test_crowded_labels_never_overlap_and_the_rest_are_dropped() -> None:
    points = [{"label": f"环节{i}", "density": 0.5 + i * 0.001, "score": 0.5} for i in range(12)]
    charts._place_labels(points, (0.0, 1.0), (0.0, 1.0), 640, 420)
    shown = [p for p in points if p["show_label"]]
    assert 1 < len(shown) < len(points)
    boxes = []
    for p in shown:
        x, y = p["lx"] * 640, (1 - p["ly"]) * 420
        w = 11 * 3 + 0.6 * 11 * (len(p["label"]) - 2) + 2
        x0 = x if p["align"] == "left" else x - w if p["align"] == "right" else x - w / 2
        boxes.append((x0, y - 7, x0 + w, y + 7))
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            assert a[2] <= b[0] + 0.01 or b[2] <= a[0] + 0.01 or a[3] <= b[1] + 0.01 or b[3] <= a[1] + 0.01


def test_an_unknown_language_is_refused(db: duckdb.DuckDBPyConnection) -> None:
    nodes, edges = chains.chain_map_frames(db, chain="c1")
    with pytest.raises(ValueError, match="不支持的语言"):
        charts.chain_map(nodes, edges, lang="fr")


def test_the_sample_chain_map_renders_with_every_segment_of_the_chain(sample_db_template: Path) -> None:
    with store.connect(sample_db_template, read_only=True) as con:
        nodes, edges = chains.chain_map_frames(con, chain="汽车")
        names = con.execute("select name from chain_nodes where chain_id = 'auto'").fetchall()
    svg = charts.to_svg(charts.chain_map(nodes, edges))
    assert len(svg) > 10_000
    assert all(name in svg for (name,) in names)
