"""SQL 查询: the read-only console (``sandbox.run_query``), example queries and the schema with comments.

Every query runs on its own read-only, locked-down connection with a timeout, a row cap and a
byte cap (so one result never becomes a huge message to the browser); a cut result says
"显示前 N 行，共 M 行" (the sandbox counts the rows when it cuts); a refusal or an engine
error comes back as one sentence (``QueryRefused``), shown as plain text, never as Markdown.
The downloads are built on click and do not rerun the page (a rerun would drop the other
button's deferred file, see app_pages/reports.py). The CSV download neutralises formula cells (``sandbox.to_csv``); the xlsx keeps text as text.
"""

from __future__ import annotations

from typing import Any

import polars as pl
import streamlit as st

from app_pages import ui
from portfolio import export, sandbox

EN = ui.lang() == "en"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
#: The most result one page run may hold (Arrow bytes): well below Streamlit's message limit.
MAX_BYTES = 32 * 2**20


def example_title(example: dict[str, str]) -> str:
    """The example's title: its first comment line, or in English its second when there is one."""
    comments = [line.lstrip("-").strip() for line in example["sql"].splitlines() if line.startswith("--")]
    comments = [c for c in comments if c]
    return comments[1] if EN and len(comments) > 1 else example["title"]


def load(sql: str) -> None:
    """Put ``sql`` into the editor (a callback: runs before the editor is drawn)."""
    st.session_state["sq_sql"] = sql


def run(sql: str, timeout: float, max_rows: int) -> None:
    """Run the editor's SQL and keep the outcome for the following reruns (downloads rerun the page)."""
    ui.release()  # the sandbox opens the file with its own settings, which DuckDB refuses beside another open
    try:
        result = sandbox.run_query(ui.db_path(), sql, timeout=timeout, max_rows=max_rows, max_bytes=MAX_BYTES)
    except sandbox.QueryRefused as exc:
        st.session_state["sq_outcome"] = {"error": str(exc), "timeout": isinstance(exc, sandbox.QueryTimeout)}
    else:
        st.session_state["sq_outcome"] = {"result": result}


examples = sandbox.example_queries()
st.session_state.setdefault("sq_sql", examples[0]["sql"] if examples else "select * from v_unit_progress")
st.title(ui.t("sq.title"))
st.caption(ui.t("sq.intro"))

# SQL reads best in a fixed-width font (the editor's container carries its key as a class).
st.html("<style>.st-key-sq_sql textarea { font-family: 'Source Code Pro', 'Noto Sans Mono CJK SC', monospace;"
        " font-size: 0.85rem; white-space: pre; overflow-wrap: normal; overflow-x: auto; }</style>")
editor, browser = st.columns([5, 3], gap="medium")

# ---------------------------------------------------------------- schema browser
with browser:
    st.markdown(f"**{ui.t('sq.schema')}**")
    schema = ui.cached(sandbox.schema_frame)
    objects = schema.unique(["object_type", "object_name"], maintain_order=True).select(
        "object_type", "object_name", "object_comment")
    comment = dict(zip(objects["object_name"], objects["object_comment"].fill_null(""), strict=True))
    kind = dict(zip(objects["object_name"], objects["object_type"], strict=True))
    tables = [n for n in objects["object_name"] if kind[n] == "table"]
    views = [n for n in objects["object_name"] if kind[n] == "view"]
    st.caption(ui.t("sq.schema_help", tables=len(tables), views=len(views)))
    labels = {n: ui.t("sq.object_label", name=n, kind=ui.t(f"sq.{kind[n]}")) for n in views + tables}
    picked = st.selectbox(ui.t("sq.object"), views + tables, format_func=labels.get, key=f"sq_object_{ui.lang()}")
    if picked:
        st.caption(ui.plain(comment[picked] or "—"))
        columns = schema.filter(pl.col("object_name") == picked).select("column_name", "data_type", "column_comment")
        st.dataframe(columns, hide_index=True, width="stretch", height=320,
                     column_config={"column_name": st.column_config.TextColumn(ui.t("sq.col.name"), width="small"),
                                    "data_type": st.column_config.TextColumn(ui.t("sq.col.type"), width="small"),
                                    "column_comment": st.column_config.TextColumn(ui.t("sq.col.comment"),
                                                                                  width="large")})
        st.button(ui.t("sq.select_from", name=picked), key="sq_select_from", icon=":material/input:",
                  on_click=load, args=(f"select *\nfrom {picked}\nlimit 100",))

# ---------------------------------------------------------------- editor
with editor:
    titles = {e["name"]: example_title(e) for e in examples}
    sql_of = {e["name"]: e["sql"] for e in examples}
    e1, e2 = st.columns([4, 1], vertical_alignment="bottom")
    example = e1.selectbox(ui.t("sq.examples"), list(titles), format_func=titles.get, key=f"sq_example_{ui.lang()}")
    e2.button(ui.t("sq.load"), key="sq_load", icon=":material/edit_note:", width="stretch",
              on_click=load, args=(sql_of.get(example or "", ""),), disabled=example is None)
    sql = st.text_area(ui.t("sq.sql"), key="sq_sql", height=300, help=ui.t("sq.sql_help"))
    c1, c2, c3 = st.columns([1, 1, 1], vertical_alignment="bottom")
    timeout = c1.number_input(ui.t("sq.timeout"), min_value=1, max_value=600, value=int(sandbox.DEFAULT_TIMEOUT_S),
                              step=5, key="sq_timeout")
    max_rows = c2.number_input(ui.t("sq.max_rows"), min_value=1, max_value=1_000_000,
                               value=sandbox.DEFAULT_MAX_ROWS, step=1000, key="sq_max_rows")
    if c3.button(ui.t("sq.run"), type="primary", key="sq_run", icon=":material/play_arrow:", width="stretch"):
        with st.spinner(ui.t("sq.running")):
            run(sql, float(timeout), int(max_rows))

# ---------------------------------------------------------------- result
outcome: dict[str, Any] | None = st.session_state.get("sq_outcome")
if outcome is None:
    st.info(ui.t("sq.hint"), icon=":material/terminal:")
elif "error" in outcome:
    st.error(ui.plain(outcome["error"]), icon=":material/timer_off:" if outcome["timeout"] else ":material/block:")
else:
    result: sandbox.QueryResult = outcome["result"]
    frame = result.frame
    st.caption(ui.t("sq.rows", n=f"{frame.height:,}", s=f"{result.elapsed_s:.2f}"))
    # a cut result says how many rows the query has in all (counted by the sandbox, docs/sql.md)
    shown, total = f"{frame.height:,}", f"{result.total:,}"
    if result.truncated and not result.total_exact:
        st.warning(ui.t("sq.capped_at_least", n=shown, total=total), icon=":material/content_cut:")
    elif result.truncated_by == "bytes":
        st.warning(ui.t("sq.capped_bytes", n=shown, total=total, size=sandbox.human_bytes(result.max_bytes)),
                   icon=":material/content_cut:")
    elif result.truncated:
        st.warning(ui.t("sq.capped", n=shown, total=total), icon=":material/content_cut:")
    st.dataframe(frame, hide_index=True, width="stretch")
    d1, d2, _ = st.columns([1, 1, 3])
    d1.download_button(ui.t("ui.download_csv"), data=lambda: "\ufeff" + sandbox.to_csv(frame), file_name="query.csv",
                       mime="text/csv", key="sq_csv", icon=":material/download:", width="stretch",
                       on_click="ignore")
    d2.download_button(ui.t("ui.download_xlsx"), data=lambda: export.write_xlsx({"query": frame}) or b"",
                       file_name="query.xlsx", mime=XLSX, key="sq_xlsx", icon=":material/download:", width="stretch",
                       on_click="ignore")
