"""Labels of the app pages owned by this module's area (see portfolio/i18n/__init__.py).

项目库 (``pj.``), 数据导入 (``im.``), SQL 查询 (``sq.``) and 报告 (``rp.``).
"""

LABELS: dict[str, tuple[str, str]] = {
    # ------------------------------------------------------------ 项目库
    "pj.title": ("项目库", "Projects"),
    "pj.search": ("搜索", "Search"),
    "pj.search_ph": ("搜索项目名称、建设单位或项目编号", "Search name, enterprise or project ID"),
    "pj.f.tier": ("投资规模档次", "Tier"),
    "pj.f.chain": ("产业链", "Chain"),
    "pj.f.unit": ("责任单位", "Unit"),
    "pj.f.status": ("项目状态", "Status"),
    "pj.f.nature": ("建设性质", "Nature"),
    "pj.f.level": ("包保层级", "Leader level"),
    "pj.f.major": ("重大项目", "Major only"),
    "pj.f.lagging": ("滞后项目", "Lagging only"),
    "pj.count": ("共 {total} 个项目，筛选出 {shown} 个：总投资 {invest}，年度计划 {plan}，截至 {month} 完成 {done}。",
                 "{shown} of {total} projects: total investment {invest}, plan-year investment {plan}, "
                 "completed to {month} {done}."),
    "pj.col.total_yi": ("总投资（亿元）", "Total (100 m yuan)"),
    "pj.col.plan_yi": ("年度计划（亿元）", "Plan year (100 m yuan)"),
    "pj.col.completed_yi": ("累计完成（亿元）", "Completed (100 m yuan)"),
    "pj.col.completed_help": ("计划年度内截至所选月份的累计完成投资", "Completed in the plan year up to the chosen month"),
    "pj.col.performance_help": ("累计完成 ÷ 按季节性曲线应完成", "Completed ÷ expected by the seasonal profile"),
    "pj.col.completed_wan": ("累计完成投资（万元）", "Completed to date (10k yuan)"),
    "pj.col.lagging": ("滞后", "Lagging"),
    "pj.col.stalled": ("停滞", "Stalled"),
    "pj.col.major": ("重大", "Major"),
    "pj.col.open_problems": ("未解决问题", "Open problems"),
    "pj.col.updated_by": ("填报人", "Entered by"),
    "pj.col.updated_at": ("填报时间", "Entered at"),
    "pj.export": ("导出筛选结果（{n} 个项目，Excel）", "Export the filtered list ({n} projects, Excel)"),
    "pj.none": ("没有符合筛选条件的项目。", "No project matches the filters."),
    "pj.pick": ("查看项目", "Project"),
    "pj.pick_help": ("在上表中点选一行，或在此选择（列出筛选结果的前 {n} 个）。",
                     "Click a row in the table above, or choose here (the first {n} filtered projects)."),
    "pj.gone": ("项目 {id} 已不在项目库中。", "Project {id} is no longer in the database."),
    "pj.m.total": ("总投资", "Total investment"),
    "pj.m.plan": ("年度计划投资", "Plan-year investment"),
    "pj.m.done": ("截至 {month} 累计完成", "Completed to {month}"),
    "pj.m.expected": ("按季节性曲线应完成 {value}", "Expected by the seasonal profile: {value}"),
    "pj.m.problems": ("存在问题", "Problems"),
    "pj.m.open_months": ("未解决（{n} 个月）", "Open ({n} months)"),
    "pj.m.no_problem": ("无", "None"),
    "pj.period": ("建设期", "Period"),
    "pj.updated": ("{who} 于 {at} 修改", "changed by {who} at {at}"),
    "pj.tab.progress": ("月度进度", "Monthly progress"),
    "pj.tab.problems": ("存在问题", "Problems"),
    "pj.tab.history": ("修改记录", "Change history"),
    "pj.tab.edit": ("编辑项目", "Edit project"),
    "pj.tab.entry": ("填报进度", "Enter progress"),
    "pj.chart.monthly": ("当月完成", "Completed in month"),
    "pj.chart.cumulative": ("累计完成", "Cumulative completed"),
    "pj.chart.expected": ("累计应完成（季节性）", "Cumulative expected (seasonal)"),
    "pj.no_progress": ("尚无月度进度记录。", "No monthly progress entered yet."),
    "pj.open_problem": ("自 {since} 起未解决（协调层级：{level}）：{text}",
                        "Open since {since} (escalated to {level}): {text}"),
    "pj.no_problems": ("没有填报过存在问题。", "No problems reported."),
    "pj.history_count": ("共 {n} 条修改记录（最新在前），包括项目信息和月度进度。",
                         "{n} changes, newest first, to the project and its monthly progress."),
    "pj.h.at": ("时间", "When"),
    "pj.h.actor": ("修改人", "Who"),
    "pj.h.action": ("操作", "Action"),
    "pj.h.table": ("数据表", "Table"),
    "pj.h.record": ("记录", "Record"),
    "pj.h.old": ("原值", "Old values"),
    "pj.h.new": ("新值", "New values"),
    "pj.h.source": ("来源", "Source"),
    "pj.edit_help": ("表单基于版本 {version}；保存时若他人已修改该项目，将拒绝保存并提示，不会覆盖他人的修改。金额单位万元。",
                     "The form is based on version {version}; if someone else has changed the project "
                     "meanwhile, saving is refused, never written over their change. Amounts in 10k yuan."),
    "pj.changed_meanwhile": ("该项目已被 {who} 修改（当前版本 {version}，表单基于版本 {base}）。请先载入最新数据再编辑。",
                             "{who} has changed this project (now version {version}, the form is based on "
                             "version {base}). Load the latest data before editing."),
    "pj.reload": ("载入最新数据", "Load the latest data"),
    "pj.save": ("保存修改", "Save changes"),
    "pj.saved": ("已保存项目 {id}（版本 {version}）：{fields}。", "Saved project {id} (version {version}): {fields}."),
    "pj.no_changes": ("没有修改任何内容。", "Nothing was changed."),
    "pj.no_right": ("当前角色“{role}”只能查看，不能修改。", "Your role “{role}” may only view, not change."),
    "pj.no_right_unit": ("您只能修改本单位（{unit}）的项目。", "You may change only your own unit's ({unit}) projects."),
    "pj.new": ("新建项目", "New project"),
    "pj.create": ("新建", "Create"),
    "pj.created": ("已新建项目 {id}。", "Created project {id}."),
    "pj.entry_new": ("该月尚无记录，保存后新增。金额为当月完成数（万元），不是累计数。",
                     "No entry for this month yet; saving adds one. The amount is the month's own (10k yuan), "
                     "not a running total."),
    "pj.entry_existing": ("该月已有记录，修改后保存即更正。金额为当月完成数（万元），不是累计数。",
                          "This month has an entry; saving corrects it. The amount is the month's own "
                          "(10k yuan), not a running total."),
    "pj.enter": ("保存进度", "Save progress"),
    "pj.entered.inserted": ("已新增 {id} {month} 的进度。", "Added the progress of {id} for {month}."),
    "pj.entered.updated": ("已更正 {id} {month} 的进度。", "Corrected the progress of {id} for {month}."),
    "pj.entered.unchanged": ("{id} {month} 的进度没有变化。", "The progress of {id} for {month} is unchanged."),
}

LABELS.update({
    # ------------------------------------------------------------ 数据导入
    "im.title": ("数据导入", "Import"),
    "im.col.row": ("行号", "Row"),
    "im.col.column": ("列", "Column"),
    "im.col.value": ("值", "Value"),
    "im.col.reason": ("原因", "Reason"),
})

LABELS.update({
    # ------------------------------------------------------------ SQL 查询
    "sq.title": ("SQL 查询", "SQL console"),
})

LABELS.update({
    # ------------------------------------------------------------ 报告
    "rp.title": ("报告", "Reports"),
})
