-- 滞后项目及存在问题（红灯、黄灯或停滞，按落后额排序）
-- Lagging projects (red, amber or stalled) with their open problems, furthest behind first.
select project_id                                  as 项目编号,
       name                                        as 项目名称,
       unit_name                                   as 责任单位,
       leader                                      as 包保领导,
       round(annual_plan_wan / 10000, 2)           as 年度计划_亿元,
       round(expected_wan / 10000, 2)              as 应完成_亿元,
       round(completed_wan / 10000, 2)             as 已完成_亿元,
       round(performance * 100, 1)                 as 完成率_百分比,
       case flag when 'red' then '红' when 'amber' then '黄' when 'green' then '绿' end
         || case when stalled then '·停滞' else '' end as 标识,
       open_problems                               as 存在问题,
       open_problem_level                          as 协调层级,
       open_problem_months                         as 问题持续月数
from v_project_status
where is_lagging
order by behind_wan desc, project_id;
