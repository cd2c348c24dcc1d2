"""用户与日志: users and roles, and the audit log (admins only)."""

from datetime import date

import polars as pl
import streamlit as st

from app_pages import ui
from portfolio import access, auditview, store

me = ui.user()
access.require(me, "manage_users")
st.title(ui.t("admin.title"))

tab_users, tab_audit = st.tabs([ui.t("admin.users"), ui.t("admin.audit")])

saved_user = st.session_state.pop("admin_user_saved", None)
if saved_user:  # the confirmation of the save before the rerun that shows the new list
    st.toast(saved_user, icon=":material/check_circle:")

with tab_users:
    with store.connect(ui.db_path(), read_only=True) as con:
        users = access.list_users(con)
    names = dict(ui.units().select("unit_id", "display_name").iter_rows())
    yes, no = ui.t("admin.yes"), ui.t("admin.no")
    # as people read it: Chinese headers, the role and unit by name, 是/否, the time without seconds
    st.dataframe(users.select(
        pl.col("user_id").alias(ui.t("admin.col.user_id")),
        pl.col("name").alias(ui.t("admin.name")),
        pl.col("email").alias(ui.t("admin.email")),
        pl.col("role").replace_strict({r: access.ROLE_LABELS[r] if ui.lang() != "en" else r for r in access.ROLES},
                                      default=pl.col("role"))
        .alias(ui.t("admin.role")),
        pl.col("unit_id").replace_strict(names, default=pl.col("unit_id")).alias(ui.t("col.unit")),
        pl.when(pl.col("active")).then(pl.lit(yes)).otherwise(pl.lit(no)).alias(ui.t("admin.active")),
        pl.col("created_at").dt.strftime("%Y-%m-%d %H:%M").alias(ui.t("admin.col.created_at")),
    ), hide_index=True, width="stretch", placeholder="—")
    if saved_user:
        st.success(saved_user, icon=":material/check_circle:")
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
                # shown by the rerun (a message drawn now would vanish with it)
                st.session_state["admin_user_saved"] = ui.t("admin.saved", who=ui.plain(user_id))
                st.rerun()

with tab_audit:
    # everything is formatted by the library (portfolio/auditview.py); the page reads the filters and shows
    lang = ui.lang()
    c1, c2, c3, c4, c5 = st.columns([3, 2, 1, 2, 2])
    people = ui.cached(auditview.audit_people, me)
    person = c1.selectbox(ui.t("audit.filter.person"), [None, *people], key="admin_audit_person",
                          format_func=lambda v: ui.t("audit.everyone") if v is None else ui.plain(v))
    project = (c2.text_input(ui.t("audit.filter.project"), key="admin_audit_project") or "").strip() or None
    batch = c3.number_input(ui.t("audit.filter.batch"), min_value=1, value=None, step=1, key="admin_audit_batch")
    since = c4.date_input(ui.t("audit.filter.since"), value=None, key="admin_audit_since")
    until = c5.date_input(ui.t("audit.filter.until"), value=None, key="admin_audit_until")
    chosen = auditview.Filter(person=person, project=project, batch=None if batch is None else int(batch),
                              since=since if isinstance(since, date) else None,
                              until=until if isinstance(until, date) else None)
    total = ui.cached(auditview.audit_count, me, chosen)
    size = auditview.PAGE_ROWS
    pages = max(1, -(-total // size))
    page = int(st.number_input(ui.t("audit.filter.page"), min_value=1, max_value=pages, value=1, step=1,
                               key="admin_audit_page")) if pages > 1 else 1
    log = ui.cached(auditview.audit_frame, me, chosen, lang=lang, limit=size, offset=(page - 1) * size)
    if log.is_empty():
        st.info(ui.t("audit.none"))
    else:
        st.caption(ui.t("audit.shown", first=f"{(page - 1) * size + 1:,}", last=f"{(page - 1) * size + log.height:,}",
                        total=f"{total:,}", size=size))
        cols = auditview.headers(lang)
        event = st.dataframe(auditview.one_line(log, lang), hide_index=True, width="stretch", key="admin_audit_table",
                             on_select="rerun", selection_mode="single-row",
                             column_config={h: st.column_config.TextColumn(width=auditview.WIDTHS[c])
                                            for c, h in cols.items()})
        picked = event.selection.rows if event is not None else []
        if picked and picked[0] < log.height:
            entry = log.row(picked[0], named=True)
            with st.container(border=True):  # the chosen entry, one line per changed field
                st.caption(" · ".join(entry[cols[c]] for c in ("at", "action", "project", "object", "actor")))
                st.text(entry[cols["changes"]])
        else:
            st.caption(ui.t("audit.pick"))
    ui.audit_download(me, chosen, total, key="admin_audit_xlsx")
