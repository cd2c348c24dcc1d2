-- 10亿元以上项目（总投资 ≥ 10亿元 = 100000万元）及其进度
-- Projects of 1 bn yuan or more and their progress this year.
select project_id                                  as 项目编号,
       name                                        as 项目名称,
       enterprise                                  as 建设单位,
       chain_name                                  as 产业链,
       unit_name                                   as 责任单位,
       status                                      as 项目状态,
       is_major                                    as 重大产业化项目,
       round(total_investment_wan / 10000, 2)      as 总投资_亿元,
       round(annual_plan_wan / 10000, 2)           as 年度计划_亿元,
       round(completed_wan / 10000, 2)             as 累计完成_亿元,
       round(performance * 100, 1)                 as 完成率_百分比,
       flag                                        as 标识
from v_project_status
where total_investment_wan >= 100000
order by total_investment_wan desc, project_id;
