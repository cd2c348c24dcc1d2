"""总览: the pipeline, the two investment targets, the forecast, the curve and tiers, and alerts."""

from collections.abc import Callable
from typing import Any

import polars as pl
import streamlit as st

from app_pages import ui
from portfolio import chains, charts, config, fmt, monthly, targets, years

STATUS_COLORS = {"on_track": "green", "at_risk": "orange", "off_track": "red"}
#: the forecast band's quantiles, as the check that computed it used them
band = ui.cached(targets.settings).forecast


def chart(build: Callable[[], Any], *, key: str, deps: tuple[Any, ...], into: Any = st) -> None:
    """An Altair chart as wide as its column (any screen), built once per revision."""
    ui.chart(build, key=key, deps=deps, into=into, natural=True, fit=True)


def yi(wan: Any, sign: bool = False) -> str:
    """A 万元 amount as a number of 亿元 (the unit is in the label): :func:`portfolio.fmt.yi`."""
    text = fmt.yi(wan)
    return f"+{text}" if sign and wan is not None and float(wan) >= 0 else text


def growth(pct: Any) -> str:
    """A growth in per cent with its sign: +4.8% (:func:`portfolio.fmt.growth`)."""
    return fmt.growth(pct)


def official_card(into: Any, m: dict[str, Any]) -> None:
    """The statistics bureau's 本年累计 and its 同比; says so where the figures are missing (never 0)."""
    if m.get("official_completed_wan") is None:
        into.metric(ui.t("ov.official"), ui.t("ov.official_none"), border=False,
                    help=ui.t("ov.official_none_help", month=report["as_of"]))
        return
    yoy = m.get("yoy_pct")
    prev = m.get("completed_prev_wan")
    into.metric(ui.t("ov.official"), yi(m["official_completed_wan"]),
                delta=growth(yoy) if yoy is not None else None,
                delta_description=ui.t("ov.official_yoy") if yoy is not None
                else ui.t("ov.official_no_prev"),
                help=ui.t("ov.official_help", prev="—" if prev is None else ui.yi(prev),
                          diff="—" if m.get("official_diff_wan") is None else ui.yi(m["official_diff_wan"])))


def library_yoy_card(into: Any, m: dict[str, Any]) -> None:
    """The pipeline's growth on the same months last year (the same projects)."""
    yoy = m.get("library_yoy_pct")
    if yoy is None or not has_progress:
        into.metric(ui.t("ov.library_yoy"), ui.t("ov.library_yoy_none"),
                    help=ui.t("ov.library_yoy_none_help", prev=year - 1) if has_progress
                    else ui.t("ui.no_progress_year", year=year))
        return
    into.metric(ui.t("ov.library_yoy"), growth(yoy),
                delta_description=ui.t("ov.library_yoy_delta", prev=yi(m["library_prev_wan"])),
                help=ui.t("ov.library_yoy_help"))


st.title(ui.t("ov.title"))
pick, note = st.columns([2, 3], vertical_alignment="bottom")
with pick:
    month = ui.month_picker("ov_month")
year = month.year
has_progress = ui.year_has_progress(year)
# the gap analysis and the S-curve's months on a thread each, beside the payload (a first visit)
gaps_of = ui.beside(chains.gaps, year=year)
shown_metric = st.session_state.get("ov_metric") or targets.METRICS[0]  # the picker below keeps it
monthly_of = ui.beside(monthly.targets_monthly, as_of=month, metric=shown_metric, year=year)
report = ui.payload(month).report  # the one project frame, shared with the other pages
by_status = ui.rollup(month, "status")
gaps = gaps_of()
open_gaps = gaps.filter("open")
note.caption(ui.t("ov.caption", year=report["year"], as_of=report["as_of"]))
notice = st.empty()  # always there, so the elements below keep their places when the year changes
pending = ui.cached(years.year_table).filter(pl.col("year") == year)["without_plan"].sum()
if not has_progress or pending:
    notice.info(" ".join([*([ui.t("ui.no_progress_year", year=year)] if not has_progress else []),
                          *([ui.t("ov.plans_pending", n=f"{pending:,}", year=year)] if pending else [])]),
                icon=":material/event_busy:")

# ---------------------------------------------------------------- pipeline
statuses = "、" if ui.lang() == "zh" else ", "
detail = statuses.join(f"{ui.enum(s)} {n}" for s, n in by_status.select("status", "projects").iter_rows())
c1, c2, c3, c4 = st.columns(4)
c1.metric(ui.t("ov.projects"), f"{report['projects']:,}", border=True,
          help=ui.t("ov.projects_help", detail=detail))
c2.metric(ui.t("ov.total_investment"), yi(by_status["total_investment_wan"].sum()), border=True)
c3.metric(ui.t("ov.plan_investment"), yi(by_status["plan_wan"].sum()), border=True)
c4.metric(ui.t("ov.major"), f"{report['tiers'][0]['count']:,}", border=True)

# ---------------------------------------------------------------- the two targets
for m in report["metrics"]:
    with st.container(border=True):
        head, badge = st.columns([5, 1], vertical_alignment="center")
        head.markdown(f"#### {ui.t('metric.' + m['metric'])}")
        head.caption(ui.t("ov.target_line", target=yi(m["target_wan"]), growth=f"{m['growth_pct']:g}%"))
        badge.badge(ui.t(f"status.{m['status']}"), color=STATUS_COLORS.get(m["status"], "gray"))
        # why the badge says what it says (the forecast rule comes first), in the current language
        reason = m["status_reason_en"] if ui.lang() == "en" else m["status_reason"]
        if reason:
            head.caption(ui.t("ov.status_reason", status=ui.t(f"status.{m['status']}"), reason=ui.plain(reason)))
        # this year so far: the pipeline's figure, the bureau's beside it, growth on last year
        b, e, f = st.columns(3)
        b.metric(ui.t("ov.ytd"), yi(m["completed_wan"]),
                 delta=yi(float(m["completed_wan"]) - float(m["expected_wan"]), sign=True),
                 delta_description=ui.t("ov.ytd_delta", expected=yi(m["expected_wan"])),
                 help=ui.t("ov.ytd_help", expected=ui.yi(m["expected_wan"]), share=ui.pct(m["seasonal_share"]),
                           ratio=ui.pct(m["ytd_ratio"]), linear=ui.pct(m["linear_ratio"])))
        official_card(e, m)
        library_yoy_card(f, m)
        # the whole year: plan coverage, the forecast and the chance to meet the target
        a, c, d = st.columns(3)
        a.metric(ui.t("ov.coverage"), yi(m["planned_wan"]),
                 delta=yi(float(m["planned_wan"]) - float(m["target_wan"]), sign=True),
                 delta_description=ui.t("ov.coverage_delta", pct=ui.pct(m["coverage"])),
                 help=ui.t("ov.coverage_help"))
        c.metric(ui.t("ov.forecast"), yi(m["forecast_wan"]),
                 delta=yi(-float(m["forecast_gap_wan"]), sign=True),
                 delta_description=ui.t("ov.forecast_delta"),
                 help=ui.t("ov.forecast_help", low=f"{band['low_quantile']:.0%}", high=f"{band['high_quantile']:.0%}"))
        d.metric(ui.t("ov.probability"), ui.pct(m["probability_meet_target"]),
                 delta_description=ui.t("ov.forecast_range", low=yi(m["forecast_low_wan"]),
                                        high=yi(m["forecast_high_wan"])))

# ---------------------------------------------------------------- alerts
st.subheader(ui.t("ov.alerts"))
lag_col, prob_col, gap_col = st.columns(3)
with lag_col.container(border=True):
    st.markdown(f"**{ui.t('ov.lagging', n=report['lagging_count'])}**")
    st.caption(ui.t("ov.lagging_caption", stalled=report["stalled_count"]))
    st.markdown("\n".join(
        "- " + ui.t("ov.lagging_item", name=ui.plain(r["name"]), unit=ui.plain(r["unit_name"]),
                    perf=ui.pct(r["performance"]),
                    behind=yi(r["behind_wan"]))
        for r in report["lagging_projects"][:5]
    ) or ui.t("ov.none"))
    st.page_link("app_pages/targets.py", label=ui.t("ov.more_targets"), icon=":material/arrow_forward:")
with prob_col.container(border=True):
    st.markdown(f"**{ui.t('ov.problems', n=report['open_problem_count'])}**")
    st.caption(ui.t("ov.problems_caption", n=len(report["lagging_projects"])))
    longest = sorted((r for r in report["lagging_projects"] if r["open_problems"]),
                     key=lambda r: -r["open_problem_months"])[:5]
    st.markdown("\n".join(
        "- " + ui.t("ov.problem_item", name=ui.plain(r["name"]), problem=ui.plain(r["open_problems"]),
                    months=r["open_problem_months"],
                    level=ui.enum(r["open_problem_level"]))
        for r in longest
    ) or ui.t("ov.none"))
with gap_col.container(border=True):
    st.markdown(f"**{ui.t('ov.gaps', n=open_gaps.height)}**")
    st.caption(ui.t("ov.gaps_caption", total=gaps.height, n=open_gaps.height))
    en = ui.lang() == "en"
    st.markdown("\n".join(
        "- " + ui.t("ov.gap_item", node=ui.plain(r["node_en"] if en else r["node"]),
                    chain=ui.plain(r["chain_en"] if en else r["chain"]),
                    kind=ui.enum(r["kind"]), score=f"{r['score']:.2f}")
        for r in open_gaps.sort("score", descending=True).head(5).iter_rows(named=True)
    ) or ui.t("ov.none"))
    st.page_link("app_pages/chains.py", label=ui.t("ov.more_chains"), icon=":material/arrow_forward:")

# ---------------------------------------------------------------- one metric: the S-curve, by chain and by unit
st.subheader(ui.t("ov.curve"))
metric = st.segmented_control(ui.t("tg.metric"), list(targets.METRICS), format_func=lambda m: ui.t(f"metric.{m}"),
                              default=targets.METRICS[0], required=True, key="ov_metric")
chart(lambda: charts.s_curve(monthly_of() if metric == shown_metric
                             else ui.cached(monthly.targets_monthly, as_of=month, metric=metric, year=year),
                            lang=ui.lang(), width=600, height=260), key="ov_s_curve", deps=(month, metric))


def by_chain() -> pl.DataFrame:
    """The payload's chain checks, chains named in both languages."""
    nodes_def, _edges = ui.cached(chains.load_definition)
    chain_en = (dict(nodes_def.select("chain", "chain_en").unique().iter_rows())
                | {targets.NO_CHAIN: ui.t("tg.no_chain")})
    return pl.DataFrame(report["by_chain"]).with_columns(pl.col("chain_name").replace(chain_en).alias("chain_name_en"))


# only the open tab's chart is built (a rerun when the other is picked)
tab_chain, tab_unit = st.tabs([ui.t("ov.by_chain"), ui.t("ov.by_unit")], key=f"ov_group_tab_{ui.lang()}",
                              on_change="rerun")
if tab_chain.open:
    chart(lambda: charts.group_bars(by_chain(), group="chain", lang=ui.lang(), metric=metric, width=520),
          key="ov_by_chain", deps=(month, metric), into=tab_chain)
if tab_unit.open:
    chart(lambda: charts.group_bars(pl.DataFrame(report["by_unit"]), group="unit", lang=ui.lang(), metric=metric,
                                    width=520), key="ov_by_unit", deps=(month, metric), into=tab_unit)

# ---------------------------------------------------------------- tiers and the pipeline by status
funnel_col, status_col = st.columns(2)
chart(lambda: charts.tier_funnel(pl.DataFrame(report["tiers"]), lang=ui.lang(), width=300), key="ov_funnel",
      deps=(month,), into=funnel_col)
status_col.markdown(f"**{ui.t('ov.by_status')}**")
status_col.dataframe(
    by_status.sort(pl.col("status").replace_strict({v: i for i, v in enumerate(config.STATUSES)}, default=99))
    .select(
        pl.col("status").replace_strict({v: ui.enum(v) for v in config.STATUSES}, default=pl.col("status"))
        .alias(ui.t("tg.col.status")),
        pl.col("projects").alias(ui.t("tg.col.projects")),
        (pl.col("plan_wan").cast(pl.Float64) / 10_000).round(1).alias(ui.t("tg.col.plan_yi")),
    ),
    hide_index=True, placeholder="—", key="ov_status_table",
)
