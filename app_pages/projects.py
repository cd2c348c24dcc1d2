"""项目库: find projects, export the list, and look after one project.

Filters, a text search and the order go to the database (``listing.list_projects``), which
returns one page of the list with the count and sums of every match: the browser never gets
more than a page, whatever the size of the library. The detail of the chosen project shows its
facts, monthly progress against the seasonal expectation, problems and change history. The forms write through ``portfolio.edits`` (the
import's own validation, optimistic locking, role checks, audit log).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Any

import altair as alt
import polars as pl
import streamlit as st

from app_pages import ui
from portfolio import (
    access,
    auditview,
    chains,
    config,
    edits,
    export,
    fmt,
    i18n,
    listing,
    monthly,
    store,
    targets,
)

me = ui.user()
LANG = ui.lang()
EN = LANG == "en"
SEP = ": " if EN else "："
PAGE_SIZE = 100  # rows of the list per page (the database sorts and pages; the browser gets one page)
PICK_LIMIT = 1000  # projects offered in the picker: the first rows of the list, read in one query

FLAG_ICONS = {"red": "🔴", "amber": "🟡", "green": "🟢"}

# ---------------------------------------------------------------- reference data and labels
nodes, _edges = ui.cached(chains.load_definition)  # segments in the order of chains.toml
tiers = ui.cached(targets.settings).tiers  # highest first
CHAIN = dict(nodes.select("chain_id", "chain_en" if EN else "chain").unique(maintain_order=True).iter_rows())
NODE = {n: f"{CHAIN.get(c, c)} · {en if EN else zh}"
        for n, c, zh, en in nodes.select("node_id", "chain_id", "name", "name_en").iter_rows()}
TIER = dict(zip(tiers["tier"], tiers["tier_en" if EN else "tier"], strict=True))
# Option labels are built now: AppTest (and Streamlit) may call a format_func after the run, when
# the session's language can no longer be read.
ENUM = {v: ui.enum(v) for v in (*config.STATUSES, *config.NATURES, *config.LEADER_LEVELS, *config.PROBLEM_LEVELS,
                                *config.CHAIN_ROLES)}


def dash(value: Any) -> str:
    """A stored value as text, '—' for blanks."""
    return "—" if value is None or value == "" else str(value)


def fmt_month(d: date) -> str:
    """2016-09."""
    return f"{d.year}-{d.month:02d}"


def lkey(key: str) -> str:
    """A key per language for a widget whose option labels are translated, carrying the choice over.

    The browser keeps showing a widget's old option labels after a language switch; a new key
    redraws them, and the choice made under the other language's key is copied over.
    """
    mine, other = f"{key}_{LANG}", f"{key}_{'zh' if EN else 'en'}"
    if mine not in st.session_state and other in st.session_state:
        st.session_state[mine] = st.session_state[other]
    return mine


def enum_col(name: str) -> pl.Expr:
    """A stored enumeration column shown in the current language."""
    return pl.col(name).replace(i18n.ENUM_EN) if EN else pl.col(name)


def label_col(name: str, labels: dict[str, str]) -> pl.Expr:
    """Codes replaced by their labels (unknown codes kept)."""
    return pl.col(name).replace(labels)


def yi_col(name: str) -> pl.Expr:
    """A 万元 column as 亿元 (float, for display)."""
    return (pl.col(name).cast(pl.Float64) / config.WAN_PER_YI).alias(name.replace("_wan", "_yi"))


# ---------------------------------------------------------------- title, as-of month, filters
goto = st.session_state.pop("pj_goto", None)
if goto:  # a project just created: find it
    st.session_state["pj_f_search"] = goto
    st.session_state["pj_pick"] = goto

head, pick_month = st.columns([3, 2], vertical_alignment="bottom")
head.title(ui.t("pj.title"))
with pick_month:
    as_of = ui.month_picker("pj_as_of")
year = as_of.year  # the plan year shown: its projects, plans and months
closed = ui.year_closed(year)  # a closed year is read-only: every form below is disabled

flash = st.session_state.pop("pj_flash", None)
if flash:
    st.success(flash, icon=":material/check_circle:")
toast = st.session_state.pop("pj_toast", None)
if toast:
    st.toast(toast, icon=":material/check_circle:")

with st.container(border=True):
    # the unit picker gets half a row: its labels are full names with the short name (units.picker_label)
    r1 = st.columns(2)
    search = r1[0].text_input(ui.t("pj.search"), key="pj_f_search", placeholder=ui.t("pj.search_ph"),
                              label_visibility="collapsed")
    f_unit = ui.unit_multiselect(ui.t("col.unit"), key="pj_f_unit", into=r1[1], placeholder=ui.t("pj.f.unit"),
                                 label_visibility="collapsed")
    r2 = st.columns(5)
    f_tier = r2[0].multiselect(ui.t("col.tier"), list(TIER), format_func=TIER.get, key=lkey("pj_f_tier"),
                               placeholder=ui.t("pj.f.tier"), label_visibility="collapsed", select_all=False)
    f_chain = r2[1].multiselect(ui.t("col.chain"), list(CHAIN), format_func=CHAIN.get, key=lkey("pj_f_chain"),
                                placeholder=ui.t("pj.f.chain"), label_visibility="collapsed", select_all=False)
    f_status = r2[2].multiselect(ui.t("col.status"), config.STATUSES, format_func=ENUM.__getitem__, key=lkey("pj_f_status"),
                                 placeholder=ui.t("pj.f.status"), label_visibility="collapsed", select_all=False)
    f_nature = r2[3].multiselect(ui.t("col.nature"), config.NATURES, format_func=ENUM.__getitem__, key=lkey("pj_f_nature"),
                                 placeholder=ui.t("pj.f.nature"), label_visibility="collapsed", select_all=False)
    f_level = r2[4].multiselect(ui.t("col.leader_level"), config.LEADER_LEVELS, format_func=ENUM.__getitem__,
                                key=lkey("pj_f_level"), placeholder=ui.t("pj.f.level"), label_visibility="collapsed", select_all=False)
    r3 = st.columns([1, 1, 1.5, 1.5], vertical_alignment="center")
    f_major = r3[0].toggle(ui.t("pj.f.major"), key="pj_f_major")
    f_lagging = r3[1].toggle(ui.t("pj.f.lagging"), key="pj_f_lagging")
    sorts = {c: ui.t(f"pj.sort.{c}") for c in listing.SORTS}
    sort = r3[2].selectbox(ui.t("pj.sort"), list(sorts), format_func=sorts.__getitem__, key=lkey("pj_sort"),
                           label_visibility="collapsed")
    descending = r3[3].toggle(ui.t("pj.descending"), key="pj_desc")

filters = {"tier": f_tier, "chain_id": f_chain, "unit_id": f_unit, "status": f_status, "nature": f_nature,
           "leader_level": f_level}
query = {"as_of": as_of, "filters": {k: tuple(v) for k, v in filters.items() if v}, "major": f_major,
         "lagging": f_lagging, "search": search.strip() or None, "sort": sort, "descending": descending}
# a new filter or order starts again at the first page
if st.session_state.get("pj_query") != query:
    st.session_state["pj_query"] = query
    st.session_state["pj_page"] = 1
# the first PICK_LIMIT rows in one query (the picker offers them; their pages need no other query)
window = ui.cached(listing.list_projects, **query, offset=0, limit=PICK_LIMIT)
pages = max(1, -(-window.matched // PAGE_SIZE))
if not 1 <= st.session_state.get("pj_page", 1) <= pages:
    st.session_state["pj_page"] = 1

# ---------------------------------------------------------------- the list, one page at a time
st.caption(ui.t("pj.count", total=f"{window.total:,}", shown=f"{window.matched:,}",
                invest=ui.yi(window.sums["total_investment_wan"]), plan=ui.yi(window.sums["annual_plan_wan"]),
                done=ui.yi(window.sums["completed_wan"]), month=fmt_month(as_of)))
page_no = int(st.session_state.get("pj_page", 1))
offset = (page_no - 1) * PAGE_SIZE
rows = (window.rows.slice(offset, PAGE_SIZE) if offset + PAGE_SIZE <= PICK_LIMIT
        else ui.cached(listing.list_projects, **query, offset=offset, limit=PAGE_SIZE).rows)
flag_text = {k: f"{icon} {ui.t('flag.' + k)}" for k, icon in FLAG_ICONS.items()}
# the decisive columns first (the project, its flag and completion, its plan), who and where after
table = rows.select(
    "project_id", "name",
    label_col("flag", flag_text),
    (pl.col("performance") * 100).round(1).alias("performance"),
    yi_col("completed_wan"),
    yi_col("annual_plan_wan"),
    yi_col("total_investment_wan"),
    "is_lagging",
    pl.col("unit_name").alias("unit"),
    label_col("chain_id", CHAIN).alias("chain"),
    enum_col("status"),
    label_col("tier", TIER),
    "enterprise",
    enum_col("nature"),
    "leader",
    enum_col("leader_level"),
    "is_major",
    "open_problems",
)
money = st.column_config.NumberColumn
columns = {
    "project_id": st.column_config.TextColumn(ui.t("col.project_id"), pinned=True),
    "name": st.column_config.TextColumn(ui.t("col.name"), pinned=True),
    "enterprise": st.column_config.TextColumn(ui.t("col.enterprise"), width="medium"),
    "unit": ui.t("col.unit"),
    "chain": ui.t("col.chain"),
    "tier": ui.t("col.tier"),
    "status": ui.t("col.status"),
    "nature": ui.t("col.nature"),
    # wide enough for the whole header (总投资（亿元）), one decimal like every card
    "total_investment_yi": money(ui.t("pj.col.total_yi"), format="%.1f", width=118),
    "annual_plan_yi": money(ui.t("pj.col.plan_yi"), format="%.1f", width=132),
    "completed_yi": money(ui.t("pj.col.completed_yi"), format="%.1f", width=132,
                          help=ui.t("pj.col.completed_help")),
    "performance": money(ui.t("pj.col.performance_pct"), format="%.1f%%", width=96,
                         help=ui.t("pj.col.performance_help")),
    "flag": st.column_config.TextColumn(ui.t("col.flag"), width=72),
    "is_lagging": st.column_config.CheckboxColumn(ui.t("pj.col.lagging"), width=64),
    "leader": ui.t("col.leader"),
    "leader_level": ui.t("col.leader_level"),
    "is_major": st.column_config.CheckboxColumn(ui.t("pj.col.major")),
    "open_problems": ui.t("pj.col.open_problems"),
}
event = st.dataframe(table, key=f"pj_table_{page_no}", on_select="rerun", selection_mode="single-row",
                     hide_index=True, column_config=columns, height=400, placeholder="—")
nav, export_col = st.columns([1, 2], vertical_alignment="bottom")
nav.number_input(ui.t("pj.page", pages=f"{pages:,}"), min_value=1, max_value=pages, step=1, key="pj_page",
                 help=ui.t("pj.page_help", n=PAGE_SIZE))

EXPORT = {
    "project_id": "col.project_id", "name": "col.name", "enterprise": "col.enterprise", "unit_name": "col.unit",
    "chain_name": "col.chain", "tier": "col.tier", "nature": "col.nature", "status": "col.status",
    "is_major": "col.is_major", "leader": "col.leader", "leader_level": "col.leader_level",
    "total_investment_wan": "col.total_investment_wan", "annual_plan_wan": "col.annual_plan_wan",
    "expected_wan": "col.expected_wan", "completed_wan": "pj.col.completed_wan", "performance": "col.performance",
    "flag": "col.flag", "is_lagging": "pj.col.lagging", "stalled": "pj.col.stalled",
    "open_problems": "pj.col.open_problems", "open_problem_level": "col.problem_level",
}
HEADERS = {c: ui.t(k) for c, k in EXPORT.items()}
SHEET = ui.t("nav.projects")
DB = ui.db_path()


def _filter_words() -> list[str]:
    """The filters in force, in words, for the export's name and first row (汽开区 · 仅滞后 …)."""
    words = ["、".join(ui.unit_name(u) for u in f_unit) if f_unit else None,
             "、".join(TIER[v] for v in f_tier) if f_tier else None,
             "、".join(CHAIN[v] for v in f_chain) if f_chain else None,
             "、".join(ENUM[v] for v in f_status) if f_status else None,
             "、".join(ENUM[v] for v in f_nature) if f_nature else None,
             "、".join(ENUM[v] for v in f_level) if f_level else None,
             ui.t("pj.f.major") if f_major else None,
             ui.t("pj.export.lagging") if f_lagging else None,
             ui.t("pj.export.search", text=search.strip()) if search.strip() else None]
    return [w for w in words if w]


FILTER_WORDS = _filter_words()


def export_bytes() -> bytes:
    """Every project that matches as an xlsx workbook (amounts in 万元 as labelled, flags as 红/黄/绿,
    是/否), under a first row saying what it holds; read and built only when downloaded."""
    with store.connect(DB, read_only=True) as con:
        every = listing.list_projects(con, **query, limit=None).rows
    sheet = fmt.for_people(every.select(list(EXPORT)), ui.lang()).rename(HEADERS)
    title = fmt.export_title(ui.t("pj.export.what"), as_of=as_of, filters=FILTER_WORDS, rows=sheet.height,
                             lang=ui.lang())
    return export.write_xlsx({SHEET: sheet}, titles={SHEET: title}) or b""


export_col.download_button(ui.t("pj.export", n=f"{window.matched:,}"), data=export_bytes,
                           file_name=ui.export_name(ui.t("pj.export.what"), *FILTER_WORDS, as_of=as_of),
                           key="pj_export",
                           mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                           icon=":material/download:", disabled=window.matched == 0, on_click="ignore")


# ---------------------------------------------------------------- form fields shared by edit and new
def project_fields(prefix: str, values: dict[str, Any], *, new: bool, unit_options: list[str]) -> dict[str, str]:
    """The project widgets in rows of three; returns field -> widget key (:func:`entered` reads the values)."""
    out: dict[str, Any] = {}
    keys: dict[str, str] = {}

    def choice(col: Any, name: str, options: list[Any], labels: Any, *, optional: bool) -> None:
        opts = ([None] if optional else []) + options
        current = values.get(name)
        index = opts.index(current) if current in opts else (0 if optional or not new else None)
        shown = {o: "—" if o is None else labels(o) for o in opts}
        keys[name] = f"{prefix}{name}_{LANG}"
        out[name] = col.selectbox(ui.t(f"col.{name}"), opts, index=index, key=keys[name],
                                  format_func=shown.__getitem__, placeholder=ui.t("ui.choose"))

    def amount(col: Any, name: str) -> None:
        current = values.get(name)
        keys[name] = f"{prefix}{name}"
        out[name] = col.number_input(ui.t(f"col.{name}"), min_value=0.0, step=100.0, format="%.2f",
                                     value=None if current is None else float(current), key=keys[name])

    def when(col: Any, name: str) -> None:
        keys[name] = f"{prefix}{name}"
        out[name] = col.date_input(ui.t(f"col.{name}"), value=values.get(name), min_value=date(2000, 1, 1),
                                   max_value=date(2040, 12, 31), key=keys[name], format="YYYY-MM-DD")

    def text(col: Any, name: str) -> None:
        keys[name] = f"{prefix}{name}"
        out[name] = col.text_input(ui.t(f"col.{name}"), value=values.get(name) or "", key=keys[name])

    def major(col: Any, name: str) -> None:
        keys[name] = f"{prefix}{name}"
        out[name] = col.checkbox(ui.t(f"col.{name}"), value=bool(values.get(name)), key=keys[name])

    widgets: dict[str, Callable[[Any], None]] = {
        "project_id": lambda c: text(c, "project_id"),
        "name": lambda c: text(c, "name"),
        "enterprise": lambda c: text(c, "enterprise"),
        "park": lambda c: text(c, "park"),
        "unit_id": lambda c: choice(c, "unit_id", unit_options, ui.unit_label, optional=False),
        "chain_id": lambda c: choice(c, "chain_id", list(CHAIN), CHAIN.get, optional=True),
        "node_id": lambda c: choice(c, "node_id", list(NODE), NODE.get, optional=True),
        "nature": lambda c: choice(c, "nature", list(config.NATURES), ui.enum, optional=False),
        "status": lambda c: choice(c, "status", list(config.STATUSES), ui.enum, optional=False),
        "chain_role": lambda c: choice(c, "chain_role", list(config.CHAIN_ROLES), ui.enum, optional=True),
        "total_investment_wan": lambda c: amount(c, "total_investment_wan"),
        "annual_plan_wan": lambda c: amount(c, "annual_plan_wan"),
        "is_major": lambda c: major(c, "is_major"),
        "start_date": lambda c: when(c, "start_date"),
        "end_date": lambda c: when(c, "end_date"),
        "leader": lambda c: text(c, "leader"),
        "leader_level": lambda c: choice(c, "leader_level", list(config.LEADER_LEVELS), ui.enum, optional=True),
        "note": lambda c: text(c, "note"),
    }
    rows = [
        ("project_id", "name", "enterprise") if new else ("name", "enterprise", "park"),
        ("unit_id", "chain_id", "node_id"),
        ("nature", "status", "chain_role"),
        ("total_investment_wan", "annual_plan_wan", "is_major"),
        ("start_date", "end_date", "park") if new else ("start_date", "end_date", "note"),
        ("leader", "leader_level", "note") if new else ("leader", "leader_level"),
    ]
    for row in rows:
        for col, name in zip(st.columns(3, vertical_alignment="bottom"), row, strict=False):
            widgets[name](col)
    return keys


def entered(keys: dict[str, str]) -> dict[str, Any]:
    """The values in a form's widgets (``keys``: field -> widget key): amounts as Decimal 万元, blank text None."""
    out = {name: st.session_state.get(key) for name, key in keys.items()}
    for name in ("total_investment_wan", "annual_plan_wan"):
        if out.get(name) is not None:
            out[name] = Decimal(f"{out[name]:.2f}")
    return {k: (v.strip() or None) if isinstance(v, str) else v for k, v in out.items()}


# The forms save in their submit button's callback, which Streamlit runs before the next run: that
# run then reads the new revision and shows the saved state, one run in all (saving in the run and
# calling st.rerun() would draw the whole page twice). What the save says is kept for that run.
REFUSED = (edits.EditRefused, access.PermissionDenied, store.StoreError)


def refused(form: str, exc: Exception) -> None:
    """Keep a refused write's sentence and row-level reasons for the run that shows the form."""
    errors = getattr(exc, "errors", None)
    st.session_state[f"pj_{form}_refused"] = (str(exc), errors if isinstance(errors, pl.DataFrame) else None)


def confirm(form: str, message: str) -> None:
    """A saved write's confirmation where the eye is: a toast, and the message under the form that
    was submitted, whose tab stays open (the next run shows both)."""
    st.session_state["pj_toast"] = message
    st.session_state["pj_here"] = (form, message)


def confirmed_here(form: str) -> None:
    """The confirmation of a write made through ``form``, drawn under it (once)."""
    here = st.session_state.get("pj_here")
    if here is not None and here[0] == form:
        st.session_state.pop("pj_here", None)
        st.success(here[1], icon=":material/check_circle:")


def save_new(keys: dict[str, str], nonce: int) -> None:
    """Create the project typed into the new-project form (its submit callback)."""
    record = entered(keys)
    try:
        with ui.write_connection() as con:
            edits.create_project(con, record, user=ui.user())  # type: ignore[arg-type]
    except REFUSED as exc:
        refused("new", exc)
    else:
        st.session_state["pj_flash"] = ui.t("pj.created", id=ui.plain(record["project_id"]))
        st.session_state["pj_goto"] = record["project_id"]
        st.session_state["pj_new_nonce"] = nonce + 1


def save_edit(pid: str, keys: dict[str, str], base: dict[str, Any]) -> None:
    """Save what changed in the edit form, based on the version it was opened on (its submit callback)."""
    changes = {k: v for k, v in entered(keys).items() if not same(v, base["values"].get(k))}
    if not changes:
        st.session_state["pj_edit_unchanged"] = True
        return
    try:
        with ui.write_connection() as con:
            version = edits.update_project(con, pid, changes, expected_version=base["version"],
                                           user=ui.user())  # type: ignore[arg-type]
    except REFUSED as exc:
        refused("edit", exc)
    else:
        st.session_state.pop("pj_edit_base", None)
        confirm("edit", ui.t("pj.saved", id=ui.plain(pid), version=version,
                             fields="、".join(ui.t(f"col.{k}") for k in changes)))


def save_entry(pid: str, month: date, key: str) -> None:
    """Write the month's progress typed into the entry form (its submit callback)."""
    completed, physical = st.session_state.get(key + "completed"), st.session_state.get(key + "physical")
    entry = {"project_id": pid, "month": month,
             "completed_wan": None if completed is None else Decimal(f"{completed:.2f}"),
             "physical_pct": None if physical is None else Decimal(f"{physical:.2f}"),
             "problems": (st.session_state.get(key + "problems") or "").strip() or None,
             "problem_level": st.session_state.get(f"{key}level_{LANG}")}
    try:
        with ui.write_connection() as con:
            outcome = edits.record_progress(con, entry, user=ui.user())  # type: ignore[arg-type]
    except REFUSED as exc:
        refused("entry", exc)
    else:
        confirm("entry", ui.t(f"pj.entered.{outcome}", id=ui.plain(pid), month=fmt_month(month)))


def same(a: Any, b: Any) -> bool:
    """Form value equals stored value (blank text = NULL, amounts to the cent)."""
    if isinstance(a, Decimal | float) or isinstance(b, Decimal | float):
        return a is not None and b is not None and round(Decimal(a), 2) == round(Decimal(b), 2)
    return (a or None) == (b or None) if isinstance(a, str | None) and isinstance(b, str | None) else a == b


def show_refusal(form: str) -> None:
    """A write of ``form`` refused in its callback: the sentence, and the row-level reasons when there are any."""
    kept = st.session_state.pop(f"pj_{form}_refused", None)
    if kept is None:
        return
    message, errors = kept
    st.error(ui.plain(message), icon=":material/block:")
    if isinstance(errors, pl.DataFrame) and errors.height:
        st.dataframe(errors.select("column", "value", "reason"), hide_index=True,
                     column_config={"column": ui.t("im.col.column"), "value": ui.t("im.col.value"),
                                    "reason": ui.t("im.col.reason")})


def role_note(unit_id: str | None) -> str:
    """Why the current user may not change this (a project of ``unit_id``, or any)."""
    if closed:
        return ui.t("ui.closed_form", year=year, current=ui.current_year())
    if me is not None and me.role == "unit" and unit_id is not None:
        return ui.t("pj.no_right_unit", unit=ui.unit_name(me.unit_id))
    role = (access.ROLE_LABELS.get(me.role, me.role) if not EN else me.role) if me else "—"
    return ui.t("pj.no_right", role=role)


# ---------------------------------------------------------------- new project
can_create = access.can(me, "create_project") and not closed
with st.expander(ui.t("pj.new"), icon=":material/add:"):
    if not can_create:
        st.caption(role_note(None))
    nonce = st.session_state.setdefault("pj_new_nonce", 0)
    own_units = [me.unit_id] if me is not None and me.role == "unit" and me.unit_id else ui.unit_options()
    with st.form("pj_new_form", border=False):
        new_keys = project_fields(f"pj_n{nonce}_", {"unit_id": own_units[0]} if len(own_units) == 1 else {},
                                  new=True, unit_options=own_units)
        st.form_submit_button(ui.t("pj.create"), type="primary", disabled=not can_create, key="pj_new_submit",
                              on_click=save_new, args=(new_keys, nonce))
    show_refusal("new")

# ---------------------------------------------------------------- choosing a project
ids = table["project_id"]
picked_rows = list(event.selection.rows)
if picked_rows and picked_rows != st.session_state.get("pj_last_rows") and picked_rows[0] < ids.len():
    st.session_state["pj_pick"] = ids[picked_rows[0]]
st.session_state["pj_last_rows"] = picked_rows
names = dict(window.rows.select("project_id", "name").iter_rows())
names |= dict(rows.select("project_id", "name").iter_rows())  # a page past the first PICK_LIMIT rows
picked = st.session_state.get("pj_pick")
facts = None
if picked and picked not in names:  # chosen elsewhere (a new project, another page): read by its id
    facts = ui.cached(listing.project_facts, picked, as_of=as_of)
    if facts is not None:
        names = {picked: facts["name"], **names}
if not names:
    st.info(ui.t("pj.none"), icon=":material/filter_alt_off:")
    st.stop()

st.divider()
pid: str = st.selectbox(ui.t("pj.pick"), list(names), format_func=lambda p: f"{p} · {names[p]}", key="pj_pick",
                        help=ui.t("pj.pick_help", n=PICK_LIMIT))
project = ui.cached(edits.get_project, pid)
if project is None:
    st.warning(ui.t("pj.gone", id=ui.plain(pid)))
    st.stop()
listed = rows.filter(pl.col("project_id") == pid)
if not listed.height:
    listed = window.rows.filter(pl.col("project_id") == pid)
if listed.height:
    facts = listed.row(0, named=True)
elif facts is None or facts["project_id"] != pid:
    facts = ui.cached(listing.project_facts, pid, as_of=as_of)
if facts is None:  # not a project of this plan year
    st.warning(ui.t("pj.gone", id=ui.plain(pid)))
    st.stop()

# ---------------------------------------------------------------- the project's facts
st.subheader(ui.plain(project["name"]))
m = st.columns(5)
# figures of the chosen plan year: a closed year's plan and totals as they were when it was closed
m[0].metric(ui.t("pj.m.total"), f"{facts['total_investment_wan'] / config.WAN_PER_YI:,.2f}")
m[1].metric(ui.t("pj.m.plan"), f"{facts['annual_plan_wan'] / config.WAN_PER_YI:,.2f}")
m[2].metric(ui.t("pj.m.done"), f"{facts['completed_wan'] / config.WAN_PER_YI:,.2f}",
            help=ui.t("pj.m.done_help", month=fmt_month(as_of), value=ui.yi(facts["expected_wan"], 2)))
flag = facts["flag"]
m[3].metric(ui.t("col.performance"), ui.pct(facts["performance"]),
            delta=flag_text.get(flag) if flag else None, delta_color="off", delta_arrow="off")
m[4].metric(ui.t("pj.m.problems"), ui.t("pj.m.open_months", n=facts["open_problem_months"])
            if facts["open_problems"] else ui.t("pj.m.no_problem"))

c1, c2, c3 = st.columns(3)
c1.markdown(
    f"**{ui.t('col.project_id')}**{SEP}{ui.plain(pid)}  \n"
    f"**{ui.t('col.enterprise')}**{SEP}{ui.plain(dash(project['enterprise']))}  \n"
    f"**{ui.t('col.unit')}**{SEP}{ui.plain(ui.unit_name(project['unit_id']))}  \n"
    f"**{ui.t('col.park')}**{SEP}{ui.plain(dash(project['park']))}"
)
c2.markdown(
    f"**{ui.t('col.chain')}**{SEP}{ui.plain(dash(CHAIN.get(project['chain_id'] or '', project['chain_id'])))}  \n"
    f"**{ui.t('col.node')}**{SEP}{ui.plain(dash(NODE.get(project['node_id'] or '', project['node_id'])))}  \n"
    f"**{ui.t('col.chain_role')}**{SEP}{ui.enum(project['chain_role'])}  \n"
    f"**{ui.t('col.nature')} / {ui.t('col.status')}**{SEP}{ui.enum(project['nature'])} / {ui.enum(project['status'])}"
)
c3.markdown(
    f"**{ui.t('col.leader')}**{SEP}{ui.plain(dash(project['leader']))}（{ui.enum(project['leader_level'])}）  \n"
    f"**{ui.t('pj.period')}**{SEP}{dash(project['start_date'])} → {dash(project['end_date'])}  \n"
    f"**{ui.t('col.tier')}**{SEP}{TIER.get(facts['tier'], facts['tier'])}"
    + (f" · {ui.t('col.is_major')}" if project["is_major"] else "") + "  \n"
    f"**{ui.t('col.version')}**{SEP}{project['version']} · "
    + ui.t("pj.updated", who=ui.plain(project["updated_by"]), at=f"{project['updated_at']:%Y-%m-%d %H:%M}")
)
if project["note"]:
    st.caption(f"{ui.t('col.note')}{SEP}{ui.plain(project['note'])}")

TAB_LABELS = [ui.t("pj.tab.progress"), ui.t("pj.years"), ui.t("pj.tab.problems"), ui.t("pj.tab.history"),
              ui.t("pj.tab.edit"), ui.t("pj.tab.entry")]
# only the open tab is drawn (a rerun when another is picked): a save draws its form again, not the
# project's chart, years, history and the other form; the tab picked stays open across reruns and
# saves, a confirmation under the form's button
tab_progress, tab_years, tab_problems, tab_history, tab_edit, tab_entry = st.tabs(
    TAB_LABELS, key=f"pj_tab_{LANG}", on_change="rerun")
progress = ui.cached(edits.project_progress, pid)


in_year = progress.filter(pl.col("month").dt.year() == year)
plan = float(facts["annual_plan_wan"])
# the project rules' own seasonal share (macro seasonal_share), not a copy
expected = ui.cached_on(ui.rules_key(), targets.expected_curve, plan_wan=plan, active_from=int(facts["active_from"]),
                        active_to=int(facts["active_to"]))


def progress_chart() -> alt.LayerChart:
    """The project's months of the plan year: completed, cumulative and the seasonal expectation."""
    scale, unit = (config.WAN_PER_YI, ui.t("unit.yi")) if plan >= config.WAN_PER_YI else (1, ui.t("unit.wan"))
    months = pl.DataFrame({"month": [date(year, i, 1) for i in range(1, 13)], "expected": expected})
    last = in_year["month"].max()
    reported = pl.col("month") <= last if last is not None else pl.lit(False)
    curve = (
        months
        .join(in_year.select("month", pl.col("completed_wan").cast(pl.Float64)), on="month", how="left")
        .with_columns(
            pl.col("month").dt.strftime("%Y-%m").alias("label"),
            (pl.col("completed_wan").fill_null(0.0) / scale).alias("monthly"),
            (pl.col("completed_wan").fill_null(0.0).cum_sum() / scale).alias("cumulative"),
            (pl.col("expected") / scale).alias("expected"),
        )
        .with_columns(
            pl.when(reported).then(pl.col("cumulative")).alias("cumulative"),
            pl.when(reported).then(pl.col("monthly")).alias("monthly"),
        )
    )
    series = {"monthly": ui.t("pj.chart.monthly"), "cumulative": ui.t("pj.chart.cumulative"),
              "expected": ui.t("pj.chart.expected")}
    long = (
        curve.unpivot(index="label", on=list(series), variable_name="series", value_name="value")
        .with_columns(pl.col("series").replace(series))
    )
    color = alt.Color("series:N", title=None, legend=alt.Legend(orient="top"),
                      scale=alt.Scale(domain=list(series.values()), range=["#9ecae1", "#1f77b4", "#ff7f0e"]))
    x = alt.X("label:O", title=None, axis=alt.Axis(labelAngle=0))
    y = alt.Y("value:Q", title=unit)
    tooltip = [alt.Tooltip("label:O", title=ui.t("col.month")), alt.Tooltip("series:N", title=" "),
               alt.Tooltip("value:Q", title=unit, format=",.2f")]
    bars = alt.Chart(long).transform_filter(alt.datum.series == series["monthly"]).mark_bar(size=24).encode(
        x=x, y=y, color=color, tooltip=tooltip)
    lines = alt.Chart(long).transform_filter(alt.datum.series != series["monthly"]).mark_line(point=True).encode(
        x=x, y=y, color=color, tooltip=tooltip,
        strokeDash=alt.condition(alt.datum.series == series["expected"], alt.value([6, 4]), alt.value([1, 0])))
    return (bars + lines).properties(height=300)


if tab_progress.open:  # drawn only while its tab is open (st.tabs on_change='rerun')
    with tab_progress:
        # drawn from these values alone: kept while they stay (saving the project's name does not redraw it)
        ui.chart(progress_chart, key="pj_progress_chart", deps=(pid, as_of), width="stretch",
                 content=(year, plan, tuple(expected), tuple(in_year.select("month", "completed_wan").rows())))
        if progress.is_empty():
            st.caption(ui.t("pj.no_progress"))
        else:
            st.dataframe(
                progress.with_columns(pl.col("month").dt.strftime("%Y-%m"),
                                      pl.col("updated_at").dt.strftime("%Y-%m-%d %H:%M"),
                                      enum_col("problem_level")),
                hide_index=True, width="stretch", placeholder="—",
                column_config={"month": ui.t("col.month"), "completed_wan": money(ui.t("col.completed_wan"), format="%.2f"),
                               "physical_pct": ui.t("col.physical_pct"),
                               "problems": st.column_config.TextColumn(ui.t("col.problems"), width="large"),
                               "problem_level": ui.t("col.problem_level"), "updated_by": ui.t("pj.col.updated_by"),
                               "updated_at": ui.t("pj.col.updated_at")},
            )

if tab_years.open:
    with tab_years:
        by_year = ui.cached(monthly.project_years, pid)
        st.markdown(ui.t("pj.cumulative_line", value=f"{facts['cumulative_wan'] / config.WAN_PER_YI:,.2f}",
                         month=fmt_month(as_of)))
        st.caption(ui.t("pj.years_caption"))
        if by_year.is_empty():
            st.caption(ui.t("pj.years_none"))
        else:
            states = {"closed": ui.t("pj.year.closed"), "current": ui.t("pj.year.current"),
                      "history": ui.t("pj.year.history")}
            bars = {"annual_plan_wan": ui.t("pj.year.plan"), "completed_wan": ui.t("pj.year.done")}
            top = max(float(v or 0) for c in bars for v in by_year[c].to_list())
            scale, unit = (config.WAN_PER_YI, ui.t("unit.yi")) if top >= config.WAN_PER_YI else (1, ui.t("unit.wan"))
            long = (
                by_year.select(pl.col("year").cast(pl.String).alias("year"),
                               *(pl.col(c).cast(pl.Float64) / scale for c in bars))
                .unpivot(index="year", on=list(bars), variable_name="series", value_name="value")
                .with_columns(pl.col("series").replace(bars))
            )

            def year_chart() -> alt.Chart:
                """Plan and completion per plan year, side by side."""
                year_tip = [alt.Tooltip("year:N", title=ui.t("pj.col.year")), alt.Tooltip("series:N", title=" "),
                            alt.Tooltip("value:Q", title=unit, format=",.2f")]
                return alt.Chart(long).mark_bar().encode(
                    x=alt.X("year:N", title=None, axis=alt.Axis(labelAngle=0)),
                    xOffset=alt.XOffset("series:N", sort=list(bars.values())),
                    y=alt.Y("value:Q", title=unit),
                    color=alt.Color("series:N", title=None, legend=alt.Legend(orient="top"),
                                    scale=alt.Scale(domain=list(bars.values()), range=["#c9d8e8", "#1f77b4"])),
                    tooltip=year_tip,
                ).properties(height=200, width=max(160, 110 * by_year.height))

            st.dataframe(
                by_year.select(
                    pl.col("year"),
                    pl.col("year_state").replace_strict(states, default=pl.col("year_state")),
                    pl.when(pl.col("in_plan") & pl.col("annual_plan_wan").is_null())
                    .then(pl.lit(ui.t("pj.year.none_plan")))
                    .otherwise((pl.col("annual_plan_wan").cast(pl.Float64) / config.WAN_PER_YI).round(2).cast(pl.String))
                    .alias("plan"),
                    (pl.col("completed_wan").cast(pl.Float64) / config.WAN_PER_YI).round(2).alias("done"),
                    "plan_ratio",
                    (pl.col("cumulative_wan").cast(pl.Float64) / config.WAN_PER_YI).round(2).alias("cumulative"),
                ),
                hide_index=True, width="stretch", placeholder="—", key="pj_years_table",
                column_config={"year": st.column_config.NumberColumn(ui.t("pj.col.year"), format="%d"),
                               "year_state": ui.t("pj.col.year_state"), "plan": ui.t("pj.col.year_plan_yi"),
                               "done": money(ui.t("pj.col.year_done_yi"), format="%.2f"),
                               "plan_ratio": money(ui.t("pj.col.year_ratio"), format="percent"),
                               "cumulative": money(ui.t("pj.m.cumulative"), format="%.2f")},
            )
            ui.chart(year_chart, key="pj_years_chart", deps=(pid,))

if tab_problems.open:
    with tab_problems:
        if facts["open_problems"]:
            st.warning(ui.t("pj.open_problem", since=fmt_month(facts["open_problem_since"]),
                            level=ui.enum(facts["open_problem_level"]), text=ui.plain(facts["open_problems"])),
                       icon=":material/report:")
        with_problems = progress.filter(pl.col("problems").str.strip_chars().fill_null("") != "")
        if with_problems.is_empty():
            st.caption(ui.t("pj.no_problems"))
        else:
            st.dataframe(with_problems.select(pl.col("month").dt.strftime("%Y-%m"), "problems", enum_col("problem_level")),
                         hide_index=True, width="stretch", placeholder="—",
                         column_config={"month": ui.t("col.month"), "problems": ui.t("col.problems"),
                                        "problem_level": ui.t("col.problem_level")})

if tab_history.open:
    with tab_history:
        # the project's own rows of the audit log, formatted by the library (portfolio/auditview.py)
        h_filter = auditview.Filter(project=pid)
        h_total = ui.cached(auditview.audit_count, me, h_filter)
        history = ui.cached(auditview.audit_frame, me, h_filter, lang=ui.lang())
        if history.is_empty():
            st.caption(ui.t("audit.none"))
        else:
            st.caption(ui.t("pj.history_count", n=f"{h_total:,}")
                       + (" " + ui.t("audit.x.capped", n=f"{history.height:,}", total=f"{h_total:,}")
                          if h_total > history.height else ""))
            h_cols = auditview.headers(ui.lang())
            h_event = st.dataframe(auditview.one_line(history, ui.lang()).drop(h_cols["project"]), hide_index=True,
                                   width="stretch", key="pj_history_table", on_select="rerun",
                                   selection_mode="single-row",
                                   column_config={h: st.column_config.TextColumn(width=auditview.WIDTHS[c])
                                                  for c, h in h_cols.items() if c != "project"})
            h_picked = h_event.selection.rows if h_event is not None else []
            if h_picked and h_picked[0] < history.height:
                h_entry = history.row(h_picked[0], named=True)
                with st.container(border=True):  # the chosen entry, one line per changed field
                    st.caption(" · ".join(h_entry[h_cols[c]] for c in ("at", "action", "object", "actor")))
                    st.text(h_entry[h_cols["changes"]])
            else:
                st.caption(ui.t("audit.pick"))
        ui.audit_download(me, h_filter, h_total, key="pj_history_xlsx")

if tab_edit.open:
    with tab_edit:
        can_edit = access.can(me, "edit_project", unit_id=project["unit_id"]) and not closed
        base = st.session_state.get("pj_edit_base")
        if base is None or base["project_id"] != pid:
            base = {"project_id": pid, "version": project["version"], "values": project}
            st.session_state["pj_edit_base"] = base
        if not can_edit:
            st.caption(role_note(project["unit_id"]))
        if project["version"] != base["version"]:
            st.warning(ui.t("pj.changed_meanwhile", who=ui.plain(project["updated_by"]), version=project["version"],
                            base=base["version"]), icon=":material/sync_problem:")
            st.button(ui.t("pj.reload"), key="pj_reload", icon=":material/refresh:",
                      on_click=lambda: st.session_state.pop("pj_edit_base", None))
        st.caption(ui.t("pj.edit_help", version=base["version"]))
        with st.form("pj_edit_form", border=False):
            edit_keys = project_fields(f"pj_e_{pid}_{base['version']}_", base["values"], new=False,
                                       unit_options=ui.unit_options())
            st.form_submit_button(ui.t("pj.save"), type="primary", disabled=not can_edit, key="pj_edit_submit",
                                  on_click=save_edit, args=(pid, edit_keys, base))
        if st.session_state.pop("pj_edit_unchanged", False):
            st.info(ui.t("pj.no_changes"))
        confirmed_here("edit")
        show_refusal("edit")

if tab_entry.open:
    with tab_entry:
        can_enter = access.can(me, "enter_progress", unit_id=project["unit_id"]) and not closed
        if not can_enter:
            st.caption(role_note(project["unit_id"]))
        entry_months = [date(year, i, 1) for i in range(1, 13)]
        if st.session_state.get(f"pj_p_month_{pid}") not in entry_months:  # first draw, or another year picked
            st.session_state[f"pj_p_month_{pid}"] = as_of
        month = st.selectbox(ui.t("col.month"), entry_months, format_func=fmt_month, key=f"pj_p_month_{pid}")
        existing = progress.filter(pl.col("month") == month)
        row = existing.row(0, named=True) if existing.height else {}
        st.caption(ui.t("pj.entry_existing") if row else ui.t("pj.entry_new"))
        with st.form("pj_entry_form", border=False):
            key = f"pj_p_{pid}_{month:%Y%m}_"
            e1, e2, e3 = st.columns(3)
            e1.number_input(ui.t("col.completed_wan"), min_value=0.0, step=100.0, format="%.2f",
                                        value=float(row["completed_wan"]) if row else None, key=key + "completed")
            e2.number_input(ui.t("col.physical_pct"), min_value=0.0, max_value=100.0, step=1.0,
                                       format="%.2f", key=key + "physical",
                                       value=None if row.get("physical_pct") is None else float(row["physical_pct"]))
            levels = [None, *config.PROBLEM_LEVELS]
            e3.selectbox(ui.t("col.problem_level"), levels, index=levels.index(row.get("problem_level")),
                                 format_func=lambda v: "—" if v is None else ENUM[v], key=f"{key}level_{LANG}")
            st.text_area(ui.t("col.problems"), value=row.get("problems") or "", height=68, key=key + "problems")
            st.form_submit_button(ui.t("pj.enter"), type="primary", disabled=not can_enter, key="pj_entry_submit",
                                  on_click=save_entry, args=(pid, month, key))
        confirmed_here("entry")
        show_refusal("entry")
