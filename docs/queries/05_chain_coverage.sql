-- 产业链覆盖：各产业链的环节数、有本地企业的环节、缺失环节与在库项目
-- Chain coverage: segments, segments with local firms, missing segments and pipeline projects per chain.
select chain                                       as 产业链,
       count(*)                                    as 环节数,
       count(*) filter (where firms > 0)           as 有本地企业的环节,
       count(*) filter (where firms = 0)           as 缺失环节,
       count(*) filter (where firms = 0 and pipeline_projects > 0) as 缺失但有在库项目,
       count(*) filter (where concentrated)        as 高度集中环节,
       sum(firms)                                  as 本地企业数,
       round(sum(output_wan) / 10000, 2)           as 产值_亿元,
       sum(pipeline_projects)                      as 在库项目数
from v_chain_coverage
group by chain
order by 产值_亿元 desc;
