-- 各单位投资完成情况（截至最新月份，金额折算为亿元）
-- Investment completed per responsible unit, as of the latest reported month.
select unit_name                                   as 责任单位,
       projects                                    as 项目数,
       round(plan_wan / 10000, 2)                  as 年度计划_亿元,
       round(completed_wan / 10000, 2)             as 累计完成_亿元,
       round(expected_wan / 10000, 2)              as 应完成_亿元,
       round(performance * 100, 1)                 as 完成率_百分比,
       lagging_count                               as 滞后项目,
       open_problem_count                          as 有未解决问题
from v_unit_progress
order by completed_wan desc;
