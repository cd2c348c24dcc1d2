-- 月度完成 vs 季节性预期：工业投资每月完成、累计完成与“前低后高”的累计预期
-- Monthly completion vs the seasonal expectation for industrial investment.
select month_no                                    as 月份,
       round(completed_wan / 10000, 2)             as 当月完成_亿元,
       round(cumulative_completed_wan / 10000, 2)  as 累计完成_亿元,
       round(expected_cumulative_wan / 10000, 2)   as 季节性累计预期_亿元,
       round(linear_expected_wan / 10000, 2)       as 时间进度预期_亿元,
       round(cumulative_share * 100, 1)            as 季节性累计比例_百分比,
       round(ratio * 100, 1)                       as 完成率_百分比
from v_monthly_progress
where metric = 'industrial_investment'
order by month_no;
