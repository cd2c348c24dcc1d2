"""Gaps, declared-role disagreements, the after-the-pipeline view and the ``gaps --json`` payload."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import duckdb
import polars as pl

from .. import store, years
from . import sql
from .classify import REASON_IDS, analyse
from .definition import load_definition, resolve_chain
from .metrics import kinds
from .rules import FACTORS, KINDS, KINDS_EN, ChainRules, chain_rules

Con = duckdb.DuckDBPyConnection


@dataclass(frozen=True)
class ChainAnalysis:
    """One classification of every segment for a plan year, and everything derived from it.

    Made by :func:`analysis` from one pass over the year's projects; :func:`gaps`,
    :func:`after_pipeline`, :func:`role_disagreements`, :func:`gaps_report` and
    :func:`portfolio.chains.chain_map_frames` are views of it (``*_of``), so a page or a report
    that shows several of them classifies the segments once.
    """

    #: the plan year (the current one when none was asked for)
    year: int
    rules: ChainRules
    edges: pl.DataFrame
    #: every segment: coverage, graph metrics, kind, category, score, reasons (``pipeline_ids`` sorted)
    classes: pl.DataFrame
    #: every segment that is a gap before or after the pipeline is built (:func:`after_pipeline`)
    after: pl.DataFrame
    #: every declared chain role that differs from its segment's class (:func:`role_disagreements`),
    #: by project id; a cut analysis (``disagreements_limit``) holds only the first that many of each
    #: group of projects declaring one role on one segment (and chain), among them every chain's first
    disagreements: pl.DataFrame
    #: the disagreements counted a group: ``chain_id``, ``declared_role``, ``segment_kind``,
    #: ``no_segment``, ``count`` (every one, cut or not)
    disagreement_counts: pl.DataFrame
    #: ``pipeline_ids`` holds the first this many ids of each segment (None: all)
    ids_limit: int | None = None
    #: :func:`disagreements_of` gives the first this many disagreements (None: all)
    disagreements_limit: int | None = None


def _year(con: Con, year: int | None) -> int | None:
    """``year`` checked against the plan years the database holds (None: the current year)."""
    return None if year is None else years.resolve_year(con, year)


#: The columns of a group of declared roles' row of :func:`sql.analysis_sql`.
_DECLARED = ("declared_node_id", "project_chain_id", "chain_role", "declared", "declared_rows")
#: The columns of the firms once the pipeline is built, and their names in a coverage frame.
_AFTER_FIRMS = {"firms_after": "firms", "output_after_wan": "output_wan", "hhi_after": "hhi",
                "concentrated_after": "concentrated"}


def analysis(con: Con, *, year: int | None = None, ids_limit: int | None = None,
             disagreements_limit: int | None = None, projects: str | None = None) -> ChainAnalysis:
    """Classify every segment of plan ``year`` (default the current one; a closed year as it was closed).

    One query reads the year's projects once (:func:`sql.analysis_sql`): coverage, the firms once
    the pipeline is built, and the declared roles; the graph metrics and reasons are computed per
    segment. ``ids_limit`` keeps only the first that many pipeline ids a segment (``gaps --json``
    by default; ``pipeline_projects`` counts them all); None keeps every one.
    ``disagreements_limit`` keeps only the first that many role disagreements (of every chain;
    ``disagreement_counts`` counts them all); None keeps every one. ``projects`` is
    another FROM item of the year's projects in their place (a what-if scenario's: some
    cancelled, some added); by default the year's own (:func:`sql.year_projects`).
    """
    checked = _year(con, year)
    _, edges = load_definition(con)
    rules = chain_rules(con)
    # every id; or the first ids_limit (at least the few a reason names)
    keep = None if ids_limit is None else max(ids_limit, REASON_IDS)
    query = sql.analysis_sql(str(int(rules.hhi_threshold)), projects or sql.year_projects(checked),
                             ids_limit=keep, rows_limit=disagreements_limit)
    # a long query of a few hundred rows, read through one plan (the relation's way plans it twice);
    # uncut, its lists hold every pipeline id: a second copy of them costs less than a second plan
    rows = store.fetch_few(con, query, {"ratio": rules.new_firm_output_ratio})
    # the query's two kinds of row: segments (in the definition's order) and groups of declared roles
    segment = pl.col("declared").is_null()
    segments = rows.filter(segment).sort("chain_order", "node_order", nulls_last=True).drop(*_DECLARED, "chain_order", "node_order")
    coverage = segments.select(pl.exclude(*_AFTER_FIRMS)).with_columns(pl.col("pipeline_ids").list.sort())
    classes = analyse(coverage, edges, validate=False, rules=rules)
    future = kinds(
        segments.select("node_id", "emerging", *[pl.col(a).alias(b) for a, b in _AFTER_FIRMS.items()]), edges)
    declared = rows.filter(~segment).select(
        pl.col("declared_node_id").alias("node_id"), "project_chain_id", "chain_role", "declared", "declared_rows")
    groups = _disagreeing_groups(classes, declared)
    return ChainAnalysis(
        year=years.resolve_year(con, year), rules=rules, edges=edges, classes=classes,
        after=_after(classes, future), disagreements=_disagreement_rows(groups),
        disagreement_counts=groups.select(
            "chain_id", "declared_role", "segment_kind", pl.col("node").is_null().alias("no_segment"),
            pl.col("declared").alias("count")),
        ids_limit=keep, disagreements_limit=disagreements_limit,
    )


def _chain(an: ChainAnalysis, chain: str | None) -> str | None:
    """A chain id of the analysis (None: every chain); ValueError naming the valid ones."""
    if chain is None or chain in set(an.classes["chain_id"].to_list()):
        return chain
    valid = "、".join(f"{n}（{c}）" for c, n in an.classes.select("chain_id", "chain").unique(maintain_order=True)
                     .iter_rows())
    raise ValueError(f"未知的产业链“{chain}”；可选：{valid}。")


def segment_classes(con: Con, *, year: int | None = None) -> pl.DataFrame:
    """Every segment of the combined graph with coverage, metrics, kind, category and score."""
    return analysis(con, year=year).classes


def _gap_rows(classes: pl.DataFrame, chain_id: str | None) -> pl.DataFrame:
    order = {k: i for i, k in enumerate(KINDS)}
    frame = classes.filter(pl.col("kind").is_not_null())
    if chain_id is not None:
        frame = frame.filter(pl.col("chain_id") == chain_id)
    return (
        frame
        .with_columns(pl.col("kind").replace_strict(order, return_dtype=pl.Int8).alias("_order"))
        .sort(["_order", "score", "node_id"], descending=[False, True, False])
        .with_columns(
            (pl.int_range(pl.len()).over("kind") + 1).alias("rank"),
            pl.col("name").alias("node"),
            pl.col("name_en").alias("node_en"),
            pl.col("pipeline_ids").alias("addressed_by"),
            (pl.col("pipeline_projects") == 0).alias("open"),
        )
        .drop("_order")
    )


def gaps(con: Con, *, chain: str | None = None, year: int | None = None) -> pl.DataFrame:
    """The gap segments (补链 / 增链 / 丰链), ranked by score within each kind, optionally one chain."""
    chain_id = resolve_chain(con, chain) if chain else None
    return gaps_of(analysis(con, year=year), chain=chain_id)


def gaps_of(an: ChainAnalysis, *, chain: str | None = None) -> pl.DataFrame:
    """:func:`gaps` of an analysis; ``chain`` is a chain id (None: every chain)."""
    return _gap_rows(an.classes, _chain(an, chain))


def _disagreeing_groups(classes: pl.DataFrame, declared: pl.DataFrame) -> pl.DataFrame:
    """The groups of declared roles (one role, one segment, one project chain) that differ from their
    segment's class, with why: every project of a group disagrees, or none does."""
    seg = classes.select(
        "node_id", "chain_id", "chain",
        pl.col("name").alias("node"),
        pl.col("name_en").alias("node_en"),
        "kind", "present", "firms",
        pl.col("reasons").list.first().alias("_why"),
        pl.col("reasons_en").list.first().alias("_why_en"),
    )
    frame = (
        declared
        .join(seg, on="node_id", how="left")
        .filter(pl.col("kind").is_null() | (pl.col("kind") != pl.col("chain_role")))
        .with_columns(pl.coalesce("chain_id", "project_chain_id").alias("chain_id"))
    )
    role = pl.col("chain_role")
    reason = (
        pl.when(pl.col("node").is_null())
        .then(pl.format("项目申报为{}，但没有指定有效的产业链环节（{}），无法核对", role,
                        pl.col("node_id").fill_null("空")))
        .when(pl.col("kind").is_not_null())
        .then(pl.format("项目申报为{}，但环节“{}”按规则属于{}：{}", role, "node", "kind", "_why"))
        .when(pl.col("present"))
        .then(pl.format("项目申报为{}，但环节“{}”本地已有 {} 家企业且产值不集中，不是缺口",
                        role, "node", "firms"))
        .otherwise(pl.format("项目申报为{}，但环节“{}”本地无企业、本地上下游也无企业且非新兴环节，"
                             "不是优先缺口", role, "node"))
    )
    reason_en = (
        pl.when(pl.col("node").is_null())
        .then(pl.format("Declared {} but has no valid chain segment ({})",
                        role.replace_strict(KINDS_EN, default="?"), pl.col("node_id").fill_null("none")))
        .when(pl.col("kind").is_not_null())
        .then(pl.format("Declared {} but segment {} is {} by the rules: {}",
                        role.replace_strict(KINDS_EN, default="?"), "node_en",
                        pl.col("kind").replace_strict(KINDS_EN, default="?"), "_why_en"))
        .when(pl.col("present"))
        .then(pl.format("Declared {} but segment {} already has {} local firms, not concentrated",
                        role.replace_strict(KINDS_EN, default="?"), "node_en", "firms"))
        .otherwise(pl.format("Declared {} but segment {} has no local firm, no local neighbour and "
                             "is not emerging", role.replace_strict(KINDS_EN, default="?"), "node_en"))
    )
    return frame.select(
        "chain_id", "chain", "node_id", "node",
        pl.col("chain_role").alias("declared_role"),
        pl.col("kind").alias("segment_kind"),
        reason.alias("reason"),
        reason_en.alias("reason_en"),
        "declared", "declared_rows",
    )


def _disagreement_rows(groups: pl.DataFrame) -> pl.DataFrame:
    """The disagreeing projects of :func:`_disagreeing_groups` (the rows each group kept), by project id."""
    return (
        groups.explode("declared_rows").unnest("declared_rows")
        .select("project_id", "project", "status", "chain_id", "chain", "node_id", "node", "declared_role",
                "segment_kind", "reason", "reason_en")
        .sort("project_id")
    )


def role_disagreements(con: Con, *, chain: str | None = None, year: int | None = None) -> pl.DataFrame:
    """Pipeline projects (of plan ``year``) whose declared chain_role differs from their segment's class."""
    chain_id = resolve_chain(con, chain) if chain else None
    return disagreements_of(analysis(con, year=year), chain=chain_id)


def disagreements_of(an: ChainAnalysis, *, chain: str | None = None) -> pl.DataFrame:
    """:func:`role_disagreements` of an analysis; ``chain`` is a chain id (None: every chain)."""
    chain_id = _chain(an, chain)
    frame = an.disagreements if chain_id is None else an.disagreements.filter(pl.col("chain_id") == chain_id)
    return frame if an.disagreements_limit is None else frame.head(an.disagreements_limit)


CHANGES = {"closed": "缺口消除", "changed": "类别改变", "remains": "仍为缺口", "new": "新出现"}


def _after(classes: pl.DataFrame, future: pl.DataFrame) -> pl.DataFrame:
    """Segments that are gaps before or after the pipeline is built (``future``: the firms and class then)."""
    after = future.select(
        "node_id", pl.col("firms").alias("firms_after"), pl.col("hhi").alias("hhi_after"),
        pl.col("output_wan").alias("output_after_wan"), pl.col("kind").alias("kind_after"))
    frame = (
        classes
        .select("chain_id", "chain", "node_id", pl.col("name").alias("node"),
                pl.col("name_en").alias("node_en"), pl.col("firms").alias("firms_before"),
                pl.col("hhi").alias("hhi_before"), pl.col("kind").alias("kind_before"),
                pl.col("pipeline_ids").alias("addressed_by"))
        .join(after, on="node_id", how="left", maintain_order="left")
        .filter(pl.col("kind_before").is_not_null() | pl.col("kind_after").is_not_null())
        .with_columns(
            (pl.col("firms_after") - pl.col("firms_before")).alias("new_firms"),
            pl.when(pl.col("kind_after").is_null()).then(pl.lit("closed"))
            .when(pl.col("kind_before").is_null()).then(pl.lit("new"))
            .when(pl.col("kind_before") != pl.col("kind_after")).then(pl.lit("changed"))
            .otherwise(pl.lit("remains"))
            .alias("change"),
        )
        .with_columns(pl.col("change").replace_strict(CHANGES).alias("change_zh"))
    )
    return frame


def after_pipeline(con: Con, *, chain: str | None = None, year: int | None = None) -> pl.DataFrame:
    """Reclassify as if every pipeline project were built: which gaps close, change, remain or appear.

    Every builder (``projects.enterprise``, else the project) of a 谋划 / 前期 / 在建 project on
    a segment who is not already a local firm there (same name on the same segment) becomes one,
    on present and absent segments alike. Its annual output is assumed to be
    ``[rules] new_firm_output_ratio`` × the total investment of its pipeline projects on that
    segment; firms already there keep their output. Firm counts, output shares, HHI,
    concentration, dependence and classes are then computed again by the same rules.
    ``change`` is closed / changed / remains / new (a segment that becomes a gap because a new
    firm now relies on it). ``new_firms``, ``hhi_before`` / ``hhi_after`` and
    ``output_after_wan`` show what moved.
    """
    chain_id = resolve_chain(con, chain) if chain else None
    return after_of(analysis(con, year=year), chain=chain_id)


def after_of(an: ChainAnalysis, *, chain: str | None = None) -> pl.DataFrame:
    """:func:`after_pipeline` of an analysis; ``chain`` is a chain id (None: every chain)."""
    chain_id = _chain(an, chain)
    return an.after if chain_id is None else an.after.filter(pl.col("chain_id") == chain_id)


def _json_value(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 6)
    if isinstance(value, pl.Series):
        return value.to_list()
    return value


#: ``gaps --json`` by default: the first this many role disagreements (with counts of all of them) …
DISAGREEMENTS_SHOWN = 100
#: … and the first this many project ids of each ``addressed_by`` list (``addressed_count`` has them all).
ADDRESSED_SHOWN = 50


@dataclass(frozen=True)
class GapsPayload:
    """The ``gaps --json`` payload and the disagreement frame behind it (for the report's sheet): every
    disagreement of an analysis that kept them all, the first ones of a cut one."""

    report: dict[str, Any]
    disagreements: pl.DataFrame


def _ids(column: str, limit: int | None, count: str = "pipeline_projects") -> list[pl.Expr]:
    """A project-id list cut to its first ``limit`` ids, and its full length (``count``) as ``addressed_count``."""
    ids = pl.col(column)
    return [(ids if limit is None else ids.list.head(limit)).alias(column),
            pl.col(count).fill_null(0).cast(pl.Int64).alias("addressed_count")]


def _disagreement_counts(counts: pl.DataFrame) -> list[dict[str, Any]]:
    """Disagreements counted by kind (of :attr:`ChainAnalysis.disagreement_counts`): declared role ×
    the segment's class (null: not a gap / no segment)."""
    return (
        counts
        .group_by("declared_role", "segment_kind", "no_segment")
        .agg(pl.col("count").sum().cast(pl.Int64))
        .sort(["count", "declared_role", "segment_kind", "no_segment"], descending=[True, False, False, False],
              nulls_last=True)
        .to_dicts()
    )


def gaps_payload(con: Con, *, chain: str | None = None, year: int | None = None,
                 limit: int | None = DISAGREEMENTS_SHOWN, ids_limit: int | None = ADDRESSED_SHOWN) -> GapsPayload:
    """The ``gaps --json`` payload with the frame of the role disagreements it lists.

    The payload lists the first ``limit`` role disagreements (``role_disagreement_summary`` counts
    all of them by kind) and the first ``ids_limit`` ids of each ``addressed_by`` list (each gap and
    segment carries ``addressed_count``); None lists everything (``gaps --json --all``). The
    analysis keeps only what is listed (:func:`analysis`): a million projects' disagreements are
    counted in the query, not carried to Python."""
    chain_id = resolve_chain(con, chain) if chain else None
    an = analysis(con, year=year, ids_limit=ids_limit, disagreements_limit=limit)
    return payload_of(an, chain=chain_id, limit=limit, ids_limit=ids_limit)


def payload_of(an: ChainAnalysis, *, chain: str | None = None, limit: int | None = DISAGREEMENTS_SHOWN,
               ids_limit: int | None = ADDRESSED_SHOWN) -> GapsPayload:
    """:func:`gaps_payload` of an analysis; ``chain`` is a chain id (None: every chain).

    ``ids_limit`` and ``limit`` may not ask for more ids or disagreements than the analysis kept
    (:func:`analysis`)."""
    if an.ids_limit is not None and (ids_limit is None or ids_limit > an.ids_limit):
        raise ValueError(f"分析只保留了每个环节的前 {an.ids_limit} 个项目编号（the analysis kept {an.ids_limit} ids).")
    if an.disagreements_limit is not None and (limit is None or limit > an.disagreements_limit):
        raise ValueError(f"分析只保留了前 {an.disagreements_limit} 个申报不一致的项目"
                         f"（the analysis kept {an.disagreements_limit} disagreements).")
    chain_id = _chain(an, chain)
    classes = an.classes
    rows = _gap_rows(classes, chain_id).with_columns(_ids("addressed_by", ids_limit))
    gap_list = [
        {
            "chain": r["chain"], "chain_id": r["chain_id"], "node_id": r["node_id"],
            "node": r["node"], "node_en": r["node_en"], "stage": r["stage"], "kind": r["kind"],
            "rank": r["rank"], "score": r["score"],
            "factors": {f: _json_value(float(r[f]) if f == "dependence_wan" else r[f])
                        for f in FACTORS[r["kind"]]},
            "reasons": r["reasons"], "reasons_en": r["reasons_en"],
            "addressed_by": r["addressed_by"], "addressed_count": r["addressed_count"], "open": r["open"],
            "firms": r["firms"], "output_wan": r["output_wan"],
        }
        for r in rows.iter_rows(named=True)
    ]
    scope = classes if chain_id is None else classes.filter(pl.col("chain_id") == chain_id)
    after = after_of(an, chain=chain_id)
    disagreements = disagreements_of(an, chain=chain_id)
    shown = disagreements if limit is None else disagreements.head(limit)
    counts = an.disagreement_counts if chain_id is None else an.disagreement_counts.filter(
        pl.col("chain_id") == chain_id)
    segments = (
        after.join(classes.select("node_id", pl.col("pipeline_projects").alias("_addressed")), on="node_id",
                   how="left", maintain_order="left")
        .with_columns(_ids("addressed_by", ids_limit, "_addressed"))
        .drop("_addressed")
    )
    report = {
        "year": an.year,
        "chain": chain_id,
        "gaps": gap_list,
        "summary": {
            "by_chain": summary_of(an, chain=chain_id).to_dicts(),
            "by_kind": {k: sum(1 for g in gap_list if g["kind"] == k) for k in KINDS},
            "open": sum(1 for g in gap_list if g["open"]),
            "segments": scope.height,
        },
        "role_disagreements": shown.to_dicts(),
        "role_disagreement_summary": {"total": int(counts["count"].sum()), "shown": shown.height,
                                      "by_kind": _disagreement_counts(counts)},
        "after_pipeline": {
            "counts": {c: after.filter(pl.col("change") == c).height for c in CHANGES},
            "segments": segments.to_dicts(),
        },
        "limits": {"role_disagreements": limit, "addressed_by": ids_limit},
        "scoring": an.rules.scores,
        "rules": an.rules.to_table(),
    }
    return GapsPayload(report=report, disagreements=disagreements)


def summary_of(an: ChainAnalysis, *, chain: str | None = None) -> pl.DataFrame:
    """Per chain (``gaps --json`` ``summary.by_chain``): segments, present, each class, open gaps."""
    chain_id = _chain(an, chain)
    scope = an.classes if chain_id is None else an.classes.filter(pl.col("chain_id") == chain_id)
    return (
        scope
        .group_by("chain_id", "chain", maintain_order=True)
        .agg(
            pl.len().alias("segments"),
            pl.col("present").sum().alias("present"),
            *[(pl.col("kind") == k).sum().alias(k) for k in KINDS],
            (pl.col("kind").is_not_null() & (pl.col("pipeline_projects") == 0)).sum().alias("open"),
        )
    )


def gaps_report(con: Con, *, chain: str | None = None, year: int | None = None,
                limit: int | None = DISAGREEMENTS_SHOWN, ids_limit: int | None = ADDRESSED_SHOWN) -> dict[str, Any]:
    """The ``portfolio gaps --json`` payload (CONTRACT shape plus summary, disagreements, after view, rules).

    The pipeline is plan ``year``'s (default the current one; a closed year as it was closed).
    Long lists are cut by default (:func:`gaps_payload`); ``limit=None, ids_limit=None`` gives every row."""
    return gaps_payload(con, chain=chain, year=year, limit=limit, ids_limit=ids_limit).report


def report_of(an: ChainAnalysis, *, chain: str | None = None, limit: int | None = DISAGREEMENTS_SHOWN,
              ids_limit: int | None = ADDRESSED_SHOWN) -> dict[str, Any]:
    """:func:`gaps_report` of an analysis; ``chain`` is a chain id (None: every chain)."""
    return payload_of(an, chain=chain, limit=limit, ids_limit=ids_limit).report
