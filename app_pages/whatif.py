"""情景推演: a scenario of changes on top of the current data, before and after side by side.

The changes live in session state (``wi_changes``, their JSON records); the outcome is computed
by :func:`portfolio.scenarios.apply` on the cached check payload of the month and cached per data
revision, month and scenario (its JSON), so a rerun that changes nothing computes nothing. Every
change of the list happens in a button's callback, before the run that shows it. The data is never
changed; only a saved scenario (its changes) is written, by the bureau and admins.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import polars as pl
import streamlit as st

from app_pages import ui
from portfolio import access, chains, charts, config, i18n, monthly, scenarios, targets
from portfolio.scenarios import Change, Scenario, ScenarioError

METRICS = list(targets.METRICS)
KINDS = ("slip", "stop", "cancel", "scale")
CHANGES_KEY = "wi_changes"  # the scenario's changes: a list of Change.record() dicts
EN = ui.lang() == "en"


# ---------------------------------------------------------------- cached library calls
def outcome_of(p: targets.CheckPayload, *, body: str) -> scenarios.Outcome:
    """The scenario of ``body`` (its JSON record) applied to the payload ``p``."""
    with ui.reading() as con:
        return scenarios.apply(con, Scenario.from_record(json.loads(body)), payload=p)


def outcome(month: date, body: str) -> scenarios.Outcome:
    """:func:`outcome_of` cached per data revision, month and scenario."""
    return ui.derived(outcome_of, ui.payload(month), of=("payload", month), body=body)


def options_of(projects: pl.DataFrame, *, lang: str) -> dict[str, str]:
    """Every project of the payload as the picker lists it, the largest remaining plan first."""
    rows = projects.sort(["remaining_plan_wan", "project_id"], descending=[True, False]).select(
        "project_id", "name", "unit_name", pl.col("chain_name").fill_null("—"),
        (pl.col("remaining_plan_wan").cast(pl.Float64) / 10_000).round(1).alias("rest"))
    return {pid: i18n.t("wi.option", lang, name=name, unit=unit, rest=f"{rest:,.1f}", chain=chain, id=pid)
            for pid, name, unit, chain, rest in rows.iter_rows()}


def body_of(records: list[dict[str, Any]]) -> str:
    """The scenario's JSON as the cache key (its name does not change the outcome)."""
    return json.dumps({"changes": records}, ensure_ascii=False, sort_keys=True)


# ---------------------------------------------------------------- the list of changes (callbacks)
def changes() -> list[dict[str, Any]]:
    return list(st.session_state.get(CHANGES_KEY, []))


def try_changes(new: list[dict[str, Any]], projects: pl.DataFrame, where: str) -> bool:
    """Keep ``new`` as the scenario's changes if the library accepts them; else its sentence at ``where``."""
    try:
        scenarios.validate(Scenario.from_record({"changes": new}), projects)
    except ScenarioError as exc:
        st.session_state[f"wi_error_{where}"] = str(exc)
        return False
    st.session_state[CHANGES_KEY] = new
    st.session_state["wi_changed"] = True  # the run that shows it says the result in a toast
    return True


def add_change(month: date) -> None:
    pid = st.session_state.get("wi_pick")
    if not pid:
        st.session_state["wi_error_change"] = ui.t("wi.pick_first")
        return
    kind = st.session_state.get("wi_kind") or "slip"
    record: dict[str, Any] = {"kind": kind, "project_id": pid}
    if kind == "slip":
        record["months"] = int(st.session_state.get("wi_months") or 0)
    if kind == "scale":
        record["factor"] = float(st.session_state.get("wi_factor") or 0.0)
    kept = [c for c in changes() if c["project_id"] != pid]  # a later change of a project replaces it
    if try_changes([*kept, record], ui.projects(month), "change"):
        st.session_state["wi_pick"] = None


def add_project(month: date) -> None:
    start = st.session_state.get("wi_add_start")
    node = st.session_state.get("wi_add_node")
    chain_id = node.split(".", 1)[0] if node else None
    row = {
        "project_id": (st.session_state.get("wi_add_id") or "").strip(),
        "name": (st.session_state.get("wi_add_name") or "").strip(),
        "unit_id": st.session_state.get("wi_add_unit"),
        "chain_id": chain_id, "node_id": node,
        "annual_plan_wan": st.session_state.get("wi_add_plan"),
        "total_investment_wan": st.session_state.get("wi_add_total") or None,
        "start_date": start.isoformat() if isinstance(start, date) else None,
        "status": "谋划",
    }
    record = {"kind": "add", "project_id": row["project_id"], "row": row}
    kept = [c for c in changes() if c["project_id"] != row["project_id"]]
    try_changes([*kept, record], ui.projects(month), "add")


def remove_change(index: int) -> None:
    kept = changes()
    if 0 <= index < len(kept):
        kept.pop(index)
    st.session_state[CHANGES_KEY] = kept
    st.session_state["wi_changed"] = True


def clear_changes() -> None:
    st.session_state[CHANGES_KEY] = []
    st.session_state["wi_changed"] = True


def save_scenario(records: list[dict[str, Any]]) -> None:
    """Save the scenario under the name typed (its button's callback): a toast and the message at the button."""
    name = st.session_state.get("wi_name") or ""
    scenario = Scenario(changes=Scenario.from_record({"changes": records}).changes, name=name,
                        note=st.session_state.get("wi_note") or "")
    current = ui.user()
    try:
        access.require(current, "save_scenario")
        clean = scenarios.check_name(name)
        with ui.write_connection() as con:
            scenarios.save(con, scenario, user=current.label if current else "?")
    except (ScenarioError, access.PermissionDenied) as exc:
        st.session_state["wi_error_save"] = str(exc)
        return
    message = ui.t("wi.saved", name=ui.plain(clean), n=len(records))
    st.session_state["wi_toast"] = message
    st.session_state["wi_here"] = ("save", message)
    st.session_state["wi_open"] = clean


def open_scenario() -> None:
    """Replace the changes by a saved scenario's (its button's callback)."""
    name = st.session_state.get("wi_open")
    if not name:
        return
    try:
        with ui.reading() as con:
            scenario = scenarios.load(con, name)
    except ScenarioError as exc:
        st.session_state["wi_error_open"] = str(exc)
        return
    st.session_state[CHANGES_KEY] = [c.record() for c in scenario.changes]
    st.session_state["wi_name"] = scenario.name or name
    st.session_state["wi_note"] = scenario.note
    st.session_state["wi_pick"] = None
    message = ui.t("wi.opened", name=ui.plain(scenario.name or name), n=len(scenario.changes))
    st.session_state["wi_toast"] = message
    st.session_state["wi_here"] = ("open", message)


def shown_error(where: str) -> None:
    """A refused change's or save's sentence, once, where it was asked for."""
    text = st.session_state.pop(f"wi_error_{where}", None)
    if text:
        st.error(ui.plain(text), icon=":material/error:")


def confirmed_here(where: str) -> None:
    here = st.session_state.get("wi_here")
    if here is not None and here[0] == where:
        st.session_state.pop("wi_here", None)
        st.success(here[1], icon=":material/check_circle:")


# ---------------------------------------------------------------- formats
def yi(column: str) -> pl.Expr:
    """A 万元 column in 亿元, one decimal."""
    return (pl.col(column).cast(pl.Float64) / 10_000).round(1)


def signed_yi(wan: Any) -> str:
    """A change in 万元 as signed 亿元 with one decimal: -319,405 → '-31.9 亿元'."""
    value = float(wan or 0.0)
    sign = "-" if value < -0.5 else "+"
    return f"{sign}{ui.yi(abs(value))}"


STATUS = {s: ui.t(f"status.{s}") for s in ("on_track", "at_risk", "off_track")}


def chain_names() -> dict[str, str]:
    nodes, _edges = ui.cached(chains.load_definition)
    return dict(nodes.select("chain", "chain_en").unique().iter_rows()) if EN else {}


# ---------------------------------------------------------------- the page
toast = st.session_state.pop("wi_toast", None)
if toast:
    st.toast(toast, icon=":material/check_circle:")

st.title(ui.t("wi.title"))
st.caption(ui.t("wi.lead"))
c1, c2 = st.columns([2, 3], vertical_alignment="bottom")
with c1:
    month = ui.month_picker("wi_month")
metric = c2.segmented_control(ui.t("wi.metric"), METRICS, format_func=lambda m: ui.t(f"metric.{m}"),
                              default=METRICS[0], required=True, key="wi_metric")
payload = ui.payload(month)
projects = ui.projects(month)
labels = ui.derived(options_of, projects, of=("payload", month), lang=ui.lang())

# ---------------------------------------------------------------- changes
st.header(ui.t("wi.changes"))
p1, p2, p3 = st.columns([5, 2, 2], vertical_alignment="bottom")
p1.selectbox(ui.t("wi.pick"), list(labels), index=None, format_func=labels.__getitem__, key="wi_pick",
             placeholder=ui.t("wi.pick_placeholder"))
kind = p2.selectbox(ui.t("wi.kind"), KINDS, format_func=lambda k: ui.t(f"wi.kind.{k}"), key="wi_kind")
if kind == "slip":
    p3.number_input(ui.t("wi.months"), min_value=None, max_value=None, value=3, step=1, key="wi_months")
elif kind == "scale":
    # not bounded here: the library says what is allowed, in its own sentence
    p3.number_input(ui.t("wi.factor"), value=0.5, step=0.1, format="%.2f", key="wi_factor")
else:
    p3.caption(ui.t("wi.no_value"))
st.button(ui.t("wi.add_change"), key="wi_add_change", icon=":material/add:", on_click=add_change, args=(month,))
shown_error("change")

with st.expander(ui.t("wi.add_title"), icon=":material/add_business:"):
    nodes, _edges = ui.cached(chains.load_definition)
    node_labels: dict[str | None, str] = {None: ui.t("wi.add.no_node")}
    node_labels.update({nid: f"{chain} · {name}" for nid, chain, name in nodes.select(
        "node_id", "chain_en" if EN else "chain", "name_en" if EN else "name").iter_rows()})
    year_months = [date(month.year, m, 1) for m in range(1, 13)]
    with st.form("wi_add_form", clear_on_submit=False, border=False):
        f1, f2 = st.columns(2)
        f1.text_input(ui.t("wi.add.id"), key="wi_add_id", max_chars=40)
        f2.text_input(ui.t("wi.add.name"), key="wi_add_name", max_chars=60)
        f3, f4 = st.columns(2)
        ui.unit_select(ui.t("wi.add.unit"), key="wi_add_unit", into=f3)
        f4.selectbox(ui.t("wi.add.node"), list(node_labels), format_func=node_labels.__getitem__, key="wi_add_node")
        f5, f6, f7 = st.columns(3)
        f5.number_input(ui.t("wi.add.plan"), min_value=0.0, value=10_000.0, step=1_000.0, key="wi_add_plan")
        f6.number_input(ui.t("wi.add.total"), min_value=0.0, value=50_000.0, step=1_000.0, key="wi_add_total")
        f7.selectbox(ui.t("wi.add.start"), year_months, index=min(month.month, 11), key="wi_add_start",
                     format_func=lambda d: f"{d.year}-{d.month:02d}")
        st.form_submit_button(ui.t("wi.add.submit"), icon=":material/add:", on_click=add_project, args=(month,),
                              key="wi_add_submit")
    shown_error("add")

records = changes()
if not records:
    st.info(ui.t("wi.none"), icon=":material/info:")
else:
    names = dict(projects.select("project_id", "name").iter_rows())
    for i, record in enumerate(records):
        change = Change(kind=record["kind"], project_id=record["project_id"], months=record.get("months"),
                        factor=record.get("factor"), row=record.get("row"))
        name = names.get(change.project_id) or (change.row or {}).get("name") or ""
        r1, r2 = st.columns([3, 1], vertical_alignment="center")
        r1.markdown(f"{i + 1}. {ui.plain(change.describe(ui.lang()))} · {ui.plain(name)}")
        r2.button(ui.t("wi.remove"), key=f"wi_remove_{i}_{change.project_id}", on_click=remove_change, args=(i,),
                  icon=":material/close:")
    st.button(ui.t("wi.clear"), key="wi_clear", on_click=clear_changes, icon=":material/delete_sweep:")

# ---------------------------------------------------------------- before and after
st.header(ui.t("wi.result"))
body = body_of(records)
try:
    result = outcome(month, body)
except ScenarioError as exc:  # a reopened scenario whose project is not in this year, …
    st.error(ui.plain(str(exc)), icon=":material/error:")
    st.stop()
metrics = result.metrics()
if st.session_state.pop("wi_changed", False):
    # the answer where the eye is: the results start below the list of changes
    st.toast("；".join(ui.t("wi.toast_result", metric=ui.t(f"metric.{r['metric']}"), before=ui.yi(r["forecast_wan_before"]),
                           after=ui.yi(r["forecast_wan_after"])) for r in metrics.iter_rows(named=True)),
             icon=":material/insights:")
for row in metrics.iter_rows(named=True):
    st.markdown(ui.t("wi.target_line", metric=ui.t(f"metric.{row['metric']}"), target=ui.yi(row["target_wan"])))
    m1, m2, m3 = st.columns(3)
    m1.metric(ui.t("wi.card.forecast"), ui.yi(row["forecast_wan_after"]), signed_yi(row["forecast_change_wan"]),
              border=True, help=ui.t("wi.card.forecast_help", before=ui.yi(row["forecast_wan_before"]),
                                     low=ui.yi(row["forecast_low_wan_after"]), high=ui.yi(row["forecast_high_wan_after"])))
    p_before, p_after = row["probability_meet_target_before"], row["probability_meet_target_after"]
    m2.metric(ui.t("wi.card.probability"), ui.pct(p_after),
              ui.t("wi.pp", value=f"{(p_after - p_before) * 100:+.1f}"), border=True,
              help=ui.t("wi.card.probability_help", before=ui.pct(p_before)))
    m3.metric(ui.t("wi.card.status"), STATUS.get(row["status_after"], row["status_after"]), border=True,
              help=ui.t("wi.before_after", before=STATUS.get(row["status_before"], row["status_before"]),
                        after=STATUS.get(row["status_after"], row["status_after"])))
    st.caption(ui.t("wi.before_after", before=f"{ui.yi(row['forecast_wan_before'])} · {ui.pct(p_before)} · "
                                              f"{STATUS.get(row['status_before'], row['status_before'])}",
                    after=f"{ui.yi(row['forecast_wan_after'])} · {ui.pct(p_after)} · "
                          f"{STATUS.get(row['status_after'], row['status_after'])}"))

chosen = metrics.filter(pl.col("metric") == metric).row(0, named=True)
band = ("forecast_wan", "forecast_low_wan", "forecast_high_wan")
before = {k: chosen[f"{k}_before"] for k in band}
after = {k: chosen[f"{k}_after"] for k in band}
ui.chart(lambda: charts.scenario_curve(ui.cached(monthly.targets_monthly, as_of=month, metric=metric, year=month.year),
                                       before, after, lang=ui.lang(), width=600, height=280),
         key="wi_curve", deps=(month, metric, body), natural=True, fit=True)
st.caption(ui.t("wi.curve_caption"))

# units and chains that move: the change first, then where and the two forecasts
st.subheader(ui.t("wi.moves"))
chain_en = chain_names()
moved = pl.concat([
    result.units.filter(pl.col("metric") == metric).select(
        pl.lit(ui.t("wi.scope.unit")).alias("scope"), pl.col("unit_name").alias("name"),
        "forecast_wan_before", "forecast_wan_after", "forecast_change_wan", "status_after"),
    result.chains.filter(pl.col("metric") == metric).select(
        pl.lit(ui.t("wi.scope.chain")).alias("scope"),
        pl.col("chain_name").replace_strict({**chain_en, targets.NO_CHAIN: ui.t("tg.no_chain")},
                                            default=pl.col("chain_name"), return_dtype=pl.String).alias("name"),
        "forecast_wan_before", "forecast_wan_after", "forecast_change_wan", "status_after"),
], how="vertical_relaxed").filter(pl.col("forecast_change_wan").abs() > 0.5).sort(
    pl.col("forecast_change_wan").abs(), descending=True)
moved_view = moved.select(
    yi("forecast_change_wan").alias(ui.t("wi.col.delta_yi")),
    pl.col("scope").alias(ui.t("wi.col.scope")),
    pl.col("name").alias(ui.t("wi.col.name")),
    yi("forecast_wan_before").alias(ui.t("wi.col.before_yi")),
    yi("forecast_wan_after").alias(ui.t("wi.col.after_yi")),
    pl.col("status_after").replace_strict(STATUS, default=pl.col("status_after"), return_dtype=pl.String)
    .alias(ui.t("wi.col.status_after")),
)
if moved.is_empty():
    st.caption(ui.t("wi.moves_none"))
else:
    st.dataframe(moved_view, hide_index=True, placeholder="—", key="wi_moves_table")

projects_view = result.projects.select(
    pl.col("text").alias(ui.t("wi.col.change")),
    yi("forecast_change_wan").alias(ui.t("wi.col.delta_yi")),
    pl.col("name").alias(ui.t("wi.col.project")),
    yi("forecast_wan_before").alias(ui.t("wi.col.before_yi")),
    yi("forecast_wan_after").alias(ui.t("wi.col.after_yi")),
    yi("remaining_plan_wan_before").alias(ui.t("wi.col.rest_before_yi")),
    yi("remaining_plan_wan_after").alias(ui.t("wi.col.rest_after_yi")),
    pl.col("unit_name").alias(ui.t("wi.col.unit")),
    pl.col("project_id").alias(ui.t("col.project_id")),
)
if records:
    st.subheader(ui.t("wi.changed_projects"))
    if EN:  # the library's text is Chinese: the English one from the same records
        projects_view = projects_view.with_columns(pl.Series(ui.t("wi.col.change"), [
            Change(kind=c["kind"], project_id=c["project_id"], months=c.get("months"),
                   factor=c.get("factor")).describe("en") for c in records]))
    st.dataframe(projects_view, hide_index=True, placeholder="—", key="wi_projects_table")

# ---------------------------------------------------------------- the chain map
st.subheader(ui.t("wi.map"))
analysis = ui.cached(chains.analysis, year=month.year)
chain_list = dict(analysis.classes.select("chain_id", "chain_en" if EN else "chain").unique(maintain_order=True)
                  .iter_rows())
touched_ids = [c["project_id"] for c in records]
touched_nodes = set(projects.filter(pl.col("project_id").is_in(touched_ids))["node_id"].drop_nulls().to_list())
touched_nodes |= {str(c["row"].get("node_id")) for c in records if c.get("row") and c["row"].get("node_id")}
changed_nodes = touched_nodes | set(result.gaps["node_id"].to_list())
first_chain = next((n.split(".", 1)[0] for n in sorted(changed_nodes) if n.split(".", 1)[0] in chain_list), None)
if st.session_state.get("wi_chain") not in chain_list or st.session_state.get("wi_chain_for") != body:
    # a new scenario shows the chain it touches first
    st.session_state["wi_chain"] = first_chain or next(iter(chain_list))
    st.session_state["wi_chain_for"] = body
chain_id = st.selectbox(ui.t("wi.map_pick"), list(chain_list), format_func=chain_list.get, key="wi_chain")
marked = tuple(sorted(changed_nodes))
map_spec = ui.chart_spec(
    lambda: charts.chain_map(*chains.map_frames_of(analysis, chain=chain_id), lang=ui.lang(), changed=set(marked)),
    key="wi_map", deps=(chain_id, month.year, marked), natural=True)
with st.container(height=int(map_spec["height"]) + 120, border=False):
    ui.draw(map_spec, key="wi_map")
st.caption(ui.t("wi.map_caption"))
segment_names = dict(analysis.classes.select("node_id", "name_en" if EN else "name").iter_rows())
if result.gaps.is_empty():
    st.caption(ui.t("wi.gaps_none"))
else:
    st.markdown(f"**{ui.t('wi.gaps')}**")
    st.dataframe(result.gaps.select(
        pl.col("node_id").replace_strict(segment_names, default=pl.col("node")).alias(ui.t("wi.col.segment")),
        pl.col("kind_before").replace_strict({k: ui.enum(k) for k in config.CHAIN_ROLES}, default=None)
        .fill_null(ui.t("wi.no_gap")).alias(ui.t("wi.col.kind_before")),
        pl.col("kind_after").replace_strict({k: ui.enum(k) for k in config.CHAIN_ROLES}, default=None)
        .fill_null(ui.t("wi.no_gap")).alias(ui.t("wi.col.kind_after")),
    ), hide_index=True, key="wi_gaps_table")

# ---------------------------------------------------------------- the inverse question
st.subheader(ui.t("wi.inverse"))
ranked, needed, gap = scenarios.accelerators(result, metric=metric, top=15)
if gap <= 0:
    st.success(ui.t("wi.inverse_none", surplus=ui.yi(-gap)), icon=":material/check_circle:")
else:
    if needed is not None:
        st.warning(ui.t("wi.inverse_n", gap=ui.yi(gap), n=needed), icon=":material/speed:")
    else:
        st.error(ui.t("wi.inverse_open", gap=ui.yi(gap), potential=ui.yi(ranked["achievable_extra_wan"].sum())),
                 icon=":material/speed:")
    chain_label = pl.col("chain_name").replace_strict(chain_en, default=pl.col("chain_name"), return_dtype=pl.String)
    st.dataframe(ranked.select(
        pl.col("rank").alias(ui.t("wi.col.rank")),
        pl.col("name").alias(ui.t("wi.col.project")),
        yi("achievable_extra_wan").alias(ui.t("wi.col.extra_yi")),
        yi("cumulative_extra_wan").alias(ui.t("wi.col.cumulative_yi")),
        (pl.col("rank") <= (needed or 0)).alias(ui.t("wi.col.closes")),
        yi("remaining_plan_wan").alias(ui.t("wi.col.rest_yi")),
        pl.col("pace").round(2).alias(ui.t("wi.col.pace")),
        pl.col("unit_name").alias(ui.t("wi.col.unit")),
        chain_label.alias(ui.t("wi.col.chain")),
        pl.col("project_id").alias(ui.t("col.project_id")),
    ), hide_index=True, placeholder="—", key="wi_accel_table")
    gaining = scenarios.segments_gaining(ranked, needed)
    if not gaining.is_empty():
        st.markdown(f"**{ui.t('wi.segments')}**")
        st.dataframe(gaining.select(
            yi("extra_wan").alias(ui.t("wi.col.extra_yi")),
            pl.col("node_id").replace_strict(segment_names, default=pl.col("node_id")).alias(ui.t("wi.col.segment")),
            chain_label.alias(ui.t("wi.col.chain")),
            pl.col("projects").alias(ui.t("wi.col.projects")),
        ), hide_index=True, key="wi_segments_table")

ui.download_xlsx(lambda: {ui.t("wi.result"): moved_view, ui.t("wi.changed_projects"): projects_view},
                 ui.export_name(ui.t("wi.export"), as_of=month), key="wi_xlsx", label=ui.t("wi.download"),
                 title=ui.t("wi.export"), as_of=month)

# ---------------------------------------------------------------- save, reopen, compare
st.header(ui.t("wi.saved_title"))
current = ui.user()
may_save = access.can(current, "save_scenario") and not ui.read_only()
s1, s2 = st.columns([2, 3], vertical_alignment="bottom")
s1.text_input(ui.t("wi.name"), key="wi_name", max_chars=60)
s2.text_input(ui.t("wi.note"), key="wi_note", max_chars=200)
st.button(ui.t("wi.save"), key="wi_save", type="primary", icon=":material/save:", on_click=save_scenario,
          args=(records,), disabled=not may_save or not records)
if ui.read_only():
    st.caption(ui.t("wi.save_read_only"))
elif not access.can(current, "save_scenario"):
    st.caption(ui.t("wi.save_denied"))
elif not records:
    st.caption(ui.t("wi.save_empty"))
shown_error("save")
confirmed_here("save")

with ui.reading() as con:  # a few rows, read on every run: a save does not change the data revision
    saved = scenarios.saved(con)
if saved.is_empty():
    st.caption(ui.t("wi.no_saved"))
else:
    saved_labels = {name: ui.t("wi.saved_item", name=name, n=n, who=who or "—", when=f"{when:%Y-%m-%d %H:%M}")
                    for name, n, who, when in saved.select("name", "changes", "saved_by", "saved_at").iter_rows()}
    if st.session_state.get("wi_open") not in saved_labels:
        st.session_state["wi_open"] = next(iter(saved_labels))
    o1, o2 = st.columns([5, 1], vertical_alignment="bottom")
    o1.selectbox(ui.t("wi.open"), list(saved_labels), format_func=saved_labels.__getitem__, key="wi_open")
    o2.button(ui.t("wi.open_button"), key="wi_open_button", on_click=open_scenario, icon=":material/folder_open:")
    shown_error("open")
    confirmed_here("open")

    st.subheader(ui.t("wi.compare"))
    if saved.height < 2:
        st.caption(ui.t("wi.compare_need"))
    else:
        names_list = list(saved_labels)
        k1, k2 = st.columns(2)
        a_name = k1.selectbox(ui.t("wi.compare_a"), names_list, index=0, key="wi_cmp_a")
        b_name = k2.selectbox(ui.t("wi.compare_b"), names_list, index=1, key="wi_cmp_b")
        columns = [ui.t("wi.col.baseline"), f"A · {a_name}", f"B · {b_name}"]
        try:
            with ui.reading() as con:
                picked = [scenarios.load(con, a_name), scenarios.load(con, b_name)]
            compared = [outcome(month, body_of([c.record() for c in s.changes])).metrics() for s in picked]
        except ScenarioError as exc:
            st.error(ui.plain(str(exc)), icon=":material/error:")
        else:
            table: list[dict[str, str]] = []
            base = compared[0].filter(pl.col("metric") == metric).row(0, named=True)
            sides = [(base, "before")] + [(m.filter(pl.col("metric") == metric).row(0, named=True), "after")
                                          for m in compared]
            items = [
                ("wi.row.changes", ["0", *(str(len(s.changes)) for s in picked)]),
                ("wi.row.forecast_yi", [ui.yi(r[f"forecast_wan_{w}"]) for r, w in sides]),
                ("wi.row.range_yi", [f"{ui.yi(r[f'forecast_low_wan_{w}'])}–{ui.yi(r[f'forecast_high_wan_{w}'])}"
                                     for r, w in sides]),
                ("wi.row.change_yi", ["—", *(signed_yi(r["forecast_change_wan"]) for r, _w in sides[1:])]),
                ("wi.row.probability", [ui.pct(r[f"probability_meet_target_{w}"]) for r, w in sides]),
                ("wi.row.status", [STATUS.get(r[f"status_{w}"], r[f"status_{w}"]) for r, w in sides]),
            ]
            for key, values in items:
                table.append({ui.t("wi.col.item"): ui.t(key), **dict(zip(columns, values, strict=True))})
            st.markdown(f"**{ui.t(f'metric.{metric}')}**")
            st.dataframe(pl.DataFrame(table), hide_index=True, key="wi_compare_table")
