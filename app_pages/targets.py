"""目标进度: target checks (city, per unit, per chain), the forecast and its drivers, lagging projects."""

from collections.abc import Callable
from typing import Any

import polars as pl
import streamlit as st

from app_pages import ui
from portfolio import chains, charts, config, monthly, targets
from portfolio import units as unit_list

METRICS = list(targets.METRICS)
BY = ["city", "unit", "chain"]


def chart(build: Callable[[], Any], *, key: str, deps: tuple[Any, ...]) -> None:
    """An Altair chart as wide as its column (any screen), built once per revision."""
    ui.chart(build, key=key, deps=deps, natural=True, fit=True)


def group_checks(records: list[dict[str, Any]]) -> pl.DataFrame:
    """The payload's unit or chain checks as a frame (a column without any value is numeric)."""
    frame = pl.DataFrame(records, infer_schema_length=None)
    return frame.with_columns(pl.col(pl.Null).cast(pl.Float64))


def yi(column: str) -> pl.Expr:
    """A 万元 column in 亿元, two decimals."""
    return (pl.col(column).cast(pl.Float64) / 10_000).round(2)


def pct(column: str) -> pl.Expr:
    """A ratio column in per cent, one decimal."""
    return (pl.col(column) * 100).round(1)


def labelled(column: str, labels: dict[str, str]) -> pl.Expr:
    """A code column shown with its label in the current language."""
    return pl.col(column).replace_strict(labels, default=pl.col(column), return_dtype=pl.String)


def chain_label() -> pl.Expr:
    """``chain_name`` in the current language (projects without a chain say so)."""
    names: dict[str, str] = {}
    if ui.lang() == "en":
        nodes, _edges = ui.cached(chains.load_definition)
        names = dict(nodes.select("chain", "chain_en").unique().iter_rows())
    return labelled("chain_name", {**names, targets.NO_CHAIN: ui.t("tg.no_chain")})


def chain_order() -> pl.DataFrame:
    """chain_id and its position in chains.toml (``_order``)."""
    nodes, _edges = ui.cached(chains.load_definition)
    return nodes.select("chain_id").unique(maintain_order=True).with_row_index("_order")


def coverage() -> pl.Expr:
    """Plan coverage in per cent, as text; a target allocated by plan share says so instead.

    An allocated unit or chain target is the city target times the group's share of the plan,
    so its coverage equals the city's by construction and would read as a finding.
    """
    return (pl.when(pl.col("target_basis") == targets.ALLOCATED).then(pl.lit(ui.t("tg.allocated")))
            .otherwise(pct("coverage").cast(pl.String)))


def official_columns(frame: pl.DataFrame) -> list[pl.Expr]:
    """The statistics bureau's 本年累计, its 同比 and the difference (the city checks carry them)."""
    if "official_completed_wan" not in frame.columns:
        return []
    return [
        yi("official_completed_wan").alias(ui.t("tg.col.official_yi")),
        pl.col("yoy_pct").round(1).alias(ui.t("tg.col.official_yoy_pct")),
        yi("official_diff_wan").alias(ui.t("tg.col.official_diff_yi")),
    ]


STATUS = {s: ui.t(f"status.{s}") for s in ("on_track", "at_risk", "off_track")}
BASIS = {"全市目标": ui.t("tg.basis.city"), targets.ALLOCATED: ui.t("tg.basis.allocated"),
         targets.ASSIGNED: ui.t("tg.basis.assigned")}
TIERS = dict(ui.cached(targets.settings).tiers.select("tier", "tier_en").iter_rows()) if ui.lang() == "en" else {}
FLAGS = {f: ui.t(f"tg.flag.{f}") for f in ("red", "amber", "stalled")}

st.title(ui.t("tg.title"))
c1, c2 = st.columns([2, 3], vertical_alignment="bottom")
with c1:
    month = ui.month_picker("tg_month")
year = month.year
metric = c2.segmented_control(ui.t("tg.metric"), METRICS, format_func=lambda m: ui.t(f"metric.{m}"),
                              default=METRICS[0], required=True, key="tg_metric")

# ---------------------------------------------------------------- target checks
st.header(ui.t("tg.checks"))
by = st.segmented_control(ui.t("tg.by"), BY, format_func=lambda b: ui.t(f"tg.by.{b}"), default="city",
                          required=True, key="tg_by")
# the S-curve's months on a thread of their own, beside the payload (a first visit)
monthly_of = ui.beside(monthly.targets_monthly, as_of=month, metric=metric, year=year) if by == "city" else None
payload = ui.payload(month)  # the one project frame, shared with the other pages
# the city checks with the statistics bureau's figures beside them; units and chains as the payload has them
checks = payload.checks if by == "city" else group_checks(payload.report[f"by_{by}"])
if by == "city":
    name = pl.col("metric").replace_strict({m: ui.t(f"metric.{m}") for m in METRICS}).alias(ui.t("tg.col.metric"))
else:
    checks = checks.filter(pl.col("metric") == metric)
    # units in the order of units.toml, chains in the order of chains.toml
    checks = (unit_list.in_unit_order(checks, ui.units()) if by == "unit"
              else checks.join(chain_order(), on="chain_id", how="left").sort("_order", nulls_last=True,
                                                                            maintain_order=True))
    name = (pl.col("unit_name") if by == "unit" else chain_label()).alias(ui.t(f"tg.col.{by}"))
allocated = pl.col("target_basis") == targets.ALLOCATED
view = checks.select(
    name,
    pl.col("projects").alias(ui.t("tg.col.projects")),
    yi("target_wan").alias(ui.t("tg.col.target_yi")),
    yi("planned_wan").alias(ui.t("tg.col.plan_yi")),
    coverage().alias(ui.t("tg.col.coverage_pct")),
    # the workbook keeps coverage a number (blank where allocated) and says the basis beside it
    pl.when(~allocated).then(pct("coverage")).alias("_coverage"),
    pl.when(allocated).then(pl.lit(ui.t("tg.allocated"))).otherwise(pl.lit(ui.t("tg.basis.assigned")))
    .alias("_basis"),
    yi("completed_wan").alias(ui.t("tg.col.completed_yi")),
    # the same months last year (the same projects) and the growth on them; blank without last year's progress
    pl.when(pl.col("library_yoy_pct").is_not_null()).then(yi("library_prev_wan")).alias(ui.t("tg.col.prev_yi")),
    pl.col("library_yoy_pct").round(1).alias(ui.t("tg.col.yoy_pct")),
    *official_columns(checks),
    yi("expected_wan").alias(ui.t("tg.col.expected_yi")),
    pct("ytd_ratio").alias(ui.t("tg.col.ytd_pct")),
    pct("linear_ratio").alias(ui.t("tg.col.linear_pct")),
    yi("forecast_wan").alias(ui.t("tg.col.forecast_yi")),
    yi("forecast_low_wan").alias(ui.t("tg.col.low_yi")),
    yi("forecast_high_wan").alias(ui.t("tg.col.high_yi")),
    pct("probability_meet_target").alias(ui.t("tg.col.probability_pct")),
    labelled("status", STATUS).alias(ui.t("tg.col.status")),
    pl.col("status_reason_en" if ui.lang() == "en" else "status_reason").alias(ui.t("tg.col.status_reason")),
)
workbook = view.drop(ui.t("tg.col.coverage_pct")).rename(
    {"_coverage": ui.t("tg.col.coverage_pct"), "_basis": ui.t("tg.col.target_basis")})
view = view.drop("_coverage", "_basis")
basis = "；".join(BASIS.get(b, b) for b in checks["target_basis"].unique(maintain_order=True).to_list())
st.caption(ui.t("tg.basis", basis=basis))
if monthly_of is not None:
    chart(lambda: charts.s_curve(monthly_of(),
                                 lang=ui.lang(), width=600, height=260), key="tg_s_curve", deps=(month, metric))
    # two metrics: read down a column rather than across a wide row; each figure written the one way
    # (portfolio/fmt.py: 亿元 and per cent with one decimal and thousands separators; two rows only)
    def written(header: str, value: object) -> str | None:
        if value is None or isinstance(value, str):
            return value
        if isinstance(value, float):
            return f"{value:,.1f}"
        return f"{value:,}" if isinstance(value, int) else str(value)

    view = pl.DataFrame({c: [written(c, v) for v in view[c].to_list()] for c in view.columns},
                        schema={c: pl.String for c in view.columns}).transpose(
        include_header=True, header_name=ui.t("tg.col.item"), column_names=view.columns[0])
    st.dataframe(view, hide_index=True, placeholder="—", height="content", key="tg_checks_table")
else:
    named = checks.with_columns(chain_label().alias("chain_name_en")) if by == "chain" else checks
    chart(lambda: charts.group_bars(named, group=by, lang=ui.lang(), metric=metric, width=520), key="tg_group_bars",
          deps=(month, metric, by))
    st.dataframe(view, hide_index=True, placeholder="—", key="tg_checks_table")
first = checks.row(0, named=True)
st.caption(ui.t("tg.rules", share=ui.pct(first["seasonal_share"]), linear=ui.pct(first["linear_share"])))
if by == "city":
    for r in checks.iter_rows(named=True):
        st.caption(ui.t("tg.base", metric=ui.t(f"metric.{r['metric']}"), base=ui.yi(r["base_wan"]),
                        growth=f"{r['implied_growth_pct']:.1f}%", plan_growth=f"{r['plan_implied_growth_pct']:.1f}%"))
CHECKS_WHAT = ui.t("tg.export.checks", scope=ui.t(f"tg.by.{by}"))
ui.download_xlsx({ui.t(f"tg.by.{by}"): view if by == "city" else workbook}, ui.export_name(CHECKS_WHAT, as_of=month),
                 key="tg_checks_xlsx", label=ui.t("tg.download_checks"), title=CHECKS_WHAT, as_of=month)

# ---------------------------------------------------------------- forecast and drivers
st.header(ui.t("tg.forecast"))
summary, drivers = ui.forecast(month, top=20)
s = summary.filter(pl.col("metric") == metric).row(0, named=True)
st.markdown(ui.t("tg.forecast_line", metric=ui.t(f"metric.{metric}"), forecast=ui.yi(s["forecast_wan"]),
                 low=ui.yi(s["forecast_low_wan"]), high=ui.yi(s["forecast_high_wan"]),
                 target=ui.yi(s["target_wan"]), prob=ui.pct(s["probability_meet_target"])))
gap = s["forecast_gap_wan"]
if gap <= 0:
    st.success(ui.t("tg.gap_none", surplus=ui.yi(-gap)))
elif s["projects_to_close_gap"] is not None:
    st.warning(ui.t("tg.gap_closable", gap=ui.yi(gap), n=s["projects_to_close_gap"]))
else:
    st.error(ui.t("tg.gap_open", gap=ui.yi(gap), potential=ui.yi(s["acceleration_potential_wan"])))

mine = drivers.filter(pl.col("metric") == metric)
# the decisive columns first (the project, its gap or extra, its forecast and plan), who and where after
name = pl.col("name").alias(ui.t("tg.col.project"))
figures = [
    yi("forecast_wan").alias(ui.t("tg.col.forecast_yi")),
    yi("annual_plan_wan").alias(ui.t("tg.col.plan_yi")),
    yi("completed_wan").alias(ui.t("tg.col.completed_yi")),
    pct("performance").alias(ui.t("tg.col.performance_pct")),
]
who = [
    pl.col("unit_name").alias(ui.t("tg.col.unit")),
    chain_label().alias(ui.t("tg.col.chain")),
    pl.col("leader").alias(ui.t("tg.col.leader")),
    pl.col("rank").alias(ui.t("tg.col.rank")),
]
shortfall = mine.filter(pl.col("role") == "shortfall").select(
    name,
    yi("forecast_gap_wan").alias(ui.t("tg.col.gap_yi")),
    pct("gap_share").alias(ui.t("tg.col.gap_share_pct")),
    *figures, *who,
)
accelerate = mine.filter(pl.col("role") == "accelerate").select(
    name,
    yi("achievable_extra_wan").alias(ui.t("tg.col.extra_yi")),
    yi("cumulative_extra_wan").alias(ui.t("tg.col.cumulative_extra_yi")),
    pl.col("closes_gap").alias(ui.t("tg.col.closes_gap")),
    pl.col("pace").round(2).alias(ui.t("tg.col.pace")),
    pl.col("required_pace").round(2).alias(ui.t("tg.col.required_pace")),
    *figures, *who,
)
tab_short, tab_fast = st.tabs([ui.t("tg.shortfall"), ui.t("tg.accelerate")])
tab_short.dataframe(shortfall, hide_index=True, placeholder="—", key="tg_shortfall_table")
tab_fast.dataframe(accelerate, hide_index=True, placeholder="—", key="tg_accelerate_table")
DRIVERS_WHAT = ui.t("tg.export.drivers", metric=ui.t(f"metric.{metric}"))
ui.download_xlsx({ui.t("tg.shortfall"): shortfall, ui.t("tg.accelerate"): accelerate},
                 ui.export_name(DRIVERS_WHAT, as_of=month), key="tg_drivers_xlsx", label=ui.t("tg.download_drivers"),
                 title=DRIVERS_WHAT, as_of=month)

# ---------------------------------------------------------------- lagging projects
st.header(ui.t("tg.lagging"))
st.caption(ui.t("tg.lagging_rule"))
lagging = ui.lagging(month)  # every lagging project, furthest behind first
f1, f2, f3, f4 = st.columns([3, 3, 2, 2], vertical_alignment="bottom")
units = ui.unit_multiselect(ui.t("tg.filter_unit"), key="tg_unit", only=lagging["unit_id"].unique().to_list(),
                            into=f1, placeholder=ui.t("tg.all"))
chain_names = lagging["chain_name"].drop_nulls().unique().sort().to_list()
# built now: a format_func must not read the session later
chain_labels = dict(zip(chain_names, pl.DataFrame({"chain_name": chain_names}, schema={"chain_name": pl.String})
                        .select(chain_label()).to_series(), strict=True))
picked_chains = f2.multiselect(ui.t("tg.filter_chain"), chain_names, format_func=chain_labels.__getitem__,
                               key="tg_chain", placeholder=ui.t("tg.all"), select_all=False)
flags = f3.multiselect(ui.t("tg.filter_flag"), list(FLAGS), format_func=FLAGS.get, key="tg_flag",
                       placeholder=ui.t("tg.all"), select_all=False)
open_only = f4.toggle(ui.t("tg.filter_open"), key="tg_open_only")
shown = lagging
if units:
    shown = shown.filter(pl.col("unit_id").is_in(units))
if picked_chains:
    shown = shown.filter(pl.col("chain_name").is_in(picked_chains))
if flags:
    shown = shown.filter(pl.col("flag").is_in(flags).fill_null(False) | (pl.col("stalled") & ("stalled" in flags)))
if open_only:
    shown = shown.filter(pl.col("open_problems").is_not_null())
flag_text = pl.concat_str([labelled("flag", FLAGS), pl.when(pl.col("stalled")).then(pl.lit(FLAGS["stalled"]))],
                          separator=" · ", ignore_nulls=True)
LEVELS = {v: ui.enum(v) for v in config.PROBLEM_LEVELS}


def lag_view(frame: pl.DataFrame) -> pl.DataFrame:
    """Lagging projects as shown and downloaded: the project, how far behind, the flag first."""
    return frame.select(
        pl.col("name").alias(ui.t("tg.col.project")),
        yi("behind_wan").alias(ui.t("tg.col.behind_yi")),
        flag_text.alias(ui.t("tg.col.flag")),
        pct("performance").alias(ui.t("tg.col.performance_pct")),
        yi("annual_plan_wan").alias(ui.t("tg.col.plan_yi")),
        yi("expected_wan").alias(ui.t("tg.col.expected_yi")),
        yi("completed_wan").alias(ui.t("tg.col.completed_yi")),
        pl.col("unit_name").alias(ui.t("tg.col.unit")),
        chain_label().alias(ui.t("tg.col.chain")),
        pl.col("leader").alias(ui.t("tg.col.leader")),
        pl.col("tier").replace(TIERS).alias(ui.t("tg.col.tier")),
        pl.col("idle_months").alias(ui.t("tg.col.idle_months")),
        pl.col("open_problems").alias(ui.t("tg.col.problem")),
        labelled("open_problem_level", LEVELS).alias(ui.t("tg.col.problem_level")),
        pl.col("open_problem_since").dt.strftime("%Y-%m").alias(ui.t("tg.col.problem_since")),
        pl.col("open_problem_months").alias(ui.t("tg.col.problem_months")),
        pl.col("project_id").alias(ui.t("col.project_id")),
    )


LAG_FILTERS = [w for w in (
    "、".join(ui.unit_name(u) for u in units) if units else None,
    "、".join(picked_chains) if picked_chains else None,
    "、".join(FLAGS[f] for f in flags) if flags else None,
    ui.t("tg.filter_open") if open_only else None,
) if w]
LAG_WHAT = ui.t("tg.export.lagging")
st.caption(ui.t("tg.shown", n=f"{shown.height:,}", total=f"{lagging.height:,}"))
ui.table(shown, view=lag_view, hide_index=True, placeholder="—", key="tg_lagging_table")
ui.download_xlsx(lambda: {LAG_WHAT: lag_view(shown)}, ui.export_name(LAG_WHAT, *LAG_FILTERS, as_of=month),
                 key="tg_lagging_xlsx", label=ui.t("tg.download_lagging"), title=LAG_WHAT, as_of=month,
                 filters=LAG_FILTERS)
