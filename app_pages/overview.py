"""总览: the pipeline, the two investment targets, the forecast, the curve and tiers, and alerts."""

from typing import Any

import streamlit as st

from app_pages import ui

STATUS_COLORS = {"on_track": "green", "at_risk": "orange", "off_track": "red"}


def signed_yi(wan: Any) -> str:
    """A 万元 difference shown in 亿元 with its sign and the unit."""
    return f"{float(wan) / 10_000:+,.1f} {ui.t('unit.yi')}"


st.title(ui.t("ov.title"))
month = ui.month_picker("ov_month")
report: dict[str, Any] = ui.query("targets.check_report", as_of=month, limit=50)
by_status = ui.query("targets.rollup", as_of=month, by="status")
gaps = ui.query("chains.gaps")
open_gaps = gaps.filter("open")
st.caption(ui.t("ov.caption", year=report["year"], as_of=report["as_of"]))

# ---------------------------------------------------------------- pipeline
statuses = "、" if ui.lang() == "zh" else ", "
detail = statuses.join(f"{ui.enum(s)} {n}" for s, n in by_status.select("status", "projects").iter_rows())
top_tier = report["tiers"][0]
c1, c2, c3, c4 = st.columns(4)
c1.metric(ui.t("ov.projects"), f"{report['projects']:,}", border=True,
          help=ui.t("ov.projects_help", detail=detail))
c2.metric(ui.t("ov.total_investment"), ui.yi(by_status["total_investment_wan"].sum()), border=True)
c3.metric(ui.t("ov.plan_investment"), ui.yi(by_status["plan_wan"].sum()), border=True)
c4.metric(ui.t("ov.major"), f"{top_tier['count']:,}", border=True)

# ---------------------------------------------------------------- the two targets
for column, m in zip(st.columns(2), report["metrics"], strict=True):
    with column.container(border=True):
        head, badge = st.columns([4, 1], vertical_alignment="center")
        name = ui.t(f"metric.{m['metric']}")
        head.subheader(name)
        badge.badge(ui.t(f"status.{m['status']}"), color=STATUS_COLORS.get(m["status"], "gray"))
        st.caption(ui.t("ov.target_line", target=ui.yi(m["target_wan"]), growth=f"{m['growth_pct']:g}%"))
        a, b, c = st.columns(3)
        a.metric(ui.t("ov.coverage"), ui.yi(m["planned_wan"]),
                 delta=signed_yi(float(m["planned_wan"]) - float(m["target_wan"])),
                 delta_description=ui.t("ov.coverage_delta", pct=ui.pct(m["coverage"])),
                 help=ui.t("ov.coverage_help"))
        b.metric(ui.t("ov.ytd"), ui.yi(m["completed_wan"]),
                 delta=signed_yi(float(m["completed_wan"]) - float(m["expected_wan"])),
                 delta_description=ui.t("ov.ytd_delta"),
                 help=ui.t("ov.ytd_help", expected=ui.yi(m["expected_wan"]), share=ui.pct(m["seasonal_share"]),
                           ratio=ui.pct(m["ytd_ratio"]), linear=ui.pct(m["linear_ratio"])))
        c.metric(ui.t("ov.forecast"), ui.yi(m["forecast_wan"]),
                 delta=signed_yi(-float(m["forecast_gap_wan"])),
                 delta_description=ui.t("ov.forecast_delta"), help=ui.t("ov.forecast_help"))
        st.caption(ui.t("ov.forecast_range", low=ui.yi(m["forecast_low_wan"]), high=ui.yi(m["forecast_high_wan"]),
                        prob=ui.pct(m["probability_meet_target"], 0)))

# ---------------------------------------------------------------- alerts
st.subheader(ui.t("ov.alerts"))
lag_col, prob_col, gap_col = st.columns(3)
with lag_col.container(border=True):
    st.markdown(f"**{ui.t('ov.lagging', n=report['lagging_count'])}**")
    st.caption(ui.t("ov.lagging_caption", stalled=report["stalled_count"]))
    st.markdown("\n".join(
        "- " + ui.t("ov.lagging_item", name=r["name"], unit=r["unit_name"], perf=ui.pct(r["performance"]),
                    behind=ui.yi(r["behind_wan"]))
        for r in report["lagging_projects"][:5]
    ) or ui.t("ov.none"))
    st.page_link("app_pages/targets.py", label=ui.t("ov.more_targets"), icon=":material/arrow_forward:")
with prob_col.container(border=True):
    st.markdown(f"**{ui.t('ov.problems', n=report['open_problem_count'])}**")
    st.caption(ui.t("ov.problems_caption"))
    longest = sorted((r for r in report["lagging_projects"] if r["open_problems"]),
                     key=lambda r: -r["open_problem_months"])[:5]
    st.markdown("\n".join(
        "- " + ui.t("ov.problem_item", name=r["name"], problem=r["open_problems"], months=r["open_problem_months"],
                    level=ui.enum(r["open_problem_level"]))
        for r in longest
    ) or ui.t("ov.none"))
with gap_col.container(border=True):
    st.markdown(f"**{ui.t('ov.gaps', n=open_gaps.height)}**")
    st.caption(ui.t("ov.gaps_caption", total=gaps.height, n=open_gaps.height))
    en = ui.lang() == "en"
    st.markdown("\n".join(
        "- " + ui.t("ov.gap_item", node=r["node_en"] if en else r["node"], chain=r["chain_en"] if en else r["chain"],
                    kind=ui.enum(r["kind"]), score=f"{r['score']:.2f}")
        for r in open_gaps.sort("score", descending=True).head(5).iter_rows(named=True)
    ) or ui.t("ov.none"))
    st.page_link("app_pages/chains.py", label=ui.t("ov.more_chains"), icon=":material/arrow_forward:")
