"""包保: projects per responsibility level against the source, per leader, one leader's projects, rule checks."""

import polars as pl
import streamlit as st

from app_pages import ui
from portfolio import config, targets

EN = ui.lang() == "en"
LEVELS = config.LEADER_LEVELS
RULES = ("no_owner", "below_min_level", "major_below_level")
TIERS = dict(ui.cached(targets.settings).tiers.select("tier", "tier_en").iter_rows()) if EN else {}
FLAGS = {f: ui.t(f"tg.flag.{f}") for f in ("red", "amber", "green")}


def yi(column: str) -> pl.Expr:
    """A 万元 column in 亿元, two decimals."""
    return (pl.col(column).cast(pl.Float64) / 10_000).round(2)


def level(column: str) -> pl.Expr:
    """A leader-level column in the current language (no owner says so)."""
    labels = {lv: ui.enum(lv) for lv in LEVELS} | {targets.NO_OWNER: ui.t("tg.no_owner")}
    return pl.col(column).replace_strict(labels, default=pl.col(column), return_dtype=pl.String)


def leader(column: str) -> pl.Expr:
    """A leader column, with the no-owner group in the current language."""
    return pl.col(column).replace(targets.NO_OWNER, ui.t("tg.no_owner"))


def group_columns() -> list[pl.Expr]:
    """The roll-up columns shared by the level and leader tables."""
    return [
        pl.col("projects").alias(ui.t("tg.col.projects")),
        yi("total_investment_wan").alias(ui.t("tg.col.total_yi")),
        yi("plan_wan").alias(ui.t("tg.col.plan_yi")),
        yi("completed_wan").alias(ui.t("tg.col.completed_yi")),
        (pl.col("performance") * 100).round(1).alias(ui.t("tg.col.performance_pct")),
        pl.col("lagging").alias(ui.t("tg.col.lagging")),
        pl.col("red").alias(ui.t("tg.col.red")),
        pl.col("amber").alias(ui.t("tg.col.amber")),
        pl.col("stalled").alias(ui.t("ld.col.stalled")),
        pl.col("open_problems").alias(ui.t("tg.col.open_problems")),
    ]


st.title(ui.t("ld.title"))
with st.columns([2, 3])[0]:
    month = ui.month_picker("ld_month")
# the plan year's projects (a closed year's leaders as they were when it was closed), one payload
payload = ui.payload(month)

# ---------------------------------------------------------------- by level, against the source
st.header(ui.t("ld.levels"))
st.caption(ui.t("ld.levels_caption"))
counts = pl.DataFrame(payload.report["responsibility"])
by_level = counts.join(ui.rollup(month, "leader_level"), on="leader_level", how="left")
per_level = {r["leader_level"]: r for r in counts.iter_rows(named=True)}
cards = st.columns(len(LEVELS))
for card, lv in zip(cards, LEVELS, strict=True):
    r = per_level[lv]
    # the source gives 处室 as "780 projects of 30 m yuan and more": a cumulative count
    cumulative = lv == "处室"
    value, plan = (r["cumulative_count"], r["plan_cumulative_count"]) if cumulative else (r["count"], r["plan_count"])
    label = ui.t("ld.or_above", level=ui.enum(lv)) if cumulative else ui.enum(lv)
    detail = " + ".join(f"{ui.enum(x)} {per_level[x]['count']}" for x in LEVELS[:LEVELS.index(lv) + 1])
    diff = None if plan is None else value - plan
    card.metric(label, f"{value:,}", delta=None if diff is None else f"{diff:+d}", delta_arrow="off",
                delta_color="gray" if diff == 0 else "orange", delta_description=ui.t("ld.source", n=plan), border=True,
                help=ui.t("ld.cumulative_help", detail=detail) if cumulative else None)
above = {f"{lv}或以上": ui.t("ld.or_above", level=ui.enum(lv)) for lv in LEVELS}
level_view = by_level.select(
    level("leader_level").alias(ui.t("ld.col.level")),
    pl.col("count").alias(ui.t("ld.col.count")),
    pl.col("plan_count").alias(ui.t("ld.col.plan_count")),
    pl.col("count_diff").alias(ui.t("ld.col.diff")),
    pl.col("cumulative_label").replace_strict(above, default=None).alias(ui.t("ld.col.cumulative_label")),
    pl.col("cumulative_count").alias(ui.t("ld.col.cumulative")),
    pl.col("plan_cumulative_count").alias(ui.t("ld.col.plan_cumulative")),
    *group_columns()[1:],
)
st.dataframe(level_view, hide_index=True, placeholder="—", key="ld_levels_table")

# ---------------------------------------------------------------- by leader
st.header(ui.t("ld.leaders"))
leaders = ui.rollup(month, "leader")
chosen = st.multiselect(ui.t("ld.filter_level"), [*LEVELS, targets.NO_OWNER],
                        format_func=lambda v: ui.enum(v) if v in LEVELS else ui.t("tg.no_owner"), key="ld_level",
                        placeholder=ui.t("tg.all"), select_all=False)
shown = leaders.filter(pl.col("leader_level").is_in(chosen)) if chosen else leaders


def leader_view(frame: pl.DataFrame) -> pl.DataFrame:
    """Leaders as shown and downloaded."""
    return frame.select(
        leader("leader").alias(ui.t("tg.col.leader")),
        level("leader_level").alias(ui.t("tg.col.leader_level")),
        *group_columns(),
    )


st.caption(ui.t("ld.leaders_shown", n=f"{shown.height:,}"))
ui.table(shown, view=leader_view, hide_index=True, placeholder="—", key="ld_leaders_table")
LEADERS_WHAT = ui.t("ld.export.leaders")
ui.download_xlsx(lambda: {ui.t("ld.export.levels"): level_view, LEADERS_WHAT: leader_view(shown)},
                 ui.export_name(LEADERS_WHAT, as_of=month), key="ld_leaders_xlsx", label=ui.t("ld.download_leaders"),
                 title=LEADERS_WHAT, as_of=month)

# ---------------------------------------------------------------- one leader's projects
st.header(ui.t("ld.drill"))
rows = {(r["leader"], r["leader_level"]): r for r in shown.iter_rows(named=True)}


def describe(key: tuple[str, str]) -> str:
    """A leader in the picker: name, level and number of projects."""
    name, lv = key
    return ui.t("ld.pick_item", leader=ui.t("tg.no_owner") if name == targets.NO_OWNER else name,
                level=ui.enum(lv) if lv in LEVELS else ui.t("tg.no_owner"), n=rows[key]["projects"])


described = {key: describe(key) for key in rows}  # built now: a format_func must not read the session later
pick = st.selectbox(ui.t("ld.pick"), list(rows), format_func=described.__getitem__, key="ld_leader")
if pick is not None:
    name, lv = pick
    row = rows[pick]
    # the leader's own projects only (at a million projects the whole frame is not read)
    mine = ui.cached(targets.leader_projects, as_of=month, leader=None if name == targets.NO_OWNER else name,
                     level=None if lv == targets.NO_OWNER else lv)
    m1, m2, m3, m4 = st.columns(4)
    m1.metric(ui.t("ld.projects"), row["projects"], border=True)
    m2.metric(ui.t("ld.investment"), f"{float(row['total_investment_wan']) / 10_000:,.1f}", border=True)
    m3.metric(ui.t("ld.lagging"), row["lagging"], border=True)
    m4.metric(ui.t("ld.open_problems"), row["open_problems"], border=True)

    def project_view(frame: pl.DataFrame) -> pl.DataFrame:
        """One leader's projects as shown and downloaded."""
        return frame.select(
            pl.col("project_id").alias(ui.t("col.project_id")),
            pl.col("name").alias(ui.t("tg.col.project")),
            pl.col("unit_name").alias(ui.t("tg.col.unit")),
            pl.col("tier").replace(TIERS).alias(ui.t("tg.col.tier")),
            pl.col("status").replace_strict({s: ui.enum(s) for s in config.STATUSES}, default=pl.col("status"))
            .alias(ui.t("tg.col.status_project")),
            yi("total_investment_wan").alias(ui.t("tg.col.total_yi")),
            yi("annual_plan_wan").alias(ui.t("tg.col.plan_yi")),
            yi("completed_wan").alias(ui.t("tg.col.completed_yi")),
            (pl.col("performance") * 100).round(1).alias(ui.t("tg.col.performance_pct")),
            pl.concat_str([pl.col("flag").replace_strict(FLAGS, default=None),
                           pl.when(pl.col("stalled")).then(pl.lit(ui.t("tg.flag.stalled")))],
                          separator=" · ", ignore_nulls=True).alias(ui.t("tg.col.flag")),
            pl.col("open_problems").alias(ui.t("tg.col.problem")),
            pl.col("open_problem_months").alias(ui.t("tg.col.problem_months")),
        )
    ui.table(mine, view=project_view, hide_index=True, placeholder="—", key="ld_projects_table")
    mine_what = ui.t("ld.export.projects", leader=name)
    ui.download_xlsx(lambda: {ui.t("ld.export.projects_sheet"): project_view(mine)},
                     ui.export_name(mine_what, as_of=month), key="ld_projects_xlsx",
                     label=ui.t("ld.download_projects"), title=mine_what, as_of=month)

# ---------------------------------------------------------------- rule violations
st.header(ui.t("ld.violations"))
words = ui.cached(targets.responsibility_words)  # the 包保 rules in force fill the texts
st.caption(ui.t("ld.violations_caption", **words))
violations = ui.violations(month)
found = payload.report["violation_counts"]  # every violation counted by rule
for card, rule in zip(st.columns(len(RULES)), RULES, strict=True):
    card.metric(ui.t(f"ld.rule.{rule}", **words), found.get(rule, 0), border=True)
if violations.is_empty():
    st.success(ui.t("ld.violations_none"))
else:
    amount = pl.col("total_investment_wan").cast(pl.Float64).round(2).cast(pl.String)
    reason_en = (
        pl.when((pl.col("rule") == "no_owner") & pl.col("leader").is_null() & pl.col("leader_level").is_null())
        .then(pl.lit(ui.t("ld.reason.no_owner")))
        .when((pl.col("rule") == "no_owner") & pl.col("leader").is_null())
        .then(pl.format(ui.t("ld.reason.no_leader"), level("leader_level")))
        .when(pl.col("rule") == "no_owner")
        .then(pl.format(ui.t("ld.reason.no_level"), "leader"))
        .when(pl.col("rule") == "below_min_level")
        .then(pl.format(ui.t("ld.reason.below_min_level"), amount, level("required_level"), level("leader_level")))
        .otherwise(pl.format(ui.t("ld.reason.major_below_level"), level("required_level"), level("leader_level")))
    )

    def violation_view(frame: pl.DataFrame) -> pl.DataFrame:
        """Violations as shown and downloaded."""
        return frame.select(
            pl.col("project_id").alias(ui.t("col.project_id")),
            pl.col("name").alias(ui.t("tg.col.project")),
            pl.col("unit_name").alias(ui.t("tg.col.unit")),
            yi("total_investment_wan").alias(ui.t("tg.col.total_yi")),
            pl.col("is_major").alias(ui.t("ld.col.major")),
            pl.col("leader").alias(ui.t("tg.col.leader")),
            level("leader_level").alias(ui.t("tg.col.leader_level")),
            pl.col("rule").replace_strict({r: ui.t(f"ld.rule.{r}", **words) for r in RULES}, default=pl.col("rule"))
            .alias(ui.t("ld.col.rule")),
            level("required_level").alias(ui.t("ld.col.required")),
            (reason_en if EN else pl.col("reason")).alias(ui.t("ld.col.reason")),
        )
    ui.table(violations, view=violation_view, hide_index=True, placeholder="—", key="ld_violations_table")
    violations_what = ui.t("ld.export.violations")
    ui.download_xlsx(lambda: {violations_what: violation_view(violations)},
                     ui.export_name(violations_what, as_of=month), key="ld_violations_xlsx",
                     label=ui.t("ld.download_violations"), title=violations_what, as_of=month)
