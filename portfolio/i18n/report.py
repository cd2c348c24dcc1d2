"""Labels of the scheduled report (HTML, xlsx, Markdown) and of the target charts (``chart.*``)."""

LABELS: dict[str, tuple[str, str]] = {
    "report.title": ("工业投资与产业链缺口分析月报", "Monthly industrial investment and chain-gap report"),
}

# target charts (portfolio/charts.py: s_curve, tier_funnel, group_bars)
LABELS.update({
    "chart.s_curve": ("{label}：累计完成与目标进度", "{label}: cumulative completion against the target"),
    "chart.s_curve_note": ("截至{month}累计完成{done}亿元，为季节预期的{ratio}",
                           "To {month}: {done} (100 m yuan), {ratio} of the seasonal expectation"),
    "chart.month": ("月份", "Month"),
    "chart.month_tick": ("{m}月", "M{m}"),
    "chart.cumulative_yi": ("累计完成投资（亿元）", "Cumulative investment (100 m yuan)"),
    "chart.series": ("图例", "Series"),
    "chart.completed": ("累计完成", "Completed (cumulative)"),
    "chart.monthly": ("当月完成", "Completed in the month"),
    "chart.expected": ("季节预期", "Seasonal expectation"),
    "chart.linear": ("时间进度", "Share of the year"),
    "chart.target": ("年度目标", "Annual target"),
    "chart.target_label": ("年度目标 {value} 亿元", "Target {value}"),
    "chart.value_yi": ("金额（亿元）", "Amount (100 m yuan)"),
    "chart.tier_funnel": ("投资规模档次（累计项目数）", "Investment tiers (cumulative project counts)"),
    "chart.tier_note": ("条形为项目库实际累计数，黑色竖线为计划数（原文）", "bars: pipeline counts; black ticks: plan counts (source)"),
    "chart.tier_band": ("档次", "Tier"),
    "chart.tier_min": ("{value}以上", "≥ {value}"),
    "chart.projects": ("项目数（个）", "Projects"),
    "chart.actual": ("实际", "Actual"),
    "chart.plan": ("计划", "Plan"),
    "chart.tier_text": ("{actual} 个（计划 {plan}）", "{actual} (plan {plan})"),
    "chart.group_unit": ("分责任单位：{label}（亿元）", "By unit: {label} (100 m yuan)"),
    "chart.group_chain": ("分产业链：{label}（亿元）", "By chain: {label} (100 m yuan)"),
    "chart.group_note": ("浅色条为年度计划，深色条为累计完成，黑色竖线为季节预期；右侧为完成/预期",
                         "light bar: plan-year investment; dark bar: completed; black tick: seasonal"
                         " expectation; right: completed / expected"),
    "chart.unit": ("责任单位", "Unit"),
    "chart.chain": ("产业链", "Chain"),
    "chart.planned": ("年度计划", "Plan-year"),
    "chart.done": ("累计完成", "Completed"),
    "chart.ratio": ("完成/预期", "Completed / expected"),
})
