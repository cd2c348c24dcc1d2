"""产业链: one chain's map, its ranked 补链/增链/丰链 gaps, role disagreements, the after-pipeline view."""

import polars as pl
import streamlit as st

from app_pages import ui
from portfolio import chains, charts, config

EN = ui.lang() == "en"
SEP = "; " if EN else "；"
LIST_SEP = ", " if EN else "、"
CHANGES = ("closed", "changed", "remains", "new")


def enum(column: str) -> pl.Expr:
    """A stored enumeration column in the current language."""
    values = (*config.CHAIN_ROLES, *config.STAGES, *config.STATUSES)
    return pl.col(column).replace_strict({v: ui.enum(v) for v in values}, default=pl.col(column),
                                         return_dtype=pl.String)


def zh_en(column: str) -> pl.Expr:
    """``column`` or, in English, ``column_en``."""
    return pl.col(f"{column}_en" if EN else column)


def gap_view(frame: pl.DataFrame, *, with_chain: bool) -> pl.DataFrame:
    """The gap rows as shown and downloaded: the segment, its class and whether it waits for
    investment first; the figures after; the reasons last (read one gap's in full below the table)."""
    return frame.select(
        *([zh_en("chain").alias(ui.t("tg.col.chain"))] if with_chain else []),
        zh_en("node").alias(ui.t("ch.col.segment")),
        enum("kind").alias(ui.t("ch.col.kind")),
        pl.col("open").alias(ui.t("ch.col.open")),
        pl.col("score").round(3).alias(ui.t("ch.col.score")),
        pl.col("rank").alias(ui.t("ch.col.rank")),
        pl.col("firms").alias(ui.t("ch.col.firms")),
        (pl.col("output_wan").cast(pl.Float64) / 10_000).round(2).alias(ui.t("ch.col.output_yi")),
        pl.col("pipeline_projects").alias(ui.t("ch.col.pipeline")),
        enum("stage").alias(ui.t("ch.col.stage")),
        pl.col("density").round(2).alias(ui.t("ch.col.density")),
        pl.col("addressed_by").list.join(LIST_SEP).alias(ui.t("ch.col.addressed_by")),
        pl.col("reasons_en" if EN else "reasons").list.join(SEP).alias(ui.t("ch.col.reasons")),
    )


st.title(ui.t("ch.title"))
pick_chain, pick_year = st.columns([4, 1], vertical_alignment="bottom")
# the pipeline of the plan year picked (shared with the other pages); a closed year as it was closed
year = ui.year_picker("ch_year", into=pick_year)
# one classification of every segment (one pass over the year's projects), cached per data revision;
# every table, card and the map below is a view of it, cached too
analysis = ui.cached(chains.analysis, year=year)
OF = ("ch_analysis", year)
summary = ui.derived(chains.summary_of, analysis, of=OF)
rules = analysis.rules.to_table()
classes = analysis.classes
names = dict(classes.select("chain_id", "chain_en" if EN else "chain").unique(maintain_order=True).iter_rows())
segment_names = dict(classes.select("node_id", "name_en" if EN else "name").iter_rows())
chain_id = pick_chain.selectbox(ui.t("ch.pick"), list(names), format_func=names.get, key="ch_chain")
if ui.year_closed(year):
    st.caption(f":material/lock: {ui.t('ui.closed_short')}")

# ---------------------------------------------------------------- this chain at a glance
row = summary.filter(pl.col("chain_id") == chain_id).row(0, named=True)
cards = st.columns(6)
cards[0].metric(ui.t("ch.segments"), row["segments"], border=True)
cards[1].metric(ui.t("ch.present"), row["present"], border=True)
for card, kind in zip(cards[2:5], config.CHAIN_ROLES, strict=True):
    card.metric(ui.enum(kind), row[kind], border=True)
cards[5].metric(ui.t("ch.open"), row["open"], border=True, help=ui.t("ch.open_help"))

# ---------------------------------------------------------------- the map
st.subheader(ui.t("ch.map"))
# built at its natural size (the width it was built for is the plot's); the page scales it to the
# column (ui.FIT_CSS), so the whole chain is in view on any screen; 查看大图 shows it full size
map_spec = ui.chart_spec(lambda: charts.chain_map(*chains.map_frames_of(analysis, chain=chain_id), lang=ui.lang()),
                         key="ch_map", deps=(chain_id, year), natural=True)
ui.draw(map_spec, key="ch_map")
st.caption(ui.t("ch.map_caption", **rules) + " " + ui.t("ch.map_scroll"))


@st.dialog(ui.t("ch.map_full"), width="large")
def full_map() -> None:
    """The map at its full size, scrolling inside the dialog."""
    with st.container(key="ch_map_full"):
        ui.draw(map_spec, key="ch_map_dialog")


def map_svg() -> bytes:
    return charts.to_svg(charts.chain_map(*chains.map_frames_of(analysis, chain=chain_id), lang=ui.lang())).encode()


m1, m2 = st.columns(2)
if m1.button(ui.t("ch.map_full"), key="ch_map_full_open", icon=":material/open_in_full:"):
    full_map()
m2.download_button(ui.t("ch.map_svg"), data=map_svg, file_name=ui.export_name(ui.t("ch.map"), names[chain_id], ext="svg"),
                   mime="image/svg+xml", key="ch_map_svg", icon=":material/download:", on_click="ignore")

# ---------------------------------------------------------------- ranked gaps
st.subheader(ui.t("ch.gaps"))
gaps = ui.derived(chains.gaps_of, analysis, of=OF, chain=chain_id)
if gaps.is_empty():
    st.info(ui.t("ch.gaps_none"))
else:
    picked = st.dataframe(gap_view(gaps, with_chain=False), hide_index=True, placeholder="—", key="ch_gaps_table",
                          on_select="rerun", selection_mode="single-row")
    # the reasons in full, one per line, for the gap picked (the first one until a row is picked)
    rows = picked.selection.rows if picked is not None else []
    gap = gaps.row(rows[0] if rows else 0, named=True)
    with st.container(border=True):
        st.markdown(f"**{ui.plain(gap['node_en' if EN else 'node'])}** · {ui.enum(gap['kind'])} · "
                    f"{ui.t('ch.col.score')} {gap['score']:.3f}")
        st.markdown("\n".join(f"- {ui.plain(r)}" for r in gap["reasons_en" if EN else "reasons"]))
        st.caption(ui.t("ch.reasons_pick"))
    gaps_what = ui.t("ch.export.gaps", chain=names[chain_id])
    ui.download_xlsx({names[chain_id]: gap_view(gaps, with_chain=False)}, ui.export_name(gaps_what),
                     key="ch_gaps_xlsx", label=ui.t("ch.download_gaps"), title=gaps_what)

# ---------------------------------------------------------------- feasibility against value
st.subheader(ui.t("ch.scatter"))
o1, o2 = st.columns(2)
every_chain = o1.toggle(ui.t("ch.scatter_all"), key="ch_scatter_all")
addressed = o2.toggle(ui.t("ch.scatter_addressed"), key="ch_scatter_addressed")
points = ui.derived(chains.gaps_of, analysis, of=OF) if every_chain else gaps
# fewer y ticks: the chart labels them with one decimal, so 0.05 steps would read 0.6, 0.6, 0.7
ui.chart(lambda: charts.gap_scatter(points, lang=ui.lang(), open_only=not addressed, width=560, height=380)
         .configure_axisY(tickCount=6), key="ch_scatter", deps=(chain_id, year, every_chain, addressed), natural=True)

# ---------------------------------------------------------------- declared roles that disagree
st.subheader(ui.t("ch.disagree"))
disagreements = ui.derived(chains.disagreements_of, analysis, of=OF, chain=chain_id)
if disagreements.is_empty():
    st.success(ui.t("ch.disagree_none"))
else:
    ui.table(
        disagreements,
        view=lambda frame: frame.select(
            pl.col("project_id").alias(ui.t("col.project_id")),
            pl.col("project").alias(ui.t("tg.col.project")),
            enum("status").alias(ui.t("ch.col.project_status")),
            # role_disagreements carries no node_en: name the segment from the classes
            pl.col("node_id").replace_strict(segment_names, default=pl.col("node")).alias(ui.t("ch.col.segment")),
            enum("declared_role").alias(ui.t("ch.col.declared")),
            enum("segment_kind").fill_null(ui.t("ch.no_gap")).alias(ui.t("ch.col.segment_kind")),
            zh_en("reason").alias(ui.t("ch.col.reason")),
        ),
        hide_index=True, placeholder="—", key="ch_disagree_table",
    )

# ---------------------------------------------------------------- after the pipeline
st.subheader(ui.t("ch.after"))
# the assumption as the library makes it: statuses and settings from the same rules
st.caption(ui.t("ch.after_caption", statuses=LIST_SEP.join(ui.enum(s) for s in config.PIPELINE_STATUSES),
                **rules))
after = ui.derived(chains.after_of, analysis, of=OF, chain=chain_id)
counts = dict(after.group_by("change").len().iter_rows()) if after.height else {}
for card, change in zip(st.columns(4), CHANGES, strict=True):
    card.metric(ui.t(f"ch.change.{change}"), counts.get(change, 0), border=True)
if not after.is_empty():
    st.dataframe(
        after.select(
            zh_en("node").alias(ui.t("ch.col.segment")),
            enum("kind_before").fill_null(ui.t("ch.no_gap")).alias(ui.t("ch.col.kind_before")),
            enum("kind_after").fill_null(ui.t("ch.no_gap")).alias(ui.t("ch.col.kind_after")),
            pl.col("change").replace_strict({c: ui.t(f"ch.change.{c}") for c in CHANGES}).alias(ui.t("ch.col.change")),
            pl.col("firms_before").alias(ui.t("ch.col.firms_before")),
            pl.col("firms_after").alias(ui.t("ch.col.firms_after")),
            pl.col("new_firms").alias(ui.t("ch.col.new_firms")),
            pl.col("hhi_before").round(0).alias(ui.t("ch.col.hhi_before")),
            pl.col("hhi_after").round(0).alias(ui.t("ch.col.hhi_after")),
            pl.col("addressed_by").list.len().alias(ui.t("ch.col.pipeline")),
        ),
        hide_index=True, placeholder="—", key="ch_after_table",
    )

# ---------------------------------------------------------------- every chain
st.subheader(ui.t("ch.summary"))
summary_view = summary.select(
    pl.col("chain_id").replace_strict(names).alias(ui.t("tg.col.chain")),
    pl.col("segments").alias(ui.t("ch.col.segments")),
    pl.col("present").alias(ui.t("ch.col.present")),
    *[pl.col(k).alias(ui.enum(k)) for k in config.CHAIN_ROLES],
    pl.col("open").alias(ui.t("ch.col.open_gaps")),
)
st.dataframe(summary_view, hide_index=True, placeholder="—", key="ch_summary_table")
ui.download_xlsx(lambda: {"summary": summary_view, "gaps": gap_view(ui.derived(chains.gaps_of, analysis, of=OF),
                                                                      with_chain=True)},
                 ui.export_name(ui.t("ch.export.all")), key="ch_all_xlsx", label=ui.t("ch.download_all"),
                 title=ui.t("ch.export.all"))
