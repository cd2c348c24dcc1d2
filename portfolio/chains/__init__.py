"""Industrial chains: the segment graph, its metrics and the 补链 / 增链 / 丰链 gap analysis.

networkx stays inside this package; everything public takes and returns polars frames or
plain dicts. The rules are DOMAIN §5, each written once: the settings in ``data/chains.toml``
``[rules]`` (:mod:`.rules`, read from the database's copy at run time), the concentration test
in SQL (:mod:`.sql`, also the text of the view ``v_chain_coverage``), the class rule as one
polars expression (:func:`.rules.kind_expr`). ``docs/chains.md`` documents the scores, factors
and distances.

Graph loops here run once per *segment* (a hundred or so), never per project or enterprise:
those are aggregated in SQL first (:func:`segment_coverage`).

One classification serves every view: :func:`analysis` reads the plan year's projects once (one
query: coverage, the firms once the pipeline is built, the declared roles; only the columns used)
and classifies the segments; ``gaps``, ``after_pipeline``, ``role_disagreements``, ``gaps_report``
and ``chain_map_frames`` take a connection and make one, their ``*_of`` twins take an analysis
(a page or a report showing several of them classifies once).

Modules: ``rules`` (settings, class rule), ``sql`` (coverage and concentration), ``definition``
(segments, edges, checks), ``metrics`` (coverage, graph metrics), ``classify`` (class, score,
reasons), ``gaps`` (the analysis, gaps, disagreements, after the pipeline, the JSON payload),
``layout`` (the chain map).
"""

from __future__ import annotations

from .classify import analyse, classify
from .definition import ChainDefinitionError, load_definition, resolve_chain, validate_definition
from .gaps import (
    CHANGES,
    ChainAnalysis,
    after_of,
    after_pipeline,
    analysis,
    disagreements_of,
    gaps,
    gaps_of,
    gaps_report,
    payload_of,
    report_of,
    role_disagreements,
    segment_classes,
    summary_of,
)
from .layout import COLUMNS, COLUMNS_EN, chain_map_frames, layout, map_frames_of
from .metrics import kinds, segment_coverage, segment_kinds, segment_metrics
from .rules import (
    FACTORS,
    KINDS,
    KINDS_EN,
    STAGE_RANK,
    ChainRules,
    chain_rules,
    kind_expr,
    load_rules,
)

__all__ = [
    "CHANGES", "COLUMNS", "COLUMNS_EN", "FACTORS", "KINDS", "KINDS_EN", "STAGE_RANK",
    "ChainAnalysis", "ChainDefinitionError", "ChainRules", "after_of", "after_pipeline", "analyse", "analysis",
    "chain_map_frames", "classify", "disagreements_of", "gaps", "gaps_of", "gaps_report", "kind_expr", "kinds",
    "layout", "load_definition", "load_rules", "map_frames_of", "payload_of", "report_of", "resolve_chain",
    "role_disagreements", "chain_rules", "segment_classes", "segment_coverage", "segment_kinds",
    "segment_metrics", "summary_of", "validate_definition",
]
