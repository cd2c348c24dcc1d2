"""Labels of the Streamlit pages (navigation, widgets, captions)."""

LABELS: dict[str, tuple[str, str]] = {
    "nav.overview": ("总览", "Overview"),
    "nav.projects": ("项目库", "Projects"),
    "nav.targets": ("目标进度", "Targets"),
    "nav.chains": ("产业链", "Chains"),
    "nav.leaders": ("包保", "Responsibility"),
    "nav.import": ("数据导入", "Import"),
    "nav.sql": ("SQL 查询", "SQL console"),
    "nav.report": ("报告", "Reports"),
    "nav.admin": ("用户与日志", "Users & audit"),
}
