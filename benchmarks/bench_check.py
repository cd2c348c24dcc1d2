"""Benchmark: check, gaps and the report's data step against hand-written DuckDB and pandas.

    python benchmarks/bench_check.py --sizes 1004 100000 1000000   # updates docs/benchmarks.md
    python benchmarks/bench_check.py --sizes 1004 --repeat 7 --no-write
    python benchmarks/bench_check.py --cache /tmp/portfolio-bench      # where the databases live

Not a test: it measures whatever the library does when it runs. Per size, one fresh process
opens one read-only connection to a sample database (built once with
``store.init_db(path, sample=True, projects=N)`` into the cache folder, outside the repository,
and reused while the schema version and the sample generator stay the same) and times,
interleaved (project, hand, pandas, project, hand, pandas …), three pieces of work three ways:

- ``check``: :func:`portfolio.targets.check_report` against :data:`CHECK_SQL`, one query of the
  headline figures (per metric: target, Σ plan, Σ completed to date, seasonal expectation,
  Σ per-project expectation, Σ point forecast; red/amber/green/stalled/lagging counts; tier
  counts), and :func:`check_pandas`, the same with pandas (tables read with ``.df()``, then
  filters, groupby and merge).
- ``gaps``: :func:`portfolio.chains.gaps_report` against :data:`GAPS_SQL` (coverage, the HHI
  rule, the 补链/增链/丰链 class rule, open gaps, declared roles that disagree, the classes after
  the pipeline is built) and :func:`gaps_pandas`.
- ``report``: :func:`portfolio.report.collect` (no file written) against :func:`report_hand`
  (the check and gap figures above, roll-ups by unit and chain, the month-by-month series and
  the top 20 lagging projects with their names) and :func:`report_pandas`.

The first round is a warm-up, reported apart as ``first``; the medians are of the rounds after
it (5 by default). Within a round the three ways of doing a work run one after the other, in an
order that turns each round (project, hand, pandas; then hand, pandas, project; …), so none of
them always runs right after pandas has freed its gigabytes. The three answers are compared and any
mismatch is printed loudly. The project does more than the hand-written versions (the Monte Carlo range,
by-unit and by-chain checks, 包保, drivers, graph metrics and reasons, files of rows): the ratio
says what that costs over the engine's floor for the same headline figures. The results replace
the section between the ``bench_check`` markers of docs/benchmarks.md; sizes not run this time
keep their previous rows (with their own date and commit).
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DOC = ROOT / "docs" / "benchmarks.md"
BEGIN, END = "<!-- bench_check:begin -->", "<!-- bench_check:end -->"
DATA_MARK = "<!-- bench_check:data "
SIZES = (1004, 100_000, 1_000_000)
AS_OF = date(2016, 9, 1)
DEFAULT_CACHE = Path(os.environ.get("PORTFOLIO_BENCH_CACHE", Path.home() / ".cache" / "portfolio-bench"))
WORKS = ("check", "gaps", "report")
METHODS = ("project", "hand", "pandas")
TOP = 20  # lagging projects the report lists by name

# --------------------------------------------------------------------------- sample databases


def sample_key() -> str:
    """A digest of the sample generator and the reference data: a cached database is reused while it holds."""
    digest = hashlib.sha256()
    for path in sorted((ROOT / "portfolio" / "sample").glob("*.py")):
        digest.update(path.read_bytes())
    for path in sorted((ROOT / "data").glob("*.toml")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:10]


def sample_db(n: int, cache: Path, *, rebuild: bool = False) -> Path:
    """The cached sample database of ``n`` projects, brought to the current schema; built when missing.

    A database of an older schema version is upgraded in place by the library's own path (a
    read-write open), as a user's database would be; one that cannot be is built again. The
    build runs in a child process, so its memory is not counted here."""
    from portfolio import store

    cache.mkdir(parents=True, exist_ok=True)
    path = cache / f"sample-{n}-{sample_key()}.duckdb"
    if path.exists() and not rebuild:
        try:
            with store.connect(path, read_only=True):  # an older schema is upgraded on the way
                return path
        except store.DatabaseLocked:
            raise  # another run is using it: never rebuild under it
        except store.StoreError as exc:
            print(f"{path} cannot be used ({exc}); building it again", file=sys.stderr, flush=True)
    for old in cache.glob(f"sample-{n}-*.duckdb*"):
        old.unlink()
    print(f"building the sample database of {n:,} projects in {path} …", file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c",
                    "import sys; from portfolio import store; "
                    "store.init_db(sys.argv[1], sample=True, projects=int(sys.argv[2]))", str(path), str(n)],
                   check=True, cwd=ROOT)
    print(f"built in {time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)
    return path


# --------------------------------------------------------------------------- hand-written DuckDB

#: The rules in force, read first (one small query): the meta copy of targets.toml and the seasonal profile.
RULES_SQL = """
select max(value) filter (where key = 'rule.flag_green')::double as green,
       max(value) filter (where key = 'rule.flag_amber')::double as amber,
       max(value) filter (where key = 'rule.stalled_months')::double as stalled,
       max(value) filter (where key = 'rule.forecast.prior_strength')::double as prior_strength,
       max(value) filter (where key = 'rule.forecast.prior_ratio')::double as prior_ratio,
       max(value) filter (where key = 'rule.forecast.ratio_floor')::double as floor,
       max(value) filter (where key = 'rule.forecast.ratio_cap')::double as cap,
       from_json(max(value) filter (where key = 'rule.tech_upgrade_natures'), '["VARCHAR"]') as natures,
       [0.0::double] || (select list(cumulative_share::double order by month_no) from seasonal_profile) as cum
from meta
"""


def rule_params(con: Any, sql: str) -> dict[str, Any]:
    """The rules in force as the parameters ``sql`` uses (``$green``, ``$cum`` C(0..12) …, ``$as_of``)."""
    cur = con.sql(RULES_SQL)
    params = dict(zip(cur.columns, cur.fetchall()[0], strict=True)) | {"as_of": AS_OF}
    return {k: v for k, v in params.items() if f"${k}" in sql}


#: One row per project of the plan year of ``$as_of``: plan, completed to date, the seasonal
#: share re-normalised over its active months (docs/forecast.md §五), flag, stall, point forecast
#: (§六), tier and the keys the report groups by. The rules come in as parameters (:func:`rule_params`).
PER_PROJECT = """
with yp as (
    -- the plan year's projects: a plans row for the year, or (the current year) no plans row at all
    select p.* from projects p
    where exists (select 1 from plans x where x.project_id = p.project_id and x.year = year($as_of::date))
       or not exists (select 1 from plans x where x.project_id = p.project_id)
), g as (
    select project_id,
           sum(completed_wan) filter (where month >= date_trunc('year', $as_of::date)) as done,
           max(month) filter (where completed_wan > 0) as last_paid
    from progress
    where month <= $as_of::date
    group by project_id
), w as (
    select p.project_id, p.unit_id, p.chain_id, p.status, p.start_date,
           p.total_investment_wan, p.annual_plan_wan as plan, coalesce(g.done, 0) as done, g.last_paid,
           list_contains($natures::varchar[], p.nature) as tech,
           case when p.start_date is null or year(p.start_date) < year($as_of::date) then 1
                when year(p.start_date) > year($as_of::date) then 13 else month(p.start_date) end as f0,
           case when p.end_date is null or year(p.end_date) > year($as_of::date) then 12
                when year(p.end_date) < year($as_of::date) then 0 else month(p.end_date) end as t0
    from yp p left join g using (project_id)
), s as (
    -- a plan whose dates lie wholly outside the year is expected over the whole year
    select *, year($as_of::date) as y, month($as_of::date) as m,
           case when f0 > t0 and plan > 0 then 1 else f0 end as f,
           case when f0 > t0 and plan > 0 then 12 else t0 end as t
    from w
), sh as (
    -- C(k) = $cum[k + 1]: the share of the project's plan due by month m
    select *,
           round(case when f > t then 0.0
                      when $cum[t + 1] - $cum[f] > 1e-12
                      then greatest(least(($cum[least(m, t) + 1] - $cum[f]) / ($cum[t + 1] - $cum[f]), 1.0), 0.0)
                      else greatest(least(t, m) - f + 1, 0) / (t - f + 1) end, 10) as share
    from s
), e as (
    select *, plan::double * share as expected,
           case when plan::double * share > 0 then round(done::double / (plan::double * share), 9) end as perf,
           case when f <= m and m <= t
                then greatest(0, y * 12 + m - greatest(
                         coalesce(year(last_paid) * 12 + month(last_paid), 0),
                         case when f > 1 then y * 12 + f - 1
                              when start_date is not null and year(start_date) < y
                              then year(start_date) * 12 + month(start_date) - 1
                              else y * 12 end))
                else 0 end as idle,
           -- the weight of the project's own pace: its share of the year gone, shrunk towards the plan
           case when share + $prior_strength > 0 then share / (share + $prior_strength) else 0 end as w_h
    from sh
)
select e.project_id, e.unit_id, e.chain_id, e.tech, e.total_investment_wan, e.plan, e.done, e.expected,
       case when e.perf is null then null when e.perf >= $green then 'green'
            when e.perf >= $amber then 'amber' else 'red' end as flag,
       e.idle >= $stalled and e.plan > 0 and e.status not in ('竣工', '达产达效') as stalled,
       e.expected - e.done::double as behind,
       e.done::double + e.plan::double * (1 - e.share)
         * greatest(least(e.w_h * coalesce(e.perf, $prior_ratio) + (1 - e.w_h) * $prior_ratio, $cap), $floor)
         as forecast,
       t.tier
from e
asof left join tiers t on e.total_investment_wan >= t.min_wan
"""

#: The check's headline figures in one query over :data:`PER_PROJECT`.
CHECK_AGG = """
with mt as (
    select metric, value_wan from targets where year = year($as_of::date) and scope = 'city'
)
select sum(plan) as plan_ii, sum(plan) filter (where tech) as plan_tu,
       sum(done) as done_ii, sum(done) filter (where tech) as done_tu,
       sum(expected) as pexp_ii, sum(expected) filter (where tech) as pexp_tu,
       sum(forecast) as fc_ii, sum(forecast) filter (where tech) as fc_tu,
       (select value_wan from mt where metric = 'industrial_investment') as target_ii,
       (select value_wan from mt where metric = 'tech_upgrade_investment') as target_tu,
       (select value_wan from mt where metric = 'industrial_investment')::double * $cum[month($as_of::date) + 1]
         as sexp_ii,
       (select value_wan from mt where metric = 'tech_upgrade_investment')::double * $cum[month($as_of::date) + 1]
         as sexp_tu,
       count(*) filter (where flag = 'red') as red, count(*) filter (where flag = 'amber') as amber,
       count(*) filter (where flag = 'green') as green, count(*) filter (where stalled) as stalled,
       count(*) filter (where flag in ('red', 'amber') or stalled) as lagging,
       count(*) as projects, histogram(tier) as tiers
from {source}
"""
#: The check's headline in one query: the aggregate over the per-project rows.
CHECK_SQL = CHECK_AGG.replace("with mt as (", f"with pp as ({PER_PROJECT}), mt as (", 1).format(source="pp")

_METRIC_KEYS = {"industrial_investment": "ii", "tech_upgrade_investment": "tu"}
_FIGURES = {"target_wan": "target", "planned_wan": "plan", "completed_wan": "done", "expected_wan": "sexp",
            "plan_expected_wan": "pexp", "forecast_wan": "fc"}
_COUNTS = ("red", "amber", "green", "stalled", "lagging", "projects")


def _headline(row: dict[str, Any]) -> dict[str, Any]:
    """The check's headline from one row of :data:`CHECK_SQL` (or its pandas twin)."""
    out: dict[str, Any] = {}
    for metric, short in _METRIC_KEYS.items():
        for name, col in _FIGURES.items():
            out[f"{metric}.{name}"] = float(row[f"{col}_{short}"] or 0)
    for name in _COUNTS:
        out[name] = int(row[name])
    out["tiers"] = {str(k): int(v) for k, v in (row["tiers"] or {}).items() if k is not None}
    return out


def check_hand(con: Any, *, source: str | None = None) -> dict[str, Any]:
    """The check's headline figures, one hand-written query (over ``source``: a table of per-project rows)."""
    sql = CHECK_SQL if source is None else CHECK_AGG.format(source=source)
    cur = con.sql(sql, params=rule_params(con, sql))
    row = dict(zip(cur.columns, cur.fetchall()[0], strict=True))
    return _headline(row)


def _classes(firms: str) -> str:
    """Per segment: local firms, the HHI rule and the 补链/增链/丰链 rule over a relation of firms."""
    return f"""(
    with f as (
        select node_id, count(*) as n, sum(c) as c1, sum(c * c) as c2
        from (select node_id, (output_wan::decimal(38,2) * 100)::hugeint as c from {firms} where node_id is not null)
        group by node_id
    ), seg as (
        select n.node_id, n.emerging, coalesce(f.n, 0) as firms,
               case when f.c1 = 0 then f.n * (select thr from k) < 10000
                    else 10000 * f.c2 > (select thr from k) * f.c1 * f.c1 end as concentrated
        from chain_nodes n left join f using (node_id)
    ), succ as (
        select e.src_node_id as node_id, count(*) as n from chain_edges e
        join seg d on d.node_id = e.dst_node_id and d.firms > 0 group by all
    ), pred as (
        select e.dst_node_id as node_id, count(*) as n from chain_edges e
        join seg d on d.node_id = e.src_node_id and d.firms > 0 group by all
    )
    select seg.node_id, seg.firms,
           case when seg.firms = 0 and coalesce(succ.n, 0) >= 1 then '补链'
                when seg.firms = 0 and (coalesce(pred.n, 0) >= 1 or coalesce(seg.emerging, false)) then '增链'
                when seg.firms >= 1 and (seg.firms = 1 or coalesce(seg.concentrated, false)) then '丰链' end as kind
    from seg left join succ using (node_id) left join pred using (node_id)
)"""


#: The gap headline in one query: classes now and after the pipeline, open gaps, disagreements.
GAPS_SQL = f"""
with k as (
    select json_extract_string(value, '$.hhi_threshold')::integer as thr,
           json_extract_string(value, '$.new_firm_output_ratio')::decimal(18,6) as ratio
    from meta where key = 'rule.chain_rules'
), yp as (
    select p.* from projects p
    where exists (select 1 from plans x where x.project_id = p.project_id and x.year = (select y from (
                      select coalesce((select value::integer from meta where key = 'plan_year'),
                                      (select max(year) from plan_years)) as y)))
       or not exists (select 1 from plans x where x.project_id = p.project_id)
), pipe as (
    select * from yp where node_id is not null and status in ('谋划', '前期', '在建')
), future as (
    select node_id, name, output_wan from enterprises
    union all
    select node_id, builder, (sum(total_investment_wan) * (select ratio from k))::decimal(18,2)
    from (select node_id, coalesce(enterprise, project_id) as builder, total_investment_wan from pipe) b
    where not exists (select 1 from enterprises e where e.node_id = b.node_id and e.name = b.builder)
    group by node_id, builder
), now as {_classes("enterprises")}, after as {_classes("future")},
pc as (
    select node_id, count(*) as n from pipe group by node_id
), both_ as (
    select now.node_id, now.kind as k0, after.kind as k1, coalesce(pc.n, 0) as pipeline, now.firms
    from now join after using (node_id) left join pc using (node_id)
)
select count(*) filter (where k0 = '补链') as fill, count(*) filter (where k0 = '增链') as extend,
       count(*) filter (where k0 = '丰链') as enrich, count(*) filter (where k0 is not null and pipeline = 0) as open,
       count(*) as segments, count(*) filter (where firms > 0) as present,
       count(*) filter (where k0 is not null and k1 is null) as closed,
       count(*) filter (where k0 is not null and k1 is not null and k0 <> k1) as changed,
       count(*) filter (where k0 is not null and k0 = k1) as remains,
       count(*) filter (where k0 is null and k1 is not null) as new,
       (select count(*) from pipe d left join now using (node_id)
        where d.chain_role is not null and (now.kind is null or now.kind <> d.chain_role)) as disagree_on_node,
       (select count(*) from yp where node_id is null and chain_role is not null
                                and status in ('谋划', '前期', '在建')) as disagree_no_node
from both_
"""

_GAP_KEYS = ("fill", "extend", "enrich", "open", "segments", "present", "closed", "changed", "remains", "new",
             "disagreements")


def gaps_hand(con: Any) -> dict[str, Any]:
    """The gap headline, one hand-written query."""
    cur = con.sql(GAPS_SQL)
    row = dict(zip(cur.columns, cur.fetchall()[0], strict=True))
    row["disagreements"] = row.pop("disagree_on_node") + row.pop("disagree_no_node")
    return {key: int(row[key]) for key in _GAP_KEYS}


ROLLUP_SQL = """
select grouping(unit_id) = 0 as by_unit, coalesce(unit_id, chain_id) as key, count(*) as projects,
       sum(plan) as plan, sum(done) as done, sum(expected) as expected, sum(forecast) as forecast,
       count(*) filter (where flag in ('red', 'amber') or stalled) as lagging
from _pp
group by grouping sets ((unit_id), (chain_id))
"""

LAGGING_SQL = """
select pp.project_id, p.name, u.name as unit, pp.behind
from _pp pp join projects p using (project_id) left join units u on u.unit_id = p.unit_id
where pp.flag in ('red', 'amber') or pp.stalled
order by pp.behind desc, pp.project_id
limit $top
"""

MONTHLY_SQL = """
select p.tech, sum(pr.completed_wan) as done
from progress pr join _pp p using (project_id)
where pr.month >= make_date(year($as_of::date), 1, 1) and pr.month <= $as_of::date
group by all
"""


def report_hand(con: Any) -> dict[str, Any]:
    """The report's headline tables: check and gaps, roll-ups, the year's completion, top lagging."""
    con.execute(f"create or replace temp table _pp as {PER_PROJECT}", rule_params(con, PER_PROJECT))
    try:
        out = {"check": check_hand(con, source="_pp"), "gaps": gaps_hand(con)}
        rows = con.sql(ROLLUP_SQL).fetchall()
        out["units"] = {str(r[1]): (float(r[4]), int(r[7])) for r in rows if r[0]}
        out["chains"] = {str(r[1]): (float(r[4]), int(r[7])) for r in rows if not r[0]}
        out["lagging"] = [r[0] for r in con.sql(LAGGING_SQL, params={"top": TOP}).fetchall()]
        months = dict(con.sql(MONTHLY_SQL, params={"as_of": AS_OF}).fetchall())
        out["ytd"] = {"industrial_investment": float(sum(months.values())),
                      "tech_upgrade_investment": float(months.get(True, 0))}
    finally:
        con.execute("drop table if exists _pp")
    return out


# --------------------------------------------------------------------------- pandas


#: The project columns each piece of work reads.
_CHECK_COLS = ["project_id", "nature", "status", "total_investment_wan", "annual_plan_wan", "start_date", "end_date"]
_GAPS_COLS = ["project_id", "enterprise", "node_id", "status", "chain_role", "total_investment_wan"]
_REPORT_COLS = [*_CHECK_COLS, "name", "unit_id", "chain_id", *_GAPS_COLS[1:-1]]


def _tables(con: Any, columns: list[str], *, gaps: bool = False, report: bool = False) -> dict[str, Any]:
    """The tables an analyst reads into pandas: whole tables, only the columns the work needs."""
    q = {
        "seasonal": "select month_no, cumulative_share from seasonal_profile order by month_no",
        "projects": f"select {', '.join(dict.fromkeys(columns))} from projects",
        "plans": "select project_id, year from plans",
        "meta": "select key, value from meta",
        "targets": "select year, metric, scope, value_wan from targets",
        "tiers": "select tier, min_wan from tiers",
    }
    if not gaps or report:
        q["progress"] = "select project_id, month, completed_wan from progress"
    if report:
        q["units"] = "select unit_id, name from units"
    if gaps or report:
        q |= {"enterprises": "select node_id, name, output_wan from enterprises",
              "nodes": "select node_id, emerging from chain_nodes",
              "edges": "select src_node_id, dst_node_id from chain_edges"}
    return {name: con.sql(sql).df() for name, sql in q.items()}


def _rules(t: dict[str, Any]) -> dict[str, Any]:
    """The rules in force from the meta table (numbers as floats, the technical-upgrade natures as a list)."""
    meta = t["meta"].set_index("key")["value"]
    names = {"flag_green": "rule.flag_green", "flag_amber": "rule.flag_amber",
             "stalled_months": "rule.stalled_months", "prior_strength": "rule.forecast.prior_strength",
             "prior_ratio": "rule.forecast.prior_ratio", "ratio_floor": "rule.forecast.ratio_floor",
             "ratio_cap": "rule.forecast.ratio_cap"}
    out: dict[str, Any] = {name: float(meta[key]) for name, key in names.items()}
    out["tech_upgrade_natures"] = json.loads(meta["rule.tech_upgrade_natures"])
    return out


def _year_projects(t: dict[str, Any], year: int) -> Any:
    pj, plans = t["projects"], t["plans"]
    in_year = (plans["year"] == year).groupby(plans["project_id"]).any()  # per project with plans rows
    return pj[pj["project_id"].map(in_year).fillna(True).astype(bool)]


def _per_project(t: dict[str, Any]) -> Any:
    """Per project, in pandas: the same rules as :data:`PER_PROJECT`."""
    import numpy as np
    import pandas as pd

    r = _rules(t)
    cum = np.concatenate([[0.0], t["seasonal"]["cumulative_share"].to_numpy(dtype=float)])
    y, m = AS_OF.year, AS_OF.month
    as_of, y0 = pd.Timestamp(AS_OF), pd.Timestamp(y, 1, 1)
    pj = _year_projects(t, y).copy()
    pr = t["progress"]
    pr = pr[pr["month"] <= as_of]
    done = pr[pr["month"] >= y0].groupby("project_id")["completed_wan"].sum().rename("done")
    last = pr[pr["completed_wan"] > 0].groupby("project_id")["month"].max().rename("last_paid")
    pj = pj.merge(done, on="project_id", how="left").merge(last, on="project_id", how="left")
    pj["done"] = pj["done"].fillna(0.0)
    pj["plan"] = pj["annual_plan_wan"].fillna(0.0)
    pj["tech"] = pj["nature"].isin(list(r["tech_upgrade_natures"]))
    sy, ey = pj["start_date"].dt.year, pj["end_date"].dt.year
    f0 = np.where(pj["start_date"].isna() | (sy < y), 1, np.where(sy > y, 13, pj["start_date"].dt.month))
    t0 = np.where(pj["end_date"].isna() | (ey > y), 12, np.where(ey < y, 0, pj["end_date"].dt.month))
    outside = (f0 > t0) & (pj["plan"] > 0)
    f = np.where(outside, 1, f0).astype(int)
    to = np.where(outside, 12, t0).astype(int)
    fi, ti = np.clip(f, 1, 13), np.clip(to, 0, 12)
    lo = cum[np.clip(fi - 1, 0, 12)]
    den = cum[ti] - lo
    num = cum[np.minimum(m, ti)] - lo
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(f > to, 0.0,
                         np.where(den > 1e-12, np.clip(num / den, 0.0, 1.0),
                                  np.maximum(np.minimum(to, m) - f + 1, 0) / (to - f + 1)))
    pj["share"] = np.round(share, 10)
    pj["expected"] = pj["plan"] * pj["share"]
    with np.errstate(divide="ignore", invalid="ignore"):
        pj["perf"] = np.where(pj["expected"] > 0, np.round(pj["done"] / pj["expected"], 9), np.nan)
    pj["flag"] = np.select([pj["perf"].isna(), pj["perf"] >= r["flag_green"], pj["perf"] >= r["flag_amber"]],
                           [None, "green", "amber"], "red")
    pj.loc[pj["perf"].isna(), "flag"] = None
    last_idx = (pj["last_paid"].dt.year * 12 + pj["last_paid"].dt.month).fillna(0)
    start_idx = pj["start_date"].dt.year * 12 + pj["start_date"].dt.month - 1
    floor = np.where(f > 1, y * 12 + f - 1, np.where(pj["start_date"].notna() & (sy < y), start_idx, y * 12))
    active = (f <= m) & (m <= to)
    pj["idle"] = np.where(active, np.maximum(0, y * 12 + m - np.maximum(last_idx, floor)), 0)
    pj["stalled"] = ((pj["idle"] >= r["stalled_months"]) & (pj["plan"] > 0)
                     & ~pj["status"].isin(["竣工", "达产达效"]))
    w = np.where(pj["share"] + r["prior_strength"] > 0, pj["share"] / (pj["share"] + r["prior_strength"]), 0.0)
    pace = np.clip(w * pj["perf"].fillna(r["prior_ratio"]) + (1 - w) * r["prior_ratio"],
                   r["ratio_floor"], r["ratio_cap"])
    pj["forecast"] = pj["done"] + pj["plan"] * (1 - pj["share"]) * pace
    pj["behind"] = pj["expected"] - pj["done"]
    pj["lagging"] = pj["flag"].isin(["red", "amber"]) | pj["stalled"]
    tiers = t["tiers"].sort_values("min_wan")
    pj["_ti"] = pj["total_investment_wan"].fillna(-1.0)  # no tier without a total
    pj = pd.merge_asof(pj.sort_values("_ti"), tiers, left_on="_ti", right_on="min_wan", direction="backward")
    return pj


def _check_of(t: dict[str, Any], pj: Any) -> dict[str, Any]:
    targets = t["targets"]
    city = targets[(targets["year"] == AS_OF.year) & (targets["scope"] == "city")].set_index("metric")["value_wan"]
    seasonal = t["seasonal"]
    cum = float(seasonal.loc[seasonal["month_no"] == AS_OF.month, "cumulative_share"].iloc[0])
    row: dict[str, Any] = {}
    for metric, short in _METRIC_KEYS.items():
        part = pj if short == "ii" else pj[pj["tech"]]
        row |= {f"plan_{short}": part["plan"].sum(), f"done_{short}": part["done"].sum(),
                f"pexp_{short}": part["expected"].sum(), f"fc_{short}": part["forecast"].sum(),
                f"target_{short}": city[metric], f"sexp_{short}": city[metric] * cum}
    counts = pj["flag"].value_counts()
    row |= {"red": counts.get("red", 0), "amber": counts.get("amber", 0), "green": counts.get("green", 0),
            "stalled": int(pj["stalled"].sum()), "lagging": int(pj["lagging"].sum()), "projects": len(pj),
            "tiers": pj["tier"].value_counts().to_dict()}
    return _headline(row)


def check_pandas(con: Any) -> dict[str, Any]:
    """The check's headline figures in pandas."""
    t = _tables(con, _CHECK_COLS)
    return _check_of(t, _per_project(t))


def _classes_pandas(firms: Any, t: dict[str, Any], thr: int) -> Any:
    import numpy as np

    firms = firms[firms["node_id"].notna()]
    out = firms["output_wan"].astype(float)
    g = (firms.assign(o=out, o2=out * out)
         .groupby("node_id").agg(firms=("o", "size"), o=("o", "sum"), o2=("o2", "sum")).reset_index())
    with np.errstate(divide="ignore", invalid="ignore"):
        hhi = np.where(g["o"] == 0, 10000.0 / g["firms"], 10000.0 * g["o2"] / (g["o"] * g["o"]))
    g["concentrated"] = hhi > thr + 1e-9
    seg = t["nodes"].merge(g, on="node_id", how="left")
    seg["firms"] = seg["firms"].fillna(0).astype(int)
    present = seg.loc[seg["firms"] > 0, "node_id"]
    edges = t["edges"]
    succ = edges[edges["dst_node_id"].isin(present)].groupby("src_node_id").size()
    pred = edges[edges["src_node_id"].isin(present)].groupby("dst_node_id").size()
    ns = seg["node_id"].map(succ).fillna(0)
    npred = seg["node_id"].map(pred).fillna(0)
    absent = seg["firms"] == 0
    seg["kind"] = np.select(
        [absent & (ns >= 1), absent & ((npred >= 1) | seg["emerging"].fillna(False).astype(bool)),
         ~absent & ((seg["firms"] == 1) | seg["concentrated"].fillna(False).astype(bool))],
        ["补链", "增链", "丰链"], None)
    return seg[["node_id", "firms", "kind"]]


def _gaps_of(t: dict[str, Any]) -> dict[str, Any]:
    import pandas as pd

    rules = json.loads(t["meta"].set_index("key").loc["rule.chain_rules", "value"])
    meta = t["meta"].set_index("key")["value"]
    year = int(meta["plan_year"]) if "plan_year" in meta else int(t["plans"]["year"].max())
    yp = _year_projects(t, year)
    pipe_all = yp[yp["status"].isin(["谋划", "前期", "在建"])]
    pipe = pipe_all[pipe_all["node_id"].notna()]
    ent = t["enterprises"]
    b = pipe.assign(builder=pipe["enterprise"].fillna(pipe["project_id"]))
    b = b.groupby(["node_id", "builder"], as_index=False)["total_investment_wan"].sum()
    b = b.merge(ent[["node_id", "name"]], left_on=["node_id", "builder"], right_on=["node_id", "name"],
                how="left", indicator=True)
    b = b[b["_merge"] == "left_only"]
    new = pd.DataFrame({"node_id": b["node_id"], "name": b["builder"],
                        "output_wan": (b["total_investment_wan"] * rules["new_firm_output_ratio"]).round(2)})
    now = _classes_pandas(ent, t, rules["hhi_threshold"])
    after = _classes_pandas(pd.concat([ent, new], ignore_index=True), t, rules["hhi_threshold"])
    both = now.merge(after[["node_id", "kind"]], on="node_id", suffixes=("", "_after"))
    both["pipeline"] = both["node_id"].map(pipe.groupby("node_id").size()).fillna(0)
    k0, k1 = both["kind"], both["kind_after"]
    declared = pipe_all[pipe_all["chain_role"].notna()].merge(now[["node_id", "kind"]], on="node_id", how="left")
    return {
        "fill": int((k0 == "补链").sum()), "extend": int((k0 == "增链").sum()), "enrich": int((k0 == "丰链").sum()),
        "open": int((k0.notna() & (both["pipeline"] == 0)).sum()), "segments": len(both),
        "present": int((both["firms"] > 0).sum()),
        "closed": int((k0.notna() & k1.isna()).sum()),
        "changed": int((k0.notna() & k1.notna() & (k0 != k1)).sum()),
        "remains": int((k0.notna() & (k0 == k1)).sum()),
        "new": int((k0.isna() & k1.notna()).sum()),
        "disagreements": int((declared["kind"].isna() | (declared["kind"] != declared["chain_role"])).sum()),
    }


def gaps_pandas(con: Any) -> dict[str, Any]:
    """The gap headline in pandas."""
    return _gaps_of(_tables(con, _GAPS_COLS, gaps=True))


def report_pandas(con: Any) -> dict[str, Any]:
    """The report's headline tables in pandas (the tables read once)."""
    import pandas as pd

    t = _tables(con, _REPORT_COLS, report=True)
    pj = _per_project(t)
    out = {"check": _check_of(t, pj), "gaps": _gaps_of(t)}
    for key, col in (("units", "unit_id"), ("chains", "chain_id")):
        g = pj.groupby(col, dropna=False).agg(done=("done", "sum"), lagging=("lagging", "sum"))
        out[key] = {str(k) if not pd.isna(k) else "None": (float(v.done), int(v.lagging)) for k, v in g.iterrows()}
    lag = pj[pj["lagging"]].sort_values(["behind", "project_id"], ascending=[False, True]).head(TOP)
    lag = lag.merge(t["units"].rename(columns={"name": "unit"}), on="unit_id", how="left")
    out["lagging"] = lag["project_id"].tolist()
    pr = t["progress"]
    pr = pr[(pr["month"] >= pd.Timestamp(AS_OF.year, 1, 1)) & (pr["month"] <= pd.Timestamp(AS_OF))]
    pr = pr.merge(pj[["project_id", "tech"]], on="project_id")
    out["ytd"] = {"industrial_investment": float(pr["completed_wan"].sum()),
                  "tech_upgrade_investment": float(pr.loc[pr["tech"], "completed_wan"].sum())}
    return out


# --------------------------------------------------------------------------- the project


def check_project(con: Any) -> dict[str, Any]:
    """``portfolio check``'s payload."""
    from portfolio import targets

    return targets.check_report(con, as_of=AS_OF)


def gaps_project(con: Any) -> dict[str, Any]:
    """``portfolio gaps --json``'s payload."""
    from portfolio import chains

    return chains.gaps_report(con)


def report_project(con: Any) -> Any:
    """The report's data step (nothing rendered, nothing written)."""
    from portfolio import report

    return report.collect(con, as_of=AS_OF)


def _project_flags(con: Any) -> dict[str, int]:
    """Red/amber/green counts by the project's own per-project rules (check_report has no such key)."""
    rows = con.execute("select flag, count(*) from project_status_at(?) group by flag", [AS_OF]).fetchall()
    return {str(f): int(n) for f, n in rows if f is not None}


def check_headline_of(rep: dict[str, Any], flags: dict[str, int]) -> dict[str, Any]:
    """The headline of ``check_report``'s JSON, in the shape of :func:`_headline`."""
    out: dict[str, Any] = {}
    for m in rep["metrics"]:
        if m["metric"] in _METRIC_KEYS:
            for name in _FIGURES:
                out[f"{m['metric']}.{name}"] = float(m.get(name) or 0)
    out |= {"red": flags.get("red", 0), "amber": flags.get("amber", 0), "green": flags.get("green", 0),
            "stalled": int(rep["stalled_count"]), "lagging": int(rep["lagging_count"]),
            "projects": int(rep["projects"]),
            "tiers": {str(t["tier"]): int(t["count"]) for t in rep["tiers"] if int(t["count"])}}
    return out


def gaps_headline_of(rep: dict[str, Any]) -> dict[str, Any]:
    """The headline of ``gaps_report``'s JSON, in the shape of :func:`gaps_hand`."""
    s, after = rep["summary"], rep["after_pipeline"]["counts"]
    dis = rep.get("role_disagreements")
    summary = rep.get("role_disagreement_summary")  # the list may be cut; the summary counts all
    n_dis = summary["total"] if isinstance(summary, dict) and "total" in summary else (
        len(dis) if isinstance(dis, list) else None)
    return {"fill": s["by_kind"]["补链"], "extend": s["by_kind"]["增链"], "enrich": s["by_kind"]["丰链"],
            "open": s["open"], "segments": s["segments"],
            "present": sum(int(r["present"]) for r in s["by_chain"]),
            "closed": after["closed"], "changed": after["changed"], "remains": after["remains"],
            "new": after["new"], "disagreements": n_dis}


def report_headline_of(data: Any, flags: dict[str, int]) -> dict[str, Any]:
    """The headline tables of ``report.collect``'s data, in the shape of :func:`report_hand`."""
    import polars as pl

    out: dict[str, Any] = {"check": check_headline_of(data.check, flags), "gaps": gaps_headline_of(data.gaps)}
    for key, col, frame in (("units", "unit_id", data.unit_rollup), ("chains", "chain_id", data.chain_rollup)):
        lag = "lagging_count" if "lagging_count" in frame.columns else "lagging"
        out[key] = {str(r[col]): (float(r["completed_wan"]), int(r[lag])) for r in frame.iter_rows(named=True)}
    out["lagging"] = data.lagging["project_id"].head(TOP).to_list()
    month = data.monthly.filter(pl.col("month") == AS_OF)
    out["ytd"] = {r["metric"]: float(r["cumulative_completed_wan"]) for r in month.iter_rows(named=True)}
    return out


# --------------------------------------------------------------------------- comparing and timing


def differences(a: Any, b: Any, path: str = "") -> list[str]:
    """Where two headline structures differ (numbers within 0.02 万元 or 1e-9 relative are equal)."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for key in sorted(set(a) | set(b), key=str):
            if key not in a or key not in b:
                out.append(f"{path}{key}: {a.get(key, 'missing')} vs {b.get(key, 'missing')}")
            else:
                out += differences(a[key], b[key], f"{path}{key}.")
        return out
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        if len(a) != len(b):
            return [f"{path.rstrip('.')}: {len(a)} items vs {len(b)}"]
        return [d for i, (x, y) in enumerate(zip(a, b, strict=True)) for d in differences(x, y, f"{path}{i}.")]
    if isinstance(a, int | float) and isinstance(b, int | float) and not isinstance(a, bool):
        if math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=0.02):
            return []
    elif a == b:
        return []
    return [f"{path.rstrip('.')}: {a!r} vs {b!r}"]


class RssWatch:
    """The peak resident set size while a block runs (sampled every 5 ms from /proc)."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._page = os.sysconf("SC_PAGE_SIZE")

    def _rss(self) -> int:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * self._page

    def _watch(self) -> None:
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, self._rss())

    def __enter__(self) -> RssWatch:
        self.peak = self._rss()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._rss())


def measure(n: int, db: Path, repeat: int) -> dict[str, Any]:
    """Time every work three ways, interleaved, in this process; compare the answers."""
    import duckdb
    import polars as pl

    from portfolio import store

    calls: dict[str, dict[str, Callable[[Any], Any]]] = {
        "check": {"project": check_project, "hand": check_hand, "pandas": check_pandas},
        "gaps": {"project": gaps_project, "hand": gaps_hand, "pandas": gaps_pandas},
        "report": {"project": report_project, "hand": report_hand, "pandas": report_pandas},
    }
    shape: dict[str, Callable[[Any], Any]] = {
        "check": lambda r: check_headline_of(r, flags), "gaps": gaps_headline_of,
        "report": lambda r: report_headline_of(r, flags)}
    times: dict[str, dict[str, list[float]]] = {w: {m: [] for m in METHODS} for w in WORKS}
    first: dict[str, dict[str, float | None]] = {w: dict.fromkeys(METHODS) for w in WORKS}
    peak: dict[str, dict[str, float]] = {w: dict.fromkeys(METHODS, 0.0) for w in WORKS}
    errors: dict[str, dict[str, str]] = {w: {} for w in WORKS}
    answers: dict[str, dict[str, Any]] = {w: {} for w in WORKS}
    loads: list[float] = []
    with store.connect(db, read_only=True) as con:
        con.execute("set enable_progress_bar = false")
        counts = con.execute("select (select count(*) from projects), (select count(*) from progress),"
                             " (select count(*) from progress where month between ? and ?)",
                             [date(AS_OF.year, 1, 1), AS_OF]).fetchall()[0]
        flags = _project_flags(con)  # shape (above) reads it when the first round ends
        for rnd in range(repeat + 1):
            # the order of the three turns each round: no way of doing it always follows the heaviest
            # (pandas' gigabytes freed just before a timed call would weigh on that call alone)
            order = METHODS[rnd % len(METHODS):] + METHODS[:rnd % len(METHODS)]
            for work in WORKS:
                for method in order:
                    if method in errors[work]:
                        continue
                    gc.collect()  # the previous call's garbage goes before the clock starts
                    loads.append(os.getloadavg()[0])
                    try:
                        with RssWatch() as rss:
                            t0 = time.perf_counter()
                            result = calls[work][method](con)
                            elapsed = time.perf_counter() - t0
                    except Exception as exc:  # a changed signature or a failing query: say so, go on
                        errors[work][method] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:160]}"
                        print(f"!! {work}/{method} failed: {errors[work][method]}", file=sys.stderr, flush=True)
                        continue
                    peak[work][method] = max(peak[work][method], rss.peak / 2**20)
                    if rnd == 0:
                        first[work][method] = elapsed
                        try:  # keep only the headline: the project's frames would weigh on later calls
                            answers[work][method] = shape[work](result) if method == "project" else result
                        except Exception as exc:
                            errors[work]["compare"] = f"cannot read the project's answer: {type(exc).__name__}: {exc}"
                    else:
                        times[work][method].append(elapsed)
                    del result
            print(f"  n={n:,} round {rnd}/{repeat} done, load {os.getloadavg()[0]:.1f}", file=sys.stderr, flush=True)
    mismatches: dict[str, list[str]] = {}
    for work in WORKS:
        got = answers[work]
        found = []
        names = [m for m in METHODS if m in got]
        for i, a in enumerate(names):
            for b in names[i + 1:]:
                found += [f"{a} vs {b}: {d}" for d in differences(got[a], got[b])]
        mismatches[work] = found
        for line in found[:20]:
            print(f"!! MISMATCH {work} (n={n:,}) {line}", file=sys.stderr, flush=True)
    headline = answers["check"].get("hand")
    return {
        "n": n, "projects": counts[0], "progress_rows": counts[1], "progress_rows_year": counts[2],
        "repeat": repeat, "date": f"{datetime.now():%Y-%m-%d %H:%M}", "commit": commit(),
        "median": {w: {m: statistics.median(v) if v else None for m, v in times[w].items()} for w in WORKS},
        "first": first, "peak_rss_mb": peak, "errors": errors, "mismatches": mismatches,
        "process_peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "load": {"min": min(loads), "median": statistics.median(loads), "max": max(loads)} if loads else None,
        "headline": headline,
        "versions": {"python": platform.python_version(), "duckdb": duckdb.__version__, "polars": pl.__version__,
                     "pandas": __import__("pandas").__version__},
    }


def commit() -> str:
    """The short commit of the checkout (``+dirty`` when the library differs from it)."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "portfolio", "app.py", "app_pages"],
                               cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
        return head + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def run_isolated(n: int, db: Path, repeat: int) -> dict[str, Any]:
    """Measure one size in a fresh interpreter (its own peak memory)."""
    out = subprocess.run([sys.executable, __file__, "--one", str(n), "--db", str(db), "--repeat", str(repeat)],
                         check=True, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    return dict(json.loads(out.stdout[out.stdout.rfind('{"n"'):].splitlines()[0]))  # after any progress bar


# --------------------------------------------------------------------------- the record


def _s(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.3f}" if value < 1 else f"{value:.2f}"


def _ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.1f}×" if a and b else "—"


GOALS = {"check": "≤ 2× hand (aim 1.5×); pandas/project ≥ 5×", "gaps": "≤ 2× hand; pandas/project ≥ 5×",
         "report": "—"}


def table_lines(results: list[dict[str, Any]]) -> list[str]:
    """The Markdown table: one row per size and work."""
    lines = [
        "| projects / progress rows | work | project s (first) | hand SQL s | pandas s | project / hand "
        "| pandas / project | peak RSS MB project / hand / pandas | load 1-min (median, max) | run |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in sorted(results, key=lambda r: r["n"]):
        load = r["load"] or {}
        for work in WORKS:
            med, fst, rss = r["median"][work], r["first"][work], r["peak_rss_mb"][work]
            note = "; ".join(f"{m} failed" for m in r["errors"][work])
            if r["mismatches"][work]:
                note = (note + "; " if note else "") + f"**{len(r['mismatches'][work])} mismatches**"
            lines.append(
                f"| {r['projects']:,} / {r['progress_rows']:,} | {work} "
                f"| {_s(med['project'])} ({_s(fst['project'])}) | {_s(med['hand'])} | {_s(med['pandas'])} "
                f"| {_ratio(med['project'], med['hand'])} | {_ratio(med['pandas'], med['project'])} "
                f"| {' / '.join(f'{rss[m]:.0f}' for m in METHODS)} "
                f"| {load.get('median', 0):.1f}, {load.get('max', 0):.1f} "
                f"| {r['date'][:10]} {r['commit']}, ×{r['repeat']}{' — ' + note if note else ''} |")
    return lines


def goal_lines(by_n: dict[int, dict[str, Any]]) -> list[str]:
    """Issue 14's goals at the largest size run, and how the project's time grows with the size."""
    lines = []
    big = by_n.get(max(by_n))
    if big is not None and big["n"] >= 1_000_000:
        marks = []
        for work in ("check", "gaps"):
            med = big["median"][work]
            if med["project"] and med["hand"] and med["pandas"]:
                ratio, faster = med["project"] / med["hand"], med["pandas"] / med["project"]
                bound = med["pandas"] / med["hand"]  # pandas / project can reach this at the hand query's speed
                marks.append(f"{work}: project / hand {ratio:.1f}× (goal ≤ 2×: {'met' if ratio <= 2 else 'missed'}), "
                             f"pandas / project {faster:.1f}× (goal ≥ 5×: {'met' if faster >= 5 else 'missed'}; "
                             f"pandas / hand is {bound:.1f}×)")
        if marks:
            lines += ["", f"Goals at {big['n']:,} projects (run {big['date'][:10]}, {big['commit']}): "
                      + "; ".join(marks) + "."]
    sizes = sorted(by_n)
    if len(sizes) > 1:
        grow = []
        for work in WORKS:
            got = [(n, by_n[n]["median"][work]["project"]) for n in sizes if by_n[n]["median"][work]["project"]]
            if len(got) > 1:
                grow.append(f"{work} " + " → ".join(f"{t:.2f} s" for _, t in got))
        if grow:
            lines += ["", "The project's time from " + " to ".join(f"{n:,}" for n in sizes)
                      + " projects (linear would be ×100 and ×10 between them; fixed costs dominate at 1,004): "
                      + "; ".join(grow) + "."]
    return lines


def section(results: list[dict[str, Any]]) -> str:
    """The Markdown section with the results and the machine they ran on."""
    v = max(results, key=lambda r: r["date"])["versions"]
    by_n = {r["n"]: r for r in results}
    lines = [
        BEGIN,
        "## 与手写 DuckDB、pandas 对比 · check, gaps and the report's data step side by side",
        "",
        f"`python benchmarks/bench_check.py --sizes {' '.join(str(n) for n in sorted(by_n))}` on "
        f"{platform.machine()}, {os.cpu_count()} CPUs, Python {v['python']}, duckdb {v['duckdb']}, "
        f"polars {v['polars']}, pandas {v['pandas']}; each row says when and on which commit it ran. "
        "Per size one process opens one read-only connection to a sample database "
        "(`store.init_db(path, sample=True, projects=N)`, kept in a cache folder outside the repository) and "
        "times, interleaved, the project's call, one hand-written DuckDB query of the same headline figures "
        "(the rules' parameters read first by one small query and passed as parameters) and an idiomatic pandas "
        "version (whole tables read with `.df()`, only the columns needed, then filters, groupby and merge), as "
        "of 2016-09. "
        "Medians of the rounds after a warm-up round (its project time in brackets: a first call, "
        "caches cold); peak RSS is the process's resident memory while that call ran (the database's buffer "
        "and the earlier calls' leftovers included).",
        "",
        "- **check**: `targets.check_report(con, as_of=…)` vs `CHECK_SQL` (per metric: target, Σ plan, "
        "Σ completed, target × seasonal share, Σ per-project expectation with the profile re-normalised over the "
        "active months, Σ point forecast completed + remaining plan × shrunk pace; red/amber/green/stalled/"
        "lagging counts; tier counts). The project also runs the Monte Carlo range, the checks by unit and by "
        "chain, 包保, drivers and the lagging list.",
        "- **gaps**: `chains.gaps_report(con)` vs `GAPS_SQL` (coverage, HHI > threshold on exact cents, "
        "补链/增链/丰链, open gaps, declared roles that disagree, the classes once the pipeline is built). The "
        "project also computes graph metrics (betweenness, dependence, density), scores, reasons and every row.",
        "- **report**: `report.collect(con, as_of=…)` (nothing rendered or written) vs the two above plus "
        "roll-ups by unit and chain, the year's completion and the top 20 lagging projects with names.",
        "",
        "The three answers are compared on every run (numbers within 0.02 万元); a mismatch is named in the "
        "last column. Goals of issue 14 at 1,000,000 projects: check " + GOALS["check"] + "; gaps "
        + GOALS["gaps"] + ". The machine is shared with other jobs: a load above 2 stretches every time.",
        "",
        *table_lines(results),
    ]
    lines += goal_lines(by_n)
    checks = [r for r in sorted(results, key=lambda r: r["n"]) if r.get("headline")]
    if checks:
        h = checks[-1]["headline"]
        lines += ["", f"Headline figures agreed at {checks[-1]['projects']:,} projects (hand-written query): "
                  f"工业投资 Σ plan {h['industrial_investment.planned_wan'] / 1e4:,.2f} 亿元, completed "
                  f"{h['industrial_investment.completed_wan'] / 1e4:,.2f}, forecast "
                  f"{h['industrial_investment.forecast_wan'] / 1e4:,.2f}; red {h['red']:,}, amber {h['amber']:,}, "
                  f"green {h['green']:,}, stalled {h['stalled']:,}, lagging {h['lagging']:,}."]
    for r in sorted(results, key=lambda r: r["n"]):
        for work in WORKS:
            for method, err in r["errors"][work].items():
                lines.append(f"\n- {r['n']:,} {work}/{method}: {err}")
    lines += ["", DATA_MARK + json.dumps(results, ensure_ascii=False, separators=(",", ":")) + " -->", END]
    return "\n".join(lines)


def previous_results() -> list[dict[str, Any]]:
    """The results recorded in docs/benchmarks.md (to keep sizes not run this time)."""
    if not DOC.exists():
        return []
    text = DOC.read_text(encoding="utf-8")
    if DATA_MARK not in text:
        return []
    blob = text.split(DATA_MARK, 1)[1].split(" -->", 1)[0]
    try:
        return list(json.loads(blob))
    except ValueError:
        return []


def write(text: str) -> None:
    """Replace the bench_check section of docs/benchmarks.md (or append it)."""
    doc = DOC.read_text(encoding="utf-8") if DOC.exists() else "# 性能测试 (benchmarks)\n"
    if BEGIN in doc and END in doc:
        head, rest = doc.split(BEGIN, 1)
        doc = head + text + rest.split(END, 1)[1]
    else:
        doc = doc.rstrip("\n") + "\n\n" + text + "\n"
    DOC.write_text(doc, encoding="utf-8")


def print_summary(r: dict[str, Any]) -> None:
    load = r["load"] or {}
    print(f"\n{r['projects']:,} projects, {r['progress_rows']:,} progress rows — load {load.get('min', 0):.1f}–"
          f"{load.get('max', 0):.1f} (median {load.get('median', 0):.1f}); process peak RSS "
          f"{r['process_peak_rss_mb']:.0f} MB; medians of {r['repeat']}")
    print(f"{'work':8} {'project':>10} {'(first)':>9} {'hand':>9} {'pandas':>9} {'proj/hand':>10} {'pandas/proj':>12}"
          f"  peak RSS MB p/h/pd")
    for work in WORKS:
        med, fst, rss = r["median"][work], r["first"][work], r["peak_rss_mb"][work]
        print(f"{work:8} {_s(med['project']):>10} {_s(fst['project']):>9} {_s(med['hand']):>9} "
              f"{_s(med['pandas']):>9} {_ratio(med['project'], med['hand']):>10} "
              f"{_ratio(med['pandas'], med['project']):>12}  {' / '.join(f'{rss[m]:.0f}' for m in METHODS)}")
        for method, err in r["errors"][work].items():
            print(f"   !! {method}: {err}")
        if r["mismatches"][work]:
            print(f"   !! {len(r['mismatches'][work])} MISMATCHES, e.g. {r['mismatches'][work][:3]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--repeat", type=int, help="timed rounds after the warm-up (default 5)")
    parser.add_argument("--no-write", action="store_true", help="print only, leave the docs alone")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="folder of the sample databases")
    parser.add_argument("--rebuild", action="store_true", help="build the sample databases again")
    parser.add_argument("--render", action="store_true", help="rewrite the section from the recorded results only")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--db", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.one, args.db, args.repeat), ensure_ascii=False, default=str))
        return
    if args.render:
        write(section(previous_results()))
        print(f"rewrote the section of {DOC.relative_to(ROOT)}")
        return
    if args.cache.resolve().is_relative_to(ROOT):
        raise SystemExit("the cache folder must lie outside the repository (a 1M database is 600 MB).")
    results = []
    for n in args.sizes:
        db = sample_db(n, args.cache, rebuild=args.rebuild)
        repeat = args.repeat or 5
        result = run_isolated(n, db, repeat)
        print_summary(result)
        results.append(result)
    if not args.no_write:
        kept = [r for r in previous_results() if r["n"] not in {x["n"] for x in results}]
        write(section(kept + results))
        print(f"\nupdated {DOC.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
