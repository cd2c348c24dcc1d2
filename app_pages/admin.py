"""用户与日志: users and roles, and the audit log (admins only)."""

import polars as pl
import streamlit as st

from app_pages import ui
from portfolio import access, store

me = ui.user()
access.require(me, "manage_users")
st.title(ui.t("admin.title"))

tab_users, tab_audit = st.tabs([ui.t("admin.users"), ui.t("admin.audit")])

with tab_users:
    with store.connect(ui.db_path(), read_only=True) as con:
        users = access.list_users(con)
    names = dict(ui.units().select("unit_id", "display_name").iter_rows())
    st.dataframe(users.with_columns(pl.col("unit_id").replace_strict(names, default=pl.col("unit_id"))
                                    .alias("unit_name")),
                 hide_index=True, width="stretch", column_config={"unit_name": ui.t("col.unit")})
    with st.form("admin_user_form", clear_on_submit=False):
        st.subheader(ui.t("admin.add_or_change"))
        c1, c2 = st.columns(2)
        user_id = c1.text_input(ui.t("admin.user_id"), help=ui.t("admin.user_id_help"))
        email = c2.text_input(ui.t("admin.email"))
        name = c1.text_input(ui.t("admin.name"))
        # a new user starts with the least privilege: read only
        role = c2.selectbox(ui.t("admin.role"), access.ROLES, index=access.ROLES.index("viewer"),
                            format_func=lambda r: f"{access.ROLE_LABELS[r]} ({r})", key="admin_user_role")
        unit = ui.unit_select(ui.t("admin.unit"), key="admin_user_unit", optional=True, into=c1)
        active = c2.checkbox(ui.t("admin.active"), value=True)
        if st.form_submit_button(ui.t("admin.save"), type="primary"):
            try:
                with ui.write_connection() as con:
                    access.save_user(con, me, user_id=user_id, role=role, unit_id=unit,
                                     name=name or None, email=email or None, active=active)
            except (ValueError, access.PermissionDenied) as exc:
                st.error(ui.plain(exc))
            else:
                st.success(ui.t("admin.saved", who=ui.plain(user_id)))
                st.rerun()

with tab_audit:
    c1, c2, c3 = st.columns(3)
    table = c1.selectbox(ui.t("admin.table"), [None, "projects", "progress", "enterprises", "users", "meta"],
                         format_func=lambda v: ui.t("admin.all") if v is None else v, key="admin_audit_table")
    record = c2.text_input(ui.t("admin.record"), key="admin_audit_record") or None
    limit = c3.number_input(ui.t("admin.limit"), min_value=10, max_value=100_000, value=500, step=100,
                            key="admin_audit_limit")
    with store.connect(ui.db_path(), read_only=True) as con:
        log = access.read_audit(con, me, table=table, record_id=record, limit=int(limit))
    st.caption(ui.t("admin.audit_count", n=log.height))
    st.dataframe(log.with_columns(pl.col("at").dt.strftime("%Y-%m-%d %H:%M:%S")), hide_index=True,
                 width="stretch")
    ui.download_xlsx({"audit_log": log}, "audit_log.xlsx", key="admin_audit_xlsx")
