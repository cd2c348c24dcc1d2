-- 困难问题清单：按协调层级汇总仍未解决的问题，持续时间最长的在前
-- Open problems by the level they are escalated to, longest-standing first.
select open_problem_level                          as 协调层级,
       unit_name                                   as 责任单位,
       name                                        as 项目名称,
       leader                                      as 包保领导,
       open_problems                               as 存在问题,
       open_problem_since                          as 起始月份,
       open_problem_months                         as 持续月数
from v_project_status
where open_problems is not null
order by case open_problem_level when '市级' then 1 when '局级' then 2 when '处室' then 3 else 4 end,
         open_problem_months desc, project_id;
