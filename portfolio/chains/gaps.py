"""Gaps, declared-role disagreements, the after-the-pipeline view and the ``gaps --json`` payload."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import duckdb
import polars as pl

from .. import config, store, years
from . import sql
from .classify import analyse
from .definition import load_definition, resolve_chain
from .metrics import segment_coverage
from .rules import FACTORS, KINDS, KINDS_EN, ChainRules, chain_rules

Con = duckdb.DuckDBPyConnection


def _inputs(con: Con, year: int | None = None) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, ChainRules]:
    """Coverage, edges, classes and the rules they were classified by (plan ``year``'s pipeline)."""
    _, edges = load_definition(con)
    rules = chain_rules(con)
    coverage = segment_coverage(con, rules=rules, year=_year(con, year))
    return coverage, edges, analyse(coverage, edges, validate=False, rules=rules), rules


def _year(con: Con, year: int | None) -> int | None:
    """``year`` checked against the plan years the database holds (None: the current year)."""
    return None if year is None else years.resolve_year(con, year)


def segment_classes(con: Con, *, year: int | None = None) -> pl.DataFrame:
    """Every segment of the combined graph with coverage, metrics, kind, category and score."""
    return _inputs(con, year)[2]


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
    return _gap_rows(segment_classes(con, year=year), chain_id)


def _disagreements(con: Con, classes: pl.DataFrame, chain_id: str | None, year: int | None = None) -> pl.DataFrame:
    pipe = ", ".join("?" for _ in config.PIPELINE_STATUSES)
    declared = store.fetch(
        con,
        "select project_id, name as project, status, node_id, chain_id as project_chain_id,"
        f" chain_role from {sql.year_projects(_year(con, year))}"
        f" where chain_role is not null and status in ({pipe})"
        " order by project_id",
        list(config.PIPELINE_STATUSES),
    )
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
        .join(seg, on="node_id", how="left", maintain_order="left")
        .filter(pl.col("kind").is_null() | (pl.col("kind") != pl.col("chain_role")))
        .with_columns(pl.coalesce("chain_id", "project_chain_id").alias("chain_id"))
    )
    if chain_id is not None:
        frame = frame.filter(pl.col("chain_id") == chain_id)
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
        "project_id", "project", "status", "chain_id", "chain", "node_id", "node",
        pl.col("chain_role").alias("declared_role"),
        pl.col("kind").alias("segment_kind"),
        reason.alias("reason"),
        reason_en.alias("reason_en"),
    )


def role_disagreements(con: Con, *, chain: str | None = None, year: int | None = None) -> pl.DataFrame:
    """Pipeline projects (of plan ``year``) whose declared chain_role differs from their segment's class."""
    chain_id = resolve_chain(con, chain) if chain else None
    return _disagreements(con, segment_classes(con, year=year), chain_id, year)


CHANGES = {"closed": "缺口消除", "changed": "类别改变", "remains": "仍为缺口", "new": "新出现"}


def _after(con: Con, edges: pl.DataFrame, classes: pl.DataFrame, rules: ChainRules,
           chain_id: str | None, year: int | None = None) -> pl.DataFrame:
    # the coverage SQL (and its one concentration rule) over the firms once the pipeline is built
    source = sql.year_projects(_year(con, year))
    future = store.fetch(con, sql.coverage_sql(sql.after_pipeline_firms(source), str(int(rules.hhi_threshold)),
                                               projects=source),
                         {"ratio": rules.new_firm_output_ratio})
    after = analyse(future, edges, validate=False, rules=rules).select(
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
    if chain_id is not None:
        frame = frame.filter(pl.col("chain_id") == chain_id)
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
    _, edges, classes, rules = _inputs(con, year)
    return _after(con, edges, classes, rules, chain_id, year)


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
    """The ``gaps --json`` payload and the whole disagreement frame behind it (for the report's sheet)."""

    report: dict[str, Any]
    disagreements: pl.DataFrame


def _ids(column: str, limit: int | None) -> list[pl.Expr]:
    """A project-id list cut to its first ``limit`` ids, and its full length as ``addressed_count``."""
    ids = pl.col(column)
    return [(ids if limit is None else ids.list.head(limit)).alias(column),
            ids.list.len().fill_null(0).cast(pl.Int64).alias("addressed_count")]


def _disagreement_counts(frame: pl.DataFrame) -> list[dict[str, Any]]:
    """Disagreements counted by kind: declared role × the segment's class (null: not a gap / no segment)."""
    return (
        frame
        .with_columns(pl.col("node").is_null().alias("no_segment"))
        .group_by("declared_role", "segment_kind", "no_segment")
        .agg(pl.len().cast(pl.Int64).alias("count"))
        .sort(["count", "declared_role", "segment_kind", "no_segment"], descending=[True, False, False, False],
              nulls_last=True)
        .to_dicts()
    )


def gaps_payload(con: Con, *, chain: str | None = None, year: int | None = None,
                 limit: int | None = DISAGREEMENTS_SHOWN, ids_limit: int | None = ADDRESSED_SHOWN) -> GapsPayload:
    """The ``gaps --json`` payload with the frame of every role disagreement.

    The payload lists the first ``limit`` role disagreements (``role_disagreement_summary`` counts
    all of them by kind) and the first ``ids_limit`` ids of each ``addressed_by`` list (each gap and
    segment carries ``addressed_count``); None lists everything (``gaps --json --all``)."""
    chain_id = resolve_chain(con, chain) if chain else None
    _, edges, classes, rules = _inputs(con, year)
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
    by_chain = (
        scope
        .group_by("chain_id", "chain", maintain_order=True)
        .agg(
            pl.len().alias("segments"),
            pl.col("present").sum().alias("present"),
            *[(pl.col("kind") == k).sum().alias(k) for k in KINDS],
            (pl.col("kind").is_not_null() & (pl.col("pipeline_projects") == 0)).sum().alias("open"),
        )
    )
    after = _after(con, edges, classes, rules, chain_id, year)
    disagreements = _disagreements(con, classes, chain_id, year)
    shown = disagreements if limit is None else disagreements.head(limit)
    report = {
        "year": years.resolve_year(con, year),
        "chain": chain_id,
        "gaps": gap_list,
        "summary": {
            "by_chain": by_chain.to_dicts(),
            "by_kind": {k: sum(1 for g in gap_list if g["kind"] == k) for k in KINDS},
            "open": sum(1 for g in gap_list if g["open"]),
            "segments": scope.height,
        },
        "role_disagreements": shown.to_dicts(),
        "role_disagreement_summary": {"total": disagreements.height, "shown": shown.height,
                                      "by_kind": _disagreement_counts(disagreements)},
        "after_pipeline": {
            "counts": {c: after.filter(pl.col("change") == c).height for c in CHANGES},
            "segments": after.with_columns(_ids("addressed_by", ids_limit)).to_dicts(),
        },
        "limits": {"role_disagreements": limit, "addressed_by": ids_limit},
        "scoring": rules.scores,
        "rules": rules.to_table(),
    }
    return GapsPayload(report=report, disagreements=disagreements)


def gaps_report(con: Con, *, chain: str | None = None, year: int | None = None,
                limit: int | None = DISAGREEMENTS_SHOWN, ids_limit: int | None = ADDRESSED_SHOWN) -> dict[str, Any]:
    """The ``portfolio gaps --json`` payload (CONTRACT shape plus summary, disagreements, after view, rules).

    The pipeline is plan ``year``'s (default the current one; a closed year as it was closed).
    Long lists are cut by default (:func:`gaps_payload`); ``limit=None, ids_limit=None`` gives every row."""
    return gaps_payload(con, chain=chain, year=year, limit=limit, ids_limit=ids_limit).report
