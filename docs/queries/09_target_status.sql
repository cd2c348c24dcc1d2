-- 年度目标完成情况：工业投资与技术改造投资的目标、计划覆盖、累计完成与状态
-- The two investment targets: coverage by the pipeline, year to date vs seasonal and linear expectation.
select label                                       as 指标,
       as_of                                       as 截至月份,
       round(target_wan / 10000, 2)                as 目标_亿元,
       round(planned_wan / 10000, 2)               as 项目年度计划_亿元,
       round(coverage * 100, 1)                    as 计划覆盖率_百分比,
       round(completed_wan / 10000, 2)             as 累计完成_亿元,
       round(expected_wan / 10000, 2)              as 季节性预期_亿元,
       round(ytd_ratio * 100, 1)                   as 季节性完成率_百分比,
       round(linear_ratio * 100, 1)                as 时间进度完成率_百分比,
       case status when 'on_track' then '正常' when 'at_risk' then '有风险' else '滞后' end as 状态
from v_target_progress;
