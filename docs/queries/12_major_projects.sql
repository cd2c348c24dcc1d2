-- 重大产业化项目：30个重大项目的包保、投资与进度
-- The major industrialisation projects: who holds them, investment and progress.
select name                                        as 项目名称,
       chain_name                                  as 产业链,
       unit_name                                   as 责任单位,
       leader                                      as 包保领导,
       leader_level                                as 包保层级,
       round(total_investment_wan / 10000, 2)      as 总投资_亿元,
       round(annual_plan_wan / 10000, 2)           as 年度计划_亿元,
       round(completed_wan / 10000, 2)             as 累计完成_亿元,
       round(performance * 100, 1)                 as 完成率_百分比,
       flag                                        as 标识,
       open_problems                               as 存在问题
from v_project_status
where is_major
order by total_investment_wan desc, project_id;
