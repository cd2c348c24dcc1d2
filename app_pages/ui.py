"""What the pages share: start-up, language, the signed-in user, cached library calls, formats.

Pages stay thin: read widgets, call ``query`` (a cached library call) or a library write
function, render. No page opens a connection it keeps: every library call opens and closes
its own, and cached results are keyed by the database's data revision, so a change made by the
CLI or a cron job shows on the next rerun without a restart.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl
import streamlit as st

from portfolio import access, export, i18n, store

LANG_KEY = "ui_lang"


# ---------------------------------------------------------------- language and labels
def lang() -> str:
    """The current UI language: 'zh' (default) or 'en'."""
    return st.session_state.get(LANG_KEY, i18n.DEFAULT_LANG)


def t(key: str, **values: object) -> str:
    """A label from the catalogue in the current language."""
    return i18n.t(key, lang(), **values)


def enum(value: str | None) -> str:
    """A stored enumeration value shown in the current language."""
    return i18n.enum_label(value, lang())


# ---------------------------------------------------------------- database
def db_path() -> Path:
    """The database file the app works on ($PORTFOLIO_DB or data/portfolio.duckdb)."""
    return store.resolve_db(None)


def revision() -> int:
    """The data revision; cached results are keyed by it."""
    return store.revision(db_path())


# cache_resource keeps one shared result per key: no pickling and no copy on every hit, which
# matters for frames of a million projects. Library results are never changed in place (polars
# frames are immutable; pages build new frames), so sharing them across sessions is safe.
@st.cache_resource(show_spinner=False, max_entries=64, ttl=6 * 3600)
def _call(target: str, db: str, rev: int, kwargs: tuple[tuple[str, Any], ...]) -> Any:
    module, func = target.rsplit(".", 1)
    fn: Callable[..., Any] = getattr(importlib.import_module(f"portfolio.{module}"), func)
    with store.connect(db, read_only=True) as con:
        return fn(con, **dict(kwargs))


def query(target: str, **kwargs: Any) -> Any:
    """Call ``portfolio.<module>.<function>(con, **kwargs)``, cached per database revision."""
    return _call(target, str(db_path()), revision(), tuple(sorted(kwargs.items())))


def ensure_database() -> None:
    """Without a database, the first start creates the sample one."""
    path = db_path()
    if path.exists():
        return
    with st.spinner("首次启动：正在创建示例数据库（1004个项目）… / First start: creating the sample database…"):
        store.init_db(path, sample=True, actor="app")


# ---------------------------------------------------------------- sign-in and user
def auth_configured() -> bool:
    """True when .streamlit/secrets.toml has an [auth] table (OpenID Connect sign-in)."""
    try:
        return "auth" in st.secrets
    except Exception:  # no secrets file at all
        return False


def current_user() -> access.User | None:
    """The acting user: the local user without a provider, else the registered signed-in one."""
    if not auth_configured():
        return access.LOCAL_USER
    if not st.user.is_logged_in:
        return None
    email = st.user.get("email")
    subject = st.user.get("sub")
    with store.connect(db_path(), read_only=True) as con:
        return access.find_user(con, email=str(email) if email else None,
                                subject=str(subject) if subject else None)


def user() -> access.User | None:
    """The user resolved at the start of this run."""
    return st.session_state.get("ui_user")


def start() -> access.User | None:
    """Run at the top of every rerun: database, language switch, user."""
    ensure_database()
    with st.sidebar:
        choice = st.segmented_control(
            i18n.t("app.language", lang()), options=["zh", "en"],
            format_func=lambda v: "中文" if v == "zh" else "English",
            default=lang(), key="ui_lang_switch",
        )
        if choice and choice != lang():
            st.session_state[LANG_KEY] = choice
            st.rerun()
    current = current_user()
    st.session_state["ui_user"] = current
    return current


def _sign_in_page() -> None:
    st.title(t("app.title"))
    if not st.user.is_logged_in:
        st.info(t("auth.sign_in_prompt"))
        if st.button(t("auth.sign_in"), type="primary", key="auth_login"):
            st.login()
    else:
        st.warning(t("auth.unknown_user", who=str(st.user.get("email") or st.user.get("sub"))))
        if st.button(t("auth.sign_out"), key="auth_logout"):
            st.logout()


def pages(current: access.User | None) -> list[Any]:
    """The navigation for ``current``: everything for known users, sign-in otherwise."""
    if current is None:
        return [st.Page(_sign_in_page, title=t("auth.sign_in"), url_path="signin")]
    items = [
        st.Page("app_pages/overview.py", title=t("nav.overview"), icon=":material/dashboard:", default=True),
        st.Page("app_pages/projects.py", title=t("nav.projects"), icon=":material/list_alt:"),
        st.Page("app_pages/targets.py", title=t("nav.targets"), icon=":material/flag:"),
        st.Page("app_pages/chains.py", title=t("nav.chains"), icon=":material/account_tree:"),
        st.Page("app_pages/leaders.py", title=t("nav.leaders"), icon=":material/badge:"),
        st.Page("app_pages/data_import.py", title=t("nav.import"), icon=":material/upload_file:"),
        st.Page("app_pages/sql_console.py", title=t("nav.sql"), icon=":material/terminal:"),
        st.Page("app_pages/reports.py", title=t("nav.report"), icon=":material/description:"),
    ]
    if access.can(current, "manage_users"):
        items.append(st.Page("app_pages/admin.py", title=t("nav.admin"), icon=":material/admin_panel_settings:"))
    return items


def banners(current: access.User | None) -> None:
    """Sample-data and local-mode banners, and who is signed in."""
    if current is None:
        return
    with st.sidebar:
        st.caption(f"{t('app.subtitle')}")
        role = access.ROLE_LABELS.get(current.role, current.role) if lang() == "zh" else current.role
        name = t("auth.local_user") if current.user_id == access.LOCAL_USER.user_id else current.name
        who = f"{name} · {current.user_id}" if name else current.user_id
        st.caption(f"👤 {who} · {role}" + (f" · {current.unit_id}" if current.unit_id else ""))
        if auth_configured() and st.button(t("auth.sign_out"), key="auth_logout_sidebar"):
            st.logout()
    if query("store.is_sample"):
        st.info(t("app.sample_banner"), icon=":material/science:")
    if not auth_configured():
        st.caption(t("auth.local_mode"))


# ---------------------------------------------------------------- formats and downloads
def yi(wan: Any, digits: int = 1) -> str:
    """万元 shown as 亿元 with the unit: 23,520,000 → '2,352.0 亿元'."""
    if wan is None:
        return "—"
    return f"{float(wan) / 10_000:,.{digits}f} {t('unit.yi')}"


def pct(ratio: Any, digits: int = 1) -> str:
    """A ratio as a percentage string."""
    return "—" if ratio is None else f"{float(ratio) * 100:.{digits}f}%"


def headers(frame: pl.DataFrame) -> pl.DataFrame:
    """Rename database columns to the display headers of the current language."""
    return frame.rename(i18n.translate_columns(frame.columns, lang()))


def download_xlsx(frames: dict[str, pl.DataFrame], file_name: str, *, key: str, label: str | None = None) -> None:
    """A download button for frames as an xlsx workbook (one sheet each)."""
    data = export.write_xlsx({name: headers(f) for name, f in frames.items()})
    st.download_button(label or t("ui.download_xlsx"), data=data or b"", file_name=file_name,
                       mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                       key=key, icon=":material/download:")


def month_picker(key: str, *, default: date | None = None) -> date:
    """Pick the as-of month among the plan year's months (defaults to the latest with progress)."""
    months: list[date] = query("store.progress_months")
    if not months:
        months = [date(2016, 1, 1)]
    fallback = default or months[-1]
    index = months.index(fallback) if fallback in months else len(months) - 1
    return st.selectbox(t("ui.as_of"), months, index=index, key=key,
                        format_func=lambda d: f"{d.year}-{d.month:02d}")
