-- 缺失环节清单：没有本地企业的产业链环节，及正在补上它们的项目
-- Segments with no local firm, and the pipeline projects that address them (招商 targets when none).
select chain                                       as 产业链,
       name                                        as 环节,
       stage                                       as 阶段,
       emerging                                    as 新兴环节,
       weight                                      as 权重,
       pipeline_projects                           as 在库项目数,
       round(pipeline_investment_wan / 10000, 2)   as 在库项目总投资_亿元,
       array_to_string(pipeline_ids, '、')         as 项目编号
from v_chain_coverage
where firms = 0
order by pipeline_projects = 0 desc, weight desc, chain, name;
