"""The audit log as people read it: Chinese headers and actions, one line per changed field, filters, xlsx.

``audit_log`` keeps each change as JSON (``{"completed_wan": "50000.00"}``) for ``undo``; this
module turns the rows a filter selects into a display frame:

==========  ==========================================================================
时间         ``2026-11-30 15:39``
操作         新增 / 修改 / 删除 / 导入（新增） / 导入（修改） / 撤销 / 初始化 / 规则设置 …
项目         the project's code and current name, for rows of projects, progress and plans
对象         项目 / 月度进度 2016-09 / 年度计划 2016 / 用户 zhang@x.cn …
变更内容     one line per changed field: ``年度计划投资：1,004,843.00 万元 → 900,000.00 万元``
操作人       who saved (``张三<zhang@x.cn>``)
批次         the batch (an import, a form save, an undo) the row belongs to
来源         导入 file name / 表单 / 撤销 / 初始化
==========  ==========================================================================

Values are formatted by the field's type in one DuckDB query over the selected rows
(``json_each`` on the old and new JSON, joined to the field catalogue): amounts in 万元 with
thousands separators, percentages with one decimal, dates as ``2016-09`` (the day only when it
is not the first), booleans 是/否, units, chains and segments by name, empty as —. No Python
loop runs per row; user text is made inert by one vectorised replace (control characters as
visible escapes, a line break inside a value as ``↵``), so a value can never fake a line.

Who may read what follows ``access``: the whole log needs ``read_audit`` (administrators); a
project's own history (``project=`` alone, rows of projects, progress and plans only) needs
``view``, as the project's 修改记录 tab has always shown it to whoever sees the project.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import duckdb
import polars as pl

from . import access, export, i18n, ingest, store, textsafe

#: Rows an xlsx export holds at most (the title row says when the filter matched more).
EXPORT_ROWS = 100_000
#: Rows a page of the app shows.
PAGE_ROWS = 200

#: Tables whose rows belong to one project, and how the project is found in their record_id.
PROJECT_TABLES = ("projects", "progress", "plans")

_KIND_OF_TYPE = {"amount": "wan", "pct": "pct", "growth": "pct", "date": "date", "month": "date",
                 "period": "date", "bool": "bool", "unit": "unit", "chain": "chain", "node": "node",
                 "enum": "text", "id": "text", "text": "text", "year": "text", "amount_unit": "text"}

#: Fields no import template holds: (table, field) → kind; their labels are ``audit.f.<field>`` keys.
_EXTRA_FIELDS: dict[str, tuple[tuple[str, str], ...]] = {
    "projects": (("version", "text"),),
    "plans": (("project_id", "text"), ("year", "text"), ("annual_plan_wan", "wan")),
    "users": (("user_id", "text"), ("email", "text"), ("name", "text"), ("role", "role"),
              ("unit_id", "unit"), ("active", "bool")),
    "meta": (("sample", "bool"), ("projects", "text"), ("schema_version", "text")),
    "plan_years": (("plan_year", "text"), ("carried", "text"), ("finished", "text"), ("targets", "config")),
    "rules": (("value", "config"),),
}

_ACTIONS = ("insert", "update", "delete", "init", "config", "upgrade", "year_open")
_TABLES = ("projects", "progress", "plans", "enterprises", "actuals", "users", "rules", "meta", "plan_years")
_UNIT_SUFFIX = re.compile(r"\s*[（(](万元|%|10k yuan)[）)]\s*$")


@dataclass(frozen=True)
class Filter:
    """What a view of the log selects: a person (the stored actor), a project, a batch, a date range."""

    person: str | None = None
    project: str | None = None
    batch: int | None = None
    since: date | None = None
    until: date | None = None


def _label(key: str, lang: str, **values: object) -> str:
    return i18n.t(key, lang, **values)


def field_catalogue(lang: str = i18n.DEFAULT_LANG) -> pl.DataFrame:
    """Every field the log can name: table, field, position, label (without unit) and display kind."""
    rows: list[tuple[str, str, int, str, str]] = []
    for table, fields in ingest.FIELDS.items():
        for pos, f in enumerate(fields):
            text = f.header
            if lang == "en":
                key = next((k for k in (f"audit.f.{table}.{f.name}", f"audit.f.{f.name}", f"col.{f.name}")
                            if k in i18n.CATALOGUE), None)
                text = _label(key, "en") if key else f.name
            kind = "metric" if (table, f.name) == ("actuals", "metric") else _KIND_OF_TYPE.get(f.type, "text")
            rows.append((table, f.name, pos, _UNIT_SUFFIX.sub("", text), kind))
    for table, extra in _EXTRA_FIELDS.items():
        for pos, (name, kind) in enumerate(extra, start=100):
            key = f"audit.f.{table}.{name}"
            rows.append((table, name, pos, _label(key if key in i18n.CATALOGUE else f"audit.f.{name}", lang), kind))
    frame = pl.DataFrame(rows, schema=["tbl", "field", "pos", "label", "kind"], orient="row")
    return frame.unique(["tbl", "field"], keep="first", maintain_order=True)


def _scope(user: access.User | None, f: Filter) -> None:
    """A project's own history needs ``view``; anything wider needs ``read_audit`` (raises PermissionDenied)."""
    if f.project is not None and f.person is None and f.batch is None:
        access.require(user, "view")
    else:
        access.require(user, "read_audit")


def _where(f: Filter) -> tuple[str, dict[str, Any]]:
    clauses: list[str] = []
    params: dict[str, Any] = {}
    if f.person is not None:
        clauses.append("actor = $person")
        params["person"] = f.person
    if f.project is not None:
        clauses.append("((table_name = 'projects' and record_id = $project)"
                       " or (table_name in ('progress', 'plans') and starts_with(record_id, $project || '/')))")
        params["project"] = f.project
    if f.batch is not None:
        clauses.append("batch_id = $batch")
        params["batch"] = int(f.batch)
    if f.since is not None:
        clauses.append("\"at\" >= $since")
        params["since"] = datetime.combine(f.since, datetime.min.time())
    if f.until is not None:
        clauses.append("\"at\" < $until")
        params["until"] = datetime.combine(f.until + timedelta(days=1), datetime.min.time())
    return (" and ".join(clauses) or "true"), params


def audit_count(con: duckdb.DuckDBPyConnection, user: access.User | None, f: Filter = Filter()) -> int:
    """How many audit rows the filter selects."""
    _scope(user, f)
    where, params = _where(f)
    return int(con.execute(f"select count(*) from audit_log where {where}", params).fetchall()[0][0])


def audit_people(con: duckdb.DuckDBPyConnection, user: access.User | None, f: Filter = Filter()) -> list[str]:
    """The people (stored actors) who appear under the filter, for a choice box."""
    _scope(user, f)
    where, params = _where(Filter(project=f.project))
    return [r[0] for r in con.execute(
        f"select distinct actor from audit_log where {where} order by actor", params).fetchall()]


#: One formatted value: ``v`` is the JSON value, ``s`` its text, ``m`` the field's catalogue row.
_VALUE_SQL = """
case
  when kv.v is null or kv.t = 'NULL' then '—'
  when m.kind = 'wan' then coalesce(format('{:,.2f}', try_cast(kv.s as decimal(38,2))) || ' ' || $wan, kv.s)
  when m.kind = 'pct' then coalesce(format('{:.1f}', try_cast(kv.s as decimal(38,4))) || '%', kv.s)
  when m.kind = 'date' and regexp_matches(kv.s, '^\\d{4}-\\d{2}-01([ T]00:00(:00)?)?$') then left(kv.s, 7)
  when m.kind = 'date' and regexp_matches(kv.s, '^\\d{4}-\\d{2}-\\d{2}') then left(kv.s, 10)
  when kv.t = 'BOOLEAN' or m.kind = 'bool' then
    case kv.s when 'true' then $yes when 'false' then $no else kv.s end
  when m.kind = 'unit' then coalesce(u.name, kv.s)
  when m.kind = 'chain' then coalesce(c.name, kv.s)
  when m.kind = 'node' then coalesce(n.name, kv.s)
  when m.kind = 'role' then coalesce($role_labels[list_position($role_keys, kv.s)], kv.s)
  when m.kind = 'metric' then coalesce($metric_labels[list_position($metric_keys, kv.s)], kv.s)
  when kv.t in ('OBJECT', 'ARRAY') or ((m.kind = 'config' or m.kind is null) and regexp_matches(kv.s, '^\\s*[\\[{]'))
    then trim(regexp_replace(regexp_replace(regexp_replace(kv.s, '[{}\\[\\]"]', '', 'g'),
                                            '\\s*:\\s*', '=', 'g'), '\\s*,\\s*', '，', 'g'))
  when kv.t = 'DOUBLE' and try_cast(kv.s as double) = round(try_cast(kv.s as double))
    then format('{:d}', try_cast(kv.s as double)::bigint)
  else kv.s
end
"""

_QUERY = """
with a as (
  select audit_id, "at", actor, action, table_name, record_id, old_values, new_values, source, batch_id
  from audit_log where {where} order by audit_id desc {limit}
),
kv as (
  select a.audit_id, a.table_name, e.key, 'o' as side, e.value as v, e.type as t, json_extract_string(e.value, '$') as s
  from a, json_each(a.old_values) e
  union all
  select a.audit_id, a.table_name, e.key, 'n', e.value, e.type, json_extract_string(e.value, '$')
  from a, json_each(a.new_values) e
),
fv as (
  select kv.audit_id, kv.key, kv.side, kv.v::varchar as raw, coalesce(m.pos, 1000) as pos,
         coalesce(m.label, kv.key) as label, {value} as txt
  from kv
  left join _av_fields m on m.tbl = kv.table_name and m.field = kv.key
  left join units u on m.kind = 'unit' and u.unit_id = kv.s
  left join chains c on m.kind = 'chain' and c.chain_id = kv.s
  left join chain_nodes n on m.kind = 'node' and n.node_id = kv.s
),
pairs as (
  select audit_id, key, min(pos) as pos, min(label) as label,
         max(txt) filter (where side = 'o') as old_txt, max(txt) filter (where side = 'n') as new_txt,
         max(raw) filter (where side = 'o') as old_raw, max(raw) filter (where side = 'n') as new_raw,
         bool_or(side = 'o') as has_old, bool_or(side = 'n') as has_new
  from fv group by audit_id, key
),
lines as (
  select audit_id,
         list(case when has_old and has_new then label || $sep || old_txt || ' → ' || new_txt
                   when has_new then label || $sep || new_txt
                   else label || $sep || old_txt || ' → —' end order by pos, key) as lines
  from pairs
  where case when has_old and has_new then old_raw is distinct from new_raw
             when has_new then coalesce(new_raw, 'null') <> 'null'
             else true end
  group by audit_id
)
select a.audit_id, a."at", a.actor, a.action, a.table_name, a.record_id, a.source, a.batch_id,
       case when a.table_name = 'projects' then a.record_id
            when a.table_name in ('progress', 'plans') then regexp_extract(a.record_id, '^(.*)/[^/]*$', 1) end
         as project_id,
       case when a.table_name in ('progress', 'plans') then regexp_extract(a.record_id, '/([^/]*)$', 1)
            when a.table_name in ('projects') then null
            else a.record_id end as detail,
       p.name as project_name, coalesce(l.lines, []) as lines
from a
left join lines l using (audit_id)
left join projects p on p.project_id = (case when a.table_name = 'projects' then a.record_id
                                             when a.table_name in ('progress', 'plans')
                                               then regexp_extract(a.record_id, '^(.*)/[^/]*$', 1) end)
order by a.audit_id desc
"""

#: Characters made visible in a displayed value: each control or direction-changing character as
#: :func:`textsafe.visible` writes it, a line break as ↵ (a value never fakes a line of its own).
_CANDIDATES = [*range(0x00, 0x20), *range(0x7F, 0xA0), 0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F),
               *range(0x2066, 0x206A), 0x2028, 0x2029]
_INERT = {"\r\n": " ↵ ", "\n": " ↵ ", "\r": " ↵ "} | {
    chr(c): textsafe.visible(chr(c)) for c in _CANDIDATES if chr(c) not in "\r\n" and textsafe.visible(chr(c)) != chr(c)}


def inert(expr: pl.Expr) -> pl.Expr:
    """User text shown on one line: controls and direction overrides as visible escapes, line breaks as ↵."""
    return expr.str.replace_many(list(_INERT), list(_INERT.values()), leftmost=True)  # "\r\n" before "\r"


#: Display widths in pixels for a table of the frame (变更内容 the widest: it is what people read).
WIDTHS = {"at": 112, "action": 72, "project": 140, "object": 100, "changes": 420, "actor": 120, "batch": 48,
          "source": 96}


def one_line(frame: pl.DataFrame, lang: str = i18n.DEFAULT_LANG) -> pl.DataFrame:
    """The frame with each entry's field lines joined by ； (a table cell shows one line; the xlsx keeps the lines)."""
    changes = headers(lang)["changes"]
    return frame.with_columns(pl.col(changes).str.replace_all("\n", "；" if lang != "en" else "; ", literal=True))


def headers(lang: str = i18n.DEFAULT_LANG) -> dict[str, str]:
    """The display frame's columns in their order (the decisive ones first): internal name → header in ``lang``."""
    names = ("at", "action", "project", "object", "changes", "actor", "batch", "source")
    return {n: _label(f"audit.h.{n}", lang) for n in names}


def _raw(con: duckdb.DuckDBPyConnection, f: Filter, lang: str, limit: int | None, offset: int) -> pl.DataFrame:
    where, params = _where(f)
    lim = "" if limit is None else f"limit {int(limit)} offset {int(offset)}"
    query = _QUERY.format(where=where, limit=lim, value=_VALUE_SQL)
    params |= {
        "wan": _label("unit.wan", lang), "yes": _label("audit.yes", lang), "no": _label("audit.no", lang),
        "sep": "：" if lang != "en" else ": ",
        "role_keys": list(access.ROLES),
        "role_labels": [access.ROLE_LABELS[r] if lang != "en" else r for r in access.ROLES],
        "metric_keys": list(ingest.METRIC_LABELS.values()), "metric_labels": list(ingest.METRIC_LABELS),
    }
    con.register("_av_fields", field_catalogue(lang))
    try:
        # a page of rows through one plan (the relation's way binds the query twice); every row
        # (limit None: the download) the relation's way
        return (store.fetch_few if limit is not None else store.fetch)(con, query, params)
    finally:
        con.unregister("_av_fields")


def audit_frame(con: duckdb.DuckDBPyConnection, user: access.User | None, f: Filter = Filter(), *,
                lang: str = i18n.DEFAULT_LANG, limit: int | None = PAGE_ROWS, offset: int = 0) -> pl.DataFrame:
    """The audit rows ``f`` selects, newest first, as people read them (headers in ``lang``, see module doc).

    Every cell is text (— where there is nothing); ``limit=None`` gives every selected row."""
    _scope(user, f)
    raw = _raw(con, f, lang, limit, offset)
    actions = {a: _label(f"audit.a.{a}", lang) for a in _ACTIONS}
    tables = {t: _label(f"audit.t.{t}", lang) for t in _TABLES}
    is_import = pl.col("source").fill_null("").str.starts_with("import:")
    is_undo = pl.col("source").fill_null("") == "undo"
    action = (
        pl.when(is_undo).then(pl.lit(_label("audit.a.undo", lang)))
        .when(is_import & (pl.col("action") == "insert")).then(pl.lit(_label("audit.a.import_insert", lang)))
        .when(is_import & (pl.col("action") == "update")).then(pl.lit(_label("audit.a.import_update", lang)))
        .otherwise(pl.col("action").replace_strict(actions, default=pl.col("action"), return_dtype=pl.String))
    )
    source = (
        pl.when(is_import).then(pl.lit(_label("audit.s.import", lang)) + " "
                                + pl.col("source").str.strip_prefix("import:"))
        .otherwise(pl.col("source").replace_strict(
            {"app": _label("audit.s.app", lang), "undo": _label("audit.s.undo", lang),
             "init": _label("audit.s.init", lang), "access": _label("audit.s.app", lang),
             "cli": _label("audit.s.cli", lang), "upgrade": _label("audit.s.upgrade", lang),
             "schema": _label("audit.s.init", lang)},
            default=pl.col("source"), return_dtype=pl.String))
    )
    obj = pl.concat_str(
        [pl.col("table_name").replace_strict(tables, default=pl.col("table_name"), return_dtype=pl.String),
         pl.col("detail")], separator=" ", ignore_nulls=True)
    project = pl.concat_str([pl.col("project_id"), pl.col("project_name")], separator=" ", ignore_nulls=True)
    cols = headers(lang)
    shown = raw.select(
        pl.col("at").dt.strftime("%Y-%m-%d %H:%M").alias(cols["at"]),
        action.alias(cols["action"]),
        inert(project).alias(cols["project"]),
        inert(obj).alias(cols["object"]),
        pl.col("lines").list.eval(inert(pl.element())).list.join("\n").alias(cols["changes"]),
        inert(pl.col("actor")).alias(cols["actor"]),
        pl.col("batch_id").cast(pl.String).alias(cols["batch"]),
        inert(source).alias(cols["source"]),
    )
    return shown.with_columns(pl.all().fill_null("—").replace("", "—"))


_UNSAFE_NAME = re.compile(r"[\\/:*?\"<>|\x00-\x1f\x7f\s]+")


def _person_name(actor: str) -> str:
    """``张三<zhang@x.cn>`` → ``张三``; an id alone stays itself."""
    return actor.split("<", 1)[0].strip() or actor


def export_name(f: Filter, *, lang: str = i18n.DEFAULT_LANG) -> str:
    """The xlsx file name saying what it holds: 修改记录_项目CC2016-0001.xlsx, 审计日志_张三_2026-11-01至2026-11-30.xlsx."""
    zh = lang != "en"
    only_project = f.project is not None and f.person is None and f.batch is None
    parts = [("修改记录" if zh else "change-history") if only_project else ("审计日志" if zh else "audit-log")]
    if f.project is not None:
        parts.append(("项目" if zh else "project-") + f.project)
    if f.person is not None:
        parts.append(_person_name(f.person))
    if f.batch is not None:
        parts.append(("批次" if zh else "batch-") + str(f.batch))
    if f.since is not None and f.until is not None:
        parts.append(f"{f.since:%Y-%m-%d}{'至' if zh else '_to_'}{f.until:%Y-%m-%d}")
    elif f.since is not None:
        parts.append(f"{f.since:%Y-%m-%d}{'起' if zh else '_onwards'}")
    elif f.until is not None:
        parts.append(f"{'至' if zh else 'to_'}{f.until:%Y-%m-%d}")
    clean = [_UNSAFE_NAME.sub("-", p).strip("-.") or "-" for p in parts]
    return "_".join(clean)[:150] + ".xlsx"


def export_title(f: Filter, *, shown: int, total: int, lang: str = i18n.DEFAULT_LANG,
                 now: datetime | None = None) -> str:
    """The first row of an export: what it holds and as of when (and when rows were left out)."""
    zh = lang != "en"
    only_project = f.project is not None and f.person is None and f.batch is None
    parts = [_label("audit.x.project_title" if only_project else "audit.x.title", lang)]
    if f.project is not None:
        parts.append(_label("audit.x.project", lang, id=f.project))
    if f.person is not None:
        parts.append(_label("audit.x.person", lang, who=_person_name(f.person)))
    if f.batch is not None:
        parts.append(_label("audit.x.batch", lang, n=f.batch))
    if f.since is not None or f.until is not None:
        parts.append(f"{f.since or '…'}{' 至 ' if zh else ' to '}{f.until or '…'}")
    parts.append(_label("audit.x.count", lang, n=f"{total:,}") if shown >= total
                 else _label("audit.x.capped", lang, n=f"{shown:,}", total=f"{total:,}"))
    parts.append(_label("audit.x.as_of", lang, at=f"{now or datetime.now():%Y-%m-%d %H:%M}"))
    return inert_text(" · ".join(parts))


def inert_text(text: str) -> str:
    """:func:`inert` for one string."""
    return str(pl.select(inert(pl.lit(text))).item())


def audit_xlsx(con: duckdb.DuckDBPyConnection, user: access.User | None, f: Filter = Filter(), *,
               lang: str = i18n.DEFAULT_LANG, now: datetime | None = None) -> bytes:
    """The rows ``f`` selects (at most :data:`EXPORT_ROWS`) as an xlsx workbook with a title row and display headers."""
    total = audit_count(con, user, f)
    frame = audit_frame(con, user, f, lang=lang, limit=EXPORT_ROWS)
    sheet = _label("audit.x.sheet", lang)
    title = export_title(f, shown=frame.height, total=total, lang=lang, now=now)
    return export.write_xlsx({sheet: frame}, titles={sheet: title}) or b""
