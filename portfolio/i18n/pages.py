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

LABELS.update({
    "admin.title": ("用户与修改日志", "Users and audit log"),
    "admin.users": ("用户与角色", "Users and roles"),
    "admin.audit": ("修改日志", "Audit log"),
    "admin.add_or_change": ("新增或修改用户", "Add or change a user"),
    "admin.user_id": ("用户标识（e-mail 或 subject）", "User id (e-mail or subject)"),
    "admin.user_id_help": ("与统一身份认证返回的 e-mail 或 subject 一致。",
                           "Must match the e-mail or subject returned by the identity provider."),
    "admin.email": ("电子邮箱", "E-mail"),
    "admin.name": ("姓名", "Name"),
    "admin.role": ("角色", "Role"),
    "admin.unit": ("责任单位（仅责任单位角色）", "Unit (unit role only)"),
    "admin.active": ("启用", "Active"),
    "admin.save": ("保存", "Save"),
    "admin.saved": ("已保存用户 {who}。", "Saved user {who}."),
    "admin.table": ("数据表", "Table"),
    "admin.all": ("全部", "All"),
    "admin.record": ("记录编号", "Record id"),
    "admin.limit": ("最多显示", "Show at most"),
    "admin.audit_count": ("共 {n} 条（最新在前）", "{n} entries, newest first"),
})
