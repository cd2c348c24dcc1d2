"""The SQL of the chain analysis: segment coverage and the one concentration rule.

``COVERAGE`` is the text of the view ``v_chain_coverage`` and of :func:`segment_coverage`, so
the two cannot drift. The HHI test is written once, in :func:`segment_firms_sql`, over any
relation of firms: the enterprises table (the view, the library), the enterprises plus the
pipeline's builders (after the pipeline), or a frame of the sample plan. The view reads the
threshold from the database's copy of ``[rules] hhi_threshold`` (``meta`` key
``rule.chain_rules``); the library passes the same value (:func:`portfolio.chains.chain_rules`,
which falls back to data/chains.toml for a database that has no copy yet).

This module imports nothing but :mod:`portfolio.config`, so ``views`` can use it.
"""

from __future__ import annotations

from .. import config

#: The view's threshold, read where the views read every rule: the meta table.
THRESHOLD = ("(select json_extract_string(value, '$.hhi_threshold')::integer from meta"
             " where key = 'rule.chain_rules')")
#: Who builds a project: its enterprise, else the project itself (one builder per project).
BUILDER = "coalesce(enterprise, project_id)"


def _list(values: tuple[str, ...]) -> str:
    return ", ".join("'" + v.replace("'", "''") + "'" for v in values)


def segment_firms_sql(firms: str = "enterprises", threshold: str = THRESHOLD, *, top: bool = True) -> str:
    """Per segment with a local firm: count, Σ output, HHI, ``concentrated``, the largest firm.

    ``firms`` is a relation (a table name or a parenthesised query) with ``node_id``, ``name``
    and ``output_wan``. ``hhi`` is on the 0–10000 scale, equal shares when all output is 0.
    ``concentrated`` is the rule "HHI strictly above the threshold", decided exactly on integer
    cents: 10000·Σc² > threshold·(Σc)², or with no output 10000 / n > threshold. ``threshold``
    is an SQL expression: the meta copy (the view) or an integer literal. ``top=False`` leaves the
    largest firm out (``top_enterprise`` and ``top_output_wan`` null), which spares ordering every
    segment's firms by output.
    """
    largest = ("first(name order by output_wan desc, name) as top_enterprise,\n           max(output_wan) as top_output_wan"
               if top else "null::varchar as top_enterprise,\n           null::decimal(38,2) as top_output_wan")
    return f"""
select f.node_id, f.firms, f.output_wan, f.top_enterprise, f.top_output_wan,
       case when f.cents = 0 then 10000.0 / f.firms
            else 10000.0 * f.cents_sq::double / (f.cents::double * f.cents::double) end as hhi,
       case when f.cents = 0 then f.firms * r.hhi_threshold < 10000
            else 10000 * f.cents_sq > r.hhi_threshold * f.cents * f.cents end as concentrated
from (
    select node_id, count(*) as firms, sum(output_wan) as output_wan,
           sum(cents) as cents, sum(cents * cents) as cents_sq,
           {largest}
    from (select node_id, name, output_wan, (output_wan::decimal(38,2) * 100)::hugeint as cents
          from {firms} where node_id is not null)
    group by node_id
) f
cross join (select ({threshold})::integer as hhi_threshold) r
"""


def year_projects(year: int | None) -> str:
    """The projects of plan ``year`` as a FROM item (the current year's for None)."""
    return "project_tiers()" if year is None else f"project_tiers_in({int(year)})"


def _pipeline_sql(projects: str) -> str:
    """Per segment: the plan year's pipeline projects (count, Σ investment and plan, ids, builders)."""
    return f"""select node_id, count(*) as pipeline_projects,
           sum(total_investment_wan) as pipeline_investment_wan,
           sum(annual_plan_wan) as pipeline_plan_wan,
           list(project_id order by project_id) as pipeline_ids,
           count(distinct {BUILDER}) as pipeline_builders
    from {projects}
    where node_id is not null and status in ({_list(config.PIPELINE_STATUSES)})
    group by node_id"""


def _finished_sql(projects: str) -> str:
    """Per segment: the plan year's finished projects."""
    return f"""select node_id, count(*) as finished_projects
    from {projects}
    where node_id is not null and status in ({_list(config.FINISHED_STATUSES)})
    group by node_id"""


#: The columns of a segment's coverage (``f``: its firms, ``p``: pipeline, ``d``: finished projects).
_COVERAGE_COLUMNS = """n.node_id, n.chain_id, c.name as chain, coalesce(c.name_en, c.name) as chain_en,
       n.name, coalesce(n.name_en, n.name) as name_en, n.stage,
       n.weight::double as weight, n.emerging,
       coalesce(f.firms, 0) as firms,
       coalesce(f.output_wan, 0)::decimal(38,2) as output_wan,
       f.hhi,
       coalesce(f.concentrated, false) as concentrated,
       f.top_enterprise,
       coalesce(f.top_output_wan, 0)::decimal(38,2) as top_output_wan,
       coalesce(p.pipeline_projects, 0) as pipeline_projects,
       coalesce(p.pipeline_investment_wan, 0)::decimal(38,2) as pipeline_investment_wan,
       coalesce(p.pipeline_plan_wan, 0)::decimal(38,2) as pipeline_plan_wan,
       coalesce(p.pipeline_ids, []::varchar[]) as pipeline_ids,
       coalesce(p.pipeline_builders, 0) as pipeline_builders,
       coalesce(d.finished_projects, 0) as finished_projects"""


def coverage_sql(firms: str = "enterprises", threshold: str = THRESHOLD, projects: str = "project_tiers()") -> str:
    """Per segment of ``chain_nodes``: local firms (from ``firms``), HHI, pipeline and finished projects.

    ``projects`` is the plan year's projects (:func:`year_projects`): a closed year reads them as
    they stood when it was closed."""
    return f"""
with f as ({segment_firms_sql(firms, threshold)}
), p as (
    {_pipeline_sql(projects)}
), d as (
    {_finished_sql(projects)}
)
select {_COVERAGE_COLUMNS}
from chain_nodes n
left join chains c using (chain_id)
left join f using (node_id)
left join p using (node_id)
left join d using (node_id)
order by c.rowid, n.rowid
"""


def analysis_sql(threshold: str, projects: str = "project_tiers()", *, ids_limit: int | None = None,
                 rows_limit: int | None = None) -> str:
    """Everything the gap analysis reads, in one pass over the plan year's projects.

    One row per segment (in :func:`coverage_sql`'s order) with :func:`coverage_sql`'s columns; its
    firms once the pipeline is built (:func:`after_pipeline_firms`, the same concentration SQL):
    ``firms_after``, ``output_after_wan``, ``hhi_after``, ``concentrated_after``; their order is
    ``chain_order``, ``node_order``. Then one row per group of pipeline projects that declare a
    chain role, by ``declared_node_id``, ``project_chain_id`` and ``chain_role`` (a few hundred):
    ``declared`` counts them and ``declared_rows`` lists them (``project_id``, ``project``,
    ``status``); the segment columns empty. A declared role disagrees with its segment's class or
    not for the whole group, so the groups are what the classes are compared with.

    ``ids_limit`` keeps each segment's ``ids_limit`` smallest ``pipeline_ids`` (sorted; None: every
    id, in no order: sorting them is polars' job); ``rows_limit`` keeps each group's ``rows_limit``
    smallest ``declared_rows`` by id (None: every row, in no order): the first rows of any chain
    are among them. The year's projects are read once (materialised): only pipeline and finished
    ones, only the columns used, a name only where it is shown.
    """
    pipeline, finished = _list(config.PIPELINE_STATUSES), _list(config.FINISHED_STATUSES)
    # a top-N aggregate (a small heap a group) costs a fraction of gathering every id or row
    ids = "list(project_id)" if ids_limit is None else f"min(project_id, {int(ids_limit)})"
    row = "{'project_id': project_id, 'project': name, 'status': status}"
    rows = f"list({row})" if rows_limit is None else f"arg_min({row}, project_id, {int(rows_limit)})"
    return f"""
with yp as materialized (
    -- the year's projects as the analysis reads them, as narrow as it can be (this relation is
    -- written once and read three times): the status as two flags, the builder of a pipeline
    -- project, and a declared role, its chain, name and status only where a pipeline project
    -- declares one (else null); money as 18-digit decimals (exact for any single project)
    select project_id, node_id, status in ({pipeline}) as pipe, status in ({finished}) as fin,
           total_investment_wan::decimal(18,2) as total_investment_wan,
           annual_plan_wan::decimal(18,2) as annual_plan_wan,
           case when status in ({pipeline}) then {BUILDER} end as builder,
           case when status in ({pipeline}) then chain_role end as chain_role,
           case when chain_role is not null and status in ({pipeline}) then chain_id end as chain_id,
           case when chain_role is not null and status in ({pipeline}) then name end as name,
           case when chain_role is not null and status in ({pipeline}) then status end as status
    from {projects}
    -- no filter here: pushed into project_tiers_in it made the planner build its anti join's hash
    -- table on the projects (every column) instead of the plans' ids, twice the cost at a million
    -- projects; the few rows no aggregate below reads cost less
), b as materialized (
    select node_id, builder, sum(total_investment_wan) as investment_wan
    from yp
    where node_id is not null and pipe
    group by node_id, builder
), f as ({segment_firms_sql("enterprises", threshold)}
), fa as ({segment_firms_sql(after_pipeline_firms(builders="b"), threshold, top=False)}
), p as materialized (
    -- the coverage's pipeline and finished figures (:func:`_pipeline_sql`, :func:`_finished_sql`) in one
    -- pass, the builders counted from b (a builder a row there)
    select a.*, coalesce(pb.builders, 0) as pipeline_builders
    from (
        select node_id,
               count(*) filter (where pipe) as pipeline_projects,
               sum(total_investment_wan) filter (where pipe) as pipeline_investment_wan,
               sum(annual_plan_wan) filter (where pipe) as pipeline_plan_wan,
               {ids} filter (where pipe) as pipeline_ids,
               count(*) filter (where fin) as finished_projects
        from yp
        where node_id is not null
        group by node_id
    ) a
    left join (select node_id, count(*) as builders from b group by node_id) pb using (node_id)
), d as (
    select node_id, finished_projects from p
), seg as (
    select {_COVERAGE_COLUMNS},
           coalesce(fa.firms, 0) as firms_after,
           coalesce(fa.output_wan, 0)::decimal(38,2) as output_after_wan,
           fa.hhi as hhi_after,
           coalesce(fa.concentrated, false) as concentrated_after,
           c.rowid as chain_order, n.rowid as node_order
    from chain_nodes n
    left join chains c using (chain_id)
    left join f using (node_id)
    left join fa using (node_id)
    left join p using (node_id)
    left join d using (node_id)
), decl as (
    select node_id as declared_node_id, chain_id as project_chain_id, chain_role, count(*) as declared,
           {rows} as declared_rows
    from yp
    where chain_role is not null
    group by node_id, chain_id, chain_role
)
-- one result of two kinds of row (each with the other's columns empty): the segments, then the
-- groups of declared roles
select * from seg
union all by name
select * from decl
"""


#: The view's text (``v_chain_coverage``) and :func:`portfolio.chains.segment_coverage`'s.
COVERAGE = coverage_sql()

def pipeline_builders_sql(projects: str = "project_tiers()") -> str:
    """Per segment and builder (:data:`BUILDER`) of a pipeline project: Σ total investment there."""
    return f"""select node_id, {BUILDER} as builder, sum(total_investment_wan) as investment_wan
    from {projects}
    where node_id is not null and status in ({_list(config.PIPELINE_STATUSES)})
    group by node_id, builder"""


def after_pipeline_firms(projects: str = "project_tiers()", *, builders: str | None = None) -> str:
    """The firms once every pipeline project of ``projects`` is built.

    The local enterprises, plus each builder of a 谋划/前期/在建 project who is not a local firm on
    that segment yet, with an output of ``$ratio`` × the total investment of its pipeline projects
    there. Firms already there keep their output (an expansion is not counted). ``builders`` is
    :func:`pipeline_builders_sql` of ``projects`` as a relation, when the caller has it already.
    """
    source = builders or f"({pipeline_builders_sql(projects)})"
    return f"""(
    select node_id, name, output_wan from enterprises
    union all
    select b.node_id, b.builder as name,
           -- exact either way; the first in 64-bit integers (a product under 10^10 万元, scaled by
           -- 10^8, cannot overflow), which rounds to cents twenty times faster than the 128-bit one
           case when abs(b.investment_wan::double * $ratio) < 1e10
                then (b.investment_wan::decimal(18,2) * $ratio::decimal(18,6))::decimal(18,2)
                else (b.investment_wan * $ratio::decimal(18,6))::decimal(18,2) end as output_wan
    from {source} b
    anti join enterprises e on e.node_id = b.node_id and e.name = b.builder
)"""

