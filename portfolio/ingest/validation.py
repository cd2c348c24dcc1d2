"""Validation: every cell parsed and every rule checked, one reason per failed check.

:func:`validate` parses a :class:`~portfolio.ingest.reading.Ledger` with the expressions of
:mod:`~portfolio.ingest.parsing`, resolves units, chains and segments against the database's
reference tables, and checks each row against the rules of :func:`_checks`, written as
(field, failing expression, reason): a rule reads like the sentence the user sees. It returns
the valid rows and the errors (row, column, value, reason); nothing is written here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

import duckdb
import polars as pl

from .. import config, store, years
from .catalogue import FIELDS, KEYS, STORED_VALUES, Field
from .errors import FileProblem
from .parsing import (
    NO_PROBLEM_RE,
    PCT,
    chain_key,
    clean_text,
    enum_map,
    half_width,
    lookup_key,
    parse_amount,
    parse_amount_unit,
    parse_bool,
    parse_date,
    parse_growth,
    parse_month,
    parse_pct,
    parse_period,
    parse_year,
    unit_key,
)
from .reading import Ledger

MIN_PROJECT_WAN = Decimal(1000)
#: Excel's limit on the characters in one cell; longer text would be cut off by every export.
MAX_CELL_CHARS = 32_767
#: Blank cells of these present columns take the column default instead of NULL.
_DEFAULTS: dict[str, Any] = {"annual_plan_wan": Decimal(0), "completed_wan": Decimal(0),
                             "output_wan": Decimal(0), "is_major": False, "is_key": False}
_LOOKUP_ONLY = {"enterprises": {"chain_id"}, "projects": {"year"}, "actuals": {"amount_unit"}}
#: The published growth (同比, %) accepted: above -100 (nothing left) and below 1000 (eleven-fold).
GROWTH_RANGE = (Decimal(-100), Decimal(1000))
#: A unit written after an indicator (工业投资（亿元）), in a cell already made half-width.
_METRIC_UNIT_RE = r"[(\[【]?(亿元|万元|元)[)\]】]?$"


@dataclass(frozen=True)
class _Reference:
    units: dict[str, str]
    chains: dict[str, str]
    nodes_in_chain: dict[str, str]  # "chain_id|key" -> node_id
    nodes_unique: dict[str, str]  # key -> node_id when the name is unique across chains
    nodes_ambiguous: list[str]
    node_chain: dict[str, str]
    plan_year: int  # the year a bare month (9月) takes: --year, else the current plan year
    current_year: int = 0
    explicit_year: int | None = None  # --year as given (None: not given)
    closed_before: date | None = None  # months before it belong to closed years: read-only
    closed_years: tuple[int, ...] = ()


def _lookup(frame: pl.DataFrame, key_cols: list[str], value: str, norm: Callable[[pl.Expr], pl.Expr],
            prefix: pl.Expr | None = None) -> pl.DataFrame:
    """All (key, value) pairs with each key normalised; keys naming two values are dropped."""
    parts = [frame.select(norm(pl.col(c).cast(pl.String)).alias("key"), pl.col(value)) for c in key_cols]
    pairs = pl.concat(parts).drop_nulls().unique()
    if prefix is not None:
        pairs = pairs.join(frame.select(value, prefix.alias("_p")), on=value).select(
            pl.concat_str(["_p", "key"], separator="|").alias("key"), pl.col(value))
    return pairs.with_columns(pl.col(value).n_unique().over("key").alias("n"))


#: The content of the tables the name lookups are built from, as a key (a hash sum per table: any
#: row added, removed or changed gives another key). Some milliseconds, where building the
#: lookups takes some tens: a form that saves one row pays for the lookups only when the units,
#: chains or segments changed.
_LOOKUPS_KEY_SQL = """
select (select count(*) from units), (select sum(hash(u)) from units u),
       (select count(*) from chains), (select sum(hash(c)) from chains c),
       (select count(*) from chain_nodes), (select sum(hash(n)) from chain_nodes n)
"""
_Lookups = tuple[dict[str, str], dict[str, str], dict[str, str], dict[str, str], list[str], dict[str, str]]
#: Lookups by the content they were built from (a few: one per database a process serves).
_LOOKUPS: dict[tuple[Any, ...], _Lookups] = {}


def _lookups(con: duckdb.DuckDBPyConnection) -> _Lookups:
    """Units, chains and segments by every name they go by (normalised), built once per content."""
    key = tuple(con.execute(_LOOKUPS_KEY_SQL).fetchall()[0])
    found = _LOOKUPS.get(key)
    if found is not None:
        return found
    units = store.fetch(con, "select unit_id, name, short_name, aliases from units").explode("aliases")
    chains = store.fetch(con, "select chain_id, name, name_en, aliases from chains").explode("aliases")
    nodes = store.fetch(con, "select node_id, chain_id, name, name_en from chain_nodes")
    u = _lookup(units, ["unit_id", "name", "short_name", "aliases"], "unit_id", unit_key)
    c = _lookup(chains, ["chain_id", "name", "name_en", "aliases"], "chain_id", chain_key)
    by_name = _lookup(nodes, ["node_id", "name", "name_en"], "node_id", lookup_key)
    in_chain = _lookup(nodes, ["node_id", "name", "name_en"], "node_id", lookup_key, prefix=pl.col("chain_id"))

    def as_dict(f: pl.DataFrame, value: str) -> dict[str, str]:
        return dict(f.filter(pl.col("n") == 1).select("key", value).iter_rows())

    found = (as_dict(u, "unit_id"), as_dict(c, "chain_id"), as_dict(in_chain, "node_id"), as_dict(by_name, "node_id"),
             by_name.filter(pl.col("n") > 1)["key"].unique().to_list(),
             dict(nodes.select("node_id", "chain_id").iter_rows()))
    if len(_LOOKUPS) >= 8:
        _LOOKUPS.pop(next(iter(_LOOKUPS)), None)
    _LOOKUPS[key] = found
    return found


def _reference(con: duckdb.DuckDBPyConnection, year: int | None = None) -> _Reference:
    units, chains, nodes_in_chain, nodes_unique, nodes_ambiguous, node_chain = _lookups(con)
    current = years.current_year(con)
    closed = tuple(int(r[0]) for r in con.execute(
        "select year from plan_years where closed_at is not null order by year").fetchall())
    return _Reference(
        units=units,
        chains=chains,
        nodes_in_chain=nodes_in_chain,
        nodes_unique=nodes_unique,
        nodes_ambiguous=nodes_ambiguous,
        node_chain=node_chain,
        plan_year=year if year is not None else current,
        current_year=current,
        explicit_year=year,
        closed_before=years.closed_before(con),
        closed_years=closed,
    )


def stored_rows(con: duckdb.DuckDBPyConnection, table: str, keys: pl.DataFrame, columns: list[str]) -> pl.DataFrame:
    """The stored rows whose keys appear in ``keys`` (a semi join inside DuckDB)."""
    key_cols = ", ".join(keys.columns)
    cols = ", ".join(dict.fromkeys([*keys.columns, *columns]))
    con.register("_ingest_keys", keys.unique())
    try:
        return con.sql(f"select {cols} from {table} semi join _ingest_keys using ({key_cols})").pl()
    finally:
        con.unregister("_ingest_keys")


def validate(con: duckdb.DuckDBPyConnection, ledger: Ledger, *,
             allowed_units: set[str] | None = None,
             year: int | None = None) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Parse and check every row: (valid normalised rows with ``_row``, errors row/column/value/reason).

    ``year`` is ``--year``: the plan year of a projects ledger's rows (a 年度 column may name
    others, row by row) and the year of a bare month; None means the current plan year. A
    closed or unopened ``year`` raises :class:`FileProblem` (``years.writable_year``). A
    projects ledger's valid rows carry ``_year``, the plan year each row belongs to."""
    kind = ledger.kind
    if year is not None:
        check_year(con, year)
    ref = _reference(con, year)
    fields = {f.name: f for f in FIELDS[kind] if f.name in ledger.columns}
    raw = ledger.frame.select(
        pl.col("_row"),
        *(clean_text(pl.col(ledger.columns[name])).alias(f"raw_{name}") for name in fields),
    )
    # A unit user's rows belong to their unit: with exactly one unit, a row that names none
    # takes it (an enterprise list without 责任单位 included); otherwise _checks refuses it.
    own = next(iter(allowed_units)) if allowed_units is not None and len(allowed_units) == 1 else None
    if own is not None and kind in ("projects", "enterprises"):
        if "unit_id" not in fields:
            fields["unit_id"] = next(f for f in FIELDS[kind] if f.name == "unit_id")
        fill = pl.col("raw_unit_id").fill_null(pl.lit(own)) if "raw_unit_id" in raw.columns else pl.lit(own)
        raw = raw.with_columns(fill.alias("raw_unit_id"))
    headers = {**{f.name: f.header for f in FIELDS[kind]}, **ledger.columns}
    parsed = raw.with_columns(_parse_expr(f, ledger.units.get(f.name), ref).alias(f.name) for f in fields.values())
    if "node_id" in fields:
        parsed = _resolve_nodes(parsed, ref)
    if kind == "projects":
        parsed = _with_years(con, parsed, ref)
    elif kind == "actuals":
        parsed = _actual_amounts(parsed, ledger.units.get("cumulative_wan"), "amount_unit" in fields)
    parsed = _join_current(con, kind, parsed)
    checks = _checks(kind, fields, allowed_units, config.import_limits(), ref=ref,
                     header_unit=ledger.units.get("cumulative_wan"))
    lazy = parsed.lazy()
    errors = pl.concat(
        [
            lazy.filter(bad).select(
                pl.col("_row").alias("row"),
                pl.lit(headers[name]).alias("column"),
                pl.col(f"raw_{name}").alias("value"),
                (pl.lit(reason) if isinstance(reason, str) else reason.cast(pl.String)).alias("reason"),
                pl.lit(order).alias("_order"),
            )
            for order, (name, bad, reason) in enumerate(checks)
        ],
        how="vertical",
    ).sort("row", "_order").drop("_order").collect()
    keep = [name for name in fields if name not in _LOOKUP_ONLY.get(kind, set())]
    if kind == "projects" and "node_id" in fields and "chain_id" not in keep:
        keep.append("chain_id")
    if kind == "projects":
        keep.append("_year")
    valid = parsed.filter(~pl.col("_row").is_in(errors["row"].unique().implode())).select(
        "_row", *(_store_type(n) for n in keep)
    )
    return valid, errors


def check_year(con: duckdb.DuckDBPyConnection, year: int) -> None:
    """Refuse (:class:`FileProblem`) a --year no import may write: closed, not opened, out of range."""
    if not 2000 <= year <= 2100:
        raise FileProblem(f"年度 {year} 超出可接受的范围（2000–2100）（year out of range）。")
    try:
        years.writable_year(con, year)
    except years.YearError as exc:
        raise FileProblem(str(exc)) from exc


def _with_years(con: duckdb.DuckDBPyConnection, frame: pl.DataFrame, ref: _Reference) -> pl.DataFrame:
    """A projects ledger's rows with ``_year`` (年度, else --year, else the current year) and, for a
    year no row may be written to, ``_year_problem``: the sentence ``years.writable_year`` says."""
    given = pl.col("year") if "year" in frame.columns else pl.lit(None, pl.Int32)
    frame = frame.with_columns(pl.coalesce(given, pl.lit(ref.plan_year, pl.Int32)).alias("_year"))
    problems: dict[int, str] = {}
    for y in frame["_year"].drop_nulls().unique().to_list():  # a few distinct years, not rows
        if not 2000 <= y <= 2100:
            problems[y] = f"年度 {y} 超出可接受的范围（2000–2100）"
            continue
        try:
            years.writable_year(con, y)
        except years.YearError as exc:
            problems[y] = str(exc).rstrip("。")
    return frame.with_columns(
        pl.col("_year").replace_strict(problems, default=None, return_dtype=pl.String).alias("_year_problem"))


def _actual_amounts(frame: pl.DataFrame, header_unit: str | None, has_unit_column: bool) -> pl.DataFrame:
    """The statistics' 本年累计 read in the unit of its row: a 计量单位 column, else the unit written
    after the indicator (工业投资（亿元）), else the header's (本年累计（亿元）), else 万元."""
    after_metric = parse_amount_unit(half_width(pl.col("raw_metric")).str.extract(_METRIC_UNIT_RE, 1))
    row_unit = pl.coalesce(pl.col("amount_unit"), after_metric) if has_unit_column else after_metric
    raw = pl.col("raw_cumulative_wan")
    amount = (pl.when(pl.col("_row_unit") == "亿元").then(parse_amount(raw, "亿元"))
              .when(pl.col("_row_unit") == "元").then(parse_amount(raw, "元"))
              .when(pl.col("_row_unit") == "万元").then(parse_amount(raw, "万元"))
              .otherwise(pl.col("cumulative_wan")))
    return frame.with_columns(row_unit.alias("_row_unit")).with_columns(
        amount.alias("cumulative_wan"), pl.lit(header_unit, pl.String).alias("_header_unit"))


def _cumulative_neighbours(con: duckdb.DuckDBPyConnection, frame: pl.DataFrame) -> pl.DataFrame:
    """Each statistics row with the months before and after it (same metric, same year) among the
    file's rows and the stored ones the file does not replace: 本年累计 must not fall in a year."""
    key = ["month", "metric"]
    rows = frame.filter(pl.all_horizontal(pl.col(c).is_not_null() for c in [*key, "cumulative_wan"])
                        & ~pl.struct(key).is_duplicated()).select(
        "_row", *key, pl.col("cumulative_wan").cast(pl.Decimal(18, 2)))
    year_list = rows["month"].dt.year().unique().to_list()
    stored = store.fetch(con, "select month, metric, cumulative_wan from actuals"
                              " where year(month) in (select unnest(?::integer[]))", [year_list])
    stored = stored.join(rows.select(key), on=key, how="anti").select(
        pl.lit(None, pl.Int64).alias("_row"), *key, pl.col("cumulative_wan").cast(pl.Decimal(18, 2)))
    over = [pl.col("metric"), pl.col("month").dt.year()]
    where = (pl.col("month").dt.strftime("%Y-%m")
             + pl.when(pl.col("_row").is_null()).then(pl.lit("（库中已有）"))
             .otherwise(pl.lit("（第 ") + pl.col("_row").cast(pl.String) + pl.lit(" 行）")))
    seq = pl.concat([rows, stored]).sort("metric", "month").with_columns(
        where.alias("_where"), pl.col("cumulative_wan").cast(pl.String).alias("_text"))
    seq = seq.with_columns(
        pl.col("cumulative_wan").shift(1).over(over).alias("_prev_cum"),
        pl.col("_where").shift(1).over(over).alias("_prev_where"),
        pl.col("_text").shift(1).over(over).alias("_prev_text"),
        pl.col("cumulative_wan").shift(-1).over(over).alias("_next_cum"),
        pl.col("_where").shift(-1).over(over).alias("_next_where"),
        pl.col("_text").shift(-1).over(over).alias("_next_text"),
    ).filter(pl.col("_row").is_not_null())
    return frame.join(seq.select("_row", "_prev_cum", "_prev_where", "_prev_text", "_next_cum", "_next_where",
                                 "_next_text"), on="_row", how="left", maintain_order="left")


def _store_type(name: str) -> pl.Expr:
    e = pl.col(name).fill_null(_DEFAULTS[name]) if name in _DEFAULTS else pl.col(name)
    return e.cast(PCT) if name == "physical_pct" else e


def _parse_expr(f: Field, unit: str | None, ref: _Reference) -> pl.Expr:
    e = pl.col(f"raw_{f.name}")
    match f.type:
        case "id":
            return half_width(e).str.replace_all(r"\s+", "").str.replace(r"^(\d+)\.0+$", "$1")
        case "amount":
            return parse_amount(e, unit)
        case "date":
            return parse_date(e)
        case "month":
            return parse_month(e, default_year=ref.plan_year)
        case "period":
            return parse_period(e, default_year=ref.plan_year)
        case "year":
            return parse_year(e)
        case "growth":
            return parse_growth(e)
        case "amount_unit":
            return parse_amount_unit(e)
        case "pct":
            return parse_pct(e)
        case "bool":
            return parse_bool(e)
        case "enum":
            key = lookup_key(e)
            if f.name == "metric":  # 其中：技术改造投资, 工业投资（亿元）: the indicator itself
                key = key.str.replace(r"^其中[:：]?", "").str.replace(_METRIC_UNIT_RE, "")
            value = key.replace_strict(enum_map(f.name, f.choices), default=None, return_dtype=pl.String)
            stored = STORED_VALUES.get(f.name)
            return value if stored is None else value.replace_strict(stored, default=None, return_dtype=pl.String)
        case "unit":
            return unit_key(e).replace_strict(ref.units, default=None, return_dtype=pl.String)
        case "chain":
            return chain_key(e).replace_strict(ref.chains, default=None, return_dtype=pl.String)
        case "node":
            return lookup_key(e)  # resolved with the chain in _resolve_nodes
    if f.name == "problems":
        # ledgers write 无 / 暂无 / 没有 for "no problem": that is no open problem, not a problem
        return pl.when(lookup_key(e).str.contains(NO_PROBLEM_RE)).then(None).otherwise(e)
    return e


def _resolve_nodes(frame: pl.DataFrame, ref: _Reference) -> pl.DataFrame:
    chain = pl.col("chain_id") if "chain_id" in frame.columns else pl.lit(None, pl.String)
    in_chain = pl.concat_str([chain, pl.col("node_id")], separator="|").replace_strict(
        ref.nodes_in_chain, default=None, return_dtype=pl.String)
    anywhere = pl.col("node_id").replace_strict(ref.nodes_unique, default=None, return_dtype=pl.String)
    resolved = pl.when(chain.is_not_null()).then(in_chain).otherwise(anywhere)
    frame = frame.with_columns(
        resolved.alias("node_id"),
        anywhere.alias("_node_any"),
        pl.col("node_id").is_in(ref.nodes_ambiguous).alias("_node_ambiguous"),
        chain.alias("_chain_given"),
    )
    node_chain = pl.col("node_id").replace_strict(ref.node_chain, default=None, return_dtype=pl.String)
    return frame.with_columns(pl.coalesce(pl.col("_chain_given"), node_chain).alias("chain_id"))


def _join_current(con: duckdb.DuckDBPyConnection, kind: str, frame: pl.DataFrame) -> pl.DataFrame:
    """Attach the stored values the checks need (unit for rights, the other side of cross checks)."""
    if kind == "actuals":
        return _cumulative_neighbours(con, frame)
    ids = frame.select("project_id" if kind != "enterprises" else "enterprise_id").drop_nulls()
    if kind == "progress":
        cur = stored_rows(con, "projects", ids, ["unit_id"])
    elif kind == "projects":
        cur = stored_rows(con, "projects", ids, ["unit_id", "annual_plan_wan", "start_date", "end_date"])
    else:
        cur = stored_rows(con, "enterprises", ids, ["unit_id"])
    cur = cur.rename({c: f"cur_{c}" for c in cur.columns if c not in ids.columns}).with_columns(
        pl.lit(True).alias("_exists"))
    return frame.join(cur, on=ids.columns, how="left", maintain_order="left")


def _checks(kind: str, fields: dict[str, Field], allowed_units: set[str] | None,
            limits: config.ImportLimits | None = None, *, ref: _Reference | None = None,
            header_unit: str | None = None) -> list[tuple[str, pl.Expr, str | pl.Expr]]:
    """Every check as (field, failing-row expression, reason); a row may fail several.

    A reason is a sentence, or an expression when it names the row's own values (a year, a month)."""
    limits = limits or config.import_limits()
    out: list[tuple[str, pl.Expr, str | pl.Expr]] = []
    for name, fd in fields.items():
        raw, val = pl.col(f"raw_{name}"), pl.col(name)
        if fd.required and name not in _DEFAULTS:  # a blank 本月完成投资 means 0, not a missing value
            out.append((name, raw.is_null(), "必填项为空"))
        unparsed = raw.is_not_null() & val.is_null()
        if fd.type in ("text", "id"):
            out.append((name, raw.str.len_chars() > MAX_CELL_CHARS,
                        f"文字超过 {MAX_CELL_CHARS} 个字符（Excel 单元格的上限），导出时会被截断"))
        if fd.type == "amount":
            out.append((name, unparsed, "金额无法识别（可写 3000、3,000、1.5亿、800万元、5000000元）"))
            out.append((name, val < 0, "金额不能为负数"))
        elif fd.type in ("date", "month", "period"):
            out.append((name, unparsed, "日期无法识别（可写 2016.3、2016年3月、2016-03-15、2016/3/15 或 Excel 日期）"))
            out.append((name, ~val.is_between(limits.min_date, limits.max_date),
                        f"日期超出可接受的范围（{limits.min_date.isoformat()} 至 {limits.max_date.isoformat()}）"))
        elif fd.type == "pct":
            out.append((name, unparsed, "形象进度无法识别（应为 0–100 的数字）"))
            out.append((name, (val < 0) | (val > 100), "形象进度应在 0–100 之间"))
        elif fd.type == "bool":
            out.append((name, unparsed, "是/否无法识别（可写 是/否、Y/N、1/0、√）"))
        elif fd.type == "year":
            out.append((name, unparsed, "年度无法识别（应为 2016 这样的四位年份）"))
        elif fd.type == "growth":
            low, high = GROWTH_RANGE
            out.append((name, unparsed, "同比增长无法识别（可写 12.5、-4.6、12.5%、增长12%、下降4.6%）"))
            out.append((name, (val <= low) | (val >= high), f"同比增长超出合理范围（应大于 {low}%、小于 {high}%）"))
        elif fd.type == "amount_unit":
            out.append((name, unparsed, "计量单位无法识别（可写 亿元、万元、元）"))
        elif fd.type == "enum":
            out.append((name, unparsed, f"{fd.header}无效（可填：{'、'.join(fd.choices)}）"))
        elif fd.type == "unit":
            out.append((name, unparsed, "未知的责任单位"))
        elif fd.type == "chain":
            given = pl.col("_chain_given") if "node_id" in fields else val
            out.append((name, raw.is_not_null() & given.is_null(), "未知的产业链"))
        elif fd.type == "node":
            given_chain = pl.col("raw_chain_id").is_not_null() if "chain_id" in fields else pl.lit(False)
            out.append((name, unparsed & given_chain & pl.col("_node_any").is_not_null(), "产业链环节不属于所填产业链"))
            out.append((name, unparsed & ~given_chain & pl.col("_node_ambiguous"),
                        "环节名称在多条产业链中重复，请同时填写产业链"))
            out.append((name, unparsed & pl.col("_node_any").is_null() & ~pl.col("_node_ambiguous"),
                        "未知的产业链环节"))
    key = list(KEYS[kind])
    if ref is not None:
        out += _year_checks(kind, fields, ref, limits)
    if kind == "projects":
        total = pl.col("total_investment_wan")
        out.append(("total_investment_wan", total.is_between(0, MIN_PROJECT_WAN, closed="left"),
                    "总投资低于1000万元，不属于项目库（只收录总投资1000万元及以上的工业项目）"))
        plan = pl.col("annual_plan_wan").fill_null(0) if "annual_plan_wan" in fields else pl.col("cur_annual_plan_wan")
        out.append(("annual_plan_wan" if "annual_plan_wan" in fields else "total_investment_wan",
                    plan > total, "年度计划投资大于总投资"))
        if "start_date" in fields or "end_date" in fields:
            start = pl.col("start_date") if "start_date" in fields else pl.col("cur_start_date")
            end = pl.col("end_date") if "end_date" in fields else pl.col("cur_end_date")
            out.append(("start_date" if "start_date" in fields else "end_date", start > end, "开工时间晚于竣工时间"))
        same_year = pl.struct("project_id", "_year") if ref is not None else pl.col("project_id")
        out.append(("project_id", pl.col("project_id").is_not_null() & same_year.is_duplicated(),
                    "文件内项目编号重复"))
    elif kind == "progress":
        out.append(("project_id", pl.col("project_id").is_not_null() & pl.col("_exists").is_null(),
                    "项目编号不在项目库中（请先导入项目）"))
        dup = pl.struct(key).is_duplicated() & pl.all_horizontal(pl.col(k).is_not_null() for k in key)
        out.append(("month", dup, "文件内同一项目同一月份重复"))
    elif kind == "actuals":
        out += _actual_checks(fields, header_unit, allowed_units)
    else:
        out.append(("enterprise_id", pl.col("enterprise_id").is_not_null() & pl.col("enterprise_id").is_duplicated(),
                    "文件内企业编号重复"))
    if allowed_units is not None and kind != "actuals":
        # Scope: a stored row may be changed only when it belongs to one of the user's units (a
        # stored row of no unit included), and every row written must belong to one of them.
        allowed = sorted(allowed_units)
        cur_bad = pl.col("_exists").fill_null(False) & ~pl.col("cur_unit_id").is_in(allowed).fill_null(False)
        if kind == "progress":  # progress belongs to its project's unit
            out.append(("project_id", cur_bad, "无权修改其他单位的项目"))
        else:
            has_unit = "unit_id" in fields
            new_bad = pl.col("unit_id").is_not_null() & ~pl.col("unit_id").is_in(allowed) if has_unit else pl.lit(False)
            what = "项目" if kind == "projects" else "企业"
            column = "unit_id" if has_unit else key[0]
            out.append((column, cur_bad | new_bad, f"无权修改其他单位的{what}"))
            if kind == "enterprises":  # projects: 责任单位 is required anyway
                missing = pl.col("raw_unit_id").is_null() if has_unit else pl.col("_exists").is_null()
                out.append((column, missing, "责任单位为空：以责任单位身份导入的行须写明本单位"))
    return [(name, bad.fill_null(False), reason) for name, bad, reason in out]


def _actual_checks(fields: dict[str, Field], header_unit: str | None,
                   allowed_units: set[str] | None) -> list[tuple[str, pl.Expr, str | pl.Expr]]:
    """The statistics' own rules: one row per month and indicator, 本年累计 never falls within a
    year, the row's unit agrees with the header's, and only the city (not a unit) imports them."""
    key = list(KEYS["actuals"])
    out: list[tuple[str, pl.Expr, str | pl.Expr]] = []
    dup = pl.struct(key).is_duplicated() & pl.all_horizontal(pl.col(k).is_not_null() for k in key)
    out.append(("month", dup, "文件内同一月份同一指标重复"))
    cum = pl.col("cumulative_wan")
    falls = " 万元：同一年内累计数不应下降（cumulative falls within the year）"
    out.append(("cumulative_wan", cum < pl.col("_prev_cum"),
                pl.lit("本年累计小于 ") + pl.col("_prev_where") + pl.lit("的 ") + pl.col("_prev_text") + pl.lit(falls)))
    out.append(("cumulative_wan", cum > pl.col("_next_cum"),
                pl.lit("本年累计大于 ") + pl.col("_next_where") + pl.lit("的 ") + pl.col("_next_text") + pl.lit(falls)))
    if header_unit is not None:
        out.append(("cumulative_wan", pl.col("_row_unit").ne(pl.col("_header_unit")),
                    pl.lit("该行的计量单位（") + pl.col("_row_unit") + pl.lit("）与表头的单位（")
                    + pl.col("_header_unit") + pl.lit("）不一致")))
    if allowed_units is not None:
        out.append(("metric", pl.lit(True), "统计局数据是全市的数字，责任单位用户不能导入（admins and bureau only）"))
    return out


def _year_checks(kind: str, fields: dict[str, Field], ref: _Reference,
                 limits: config.ImportLimits) -> list[tuple[str, pl.Expr, str | pl.Expr]]:
    """Rows of a year that cannot be written: a closed or unopened plan year (年度), a month of a
    closed year, progress after the current year's December, a 年度 that contradicts --year.

    A month outside the accepted dates is refused for that alone (one reason is enough)."""
    out: list[tuple[str, pl.Expr, str | pl.Expr]] = []
    if kind == "projects" and "year" in fields:
        out.append(("year", pl.col("_year_problem").is_not_null(), pl.col("_year_problem")))
        if ref.explicit_year is not None:
            out.append(("year", pl.col("year") != ref.explicit_year,
                        pl.lit("年度 ") + pl.col("year").cast(pl.String)
                        + pl.lit(f" 与 --year {ref.explicit_year} 不一致（the row's year differs from --year）")))
    if kind in ("progress", "actuals") and "month" in fields:
        month = pl.col("month")
        sane = month.is_between(limits.min_date, limits.max_date)
        if ref.closed_before is not None:
            y = month.dt.year()
            last = ref.closed_before.year - 1
            reason = (pl.when(y.is_in(list(ref.closed_years)))
                      .then(pl.lit("该月份属于已结转的年度 ") + y.cast(pl.String)
                            + pl.lit("，只读（year ") + y.cast(pl.String) + pl.lit(" is closed）"))
                      .otherwise(pl.lit(f"该月份早于已结转的年度 {last}，只读（before the closed year {last}）")))
            out.append(("month", sane & (month < ref.closed_before), reason))
        if kind == "progress":
            nxt = ref.current_year + 1
            out.append(("month", sane & (month >= date(nxt, 1, 1)),
                        f"月份晚于当前计划年度 {ref.current_year} 年12月；{nxt} 年的进度请在开启 {nxt} 年度"
                        f"（portfolio year open {nxt}）后导入（after the current plan year）"))
    return out
