-- 技改投资：按建设性质（扩建、改建及技术改造）统计的技术改造投资完成情况
-- Technical-upgrade investment by unit (natures counted as 技改 come from targets.toml).
select unit_name                                   as 责任单位,
       count(*)                                    as 技改项目数,
       round(sum(annual_plan_wan) / 10000, 2)      as 年度计划_亿元,
       round(sum(completed_wan) / 10000, 2)        as 累计完成_亿元,
       round(sum(expected_wan) / 10000, 2)         as 应完成_亿元,
       round(sum(completed_wan::double) / nullif(sum(expected_wan), 0) * 100, 1) as 完成率_百分比,
       count(*) filter (where is_lagging)          as 滞后项目
from v_project_status
where is_tech_upgrade
group by unit_name
order by 累计完成_亿元 desc;
