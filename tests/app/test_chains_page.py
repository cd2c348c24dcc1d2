"""产业链 page: the chosen chain's figures and gaps as the library ranks them, both languages."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest
from streamlit.testing.v1 import AppTest

from portfolio import chains, i18n, store
from tests.app.conftest import no_exception

PAGE = "app_pages/chains.py"


def table(at: AppTest, header_key: str, lang: str = "zh") -> pl.DataFrame:
    """The first table on the page with a column headed by the catalogue key ``header_key``."""
    header = i18n.t(header_key, lang)
    for frame in at.dataframe:
        if header in frame.value.columns:
            return pl.from_pandas(frame.value)
    raise AssertionError(f"no table with a column {header!r}")


def library_gaps(db: Path, chain: str) -> pl.DataFrame:
    with store.connect(db, read_only=True) as con:
        return chains.gaps(con, chain=chain)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_chains_page_shows_the_first_chain_as_the_library_classifies_it(
        open_page: Callable[..., AppTest], app_db: Path, lang: str) -> None:
    at = open_page(PAGE, lang=lang)
    no_exception(at)
    with store.connect(app_db, read_only=True) as con:
        summary = {r["chain_id"]: r for r in chains.gaps_report(con)["summary"]["by_chain"]}
    chosen = at.selectbox(key="ch_chain").value
    cards = {m.label: m.value for m in at.metric}
    assert cards[i18n.t("ch.segments", lang)] == str(summary[chosen]["segments"])
    assert cards[i18n.t("ch.open", lang)] == str(summary[chosen]["open"])
    gaps = library_gaps(app_db, chosen)
    shown = table(at, "ch.col.segment", lang)
    assert shown[i18n.t("ch.col.segment", lang)].to_list() == gaps["node" if lang == "zh" else "node_en"].to_list()
    assert table(at, "ch.col.segments", lang).height == len(summary)


def test_chains_page_chain_select_switches_the_gap_table_to_that_chain(
        open_page: Callable[..., AppTest], app_db: Path) -> None:
    at = open_page(PAGE)
    before = table(at, "ch.col.segment")[i18n.t("ch.col.segment", "zh")].to_list()
    at.selectbox(key="ch_chain").set_value("rail").run()
    no_exception(at)
    rail = library_gaps(app_db, "rail")
    shown = table(at, "ch.col.segment")
    assert shown[i18n.t("ch.col.segment", "zh")].to_list() == rail["node"].to_list()
    assert shown[i18n.t("ch.col.score", "zh")].to_list() == rail["score"].round(3).to_list()
    assert shown[i18n.t("ch.col.segment", "zh")].to_list() != before


def test_chains_page_speaks_english_after_the_switch(open_page: Callable[..., AppTest], app_db: Path) -> None:
    at = open_page(PAGE)
    assert at.title[0].value == i18n.t("ch.title", "zh")
    at.segmented_control(key="ui_lang_switch").set_value("en").run()
    no_exception(at)
    assert at.title[0].value == "Industrial chains"
    chosen = at.selectbox(key="ch_chain").value
    reasons = table(at, "ch.col.reasons", "en")[i18n.t("ch.col.reasons", "en")].to_list()
    assert reasons == ["; ".join(r) for r in library_gaps(app_db, chosen)["reasons_en"].to_list()]


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_chains_page_after_the_pipeline_states_the_assumption_and_shows_the_library_rows(
        open_page: Callable[..., AppTest], app_db: Path, lang: str) -> None:
    at = open_page(PAGE, lang=lang)
    at.selectbox(key="ch_chain").set_value("auto").run()
    no_exception(at)
    captions = " ".join(c.value for c in at.caption)
    with store.connect(app_db, read_only=True) as con:
        rules = chains.chain_rules(con)
        after = chains.after_pipeline(con, chain="auto")
    statuses = "谋划、前期、在建" if lang == "zh" else "Planned, Preparatory, Under construction"
    ratio = f"× {rules.new_firm_output_ratio:g}" if lang == "zh" else f"{rules.new_firm_output_ratio:g} ×"
    for said in (statuses, ratio, f"{rules.hhi_threshold:,}", "data/chains.toml [rules]"):
        assert said in captions
    shown = table(at, "ch.col.hhi_after", lang)
    assert shown[i18n.t("ch.col.new_firms", lang)].to_list() == after["new_firms"].to_list()
    assert shown[i18n.t("ch.col.hhi_after", lang)].to_list() == after["hhi_after"].round(0).to_list()
    cfrp = after.filter(pl.col("node_id") == "auto.cfrp").row(0, named=True)
    assert (cfrp["kind_before"], cfrp["kind_after"], cfrp["change"]) == ("丰链", None, "closed")
