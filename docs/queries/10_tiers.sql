-- 投资规模档次：各档项目数、累计数与原文计划（1004 / 780 / 520 / 84）的对比
-- Tier counts against the plan counts from the source.
select tier                                        as 档次,
       count                                       as 项目数,
       cumulative_count                            as 累计项目数,
       plan_cumulative_count                       as 原文计划累计,
       cumulative_diff                             as 差额,
       round(plan_wan / 10000, 2)                  as 年度计划_亿元
from v_tiers
order by min_wan desc;
