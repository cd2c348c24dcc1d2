"""Stable, commented SQL views for the usual questions, for the SQL console and other tools.

The views and the library run the **same rules**, written once: the per-project rules are the
table macro ``project_status_at(as_of)`` and the tiers ``project_tiers()``
(:mod:`portfolio.targets.status`), the check, tier and roll-up queries are SQL texts the views
and the library share (:mod:`portfolio.targets.checks`, ``.tiers``, ``.rollups``), the status,
seasonal-share and random-draw rules are scalar macros (:mod:`portfolio.targets.engine`), the
months ``monthly_progress_at(as_of)`` (:mod:`portfolio.monthly`). Every rule parameter comes
from the rules in force (:mod:`portfolio.rules`): ``meta`` keys ``rule.*``, the tables ``tiers``
and ``seasonal_profile``, shown as one row by ``v_rules``. The views are evaluated "as of" the
latest month with progress in the plan year (``v_plan_context``), like ``portfolio check``
without ``--as-of``; the macros take any month (``select * from project_status_at(date
'2016-06-01')``).

Names: one name per meaning in every view. Per project a boolean says ``is_lagging`` /
``stalled``; per group a count is ``*_count`` (``lagging_count``, ``stalled_count``,
``open_problem_count``, ``red_count`` …) and Σ annual plan is ``plan_wan``. Earlier names stay
as copies for saved SQL: ``lagging``, ``red``, ``amber``, ``green``, ``stalled``,
``open_problems`` in the roll-ups, ``planned_wan`` in ``v_target_progress``.

Views and macros are created or replaced by :func:`create_views` inside
``store.create_schema``, each view with a Chinese ``COMMENT ON VIEW`` and a comment on every
column, so ``duckdb_columns()`` documents them too.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from . import monthly, rules
from .chains import sql as chain_sql
from .targets import checks, engine, official, rollups, status, tiers
from .targets.settings import METRICS, NO_OWNER


def _list(values: tuple[str, ...]) -> str:
    return ", ".join("'" + v.replace("'", "''") + "'" for v in values)


@dataclass(frozen=True)
class View:
    """One view: its name, SELECT, Chinese comment and a comment per column."""

    name: str
    sql: str
    comment: str
    columns: dict[str, str]


def _meta(key: str, cast: str) -> str:
    return f"(select value::{cast} from meta where key = '{key}')"


_FC = rules.FORECAST_DEFAULTS
RULES = View(
    "v_rules",
    f"""
select {_meta('rule.on_track', 'double')} as on_track,
       {_meta('rule.at_risk', 'double')} as at_risk,
       {_meta('rule.coverage_at_risk', 'double')} as coverage_at_risk,
       {_meta('rule.flag_green', 'double')} as flag_green,
       {_meta('rule.flag_amber', 'double')} as flag_amber,
       {_meta('rule.stalled_months', 'integer')} as stalled_months,
       (select from_json(value, '["VARCHAR"]') from meta where key = 'rule.tech_upgrade_natures')
         as tech_upgrade_natures,
       [0.0::double] || coalesce((select list(cumulative_share order by month_no) from seasonal_profile), [])
         as seasonal_cumulative,
{"".join(f"       {_meta('rule.forecast.' + k, 'bigint' if k in ('simulations', 'seed') else 'double')} as {k},{chr(10)}"
         for k in _FC)}       {_meta('rule.forecast.z_low', 'double')} as z_low,
       {_meta('rule.forecast.z_high', 'double')} as z_high,
       {_meta('rule.min_level_from_wan', 'double')} as min_level_from_wan,
       {_meta('rule.min_level', 'varchar')} as min_level,
       {_meta('rule.major_min_level', 'varchar')} as major_min_level,
       {_meta('rule.plan_counts', 'json')} as plan_counts
""",
    "判定规则（生效中）：阈值、季节曲线、预测参数与包保规则，一行（由 portfolio init 从 targets.toml 载入，变更记入修改日志）",
    {
        "on_track": "指标正常阈值：累计完成/季节预期 ≥ 此值为正常",
        "at_risk": "指标有风险阈值：≥ 此值为有风险，否则滞后",
        "coverage_at_risk": "计划覆盖率低于此值时指标最多为有风险",
        "flag_green": "项目绿灯阈值：完成率 ≥ 此值",
        "flag_amber": "项目黄灯阈值：完成率 ≥ 此值，否则红灯",
        "stalled_months": "连续多少个月无投资算停滞",
        "tech_upgrade_natures": "计入技术改造投资的建设性质",
        "seasonal_cumulative": "季节性累计比例 C(0)…C(12)（第1项为0，第 m+1 项为1至m月的累计比例）",
        "simulations": "预测模拟次数", "seed": "预测随机种子",
        "low_quantile": "预测区间下限分位数", "high_quantile": "预测区间上限分位数",
        "prior_ratio": "节奏收缩的目标（按计划推进为1）", "prior_strength": "节奏收缩强度",
        "ratio_floor": "节奏下限", "ratio_cap": "节奏上限",
        "prior_sd": "无历史时节奏的对数标准差", "execution_sd": "执行偏差的对数标准差",
        "common_sd": "全市共同因子的对数标准差",
        "z_low": "下限分位数对应的标准正态分位点", "z_high": "上限分位数对应的标准正态分位点",
        "min_level_from_wan": "总投资达到此值（万元）须由 min_level 或以上包保",
        "min_level": "达到 min_level_from_wan 的项目的最低包保层级",
        "major_min_level": "重大产业化项目的最低包保层级",
        "plan_counts": "原文各包保层级的计划项目数（JSON）",
    },
)

PLAN_CONTEXT = View(
    "v_plan_context",
    """
with y as (
    select current_plan_year() as plan_year
), a as (
    select y.plan_year,
           coalesce((select max(month) from progress
                     where month >= make_date(y.plan_year, 1, 1)
                       and month < make_date(y.plan_year + 1, 1, 1)),
                    make_date(y.plan_year, 1, 1))::date as as_of
    from y
)
select a.plan_year, a.as_of, month(a.as_of) as month_no,
       r.seasonal_cumulative[month(a.as_of) + 1] as seasonal_share,
       month(a.as_of) / 12 as linear_share,
       r.*
from a cross join v_rules r
""",
    "视图计算口径：计划年度、截至月份（计划年度内最新有进度的月份）与生效中的判定规则（同 v_rules）",
    {
        "plan_year": "计划年度",
        "as_of": "截至月份（计划年度内最新有月度进度的月份，当月1日）",
        "month_no": "截至月份的月序（1–12）",
        "seasonal_share": "截至月份的季节性累计比例（全年完成投资应完成的比例）",
        "linear_share": "截至月份的时间进度（月序/12）",
    },
)
PLAN_CONTEXT.columns.update(RULES.columns)

PROJECT_STATUS = View(
    "v_project_status",
    "select * from project_status_at((select as_of from v_plan_context)) order by project_id",
    "项目进度状态：每个项目截至最新月份的档次、累计完成、季节性应完成、完成率、红黄绿标识、停滞、未解决问题与年末预测"
    "（即 project_status_at(截至月份)，同 targets.project_frame）",
    {
        "project_id": "项目编号", "name": "项目名称", "enterprise": "建设单位（企业）",
        "unit_id": "责任单位编号", "unit_name": "责任单位名称", "chain_id": "产业链编号",
        "chain_name": "产业链名称（未归链的为“（未归链）”）", "node_id": "产业链环节编号",
        "tier": "投资规模档次（按总投资；低于最低档为空）", "nature": "建设性质", "status": "项目状态",
        "is_major": "是否重大产业化项目", "is_tech_upgrade": "是否计入技术改造投资（按建设性质）",
        "leader": "包保领导", "leader_level": "最高包保层级",
        "total_investment_wan": "总投资（万元）", "annual_plan_wan": "年度计划投资（万元）",
        "start_date": "开工时间", "end_date": "竣工时间",
        "plan_year": "计划年度", "as_of": "截至月份",
        "active_from": "计划年度内开始施工的月序（年前开工为1，年后开工为13）",
        "active_to": "计划年度内结束的月序（年后竣工为12，年前竣工为0）",
        "dates_outside_year": "有年度计划但开竣工日期全在计划年度之外（按全年计算应完成，请核实日期）",
        "expected_share": "截至月份应完成年度计划的比例（季节性曲线在施工月份内重新归一）",
        "expected_wan": "截至月份应完成投资（万元）= 年度计划 × 应完成比例",
        "completed_wan": "计划年度内截至月份累计完成投资（万元）",
        "completed_prev_wan": "上年同期（上年1月至同月）完成投资（万元）",
        "cumulative_wan": "开累完成（万元）：开工以来截至月份的累计完成投资（跨年度）",
        "behind_wan": "落后额（万元）= 应完成 − 已完成（负数为超前）",
        "performance": "完成率 = 已完成 / 应完成（应完成为0时为空）",
        "flag": "标识：green 绿 / amber 黄 / red 红（阈值见 v_rules）",
        "last_invest_month": "最近一次有投资的月份", "last_report_month": "最近一次上报进度的月份",
        "months_reported": "计划年度内截至月份上报进度的月数",
        "idle_months": "连续无投资的月数（施工期内，跨年度连续计算：11月至次年1月无投资为3个月）",
        "stalled": "是否停滞（连续无投资月数达到阈值且有年度计划、未竣工）",
        "has_open_problem": "是否有未解决的问题（最近一次上报仍有问题）",
        "open_problems": "未解决的问题（最近一次上报仍存在的问题）",
        "open_problem_level": "未解决问题提交协调的层级", "open_problem_since": "问题连续存在的起始月份",
        "open_problem_months": "问题已连续存在的月数",
        "is_lagging": "是否滞后项目（红灯、黄灯或停滞）",
        "history_weight": "预测中已有进度的权重 = 应完成比例 / (应完成比例 + prior_strength)",
        "remaining_plan_wan": "剩余计划（万元）= 年度计划 × (1 − 应完成比例)",
        "pace": "预测节奏：完成率向 prior_ratio 收缩，限制在 [ratio_floor, ratio_cap]",
        "pace_sd": "节奏的对数标准差",
        "forecast_rest_wan": "预测的剩余完成（万元）= 剩余计划 × 节奏",
        "forecast_wan": "年末预测（万元）= 已完成 + 剩余计划 × 节奏",
        "forecast_rest_var": "剩余完成的方差（万元²，对数正态）",
        "forecast_low_wan": "项目年末预测下限（万元，low_quantile 分位数）",
        "forecast_high_wan": "项目年末预测上限（万元，high_quantile 分位数）",
        "forecast_gap_wan": "预测缺口（万元）= 年度计划 − 年末预测",
    },
)

_CITY_INPUTS = f"""
ctx as (
    select * from v_plan_context
), _projects as (
    select * from v_project_status
), _targets as (
    select t.metric, coalesce(t.label, t.metric) as label, t.value_wan::decimal(38,2) as target_wan,
           t.growth_pct::double as growth_pct
    from targets t, ctx
    where t.year = ctx.plan_year and t.scope = 'city' and t.metric in ({_list(METRICS)})
), _group_targets as (
    select ''::varchar as metric, ''::varchar as scope_id, 0::decimal(38,2) as target_wan where false
), _ctx as (
    select month_no, seasonal_share, linear_share, on_track, at_risk, coverage_at_risk,
           simulations, seed, low_quantile, high_quantile, common_sd
    from ctx
), _prev as (
    select * from library_prev_at((select as_of from ctx))
)"""

TARGET_PROGRESS = View(
    "v_target_progress",
    checks.checks_sql([], inputs=_CITY_INPUTS, extra="(select plan_year from ctx) as plan_year, "
                      "(select as_of from ctx) as as_of, ", tail=", planned_wan as plan_wan"),
    "年度投资目标进度：工业投资与技术改造投资的目标、计划覆盖、累计完成、季节性预期、年末预测区间与状态"
    "（同 targets.target_checks / portfolio check）",
    {
        "metric": "指标：industrial_investment 工业投资 / tech_upgrade_investment 技术改造投资",
        "label": "指标中文名", "plan_year": "计划年度", "as_of": "截至月份",
        "target_basis": "目标口径：全市目标", "projects": "计入该指标的项目数", "target_wan": "全年目标（万元）",
        "plan_wan": "项目库年度计划投资合计（万元）",
        "planned_wan": "同 plan_wan（早先的列名，保留供已保存的查询使用）",
        "coverage": "计划覆盖率 = 年度计划合计 / 目标",
        "shortfall_wan": "计划缺口（万元）= 目标 − 年度计划合计（不小于0）", "shortfall_yi": "计划缺口（亿元）",
        "completed_wan": "截至月份累计完成投资（万元）",
        "seasonal_share": "截至月份的季节性累计比例",
        "expected_wan": "季节性预期完成（万元）= 目标 × 季节性累计比例",
        "ytd_ratio": "季节完成率 = 累计完成 / 季节性预期",
        "linear_share": "时间进度（月序/12）",
        "linear_expected_wan": "按时间进度的预期完成（万元）",
        "linear_ratio": "累计完成 / 按时间进度的预期（“时间过半、任务过半”）",
        "plan_expected_wan": "项目口径的应完成合计（万元，各项目年度计划 × 应完成比例）",
        "plan_ytd_ratio": "累计完成 / 项目口径的应完成",
        "growth_pct": "目标增长率（%）", "base_wan": "隐含上年基数（万元）= 目标 / (1 + 增长率)",
        "forecast_wan": "年末预测（万元）= Σ 各项目年末预测",
        "forecast_low_wan": "年末预测区间下限（万元，蒙特卡洛 low_quantile 分位数）",
        "forecast_high_wan": "年末预测区间上限（万元，蒙特卡洛 high_quantile 分位数）",
        "forecast_gap_wan": "预测缺口（万元）= 目标 − 年末预测",
        "probability_meet_target": "达标概率（模拟中年末值 ≥ 目标的比例）",
        "implied_growth_pct": "年末预测对应的增速（%）", "plan_implied_growth_pct": "年度计划对应的增速（%）",
        "status": "状态：on_track 正常 / at_risk 有风险 / off_track 滞后（预测上限低于目标为滞后；规则见 status_reason）",
        "status_basis": "状态依据：forecast_below_target 预测上限低于目标 / coverage_cap 覆盖率不足降级 / "
                        "ratio_on_track、ratio_at_risk、ratio_off_track 按季节完成率 / forecast_meets_target 预测下限已达目标",
        "status_reason": "状态的理由（一句话，含用到的数字与阈值）",
        "status_reason_en": "状态的理由（英文）",
        "library_prev_wan": "项目库上年同期累计完成（万元）：上一计划年度的项目（按该年度结转时的样子）上年1月至同月的完成；上一年度不是计划年度时为空",
        "library_yoy_pct": "项目库口径同比增长（%）",
    },
)

_ROLLUP_COLUMNS = {
    "projects": "项目数", "total_investment_wan": "总投资合计（万元）",
    "plan_wan": "年度计划投资合计（万元）", "completed_wan": "截至月份累计完成（万元）",
    "expected_wan": "截至月份应完成合计（万元）", "forecast_wan": "年末预测合计（万元）",
    "lagging_count": "滞后项目数（红灯、黄灯或停滞）",
    "red_count": "红灯项目数", "amber_count": "黄灯项目数", "green_count": "绿灯项目数",
    "stalled_count": "停滞项目数", "open_problem_count": "有未解决问题的项目数",
    "performance": "完成率 = 累计完成 / 应完成", "lagging_share": "滞后项目占比",
    **{old: f"同 {new}（早先的列名，保留供已保存的查询使用）" for new, _sql, old in rollups.COUNTS},
}
_STATUS_INPUT = "_projects as (select * from v_project_status)"

LEADER_LOAD = View(
    "v_leader_load",
    rollups.rollup_sql(["leader", "leader_level"], inputs=_STATUS_INPUT),
    "包保领导负荷：每位包保领导的项目数、投资、滞后项目数与未解决问题（同 targets.rollup(by='leader')）",
    {"leader": f"包保领导（未落实的为“{NO_OWNER}”）", "leader_level": "包保层级", **_ROLLUP_COLUMNS},
)

UNIT_PROGRESS = View(
    "v_unit_progress",
    rollups.rollup_sql(["unit_id", "unit_name"], inputs=_STATUS_INPUT),
    "各责任单位投资完成情况：项目数、投资、累计完成、应完成、完成率与滞后项目（同 targets.rollup(by='unit')）",
    {"unit_id": "责任单位编号", "unit_name": "责任单位名称", **_ROLLUP_COLUMNS},
)

TIERS = View(
    "v_tiers",
    tiers.tiers_sql([], inputs=(
        "_projects as (select * from project_tiers()), _tiers as (select tier, tier_en, min_wan,"
        " case when y.first then plan_count end as plan_count,"
        " case when y.first then plan_cumulative_count end as plan_cumulative_count"
        " from tiers, (select coalesce((select min(year) from plan_years)"
        " = (select value::integer from meta where key = 'plan_year'), true) as first) y)")),
    "投资规模档次：各档次项目数、累计项目数与原文计划数的对比、总投资和年度计划（同 targets.tier_summary）",
    {
        "tier": "档次", "tier_en": "档次英文名", "min_wan": "下限（万元，含）",
        "max_wan": "上限（万元，不含；最高档为空）", "count": "本档项目数",
        "cumulative_count": "本档及以上累计项目数", "plan_count": "原文计划本档项目数",
        "plan_cumulative_count": "原文计划累计项目数", "count_diff": "本档项目数 − 原文计划",
        "cumulative_diff": "累计项目数 − 原文计划累计", "total_investment_wan": "本档总投资合计（万元）",
        "plan_wan": "本档年度计划投资合计（万元）", "cumulative_plan_wan": "本档及以上年度计划累计（万元）",
    },
)

CHAIN_COVERAGE = View(
    "v_chain_coverage",
    chain_sql.COVERAGE,  # the chains package owns this text and its concentration rule
    "产业链环节覆盖：每个环节的本地企业数、产值、集中度（HHI）与在谋划/前期/在建项目（同 chains.segment_coverage）",
    {
        "node_id": "环节编号", "chain_id": "产业链编号", "chain": "产业链名称", "chain_en": "产业链英文名",
        "name": "环节名称", "name_en": "环节英文名", "stage": "所处阶段：上游 / 中游 / 下游 / 配套服务",
        "weight": "环节权重", "emerging": "是否新兴环节",
        "firms": "本地企业数（为0即“缺失”环节）", "output_wan": "本地企业年产值合计（万元）",
        "hhi": "产值集中度 HHI（0–10000；无企业为空）",
        "concentrated": "是否高度集中（HHI 高于产业链规则的阈值 hhi_threshold）",
        "top_enterprise": "产值最大的企业", "top_output_wan": "最大企业年产值（万元）",
        "pipeline_projects": "在谋划、前期、在建项目数", "pipeline_investment_wan": "在库项目总投资（万元）",
        "pipeline_plan_wan": "在库项目年度计划投资（万元）", "pipeline_ids": "在库项目编号列表",
        "pipeline_builders": "在库项目的建设单位数（不同企业）",
        "finished_projects": "竣工、达产达效项目数",
    },
)

MONTHLY_PROGRESS = View(
    "v_monthly_progress",
    "select * from monthly_progress_at((select as_of from v_plan_context))",
    "月度完成与季节性预期：每个指标每月完成投资、累计完成与按季节性曲线的累计预期（“前低后高”；即 monthly_progress_at(截至月份)）",
    {
        "metric": "指标：industrial_investment / tech_upgrade_investment", "label": "指标中文名",
        "month": "月份（当月1日）", "month_no": "月序（1–12）",
        "reported": "是否已到截至月份（之后的月份只有预期，没有完成数）",
        "completed_wan": "当月完成投资（万元）", "cumulative_completed_wan": "截至当月累计完成（万元）",
        "share": "季节性曲线当月比例", "cumulative_share": "季节性曲线累计比例",
        "linear_share": "时间进度（月序/12）",
        "target_wan": "全年目标（万元）", "expected_cumulative_wan": "季节性累计预期（万元）= 目标 × 累计比例",
        "linear_expected_wan": "按时间进度的累计预期（万元）",
        "ratio": "累计完成 / 季节性累计预期",
        "completed_prev_wan": "上年同月完成投资（万元；上一计划年度的项目，同 library_prev_at；上年不是计划年度或该月尚无进度时为空）",
        "cumulative_prev_wan": "上年同期累计完成（万元；上一计划年度的项目，即检查的 library_prev_wan）",
        "official_cumulative_wan": "统计局本年累计（万元；未公布或晚于截至月份为空）",
        "official_prev_cumulative_wan": "统计局上年同月的本年累计（万元；未公布为空）",
    },
)

OFFICIAL_VS_LIBRARY = View(
    "v_official_vs_library",
    official.OFFICIAL_VS_LIBRARY,
    "统计口径与项目库口径：每月统计局本年累计、同比，与项目库累计完成、上年同期与差额（工业投资、技术改造投资；"
    "差额为1000万元以下项目与库外投资）",
    {
        "month": "月份（当月1日）", "year": "年度", "month_no": "月序（1–12）",
        "metric": "指标：industrial_investment / tech_upgrade_investment",
        "official_cumulative_wan": "统计局本年累计（万元）", "official_yoy_pct": "统计局公布的同比增长（%）",
        "official_prev_wan": "统计局上年同期累计（万元）",
        "yoy_pct": "同比增长（%）=（本年累计 / 上年同期 − 1）× 100",
        "library_cumulative_wan": "项目库本年累计完成（万元；计划年度内为该年度的项目）",
        "library_prev_wan": "项目库上年同期累计完成（万元）",
        "library_yoy_pct": "项目库口径同比（%）",
        "difference_wan": "差额（万元）= 统计口径 − 项目库口径",
        "library_share": "项目库口径占统计口径的比例",
    },
)

#: Every view, in creation order (later views read earlier ones).
VIEWS: tuple[View, ...] = (RULES, PLAN_CONTEXT, PROJECT_STATUS, TARGET_PROGRESS, LEADER_LOAD, UNIT_PROGRESS,
                           TIERS, CHAIN_COVERAGE, MONTHLY_PROGRESS, OFFICIAL_VS_LIBRARY)
#: Table macros the views and the library read (created before the views).
TABLE_MACROS: tuple[tuple[str, str, str], ...] = (*status.TABLE_MACROS, *monthly.TABLE_MACROS,
                                                   *official.TABLE_MACROS)


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def create_views(con: duckdb.DuckDBPyConnection) -> None:
    """Create or replace the rule macros and the named views with their comments (idempotent).

    A database without (complete) rules first gets those of targets.toml (:func:`rules.ensure`)."""
    rules.ensure(con)
    for stmt in engine.macro_statements():
        con.execute(stmt)
    con.execute(f"create or replace macro current_plan_year() as ({status.CURRENT_PLAN_YEAR.strip()})")
    for view in VIEWS:
        if view is PROJECT_STATUS:  # the table macros read v_rules and are read by the views after it
            for name, params, body in TABLE_MACROS:
                con.execute(f"create or replace macro {name}({params}) as table {body}")
        con.execute(f"create or replace view {view.name} as {view.sql}")
        con.execute(f"comment on view {view.name} is {_quote(view.comment)}")
        for column, text in view.columns.items():
            con.execute(f"comment on column {view.name}.{column} is {_quote(text)}")
