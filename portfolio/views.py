"""Stable, commented SQL views for the usual questions, for the SQL console and other tools.

Each view answers one question the library also answers, with the same rules and the same
numbers: ``v_project_status`` is ``targets.project_performance``, ``v_target_progress`` is
``targets.target_checks`` (without the Monte Carlo forecast), ``v_leader_load`` and
``v_unit_progress`` are ``targets.rollup`` by leader and unit, ``v_tiers`` is
``targets.tier_summary`` and ``v_chain_coverage`` is ``chains.segment_coverage``
(tests/test_views.py checks every pair on the sample plan). The rules' parameters come from the
database, loaded from ``data/targets.toml`` by ``store.load_reference``: the plan year and the
thresholds in ``meta`` (``plan_year``, ``rule.*``), the seasonal profile in
``seasonal_profile`` and the tier bands in ``tiers``. The views are evaluated "as of" the latest
month with progress in the plan year (``v_plan_context``), like ``portfolio check`` without
``--as-of``.

Views are created or replaced by :func:`create_views` inside ``store.create_schema``, each with
a Chinese ``COMMENT ON VIEW`` and a comment on every column, so ``duckdb_columns()`` documents
them too.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from . import config
from .chains import sql as chain_sql

NO_OWNER = "（未落实）"  # the same labels as targets.py
NO_CHAIN = "（未归链）"


def _list(values: tuple[str, ...]) -> str:
    return ", ".join("'" + v.replace("'", "''") + "'" for v in values)


@dataclass(frozen=True)
class View:
    """One view: its name, SELECT, Chinese comment and a comment per column."""

    name: str
    sql: str
    comment: str
    columns: dict[str, str]


PLAN_CONTEXT = View(
    "v_plan_context",
    """
with y as (
    select coalesce((select value::integer from meta where key = 'plan_year'),
                    (select year(max(month)) from progress),
                    year(current_date)) as plan_year
), a as (
    select y.plan_year,
           coalesce((select max(month) from progress
                     where month >= make_date(y.plan_year, 1, 1)
                       and month < make_date(y.plan_year + 1, 1, 1)),
                    make_date(y.plan_year, 1, 1))::date as as_of
    from y
)
select a.plan_year, a.as_of, month(a.as_of) as month_no,
       coalesce((select cumulative_share from seasonal_profile s
                 where s.month_no = month(a.as_of)), 0) as seasonal_share,
       month(a.as_of) / 12 as linear_share,
       (select value::double from meta where key = 'rule.on_track') as on_track,
       (select value::double from meta where key = 'rule.at_risk') as at_risk,
       (select value::double from meta where key = 'rule.coverage_at_risk') as coverage_at_risk,
       (select value::double from meta where key = 'rule.flag_green') as flag_green,
       (select value::double from meta where key = 'rule.flag_amber') as flag_amber,
       (select value::integer from meta where key = 'rule.stalled_months') as stalled_months,
       (select from_json(value, '["VARCHAR"]') from meta
        where key = 'rule.tech_upgrade_natures') as tech_upgrade_natures
from a
""",
    "视图计算口径：计划年度、截至月份（计划年度内最新有进度的月份）与判定规则参数（来自 targets.toml）",
    {
        "plan_year": "计划年度",
        "as_of": "截至月份（计划年度内最新有月度进度的月份，当月1日）",
        "month_no": "截至月份的月序（1–12）",
        "seasonal_share": "截至月份的季节性累计比例（全年完成投资应完成的比例）",
        "linear_share": "截至月份的时间进度（月序/12）",
        "on_track": "指标正常阈值：累计完成/季节预期 ≥ 此值为正常",
        "at_risk": "指标有风险阈值：≥ 此值为有风险，否则滞后",
        "coverage_at_risk": "计划覆盖率低于此值时指标最多为有风险",
        "flag_green": "项目绿灯阈值：完成率 ≥ 此值",
        "flag_amber": "项目黄灯阈值：完成率 ≥ 此值，否则红灯",
        "stalled_months": "连续多少个月无投资算停滞",
        "tech_upgrade_natures": "计入技术改造投资的建设性质",
    },
)

PROJECT_STATUS = View(
    "v_project_status",
    f"""
with ctx as (
    select * from v_plan_context
), g as (
    select project_id, sum(completed_wan) as completed_wan,
           max(month) filter (where completed_wan > 0) as last_invest_month,
           max(month) as last_report_month
    from progress, ctx
    where month >= make_date(ctx.plan_year, 1, 1) and month <= ctx.as_of
    group by project_id
), pr as (
    select project_id, month, problems, problem_level,
           year(month) * 12 + month(month)
             - row_number() over (partition by project_id order by month) as island
    from progress, ctx
    where month <= ctx.as_of and nullif(trim(problems), '') is not null
), isl as (
    select project_id, max(month) as problem_month, min(month) as problem_since,
           count(*) as problem_months,
           arg_max(problems, month) as problems, arg_max(problem_level, month) as problem_level
    from pr
    group by project_id, island
    qualify row_number() over (partition by project_id order by max(month) desc) = 1
), base as (
    select p.project_id, p.name, p.enterprise, p.unit_id, coalesce(u.name, p.unit_id) as unit_name,
           p.chain_id, coalesce(c.name, p.chain_id, '{NO_CHAIN}') as chain_name, p.node_id,
           p.nature, p.status, p.is_major,
           list_contains(ctx.tech_upgrade_natures, p.nature) as is_tech_upgrade,
           nullif(trim(p.leader), '') as leader, p.leader_level,
           p.total_investment_wan::decimal(38,2) as total_investment_wan,
           p.annual_plan_wan::decimal(38,2) as annual_plan_wan,
           p.start_date, p.end_date, ctx.plan_year, ctx.as_of, ctx.month_no as m,
           case when p.start_date is null or year(p.start_date) < ctx.plan_year then 1
                when year(p.start_date) > ctx.plan_year then 13
                else month(p.start_date) end as from_raw,
           case when p.end_date is null or year(p.end_date) > ctx.plan_year then 12
                when year(p.end_date) < ctx.plan_year then 0
                else month(p.end_date) end as to_raw,
           coalesce(g.completed_wan, 0)::decimal(38,2) as completed_wan,
           g.last_invest_month, g.last_report_month,
           coalesce(isl.problem_month is not null and isl.problem_month = g.last_report_month, false)
             as has_open_problem,
           isl.problems, isl.problem_level, isl.problem_since, isl.problem_months,
           ctx.flag_green, ctx.flag_amber, ctx.stalled_months
    from projects p
    cross join ctx
    left join g using (project_id)
    left join isl using (project_id)
    left join units u on u.unit_id = p.unit_id
    left join chains c on c.chain_id = p.chain_id
), win as (
    -- a plan whose dates lie wholly outside the plan year is expected over the whole year
    select b.*,
           b.from_raw > b.to_raw and b.annual_plan_wan > 0 as dates_outside_year,
           case when b.from_raw > b.to_raw and b.annual_plan_wan > 0 then 1 else b.from_raw end as active_from,
           case when b.from_raw > b.to_raw and b.annual_plan_wan > 0 then 12 else b.to_raw end as active_to
    from base b
), shares as (
    select b.*,
           coalesce(s0.cumulative_share, 0) as c_before,
           coalesce(s1.cumulative_share, 0) as c_end,
           coalesce(s2.cumulative_share, 0) as c_now
    from win b
    left join seasonal_profile s0 on s0.month_no = greatest(least(b.active_from - 1, 12), 0)
    left join seasonal_profile s1 on s1.month_no = greatest(least(b.active_to, 12), 0)
    left join seasonal_profile s2 on s2.month_no = greatest(least(least(b.active_to, b.m), 12), 0)
), expected as (
    select s.*,
           round(case when s.active_from > s.active_to then 0.0
                      when s.c_end - s.c_before > 1e-12
                        then greatest(least((s.c_now - s.c_before) / (s.c_end - s.c_before), 1.0), 0.0)
                      else greatest(least(s.active_to, s.m) - s.active_from + 1, 0)::double
                           / (s.active_to - s.active_from + 1)::double
                 end, 10) as expected_share
    from shares s
), perf as (
    select e.*,
           e.annual_plan_wan::double * e.expected_share as expected_wan,
           case when e.annual_plan_wan::double * e.expected_share > 0
                then round(e.completed_wan::double / (e.annual_plan_wan::double * e.expected_share), 6)
           end as performance,
           case when e.active_from <= e.m and e.m <= e.active_to
                then e.m - greatest(coalesce(month(e.last_invest_month), 0), e.active_from - 1)
                else 0 end as idle_months
    from expected e
), flagged as (
    select f.*,
           case when f.performance is null then null
                when f.performance >= f.flag_green then 'green'
                when f.performance >= f.flag_amber then 'amber'
                else 'red' end as flag,
           f.idle_months >= f.stalled_months and f.annual_plan_wan > 0
             and f.status not in ({_list(config.FINISHED_STATUSES)}) as stalled
    from perf f
)
select project_id, name, enterprise, unit_id, unit_name, chain_id, chain_name, node_id, tier,
       nature, status, is_major, is_tech_upgrade, leader, leader_level,
       total_investment_wan, annual_plan_wan, start_date, end_date, plan_year, as_of,
       active_from, active_to, dates_outside_year,
       expected_share, expected_wan, completed_wan,
       expected_wan - completed_wan::double as behind_wan,
       performance, flag, last_invest_month, idle_months, stalled,
       case when has_open_problem then problems end as open_problems,
       case when has_open_problem then problem_level end as open_problem_level,
       case when has_open_problem then problem_since end as open_problem_since,
       case when has_open_problem then problem_months else 0 end as open_problem_months,
       coalesce(flag in ('red', 'amber'), false) or stalled as is_lagging
from flagged
asof left join (select tier, min_wan from tiers) t on flagged.total_investment_wan >= t.min_wan
order by project_id
""",
    "项目进度状态：每个项目截至最新月份的累计完成、季节性应完成、完成率、红黄绿标识、停滞与未解决问题（同 targets.project_performance）",
    {
        "project_id": "项目编号", "name": "项目名称", "enterprise": "建设单位（企业）",
        "unit_id": "责任单位编号", "unit_name": "责任单位名称", "chain_id": "产业链编号",
        "chain_name": "产业链名称（未归链的为“（未归链）”）", "node_id": "产业链环节编号",
        "tier": "投资规模档次（按总投资；1000万元以下为空）", "nature": "建设性质", "status": "项目状态",
        "is_major": "是否重大产业化项目", "is_tech_upgrade": "是否计入技术改造投资（按建设性质）",
        "leader": "包保领导", "leader_level": "最高包保层级",
        "total_investment_wan": "总投资（万元）", "annual_plan_wan": "年度计划投资（万元）",
        "start_date": "开工时间", "end_date": "竣工时间",
        "plan_year": "计划年度", "as_of": "截至月份",
        "dates_outside_year": "有年度计划但开竣工日期全在计划年度之外（按全年计算应完成，请核实日期）",
        "active_from": "计划年度内开始施工的月序（年前开工为1，年后开工为13）",
        "active_to": "计划年度内结束的月序（年后竣工为12，年前竣工为0）",
        "expected_share": "截至月份应完成年度计划的比例（季节性曲线在施工月份内重新归一）",
        "expected_wan": "截至月份应完成投资（万元）= 年度计划 × 应完成比例",
        "completed_wan": "计划年度内截至月份累计完成投资（万元）",
        "behind_wan": "落后额（万元）= 应完成 − 已完成（负数为超前）",
        "performance": "完成率 = 已完成 / 应完成（应完成为0时为空）",
        "flag": "标识：green 绿 / amber 黄 / red 红（阈值见 v_plan_context）",
        "last_invest_month": "最近一次有投资的月份", "idle_months": "连续无投资的月数（施工期内）",
        "stalled": "是否停滞（连续无投资月数达到阈值且有年度计划、未竣工）",
        "open_problems": "未解决的问题（最近一次上报仍存在的问题）",
        "open_problem_level": "未解决问题提交协调的层级", "open_problem_since": "问题连续存在的起始月份",
        "open_problem_months": "问题已连续存在的月数",
        "is_lagging": "是否滞后项目（红灯、黄灯或停滞）",
    },
)

TARGET_PROGRESS = View(
    "v_target_progress",
    """
with ctx as (
    select * from v_plan_context
), m as (
    select * from (values ('industrial_investment', 1), ('tech_upgrade_investment', 2)) m(metric, ord)
), sums as (
    select m.metric, m.ord, count(ps.project_id) as projects,
           coalesce(sum(ps.annual_plan_wan), 0)::decimal(38,2) as planned_wan,
           coalesce(sum(ps.completed_wan), 0)::decimal(38,2) as completed_wan,
           coalesce(sum(ps.expected_wan), 0) as plan_expected_wan
    from m
    left join v_project_status ps
      on m.metric = 'industrial_investment' or (m.metric = 'tech_upgrade_investment' and ps.is_tech_upgrade)
    group by m.metric, m.ord
), t as (
    select s.*, ctx.plan_year, ctx.as_of, ctx.seasonal_share, ctx.linear_share,
           ctx.on_track, ctx.at_risk, ctx.coverage_at_risk,
           coalesce(tg.label, tg.metric) as label, tg.value_wan::decimal(38,2) as target_wan,
           tg.growth_pct::double as growth_pct
    from sums s
    cross join ctx
    join targets tg on tg.metric = s.metric and tg.year = ctx.plan_year and tg.scope = 'city'
), r as (
    select t.*,
           case when target_wan > 0 then round(planned_wan::double / target_wan::double, 6) end as coverage,
           target_wan::double * seasonal_share as expected_wan,
           target_wan::double * linear_share as linear_expected_wan
    from t
), q as (
    select r.*,
           case when expected_wan > 0 then round(completed_wan::double / expected_wan, 6) end as ytd_ratio,
           case when linear_expected_wan > 0
                then round(completed_wan::double / linear_expected_wan, 6) end as linear_ratio,
           case when plan_expected_wan > 0
                then round(completed_wan::double / plan_expected_wan, 6) end as plan_ytd_ratio
    from r
)
select metric, label, plan_year, as_of, projects, target_wan, planned_wan, coverage,
       greatest(target_wan::double - planned_wan::double, 0.0) as shortfall_wan,
       completed_wan, seasonal_share, expected_wan, ytd_ratio,
       linear_share, linear_expected_wan, linear_ratio, plan_expected_wan, plan_ytd_ratio,
       growth_pct, target_wan::double / (1 + coalesce(growth_pct, 0.0) / 100) as base_wan,
       case when ytd_ratio is null then null
            when ytd_ratio >= on_track and coverage < coverage_at_risk then 'at_risk'
            when ytd_ratio >= on_track then 'on_track'
            when ytd_ratio >= at_risk then 'at_risk'
            else 'off_track' end as status
from q
order by ord
""",
    "年度投资目标进度：工业投资与技术改造投资的目标、计划覆盖、累计完成、季节性预期与状态（同 targets.target_checks，不含预测）",
    {
        "metric": "指标：industrial_investment 工业投资 / tech_upgrade_investment 技术改造投资",
        "label": "指标中文名", "plan_year": "计划年度", "as_of": "截至月份",
        "projects": "计入该指标的项目数", "target_wan": "全年目标（万元）",
        "planned_wan": "项目库年度计划投资合计（万元）",
        "coverage": "计划覆盖率 = 年度计划合计 / 目标",
        "shortfall_wan": "计划缺口（万元）= 目标 − 年度计划合计（不小于0）",
        "completed_wan": "截至月份累计完成投资（万元）",
        "seasonal_share": "截至月份的季节性累计比例",
        "expected_wan": "季节性预期完成（万元）= 目标 × 季节性累计比例",
        "ytd_ratio": "累计完成 / 季节性预期",
        "linear_share": "时间进度（月序/12）",
        "linear_expected_wan": "按时间进度的预期完成（万元）",
        "linear_ratio": "累计完成 / 按时间进度的预期（“时间过半、任务过半”）",
        "plan_expected_wan": "项目口径的应完成合计（万元，各项目年度计划 × 应完成比例）",
        "plan_ytd_ratio": "累计完成 / 项目口径的应完成",
        "growth_pct": "目标增长率（%）", "base_wan": "隐含上年基数（万元）= 目标 / (1 + 增长率)",
        "status": "状态：on_track 正常 / at_risk 有风险 / off_track 滞后",
    },
)


def _rollup_sql(keys: list[tuple[str, str]]) -> str:
    """A roll-up of v_project_status by ``keys`` (column, expression), as targets.rollup_of."""
    select_keys = ", ".join(f"{expr} as {col}" for col, expr in keys)
    group = ", ".join(expr for _, expr in keys)
    order = ", ".join(col for col, _ in keys)
    return f"""
select {select_keys},
       count(*) as projects,
       sum(total_investment_wan)::decimal(38,2) as total_investment_wan,
       sum(annual_plan_wan)::decimal(38,2) as plan_wan,
       sum(completed_wan)::decimal(38,2) as completed_wan,
       sum(expected_wan) as expected_wan,
       count(*) filter (where is_lagging) as lagging,
       count(*) filter (where flag = 'red') as red,
       count(*) filter (where flag = 'amber') as amber,
       count(*) filter (where flag = 'green') as green,
       count(*) filter (where stalled) as stalled,
       count(open_problems) as open_problems,
       case when sum(expected_wan) > 0
            then round(sum(completed_wan::double) / sum(expected_wan), 6) end as performance,
       count(*) filter (where is_lagging) / count(*) as lagging_share
from v_project_status
group by {group}
order by lagging desc, projects desc, {order}
"""


_ROLLUP_COLUMNS = {
    "projects": "项目数", "total_investment_wan": "总投资合计（万元）",
    "plan_wan": "年度计划投资合计（万元）", "completed_wan": "截至月份累计完成（万元）",
    "expected_wan": "截至月份应完成合计（万元）", "lagging": "滞后项目数（红灯、黄灯或停滞）",
    "red": "红灯项目数", "amber": "黄灯项目数", "green": "绿灯项目数", "stalled": "停滞项目数",
    "open_problems": "有未解决问题的项目数", "performance": "完成率 = 累计完成 / 应完成",
    "lagging_share": "滞后项目占比",
}

LEADER_LOAD = View(
    "v_leader_load",
    _rollup_sql([("leader", f"coalesce(leader, '{NO_OWNER}')"),
                 ("leader_level", f"coalesce(leader_level, '{NO_OWNER}')")]),
    "包保领导负荷：每位包保领导的项目数、投资、滞后项目数与未解决问题（同 targets.rollup(by='leader')）",
    {"leader": "包保领导（未落实的为“（未落实）”）", "leader_level": "包保层级", **_ROLLUP_COLUMNS},
)

UNIT_PROGRESS = View(
    "v_unit_progress",
    _rollup_sql([("unit_id", "unit_id"), ("unit_name", "unit_name")]),
    "各责任单位投资完成情况：项目数、投资、累计完成、应完成、完成率与滞后项目（同 targets.rollup(by='unit')）",
    {"unit_id": "责任单位编号", "unit_name": "责任单位名称", **_ROLLUP_COLUMNS},
)

TIERS = View(
    "v_tiers",
    """
with c as (
    select t.tier, count(p.project_id) as n,
           coalesce(sum(p.total_investment_wan), 0)::decimal(38,2) as total_investment_wan,
           coalesce(sum(p.annual_plan_wan), 0)::decimal(38,2) as plan_wan
    from tiers t
    left join (
        select project_id, total_investment_wan, annual_plan_wan, tier
        from projects
        asof left join (select tier, min_wan from tiers) b on projects.total_investment_wan >= b.min_wan
    ) p on p.tier = t.tier
    group by t.tier
)
select t.tier, t.tier_en, t.min_wan::bigint as min_wan,
       (lag(t.min_wan) over (order by t.min_wan desc))::bigint as max_wan,
       c.n as count,
       sum(c.n) over (order by t.min_wan desc)::bigint as cumulative_count,
       t.plan_count::bigint as plan_count, t.plan_cumulative_count::bigint as plan_cumulative_count,
       (c.n - t.plan_count)::bigint as count_diff,
       (sum(c.n) over (order by t.min_wan desc) - t.plan_cumulative_count)::bigint as cumulative_diff,
       c.total_investment_wan, c.plan_wan,
       sum(c.plan_wan) over (order by t.min_wan desc)::decimal(38,2) as cumulative_plan_wan
from tiers t
join c using (tier)
order by t.min_wan desc
""",
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
    """
with ctx as (
    select * from v_plan_context
), m as (
    select * from (values ('industrial_investment', 1), ('tech_upgrade_investment', 2)) m(metric, ord)
), months as (
    select m.metric, m.ord, s.month_no, make_date(ctx.plan_year, s.month_no, 1) as month,
           s.share, s.cumulative_share, ctx.as_of
    from m cross join seasonal_profile s cross join ctx
), done as (
    select pr.month,
           sum(pr.completed_wan) as industrial,
           coalesce(sum(pr.completed_wan) filter (
               where list_contains(ctx.tech_upgrade_natures, p.nature)), 0) as tech
    from progress pr
    join projects p using (project_id)
    cross join ctx
    where pr.month >= make_date(ctx.plan_year, 1, 1) and pr.month <= ctx.as_of
    group by pr.month
), rows as (
    select months.*,
           case when months.month > months.as_of then null
                when months.metric = 'industrial_investment' then coalesce(done.industrial, 0)
                else coalesce(done.tech, 0) end::decimal(38,2) as completed_wan
    from months left join done using (month)
)
select r.metric, coalesce(t.label, r.metric) as label, r.month, r.month_no,
       r.month <= r.as_of as reported,
       r.completed_wan,
       case when r.month <= r.as_of then sum(r.completed_wan) over (
           partition by r.metric order by r.month_no) end::decimal(38,2) as cumulative_completed_wan,
       r.share, r.cumulative_share,
       t.value_wan::decimal(38,2) as target_wan,
       t.value_wan::double * r.cumulative_share as expected_cumulative_wan,
       t.value_wan::double * r.month_no / 12 as linear_expected_wan,
       case when r.month <= r.as_of and t.value_wan * r.cumulative_share > 0
            then round(sum(r.completed_wan::double) over (partition by r.metric order by r.month_no)
                       / (t.value_wan::double * r.cumulative_share), 6) end as ratio
from rows r
cross join ctx
left join targets t on t.metric = r.metric and t.year = ctx.plan_year and t.scope = 'city'
order by r.ord, r.month_no
""",
    "月度完成与季节性预期：每个指标每月完成投资、累计完成与按季节性曲线的累计预期（“前低后高”）",
    {
        "metric": "指标：industrial_investment / tech_upgrade_investment", "label": "指标中文名",
        "month": "月份（当月1日）", "month_no": "月序（1–12）",
        "reported": "是否已到截至月份（之后的月份只有预期，没有完成数）",
        "completed_wan": "当月完成投资（万元）", "cumulative_completed_wan": "截至当月累计完成（万元）",
        "share": "季节性曲线当月比例", "cumulative_share": "季节性曲线累计比例",
        "target_wan": "全年目标（万元）", "expected_cumulative_wan": "季节性累计预期（万元）= 目标 × 累计比例",
        "linear_expected_wan": "按时间进度的累计预期（万元）",
        "ratio": "累计完成 / 季节性累计预期",
    },
)

#: Every view, in creation order (later views read earlier ones).
VIEWS: tuple[View, ...] = (PLAN_CONTEXT, PROJECT_STATUS, TARGET_PROGRESS, LEADER_LOAD, UNIT_PROGRESS,
                           TIERS, CHAIN_COVERAGE, MONTHLY_PROGRESS)


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def create_views(con: duckdb.DuckDBPyConnection) -> None:
    """Create or replace the named views with their Chinese comments (idempotent)."""
    for view in VIEWS:
        con.execute(f"create or replace view {view.name} as {view.sql}")
        con.execute(f"comment on view {view.name} is {_quote(view.comment)}")
        for column, text in view.columns.items():
            con.execute(f"comment on column {view.name}.{column} is {_quote(text)}")
