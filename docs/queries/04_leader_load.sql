-- 包保领导负荷：每位领导包保的项目数、投资与滞后项目
-- Responsibility load per leader: projects, investment, lagging projects and open problems.
select leader                                      as 包保领导,
       leader_level                                as 包保层级,
       projects                                    as 项目数,
       round(total_investment_wan / 10000, 2)      as 总投资_亿元,
       round(plan_wan / 10000, 2)                  as 年度计划_亿元,
       round(performance * 100, 1)                 as 完成率_百分比,
       lagging_count                               as 滞后项目,
       stalled_count                               as 停滞项目,
       open_problem_count                          as 有未解决问题
from v_leader_load
order by case leader_level when '市级' then 1 when '局级' then 2 when '处室' then 3
                           when '属地' then 4 else 5 end,
         lagging_count desc, projects desc, leader;
