"""The chain rules written once: one HHI setting that decides and words every text, and the
after-the-pipeline view in which every new builder becomes a local firm (issue 12)."""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import duckdb
import polars as pl
import pytest
from typer.testing import CliRunner

from portfolio import chains, config, i18n, store
from portfolio.cli import app
from tests.test_chains import COVERED, LINE, LINE_EDGES, load


@pytest.fixture
def db() -> Iterator[duckdb.DuckDBPyConnection]:
    """An in-memory database with the schema and the reference chain rules in meta."""
    con = duckdb.connect()
    store.create_schema(con)
    store.set_meta(con, chains.rules.META_KEY, chains.load_rules().to_json())
    yield con
    con.close()


def use_rules(con: duckdb.DuckDBPyConnection, **changes: object) -> chains.ChainRules:
    """Store changed chain rules as the database's copy (what `portfolio init` writes)."""
    rules = dataclasses.replace(chains.load_rules(), **changes)  # type: ignore[arg-type]
    store.set_meta(con, chains.rules.META_KEY, rules.to_json())
    return rules


# Segment a: four firms with output shares 30 / 25 / 25 / 20 %, HHI exactly 2550.
FOUR = [("a", "甲1", 30.0), ("a", "甲2", 25.0), ("a", "甲3", 25.0), ("a", "甲4", 20.0)]
ABC = [("a", "c1", "上游"), ("b", "c1", "中游"), ("c", "c1", "下游")]


def view_and_library(con: duckdb.DuckDBPyConnection, node: str) -> tuple[bool, bool]:
    view = con.execute("select concentrated from v_chain_coverage where node_id = ?", [node]).fetchall()[0][0]
    library = chains.segment_coverage(con).filter(pl.col("node_id") == node)["concentrated"].item()
    return view, library


# --------------------------------------------------------------------------- one HHI rule

def test_the_threshold_setting_decides_concentration_for_the_view_and_the_library(
    db: duckdb.DuckDBPyConnection,
) -> None:
    load(db, ABC, [("a", "b"), ("b", "c")], FOUR)
    assert chains.segment_coverage(db)["hhi"].to_list()[0] == pytest.approx(2550.0)
    assert view_and_library(db, "a") == (True, True)  # 2550 > 2500
    use_rules(db, hhi_threshold=2550)
    assert view_and_library(db, "a") == (False, False)  # strictly above: exactly 2550 is not
    assert chains.segment_classes(db)["kind"].to_list()[0] is None
    use_rules(db, hhi_threshold=2549)
    assert view_and_library(db, "a") == (True, True)
    assert chains.segment_classes(db)["kind"].to_list()[0] == "丰链"


def test_segments_without_output_use_equal_shares_under_the_same_threshold(db: duckdb.DuckDBPyConnection) -> None:
    load(db, ABC, [("a", "b"), ("b", "c")], [(n, f"{n}{i}", 0.0) for n, k in (("a", 3), ("b", 5)) for i in range(k)])
    assert chains.segment_coverage(db)["hhi"].to_list()[:2] == [pytest.approx(10000 / 3), 2000.0]
    assert [view_and_library(db, n) for n in "ab"] == [(True, True), (False, False)]
    use_rules(db, hhi_threshold=3400)  # 10000 / 3 = 3333.3 is no longer above
    assert [view_and_library(db, n) for n in "ab"] == [(False, False), (False, False)]


def test_every_text_says_the_threshold_that_decided(db: duckdb.DuckDBPyConnection) -> None:
    load(db, ABC, [("a", "b"), ("b", "c")], FOUR)
    use_rules(db, hhi_threshold=2000)
    report = chains.gaps_report(db)
    gap = next(g for g in report["gaps"] if g["node_id"] == "a")
    assert gap["reasons"][0] == "本地 4 家企业，产值集中度 HHI 2,550 > 2,000（最大一家 甲1 占 30%）"
    assert "HHI 2,550 > 2,000" in gap["reasons_en"][0]
    assert report["rules"]["hhi_threshold"] == 2000
    assert "HHI > 2,000" in i18n.t("ch.map_caption", "zh", **report["rules"])
    assert "HHI > 2,000" in i18n.t("ch.map_caption", "en", **report["rules"])
    assert "HHI > 2,000" in i18n.t("report.notes.gaps", "zh", **report["rules"])
    assert "above 2,000" in i18n.t("ch.after_caption", "en", statuses="x", **report["rules"])


def test_init_copies_the_rules_of_chains_toml_and_every_reader_uses_the_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = tmp_path / "data"
    shutil.copytree(config.data_dir(), data, ignore=shutil.ignore_patterns("*.duckdb*", "backups"))
    toml = data / "chains.toml"
    toml.write_text(toml.read_text(encoding="utf-8").replace("hhi_threshold = 2500", "hhi_threshold = 5500"),
                    encoding="utf-8")
    monkeypatch.setenv("PORTFOLIO_DATA_DIR", str(data))
    path = tmp_path / "p.duckdb"
    store.init_db(path, sample=True)
    with store.connect(path, read_only=True) as con:
        assert chains.chain_rules(con).hhi_threshold == 5500
        view = store.fetch(con, "select node_id, concentrated from v_chain_coverage")
        library = chains.segment_coverage(con).select("node_id", "concentrated")
        assert view.equals(library)
        by_kind = chains.gaps_report(con)["summary"]["by_kind"]
    assert by_kind["丰链"] < 41  # fewer concentrated segments than at 2500
    payload = json.loads(CliRunner().invoke(app, ["gaps", "--json", "--db", str(path)]).stdout)
    assert payload["rules"]["hhi_threshold"] == 5500
    assert payload["summary"]["by_kind"] == by_kind


@pytest.mark.parametrize(
    ("line", "sentence"),
    [
        ("hhi_threshold = 2500.5", "hhi_threshold 应为 0–10000 之间的整数"),
        ("hhi_threshold = 12000", "hhi_threshold 应为 0–10000 之间的整数"),
        ("hhi_treshold = 2500", "[rules] 中没有 hhi_treshold 这一项"),
    ],
)
def test_a_bad_rule_in_chains_toml_is_refused_with_a_sentence(
    tmp_path: Path, line: str, sentence: str,
) -> None:
    shutil.copytree(config.data_dir(), tmp_path, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("*.duckdb*", "backups"))
    toml = tmp_path / "chains.toml"
    toml.write_text(toml.read_text(encoding="utf-8").replace("hhi_threshold = 2500", line), encoding="utf-8")
    with pytest.raises(config.ConfigError) as caught:
        config.load_reference(tmp_path)
    assert sentence in str(caught.value)


def test_the_class_rule_reads_like_domain_section_5() -> None:
    frame = pl.DataFrame({
        "firms": [0, 0, 0, 0, 1, 3, 5],
        "concentrated": [False, False, False, False, True, True, False],
        "n_present_successors": [1, 0, 0, 0, 0, 0, 0],
        "n_present_predecessors": [1, 1, 0, 0, 0, 0, 0],
        "emerging": [False, False, True, False, False, False, False],
    })
    assert frame.select(chains.kind_expr().alias("kind"))["kind"].to_list() == ["补链", "增链", "增链", None, "丰链", "丰链", None]


# --------------------------------------------------------------------------- after the pipeline

#: 底盘 (m1) has two firms, 600 and 200万元 of output: HHI 6250, a 丰链 segment.
THIN = [*COVERED, ("m1", "富奥", 600.0), ("m1", "富维", 200.0)]
#: Pipeline projects on it: (id, node, status, role, builder, total investment 万元).
ARRIVALS = [
    ("P1", "m1", "在建", None, "甲", 1000), ("P2", "m1", "前期", None, "乙", 1000),
    ("P3", "m1", "谋划", None, "丙", 1000), ("P4", "m1", "在建", None, None, 1000),  # no builder: the project
    ("P5", "m1", "在建", None, "甲", 500),     # 甲's second project: one firm, 1500万元
    ("P6", "m1", "在建", None, "富奥", 5000),  # already a local firm there: not a new one
    ("P7", "m1", "竣工", None, "丁", 9000),    # finished: not pipeline
]


def test_a_thin_segment_receiving_four_new_builders_closes_after_the_pipeline(db: duckdb.DuckDBPyConnection) -> None:
    load(db, LINE, LINE_EDGES, THIN, ARRIVALS)
    got = chains.after_pipeline(db).filter(pl.col("node_id") == "m1").row(0, named=True)
    # outputs 600, 200 (kept) + 甲 1500, 乙 1000, 丙 1000, P4 1000 (investment × 1)
    shares = [600, 200, 1500, 1000, 1000, 1000]
    hhi = 10000 * sum(s * s for s in shares) / sum(shares) ** 2  # 2011.4
    assert (got["kind_before"], got["firms_before"], got["hhi_before"]) == ("丰链", 2, 6250.0)
    assert (got["firms_after"], got["new_firms"]) == (6, 4)
    assert got["hhi_after"] == pytest.approx(hhi)
    assert str(got["output_after_wan"]) == "5300.00"
    assert (got["kind_after"], got["change"], got["change_zh"]) == (None, "closed", "缺口消除")
    assert got["addressed_by"] == ["P1", "P2", "P3", "P4", "P5", "P6"]


def test_the_new_firm_output_ratio_is_the_stated_assumption(db: duckdb.DuckDBPyConnection) -> None:
    load(db, LINE, LINE_EDGES, THIN, ARRIVALS)
    use_rules(db, new_firm_output_ratio=0.1)
    got = chains.after_pipeline(db).filter(pl.col("node_id") == "m1").row(0, named=True)
    shares = [600, 200, 150, 100, 100, 100]  # small newcomers: 富奥 still has 48 %
    assert got["hhi_after"] == pytest.approx(10000 * sum(s * s for s in shares) / sum(shares) ** 2)
    assert (got["firms_after"], got["kind_after"], got["change"]) == (6, "丰链", "remains")


def test_a_new_firms_output_is_rounded_to_cents_exactly_at_any_size(db: duckdb.DuckDBPyConnection) -> None:
    # 1000.01 × 0.5 = 500.005 → 500.01 (half away from zero); 20,000,000,001.01 × 0.5 lies past the
    # 64-bit path (10^10 万元) and rounds the same way: 10,000,000,000.505 → 10,000,000,000.51
    load(db, LINE, LINE_EDGES, THIN, [("P1", "m1", "在建", None, "甲", Decimal("1000.01")),
                                      ("P2", "m1", "在建", None, "乙", Decimal("20000000001.01"))])
    use_rules(db, new_firm_output_ratio=0.5)
    got = chains.after_pipeline(db).filter(pl.col("node_id") == "m1").row(0, named=True)
    assert got["output_after_wan"] == Decimal("600") + Decimal("200") + Decimal("500.01") + Decimal("10000000000.51")


def test_a_sole_supplier_joined_by_one_larger_builder_changes_nothing_but_its_numbers(
    db: duckdb.DuckDBPyConnection,
) -> None:
    load(db, LINE, LINE_EDGES, [*COVERED, ("m1", "富奥", 600.0)], [("P1", "m1", "在建", None, "甲", 600)])
    got = chains.after_pipeline(db).filter(pl.col("node_id") == "m1").row(0, named=True)
    # two equal firms: HHI 5000, still concentrated
    assert (got["firms_after"], got["hhi_after"], got["kind_after"], got["change"]) == (2, 5000.0, "丰链", "remains")


def test_new_firms_count_in_the_dependence_of_their_suppliers(db: duckdb.DuckDBPyConnection) -> None:
    # s1 supplies m1; m1 has no firm today, so s1 is no gap; once 甲 builds on m1, s1 is a 补链 gap
    load(db, LINE, LINE_EDGES, COVERED, [("P1", "m1", "在建", None, "甲", 800)])
    got = chains.after_pipeline(db).filter(pl.col("node_id").is_in(["s1", "m1"]))
    assert got.select("node_id", "kind_before", "kind_after", "change").rows() == [
        ("s1", None, "补链", "new"), ("m1", "补链", "丰链", "changed")]


@pytest.fixture(scope="module")
def sample(sample_db_template: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    with store.connect(sample_db_template, read_only=True) as con:
        yield con


def test_the_sample_carbon_fibre_parts_segment_closes_after_the_pipeline(sample: duckdb.DuckDBPyConnection) -> None:
    cover = chains.segment_coverage(sample).filter(pl.col("node_id") == "auto.cfrp").row(0, named=True)
    assert (cover["firms"], cover["pipeline_projects"], cover["pipeline_builders"]) == (2, 17, 11)
    after = chains.after_pipeline(sample, chain="汽车")
    cfrp = after.filter(pl.col("node_id") == "auto.cfrp").row(0, named=True)
    assert (cfrp["node"], cfrp["kind_before"], round(cfrp["hhi_before"])) == ("碳纤维复合材料部件", "丰链", 5145)
    # 11 builders, 2 of them already local firms there: 9 new firms
    assert (cfrp["new_firms"], cfrp["firms_after"], round(cfrp["hhi_after"])) == (9, 11, 1930)
    assert (cfrp["kind_after"], cfrp["change"]) == (None, "closed")
    # 热成型零部件 gains four new firms too, but their plants are small next to the two incumbents
    hot = after.filter(pl.col("node_id") == "auto.hotform").row(0, named=True)
    assert (hot["new_firms"], round(hot["hhi_before"]), round(hot["hhi_after"]), hot["change"]) == (4, 5624, 3937, "remains")
    assert chains.gaps_report(sample)["after_pipeline"]["counts"] == {"closed": 4, "changed": 6, "remains": 43, "new": 10}


def test_no_code_writes_an_hhi_threshold_of_its_own() -> None:
    """The threshold is data/chains.toml's: no line of code that speaks of HHI holds a threshold."""
    root = Path(__file__).resolve().parents[1]
    files = [*root.glob("portfolio/**/*.py"), *root.glob("portfolio/templates/*"), *root.glob("app_pages/*.py")]
    allowed = {"0", "1", "4", "5", "100", "10000", "10_000", "10,000"}  # the 0–10000 scale, n firms
    hits = [
        f"{path.relative_to(root)}:{number}: {line.strip()}"
        for path in files if path.is_file()
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if "hhi" in line.lower() and set(re.findall(r"(?<![\w.])\d[\d_,]*\d|(?<![\w.])\d", line)) - allowed
    ]
    assert hits == []
