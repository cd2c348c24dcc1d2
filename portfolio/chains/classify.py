"""The 补链 / 增链 / 丰链 classification of every segment: class, normalised factors, score, reasons."""

from __future__ import annotations

from collections.abc import Iterable

import polars as pl

from .. import config
from .definition import validate_definition
from .metrics import _metrics
from .rules import KINDS_EN, ChainRules, kind_expr, load_rules


def _norm(column: str) -> pl.Expr:
    top = pl.col(column).max()
    return pl.when(top > 0).then(pl.col(column) / top).otherwise(0.0)


def classify(metrics: pl.DataFrame, *, rules: ChainRules | None = None) -> pl.DataFrame:
    """Add ``kind`` (DOMAIN §5), ``category``, normalised factors, ``score`` and reasons to metrics.

    The class is :func:`portfolio.chains.rules.kind_expr`; the scores and the numbers in the
    reasons come from ``rules`` (default: data/chains.toml).
    """
    rules = rules or load_rules()
    kind = kind_expr(present_successors=pl.col("present_successors").list.len(),
                     present_predecessors=pl.col("present_predecessors").list.len())
    frame = (
        metrics
        .with_columns(
            (pl.col("firms") >= 1).alias("present"),
            kind.alias("kind"),
            _norm("dependence_wan").alias("dependence_norm"),
            _norm("betweenness").alias("betweenness_norm"),
            _norm("weight").alias("weight_norm"),
            (pl.col("hhi") / 10000).alias("concentration"),
        )
        .with_columns(
            pl.coalesce(
                pl.col("kind"),
                pl.when(pl.col("present")).then(pl.lit("已覆盖")).otherwise(pl.lit("未覆盖")),
            ).alias("category"),
            pl.when(pl.col("kind").is_null()).then(None)
            .otherwise(pl.coalesce(*[
                pl.when(pl.col("kind") == k).then(
                    pl.sum_horizontal([pl.col(f).fill_null(0.0) * w for f, w in weights.items()]))
                for k, weights in rules.scores.items()
            ]).round(4)).alias("score"),
        )
    )
    zh, en = _reasons(frame, rules)
    return frame.with_columns(
        pl.Series("reasons", zh, dtype=pl.List(pl.String)),
        pl.Series("reasons_en", en, dtype=pl.List(pl.String)),
    )


def analyse(coverage: pl.DataFrame, edges: pl.DataFrame, *, validate: bool = True,
            rules: ChainRules | None = None) -> pl.DataFrame:
    """Metrics and classification of every segment from a coverage frame and the edges."""
    if validate:
        validate_definition(coverage, edges)
    rules = rules or load_rules()
    return classify(_metrics(coverage, edges, rules), rules=rules)


def _yi(wan: float) -> str:
    """万元 shown as 亿元 with at most two decimals."""
    text = f"{wan / config.WAN_PER_YI:,.2f}".rstrip("0").rstrip(".")
    return text or "0"


def _bn(wan: float) -> str:
    """万元 shown as billion yuan (1 bn = 10亿元 = 100,000万元)."""
    return f"{wan / 100_000:,.2f} bn yuan"


#: Pipeline project ids a reason names (the rest are counted).
REASON_IDS = 5


def _reasons(frame: pl.DataFrame, rules: ChainRules) -> tuple[list[list[str]], list[list[str]]]:
    """Reasons a person can check, in Chinese and English (one pass over the segments)."""
    # a reason names the first few pipeline projects and counts them all: the rows read here carry
    # those few (a segment of a million-project library has tens of thousands)
    count = pl.col("pipeline_projects") if "pipeline_projects" in frame.columns else pl.col("pipeline_ids").list.len()
    frame = frame.with_columns(count.alias("_n_ids"), pl.col("pipeline_ids").list.head(REASON_IDS))
    seg = {r["node_id"]: r for r in frame.iter_rows(named=True)}
    pipeline = "/".join(config.PIPELINE_STATUSES)

    def name(v: str, chain_id: str, en: bool = False) -> str:
        s = seg[v]
        label = str(s["name_en"] if en else s["name"])
        if s["chain_id"] != chain_id:
            label += f" [{s['chain_en']}]" if en else f"［{s['chain']}］"
        return label

    def firms(vs: Iterable[str], chain_id: str, en: bool = False) -> str:
        if en:
            return "; ".join(f"{name(v, chain_id, True)} ({seg[v]['firms']} "
                             f"firm{'' if seg[v]['firms'] == 1 else 's'}, output "
                             f"{_bn(float(seg[v]['output_wan']))})" for v in vs)
        return "、".join(f"{name(v, chain_id)} 有 {seg[v]['firms']} 家企业"
                         f"（产值 {_yi(float(seg[v]['output_wan']))}亿元）" for v in vs)

    zh_all: list[list[str]] = []
    en_all: list[list[str]] = []
    for r in frame.iter_rows(named=True):
        kind, cid = r["kind"], r["chain_id"]
        zh: list[str] = []
        en: list[str] = []
        if kind == "补链":
            zh.append(f"本地无企业；直接下游 {firms(r['present_successors'], cid)}依赖此环节")
            en.append(f"No local firm; present direct customers rely on it: "
                      f"{firms(r['present_successors'], cid, True)}")
            zh.append(f"下游依赖产值 {_yi(r['dependence_wan'])}亿元（含间接下游折算），"
                      f"中介中心度 {r['betweenness']:.4f}（相对值 {r['betweenness_norm']:.2f}），"
                      f"环节权重 {r['weight']:g}")
            en.append(f"Dependent output {_bn(r['dependence_wan'])} (indirect customers "
                      f"discounted), betweenness {r['betweenness']:.4f} (relative "
                      f"{r['betweenness_norm']:.2f}), weight {r['weight']:g}")
        elif kind == "增链":
            if r["present_predecessors"]:
                zh.append(f"本地无企业，本地也无直接下游；上游 {firms(r['present_predecessors'], cid)}，"
                          "可向下延伸")
                en.append(f"No local firm and no local customer; local suppliers "
                          f"{firms(r['present_predecessors'], cid, True)} can extend into it")
            if r["emerging"]:
                zh.append("属新兴环节" if r["present_predecessors"] else "本地无企业；属新兴环节")
                en.append("An emerging segment" if r["present_predecessors"]
                          else "No local firm; an emerging segment")
            near = r["related_present"][:3]
            more = len(r["related_present"]) - len(near)
            zh.append(f"关联密度 {r['density']:.2f}（{rules.max_distance} 步内本地已有企业的环节："
                      + ("、".join(name(v, cid) for v in near) + (f" 等 {len(r['related_present'])} 个" if more else "")
                         if near else "无") + "）")
            en.append(f"Relatedness density {r['density']:.2f} (present segments within "
                      f"{rules.max_distance} steps: " + (", ".join(name(v, cid, True) for v in near)
                                                   + (f" and {more} more" if more else "") if near else "none") + ")")
        elif kind == "丰链":
            top = r["top_enterprise"]
            share = float(r["top_output_wan"]) / float(r["output_wan"]) if float(r["output_wan"]) else 1 / r["firms"]
            if r["firms"] == 1:
                zh.append(f"本地仅 1 家企业（{top}，产值 {_yi(float(r['output_wan']))}亿元）")
                en.append(f"A sole local firm ({top}, output {_bn(float(r['output_wan']))})")
            else:
                zh.append(f"本地 {r['firms']} 家企业，产值集中度 HHI {r['hhi']:,.0f} > {rules.hhi_threshold:,}"
                          f"（最大一家 {top} 占 {share:.0%}）")
                en.append(f"{r['firms']} local firms, output concentration HHI {r['hhi']:,.0f} > "
                          f"{rules.hhi_threshold:,} (largest, {top}, has {share:.0%})")
            if r["present_successors"]:
                zh.append(f"直接下游 {firms(r['present_successors'], cid)}依赖此环节")
                en.append(f"Local customers rely on it: {firms(r['present_successors'], cid, True)}")
        if kind is not None:
            ids, n = r["pipeline_ids"], r["_n_ids"]
            if n:
                shown = "、".join(ids) + (f" 等 {n} 个项目" if n > REASON_IDS else " ")
                zh.append(f"在库项目（{pipeline}）{shown}正在{kind}")
                en.append(f"Pipeline projects {', '.join(ids)}" + (f" and {n - REASON_IDS} more" if n > REASON_IDS else "")
                          + f" address it ({KINDS_EN[kind]})")
            else:
                zh.append("暂无在库项目：招商目标")
                en.append("No pipeline project: an investment-promotion target")
        zh_all.append(zh)
        en_all.append(en)
    return zh_all, en_all
